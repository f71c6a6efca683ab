#!/usr/bin/env bash
# check_test.sh MIGOCTL MIGO_POLICYD MIGO_MILTER MIGO_STATD — `migoctl check`
# against the real daemons on their own sockets: OK when everything
# answers; CRITICAL (exit 2), naming the part, when a daemon is gone, when
# a socket accepts but never answers, when the key is unreadable, when the
# store is missing; WARNING (exit 1) while migo-statd has followed nothing.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/postfix/assert.sh"
MIGOCTL=$1 POLICYD=$2 MILTER=$3 STATD=$4
base=$(mktemp -d /tmp/migo-check-XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$base"' EXIT
chmod 755 "$base"
mkdir -m 0777 "$base/metrics"
m() { "$MIGOCTL" --db "$base/db" "$@"; }
m init >/dev/null
head -c 32 /dev/urandom >"$base/tag.key"
user=()
if [ "$(id -u)" = 0 ]; then chown -R nobody "$base/db" "$base/tag.key"; user=(--user nobody); fi
"$POLICYD" --db "$base/db" --listen "unix:$base/policy" --metrics-file "$base/metrics/migo-policyd.prom" "${user[@]}" \
  2>/dev/null &
pids+=($!)
"$MILTER" --db "$base/db" --socket "unix:$base/milter" --key "$base/tag.key" --no-dkim \
  --metrics-file "$base/metrics/migo-milter.prom" "${user[@]}" 2>/dev/null &
pids+=($!)
for i in $(seq 1 100); do [ -S "$base/policy" ] && [ -S "$base/milter" ] && break; sleep 0.05; done
chk() { m check --policy "unix:$base/policy" --milter "unix:$base/milter" --tag-key "$base/tag.key" --timeout 500 "$@"; }

out=$(chk); rc=$?
check "before migo-statd has followed a log: WARNING (exit 1)" test "$rc" = 1
check_contains "  and it says why" "$out" "statd: migo-statd has not followed any log yet"
echo "Dec  4 02:02:00 relay postfix/qmgr[1]: 4ABCDEFGH: removed" >"$base/mail.log"
"$STATD" --db "$base/db" --log "$base/mail.log" --once 2>/dev/null
out=$(chk); rc=$?
check "everything answers: OK (exit 0)" test "$rc" = 0
check_contains "  one line, Nagios style" "$out" "MIGO OK - "
check_contains "  the policy daemon answered" "$out" "policyd: migo-policyd answered in"
check_contains "  the milter negotiated" "$out" "milter: migo-milter negotiated in"
check_contains "  with performance data" "$out" "| store_used="
lag() { m metrics | sed -n "s/^migo_statd_lag_bytes //p"; }
check "migoctl metrics: no lag once counted" test "$(lag)" = 0
line="Dec  4 02:02:01 relay postfix/qmgr[1]: 4ABCDEFGI: removed"
echo "$line" >>"$base/mail.log"
check "  a line appended and not yet counted: its bytes are the lag" test "$(lag)" = $(( ${#line} + 1 ))
"$STATD" --db "$base/db" --log "$base/mail.log" --once 2>/dev/null
check "  counted: none again" test "$(lag)" = 0
json=$(m --json check --policy "unix:$base/policy" --milter "unix:$base/milter" --tag-key "$base/tag.key")
check "  --json: status ok and five checks" test "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], len(d["checks"]))' <<<"$json")" = "ok 5"

kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null
out=$(chk); rc=$?
check "the milter gone: CRITICAL (exit 2)" test "$rc" = 2
check_contains "  named first" "$out" "MIGO CRITICAL - milter: no answer at unix:$base/milter"
# A socket that accepts and never answers: the probe's deadline, not a hang.
python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(5); time.sleep(30)' \
  "$base/silent" &
pids+=($!)
for i in $(seq 1 100); do [ -S "$base/silent" ] && break; sleep 0.05; done
out=$(m check --policy "unix:$base/silent" --milter none --tag-key none --timeout 500); rc=$?
check "a policy socket that never answers: CRITICAL" test "$rc" = 2
check_contains "  within the timeout" "$out" "no reply from unix:$base/silent within 500 ms"
chmod 000 "$base/tag.key"
out=$(runuser -u nobody -- "$MIGOCTL" --db "$base/db" check --policy none --milter none --tag-key "$base/tag.key" 2>&1); rc=$?
check "an unreadable tag key: CRITICAL" test "$rc" = 2
check_contains "  named" "$out" "tag-key: cannot read tag key"
out=$("$MIGOCTL" --db "$base/nosuch" check --policy none --milter none --tag-key none); rc=$?
check "a missing store: CRITICAL" test "$rc" = 2
check_contains "  named" "$out" "store: cannot be opened"

# The daemons' metrics files. SIGTERM: each writes its last counts.
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null
parse='import sys
from prometheus_client.parser import text_string_to_metric_families as parse
for f in parse(sys.stdin.read()):
    for s in f.samples: print(s.name, ",".join(v for _, v in sorted(s.labels.items())), int(s.value))'
pol=$(/usr/bin/python3 -c "$parse" <"$base/metrics/migo-policyd.prom" 2>&1)
check_contains "migo-policyd's metrics: each of the four checks' RCPT counted (accept at RCPT)" "$pol" \
  "migo_policyd_decisions_total accept,rcpt 4"
check_contains "  limit refusals by window" "$pol" "migo_policyd_limit_refusals_total hourly 0"
mil=$(/usr/bin/python3 -c "$parse" <"$base/metrics/migo-milter.prom" 2>&1)
check_contains "migo-milter's metrics: outcomes (none: only negotiated with)" "$mil" "migo_milter_messages_total accept 0"
all=$(m metrics --include-dir "$base/metrics")
check_contains "migoctl metrics --include-dir merges them" "$all" "migo_milter_signed_messages_total 0"
check "  and the whole still parses" /usr/bin/python3 -c "$parse" <<<"$all"
touch -d '10 minutes ago' "$base/metrics/migo-milter.prom"
check_lacks "  a stale file (a stopped daemon's) is left out" "$(m metrics --include-dir "$base/metrics")" "migo_milter_"
report
