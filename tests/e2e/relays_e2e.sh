#!/usr/bin/env bash
# relays_e2e.sh — several relays, one workspace (issue 16): three private
# Postfix instances on loopback, each with its own store, migo-policyd,
# migo-statd and migo-syncd; one Redis for the shared state and a Redis
# Cluster of three masters for the limit counters.
#   relays_e2e.sh MIGOCTL MIGO_POLICYD LIBMIGO_SO MIGO_STATD MIGO_SYNCD
# Checks: accounts made on one relay authenticate on the others; 64
# concurrent senders over the three relays attempt 5,000 recipients against
# an hourly limit of 1,000 and exactly 1,000 are accepted, counted once in
# the cluster and summed across relays, and the sinks receive exactly those;
# an account disabled on A is refused on C (the time it took is printed, not
# judged: benchmarks measure it); the counters' Redis stopped: every relay
# answers 4xx and accepts nothing; back: service resumes; the state's Redis
# stopped: mail flows, admin changes refuse and change nothing; a relay
# stopped during changes catches up; a relay added later gets everything.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/postfix/assert.sh"
source "$here/postfix/harness.sh"

MIGOCTL=$1
POLICYD=$2
PLUGIN=$3
STATD=$4
SYNCD=$5
migo_e2e_begin relays "$PLUGIN" "$MIGOCTL"

# ---------------------------------------------------------------- Redis
# (redis_start and redis_stop: the harness's.)
trap 'for p in $state_port ${cluster_ports[*]:-}; do redis_stop "$p"; done; pf_cleanup' EXIT

state_port=$(pf_free_port)
redis_start "$base/state" "$state_port" || exit 1
state_url=redis://127.0.0.1:$state_port
cluster_ports=()
counters_conf=""
for i in 0 1 2; do
  p=$(pf_free_port)
  cluster_ports+=("$p")
  redis_start "$base/node$i" "$p" --cluster-enabled yes --cluster-config-file "$base/node$i/nodes.conf" \
    --cluster-port "$(pf_free_port)" || exit 1
  counters_conf+="counters = redis://127.0.0.1:$p"$'\n'
done
redis-cli --cluster create "${cluster_ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$base/cluster.log" 2>&1
cluster_ok() {
  local p
  for p in "${cluster_ports[@]}"; do
    redis-cli -p "$p" CLUSTER INFO 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}
check "a Redis Cluster of three masters is up" pf_eventually cluster_ok

# -------------------------------------------------------------- the relays
# Per relay: its store, Postfix instance, daemons and logs, by name.
declare -A R_STORE R_PORT R_DIR R_ETC R_POLICY R_SYNCD_PID R_STATD_PID R_POLICYD_PID
# The seal key DKIM private keys travel with (the role makes one for all).
head -c 32 /dev/urandom >"$base/seal.key"
chmod 600 "$base/seal.key"
mc() {  # mc RELAY ARGS...: migoctl on that relay's store, through the shared state
  local r=$1; shift
  "$MIGOCTL" --db "${R_STORE[$r]}" --redis "$state_url" --relay "$r" --dkim-keys "$base/dkim-$r" \
    --seal-key "$base/seal.key" "$@"
}
start_syncd() {
  mkdir -p -m 0700 "$base/dkim-$1" && chown nobody "$base/dkim-$1"
  "$SYNCD" --db "${R_STORE[$1]}" --redis "$state_url" --relay "$1" --user nobody --foreground \
    --dkim-keys "$base/dkim-$1" --seal-key "$base/seal.key" --tag-key "$base/seal.key" 2>>"$base/syncd-$1.log" &
  R_SYNCD_PID[$1]=$!
  MIGO_PIDS+=("$!")
}
stop_daemon() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

new_store() {  # new_store RELAY: an empty store (A's is migo_e2e_begin's)
  local r=$1
  if [ "$r" = a ]; then R_STORE[a]=$store; return; fi
  R_STORE[$r]=$base/store-$r
  "$MIGOCTL" --db "${R_STORE[$r]}" init >/dev/null
}

