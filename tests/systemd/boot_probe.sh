#!/usr/bin/env bash
# boot_probe.sh — runs inside the container boot_test.sh boots, as a unit
# of that container's systemd (PID 1): the README's main command, then what
# an admin would look at on a stock Debian 12 host with systemd and no
# rsyslog. Writes its findings to RESULTS/probe.log and its exit status to
# RESULTS/rc; boot_test.sh reads both once the container has powered off.
#   boot_probe.sh SOURCE_DIR DEB RESULTS
set -uo pipefail
src=$1 deb=$2 results=$3
exec >"$results/probe.log" 2>&1
source "$src/tests/postfix/assert.sh"
trap 'echo $? >"$results/rc"' EXIT

check "PID 1 is systemd" test "$(cat /proc/1/comm)" = systemd
check "no syslog daemon (a stock Debian 12)" test ! -e /usr/sbin/rsyslogd

# The container's root is the test machine's, which other tests have left
# migo-relay on (of the same version: apt would keep it, and this would
# test that one). A fresh host has none of it.
dpkg --purge migo-relay >/dev/null 2>&1
rm -rf /var/lib/migo /etc/migo /var/lib/migo-demo
systemctl daemon-reload; systemctl reset-failed
check "a fresh host: no migo-relay installed" test -z "$(dpkg-query -W -f='${Status}' migo-relay 2>/dev/null | grep ' installed')"

echo "--- scripts/up.sh --deb (the role with migo_init=systemd, the package)"
up=$(bash "$src/scripts/up.sh" --deb "$deb" 2>&1); rc=$?
printf '%s\n' "$up" >"$results/up.log"
check "up.sh succeeds (the whole output: up.log)" test $rc -eq 0
check_contains "  it chose systemd" "$up" "init system: systemd"
check_contains "  the demo message reached the sink" "$up" "delivered to the local sink"
# up.sh prints the credentials once, indented (and account show's
# "Username:" after them, not indented).
creds() { sed -n "s/^  $1: *//p" <<<"$2" | head -1; }
user=$(creds Username "$up")
pass=$(creds Password "$up")

echo "--- the units"
for u in migo-policyd migo-milter migo-statd postfix migo-domain-recheck.timer migo-metrics.timer; do
  check "$u is enabled" systemctl -q is-enabled "$u"
  check "  and active" systemctl -q is-active "$u"
done
# migo-trackd: the package installs it disabled; the role starts it only
# when tracking is configured (it is not here).
st=$(systemctl is-enabled migo-trackd 2>&1)
check "migo-trackd is not enabled ($st)" test "$st" = disabled
st=$(systemctl is-active migo-trackd 2>&1)
check "  nor running ($st)" test "$st" = inactive
[ "$st" = inactive ] || journalctl -b --no-pager -u migo-trackd | tail -8
for d in policyd milter statd; do
  pid=$(systemctl show -p MainPID --value "migo-$d")
  check "migo-$d runs as its own user" test "$(ps -o user= -p "$pid" 2>/dev/null)" = "migo-$d"
done
# node-exporter's textfile directory, as its Debian package makes it:
# root's, 0755.
install -d -o root -g root -m 0755 /var/lib/prometheus/node-exporter
check "migo-metrics.service runs (DynamicUser, the sandbox)" systemctl start migo-metrics.service
systemctl -q is-failed migo-metrics.service && journalctl -b --no-pager -u migo-metrics | tail -8
check_contains "  and writes node-exporter's textfile" "$(cat /var/lib/prometheus/node-exporter/migo.prom 2>&1)" "migo_policyd_decisions_total"

echo "--- the journal (no rsyslog: Postfix and our daemons log there)"
check "Postfix has no log file of its own (maillog_file unset)" test -z "$(postconf -h maillog_file)"
j() { journalctl -b --no-pager -o cat "$@" 2>/dev/null; }
check_contains "migo-policyd said it is ready" "$(j -u migo-policyd)" "ready: listening on"
check_contains "migo-milter said it is ready" "$(j -u migo-milter)" "ready: listening on"
check_contains "migo-statd follows the journal" "$(j -u migo-statd)" "following"
check_contains "Postfix logged the delivery to the journal" "$(j -t postfix/smtp)" "status=sent"
stats=$(migoctl --json account show "$user" 2>&1)
counted() { python3 -c 'import json,sys; s=json.load(sys.stdin)["statistics"]; sys.exit(0 if s["total_sent"] >= 1 and s["delivered"] >= s["total_sent"] else 1)' <<<"$stats"; }
check "migo-statd counted it from the journal (sent and delivered)" counted

echo "--- migoctl check (Nagios-style)"
out=$(migoctl check 2>&1); rc=$?
check_contains "migoctl check: OK" "$out" "OK"
check "  exit 0" test $rc -eq 0

echo "--- reload, and up.sh again"
before=$(systemctl show -p MainPID --value migo-policyd)
check "systemctl reload migo-policyd" systemctl reload migo-policyd
sleep 1
check "  the same process, still active" test "$(systemctl show -p MainPID --value migo-policyd)" = "$before"
check_contains "  which reloaded its configuration" "$(j -u migo-policyd)" "configuration reloaded"
up2=$(bash "$src/scripts/up.sh" --deb "$deb" 2>&1); rc=$?
printf '%s\n' "$up2" >"$results/up2.log"
check "up.sh again succeeds (up2.log)" test $rc -eq 0
check_contains "  and the role changes nothing" "$(grep -E '^ *localhost +: ok=' <<<"$up2")" "changed=0"

echo "--- stopping fails closed"
check "systemctl stop migo-policyd" systemctl stop migo-policyd
check "  a clean stop (not failed)" test "$(systemctl show -p Result --value migo-policyd)" = success
user=$(creds Username "$up2")
pass=$(creds Password "$up2")
send() {
  swaks --server 127.0.0.1 --port 587 --tls --auth PLAIN --auth-user "$user" --auth-password "$pass" \
    --from app@example.com --to someone@example.net --header "From: <app@example.com>" 2>&1
}
# Postfix applies default_action=DEFER (450 4.7.1), or 451 4.3.5 when the
# service errs: a temporary error either way, never an acceptance.
tempfailed() { grep -qE '^<~?\*+ +4[0-9][0-9] ' <<<"$1"; }
out=$(send)
check "  mail is refused with a temporary error while it is down" tempfailed "$out"
tempfailed "$out" || tail -5 <<<"$out"
check_lacks "  and nothing is queued" "$out" "Ok: queued"
check "systemctl start migo-policyd" systemctl start migo-policyd
out=$(send)
check_contains "  and accepted again once it is back" "$out" "Ok: queued"
for d in milter statd; do
  check "systemctl stop migo-$d: a clean stop" sh -c "systemctl stop migo-$d && test \"\$(systemctl show -p Result --value migo-$d)\" = success"
done
check_contains "migo-statd said it stopped" "$(j -u migo-statd)" "stopped"
report
