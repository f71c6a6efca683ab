#!/usr/bin/env bash
# role_test.sh — the ansible role against a private Postfix instance: lint,
# apply twice (the second run changes nothing), --check --diff (no drift),
# then mail through the submission and SMTPS services the role configured.
#   role_test.sh BUILD_DIR [deb DEB_DIR]
# With "deb": the modules come from the Debian package deb_package built in
# DEB_DIR (migo_install_from=deb; tests/deb/deb_test.sh checks the package
# itself), installed with apt as the role does on a real host; it stays
# installed afterwards, as on any host the role served.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/.." && pwd)
source "$here/postfix/assert.sh"
source "$here/postfix/harness.sh"
BUILD=$(cd "$1" && pwd)
mode=${2:-build}
debdir=${3:-}
[ "$(id -u)" -eq 0 ] || { echo "role_test: needs root (skipped)"; exit 77; }
command -v ansible-playbook >/dev/null || { echo "role_test: ansible-playbook missing"; exit 1; }

cd "$repo/ansible"
if [ "$mode" = build ]; then  # (once is enough)
  # No path: ansible-lint then discovers the whole project. (Given ".", it
  # linted one file of eighteen and missed an error for a wave.) The count
  # it reports must cover every YAML file git tracks here.
  lint=$(NO_COLOR=1 ansible-lint --offline --profile production 2>&1)
  lint_rc=$?
  check "ansible-lint --offline --profile production is clean" test $lint_rc = 0
  [ $lint_rc = 0 ] || echo "$lint" | tail -30
  linted=$(sed -n 's/.* on \([0-9]*\) files\.$/\1/p' <<<"$lint" | tail -1)
  tracked=$(git ls-files '*.yml' '*.yaml' | wc -l)
  check "ansible-lint read every YAML file of the role ($linted >= $tracked)" test "${linted:-0}" -ge "$tracked"
  # The role's README lists every variable from argument_specs.yml.
  readme=$(python3 "$repo/scripts/role-readme.py" --check 2>&1)
  check "the role's README is current with its argument_specs and defaults" test -z "$readme"
  [ -z "$readme" ] || echo "$readme"
fi

migo_role_new role
if [ "$mode" = deb ]; then
  deb=$(ls "$debdir"/migo-relay_*.deb 2>/dev/null | head -1)
  check "deb_package left the package in $debdir" test -n "$deb"
  [ -n "$deb" ] || { report; exit 1; }
  # apt does not replace an installed package of the same version: without
  # this, a package left by an earlier run would be what gets tested.
  dpkg --purge migo-relay >/dev/null 2>&1 || true
  # This run also overrides the role's TLS defaults, and adds a main.cf key.
  migo_role_vars "migo_install_from: deb
migo_deb: $deb
migo_tls_protocols: '>=TLSv1.3'
migo_main_cf_extra: {smtpd_tls_received_header: 'yes'}" /usr
else
  migo_role_vars "migo_build_dir: $BUILD" "$base/prefix"
fi
# The demo certificate (migo_tls_self_signed) instead of the harness's.
if [ "$mode" = build ]; then
  sed -i "s|^migo_tls_cert_file: .*|migo_tls_cert_file: $base/tls/cert.pem|; s|^migo_tls_key_file: .*|migo_tls_key_file: $base/tls/key.pem|" "$base/vars.yml"
  echo "migo_tls_self_signed: true" >>"$base/vars.yml"
fi
play() { role_play "$@"; }

first=$(play)
check_contains "first run succeeds" "$first" "failed=0"
[ -n "$(grep -o 'failed=[1-9]' <<<"$first")" ] && echo "$first" | tail -40
check_contains "the play ends with the DNS records still to publish: none yet" "$first" "no domain waits for DNS"
# A domain added between plays: the next play's last word is its records.
"$prefix/sbin/migoctl" --db "$base/store" --dkim-keys "$base/etc/dkim" workspace create dnsws --plan 10k >/dev/null
"$prefix/sbin/migoctl" --db "$base/store" --dkim-keys "$base/etc/dkim" domain add dnsws waiting.example >/dev/null
second=$(play)
check_contains "  a pending domain's records are shown at the end of the next play" "$second" \
  "_migo-verify.waiting.example. 3600 IN TXT"