relay_up() {  # relay_up RELAY: Postfix, migo-policyd on the cluster, migo-statd
  local r=$1 conf
  pf_new "relay-$r" n
  R_PORT[$r]=$PF_PORT
  R_DIR[$r]=$PF_DIR
  R_ETC[$r]=$PF_ETC
  chown -R nobody "${R_STORE[$r]}"
  pf_sasl_conf "pwcheck_method: auxprop" "auxprop_plugin: migo" "canon_user_plugin: migo" \
    "mech_list: PLAIN LOGIN SCRAM-SHA-256" "migo_db: ${R_STORE[$r]}"
  conf=$base/policyd-$r.conf
  printf '%srelay_name = %s\ncounters_timeout = 500\n' "$counters_conf" "$r" >"$conf"
  chmod 644 "$conf"
  R_POLICY[$r]=$(pf_free_port)
  "$POLICYD" --db "${R_STORE[$r]}" --listen "inet:127.0.0.1:${R_POLICY[$r]}" --config "$conf" --user nobody \
    --foreground 2>"$base/policyd-$r.log" &
  R_POLICYD_PID[$r]=$!
  MIGO_PIDS+=("$!")
  policy_port=${R_POLICY[$r]}
  migo_wire_modules
  pf_conf "default_process_limit = 200"
  pf_start || return 1
  touch "$PF_DIR/maillog"; chmod 644 "$PF_DIR/maillog"
  "$STATD" --db "${R_STORE[$r]}" --log "$PF_DIR/maillog" --user nobody --interval 1 --foreground \
    2>"$base/statd-$r.log" &
  R_STATD_PID[$r]=$!
  MIGO_PIDS+=("$!")
}

auth() {  # auth RELAY USER PASS: AUTH PLAIN's reply code on that relay's submission port
  swaks --server 127.0.0.1 --port "${R_PORT[$1]}" --ehlo client.test --timeout 20 --tls --quit-after AUTH \
    --auth PLAIN --auth-user "$2" --auth-password "$3" 2>&1 | sed -n 's/^<[~*]* *\(235\|535\|454\)[ -].*/\1/p' | tail -1
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }
rows_of() {  # the shared rows of a relay's store, as accounts and workspaces say them
  "$MIGOCTL" --db "${R_STORE[$1]}" --json account list | python3 -c '
import json, sys
for a in json.load(sys.stdin)["accounts"]:
    print(a["workspace"], a["username"], a["label"], a["status"])' | sort
}

# A's store makes the shared state: a plan with an hourly limit of 1,000.
for r in a b c; do new_store "$r"; done
"$MIGOCTL" --db "${R_STORE[a]}" plan set shared-1k --max-accounts 10 --monthly 100000 --daily 100000 --hourly 1000 >/dev/null
"$MIGOCTL" --db "${R_STORE[a]}" workspace create acme --plan shared-1k >/dev/null
out=$(mc a shared init 2>&1)
check_contains "shared init makes the shared state from relay A's store" "$out" "made from this store"
for r in a b c; do start_syncd "$r"; done
# Accounts made on B, through the shared state.
users=() passes=()
for n in 1 2 3 4; do
  out=$(mc b --json account create acme --name "App $n") || { echo "account create failed: $out"; exit 1; }
  users+=("$(json '["username"]' <<<"$out")")
  passes+=("$(json '["password"]' <<<"$out")")
done
in_step() { [ "$(rows_of a)" = "$(rows_of "$1")" ] && [ -n "$(rows_of "$1")" ]; }
check "relay C's store has B's accounts" pf_eventually in_step c
check "relay A's store has B's accounts" pf_eventually in_step a
out=$("$MIGOCTL" --db "${R_STORE[c]}" account create acme --name sneaky 2>&1)
check_contains "a change without --redis on a relay of several is refused" "$out" "follows the shared state"

# A sending domain added on A: its DKIM private key reaches B and C sealed,
# and their migo-syncd writes the milter's key file (same bytes as A's).
out=$(mc a --json domain add acme example.com)
selector=$(json '["dkim"][0]["selector"]' <<<"$out" 2>/dev/null)
check "domain add on A made a DKIM key ($selector)" test -n "$selector"
key_on() { cmp -s "$base/dkim-a/example.com/$selector.pem" "$base/dkim-$1/example.com/$selector.pem"; }
check "relay B has the DKIM key file, the same bytes" pf_eventually key_on b
check "relay C has the DKIM key file, the same bytes" pf_eventually key_on c
check "  readable by the key directory's group, no one else" \
  test "$(stat -c %a "$base/dkim-c/example.com/$selector.pem")" = 640
check_lacks "Redis holds the key sealed, never as PEM" \
  "$(redis-cli -p "$state_port" HGETALL 'migo:{state}:dkim' | tr -d '\0')" "PRIVATE KEY"
out=$("$MIGOCTL" --db "${R_STORE[a]}" --redis "$state_url" --relay a --dkim-keys "$base/dkim-a" \
  --seal-key "$base/none" domain add acme other.example 2>&1)
