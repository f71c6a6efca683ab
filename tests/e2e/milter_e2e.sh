#!/usr/bin/env bash
# milter_e2e.sh — migo-milter (with migo-policyd and the SASL plugin) behind
# a real Postfix smtpd, driven by swaks; delivered messages read at smtp-sink.
#   milter_e2e.sh MIGOCTL MIGO_MILTER MIGO_POLICYD LIBMIGO_SO
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/postfix/assert.sh"
source "$here/postfix/harness.sh"

MIGOCTL=$1
MILTER=$2
POLICYD=$3
PLUGIN=$4
migo_e2e_begin milter "$PLUGIN" "$MIGOCTL"
m workspace create acme --plan 10k >/dev/null
m domain add acme example.com >/dev/null && m domain verify --manual acme example.com >/dev/null
m domain add acme corp.example --include-subdomains --ed25519 >/dev/null &&
  m domain verify --manual acme corp.example >/dev/null
m domain add acme pending.example >/dev/null
migo_new_account "$MIGOCTL" "$store" acme "App" A A_PW
A_ID=$(m --json account show "$A" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
migo_start_modules "$MILTER" "$POLICYD"

pf_new milter n
pf_sasl_migo
migo_wire_modules
pf_conf "local_header_rewrite_clients ="
# (Postfix adds a missing From for clients matching local_header_rewrite_clients,
# by default those on its own interfaces: our loopback client. Production
# clients are remote, so the test must not be "local" either.)
pf_start || { check "postfix starts" false; report; exit 1; }

send() {  # send FROM [swaks args...]
  local from=$1; shift
  pf_swaks --tls --auth PLAIN --auth-user "$A" --auth-password "$A_PW" --from "$from" \
    --to rcpt@dest.test --header "From: $from" "$@"
}
qid_of() { sed -n 's/.*250 2.0.0 Ok: queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$1" | head -1; }
sink_file_of() { grep -l "$1" "$PF_DIR"/sink/* 2>/dev/null | head -1; }
verify_tag() {  # verify_tag FILE -> prints "ok <account id> <queue id>" or "bad"
  python3 - "$1" "$tag_key" <<'PY'
import base64, hashlib, hmac, re, sys
msg = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
head = msg.split("\n\n", 1)[0]
tags = re.findall(r"^X-Migo-Tag:(.*(?:\n[ \t].*)*)", head, re.M | re.I)
if len(tags) != 1: print("bad: %d tags" % len(tags)); sys.exit()
f = dict(p.strip().split("=", 1) for p in re.sub(r"\s+", "", tags[0]).split(";") if p)
data = "v=%s;a=%s;q=%s;t=%s" % (f["v"], f["a"], f["q"], f["t"])
key = open(sys.argv[2], "rb").read()
mac = base64.urlsafe_b64encode(hmac.new(key, data.encode(), hashlib.sha256).digest()).decode().rstrip("=")
print("ok %s %s" % (f["a"], f["q"]) if hmac.compare_digest(mac, f["s"]) else "bad: signature")
PY
}

out=$(send app@example.com --header "Subject: verified")
check_contains "verified From: queued" "$out" "<~  250 2.0.0 Ok: queued"
qid=$(qid_of "$out")
check "delivered to the sink" pf_wait_sink 1
f=$(sink_file_of "Subject: verified")
check_contains "the tag reaches the sink and verifies, naming the account id and queue id" \
  "$(verify_tag "$f")" "ok $A_ID $qid"
check_lacks "the tag never names the username" "$(cat "$f")" "$A"
# The END-OF-MESSAGE commit maps the queue id to the account. Where
# migo-statd runs (the role's instance) it drops the entry when Postfix logs
# "removed", after counting the delivery (logged earlier) to that account.
queue_mapped() {
  mdb_dump -p -s queue "$store" | grep -q "$qid" && return 0
  [ -n "${MIGO_ROLE_UP:-}" ] &&
    [ "$(m --json account show "$A" | python3 -c 'import json,sys; print(json.load(sys.stdin)["statistics"]["delivered"])')" -ge 1 ]
}
check "the queue map holds the message (or statd counted it delivered)" queue_mapped

# Several messages in one session (queue workers keep sessions open): each
# is accepted and signed, not only the first.
multi=$(/usr/bin/python3 - "$PF_PORT" "$A" "$A_PW" <<'PY'
import smtplib, ssl, sys
port, u, p = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port, timeout=20); s.ehlo("c.test")
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx); s.ehlo("c.test"); s.login(u, p)
for i in range(3):
    try:
        s.sendmail("app@example.com", ["rcpt@dest.test"], "From: app@example.com\r\nSubject: same-session %d\r\n\r\nhi\r\n" % i)
        print("accepted")
    except smtplib.SMTPException as e:
        print("refused", e)
s.quit()
PY
)
check "three messages in one session: all accepted" test "$(grep -c '^accepted' <<<"$multi")" = 3
check "  and each delivered" pf_wait_sink 4
for i in 1 2; do
  check_contains "  message $((i + 1)) of the session is signed" "$(cat "$(sink_file_of "Subject: same-session $i")")" "DKIM-Signature:"
done

# DKIM: the message at the sink is signed with example.com's key, and an
# independent verifier (python3-dkim, keys from DNS on loopback) accepts it.
mapfile -t dkim_records < <(dns_record_args acme example.com dkim; dns_record_args acme corp.example dkim)
check "three DKIM records: example.com's RSA key, corp.example's RSA and Ed25519 keys" test "${#dkim_records[@]}" = 3
dns_start "${dkim_records[@]}"
check_contains "signed: DKIM-Signature with d=example.com" "$(cat "$f")" "d=example.com"
check_contains "python3-dkim verifies the signature against DNS" \
  "$(/usr/bin/python3 "$here/e2e/dkim_verify.py" "$f" "$DNS_ADDR" 2>&1)" "ok d=example.com"
sed 's/^Subject: verified/Subject: altered/' "$f" >"$PF_DIR/altered.eml"
check_contains "an altered header breaks it" \
  "$(/usr/bin/python3 "$here/e2e/dkim_verify.py" "$PF_DIR/altered.eml" "$DNS_ADDR" 2>&1)" "bad"
/usr/bin/python3 -c 'import sys; m=open(sys.argv[1]).read(); open(sys.argv[2],"w").write(m + "one more line\n")' \
  "$f" "$PF_DIR/longer.eml"
check_contains "an altered body breaks it" \
  "$(/usr/bin/python3 "$here/e2e/dkim_verify.py" "$PF_DIR/longer.eml" "$DNS_ADDR" 2>&1)" "bad"
check "the private key is nowhere in the store" test "$(mdb_dump -a "$store" | grep -c 'PRIVATE')" = 0
out=$(send app@mail.corp.example --header "Subject: signed-subdomain" --body "$(printf 'line one\nline two with trailing spaces   \n\n\n')")
check_contains "subdomain From: queued" "$out" "Ok: queued"
check "delivered to the sink" pf_wait_sink 5
f2=$(sink_file_of "Subject: signed-subdomain")
v2=$(/usr/bin/python3 "$here/e2e/dkim_verify.py" "$f2" "$DNS_ADDR" 2>&1)
check_contains "a subdomain's mail is signed by the domain added with --include-subdomains" "$v2" "ok d=corp.example"
# corp.example was added with --ed25519: a second signature (RFC 8463),
# which python3-dkim verifies too; and both break on a changed body or a
# changed signed header.
check_contains "  with RSA" "$v2" "a=rsa-sha256"
check_contains "  and with Ed25519" "$v2" "a=ed25519-sha256"
check "  every signature verifies" /usr/bin/python3 "$here/e2e/dkim_verify.py" "$f2" "$DNS_ADDR"
sed 's/^line one/line 1/' "$f2" >"$PF_DIR/altered2.eml"
check_contains "  a changed body breaks every signature" \
  "$(/usr/bin/python3 "$here/e2e/dkim_verify.py" "$PF_DIR/altered2.eml" "$DNS_ADDR" 2>&1 | grep -c '^bad')" "2"
sed 's/^Subject: signed-subdomain/Subject: signed-subdomain!/' "$f2" >"$PF_DIR/altered3.eml"
check_contains "  a changed Subject breaks every signature" \
  "$(/usr/bin/python3 "$here/e2e/dkim_verify.py" "$PF_DIR/altered3.eml" "$DNS_ADDR" 2>&1 | grep -c '^bad')" "2"
# A key the milter cannot read: a temporary failure, never unsigned mail.
key_file=$(ls "$dkim_keys"/example.com/*.pem)
mv "$key_file" "$key_file.away"
out=$(send app@example.com --header "Subject: no-key")
check_contains "unreadable DKIM key: 451, not unsigned mail" "$out" "451 4.3.0 Message signing temporarily unavailable"
mv "$key_file.away" "$key_file"
out=$(send app@example.com --header "Subject: key-back")
check_contains "the key back: queued" "$out" "Ok: queued"

# The return path: an envelope sender outside the workspace's verified
# domains leaves as the relay's own (b<token>@bounce.example.com), and a DSN
# sent there that quotes no headers is attributed to A by that token.
out=$(pf_swaks --tls --auth PLAIN --auth-user "$A" --auth-password "$A_PW" --from bounces@unverified.test \
  --to rcpt@dest.test --header "From: app@example.com" --header "Subject: envelope")
check_contains "unverified envelope sender: queued" "$out" "Ok: queued"
rp_qid=$(qid_of "$out")
check "delivered to the sink" pf_wait_sink 7
fe=$(sink_file_of "Subject: envelope")
rp=$(grep -o 'b[a-z2-7]*@bounce\.example\.com' "$fe" | head -1)
check "the envelope sender became the relay's return path on bounce.example.com" test -n "$rp"
check_lacks "the unverified envelope sender is gone" "$(cat "$fe")" "bounces@unverified.test"
printf '%s\n' "From: MAILER-DAEMON@dest.test" "MIME-Version: 1.0" \
  'Content-Type: multipart/report; report-type=delivery-status; boundary="b"' "" "--b" \
  "Content-Type: message/delivery-status" "" "Reporting-MTA: dns; dest.test" "" \
  "Final-Recipient: rfc822; rcpt@dest.test" "Action: failed" "Status: 5.1.1" "" "--b--" >"$PF_DIR/bare.dsn"
ing=$(m --json ingest-dsn --key "$tag_key" --return-path "$rp" "$PF_DIR/bare.dsn")
check_contains "a DSN quoting no headers is attributed by the return path" "$ing" '"via": "return path"'
check_contains "  to A's message" "$ing" "\"queue_id\": \"$rp_qid\""
check_contains "  and A" "$ing" "\"account\": \"$A\""
forged=$(m --json ingest-dsn --key "$tag_key" --return-path "b${rp:2}" "$PF_DIR/bare.dsn")
check_contains "an altered return path attributes nothing" "$forged" '"tag": "forged"'
# Through Postfix: the receiver's DSN, mailed to the return path, is piped
# to migoctl ingest-dsn and attributed to A's message (once, however often).
if [ -z "${MIGO_ROLE_UP:-}" ]; then
  migo_receive_bounces
  postfix -c "$PF_ETC" reload >/dev/null 2>&1
  # Reports attributed to an account (whatever became of their recipients).
  attributed() {
    m --json stats | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
c = c if isinstance(c, dict) else {x["name"]: x["value"] for x in c}
print(sum(v for k, v in c.items() if k.startswith("reports.dsn.") and k.split(".")[-1] not in ("unattributed", "malformed")))'
  }
  before=$(attributed)
  out=$(swaks --server 127.0.0.1 --port "$PF_PORT" --ehlo mx.dest.test --from "" --to "$rp" \
    --data "$PF_DIR/bare.dsn" --timeout 20 2>&1)
  check_contains "a DSN to the return path: accepted on the relay's port" "$out" "Ok: queued"
  out=$(swaks --server 127.0.0.1 --port "$PF_PORT" --ehlo mx.dest.test --from "" --to someone@elsewhere.test \
    --timeout 20 2>&1)
  check_contains "anything else: not relayed" "$out" "Relay access denied"
  piped() { [ "$(attributed)" -gt "$before" ]; }
  for i in $(seq 1 50); do piped && break; sleep 0.2; done
  check "the DSN was piped to migoctl ingest-dsn and attributed by its return path" piped
  check_contains "  delivered via the migo-bounce service" "$(cat "$PF_DIR/maillog")" "delivered via migo-bounce service"
fi

out=$(send app@other.org --header "Subject: unverified")
check_contains "unverified From: 550 naming the domain" "$out" \
  "550 5.7.1 From domain other.org is not verified for this account's workspace"
out=$(send app@pending.example)
check_contains "added but unverified domain: 550" "$out" "550 5.7.1 From domain pending.example"
out=$(send app@mail.corp.example --header "Subject: subdomain")
check_contains "subdomain of a domain added with --include-subdomains: queued" "$out" "Ok: queued"
out=$(send app@mail.example.com)
check_contains "subdomain of an exact-only domain: 550" "$out" "550 5.7.1 From domain mail.example.com"
out=$(send app@example.com --add-header "From: boss@example.com")
check_contains "two From headers: 550" "$out" "550 5.7.1 Message must have exactly one From header (it has 2)"
out=$(pf_swaks --tls --auth PLAIN --auth-user "$A" --auth-password "$A_PW" --from app@example.com \
  --to rcpt@dest.test --data $'Subject: no from\r\n\r\nbody\r\n')
check_contains "no From header: 550" "$out" "550 5.7.1 Message must have exactly one From header (it has 0)"
out=$(send '"boss@other.org" <app@example.com>' --header "Subject: tricky display")
check_contains "an address-like display name does not count as an address" "$out" "Ok: queued"

forged="X-Migo-Tag: v=1; a=0000000000000001; q=FORGED; t=1; s=AAAA"
out=$(send app@example.com --header "Subject: forged" --add-header "$forged" --add-header "$forged")
check_contains "client-supplied tags: message queued" "$out" "Ok: queued"
check "forged message delivered" pf_wait_sink 10
f=$(sink_file_of "Subject: forged")
check_contains "client-supplied tags removed, ours alone verifies" "$(verify_tag "$f")" "ok $A_ID"
check_lacks "no forged tag survives" "$(cat "$f")" "q=FORGED"

# Counts: the policy counted every message at END-OF-MESSAGE; the milter's
# refusals came after and refunded theirs (the 451 for the unreadable DKIM
# key too). 10 messages were accepted.
hour=$(m --json workspace show acme | python3 -c 'import json,sys; print(json.load(sys.stdin)["usage"]["hour"]["used"])')
check "workspace usage counts exactly the 10 accepted messages" test "$hour" = 10
total=$(m --json account show "$A" | python3 -c 'import json,sys; print(json.load(sys.stdin)["statistics"]["total_sent"])')
check "account total sent is exactly 10" test "$total" = 10

# Clients that quit: after RCPT (nothing may be counted), and right after
# the final dot without waiting for the reply (counted only if queued).
python3 - "$PF_PORT" "$A" "$A_PW" <<'PY'
import smtplib, socket, sys, time
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def session():
    s = smtplib.SMTP("127.0.0.1", port, timeout=20); s.ehlo("client.test")
    import ssl; ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    s.starttls(context=ctx); s.ehlo("client.test"); s.login(user, pw); return s
s = session(); s.mail("app@example.com"); s.rcpt("quit1@dest.test"); s.rcpt("quit2@dest.test")
s.sock.close()                      # gone after RCPT
s = session(); s.mail("app@example.com"); s.rcpt("dot@dest.test"); s.docmd("DATA")
s.send(b"From: app@example.com\r\nSubject: quit after dot\r\n\r\nbye\r\n.\r\n")
s.sock.close()                      # gone right after the dot
time.sleep(2)
PY
pf_wait_sink 11
delivered=$(grep -l "^Subject: quit after dot" "$PF_DIR"/sink/* 2>/dev/null | wc -l)
total=$(m --json account show "$A" | python3 -c 'import json,sys; print(json.load(sys.stdin)["statistics"]["total_sent"])')
check "a client quitting after RCPT is not counted; one quitting after the dot is counted iff queued ($delivered)" \
  test "$total" = $((10 + delivered))

# The milter down: Postfix's milter_default_action = tempfail answers 451.
migo_stop milter
out=$(send app@example.com)
check "milter down: a temporary (4xx) refusal" grep -qE '^<\*\* 4[0-9][0-9] ' <<<"$out"
check_lacks "milter down: nothing queued" "$out" "Ok: queued"

mlog=$(cat "$milter_log")
check_contains "the milter logs its refusals with the queue id" "$mlog" ": reject: $A: From domain other.org not verified; 1 recipients refunded"
check_contains "the milter logs removed client tags" "$mlog" "removed 2 client-supplied tag"
check_lacks "no key material in the log" "$mlog" "$(head -c 32 "$tag_key" | base64)"
check_contains "the milter logs what it signed" "$mlog" "DKIM signed d=example.com s="
check_contains "the milter logs why it could not sign" "$mlog" "DKIM signing failed: DKIM key"
pf_stop
report
