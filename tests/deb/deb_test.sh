#!/usr/bin/env bash
# deb_test.sh — the Debian package, as a Debian developer and an admin meet
# it: build it from the source tree with dpkg-buildpackage (debian/), gate
# it with lintian (no error, no warning), check the hardening of every
# program and the -dbgsym package, then install, reinstall, remove, purge
# and install again on this host, checking what each step leaves.
#   deb_test.sh SOURCE_DIR OUT_DIR
# OUT_DIR keeps the packages; ansible_role_deb then installs them with the
# role. Needs root (it installs the package).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/postfix/assert.sh"
src=$(cd "$1" && pwd)
out=$2
[ "$(id -u)" -eq 0 ] || { echo "deb_test: needs root (skipped)"; exit 77; }
for tool in dpkg-buildpackage lintian dh; do
  command -v "$tool" >/dev/null || { echo "deb_test: $tool missing (scripts/install-deps.sh installs it)"; exit 1; }
done
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)

echo "--- dpkg-buildpackage -b (scripts/build-deb.sh)"
rm -rf "$out"
if ! deb=$(bash "$here/../scripts/build-deb.sh" "$out"); then
  check "dpkg-buildpackage builds the package" false
  report; exit 1
fi
dbgsym=$out/migo-relay-dbgsym_${version}_$arch.deb
changes=$out/migo-relay_${version}_$arch.changes
check "dpkg-buildpackage makes the package" test -f "$deb"
check "  and its -dbgsym package" test -f "$dbgsym"
# Debian's build flags reached the compiler (dpkg-buildflags' hardening).
check_contains "the build used Debian's flags (fortify)" "$(grep -m1 'migoctl/main.cc' "$out/build.log")" "-D_FORTIFY_SOURCE=2"

echo "--- lintian"
lint=$(lintian --allow-root --fail-on error,warning --display-info "$changes" 2>&1)
lint_rc=$?
check "lintian: no error, no warning" test $lint_rc = 0
[ $lint_rc = 0 ] || echo "$lint" | sed 's/^/        | /'
# The gate must be able to fail: the same package without its copyright
# file is an error lintian reports.
mkdir -p "$out/mutant" && dpkg-deb -R "$deb" "$out/mutant/root"
rm "$out/mutant/root/usr/share/doc/migo-relay/copyright"
sed -i '/copyright$/d' "$out/mutant/root/DEBIAN/md5sums"
dpkg-deb -b "$out/mutant/root" "$out/mutant/migo-relay_${version}_$arch.deb" >/dev/null
mutant=$(lintian --allow-root --fail-on error,warning "$out/mutant/migo-relay_${version}_$arch.deb" 2>&1)
mutant_rc=$?
check "  and it fails a package without a copyright file" test $mutant_rc != 0
check_contains "  (no-copyright-file)" "$mutant" "no-copyright-file"

echo "--- what the package holds"
contents=$(dpkg-deb --contents "$deb")
plugin_dir=$(dpkg-query -L libsasl2-modules | grep -m1 '/sasl2$')
for f in ./usr/sbin/migoctl ./usr/sbin/migo-policyd ./usr/sbin/migo-milter ./usr/sbin/migo-statd \
         ./usr/sbin/migo-trackd ./usr/sbin/migo-syncd ".$plugin_dir/libmigo.so" ./etc/migo/policyd.conf \
         ./usr/lib/sysusers.d/migo-relay.conf ./usr/share/doc/migo-relay/copyright \
         ./usr/share/doc/migo-relay/changelog.gz ./usr/share/doc/migo-relay/README.Debian \
         ./usr/share/bash-completion/completions/migoctl; do
  check_contains "the package holds $f" "$contents" " $f"
done
for unit in migo-policyd.service migo-milter.service migo-statd.service migo-trackd.service migo-syncd.service \
            migo-domain-recheck.service migo-domain-recheck.timer migo-metrics.service migo-metrics.timer; do
  check_contains "the package holds the unit $unit" "$contents" " ./lib/systemd/system/$unit"
done
for page in man8/migoctl.8 man8/migo-policyd.8 man8/migo-milter.8 man8/migo-statd.8 man8/migo-trackd.8 man8/migo-syncd.8 \
            man5/migo-policyd.conf.5 man5/migo-sasl.5; do
  check_contains "the package holds $page" "$contents" " ./usr/share/man/$page.gz"