check_contains "  with its DKIM key" "$second" "._domainkey.waiting.example. 3600 IN TXT"
check_contains "  and the return path's MX naming the relay host" "$second" "bounce.waiting.example. 3600 IN MX 10 "
"$prefix/sbin/migoctl" --db "$base/store" --dkim-keys "$base/etc/dkim" domain remove dnsws waiting.example >/dev/null
check_contains "second run changes nothing" "$second" "changed=0"
check_contains "second run succeeds" "$second" "failed=0"
grep -q "changed=0" <<<"$second" || grep -B2 -A8 "^changed:" <<<"$second" | head -40
drift=$(play --check --diff)
check_contains "--check --diff: no drift" "$drift" "changed=0"
grep -q "changed=0" <<<"$drift" || echo "$drift" | grep -B3 -A12 "^changed:" | head -40

check "postfix check passes on what the role wrote" postfix -c "$PF_ETC" check
tls_with() { openssl s_client -connect "127.0.0.1:$sub_port" -starttls smtp "$1" </dev/null 2>&1; }
if [ "$mode" = deb ]; then
  check "migo_tls_protocols reaches main.cf" test "$(postconf -c "$PF_ETC" -h smtpd_tls_protocols)" = ">=TLSv1.3"
  check "migo_main_cf_extra reaches main.cf" test "$(postconf -c "$PF_ETC" -h smtpd_tls_received_header)" = yes
  check_lacks "  smtpd then refuses TLS 1.2" "$(tls_with -tls1_2)" "New, TLSv1.2"
  check_contains "  and speaks TLS 1.3" "$(tls_with -tls1_3)" "New, TLSv1.3"
else
  check_contains "by default smtpd speaks TLS 1.2" "$(tls_with -tls1_2)" "New, TLSv1.2"
fi
check_contains "main.cf has the policy service" "$(postconf -c "$PF_ETC" -h migo_policy)" \
  "check_policy_service { unix:migo-policyd/policy, default_action=DEFER }"
check_contains "master.cf has the submission service" "$(postconf -c "$PF_ETC" -M "127.0.0.1:$sub_port/inet")" \
  "smtpd_tls_security_level=encrypt"
check_contains "sasl/smtpd.conf names the plugin and the store" "$(cat "$PF_ETC/sasl/smtpd.conf")" "migo_db: $base/store"
# Bounces to return paths: accepted for bounce.* and piped to migoctl
# ingest-dsn (milter_e2e sends one through the harness's equivalent).
check_contains "master.cf pipes bounces to migoctl ingest-dsn" "$(postconf -c "$PF_ETC" -M migo-bounce/unix)" \
  "ingest-dsn --key"
rp_transport=$(postconf -c "$PF_ETC" -h transport_maps)
check_contains "a return path goes to the pipe" "$(postmap -c "$PF_ETC" -q "babc234@bounce.example.com" "$rp_transport")" "migo-bounce:"
check "anything else does not" test -z "$(postmap -c "$PF_ETC" -q "someone@example.com" "$rp_transport")"
check "bounce domains are accepted, others not" test "$(postmap -c "$PF_ETC" -q bounce.example.com "$(postconf -c "$PF_ETC" -h relay_domains)")" = OK
check "the tag key is 0640 root:migo" test "$(stat -c '%a %U:%G' "$base/etc/tag.key")" = "640 root:migo"
check "the store is group migo" test "$(stat -c '%G' "$base/store/data.mdb")" = migo
if [ "$mode" = deb ]; then
  same_binary() { [ "$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/sbin/migo-milter | sha256sum)" = \
                    "$(sha256sum </usr/sbin/migo-milter)" ]; }
  check "the installed migo-milter is the package's just built" same_binary
fi
for d in migo-policyd migo-milter migo-statd; do
  check "$d runs" start-stop-daemon --status --pidfile "$base/run/$d.pid"
  check "$d runs unprivileged" test "$(ps -o user= -p "$(cat "$base/run/$d.pid")")" = "$d"
  check_contains "$d logs to migo_daemon_log_dir as well" "$(cat "$base/log/$d.log" 2>&1)" "$d["
done

if [ "$mode" = build ]; then
  sans=$(openssl x509 -in "$base/tls/cert.pem" -noout -ext subjectAltName 2>&1)
  check_contains "the self-signed certificate names the submission address" "$sans" "IP Address:127.0.0.1"
  check_contains "the self-signed certificate names the host" "$sans" "DNS:"
  verify=$(openssl s_client -connect "127.0.0.1:$sub_port" -starttls smtp -CAfile "$base/tls/cert.pem" \
    -verify_ip 127.0.0.1 -verify_return_error </dev/null 2>&1)
  check_contains "a client that trusts it verifies it by address" "$verify" "Verify return code: 0 (ok)"
