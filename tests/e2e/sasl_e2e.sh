#!/usr/bin/env bash
# sasl_e2e.sh — libmigo.so inside a real Postfix smtpd, driven by swaks.
#   sasl_e2e.sh MIGOCTL LIBMIGO_SO
# Postfix registers no SASL path callback, so the plugin under test is
# installed into the system plugin directory, as in production. Runs the
# whole scenario with smtpd chrooted and not.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/postfix/assert.sh"
source "$here/postfix/harness.sh"

MIGOCTL=$1
PLUGIN=$2
migo_e2e_begin sasl "$PLUGIN" "$MIGOCTL"
m workspace create acme --plan 30k >/dev/null  # 7 accounts below
# Against the role's Postfix the milter checks the From domain too.
m domain add acme example.com >/dev/null && m domain verify --manual acme example.com >/dev/null
new_account() { migo_new_account "$MIGOCTL" "$store" acme "$@"; }  # LABEL USERVAR PASSVAR

# raw_login USER_HEX PASS: AUTH LOGIN with a name of any bytes (swaks
# cannot send a NUL); prints the final reply.
raw_login() {
  python3 - "$PF_PORT" "$1" "$2" <<'PY'
import base64, smtplib, ssl, sys
port, user, password = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3].encode()
s = smtplib.SMTP("127.0.0.1", port, "client.test", timeout=20)
s.starttls(context=ssl._create_unverified_context())
s.ehlo("client.test")
code, msg = s.docmd("AUTH", "LOGIN")
if code == 334:
    code, msg = s.docmd(base64.b64encode(user).decode())
if code == 334:
    code, msg = s.docmd(base64.b64encode(password).decode())
print(code, msg.decode())
PY
}
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

auth() {  # auth MECH USER PASS -> swaks transcript of a full send
  pf_swaks --tls --auth "$1" --auth-user "$2" --auth-password "$3" \
    --from app@example.com --to someone@dest.test --header "Subject: e2e $1"
}

