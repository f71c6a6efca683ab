#!/usr/bin/env bash
# units_test.sh — the shipped systemd units, checked without a running
# systemd (boot_test.sh starts them under one, in a container):
#   systemd-analyze verify: directives, dependencies and every executable,
#     against a root made of `cmake --install` output, the host's /usr/bin
#     and systemd's own units;
#   systemd-analyze security --offline: each unit's exposure level must be
#     SAFE or OK, the hardening the README promises.
#   units_test.sh BUILD_DIR
set -uo pipefail
build=$1
root=$(mktemp -d /tmp/migo-units-XXXXXX)
trap 'rm -rf "$root"' EXIT
DESTDIR=$root cmake --install "$build" --prefix /usr >/dev/null || { echo "cmake --install failed"; exit 1; }
mkdir -p "$root/usr/bin"
cp /usr/bin/kill /usr/bin/install /usr/bin/mv "$root/usr/bin/"
ln -s usr/bin "$root/bin"
cp -n /usr/lib/systemd/system/*.target "$root/usr/lib/systemd/system/" 2>/dev/null
fail=0
for unit in migo-policyd migo-milter migo-statd migo-domain-recheck migo-trackd migo-metrics migo-syncd; do
  path=/usr/lib/systemd/system/$unit.service
  if [ ! -f "$root$path" ]; then echo "FAILED  $unit: not installed at $path"; fail=1; continue; fi
  out=$(systemd-analyze verify --root="$root" "$path" 2>&1)
  if [ -n "$out" ]; then echo "FAILED  $unit: systemd-analyze verify says:"; echo "$out"; fail=1
  else echo "ok      $unit: verify clean"; fi
  level=$(systemd-analyze security --offline=yes --root="$root" "$path" 2>&1 | grep "Overall exposure level")
  case "$level" in
    *" SAFE"*|*" OK"*) echo "ok      $unit: ${level#*Overall }" ;;
    *) echo "FAILED  $unit: ${level:-no exposure level}"; systemd-analyze security --offline=yes --root="$root" "$path" 2>&1 | grep "✗"; fail=1 ;;
  esac
done
# Timers: verify only (security applies to services).
for timer in migo-domain-recheck migo-metrics; do
  path=/usr/lib/systemd/system/$timer.timer
  if [ ! -f "$root$path" ]; then echo "FAILED  $timer.timer: not installed at $path"; fail=1; continue; fi
  out=$(systemd-analyze verify --root="$root" "$path" 2>&1)
  if [ -n "$out" ]; then echo "FAILED  $timer.timer: systemd-analyze verify says:"; echo "$out"; fail=1
  else echo "ok      $timer.timer: verify clean"; fi
done
exit $fail