fi

m() { "$prefix/sbin/migoctl" --db "$base/store" --dkim-keys "$base/etc/dkim" "$@"; }
m workspace create acme --plan 10k >/dev/null
m domain add acme example.com >/dev/null && m domain verify --manual acme example.com >/dev/null
migo_new_account "$prefix/sbin/migoctl" "$base/store" acme "Role App" U U_PW
send() {  # send PORT [swaks args]
  local port=$1; shift
  swaks --server 127.0.0.1 --port "$port" --ehlo client.test --timeout 20 --auth PLAIN \
    --auth-user "$U" --from app@example.com --to rcpt@dest.test "$@" 2>&1
}
out=$(send "$sub_port" --tls --auth-password "$U_PW" --header "From: app@example.com" --header "Subject: via 587")
check_contains "submission: STARTTLS + AUTH 235" "$out" "235 2.7.0 Authentication successful"
check_contains "submission: queued" "$out" "Ok: queued"
out=$(send "$smtps_port" --tlsc --auth-password "$U_PW" --header "From: app@example.com" --header "Subject: via 465")
check_contains "smtps: TLS on connect + AUTH, queued" "$out" "Ok: queued"
out=$(send "$sub_port" --tls --auth-password wrong-password)
check_contains "submission: a wrong password is 535" "$out" "535 5.7.8"
out=$(swaks --server 127.0.0.1 --port "$sub_port" --ehlo client.test --quit-after EHLO 2>&1)
check_lacks "submission: no AUTH offered before STARTTLS" "$out" "250-AUTH"
out=$(send "$sub_port" --tls --auth-password "$U_PW" --header "From: app@other.org")
check_contains "submission: an unverified From is refused by the milter" "$out" "550 5.7.1 From domain other.org"
out=$(swaks --server 127.0.0.1 --port "$sub_port" --ehlo client.test --tls --from a@example.com --to rcpt@dest.test 2>&1)
check_contains "submission: no relaying without AUTH" "$out" "554 5.7.1"
check "both messages reach the sink" pf_wait_sink 2
check_contains "the delivered message carries the signed tag" "$(cat "$PF_DIR"/sink/*)" "X-Migo-Tag: v=1;"
for i in $(seq 1 50); do
  [ "$(m --json account show "$U" | python3 -c 'import json,sys; print(json.load(sys.stdin)["statistics"]["delivered"])')" = 2 ] && break
  sleep 0.2
done
stats=$(m --json account show "$U")
check_contains "migo-statd counted both deliveries" "$stats" '"delivered": 2'
check_contains "the policy daemon counted both messages" "$stats" '"total_sent": 2'

# Issue 13, item 7: rotation. The role's logrotate rules keep the log
# readable by migo-statd; `postfix logrotate` does not, and that is reported.
delivered() { m --json account show "$U" | python3 -c 'import json,sys; print(json.load(sys.stdin)["statistics"]["delivered"])'; }
wait_delivered() { for i in $(seq 1 100); do [ "$(delivered)" = "$1" ] && return 0; sleep 0.1; done; return 1; }
if [ "$mode" = build ]; then
  out=$(logrotate -f -s "$base/logrotate.state" "$base/logrotate.conf" 2>&1)
  check "logrotate with the role's rules succeeds" test $? = 0
  [ -z "$out" ] || echo "$out" | tail -5
  check "the new log is root:adm 0640" test "$(stat -c '%a %U:%G' "$PF_DIR/maillog")" = "640 root:adm"
  check "the old one is kept uncompressed as maillog.1 (delaycompress)" test -f "$PF_DIR/maillog.1"
  out=$(send "$sub_port" --tls --auth-password "$U_PW" --header "From: app@example.com" --header "Subject: after logrotate")
  check_contains "mail after logrotate: queued" "$out" "Ok: queued"
  check "migo-statd counts it from the new file" wait_delivered 3
  check "stats --check: OK" "$prefix/sbin/migoctl" --db "$base/store" stats --check
  postfix -c "$PF_ETC" logrotate >/dev/null 2>&1
  check "postfix logrotate re-creates the log root:root 0600" \
    test "$(stat -c '%a %U:%G' "$PF_DIR/maillog" 2>/dev/null)" = "600 root:root"
  send "$sub_port" --tls --auth-password "$U_PW" --header "From: app@example.com" --header "Subject: unreadable" >/dev/null
  for i in $(seq 1 100); do
    "$prefix/sbin/migoctl" --db "$base/store" stats --check >/dev/null; rc=$?
    [ $rc = 2 ] && break; sleep 0.1
  done
  check "after postfix logrotate, stats --check is CRITICAL (exit 2)" test "$rc" = 2
  check_contains "migo-statd says it cannot read the log" "$(cat "$base/log/migo-statd.log")" "Permission denied (will retry)"

  # Tracking: migo_tracking_host turns it on — the milter's options, the
  # keys, migo-trackd, and nginx's site in front of it.
  track_port=$(pf_free_port); https_port=$(pf_free_port)
  site=/etc/nginx/sites-enabled/migo-tracking-roletest.conf
  # A workspace's own tracking domain, with a certificate of its own.
  mkdir -p "$base/owntls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=track.own.test" -addext "subjectAltName=DNS:track.own.test" \
    -keyout "$base/owntls/key.pem" -out "$base/owntls/cert.pem" 2>/dev/null
  cat >>"$base/vars.yml" <<VARS