check_contains "without the seal key, domain add on a relay of several refuses and says why" "$out" "seal key"

for r in a b c; do relay_up "$r" || { check "relay $r starts" false; report; exit 1; }; done
for r in a b c; do
  check "AUTH with an account made on B works on relay $r" test "$(auth "$r" "${users[0]}" "${passes[0]}")" = 235
done

# ------------------------------------------- 64 senders, 5,000 recipients
ports="${R_PORT[a]},${R_PORT[b]},${R_PORT[c]}"
creds=$(for i in 0 1 2 3; do printf '%s:%s,' "${users[$i]}" "${passes[$i]}"; done)
load=$(python3 - "$ports" "$creds" <<'PY' 2>&1
import smtplib, ssl, sys, threading
ports = [int(p) for p in sys.argv[1].split(",")]
creds = [c.split(":") for c in sys.argv[2].strip(",").split(",")]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
TOTAL, SENDERS = 5000, 64
lock = threading.Lock()
tally = {"accepted": 0, "attempted": 0, "errors": 0, "eom_deferred": 0}
def sender(i):
    share = TOTAL // SENDERS + (1 if i < TOTAL % SENDERS else 0)
    user, pw = creds[i % len(creds)]
    accepted = attempted = eom = 0
    try:
        s = smtplib.SMTP("127.0.0.1", ports[i % len(ports)], timeout=60)
        s.ehlo("client.test"); s.starttls(context=ctx); s.ehlo("client.test"); s.login(user, pw)
        m = 0
        while attempted < share:
            n = min(1 + (i + m) % 5, share - attempted)
            s.mail("app@example.com")
            ok = 0
            for r in range(n):
                code, _ = s.rcpt("r%d-%d-%d@dest.test" % (i, m, r))
                ok += code == 250
            attempted += n
            if ok:
                code, _ = s.data(b"Subject: relays e2e\r\n\r\nhello\r\n")
                if code == 250: accepted += ok
                else: eom += 1
            else:
                s.rset()
            m += 1
        s.quit()
    except Exception as e:
        with lock: tally["errors"] += 1
        print("sender", i, "error", e)
    with lock:
        tally["accepted"] += accepted; tally["attempted"] += attempted; tally["eom_deferred"] += eom
threads = [threading.Thread(target=sender, args=(i,)) for i in range(SENDERS)]
for t in threads: t.start()
for t in threads: t.join()
print("attempted", tally["attempted"], "accepted", tally["accepted"], "errors", tally["errors"],
      "refused-after-data", tally["eom_deferred"])
PY
)
echo "$load"
check_contains "64 senders attempted 5,000 recipients without a broken session" "$load" "attempted 5000 accepted"
check_contains "exactly 1,000 accepted across the three relays" "$load" "accepted 1000 errors 0"
# The workspace's windows live on one master (its hash tag's slot).
month=$(date -u +%Y%m)
counted=""
for p in "${cluster_ports[@]}"; do
  key=$(redis-cli -p "$p" --scan --pattern 'migo:{w*}:win' 2>/dev/null | head -1)
  [ -n "$key" ] && counted=$(redis-cli -p "$p" HGET "$key" "M$month")
