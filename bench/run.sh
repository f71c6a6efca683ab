#!/usr/bin/env bash
# run.sh — the benchmarks, each against its baseline in the same run.
#   bench/run.sh [auth] [policy] [milter] [relay] [growth] [tracking] [counters] [relays] [--seconds S]
# auth:   sasl_checkpass through libsasl2 with libmigo.so (LMDB store,
#         salted-MD5 verifier) against libsasl's own sasldb plugin (Berkeley
#         DB file, plaintext userPassword), same process setup, same machine.
# policy: bench/policy_bench (50 persistent connections; per message two
#         RCPT and one END-OF-MESSAGE, 50 accounts in 10 workspaces) against
#         an always-DUNNO epoll server (the ceiling), migo-policyd (durable
#         commits), postfwd and policyd-rate-limit (Debian packages, each
#         limiting per sasl_username, limits set never to trigger). Installs
#         postfwd and policyd-rate-limit if missing (benchmark only).
# milter: messages/s end to end through a private Postfix (SASL AUTH via
#         libmigo.so, 8 persistent sessions, small messages, smtp-sink as
#         next hop) without and then with migo-milter, and then with
#         migo-milter and migo-policyd together; then DKIM: migo-milter
#         signing against migo-milter --no-dkim plus Debian's OpenDKIM as a
#         second milter signing with the same key (installed if missing,
#         benchmark only), with the milters' CPU per message; plus the
#         daemons' peak RSS.
# relay:  the whole relay as applications use it: a fresh session per
#         message (STARTTLS, AUTH PLAIN, one 400-byte message, QUIT), 16
#         concurrent clients, through Postfix with every module (SASL plugin,
#         migo-policyd at RCPT and END-OF-MESSAGE, migo-milter, migo-statd
#         following the log) against the same Postfix with libsasl's sasldb
#         and no policy service or milter; three rounds (MIGO_BENCH_ROUNDS),
#         interleaved, each with its ratio; plus the daemons' peak RSS.
#         MIGO_BENCH_PERF=PREFIX records the machine with perf during each;
#         MIGO_BENCH_PARTS=1 adds runs without the milter, without the
#         policy service, and with bench/null_milter (a libmilter filter
#         that asks for what migo-milter asks for and does nothing) in the
#         milter's place: the price of libmilter itself; and with
#         bench/epoll_milter (the same, speaking the protocol from one
#         epoll thread, no libmilter): the price of Postfix's side.
# tracking: a ~30 KB HTML newsletter (40 links, quoted-printable) through
#         Postfix with migo-milter signing, against the same with migo-milter
#         tracking and signing, with the milter's CPU per message; then
#         migo-trackd (opens committed in groups, after the answer) against nginx serving a
#         static GIF, requests/s and p99 with wrk (installed if missing).
# growth: bench/store_growth — the store's size under MIGO_BENCH_DAYS (default
#         365) simulated days at MIGO_BENCH_PER_DAY messages a day (default
#         1,000,000) with migo-statd's 30-day retention, against the same
#         traffic without retention (the baseline, first 45 days). The full
#         year takes about two hours here; it is not in the default set.
# counters: the counting step of an END-OF-MESSAGE decision (the limit
#         check and the count of every window) on the LMDB store, one durable
#         transaction per message and 32 per transaction (migo-policyd's group
#         commit), against Redis (cluster/, one Lua script) over TCP on
#         loopback, one client and eight; Redis's CPU per decision.
# relays: several relays sharing one Redis. (1) migo-policyd over its socket
#         (policy_bench, as for policy, with 8 and with 50 connections) counting in its store (LMDB,
#         durable) against the same daemon counting in Redis (counters =
#         redis://, append-only file fsynced every second), same run, with
#         Redis's CPU per decision. (2) messages/s through one, two and three
#         private Postfix relays (SASL plugin, migo-policyd on the shared
#         Redis, smtp-sink next hop), the clients spread over them, each run
#         ending with the exact-count check: Redis's count equals the
#         recipients the clients were told were accepted. (3) a failover: a
#         master and its replica (asynchronous replication), 8 clients
#         counting as fast as they can, the master killed (-9), the replica
#         promoted: acknowledged increments it never received, worst of
#         MIGO_BENCH_FAILOVERS (default 5) runs.
# Builds what it needs in build/bench with the flags scripts/up.sh ships
# (RelWithDebInfo, -O2): the benchmark measures what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=5
which=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    auth|policy|milter|relay|growth|tracking|counters|relays) which+=("$1"); shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#which[@]} -gt 0 ] || which=(auth policy milter relay)

bash scripts/install-deps.sh >/dev/null
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/bench >"$(dirname "$0")/../build/bench-build.log" 2>&1 ||
  { echo "run.sh: build failed:" >&2; tail -30 build/bench-build.log >&2; exit 1; }