done
depends=$(dpkg-deb --field "$deb" Depends)
check_contains "it depends on Postfix" "$depends" "postfix"
check_contains "  on the libraries it links (dpkg-shlibdeps)" "$depends" "liblmdb0"
check_contains "  on libopendkim (the milter signs)" "$depends" "libopendkim"
check_contains "  and on a sysusers implementation" "$depends" "systemd-sysusers"
check_contains "its maintainer is no root@localhost" "$(dpkg-deb --field "$deb" Maintainer)" "migo-relay maintainers <"

# Hardening, read from the programs themselves: PIE, full RELRO (RELRO
# segment + BIND_NOW), the stack protector; stripped, with their debug
# information in the -dbgsym package under their build IDs.
mkdir -p "$out/x" && dpkg-deb -x "$deb" "$out/x" && dpkg-deb -x "$dbgsym" "$out/x"
fortified=0
for elf in usr/sbin/migoctl usr/sbin/migo-policyd usr/sbin/migo-milter usr/sbin/migo-statd usr/sbin/migo-trackd usr/sbin/migo-syncd \
           "${plugin_dir#/}/libmigo.so"; do
  f=$out/x/$elf
  name=$(basename "$elf")
  headers=$(readelf -W -h -l -d "$f" 2>&1)
  check_contains "$name: position independent" "$headers" "DYN ("
  check_contains "$name: RELRO" "$headers" "GNU_RELRO"
  check_contains "$name: bound now" "$headers" "BIND_NOW"
  syms=$(readelf -W --dyn-syms "$f")
  check_contains "$name: stack protector" "$syms" "__stack_chk_fail"
  grep -q '__[a-z_]*_chk@' <<<"$syms" && fortified=$((fortified + 1))
  sections=$(readelf -W -S "$f")
  check_lacks "$name: stripped (no .symtab)" "$sections" " .symtab "
  check_lacks "$name: stripped (no debug info)" "$sections" " .debug_info "
  id=$(readelf -n "$f" | sed -n 's/.*Build ID: \([0-9a-f]*\)/\1/p')
  check "$name: its debug information is in -dbgsym (build ID $id)" \
    test -n "$id" -a -f "$out/x/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
done
check "fortified calls (__*_chk) in the programs ($fortified of 6)" test "$fortified" -ge 3

# A step's output is shown only when it fails.
quiet() { local o; o=$("$@" 2>&1) || { echo "$o" | tail -20 | sed 's/^/        | /'; return 1; }; }

echo "--- install"
# Nothing of an earlier run or of another build may stand in for this one.
dpkg --purge migo-relay >/dev/null 2>&1
had_store=no; [ -e /var/lib/migo ] && had_store=yes
had_etc=no; [ -e /etc/migo ] && had_etc=yes
inst=$(dpkg -i "$deb" 2>&1)
echo "$inst" | grep -i "warn\|error"
check "dpkg -i installs it" test "$(dpkg-query -W -f='${db:Status-Status}' migo-relay 2>/dev/null)" = installed
[ "$(dpkg-query -W -f='${db:Status-Status}' migo-relay 2>/dev/null)" = installed ] || echo "$inst" | tail -20
check_contains "migoctl --version" "$(migoctl --version)" "migoctl $version"
check "the installed migo-milter is this package's" \
  test "$(sha256sum </usr/sbin/migo-milter)" = "$(sha256sum <"$out/x/usr/sbin/migo-milter")"
check "group migo exists" quiet getent group migo
for u in migo-policyd migo-milter migo-statd migo-trackd migo-syncd; do
  check "user $u exists, primary group migo, no shell" \
    test "$(getent passwd "$u" | cut -d: -f4,7)" = "$(getent group migo | cut -d: -f3):/usr/sbin/nologin"
