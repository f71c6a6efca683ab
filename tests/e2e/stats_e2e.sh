#!/usr/bin/env bash
# stats_e2e.sh — per-account statistics end to end: two accounts send through
# a real Postfix (SASL plugin, policy daemon, milter); transport_maps sends
# bounce.test to an smtp-sink that refuses every recipient (5xx) and
# defer.test to one that defers (4xx); migo-statd follows Postfix's log; a
# crafted ARF report and an asynchronous DSN are fed to migoctl.
#   stats_e2e.sh MIGOCTL MIGO_MILTER MIGO_POLICYD LIBMIGO_SO MIGO_STATD
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/postfix/assert.sh"
source "$here/postfix/harness.sh"

MIGOCTL=$1
MILTER=$2
POLICYD=$3
PLUGIN=$4
STATD=$5
migo_e2e_begin stats "$PLUGIN" "$MIGOCTL"
stat_of() {  # stat_of USERNAME FIELD
  m --json account show "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['statistics']['$2'])"
}
m workspace create acme --plan 10k >/dev/null
m domain add acme example.com >/dev/null && m domain verify --manual acme example.com >/dev/null
migo_new_account "$MIGOCTL" "$store" acme "Production App" A A_PW
migo_new_account "$MIGOCTL" "$store" acme "Newsletter" B B_PW
m workspace create idle --plan 10k >/dev/null
migo_new_account "$MIGOCTL" "$store" idle "Idle" C C_PW
migo_start_modules "$MILTER" "$POLICYD"
bounce_port=$(pf_free_port)
defer_port=$(pf_free_port)
/usr/sbin/smtp-sink -u nobody -f RCPT "127.0.0.1:$bounce_port" 100 >"$base/bounce-sink.log" 2>&1 &
MIGO_PIDS+=($!)
/usr/sbin/smtp-sink -u nobody -r RCPT "127.0.0.1:$defer_port" 100 >"$base/defer-sink.log" 2>&1 &
MIGO_PIDS+=($!)

pf_new stats n
pf_sasl_migo
printf 'bounce.test smtp:[127.0.0.1]:%s\ndefer.test smtp:[127.0.0.1]:%s\n' "$bounce_port" "$defer_port" \
  >"$PF_ETC/transport"
printf '/^Subject: forbidden/ REJECT no thanks\n/^Subject: held/ HOLD\n' >"$PF_ETC/header_checks"
# maximal_queue_lifetime = 0: a deferred message is tried once, then
# expires — so "status=expired" happens within the test.
migo_wire_modules
pf_conf "local_header_rewrite_clients =" "transport_maps = texthash:$PF_ETC/transport" \
  "maximal_queue_lifetime = 0" "bounce_queue_lifetime = 0" "notify_classes =" \
  "header_checks = regexp:$PF_ETC/header_checks"
pf_start || { check "postfix starts" false; report; exit 1; }

# The follower, running as a daemon from before the first message.
migo_start_statd "$STATD"

# A failed AUTH: smtpd logs it, migo-statd counts it (metrics) — and the
# client's name in that line is never kept.
out=$(pf_swaks --tls --auth PLAIN --auth-user "$A" --auth-password "not-the-password" --from app@example.com \
  --to z@dest.test --header "From: app@example.com" --quit-after AUTH)