migo_tracking_host: track.role.test
migo_trackd_listen: inet:127.0.0.1:$track_port
migo_tracking_https_port: $https_port
migo_nginx_site: $site
migo_tracking_domains:
  - {name: track.own.test, certificate: $base/owntls/cert.pem, key: $base/owntls/key.pem}
VARS
  tracked_play=$(play)
  check_contains "with migo_tracking_host the play succeeds" "$tracked_play" "failed=0"
  [ -n "$(grep -o 'failed=[1-9]' <<<"$tracked_play")" ] && echo "$tracked_play" | grep -B2 -A12 "FAILED\|fatal" | head -40
  again=$(play)
  check_contains "  and changes nothing the next time" "$again" "changed=0"
  grep -q "changed=0" <<<"$again" || grep -B2 -A8 "^changed:" <<<"$again" | head -40
  check "  the tracking keys are 0640 root:migo" test "$(stat -c '%a %U:%G' "$base/etc/tracking.keys")" = "640 root:migo"
  check "  nginx has the site, and its configuration is valid" nginx -t -q
  m tracking set acme --opens on --clicks html >/dev/null
  printf 'From: app@example.com\r\nTo: rcpt@dest.test\r\nSubject: tracked\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><a href="https://example.com/a?b=1&amp;c=2">go</a></body></html>\r\n' \
    >"$base/tracked.eml"
  before=$(find "$PF_DIR/sink" -type f | wc -l)
  out=$(send "$sub_port" --tls --auth-password "$U_PW" --data "$base/tracked.eml")
  check_contains "a message of a tracked workspace: queued" "$out" "Ok: queued"
  check "  delivered" pf_wait_sink $((before + 1))
  link=$(grep -h -o 'https://track\.role\.test/c/[A-Za-z0-9_-]*' "$PF_DIR"/sink/* | head -1)
  check "  its link points at the tracking host" test -n "$link"
  got=$(curl -sk --retry 20 --retry-connrefused --retry-delay 0 --max-time 10 -o /dev/null -w '%{http_code} %{redirect_url}' \
    --resolve "track.role.test:$https_port:127.0.0.1" "${link/track.role.test/track.role.test:$https_port}")
  check_contains "  through the role's nginx and migo-trackd: 302 to the exact URL" "$got" "302 https://example.com/a?b=1&c=2"
  click_events() { test "$(m --json account show "$U" | python3 -c 'import json,sys; s=json.load(sys.stdin)["statistics"]; print(s["clicks"] + s["machine_clicks"])')" = "$1"; }
  check "  counted once (a scanner's, if within 10 s of sending)" pf_eventually click_events 1
  # The own tracking domain: nginx answers with its certificate, which a
  # client verifies for that name, and passes its links to migo-trackd.
  own_subject=$(openssl s_client -connect "127.0.0.1:$https_port" -servername track.own.test \
    -CAfile "$base/owntls/cert.pem" -verify_hostname track.own.test -verify_return_error </dev/null 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null)
  check_contains "  an own tracking domain gets its own certificate, verified for its name" "$own_subject" "CN = track.own.test"
  got=$(curl -s --cacert "$base/owntls/cert.pem" --max-time 10 -o /dev/null -w '%{http_code} %{redirect_url}' \
    --resolve "track.own.test:$https_port:127.0.0.1" "${link/track.role.test/track.own.test:$https_port}")
  check_contains "  its links reach migo-trackd: 302 to the exact URL" "$got" "302 https://example.com/a?b=1&c=2"
  check "  and count" pf_eventually click_events 2
  rm -f "$site"
  nginx -s quit 2>/dev/null || true
fi
report