# (The role's smtpd runs without a chroot jail: it is not run twice there.)
chroots="n y"; [ -z "${MIGO_E2E_ROLE:-}" ] || chroots=n
for chroot in $chroots; do
  echo "--- smtpd chroot=$chroot"
  new_account "good-$chroot" good good_pw
  new_account "disabled-$chroot" dis dis_pw
  new_account "reset-$chroot" rst rst_pw
  m account disable "$dis" >/dev/null

  pf_new "sasl-$chroot" "$chroot"
  pf_sasl_migo
  pf_start || { check "postfix starts (chroot=$chroot)" false; continue; }

  out=$(pf_swaks --quit-after EHLO)
  check_lacks "no AUTH offered before STARTTLS (chroot=$chroot)" "$out" "250-AUTH"
  out=$(pf_swaks --tls --quit-after EHLO)
  for mech in PLAIN LOGIN SCRAM-SHA-256; do
    check "AUTH $mech offered after STARTTLS (chroot=$chroot)" grep -Eq "250.AUTH .*\b$mech\b" <<<"$out"
  done

  out=$(auth PLAIN "$good" "$good_pw")
  check_contains "PLAIN good credentials: 235 (chroot=$chroot)" "$out" "<~  235 "
  check_contains "PLAIN good credentials: message queued (chroot=$chroot)" "$out" "<~  250 2.0.0 Ok: queued"
  out=$(auth LOGIN "$good" "$good_pw")
  check_contains "LOGIN good credentials: 235 (chroot=$chroot)" "$out" "<~  235 "
  check "both messages reach smtp-sink (chroot=$chroot)" pf_wait_sink 2

  out=$(auth PLAIN "$good" "${good_pw}x")
  check_contains "PLAIN wrong password: 535 (chroot=$chroot)" "$out" "535 5.7.8"
  out=$(auth LOGIN "$good" "wrongwrongwrong")
  check_contains "LOGIN wrong password: 535 (chroot=$chroot)" "$out" "535 5.7.8"
  out=$(auth PLAIN "smtpuser_doesnotexist0000" "x")
  check_contains "unknown account: 535 (chroot=$chroot)" "$out" "535 5.7.8"
  out=$(auth PLAIN "$dis" "$dis_pw")
  check_contains "disabled account: 535 (chroot=$chroot)" "$out" "535 5.7.8"
  m account enable "$dis" >/dev/null
  out=$(auth LOGIN "$dis" "$dis_pw")
  check_contains "re-enabled account: 235 without reload (chroot=$chroot)" "$out" "<~  235 "

  new_pw=$(m --json account reset-password "$rst" | python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
  out=$(auth PLAIN "$rst" "$rst_pw")
  check_contains "reset: old password 535 (chroot=$chroot)" "$out" "535 5.7.8"
  out=$(auth PLAIN "$rst" "$new_pw")
  check_contains "reset: new password 235 (chroot=$chroot)" "$out" "<~  235 "

  # Issue 13, item 3: names libsasl's LOGIN would cut at a NUL or trim.
  out=$(raw_login "$(hex "$good")" "$good_pw")
  check_contains "raw LOGIN, good credentials: 235 (chroot=$chroot)" "$out" "235"
  out=$(raw_login "$(hex "$good")006a756e6b" "$good_pw")
  check_contains "LOGIN 'name NUL junk' with name's password: 535 (chroot=$chroot)" "$out" "535 5.7.8"
  out=$(raw_login "" "$good_pw")
  check_contains "LOGIN with an empty name: 535, not 454 (chroot=$chroot)" "$out" "535 5.7.8"
  out=$(raw_login "202020" "$good_pw")
  check_contains "LOGIN with a blank name: 535, not 454 (chroot=$chroot)" "$out" "535 5.7.8"
  # Issue 13, item 15: SCRAM-SHA-256 as deployed, with an independent client.
  out=$(perl "$here/postfix/scram_auth.pl" 127.0.0.1 "$PF_PORT" "$good" "$good_pw" 2>&1)
  check "SCRAM-SHA-256 (Authen::SCRAM): 235 and the server's signature verifies (chroot=$chroot)" \
    grep -q "server signature verified" <<<"$out"
  check_contains "SCRAM-SHA-256: 235 (chroot=$chroot)" "$out" "<~ 235"
  out=$(perl "$here/postfix/scram_auth.pl" 127.0.0.1 "$PF_PORT" "$good" "${good_pw}x" 2>&1)
  check_contains "SCRAM-SHA-256 wrong password: 535 (chroot=$chroot)" "$out" "535 5.7.8"

  m account disable "$good" >/dev/null
  out=$(auth PLAIN "$good" "$good_pw")
  check_contains "disabled while smtpd runs: 535 (chroot=$chroot)" "$out" "535 5.7.8"
  m account enable "$good" >/dev/null

  log=$(cat "$PF_DIR/maillog")
  check_contains "the reason reaches Postfix's log (chroot=$chroot)" "$log" "migo: SMTP account $dis is disabled"
  check_lacks "no password in Postfix's log (chroot=$chroot)" "$log" "$good_pw"
  check_lacks "no reset password in Postfix's log (chroot=$chroot)" "$log" "$new_pw"
  pf_stop
done

# Issue 13, item 6: an smtpd that started while the store was missing (a
# restore, a late mount) cannot open it once unprivileged and chrooted; it
# must not answer 454 for the rest of its life. Once the store is back, AUTH
# works again without a reload.
new_account "outage" out_user out_pw
pf_new "sasl-outage" y
pf_sasl_migo
pf_start
mv "$store" "$store.away"
pf_reload  # new smtpd processes, started while the store is missing
out=$(auth PLAIN "$out_user" "$out_pw")
check_lacks "store missing when smtpd started: never 235" "$out" "<~  235 "
for i in $(seq 1 50); do grep -q "ending the process" "$PF_DIR/maillog" && break; sleep 0.1; done
check_contains "the stranded smtpd says why it ends" "$(cat "$PF_DIR/maillog")" \
  "migo: store $store was not there when this process started"
mv "$store.away" "$store"
out=$(auth PLAIN "$out_user" "$out_pw")
check_contains "store back: 235 at once, without a reload" "$out" "<~  235 "
pf_stop

# A store that cannot be read: temporary failure, never an accept.
new_account "broken" tmp_user tmp_pw
pf_new "sasl-broken" y
pf_sasl_migo
pf_start
python3 - "$store" "$tmp_user" <<'PY'
import ctypes, sys  # damage one account record with the raw LMDB C API
lmdb = ctypes.CDLL("liblmdb.so.0")
class Val(ctypes.Structure): _fields_ = [("size", ctypes.c_size_t), ("data", ctypes.c_void_p)]
env = ctypes.c_void_p(); lmdb.mdb_env_create(ctypes.byref(env)); lmdb.mdb_env_set_maxdbs(env, 32)
assert lmdb.mdb_env_open(env, sys.argv[1].encode(), 0, 0o600) == 0
txn = ctypes.c_void_p(); assert lmdb.mdb_txn_begin(env, None, 0, ctypes.byref(txn)) == 0
names = ctypes.c_uint(); accts = ctypes.c_uint()
assert lmdb.mdb_dbi_open(txn, b"usernames", 0, ctypes.byref(names)) == 0
assert lmdb.mdb_dbi_open(txn, b"accounts", 0, ctypes.byref(accts)) == 0
user = sys.argv[2].encode(); k = Val(len(user), ctypes.cast(ctypes.c_char_p(user), ctypes.c_void_p)); v = Val()
assert lmdb.mdb_get(txn, names, ctypes.byref(k), ctypes.byref(v)) == 0
junk = b"\x01junk"; j = Val(len(junk), ctypes.cast(ctypes.c_char_p(junk), ctypes.c_void_p))
assert lmdb.mdb_put(txn, accts, ctypes.byref(v), ctypes.byref(j), 0) == 0
assert lmdb.mdb_txn_commit(txn) == 0
PY
out=$(auth PLAIN "$tmp_user" "$tmp_pw")
check_contains "damaged store: 454 temporary failure" "$out" "454 4.7.0"
check_lacks "damaged store: never 235" "$out" "<~  235 "
log=$(cat "$PF_DIR/maillog")
check_contains "damaged store: reason logged" "$log" "migo: store $store unavailable for $tmp_user: account record is truncated"
pf_stop

report
