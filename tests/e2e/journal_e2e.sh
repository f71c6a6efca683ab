#!/usr/bin/env bash
# journal_e2e.sh — statistics on a host without rsyslog, as a stock Debian
# 12 is: Postfix logs through syslog(3) to systemd-journald, and migo-statd
# follows the journal (its default source). A real journald (a namespace of
# its own; /dev/log pointed at it for the test), a real Postfix with the
# modules; one message delivered is counted once; the same delivery lines
# forged with postlog(1) and logger(1) by a local user, tagged as Postfix's,
# move nothing (journald says who wrote them).
#   journal_e2e.sh MIGOCTL MIGO_MILTER MIGO_POLICYD LIBMIGO_SO MIGO_STATD
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/postfix/assert.sh"
source "$here/postfix/harness.sh"

MIGOCTL=$1
MILTER=$2
POLICYD=$3
PLUGIN=$4
STATD=$5
[ -n "${MIGO_E2E_ROLE:-}" ] && { echo "journal_e2e: runs against the harness's instance only"; exit 77; }
if [ -e /dev/log ]; then
  # A syslog daemon (or journald) already owns /dev/log: not ours to take.
  echo "journal_e2e: /dev/log exists on this host (skipped: it would take over the host's syslog socket)"
  exit 77
fi
migo_e2e_begin journal "$PLUGIN" "$MIGOCTL"
m workspace create acme --plan 10k >/dev/null
m domain add acme example.com >/dev/null && m domain verify --manual acme example.com >/dev/null
migo_new_account "$MIGOCTL" "$store" acme "Production App" A A_PW
migo_start_modules "$MILTER" "$POLICYD"
pf_new journal n
pf_sasl_migo
migo_wire_modules
pf_start || { check "postfix starts" false; report; exit 1; }

ns=migoe2e$$
/lib/systemd/systemd-journald "$ns" 2>"$base/journald.log" &
journald_pid=$!
cleanup_journal() {
  kill "$journald_pid" 2>/dev/null; wait "$journald_pid" 2>/dev/null
  [ -L /dev/log ] && rm -f /dev/log
  rm -rf "/run/systemd/journal.$ns" /run/log/journal/*."$ns" /var/log/journal/*."$ns"
  pf_cleanup
}
trap cleanup_journal EXIT
for i in $(seq 1 100); do [ -S "/run/systemd/journal.$ns/dev-log" ] && break; sleep 0.05; done
ln -s "/run/systemd/journal.$ns/dev-log" /dev/log
# From now on Postfix logs to syslog, that is to this journald.
pf_conf "maillog_file ="
postfix -c "$PF_ETC" reload >/dev/null 2>&1
j() { journalctl --namespace="$ns" --no-pager -q "$@" 2>/dev/null; }
# master says "reload" still through its old log; its daemons' first lines
# after it (anvil, qmgr, tlsmgr, ...) come to the journal.
postfix_in_journal() { j SYSLOG_FACILITY=2 | grep -q ' postfix/'; }
check "Postfix logs to the journal after maillog_file is unset" pf_eventually postfix_in_journal

statd() { "$STATD" --db "$store" --journal-namespace "$ns" --once 2>>"$statd_log"; }
stat_of() { m --json account show "$A" | python3 -c "import json,sys; print(json.load(sys.stdin)['statistics']['$1'])"; }
delivered_is() { statd; test "$(stat_of delivered)" = "$1"; }

out=$(pf_swaks --tls --auth PLAIN --auth-user "$A" --auth-password "$A_PW" --from app@example.com \
  --to rcpt@dest.test --header "From: App <app@example.com>" --header "Subject: journal")
check_contains "a message through the relay: queued" "$out" "Ok: queued"
qid=$(grep -o 'queued as [A-Za-z0-9]*' <<<"$out" | awk '{print $3}')
check "  delivered to the sink" pf_wait_sink 1
check "  migo-statd --journal-namespace counts it delivered, from the journal" pf_eventually delivered_is 1
check_contains "  Postfix's smtp line is in the journal" "$(j SYSLOG_IDENTIFIER=postfix/smtp)" "$qid: to=<rcpt@dest.test>"

# A local user forges the same message's bounce, tagged as Postfix's.
forged="$qid: to=<rcpt@dest.test>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (forged)"
runuser -u nobody -- /usr/sbin/postlog -c "$PF_ETC" -t postfix/smtp "$forged" 2>/dev/null
runuser -u nobody -- logger -p mail.info -t postfix/smtp "$forged"
forged_in() { test "$(j -t postfix/smtp | grep -c 'status=bounced (forged)')" -ge 2; }
check "  the forged lines are in the journal under Postfix's tag" pf_eventually forged_in
untrusted() { statd; m --json stats | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["counters"].get("journal.untrusted", 0))'; }
untrusted_at_least_2() { test "$(untrusted)" -ge 2; }
check "  migo-statd ignores them as not Postfix's (journal.untrusted)" pf_eventually untrusted_at_least_2
check "  and the message stays delivered, not bounced" test "$(stat_of delivered) $(stat_of bounced)" = "1 0"
report
