# harness.sh — a private Postfix instance on loopback for end-to-end tests.
#
# Source it, then:
#   pf_new NAME [chroot y|n]  make an instance in its own temp dir: config,
#                             queue and data directories, a self-signed TLS
#                             certificate, an smtpd on $PF_PORT with STARTTLS
#                             and Cyrus SASL, relaying to smtp-sink on
#                             $PF_SINK_PORT; logs to $PF_DIR/maillog
#   pf_conf KEY=VALUE...      change main.cf (postconf -e)
#   pf_sasl_conf LINE...      write $PF_ETC/sasl/smtpd.conf
#   pf_sasl_migo              write it as the role does, for the store in $store
#   pf_start / pf_stop        start or stop Postfix and the sink
#   pf_swaks ARGS...          swaks against the instance (TLS, EHLO client.test)
#   pf_wait_sink N            wait (bounded) until the sink has N messages;
#                             on timeout pf_sink_diag says why not
#   migo_new_account MIGOCTL STORE WS LABEL USERVAR PASSVAR
#                             create an SMTP account; set the two variables
#   migo_e2e_begin NAME LIBMIGO_SO MIGOCTL
#                             skip (77) unless root; install the plugin; a fresh
#                             store in $store (under $base); m() runs migoctl on
#                             it; $tag_key, and each daemon's log in
#                             $policyd_log, $milter_log, $statd_log
#   migo_start_modules MIGO_MILTER|- MIGO_POLICYD
#                             the daemons as nobody on loopback ($milter_port,
#                             $policy_port); "-": no milter
#   migo_wire_modules         point Postfix at the daemons that were started
#   migo_start_statd MIGO_STATD
#                             migo-statd following $PF_DIR/maillog
#   migo_stop policyd|milter|statd
#                             SIGTERM one daemon; its exit status
#   migo_role_new NAME, migo_role_vars INSTALL_YAML PREFIX, role_play ARGS...
#                             an instance the ansible role configures, its
#                             $store and $tag_key (tests/ansible/role_test.sh)
# Everything is removed by pf_cleanup, which the harness traps on EXIT.
# Needs root (Postfix's master runs as root), postfix, swaks, python3.
#
# With MIGO_E2E_ROLE=BUILD_DIR the same end-to-end scripts run against the
# Postfix the ansible role configured: migo_e2e_begin applies the role (the
# modules from BUILD_DIR) to a fresh instance, $PF_PORT is its submission
# service, the daemons are the role's, and pf_new, pf_sasl_conf,
# migo_start_modules, migo_wire_modules and migo_start_statd leave alone what
# the role set up; pf_conf still adds a scenario's own keys (pf_start reloads).

PF_INSTANCES=()
MIGO_PIDS=()
MIGO_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

pf_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# dns_start NAME,TEXT[,TEXT...]... — dnsmasq on a loopback UDP port serving
# these TXT records and nothing else (no upstream, no /etc/hosts); sets
# DNS_ADDR=127.0.0.1:PORT. Stopped with the modules.
dns_start() {
  local port args=()
  port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  for r in "$@"; do args+=("--txt-record=$r"); done
  /usr/sbin/dnsmasq --keep-in-foreground --port="$port" --listen-address=127.0.0.1 --bind-interfaces \
    --no-resolv --no-hosts --conf-file=/dev/null --pid-file= --log-facility=/dev/null \
    --user=nobody --group=nogroup "${args[@]}" &
  MIGO_PIDS+=("$!")
  DNS_ADDR=127.0.0.1:$port
  sleep 0.3
}

# dns_record_args WS DOMAIN PURPOSE — that domain's record of PURPOSE from
# `migoctl domain records`, as dns_start wants it (strings of <= 250 bytes).
dns_record_args() {
  m --json domain records "$1" "$2" | /usr/bin/python3 -c '
import json, sys
for r in json.load(sys.stdin)["records"]:
    if r["purpose"] == sys.argv[1]:
        v = r["value"]
        print(r["name"] + "," + ",".join(v[i:i + 250] for i in range(0, len(v), 250)))' "$3"
}