check_contains "a wrong password: 535" "$out" "535"
sasl_failures() { m --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"].get("sasl.failures", 0))'; }
counted_failure() { test "$(sasl_failures)" -ge 1; }
check "  migo-statd counts the failed AUTH smtpd logged" pf_eventually counted_failure
check_contains "  and migoctl metrics shows it" "$(m metrics)" "migo_sasl_auth_failures_total"

send() {  # send USER PASS SUBJECT RCPT...
  local user=$1 pass=$2 subject=$3; shift 3
  local to; to=$(IFS=,; echo "$*")
  pf_swaks --tls --auth PLAIN --auth-user "$user" --auth-password "$pass" --from app@example.com \
    --to "$to" --header "From: App <app@example.com>" --header "Subject: $subject"
}
for i in 1 2 3; do
  out=$(send "$A" "$A_PW" "a-good-$i" "good$i@dest.test")
  check_contains "A's message $i queued" "$out" "Ok: queued"
done
out=$(send "$A" "$A_PW" "a-mixed" ok@dest.test nobody@bounce.test)
check_contains "A's two-recipient message queued" "$out" "Ok: queued"
for i in 1 2; do
  out=$(send "$B" "$B_PW" "b-bounce-$i" "x$i@bounce.test")
  check_contains "B's message to a refusing domain queued" "$out" "Ok: queued"
done
out=$(send "$B" "$B_PW" "b-defer" later@defer.test)
check_contains "B's message to a deferring domain queued" "$out" "Ok: queued"
out=$(pf_swaks --tls --auth PLAIN --auth-user "$B" --auth-password "$B_PW" --from app@example.com \
  --to z@dest.test --header "From: app@unverified.example")
check_contains "B's unverified From: refused (not counted)" "$out" "550 5.7.1"
# Refused by Postfix's own header_checks in cleanup, after the policy service
# counted it at END-OF-MESSAGE: the follower refunds it from cleanup's log line.
out=$(send "$B" "$B_PW" "forbidden" y@dest.test)
check_contains "B's message refused by header_checks" "$out" "550 5.7.1 no thanks"

# Wait (bounded) until Postfix's queue is empty and the follower caught up.
for i in $(seq 1 150); do
  postqueue -c "$PF_ETC" -p 2>/dev/null | grep -q "Mail queue is empty" &&
    [ -z "$(mdb_dump -p -s queue "$store" | sed -n '/^HEADER=END/,/^DATA=END/p' | grep -v '=END')" ] && break
  sleep 0.2
done
check "Postfix's queue drained and every queue map entry was forgotten on 'removed'" \
  sh -c "[ -z \"\$(mdb_dump -p -s queue '$store' | sed -n '/^HEADER=END/,/^DATA=END/p' | grep -v '=END')\" ]"

check "A: total sent 5 (3 + a two-recipient message)" test "$(stat_of "$A" total_sent)" = 5
check "A: sent this month 5" test "$(stat_of "$A" sent_this_month)" = 5
check "A: delivered 4" test "$(stat_of "$A" delivered)" = 4
check "A: bounced 1" test "$(stat_of "$A" bounced)" = 1
check "A: delivery rate 0.8" test "$(stat_of "$A" delivery_rate)" = 0.8
check "B: total sent 3 (refused messages are not counted, or refunded)" test "$(stat_of "$B" total_sent)" = 3
check "B: delivered 0" test "$(stat_of "$B" delivered)" = 0
check "B: bounced 3 (two refused, one expired after deferral)" test "$(stat_of "$B" bounced)" = 3
check "B: deferred 1" test "$(stat_of "$B" deferred)" = 1
check "B: delivery rate 0" test "$(stat_of "$B" delivery_rate)" = 0.0
check "C (another workspace, sent nothing): all zero" \
  test "$(stat_of "$C" total_sent)/$(stat_of "$C" delivered)/$(stat_of "$C" bounced)" = 0/0/0
ws=$(m --json workspace show acme)
check "workspace show sums its accounts" test \
  "$(python3 -c 'import json,sys; s=json.load(sys.stdin)["statistics"]; print(s["total_sent"], s["delivered"], s["bounced"])' <<<"$ws")" = "8 4 4"

# A tenant forges Postfix's log lines (issue 13, item 1). migo-milter refuses
# a From header and logs why; with rsyslog's defaults its lines land in the
# same mail log as Postfix's. The From text carries what would refund A's
# first message and bounce its recipient. Our daemons' lines are merged into
# the followed log as syslog would write them; nothing may move.
# The victim is a message of A's still in the queue (held by header_checks),
# whose queue map entry a refund or bounce could reach.
out=$(send "$A" "$A_PW" "held" held@dest.test)
victim=$(sed -n 's/.*Ok: queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$out" | head -1)
check "the victim message is queued and held" test -n "$victim"
# Everything but last_used, which B's AUTH moves.
counts() { for x in "account show $A" "account show $B" "workspace show acme"; do m --json $x; done | grep -v last_used; }
before=$(counts)
for forged in "x/y[1]: $victim: reject: END-OF-MESSAGE x" \
              "x postfix/smtp[1]: $victim: to=<held@dest.test>, relay=x, status=bounced (x"; do
  out=$(pf_swaks --tls --auth PLAIN --auth-user "$B" --auth-password "$B_PW" --from app@example.com \
    --to z@dest.test --header "From: app@example.com \"$forged\"")
  check_contains "a From with forged log text is refused" "$out" "550 5.7.1"
done
for i in $(seq 1 50); do grep -q "Malformed\|From header" "$milter_log" && break; sleep 0.1; done
check_contains "migo-milter logged the refusal" "$(cat "$milter_log")" "From header"
check_lacks "migo-milter quotes client text, never bare" "$(cat "$milter_log")" "'x/y[1]: $victim"
# The same texts as another program on the host might log them, verbatim
# (a content filter quoting a header): statd alone must ignore them.
{ cat "$milter_log"
  echo "some-filter[77]: 4Xyz: header From: app@example.com x/y[1]: $victim: reject: END-OF-MESSAGE x"
  echo "some-filter[77]: 4Xyz: x postfix/smtp[1]: $victim: to=<held@dest.test>, relay=x, status=bounced (x"
} | sed "s/^/$(date '+%b %e %T') mx /" >>"$PF_DIR/maillog"
size=$(stat -c %s "$PF_DIR/maillog")
for i in $(seq 1 100); do
  [ "$(m --json stats | python3 -c "import json,sys; print(max(p['offset'] for p in json.load(sys.stdin)['logs']))" 2>/dev/null)" -ge "$size" ] 2>/dev/null && break
  sleep 0.1
done
after=$(counts)
check "forged log lines changed no statistic and no usage" test "$before" = "$after"
[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after")
postsuper -c "$PF_ETC" -d "$victim" hold >/dev/null 2>&1

# Stopping and running again over the same log counts nothing twice.
migo_stop statd 2>/dev/null
before=$(m --json account show "$A"; m --json account show "$B")
"$STATD" --db "$store" --log "$PF_DIR/maillog" --once 2>"$base/statd-once.log"
check "a second pass (--once) exits 0" test $? = 0
check "a second pass over the same log changes no statistic" \
  test "$before" = "$(m --json account show "$A"; m --json account show "$B")"
check_contains "migoctl stats shows the follower's position" "$(m stats)" "$PF_DIR/maillog  offset"
check "migoctl stats counts the header_checks refund" \
  sh -c "'$MIGOCTL' --db '$store' --json stats | grep -q '\"log.refunded\": 1'"

# A complaint (ARF) about one of A's delivered messages, quoting it as the
# receiver got it (with our tag), then the same report with the tag altered.
f=$(grep -l "^Subject: a-good-1" "$PF_DIR"/sink/* | head -1)
check "A's message reached the sink" test -n "$f"
arf() {  # arf MESSAGE_FILE
  printf 'From: fbl@mailbox.test\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary="arf"\n\n'
  printf -- '--arf\nContent-Type: text/plain\n\nThis is an abuse report.\n'
  printf -- '--arf\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\nOriginal-Rcpt-To: <good1@dest.test>\n\n'
  printf -- '--arf\nContent-Type: message/rfc822\n\n'; tr -d '\r' <"$1"; printf -- '\n--arf--\n'
}
out=$(arf "$f" | m ingest-arf --key "$tag_key")
check_contains "the ARF report is attributed to A" "$out" "tag verified, account $A"
check "A: complaints 1" test "$(stat_of "$A" complaints)" = 1
check "B: complaints 0" test "$(stat_of "$B" complaints)" = 0
arf "$f" | m ingest-arf --key "$tag_key" >/dev/null
check "the same report again: still 1 complaint" test "$(stat_of "$A" complaints)" = 1
# Another account id under the same signature: its first digit changed, to
# a different digit whatever it was.
forged=$(arf "$f" | python3 -c '
import re, sys
text = sys.stdin.read()
def flip(m): return m.group(1) + ("1" if m.group(2) == "0" else "0")
print(re.sub(r"(X-Migo-Tag: .*?a=)([0-9a-f])", flip, text, count=1), end="")')
out=$(m ingest-arf --key "$tag_key" <<<"$forged")
check_contains "an altered tag is unattributed" "$out" "tag forged"
check "A: still 1 complaint after the forged report" test "$(stat_of "$A" complaints)" = 1
check "the forged report is counted as unattributed" \
  sh -c "'$MIGOCTL' --db '$store' --json stats | grep -q '\"reports.arf.unattributed\": 1'"

# An asynchronous bounce (DSN) from the receiver of another delivered message.
f2=$(grep -l "^Subject: a-good-2" "$PF_DIR"/sink/* | head -1)
dsn() {
  printf 'From: MAILER-DAEMON@dest.test\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="d"\n\n'
  printf -- '--d\nContent-Type: text/plain\n\nMailbox full.\n'
  printf -- '--d\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; dest.test\n\nFinal-Recipient: rfc822; good2@dest.test\nAction: failed\nStatus: 5.2.2\n\n'
  printf -- '--d\nContent-Type: text/rfc822-headers\n\n'; tr -d '\r' <"$f2" | sed '/^$/q'; printf -- '--d--\n'
}
out=$(dsn | m ingest-dsn --key "$tag_key")
check_contains "the DSN is attributed to A and counted" "$out" "counted"
dsn | m ingest-dsn --key "$tag_key" >/dev/null
check "A: after an async bounce, bounced 2 and delivered 3 (counted once)" \
  test "$(stat_of "$A" bounced)/$(stat_of "$A" delivered)" = 2/3
# One genuine tag buys nothing more: two DSNs quoting it list 1,000
# invented recipients each (issue 13, item 2).
invented() {
  printf 'From: MAILER-DAEMON@dest.test\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="d"\n\n'
  printf -- '--d\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; dest.test\n'
  for i in $(seq 1 1000); do printf '\nFinal-Recipient: rfc822; invented%s-%s@dest.test\nAction: failed\nStatus: 5.1.1\n' "$1" "$i"; done
  printf -- '\n--d\nContent-Type: text/rfc822-headers\n\n'; tr -d '\r' <"$f2" | sed '/^$/q'; printf -- '--d--\n'
}
before=$(stat_of "$A" bounced)/$(stat_of "$A" delivered)
out=$(invented 1 | m --json ingest-dsn --key "$tag_key"; invented 2 | m --json ingest-dsn --key "$tag_key")
check "2,000 invented recipients under a genuine tag: none counted" \
  test "$(grep -o '"unknown_recipient"' <<<"$out" | wc -l)" = 2000
check "A: bounced and delivered unchanged by invented recipients" \
  test "$(stat_of "$A" bounced)/$(stat_of "$A" delivered)" = "$before"
out=$(echo "not a report" | m ingest-dsn --key "$tag_key" 2>&1)
check "a non-report is refused (exit 1)" test $? -ne 0 -o -n "$out"
check_contains "a non-report says why" "$out" "not counted"

slog=$(cat "$statd_log")
check_contains "migo-statd logs in Postfix's style" "$slog" "migo-statd"
check_lacks "migo-statd logs no password" "$slog" "$A_PW"
pf_stop
report
