#!/usr/bin/env bash
# boot_test.sh — the units under a real systemd. CI's PID 1 is not systemd,
# so this boots one: an overlay of this host's root (its writes go to a
# tmpfs; the host is not changed) run by systemd-nspawn with systemd as the
# container's PID 1 and a network of its own (loopback only). In it,
# boot_probe.sh runs as a unit: scripts/up.sh with the package (the role's
# systemd branch, the default deployment: Postfix logging to the journal,
# migo-statd reading it), then the units, users, journal, health check,
# reload, a second up.sh and clean, fail-closed stops.
#   boot_test.sh SOURCE_DIR DEB_DIR
# Skips (77) only when this machine cannot boot such a container, and says
# why; once systemd runs in it, every failure fails.
set -uo pipefail
src=$(cd "$1" && pwd)
debdir=$2
skip() { echo "systemd_boot: skipped: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (overlay mounts, systemd-nspawn)"
command -v systemd-nspawn >/dev/null || { echo "systemd-nspawn missing (scripts/install-deps.sh installs systemd-container)"; exit 1; }
deb=$(ls "$debdir"/migo-relay_*_"$(dpkg --print-architecture)".deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "no package in $debdir (deb_package builds it)"; exit 1; }

top=$(mktemp -d /tmp/migo-boot-XXXXXX)
cleanup() {
  mountpoint -q "$top/root" && umount "$top/root"
  mountpoint -q "$top" && umount "$top"
  rm -rf "$top"
}
trap cleanup EXIT
mount -t tmpfs -o size=4g,mode=0700 migo-boot "$top" || skip "cannot mount a tmpfs"
mkdir -p "$top/upper" "$top/work" "$top/root" "$top/results"
mount -t overlay migo-boot -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$top/root" ||
  skip "cannot mount an overlay of / (kernel or container forbids it)"
root=$top/root

# The container boots into a target of its own: multi-user, then the probe.
# (The probe cannot be WantedBy=multi-user.target and After= it: a target is
# ordered after what it wants, and that would be a cycle.)
cat >"$root/etc/systemd/system/migo-boot-test.target" <<UNIT
[Unit]
Description=migo-relay boot test
Requires=multi-user.target migo-boot-probe.service
After=multi-user.target
AllowIsolate=yes
UNIT
cat >"$root/etc/systemd/system/migo-boot-probe.service" <<UNIT
[Unit]
Description=migo-relay boot test: scripts/up.sh under systemd, then checks
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/bash /migo-src/tests/systemd/boot_probe.sh /migo-src /migo-deb/$(basename "$deb") /migo-results
ExecStopPost=/bin/systemctl --no-block poweroff
TimeoutStartSec=800
UNIT
# What a fresh host has not: no leftover machine id, no host's running state.
rm -f "$root/etc/machine-id"
chmod 0755 "$top"

echo "--- booting systemd in a container (systemd-nspawn -b; the console: console.log)"
timeout --kill-after=30 900 systemd-nspawn -q -D "$root" -b --register=no --keep-unit --private-network \
  --bind-ro="$src:/migo-src" --bind-ro="$(cd "$debdir" && pwd):/migo-deb" --bind="$top/results:/migo-results" \
  --console=pipe systemd.unit=migo-boot-test.target >"$top/results/console.log" 2>&1 </dev/null
nspawn_rc=$?
for f in probe.log; do [ -f "$top/results/$f" ] && cat "$top/results/$f"; done
if [ ! -f "$top/results/rc" ]; then
  if ! grep -q "systemd [0-9]* running\|Welcome to" "$top/results/console.log"; then
    tail -20 "$top/results/console.log"
    skip "systemd did not start in the container (nspawn exited $nspawn_rc)"
  fi
  echo "FAILED  the probe did not finish (nspawn exited $nspawn_rc); the console:"
  tail -60 "$top/results/console.log"
  exit 1
fi
rc=$(cat "$top/results/rc")
if [ "$rc" -ne 0 ]; then
  for f in up.log up2.log; do
    [ -f "$top/results/$f" ] && { echo "--- $f (last 40 lines)"; tail -40 "$top/results/$f"; }
  done
fi
exit "$rc"