# redis_start DIR PORT [ARGS...] — a redis-server on 127.0.0.1:PORT, its
# files in DIR, no snapshots and no append-only file unless ARGS say so;
# waits (bounded) until it answers. Its pid: DIR/redis.pid and $REDIS_PID.
# redis_stop PORT stops one without saving. (Tests and benchmarks.)
redis_start() {
  local dir=$1 port=$2 i
  shift 2
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" --daemonize yes --pidfile "$dir/redis.pid" "$@" >/dev/null
  for i in $(seq 1 100); do
    if redis-cli -p "$port" PING 2>/dev/null | grep -q PONG; then
      REDIS_PID=$(cat "$dir/redis.pid")
      return 0
    fi
    sleep 0.1
  done
  echo "redis_start: nothing answers on $port (see $dir/redis.log)" >&2; return 1
}
redis_stop() { redis-cli -p "$1" SHUTDOWN NOSAVE >/dev/null 2>&1; }

pf_new() {
  [ -z "${MIGO_ROLE_UP:-}" ] || return 0  # the role's instance is the one
  local name=$1 chroot=${2:-n}
  PF_DIR=$(mktemp -d "/tmp/migo-pf-$name-XXXXXX")
  chmod 755 "$PF_DIR"
  PF_PORT=$(pf_free_port)
  PF_SINK_PORT=$(pf_free_port)
  PF_INSTANCES+=("$PF_DIR")
  # Config, queue and data apart: postfix check wants everything under the
  # config directory owned by root, and the queue owned by postfix.
  PF_ETC=$PF_DIR/etc
  mkdir -p "$PF_ETC/sasl" "$PF_DIR/queue" "$PF_DIR/data" "$PF_DIR/sink"
  chown postfix "$PF_DIR/data"
  chown nobody "$PF_DIR/sink"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mx.test" \
    -keyout "$PF_ETC/key.pem" -out "$PF_ETC/cert.pem" 2>/dev/null
  chmod 600 "$PF_ETC/key.pem"
  cat >"$PF_ETC/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.test
mydomain = test
myorigin = mx.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 192.0.2.1/32
relayhost = [127.0.0.1]:$PF_SINK_PORT
smtp_tls_security_level = none
alias_maps =
alias_database =
local_recipient_maps =
biff = no
maillog_file = $PF_DIR/maillog
maillog_file_prefixes = $PF_DIR
smtpd_peername_lookup = no
enable_long_queue_ids = yes
smtpd_banner = \$myhostname ESMTP
smtpd_tls_security_level = may
smtpd_tls_cert_file = $PF_ETC/cert.pem
smtpd_tls_key_file = $PF_ETC/key.pem
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_security_options = noanonymous
smtpd_sasl_local_domain =
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
CF
  local c=$chroot
  cat >"$PF_ETC/master.cf" <<CF
$PF_PORT  inet  n - $c - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
}

pf_conf() { postconf -c "$PF_ETC" -e "$@"; }

# migo_receive_bounces — as the role's migo_receive_bounces does: mail to a
# return path (b<token>@bounce.DOMAIN) is accepted and piped to migoctl
# ingest-dsn, which attributes it by the token; nothing else is relayed.
migo_receive_bounces() {
  [ -z "${MIGO_ROLE_UP:-}" ] || return 0
  printf '/^bounce\\.[a-z0-9.-]+$/ OK\n' >"$PF_ETC/migo-bounce-domains"
  printf '/^b[a-z2-7]+@bounce\\.[a-z0-9.-]+$/ migo-bounce:\n' >"$PF_ETC/migo-bounce-transport"
  pf_conf "relay_domains = regexp:$PF_ETC/migo-bounce-domains" \
    "transport_maps = regexp:$PF_ETC/migo-bounce-transport" "migo-bounce_destination_recipient_limit = 1"
  postconf -c "$PF_ETC" -M "migo-bounce/unix=migo-bounce unix - n n - - pipe user=nobody argv=$MIGO_E2E_CTL --db $store --json ingest-dsn --key $tag_key --accept-malformed --return-path \${recipient}"
}