B=build/bench
work=$(mktemp -d /tmp/migo-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

bench_auth() {
  echo "== auth: sasl_checkpass through libsasl2 $(dpkg-query -W -f='${Version}' libsasl2-2), ${seconds}s each, $(nproc) cores"
  # migo: a store with 1,000 accounts (the measured one among them).
  "$B/migoctl/migoctl" --db "$work/store" init >/dev/null
  "$B/migoctl/migoctl" --db "$work/store" plan set huge --max-accounts 1000 --monthly 1000000 \
    --daily 100000 --hourly 10000 >/dev/null
  "$B/migoctl/migoctl" --db "$work/store" workspace create bench --plan huge >/dev/null
  seq 1 999 | xargs -P 4 -I{} "$B/migoctl/migoctl" --db "$work/store" account create bench --name "filler {}" >/dev/null
  read -r user pw < <("$B/migoctl/migoctl" --db "$work/store" --json account create bench --name measured |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["username"], d["password"])')
  # sasldb: the same 1,000 users in a sasldb2 file.
  for i in $(seq 1 999); do echo "pw$i" | saslpasswd2 -p -c -f "$work/sasldb2" -u mx.test "filler$i"; done
  echo "$pw" | saslpasswd2 -p -c -f "$work/sasldb2" -u mx.test "$user"
  "$B/bench/auth_bench" --label sasldb --seconds "$seconds" --plugin-dir "$B/sasl-plugin" \
    --option pwcheck_method=auxprop --option auxprop_plugin=sasldb --option "sasldb_path=$work/sasldb2" \
    --user "$user" --password "$pw"
  "$B/bench/auth_bench" --label migo --seconds "$seconds" --plugin-dir "$B/sasl-plugin" \
    --option pwcheck_method=auxprop --option auxprop_plugin=migo --option "migo_db=$work/store" \
    --user "$user" --password "$pw"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bench_policy() {
  for p in postfwd policyd-rate-limit; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
  done
  echo "== policy: $seconds s each, 50 connections, $(nproc) cores; RCPT,RCPT,END-OF-MESSAGE per message"
  chmod 755 "$work"
  local m="$B/migoctl/migoctl --db $work/pstore" users="" port pid
  $m init >/dev/null
  $m plan set huge --max-accounts 10 --monthly 4000000000 --daily 4000000000 --hourly 4000000000 >/dev/null
  for w in $(seq 1 10); do
    $m workspace create "ws$w" --plan huge >/dev/null
    for a in 1 2 3 4 5; do
      users="$users,$($m --json account create "ws$w" --name "a$a" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["username"])')"
    done
  done
  users=${users#,}
  chown -R nobody "$work/pstore"
  run_one() {  # run_one LABEL PORT
    "$B/bench/policy_bench" --target "inet:127.0.0.1:$2" --connections 50 --seconds "$seconds" \
      --users "$users" --label "$1" || echo "($1: errors above)"
  }
  port=$(free_port); "$B/bench/dunno_server" "$port" & pid=$!; sleep 0.3
  run_one "always-DUNNO ceiling" "$port"; kill $pid; wait $pid 2>/dev/null || true
  port=$(free_port)
  "$B/policy-daemon/migo-policyd" --db "$work/pstore" --listen "inet:127.0.0.1:$port" --user nobody & pid=$!
  sleep 0.5; run_one "migo-policyd" "$port"; kill $pid; wait $pid 2>/dev/null || true
  port=$(free_port)
  echo 'id=RATE; sasl_username=~.; action=rate(sasl_username/4000000000/3600/450 4.7.1 limit reached)' >"$work/postfwd.cf"
  postfwd -f "$work/postfwd.cf" -i 127.0.0.1 -p "$port" -u nobody -g nogroup --cache=0 \
    --pidfile "$work/postfwd.pid" >/dev/null 2>&1
  sleep 1; run_one "postfwd $(dpkg-query -W -f='${Version}' postfwd)" "$port"
  pkill -f "postfwd -f $work/postfwd.cf" || true  # the parent; its children follow
  pkill -f postfwd2 || true
  port=$(free_port)
  mkdir -p "$work/prl"; chown policyd-rate-limit "$work/prl"
  cat >"$work/prl.yaml" <<YAML
debug: False
user: "policyd-rate-limit"
group: "policyd-rate-limit"
pidfile: "$work/prl/pid"
sqlite_config:
    database: "$work/prl/db.sqlite3"
backend: 0
SOCKET: ["127.0.0.1", $port]
limits:
    - [4000000000, 3600]
limits_by_id: {}
limit_by_sasl: True
limit_by_sender: False
limit_by_ip: False
limited_networks: []
success_action: "dunno"
fail_action: "defer_if_permit Rate limit reached"
db_error_action: "dunno"
report: False
delay_to_close: 300
YAML
  policyd-rate-limit --file "$work/prl.yaml" >/dev/null 2>&1 & pid=$!
  sleep 2; run_one "policyd-rate-limit $(dpkg-query -W -f='${Version}' policyd-rate-limit | cut -d+ -f1)" "$port"
  kill $pid 2>/dev/null; pkill -f "policyd-rate-limit --file $work" || true
}

# The store the milter benchmarks share (once): a workspace without limits,
# example.com verified with a DKIM key, 8 accounts ($creds), the tag key;
# $m runs migoctl on it.
milter_store() {
  [ -z "${creds:-}" ] || return 0
  source tests/postfix/harness.sh
  mkdir -p -m 0700 "$work/dkim"
  m="$B/migoctl/migoctl --db $work/mstore --dkim-keys $work/dkim"
  creds=""
  chmod 755 "$work"
  $m init >/dev/null
  $m plan set huge --max-accounts 10 --monthly 4000000000 --daily 4000000000 --hourly 4000000000 >/dev/null
  $m workspace create ws --plan huge >/dev/null
  $m domain add ws example.com >/dev/null && $m domain verify --manual ws example.com >/dev/null
  for i in 1 2 3 4 5 6 7 8; do
    creds="$creds $($m --json account create ws --name "s$i" |
      python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["username"] + ":" + d["password"])')"
  done
  head -c 32 /dev/urandom >"$work/key"
  chown -R nobody "$work/mstore" "$work/key" "$work/dkim"
  install -m 0644 "$B/sasl-plugin/libmigo.so" /usr/lib/x86_64-linux-gnu/sasl2/libmigo.so
}

# run_relay LABEL [main.cf settings...]: messages/s through a fresh private
# Postfix with the SASL plugin, 8 persistent sessions; $load_args go to
# smtp_load.py. Sets n (accepted).
run_relay() {
  local label=$1; shift
  pf_new bench n
  pf_sasl_conf "pwcheck_method: auxprop" "auxprop_plugin: migo" "mech_list: PLAIN LOGIN" "migo_db: $work/mstore"
  pf_conf "smtpd_tls_auth_only = no" "smtpd_client_connection_rate_limit = 0" "default_process_limit = 100" "$@"
  pf_start >/dev/null || { echo "$label: postfix did not start"; return; }
  # shellcheck disable=SC2086
  read -r rate n bad < <(python3 bench/smtp_load.py ${load_args:-} "$PF_PORT" "$seconds" $creds)
  printf '%-40s %6s messages/s  (%s accepted, %s refused)\n' "$label" "$rate" "$n" "$bad"
  pf_stop
}

bench_milter() {
  echo "== milter: $seconds s each, 8 authenticated sessions (AUTH PLAIN, no TLS), 400-byte messages, $(nproc) cores"
  milter_store
  local mport pport mpid ppid
  mport=$(free_port); pport=$(free_port)
  mkdir -p "$work/msock"; chown nobody "$work/msock"
  local keys=(--key "$work/key" --dkim-keys "$work/dkim")
  "$B/milter/migo-milter" --db "$work/mstore" "${keys[@]}" --socket "unix:$work/msock/milter" --user nobody &
  mpid=$!
  "$B/milter/migo-milter" --db "$work/mstore" "${keys[@]}" --socket "inet:$mport@127.0.0.1" --user nobody &
  local mpid_inet=$!
  # The DKIM comparison: migo-milter without signing plus Debian's OpenDKIM
  # signing with the same key, as a second milter.
  "$B/milter/migo-milter" --db "$work/mstore" "${keys[@]}" --no-dkim --socket "unix:$work/msock/nodkim" \
    --user nobody &
  local mpid_nodkim=$!
  dpkg-query -W -f='${Status}' opendkim 2>/dev/null | grep -q 'ok installed' ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq opendkim >/dev/null
  local sel keyfile
  keyfile=$(ls "$work"/dkim/example.com/*.pem); sel=$(basename "$keyfile" .pem)
  mkdir -p "$work/osock"; chown nobody "$work/osock"
  cat >"$work/opendkim.conf" <<CONF
Syslog no
Mode s
Domain example.com
Selector $sel
KeyFile $keyfile
Socket local:$work/osock/opendkim
UserID nobody
UMask 000
RequireSafeKeys no
PidFile $work/osock/opendkim.pid
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
SignHeaders From,Reply-To,Subject,Date,To,Cc,Message-ID,In-Reply-To,References,MIME-Version,Content-Type,Content-Transfer-Encoding,List-Unsubscribe,List-Unsubscribe-Post
OversignHeaders From,Reply-To,Subject,Date,To,Cc,Message-ID,MIME-Version,Content-Type
CONF
  opendkim -f -x "$work/opendkim.conf" &
  local opid=$!
  "$B/policy-daemon/migo-policyd" --db "$work/mstore" --listen "inet:127.0.0.1:$pport" --user nobody &
  ppid=$!
  sleep 0.5
  # The unix socket is 0660 for its owner's group (postfix, in production);
  # here smtpd's user must reach nobody's socket.
  chmod 0666 "$work/msock/milter" "$work/msock/nodkim"
  local unix_milter="smtpd_milters = unix:$work/msock/milter" tempfail="milter_default_action = tempfail"
  local policy="check_policy_service { inet:127.0.0.1:$pport, default_action=DEFER }"
  run_relay "Postfix + SASL plugin (baseline)"
  run_relay "  + migo-milter (unix socket)" "$unix_milter" "$tempfail"
  run_relay "  + migo-milter (inet socket)" "smtpd_milters = inet:127.0.0.1:$mport" "$tempfail"
  run_relay "  + migo-milter (unix) + migo-policyd" "$unix_milter" "$tempfail" \
    "smtpd_recipient_restrictions = $policy" "smtpd_end_of_data_restrictions = $policy"
  # DKIM: both sign with the same key; CPU per accepted message from
  # /proc, milter processes only (Postfix's own work is the same in both).
  local before after n_sign n_two
  before=$(cpu_ms $mpid)
  run_relay "  + migo-milter signing DKIM (unix)" "$unix_milter" "$tempfail"
  n_sign=$n; after=$(cpu_ms $mpid)
  local cpu_sign=$(( after - before ))
  before=$(( $(cpu_ms $mpid_nodkim) + $(cpu_ms $opid) ))
  run_relay "  + migo-milter --no-dkim + OpenDKIM signing" \
    "smtpd_milters = unix:$work/msock/nodkim, unix:$work/osock/opendkim" "$tempfail"
  n_two=$n
  after=$(( $(cpu_ms $mpid_nodkim) + $(cpu_ms $opid) ))
  local cpu_two=$(( after - before ))
  python3 -c 'import sys; s,ns,t,nt=map(float,sys.argv[1:]); print("milter CPU per signed message: migo-milter %.0f us; migo-milter --no-dkim + OpenDKIM %.0f us" % (s*1000/max(ns,1), t*1000/max(nt,1)))' \
    "$cpu_sign" "$n_sign" "$cpu_two" "$n_two"
  printf 'peak RSS: migo-milter %s kB, migo-policyd %s kB\n' \
    "$(awk '/VmHWM/ {print $2}' /proc/$mpid/status)" "$(awk '/VmHWM/ {print $2}' /proc/$ppid/status)"
  kill $mpid $mpid_inet $mpid_nodkim $opid $ppid; wait $mpid $mpid_inet $mpid_nodkim $opid $ppid 2>/dev/null || true
}

bench_tracking() {
  echo "== tracking: $seconds s each, 8 authenticated sessions, a $(python3 bench/newsletter.py | wc -c)-byte HTML newsletter (40 links), $(nproc) cores"
  milter_store
  $m tracking set ws --opens on --clicks html >/dev/null
  python3 bench/newsletter.py >"$work/newsletter.eml"
  local keys=(--key "$work/key" --dkim-keys "$work/dkim") tpid npid
  printf '1 %s\n' "$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')" >"$work/tracking.keys"
  chown nobody "$work/tracking.keys"
  mkdir -p "$work/tsock"; chown nobody "$work/tsock"
  # Both sign; one also tracks (the workspace has tracking on; without
  # --tracking-host the milter tracks nothing).
  "$B/milter/migo-milter" --db "$work/mstore" "${keys[@]}" --socket "unix:$work/tsock/track" --user nobody \
    --tracking-host track.bench.test --tracking-keys "$work/tracking.keys" &
  tpid=$!
  "$B/milter/migo-milter" --db "$work/mstore" "${keys[@]}" --socket "unix:$work/tsock/plain" --user nobody &
  npid=$!
  sleep 0.5
  chmod 0666 "$work/tsock/track" "$work/tsock/plain"
  local before after n_plain n_track cpu_plain cpu_track
  load_args="--body=$work/newsletter.eml"
  before=$(cpu_ms $npid)
  run_relay "newsletter, migo-milter signing" "smtpd_milters = unix:$work/tsock/plain" "milter_default_action = tempfail"
  n_plain=$n; after=$(cpu_ms $npid); cpu_plain=$(( after - before ))
  before=$(cpu_ms $tpid)
  run_relay "newsletter, migo-milter tracking + signing" "smtpd_milters = unix:$work/tsock/track" \
    "milter_default_action = tempfail"
  n_track=$n; after=$(cpu_ms $tpid); cpu_track=$(( after - before ))
  load_args=""
  python3 -c 'import sys; a,na,b,nb=map(float,sys.argv[1:]); print("milter CPU per message: signing %.0f us; tracking + signing %.0f us" % (a*1000/max(na,1), b*1000/max(nb,1)))' \
    "$cpu_plain" "$n_plain" "$cpu_track" "$n_track"
  kill $tpid $npid; wait $tpid $npid 2>/dev/null || true

  # migo-trackd (durable counting, one open token over and over) against
  # nginx serving a static 1x1 GIF, both on loopback over HTTP, wrk with 16
  # connections (installed if missing: benchmark only).
  command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  local tport nport trk ngx token
  tport=$(free_port); nport=$(free_port)
  "$B/trackd/migo-trackd" --db "$work/mstore" --key "$work/tracking.keys" --listen "inet:127.0.0.1:$tport" \
    --user nobody --foreground 2>"$work/trackd.log" &
  trk=$!
  mkdir -p "$work/nginx/www"; chown -R nobody "$work/nginx"
  printf 'GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;' >"$work/nginx/www/o.gif"
  cat >"$work/nginx.conf" <<NGINX
daemon off;
user nobody nogroup;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  server {
    listen 127.0.0.1:$nport;
    location = /o.gif { root $work/nginx/www; add_header Cache-Control no-store; }
  }
}
NGINX
  /usr/sbin/nginx -c "$work/nginx.conf" -e "$work/nginx/error.log" &
  ngx=$!
  sleep 0.5
  token=$(python3 - "$work/tracking.keys" "$($m --json account list ws | python3 -c 'import json,sys; print(json.load(sys.stdin)["accounts"][0]["id"])')" <<'PY'
import base64, hashlib, hmac, sys, time
kid, key = open(sys.argv[1]).read().split()
key = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
body = bytes([1, int(kid), ord("o")]) + bytes.fromhex(sys.argv[2]) + int(time.time()).to_bytes(4, "big") + bytes([8]) + b"BENCHQID"
print(base64.urlsafe_b64encode(body + hmac.new(key, body, hashlib.sha256).digest()[:16]).decode().rstrip("="))
PY
)
  local served=0
  wrk_run() {  # wrk_run LABEL URL; sets served (requests answered 200)
    local out
    out=$(wrk -t 2 -c 16 -d "${seconds}s" --latency "$2")
    served=$(awk '/requests in/ {print $1}' <<<"$out")
    grep -q 'Non-2xx' <<<"$out" && { echo "bench: $1 answered errors:"; echo "$out"; }
    printf '%-40s %8s requests/s  p99 %s\n' "$1" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
      "$(awk '$1 == "99%" {print $2}' <<<"$out")"
  }
  curl -s -o /dev/null -w '' "http://127.0.0.1:$tport/o/$token"
  wrk_run "nginx, static GIF (baseline)" "http://127.0.0.1:$nport/o.gif"
  wrk_run "migo-trackd, open counted (grouped commits)" "http://127.0.0.1:$tport/o/$token"
  # A clean stop commits what was answered: every request answered is counted.
  kill $trk; wait $trk 2>/dev/null || true
  local counted
  counted=$($m --json account list ws | python3 -c 'import json,sys; print(sum(a["statistics"]["opens"] + a["statistics"]["machine_opens"] for a in json.load(sys.stdin)["accounts"]))')
  # wrk counts the answers it read before it stopped; up to one request per
  # connection was still in flight then, answered and counted by trackd.
  local lo=$((served + 1)) hi=$((served + 1 + 16))
  echo "opens counted: $counted; answers wrk read: $lo (+ up to 16 in flight) $([ "$counted" -ge $lo ] && [ "$counted" -le $hi ] && echo '(consistent)' || echo '(MISMATCH)')"
  grep -o 'stopped: .*' "$work/trackd.log" || echo "bench: migo-trackd did not log its stop"
  kill $ngx; wait $ngx 2>/dev/null || true
}

# CPU time (user + system, ms) each process has used so far.
cpu_ms() {
  local p
  for p in "$@"; do awk -v hz="$(getconf CLK_TCK)" '{printf "%d ", ($14 + $15) * 1000 / hz}' "/proc/$p/stat"; done
}

bench_relay() {
  local clients=${MIGO_BENCH_CLIENTS:-16}
  echo "== relay: $seconds s each, $clients clients, a session per message (STARTTLS + AUTH PLAIN), 400-byte messages, $(nproc) cores"
  source tests/postfix/harness.sh
  trap 'pf_cleanup; rm -rf "$work"' EXIT
  mkdir -p -m 0700 "$work/dkim"
  local m="$B/migoctl/migoctl --db $work/rstore --dkim-keys $work/dkim" creds="" u p pport pid mpid ppid spid base_rate=0
  chmod 755 "$work"
  $m init >/dev/null
  $m plan set huge --max-accounts 100 --monthly 4000000000 --daily 4000000000 --hourly 4000000000 >/dev/null
  $m workspace create ws --plan huge >/dev/null
  $m domain add ws example.com >/dev/null && $m domain verify --manual ws example.com >/dev/null
  for i in $(seq 1 $clients); do
    read -r u p < <($m --json account create ws --name "c$i" |
      python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["username"], d["password"])')
    creds="$creds $u:$p"
    echo "$p" | saslpasswd2 -p -c -f "$work/rsasldb2" -u mx.test "$u"  # the same users for sasldb
  done
  chmod 644 "$work/rsasldb2"
  head -c 32 /dev/urandom >"$work/rkey"
  chown -R nobody "$work/rstore" "$work/rkey" "$work/dkim"
  install -m 0644 "$B/sasl-plugin/libmigo.so" /usr/lib/x86_64-linux-gnu/sasl2/libmigo.so
  mkdir -p "$work/rsock"; chown nobody "$work/rsock"
  "$B/milter/migo-milter" --db "$work/rstore" --key "$work/rkey" --dkim-keys "$work/dkim" \
    --socket "unix:$work/rsock/milter" --user nobody &
  mpid=$!
  "$B/policy-daemon/migo-policyd" --db "$work/rstore" --listen "unix:$work/rsock/policy" --user nobody &
  ppid=$!
  local npid=
  if [ -n "${MIGO_BENCH_PARTS:-}" ]; then
    runuser -u nobody -- "$B/bench/null_milter" "unix:$work/rsock/null" &
    npid=$!
    runuser -u nobody -- "$B/bench/epoll_milter" "$work/rsock/epoll" &
    npid="$npid $!"
  fi
  sleep 0.5
  chmod 0666 "$work/rsock/milter" "$work/rsock/policy"  # (production: group postfix)
  [ -z "$npid" ] || chmod 0666 "$work/rsock/null" "$work/rsock/epoll"
  local policy="check_policy_service { unix:$work/rsock/policy, default_action=DEFER }"
  # Both instances: no anvil limits (one client address makes all the load).
  local common=("smtpd_client_connection_rate_limit = 0" "smtpd_client_auth_rate_limit = 0"
                "default_process_limit = 100")
  relay_run() {  # relay_run LABEL migo|sasldb [nomilter|nopolicy]
    pf_new relay n
    if [ "$2" = migo ]; then
      pf_sasl_conf "pwcheck_method: auxprop" "auxprop_plugin: migo" "mech_list: PLAIN LOGIN" "migo_db: $work/rstore"
      local conf=("${common[@]}" "local_header_rewrite_clients =")
      [ "${3:-}" = nopolicy ] ||
        conf+=("smtpd_recipient_restrictions = $policy" "smtpd_end_of_data_restrictions = $policy")
      case "${3:-}" in
        nomilter) ;;
        nullmilter) conf+=("smtpd_milters = unix:$work/rsock/null" "milter_default_action = tempfail") ;;
        epollmilter) conf+=("smtpd_milters = unix:$work/rsock/epoll" "milter_default_action = tempfail") ;;
        *) conf+=("smtpd_milters = unix:$work/rsock/milter" "milter_default_action = tempfail") ;;
      esac
      pf_conf "${conf[@]}"
      touch "$PF_DIR/maillog"; chmod 644 "$PF_DIR/maillog"
      "$B/stats/migo-statd" --db "$work/rstore" --log "$PF_DIR/maillog" --user nobody 2>/dev/null &
      spid=$!
    else
      pf_sasl_conf "pwcheck_method: auxprop" "auxprop_plugin: sasldb" "mech_list: PLAIN LOGIN" "sasldb_path: $work/rsasldb2"
      pf_conf "${common[@]}"
    fi
    pf_start >/dev/null || { echo "$1: postfix did not start"; return; }
    local before; before=$(cpu_ms $ppid $mpid)
    # MIGO_BENCH_PERF=PREFIX: also record the whole machine with perf, to
    # PREFIX.sasldb and PREFIX.migo (perf report -i … --sort comm).
    local perf_pid=
    if [ -n "${MIGO_BENCH_PERF:-}" ]; then
      perf record -a -g -F 499 -o "$MIGO_BENCH_PERF.$2${3:+-$3}" -- sleep "$seconds" >/dev/null 2>&1 &
      perf_pid=$!
    fi
    read -r rate n bad < <(python3 bench/smtp_load.py --tls --session-per-message "$PF_PORT" "$seconds" $creds)
    [ -z "$perf_pid" ] || wait "$perf_pid"
    local ratio=""
    if [ "$2" = sasldb ]; then base_rate=$rate
    else ratio=$(python3 -c 'import sys; print("  %.2fx the baseline" % (float(sys.argv[1]) / max(float(sys.argv[2]), 1)))' "$rate" "$base_rate"); fi
    printf '%-52s %6s messages/s  (%s accepted, %s refused)%s\n' "$1" "$rate" "$n" "$bad" "$ratio"
    if [ "$2" = migo ]; then
      local after; after=$(cpu_ms $ppid $mpid)
      python3 -c 'import sys; a=sys.argv[1].split(); b=sys.argv[2].split(); n=max(int(sys.argv[3]),1)
print("    CPU per message: migo-policyd %.2f ms, migo-milter %.2f ms" % ((int(a[0])-int(b[0]))/n, (int(a[1])-int(b[1]))/n))' \
        "$after" "$before" "$n"
    fi
    pf_stop
    if [ "$2" = migo ]; then
      sleep 1.5  # let migo-statd read the last lines
      statd_rss=$(awk '/VmHWM/ {print $2}' /proc/$spid/status)
      kill $spid; wait $spid 2>/dev/null || true
    fi
  }
  for round in $(seq 1 "${MIGO_BENCH_ROUNDS:-3}"); do
    relay_run "Postfix + sasldb, no policy, no milter (baseline) #$round" sasldb
    relay_run "Postfix + all migo modules #$round" migo
    # MIGO_BENCH_PARTS=1: also each module left out, to apportion the gap.
    if [ -n "${MIGO_BENCH_PARTS:-}" ]; then
      relay_run "  the same without migo-milter #$round" migo nomilter
      relay_run "  the same without migo-policyd #$round" migo nopolicy
      relay_run "  null_milter instead of migo-milter #$round" migo nullmilter
      relay_run "  epoll_milter instead of migo-milter #$round" migo epollmilter
    fi
  done
  printf 'peak RSS: migo-policyd %s kB, migo-milter %s kB, migo-statd %s kB\n' \
    "$(awk '/VmHWM/ {print $2}' /proc/$ppid/status)" "$(awk '/VmHWM/ {print $2}' /proc/$mpid/status)" "$statd_rss"
  local sent delivered
  sent=$($m --json workspace show ws | python3 -c 'import json,sys; s=json.load(sys.stdin)["statistics"]; print(s["total_sent"], s["delivered"])')
  echo "counted by the modules (total sent, delivered): $sent${MIGO_BENCH_PARTS:+ (runs without migo-policyd count no sends)}"
  kill $mpid $ppid $npid; wait $mpid $ppid $npid 2>/dev/null || true
}

bench_counters() {
  echo "== counters: $seconds s each, $(nproc) cores, $(redis-server --version | cut -d' ' -f1-3)"
  local port pid
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    --logfile "$work/redis.log" &
  pid=$!
  for i in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  "$B/bench/counters_bench" --store "$work/cstore" --redis "redis://127.0.0.1:$port" --seconds "$seconds" \
    --redis-pid "$pid"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

bench_relays() {
  echo "== relays: $seconds s each, $(nproc) cores, $(redis-server --version | cut -d' ' -f1-3)"
  source tests/postfix/harness.sh
  trap 'pf_cleanup; rm -rf "$work"' EXIT
  chmod 755 "$work"
  local m="$B/migoctl/migoctl --db $work/sstore" users="" creds="" rport port pid cpu0 cpu1 u p
  $m init >/dev/null
  $m plan set huge --max-accounts 50 --monthly 4000000000 --daily 4000000000 --hourly 4000000000 >/dev/null
  for w in $(seq 1 10); do
    $m workspace create "ws$w" --plan huge >/dev/null
    for a in 1 2 3 4 5; do
      read -r u p < <($m --json account create "ws$w" --name "a$a" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["username"], d["password"])')
      users="$users,$u"
      creds="$creds $u:$p"
    done
  done
  users=${users#,}
  chown -R nobody "$work/sstore"
  rport=$(free_port)
  redis_start "$work/redis-$rport" "$rport" --appendonly yes --appendfsync everysec
  local rpid=$REDIS_PID
  printf 'counters = redis://127.0.0.1:%s\nrelay_name = bench\n' "$rport" >"$work/shared.conf"
  chmod 644 "$work/shared.conf"
  echo "-- (1) migo-policyd, 8 and 50 connections, RCPT,RCPT,END-OF-MESSAGE per message"
  local conns
  for conns in 8 50; do
  for mode in lmdb redis; do
    port=$(free_port)
    if [ $mode = lmdb ]; then
      "$B/policy-daemon/migo-policyd" --db "$work/sstore" --listen "inet:127.0.0.1:$port" --user nobody & pid=$!
    else
      "$B/policy-daemon/migo-policyd" --db "$work/sstore" --listen "inet:127.0.0.1:$port" --user nobody \
        --config "$work/shared.conf" & pid=$!
    fi
    sleep 0.5
    cpu0=$(awk '{print $14 + $15}' "/proc/$rpid/stat")
    out=$("$B/bench/policy_bench" --target "inet:127.0.0.1:$port" --connections "$conns" --seconds "$seconds" \
      --users "$users" --label "$mode, $conns connections" || echo "(errors above)")
    cpu1=$(awk '{print $14 + $15}' "/proc/$rpid/stat")
    echo "$out"
    if [ $mode = redis ]; then
      local n
      n=$(sed -n 's/.*(\([0-9]*\) decisions.*/\1/p' <<<"$out")
      echo "   Redis CPU: $(( (cpu1 - cpu0) * 1000000 / $(getconf CLK_TCK) / (n > 0 ? n : 1) )) us per decision"
    fi
    kill $pid; wait $pid 2>/dev/null || true
  done
  done

  echo "-- (2) messages/s through 1, 2 and 3 relays on the shared Redis (16 clients, persistent sessions, AUTH PLAIN)"
  install -m 0644 "$B/sasl-plugin/libmigo.so" "$(dpkg-query -L libsasl2-modules | grep -m1 '/sasl2$')/libmigo.so"
  local n r ports pids counted before accepted
  for n in 1 2 3; do
    redis-cli -p "$rport" FLUSHALL >/dev/null
    ports="" pids=""
    for r in $(seq 1 "$n"); do
      cp -a "$work/sstore" "$work/sstore-$n-$r"
      port=$(free_port)
      printf 'counters = redis://127.0.0.1:%s\nrelay_name = relay%s\n' "$rport" "$r" >"$work/relay-$r.conf"
      chmod 644 "$work/relay-$r.conf"
      "$B/policy-daemon/migo-policyd" --db "$work/sstore-$n-$r" --listen "inet:127.0.0.1:$port" --user nobody \
        --config "$work/relay-$r.conf" & pids="$pids $!"
      pf_new "relays$n-$r" n
      pf_sasl_conf "pwcheck_method: auxprop" "auxprop_plugin: migo" "mech_list: PLAIN LOGIN" "migo_db: $work/sstore-$n-$r"
      local policy="check_policy_service { inet:127.0.0.1:$port, default_action=DEFER }"
      pf_conf "smtpd_recipient_restrictions = $policy" "smtpd_end_of_data_restrictions = $policy" \
        "smtpd_client_connection_rate_limit = 0" "smtpd_client_auth_rate_limit = 0" "default_process_limit = 100" \
        "smtpd_tls_auth_only = no"
      pf_start >/dev/null
      ports="$ports $PF_PORT"
    done
    sleep 0.5
    # The 16 credentials' clients spread over the relays, all at once.
    local outs=() i=0 c
    for c in $creds; do
      [ $i -lt 16 ] || break
      set -- $ports
      local idx=$(( i % n + 1 ))
      port=${!idx}
      python3 bench/smtp_load.py "$port" "$seconds" "$c" >"$work/load-$n-$i" 2>&1 &
      outs+=($!)
      i=$((i + 1))
    done
    wait "${outs[@]}" 2>/dev/null
    accepted=$(awk '{s += $2} END {print s + 0}' "$work"/load-$n-*)  # (smtp_load.py: RATE ACCEPTED FAILED)
    counted=$(redis-cli -p "$rport" --scan --pattern 'migo:{w*}:win' | while read -r k; do
      redis-cli -p "$rport" HGET "$k" "M$(date -u +%Y%m)"; done | paste -sd+ | bc)
    echo "  $n relay(s): $(echo "scale=1; $accepted / $seconds" | bc) messages/s; accepted $accepted, counted in Redis ${counted:-0}: $([ "$accepted" = "${counted:-0}" ] && echo exact || echo MISMATCH)"
    kill $pids; wait $pids 2>/dev/null || true
    for r in $(seq 1 "$n"); do pf_stop_instance "${PF_INSTANCES[-$r]}"; done
  done
  kill "$rpid"; wait "$rpid" 2>/dev/null || true

  echo "-- (3) failover: master killed at full load, replica promoted (asynchronous replication)"
  local runs=${MIGO_BENCH_FAILOVERS:-5} mport sport mpid spid line worst=0 lost
  for i in $(seq 1 "$runs"); do
    mport=$(free_port) sport=$(free_port)
    redis_start "$work/redis-$mport" "$mport" --repl-diskless-sync-delay 0; mpid=$REDIS_PID
    redis_start "$work/redis-$sport" "$sport" --replicaof 127.0.0.1 "$mport"; spid=$REDIS_PID
    for _ in $(seq 1 100); do
      redis-cli -p "$sport" INFO replication | grep -q 'master_link_status:up' && break
      sleep 0.05
    done
    line=$("$B/bench/failover_bench" --master "redis://127.0.0.1:$mport" --master-pid "$mpid" \
      --replica "redis://127.0.0.1:$sport" --clients 8 --seconds "$seconds")
    echo "  run $i: $line"
    lost=$(sed -n 's/.*: \(-\{0,1\}[0-9]*\) lost.*/\1/p' <<<"$line")
    [ "${lost:-0}" -gt "$worst" ] && worst=$lost
    wait "$mpid" 2>/dev/null || true
    kill "$spid"; wait "$spid" 2>/dev/null || true
  done
  echo "  worst of $runs: $worst recipients acknowledged and lost with the master"
}

bench_growth() {
  echo "== growth: the store under ${MIGO_BENCH_PER_DAY:-1000000} messages a day for ${MIGO_BENCH_DAYS:-365} days"
  "$B/bench/store_growth" --days "${MIGO_BENCH_DAYS:-365}" --per-day "${MIGO_BENCH_PER_DAY:-1000000}" \
    --retention 30 --baseline-days 45
}

for b in "${which[@]}"; do "bench_$b"; done