done
check_contains "migo-policyd is in group postfix (its socket)" "$(id -nG migo-policyd)" "postfix"
check_contains "migo-milter is in group postfix" "$(id -nG migo-milter)" "postfix"
check_contains "migo-statd is in group adm (the journal)" "$(id -nG migo-statd)" "adm"
check "the store is 0750 root:migo" test "$(stat -c '%a %U:%G' /var/lib/migo)" = "750 root:migo"
check "  and holds a store migoctl reads" quiet migoctl --db /var/lib/migo plan list
check "the metrics directory is 2770 root:migo" test "$(stat -c '%a %U:%G' /var/lib/migo/metrics)" = "2770 root:migo"
check "/etc/migo is 0750 root:migo (dpkg-statoverride)" test "$(stat -c '%a %U:%G' /etc/migo)" = "750 root:migo"
check_contains "  recorded as a statoverride" "$(dpkg-statoverride --list /etc/migo)" "root migo 750 /etc/migo"
check "the tag key: 32 bytes, 0640 root:migo" test "$(stat -c '%s %a %U:%G' /etc/migo/tag.key)" = "32 640 root:migo"
check "the DKIM key directory is 0700 migo-milter" test "$(stat -c '%a %U' /etc/migo/dkim)" = "700 migo-milter"
check_contains "policyd.conf is a conffile" "$(dpkg-query -W -f='${Conffiles}' migo-relay)" "/etc/migo/policyd.conf"
# The conffile is one migo-policyd starts with.
run=$(mktemp -d /tmp/migo-deb-XXXXXX)
chown migo-policyd "$run"
migo-policyd --db /var/lib/migo --config /etc/migo/policyd.conf --listen "unix:$run/policy" --user migo-policyd \
  --foreground \
  >"$run/policyd.log" 2>&1 &
pid=$!
for _ in $(seq 50); do [ -S "$run/policy" ] && break; sleep 0.1; done
check "migo-policyd starts with the packaged policyd.conf" test -S "$run/policy"
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
# dh_installsystemd enabled the daemons and the timers (the links exist
# without a running systemd), and left migo-trackd disabled.
for unit in multi-user.target.wants/migo-policyd.service multi-user.target.wants/migo-milter.service \
            multi-user.target.wants/migo-statd.service timers.target.wants/migo-domain-recheck.timer \
            timers.target.wants/migo-metrics.timer; do
  check "enabled: $unit" test -L "/etc/systemd/system/$unit"
done
check "migo-trackd is not enabled (tracking is set up first)" test ! -e /etc/systemd/system/multi-user.target.wants/migo-trackd.service
check "man finds migo-policyd(8)" test "$(man -w migo-policyd 2>/dev/null)" = /usr/share/man/man8/migo-policyd.8.gz

echo "--- reinstall (as an upgrade does)"
migoctl --db /var/lib/migo workspace create debtest --plan 10k >/dev/null
key_before=$(sha256sum </etc/migo/tag.key)
echo "# the admin's own line" >>/etc/migo/policyd.conf
check "dpkg -i again succeeds" quiet dpkg -i "$deb"
check "  the tag key is the same one" test "$(sha256sum </etc/migo/tag.key)" = "$key_before"
check "  the workspace is still there" quiet migoctl --db /var/lib/migo workspace show debtest
check_contains "  the admin's change to the conffile is kept" "$(cat /etc/migo/policyd.conf)" "# the admin's own line"

echo "--- remove, purge"
check "dpkg -r removes it" quiet dpkg -r migo-relay
check "  the programs are gone" test ! -e /usr/sbin/migoctl -a ! -e "$plugin_dir/libmigo.so"
check "  the conffile stays" test -f /etc/migo/policyd.conf
check "  the store stays" test -f /var/lib/migo/data.mdb
check "dpkg -P purges it" quiet dpkg -P migo-relay
check "  the conffile is gone" test ! -e /etc/migo/policyd.conf
check "  the statoverride is gone" test -z "$(dpkg-statoverride --list /etc/migo)"
check "  the units' links are gone" test ! -e /etc/systemd/system/multi-user.target.wants/migo-policyd.service
check "  the store survives the purge" test -f /var/lib/migo/data.mdb
check "  and so do the keys" test -f /etc/migo/tag.key -a -d /etc/migo/dkim

echo "--- install after a purge"
check "dpkg -i installs it again" quiet dpkg -i "$deb"
check "  over the kept store: the workspace is there" quiet migoctl --db /var/lib/migo workspace show debtest
check "  with the same tag key" test "$(sha256sum </etc/migo/tag.key)" = "$key_before"
check "  and a fresh conffile" test -z "$(grep "the admin's own line" /etc/migo/policyd.conf)"

# Leave the host as it was: purge, and remove the store and keys as
# README.Debian says, unless they were there before this test.
dpkg -P migo-relay >/dev/null 2>&1
[ $had_store = yes ] || rm -r /var/lib/migo
[ $had_etc = yes ] || rm -r /etc/migo
rm -rf "$run" "$out/x" "$out/mutant"
report