pf_sasl_conf() {
  [ -z "${MIGO_ROLE_UP:-}" ] || return 0  # the role wrote it
  printf '%s\n' "$@" >"$PF_ETC/sasl/smtpd.conf"
}

# The sink the instance relays to: accepts everything, dumps each message
# to a file of its own.
# What the role's smtpd.conf says (templates/smtpd.conf.j2), for $store.
pf_sasl_migo() {
  pf_sasl_conf "pwcheck_method: auxprop" "auxprop_plugin: migo" "canon_user_plugin: migo" \
    "mech_list: PLAIN LOGIN SCRAM-SHA-256" "migo_db: $store"
}

pf_start_sink() {
  /usr/sbin/smtp-sink -u nobody -d "$PF_DIR/sink/%M." "127.0.0.1:$PF_SINK_PORT" 100 \
    >"$PF_DIR/sink.log" 2>&1 &
  echo $! >"$PF_DIR/sink.pid"
}

pf_start() {
  [ -z "${MIGO_ROLE_UP:-}" ] || { pf_reload; return; }
  pf_start_sink
  # Errors before the log is up go only to a tty: script(1) gives one.
  if ! script -qec "postfix -c $PF_ETC check" /dev/null >"$PF_DIR/check.log" 2>&1; then
    echo "pf_start: postfix check failed:" >&2; cat "$PF_DIR/check.log" >&2; return 1
  fi
  if grep -q 'warning' "$PF_DIR/check.log"; then
    echo "pf_start: postfix check warns:" >&2; cat "$PF_DIR/check.log" >&2; return 1
  fi
  postfix -c "$PF_ETC" start >/dev/null 2>&1 || { echo "pf_start: postfix start failed" >&2; return 1; }
  local i
  for i in $(seq 1 100); do
    if python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$PF_PORT),1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "pf_start: smtpd did not listen on $PF_PORT" >&2; return 1
}

# The role's instance runs already: check what pf_conf added, reload, and
# wait until the master has read it (it logs each reload).
pf_reload() {
  postfix -c "$PF_ETC" check || { echo "pf_reload: postfix check failed" >&2; return 1; }
  local before i
  before=$(grep -c "daemon started\|reload --" "$PF_DIR/maillog")
  postfix -c "$PF_ETC" reload >/dev/null 2>&1 || { echo "pf_reload: postfix reload failed" >&2; return 1; }
  for i in $(seq 1 100); do
    [ "$(grep -c "daemon started\|reload --" "$PF_DIR/maillog")" -gt "$before" ] && return 0
    sleep 0.1
  done
  echo "pf_reload: no reload logged" >&2; return 1
}

pf_stop() {
  [ -z "${MIGO_ROLE_UP:-}" ] || return 0  # the role's instance lives until the end
  pf_stop_instance "$PF_DIR"
}

