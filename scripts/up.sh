#!/usr/bin/env bash
# up.sh — the README's main command. On a fresh Debian 12 machine, as root:
# install what is needed, build migo-relay's Debian package, apply the
# ansible role to this machine with it (Postfix on loopback, submission 587
# and SMTPS 465, relaying to a local smtp-sink that stands in for the
# internet), create a demo workspace with a verified domain and one SMTP
# account, print its credentials once, send a message through 587 with
# STARTTLS + AUTH, show it delivered to the sink and counted. Safe to run
# again: the role changes nothing the second time, and the demo account
# gets a fresh password (the old one is never shown again).
#   up.sh [--deb FILE]    FILE: a package built already (skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
deb=
case "${1:-}" in
  --deb) deb=$(realpath "${2:?up.sh: --deb needs the .deb file}") ;;
  "") ;;
  *) echo "usage: up.sh [--deb FILE]" >&2; exit 2 ;;
esac

bash scripts/install-deps.sh

if [ -z "$deb" ]; then
  echo "=== build the Debian package (scripts/build-deb.sh; the log: build/deb/build.log)"
  deb=$(bash scripts/build-deb.sh build/deb)
fi
echo "  $deb"

# With systemd, Postfix logs to the journal (a stock Debian 12 has no
# rsyslog) and migo-statd reads it there: the role's default. Without an
# init system there is no journald either, so Postfix writes its own log
# file (maillog_file) and migo-statd follows that.
if [ -d /run/systemd/system ]; then init=systemd; else init=none; fi
maillog=()
[ $init = systemd ] || maillog=(-e migo_postfix_maillog_file=/var/log/postfix.log)

# The stand-in for the internet: an SMTP sink on loopback that keeps every
# message it receives in /var/lib/migo-demo/sink.
sink_dir=/var/lib/migo-demo/sink
install -d -o nobody -m 0755 "$sink_dir"
sink=(/usr/sbin/smtp-sink -u nobody -d "$sink_dir/%Y%m%d%H/%M." 127.0.0.1:2525 100)
if [ $init = systemd ]; then
  systemctl is-active --quiet migo-demo-sink ||
    systemd-run --quiet --unit=migo-demo-sink --description="migo-relay demo: the internet's stand-in (smtp-sink)" "${sink[@]}"
else
  install -d -m 0755 /run/migo
  start-stop-daemon --start --quiet --oknodo --background --make-pidfile --pidfile /run/migo/demo-sink.pid \
    --exec "${sink[0]}" -- "${sink[@]:1}"
fi

echo "=== ansible role (init system: $init)"
cd "$repo/ansible"
log=/var/log/migo-up-ansible.log
if ! ANSIBLE_NOCOLOR=1 ansible-playbook -i localhost, -c local site.yml \
  -e migo_install_from=deb -e migo_deb="$deb" -e migo_init=$init \
  -e migo_postfix_hostname=relay.localhost -e migo_postfix_inet_interfaces=loopback-only \
  -e "migo_postfix_relayhost=[127.0.0.1]:2525" "${maillog[@]}" \
  -e migo_tls_self_signed=true -e migo_tls_cert_file=/etc/migo/tls/cert.pem \
  -e migo_tls_key_file=/etc/migo/tls/key.pem >"$log" 2>&1; then
  tail -40 "$log" >&2
  echo "up.sh: the ansible role failed; the whole run is in $log" >&2
  exit 1
fi
grep -A1 '^PLAY RECAP' "$log" | tail -1 | sed 's/^/  /'
echo "  (the whole run: $log)"
cd "$repo"

echo "=== demo workspace and account"
m() { migoctl "$@"; }
m workspace show demo >/dev/null 2>&1 || m workspace create demo --plan 10k
m domain list demo 2>/dev/null | grep -q '^example.com ' || m domain add demo example.com
m domain verify --manual demo example.com >/dev/null
user=$(m --json account list demo | python3 -c '
import json, sys
for a in json.load(sys.stdin)["accounts"]:
    if a["label"] == "Demo App": print(a["username"]); break')
if [ -n "$user" ]; then
  out=$(m --json account reset-password "$user")
else
  out=$(m --json account create demo --name "Demo App")
fi
read -r user pass < <(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["username"], d["password"])' <<<"$out")
cat <<CRED

  SMTP server:  127.0.0.1, port 587 (STARTTLS) or 465 (TLS)
  Username:     $user
  Password:     $pass
  (shown once: it is stored only as a verifier; reset it with
   migoctl account reset-password $user)

CRED

echo "=== a test message through port 587 (STARTTLS + AUTH PLAIN)"
subject="migo-relay demo $(date -u +%Y-%m-%dT%H:%M:%SZ)"
swaks --server 127.0.0.1 --port 587 --tls --auth PLAIN --auth-user "$user" --auth-password "$pass" \
  --from app@example.com --to someone@example.net --header "From: Demo App <app@example.com>" \
  --header "Subject: $subject" --body "Sent by scripts/up.sh." 2>&1 |
  grep -E '^(<~? *(235|250 2\.0\.0)|===.*TLS started|\*\*\*)' | sed 's/^/  /'
unset pass

delivered=
for i in $(seq 1 100); do
  delivered=$(grep -rl "^Subject: $subject" "$sink_dir" 2>/dev/null | head -1) && [ -n "$delivered" ] && break
  sleep 0.1
done
if [ -z "$delivered" ]; then
  where="/var/log/postfix.log"; [ $init = systemd ] && where="journalctl -t postfix/smtp"
  echo "up.sh: the message did not reach the sink; see $where" >&2
  exit 1
fi
echo "  delivered to the local sink: $delivered"
grep -m1 '^X-Migo-Tag:' "$delivered" | sed 's/^/  /'

# migo-statd counts the delivery from Postfix's log within a second or two:
# wait (10 s at most) until every message the account sent is delivered —
# on a second run the account already has earlier ones.
for i in $(seq 1 50); do
  m --json account show "$user" | python3 -c 'import json,sys
s = json.load(sys.stdin)["statistics"]
sys.exit(0 if s["delivered"] >= s["total_sent"] else 1)' && break
  sleep 0.2
done
echo "=== migoctl account show $user"
m account show "$user"
