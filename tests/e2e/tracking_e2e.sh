#!/usr/bin/env bash
# tracking_e2e.sh — open and click tracking through a real Postfix: migo-milter
# (with --tracking-host) rewrites an HTML newsletter's links and adds the
# pixel before it signs; the copy at smtp-sink is checked by independent
# code: python3-dkim verifies the signature, Python's email package decodes
# the parts, and a few lines of Python check each token's HMAC and read the
# original URL back out of it.
# Then the links are followed through nginx (TLS) to migo-trackd.
#   tracking_e2e.sh MIGOCTL MIGO_MILTER MIGO_POLICYD LIBMIGO_SO MIGO_TRACKD
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/postfix/assert.sh"
source "$here/postfix/harness.sh"

MIGOCTL=$1
MILTER=$2
POLICYD=$3
PLUGIN=$4
TRACKD=$5
migo_e2e_begin tracking "$PLUGIN" "$MIGOCTL"
m workspace create acme --plan 10k >/dev/null
m domain add acme example.com >/dev/null && m domain verify --manual acme example.com >/dev/null
migo_new_account "$MIGOCTL" "$store" acme "App" A A_PW
A_ID=$(m --json account show "$A" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
track_keys=$base/tracking.keys
printf '# test keys\n3 %s\n' "$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')" >"$track_keys"
chmod 600 "$track_keys"; chown nobody "$track_keys"
MIGO_MILTER_ARGS="--tracking-host track.relay.test --tracking-keys $track_keys" migo_start_modules "$MILTER" "$POLICYD"

pf_new tracking n
pf_sasl_migo
migo_wire_modules
pf_conf "local_header_rewrite_clients ="
pf_start || { check "postfix starts" false; report; exit 1; }

# The newsletter: multipart/alternative, HTML in quoted-printable with a
# link whose query has &amp;, a mailto link, a no-track link, and the
# List-Unsubscribe URL.
newsletter() {  # newsletter SUBJECT [EXTRA HEADER]
  /usr/bin/python3 - "$1" "${2:-}" <<'PY'
import sys
from email.message import EmailMessage
from email.policy import SMTP
m = EmailMessage(policy=SMTP)
m["From"] = "News <news@example.com>"
m["To"] = "rcpt@dest.test"
m["Subject"] = sys.argv[1]
m["List-Unsubscribe"] = "<https://example.com/unsub?u=1>"
if sys.argv[2]:
    name, value = sys.argv[2].split(":", 1)
    m[name] = value.strip()
m.set_content("Angebote: https://example.com/offers?a=1&b=2\n")
m.add_alternative("""<html><body><h1>Gr\u00fc\u00dfe</h1>
<p><a href="https://example.com/offers?a=1&amp;b=2#top">Offers</a></p>
<p><a href="mailto:help@example.com">Help</a> <a migo:no-track href="https://example.com/privacy">Privacy</a></p>
<p><a href="https://example.com/unsub?u=1">Unsubscribe</a></p>
</body></html>
""", subtype="html", cte="quoted-printable")
sys.stdout.buffer.write(m.as_bytes())
PY
}
send_file() {  # send_file FILE
  pf_swaks --tls --auth PLAIN --auth-user "$A" --auth-password "$A_PW" --from news@example.com \
    --to rcpt@dest.test --data "$1"
}
sink_file_of() { grep -l "$1" "$PF_DIR"/sink/* 2>/dev/null | head -1; }
# inspect FILE: what the sink's copy holds, as independent code reads it.
inspect() {
  /usr/bin/python3 - "$1" "$track_keys" "$A_ID" <<'PY'
import base64, email, hashlib, hmac, re, sys
from email.policy import default
raw = open(sys.argv[1], "rb").read()
keys = {}
for line in open(sys.argv[2]):
    line = line.split("#")[0].split()
    if len(line) == 2:
        keys[int(line[0])] = base64.urlsafe_b64decode(line[1] + "=" * (-len(line[1]) % 4))
msg = email.message_from_bytes(raw, policy=default)
print("x-migo-track headers:", len(msg.get_all("X-Migo-Track") or []))
html = msg.get_body(("html",)).get_content()
plain = msg.get_body(("plain",)).get_content()
print("plain untouched:", "https://example.com/offers?a=1&b=2" in plain)
def check(token):
    b = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    body, mac = b[:-16], b[-16:]
    if b[0] != 1 or b[1] not in keys: return "bad version or key"
    if not hmac.compare_digest(hmac.new(keys[b[1]], body, hashlib.sha256).digest()[:16], mac): return "bad mac"
    kind = chr(b[2]); account = b[3:11].hex(); n = b[15]; qid = b[16:16 + n].decode()
    rest = body[16 + n:]
    if kind == "c": return "click account=%s qid=%s link=%d url=%s" % (account, qid, int.from_bytes(rest[:2], "big"), rest[2:].decode())
    return "open account=%s qid=%s" % (account, qid)
for kind, token in re.findall(r'https://track\.relay\.test/(c|o)/([A-Za-z0-9_-]+)', html):
    print(check(token))
print("mailto kept:", 'href="mailto:help@example.com"' in html)
print("no-track kept, marker gone:", 'href="https://example.com/privacy"' in html and "no-track" not in html)
print("unsubscribe kept:", 'href="https://example.com/unsub?u=1"' in html)
print("umlauts:", "Grüße" in html)
PY
}

newsletter "tracked-off" >"$PF_DIR/off.eml"
out=$(send_file "$PF_DIR/off.eml")
check_contains "tracking off (the default): queued" "$out" "Ok: queued"
check "  delivered" pf_wait_sink 1
check_lacks "  and nothing rewritten" "$(cat "$(sink_file_of "Subject: tracked-off")")" "track.relay.test"

m tracking set acme --opens on --clicks html >/dev/null
newsletter "tracked-on" >"$PF_DIR/on.eml"
out=$(send_file "$PF_DIR/on.eml")
check_contains "tracking on: queued" "$out" "Ok: queued"
qid=$(sed -n 's/.*250 2.0.0 Ok: queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$out" | head -1)
check "  delivered" pf_wait_sink 2
f=$(sink_file_of "Subject: tracked-on")
seen=$(inspect "$f")
echo "$seen" | sed 's/^/    | /'
check_contains "the link is a click token naming the account, the queue id and the exact URL" "$seen" \
  "click account=$A_ID qid=$qid link=0 url=https://example.com/offers?a=1&b=2#top"
check_contains "the open pixel names the account and message" "$seen" "open account=$A_ID qid=$qid"
check "  and those are all the tokens (2)" test "$(grep -c -E '^(click|open) ' <<<"$seen")" = 2
check_lacks "every token's HMAC verifies" "$seen" "bad"
check_contains "mailto left alone" "$seen" "mailto kept: True"
check_contains "migo:no-track honoured and removed" "$seen" "no-track kept, marker gone: True"
check_contains "the List-Unsubscribe URL left alone" "$seen" "unsubscribe kept: True"
check_contains "the plain-text part untouched (clicks html)" "$seen" "plain untouched: True"
check_contains "the charset survives re-encoding" "$seen" "umlauts: True"
mapfile -t dkim_records < <(dns_record_args acme example.com dkim)
dns_start "${dkim_records[@]}"
check_contains "the rewritten message's DKIM signature verifies (python3-dkim)" \
  "$(/usr/bin/python3 "$here/e2e/dkim_verify.py" "$f" "$DNS_ADDR" 2>&1)" "ok d=example.com"
# Every byte outside the HTML part is as sent: headers (but the ones the
# relay adds), the plain part, the boundaries.
same=$(/usr/bin/python3 - "$PF_DIR/on.eml" "$f" <<'PY'
import re, sys
sent = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
got = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n")
# (smtp-sink ends each copy with blank lines of its own: not compared)
got_body = got.split(b"\n\n", 1)[1].rstrip(b"\n")
sent_body = sent.split(b"\n\n", 1)[1].rstrip(b"\n")
cut = lambda b: re.sub(rb"Content-Type: text/html.*?\n--", b"HTML\n--", b, flags=re.S)
print("same outside the HTML part:", cut(sent_body) == cut(got_body))
if cut(sent_body) != cut(got_body):
    import difflib
    for l in difflib.unified_diff(cut(sent_body).decode("utf-8", "replace").splitlines(),
                                  cut(got_body).decode("utf-8", "replace").splitlines(), lineterm="", n=1):
        print("   ", l)
PY
)
check_contains "every byte outside the HTML part is as sent" "$same" "True"

# Following the links: nginx terminates TLS (the harness's certificate) and
# passes /o/ and /c/ to migo-trackd, as the role configures it.
trackd_port=$(pf_free_port)
"$TRACKD" --db "$store" --key "$track_keys" --listen "inet:127.0.0.1:$trackd_port" --scanner-window 0 \
  --user nobody --foreground 2>"$base/trackd.log" &
MIGO_PIDS+=("$!")
nginx_port=$(pf_free_port)
mkdir -p "$base/nginx"
chown nobody "$base/nginx"
cat >"$base/nginx.conf" <<NGINX
daemon off;
user nobody nogroup;
pid $base/nginx/nginx.pid;
error_log $base/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $base/nginx/body;
  proxy_temp_path $base/nginx/proxy;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $PF_ETC/cert.pem;
    ssl_certificate_key $PF_ETC/key.pem;
    location ~ ^/[oc]/ {
      proxy_pass http://127.0.0.1:$trackd_port;
      proxy_set_header X-Real-IP \$remote_addr;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location / { return 404; }
  }
}
NGINX
/usr/sbin/nginx -c "$base/nginx.conf" -e "$base/nginx/error.log" &
MIGO_PIDS+=("$!")
link=$(grep -o 'https://track\.relay\.test/c/[A-Za-z0-9_-]*' <<<"$(/usr/bin/python3 -c '
import email, sys
from email.policy import default
print(email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=default).get_body(("html",)).get_content())' "$f")" | head -1)
via_nginx() {  # via_nginx METHOD URL -> "CODE LOCATION"
  curl -sk --retry 20 --retry-connrefused --retry-delay 0 --max-time 10 -X "$1" -A "Mozilla/5.0 (X11; Linux) Firefox/120" \
    --resolve "track.relay.test:$nginx_port:127.0.0.1" -o /dev/null -w '%{http_code} %{redirect_url}' \
    "${2/track.relay.test/track.relay.test:$nginx_port}"
}
clicks() { m --json account show "$A" | python3 -c 'import json,sys; s=json.load(sys.stdin)["statistics"]; print(s["clicks"], s["unique_clicks"], s["machine_clicks"], s["opens"])'; }
counts_are() { test "$(clicks)" = "$1"; }
pixel=$(grep -o 'https://track\.relay\.test/o/[A-Za-z0-9_-]*' <<<"$(/usr/bin/python3 -c '
import email, sys
from email.policy import default
print(email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=default).get_body(("html",)).get_content())' "$f")" | head -1)
# migo-trackd answers before it commits: a count is waited for, and an
# absence is judged once a later event (the pixel, below) is counted — the
# events are committed in the order they were answered.
check_contains "through nginx over TLS, the link is a 302 to the exact original URL" "$(via_nginx GET "$link")" \
  "302 https://example.com/offers?a=1&b=2#top"
check "  and one click is counted for the account" pf_eventually counts_are "1 1 0 0"
via_nginx HEAD "$link" >/dev/null
tampered=${link%?}$([ "${link: -1}" = A ] && echo B || echo A)
check_contains "a tampered token is 404" "$(via_nginx GET "$tampered")" "404"
check_contains "the open pixel through nginx is 200" "$(via_nginx GET "$pixel")" "200"
check "  the open counted; the HEAD and the tampered token before it counted nothing" pf_eventually counts_are "1 1 0 1"
via_nginx GET "$link" >/dev/null
check "a second click: counted, not unique" pf_eventually counts_are "2 1 0 1"

newsletter "opt-out" "X-Migo-Track: opens=no, clicks=no" >"$PF_DIR/optout.eml"
out=$(send_file "$PF_DIR/optout.eml")
check "opt-out header: delivered" pf_wait_sink 3
f3=$(sink_file_of "Subject: opt-out")
check_lacks "  nothing rewritten" "$(cat "$f3")" "track.relay.test"
check_lacks "  and the header removed" "$(cat "$f3")" "X-Migo-Track"

mlog=$(cat "$milter_log")
check_contains "the milter logs what it tracked" "$mlog" "tracked: 1 links, open pixel"
report