pf_stop_instance() {
  local p
  for p in "$1"/migo/run/*.pid; do  # the role's daemons, if any
    [ -f "$p" ] && start-stop-daemon --stop --quiet --retry 5 --pidfile "$p"
  done
  postfix -c "$1/etc" stop >/dev/null 2>&1 || true
  [ -f "$1/sink.pid" ] && kill "$(cat "$1/sink.pid")" 2>/dev/null || true
}

pf_swaks() {
  swaks --server 127.0.0.1 --port "$PF_PORT" --ehlo client.test --timeout 20 "$@" 2>&1
}

pf_wait_sink() {
  local want=$1 i
  for i in $(seq 1 100); do
    [ "$(find "$PF_DIR/sink" -type f | wc -l)" -ge "$want" ] && return 0
    sleep 0.1
  done
  pf_sink_diag >&2
  return 1
}

# Why mail did not reach the sink: whether the sink still runs and on what
# port, what it said, and Postfix's delivery lines (a bounce's reason is
# there). A failure seen only on a CI machine has nothing else to go on.
pf_sink_diag() {
  local pid
  pid=$(cat "$PF_DIR/sink.pid" 2>/dev/null)
  echo "-- sink on 127.0.0.1:$PF_SINK_PORT, pid ${pid:-none}: $(kill -0 "${pid:-0}" 2>/dev/null && echo running || echo gone)"
  ss -ltnp "sport = :$PF_SINK_PORT" 2>/dev/null | sed 's/^/   /'
  sed 's/^/   sink.log: /' "$PF_DIR/sink.log" 2>/dev/null | tail -10
  echo "-- relayhost: $(postconf -c "$PF_ETC" -h relayhost 2>&1); delivery lines in the log:"
  grep -h -E 'status=|loops back|warning|fatal|panic' "$PF_DIR/maillog" 2>/dev/null | tail -15 | sed 's/^/   /'
}

# pf_eventually CMD...: CMD succeeds within 10 s (for what is counted a few
# milliseconds after the answer, as migo-trackd's events are).
pf_eventually() {
  local i
  for i in $(seq 1 100); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# Runs in the caller's shell (sets variables by name) so that a failure ends
# the test at once instead of leaving empty credentials behind.
migo_new_account() {
  local out user pass
  out=$("$1" --db "$2" --json account create "$3" --name "$4") || {
    echo "migo_new_account: account create failed: $out" >&2; exit 1; }
  read -r user pass < <(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["username"], d["password"])' <<<"$out")
  printf -v "$5" '%s' "$user"
  printf -v "$6" '%s' "$pass"
}

migo_e2e_begin() {
  [ "$(id -u)" -eq 0 ] || { echo "$1: needs root (skipped)"; exit 77; }
  if [ -n "${MIGO_E2E_ROLE:-}" ]; then
    migo_role_new "e2e-$1"
    migo_role_vars "migo_build_dir: $MIGO_E2E_ROLE" "$base/prefix"
    local out
    out=$(role_play)
    grep -q "failed=0" <<<"$out" || { echo "$1: the role failed:"; tail -40 <<<"$out"; exit 1; }
    PF_PORT=$sub_port
    MIGO_ROLE_UP=1
    policyd_log=$base/log/migo-policyd.log
    milter_log=$base/log/migo-milter.log
    statd_log=$base/log/migo-statd.log
    MIGO_E2E_CTL=$base/prefix/sbin/migoctl
    MIGOCTL=$MIGO_E2E_CTL  # the scripts' own variable: the installed program
    dkim_keys=$base/etc/dkim  # the role made it (migo_etc/dkim)
    m() { "$MIGO_E2E_CTL" --db "$store" --dkim-keys "$dkim_keys" "$@"; }
    echo "--- against the Postfix the ansible role configured (submission 127.0.0.1:$PF_PORT)"
    return 0
  fi
  # Postfix registers no SASL plugin path: the plugin under test goes where
  # libsasl2 looks, as in production.
  install -m 0644 "$2" "$(dpkg-query -L libsasl2-modules | grep -m1 '/sasl2$')/libmigo.so"
  base=$(mktemp -d "/tmp/migo-e2e-$1-XXXXXX")
  chmod 755 "$base"
  store=$base/store
  tag_key=$base/tag.key
  policyd_log=$base/policyd.log
  milter_log=$base/milter.log
  statd_log=$base/statd.log
  PF_INSTANCES+=("$base")
  MIGO_E2E_CTL=$3
  dkim_keys=$base/dkim
  mkdir -m 0700 "$dkim_keys"
  m() { "$MIGO_E2E_CTL" --db "$store" --dkim-keys "$dkim_keys" "$@"; }
  m init >/dev/null
}

migo_start_modules() {
  [ -z "${MIGO_ROLE_UP:-}" ] || return 0
  chown -R nobody "$store"  # the daemons run as nobody (production: group migo)
  chown -R nobody "$dkim_keys"  # the milter's (migoctl gives new key files the directory's owner)
  if [ "$1" != - ]; then
    head -c 32 /dev/urandom >"$tag_key"
    chmod 600 "$tag_key"; chown nobody "$tag_key"
    milter_port=$(pf_free_port)
    # shellcheck disable=SC2086  # MIGO_MILTER_ARGS: extra options, split on spaces
    "$1" --db "$store" --socket "inet:$milter_port@127.0.0.1" --key "$tag_key" --dkim-keys "$dkim_keys" --user nobody \
      --foreground ${MIGO_MILTER_ARGS:-} 2>"$milter_log" &
    milter_pid=$!
    MIGO_PIDS+=("$milter_pid")
  fi
  policy_port=$(pf_free_port)
  "$2" --db "$store" --listen "inet:127.0.0.1:$policy_port" --user nobody --foreground \
    2>"$policyd_log" &
  policyd_pid=$!
  MIGO_PIDS+=("$policyd_pid")
}

# As the role's submission service does: the policy service at RCPT and at
# END-OF-MESSAGE (deferring when it does not answer), the milter with
# tempfail.
migo_wire_modules() {
  [ -z "${MIGO_ROLE_UP:-}" ] || return 0
  local policy="check_policy_service { inet:127.0.0.1:$policy_port, default_action=DEFER }"
  pf_conf "smtpd_recipient_restrictions = $policy" "smtpd_end_of_data_restrictions = $policy" \
    "smtpd_error_sleep_time = 0" "smtpd_soft_error_limit = 1000" "smtpd_hard_error_limit = 1000"
  [ -z "${milter_port:-}" ] ||
    pf_conf "smtpd_milters = inet:127.0.0.1:$milter_port" "milter_default_action = tempfail"
}

migo_start_statd() {
  [ -z "${MIGO_ROLE_UP:-}" ] || return 0
  touch "$PF_DIR/maillog"; chmod 644 "$PF_DIR/maillog"
  "$1" --db "$store" --log "$PF_DIR/maillog" --user nobody --interval 1 --foreground 2>"$statd_log" &
  statd_pid=$!
  MIGO_PIDS+=("$statd_pid")
}

migo_stop() {
  if [ -n "${MIGO_ROLE_UP:-}" ]; then
    start-stop-daemon --stop --quiet --retry TERM/10 --remove-pidfile --pidfile "$base/run/migo-$1.pid"
    return
  fi
  local pid_var=${1}_pid
  kill -TERM "${!pid_var}"
  wait "${!pid_var}"
}

# An instance for the ansible role: pf_new's base configuration (the role
# writes no base: migo_postfix_manage_base=false), the sink running, and
# ports for the two services. $base is where the role keeps our files.
migo_role_new() {
  pf_new "$1" n
  base=$PF_DIR/migo
  mkdir -p "$base"
  sub_port=$(pf_free_port)
  smtps_port=$(pf_free_port)
  pf_start_sink
}

# migo_role_vars INSTALL_YAML PREFIX: the role's variables for that instance.
migo_role_vars() {
  prefix=$2
  store=$base/store
  tag_key=$base/etc/tag.key
  mkdir -p "$prefix/sbin"
  cat >"$base/vars.yml" <<VARS
migo_postfix_config_dir: $PF_ETC
migo_postfix_queue_dir: $PF_DIR/queue
migo_postfix_manage_base: false
migo_postfix_maillog_file: $PF_DIR/maillog
migo_logrotate_file: $base/logrotate.conf
migo_init: none
$1
migo_prefix: $prefix
migo_db: $store
migo_etc: $base/etc
migo_tag_key: $tag_key
migo_run_dir: $base/run
migo_daemon_log_dir: $base/log
migo_submission_service: 127.0.0.1:$sub_port
migo_smtps_service: 127.0.0.1:$smtps_port
migo_tls_cert_file: $PF_ETC/cert.pem
migo_tls_key_file: $PF_ETC/key.pem
VARS
}

role_play() {
  (cd "$MIGO_REPO/ansible" &&
    ANSIBLE_NOCOLOR=1 ansible-playbook -i localhost, -c local site.yml -e "@$base/vars.yml" "$@" 2>&1)
}

pf_cleanup() {
  local d
  [ ${#MIGO_PIDS[@]} -eq 0 ] || kill "${MIGO_PIDS[@]}" 2>/dev/null
  for d in "${PF_INSTANCES[@]}"; do
    pf_stop_instance "$d"
    [ -n "${KEEP_PF:-}" ] || rm -rf "$d"
  done
}
trap pf_cleanup EXIT
