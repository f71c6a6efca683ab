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
#   pf_start / pf_stop        start or stop Postfix and the sink
#   pf_swaks ARGS...          swaks against the instance (TLS, EHLO client.test)
#   pf_wait_sink N            wait (bounded) until the sink has N messages
#   migo_new_account MIGOCTL STORE WS LABEL USERVAR PASSVAR
#                             create an SMTP account; set the two variables
#   migo_e2e_begin NAME LIBMIGO_SO MIGOCTL
#                             skip (77) unless root; install the plugin; a fresh
#                             store in $store (under $base); m() runs migoctl on it
#   migo_start_modules MIGO_MILTER MIGO_POLICYD KEYFILE
#                             both daemons as nobody on loopback: $milter_port,
#                             $policy_port, $milter_pid, $policyd_pid
# Everything is removed by pf_cleanup, which the harness traps on EXIT.
# Needs root (Postfix's master runs as root), postfix, swaks, python3.

PF_INSTANCES=()
MIGO_PIDS=()

pf_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pf_new() {
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

pf_sasl_conf() { printf '%s\n' "$@" >"$PF_ETC/sasl/smtpd.conf"; }

pf_start() {
  # The sink: accepts everything, dumps each message to a file of its own.
  /usr/sbin/smtp-sink -u nobody -d "$PF_DIR/sink/%M." "127.0.0.1:$PF_SINK_PORT" 100 \
    >"$PF_DIR/sink.log" 2>&1 &
  echo $! >"$PF_DIR/sink.pid"
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

pf_stop() {
  postfix -c "$PF_DIR/etc" stop >/dev/null 2>&1 || true
  [ -f "$PF_DIR/sink.pid" ] && kill "$(cat "$PF_DIR/sink.pid")" 2>/dev/null || true
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
  # Postfix registers no SASL plugin path: the plugin under test goes where
  # libsasl2 looks, as in production.
  install -m 0644 "$2" /usr/lib/x86_64-linux-gnu/sasl2/libmigo.so
  base=$(mktemp -d "/tmp/migo-e2e-$1-XXXXXX")
  chmod 755 "$base"
  store=$base/store
  PF_INSTANCES+=("$base")
  MIGO_E2E_CTL=$3
  m() { "$MIGO_E2E_CTL" --db "$store" "$@"; }
  m init >/dev/null
}

migo_start_modules() {
  chown -R nobody "$store"  # the daemons run as nobody (production: group migo)
  milter_port=$(pf_free_port)
  policy_port=$(pf_free_port)
  "$1" --db "$store" --socket "inet:$milter_port@127.0.0.1" --key "$3" --user nobody \
    --foreground 2>"$base/milter.log" &
  milter_pid=$!
  "$2" --db "$store" --listen "inet:127.0.0.1:$policy_port" --user nobody --foreground \
    2>"$base/policyd.log" &
  policyd_pid=$!
  MIGO_PIDS+=("$milter_pid" "$policyd_pid")
}

pf_cleanup() {
  local d
  [ ${#MIGO_PIDS[@]} -eq 0 ] || kill "${MIGO_PIDS[@]}" 2>/dev/null
  for d in "${PF_INSTANCES[@]}"; do
    PF_DIR=$d pf_stop
    [ -n "${KEEP_PF:-}" ] || rm -rf "$d"
  done
}
trap pf_cleanup EXIT