done
check "the cluster counted exactly 1,000 for the workspace (got '$counted')" test "$counted" = 1000
sink_rcpts() {
  local r total=0 n
  for r in a b c; do
    n=$(cat "${R_DIR[$r]}"/sink/* 2>/dev/null | grep -c '^X-Rcpt-Args:')
    total=$((total + n))
  done
  echo "$total"
}
check "the three sinks received exactly 1,000 recipients" pf_eventually test "$(sink_rcpts)" = 1000
[ "$(sink_rcpts)" = 1000 ] || echo "sinks: $(sink_rcpts)"
summed() {  # summed FIELD: the field summed over the workspace's accounts, across relays, as relay A shows it
  mc a --json account list acme | python3 -c '
import json, sys
print(sum(a["statistics"][sys.argv[1]] for a in json.load(sys.stdin)["accounts"]))' "$1"
}
sent_is() { [ "$(summed total_sent)" = 1000 ]; }
delivered_is() { [ "$(summed delivered)" = 1000 ]; }
check "total sent, summed across relays, is 1,000" pf_eventually sent_is
check "delivered, summed across relays, equals what the sinks received" pf_eventually delivered_is
echo "summed: sent $(summed total_sent), delivered $(summed delivered); sinks $(sink_rcpts)"
local_sent() { "$MIGOCTL" --db "${R_STORE[$1]}" --json account list acme | python3 -c '
import json, sys
print(sum(a["statistics"]["total_sent"] for a in json.load(sys.stdin)["accounts"]))'; }
shares="$(local_sent a)+$(local_sent b)+$(local_sent c)"
check "each relay counted its own share, the shares add up ($shares)" test "$((shares))" = 1000

# ------------------------------------------- a DSN that reaches the wrong relay
# A message relay A delivered; its receiver's DSN reaches relay B (the tag
# made here by an independent HMAC, with the key every relay's syncd has).
read -r qid rcpt < <(sed -n 's/.*postfix\/smtp\[[0-9]*\]: \([0-9A-Za-z]*\): to=<\([^>]*\)>.*status=sent.*/\1 \2/p' \
  "${R_DIR[a]}/maillog" | head -1)
owner=$(sed -n "s/.* $qid: client=.*sasl_username=\([a-z0-9_]*\).*/\1/p" "${R_DIR[a]}/maillog" | head -1)
owner_id=$("$MIGOCTL" --db "${R_STORE[a]}" --json account show "$owner" | json '["id"]')
bounced_on_a() { "$MIGOCTL" --db "${R_STORE[a]}" --json account show "$owner" | json '["statistics"]["bounced"]'; }
before_bounced=$(bounced_on_a)
dsn=$(python3 - "$base/seal.key" "$owner_id" "$qid" "$rcpt" <<'PY'
import base64, hashlib, hmac, sys, time
key = open(sys.argv[1], "rb").read()
acct, qid, rcpt, t = sys.argv[2], sys.argv[3], sys.argv[4], int(time.time())
part = "v=1;a=%s;q=%s;t=%d" % (acct, qid, t)
mac = base64.urlsafe_b64encode(hmac.new(key, part.encode(), hashlib.sha256).digest()).decode().rstrip("=")
print("From: MAILER-DAEMON@receiver.test\nMIME-Version: 1.0\n"
      "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
      "--b\nContent-Type: text/plain\n\nmailbox gone\n"
      "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; receiver.test\n\n"
      "Final-Recipient: rfc822; %s\nAction: failed\nStatus: 5.1.1\n\n"
      "--b\nContent-Type: text/rfc822-headers\n\nX-Migo-Tag: v=1; a=%s; q=%s; t=%d; s=%s\n"
      "From: app@example.com\n\n--b--" % (rcpt, acct, qid, t, mac))
PY
)
out=$(mc b --json ingest-dsn --key "$base/seal.key" <<<"$dsn")
check_contains "relay B cannot count a DSN about A's delivery, and forwards it" "$out" '"forwarded": true'
bounced_moved() { [ "$(bounced_on_a)" = $((before_bounced + 1)) ]; }
check "relay A's migo-syncd counts the forwarded bounce, once" pf_eventually bounced_moved
out=$(mc b --json ingest-dsn --key "$base/seal.key" <<<"$dsn")
duplicate_on_a() {
  [ "$("$MIGOCTL" --db "${R_STORE[a]}" --json stats | json '["counters"].get("reports.dsn.duplicate", 0)')" -ge 1 ]
}
check "the same DSN forwarded again is a duplicate on A" pf_eventually duplicate_on_a
check "  and counts nothing more" test "$(bounced_on_a)" = $((before_bounced + 1))

# ------------------------------------------------- disabled on A, refused on C
t0=$(date +%s%N)
mc a account disable "${users[1]}" >/dev/null
refused_on_c() { [ "$(auth c "${users[1]}" "${passes[1]}")" = 535 ]; }
check "an account disabled on relay A is refused at AUTH on relay C" pf_eventually refused_on_c
echo "measured: the disable reached relay C's AUTH within $(( ($(date +%s%N) - t0) / 1000000 )) ms (not judged here)"
check "the other accounts still authenticate on C" test "$(auth c "${users[0]}" "${passes[0]}")" = 235

# ------------------------------------------------------ the counters' Redis
for p in "${cluster_ports[@]}"; do redis_stop "$p"; done
down=""
for r in a b c; do
  down+=$(swaks --server 127.0.0.1 --port "${R_PORT[$r]}" --ehlo client.test --timeout 20 --tls \
    --auth PLAIN --auth-user "${users[2]}" --auth-password "${passes[2]}" --from app@example.com \
    --to "down-$r@dest.test" 2>&1 | grep -E '^<[~*]* *[2-5][0-9][0-9] ' | tail -2)$'\n'
done
check_contains "counters' Redis down: relays answer 451 4.3.0" "$down" "451 4.3.0"
check_lacks "counters' Redis down: nothing is queued" "$down" "Ok: queued"
check "counters' Redis down: all three relays refused" test "$(grep -c '451 4.3.0' <<<"$down")" -ge 3
for i in 0 1 2; do
  redis_start "$base/node$i" "${cluster_ports[$i]}" --cluster-enabled yes --cluster-config-file "$base/node$i/nodes.conf" \
    --cluster-port "$(pf_free_port)" || exit 1
done
check "the cluster is whole again" pf_eventually cluster_ok
sends_again() {  # (output read whole: grep -q under pipefail would make a sent message look failed)
  local out
  out=$(swaks --server 127.0.0.1 --port "${R_PORT[b]}" --ehlo client.test --timeout 20 --tls \
    --auth PLAIN --auth-user "${users[2]}" --auth-password "${passes[2]}" --from app@example.com \
    --to back@dest.test 2>&1)
  grep -q 'Ok: queued' <<<"$out"
}
check "counters' Redis back: service resumes" pf_eventually sends_again

# -------------------------------------------------------- the state's Redis
redis_stop "$state_port"
out=$(swaks --server 127.0.0.1 --port "${R_PORT[c]}" --ehlo client.test --timeout 20 --tls \
  --auth PLAIN --auth-user "${users[3]}" --auth-password "${passes[3]}" --from app@example.com --to s@dest.test 2>&1)
check_contains "state's Redis down: mail still flows (each relay's store answers)" "$out" "Ok: queued"
before=$(rows_of a)
out=$(mc a account create acme --name "while down" 2>&1)
rc=$?
check "state's Redis down: an admin change fails with a temporary error (75)" test "$rc" = 75
check "state's Redis down: the change happened nowhere" test "$(rows_of a)" = "$before"
redis_start "$base/state" "$state_port" || exit 1
# An unpersisted Redis comes back empty. The relays keep what they have
# (mail flows) and say so; one relay puts the state back as it holds it.
out=$(mc a --json shared status)
check_contains "an emptied Redis is seen as such" "$out" "Redis holds no shared state"
out=$(mc a shared restore 2>&1)
check_contains "shared restore puts the state back from relay A, same origin and number" "$out" "restored"
out=$(mc c account create acme --name "after restore" --json) || true
after_user=$(json '["username"]' <<<"$out" 2>/dev/null)
check "after the restore, a change made on C is accepted" test -n "$after_user"
has_after() { rows_of "$1" | grep -q "$after_user"; }
check "... and reaches relay A" pf_eventually has_after a
check "... and relay B" pf_eventually has_after b

# ------------------------------------------- a relay stopped during changes
stop_daemon "${R_SYNCD_PID[c]}"
mc a account enable "${users[1]}" >/dev/null
out=$(mc b --json account reset-password "${users[2]}")
new_pass=$(json '["password"]' <<<"$out")
out=$(mc a --json account create acme --name "while C was away")
away_user=$(json '["username"]' <<<"$out")
away_pass=$(json '["password"]' <<<"$out")
check "while its syncd is away, relay C still refuses the account disabled before" \
  test "$(auth c "${users[1]}" "${passes[1]}")" = 535
start_syncd c
check "relay C caught up: the re-enabled account authenticates" pf_eventually test "$(auth c "${users[1]}" "${passes[1]}")" = 235
caught_up() { [ "$(auth c "$away_user" "$away_pass")" = 235 ]; }
check "relay C caught up: the account made while it was away authenticates" pf_eventually caught_up
check "relay C caught up: the new password works" test "$(auth c "${users[2]}" "$new_pass")" = 235
check "relay C caught up: the old password does not" test "$(auth c "${users[2]}" "${passes[2]}")" = 535

# ------------------------------------------------------ a relay added later
new_store d
start_syncd d
check "relay D, added later, gets every account" pf_eventually in_step d
relay_up d || check "relay D starts" false
check "an account made before D existed authenticates on D" test "$(auth d "$away_user" "$away_pass")" = 235
out=$(mc d --json shared status)
check_contains "relay D is in step" "$out" '"state": "in step"'
check "four relays report to the shared state" pf_eventually test "$(mc a --json shared status | json '["relays"]' | grep -o "'relay'" | wc -l)" -ge 4

for r in a b c d; do stop_daemon "${R_SYNCD_PID[$r]}"; done
check_lacks "no syncd failed to apply anything" "$(cat "$base"/syncd-*.log)" "corrupt"
report
