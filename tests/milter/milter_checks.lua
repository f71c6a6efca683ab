-- milter_checks.lua — miltertest(8) drives the real migo-milter over its
-- socket, with no MTA: every SMFI event as Postfix would send it.
-- Environment: MILTER (socket spec), USER_OK, USER_OFF (SMTP usernames).
local sock = os.getenv("MILTER")
local user_ok = os.getenv("USER_OK")
local user_off = os.getenv("USER_OFF")
local failures, passes = 0, 0

local function expect(what, cond)
  if cond then print("ok      " .. what); passes = passes + 1 else print("FAILED  " .. what); failures = failures + 1 end
end

-- One message through a fresh connection, sent as Postfix sends it: the
-- events the milter negotiated away are not sent, and the macros go where
-- the milter asked for them (SMFIF_SETSYMLIST: {auth_authen} and i at end
-- of message). offer_symlist=false plays an MTA that cannot do that.
-- Returns the connection after EOM.
local function message(login, headers, offer_symlist)
  local conn = mt.connect(sock, 20, 0.25)
  assert(conn, "mt.connect() failed")
  local actions = nil
  if offer_symlist == false then actions = SMFIF_ADDHDRS + SMFIF_CHGHDRS + SMFIF_CHGFROM + SMFIF_ADDRCPT + SMFIF_DELRCPT end
  -- (miltertest's order, whatever its manual says: version, steps, actions)
  assert(mt.negotiate(conn, nil, nil, actions) == nil, "negotiate failed")
  if not mt.test_option(conn, SMFIP_NOCONNECT) then
    assert(mt.conninfo(conn, "client.test", "127.0.0.1") == nil, "conninfo failed")
  end
  local symlist = mt.test_action(conn, SMFIF_SETSYMLIST)
  local function macros(stage)
    if login then mt.macro(conn, stage, "{auth_authen}", login, "i", "4TESTQUEUEID1")
    else mt.macro(conn, stage, "i", "4TESTQUEUEID1") end
  end
  -- miltertest has no SMFIC_EOH or SMFIC_BODYEOB constants: the command
  -- bytes are 'N' and 'E'. With SETSYMLIST the macros come with those
  -- stages (as Postfix sends them), without it with MAIL.
  if not symlist then macros(SMFIC_MAIL) end
  if not mt.test_option(conn, SMFIP_NOMAIL) then
    assert(mt.mailfrom(conn, "app@example.com") == nil, "mailfrom failed")
  end
  -- No RCPT events, and no reply to headers, end of headers or body.
  for _, h in ipairs(headers) do assert(mt.header(conn, h[1], h[2]) == nil, "header failed") end
  if symlist then macros(string.byte("N")) end
  assert(mt.eoh(conn) == nil, "eoh failed")
  assert(mt.bodystring(conn, "Hello.\r\n") == nil, "body failed")
  if symlist then macros(string.byte("E")) end
  assert(mt.eom(conn) == nil, "eom failed")
  return conn
end

-- miltertest prints nothing for a Lua error: run the checks under pcall so
-- a failure says what it was.
local function checks()
local conn = message(user_ok, {{"From", "App <app@example.com>"}, {"Subject", "hi"}})
expect("negotiated: one reply per message (no connect, MAIL, RCPT or DATA; headers, end of headers and body unanswered)",
  mt.test_option(conn, SMFIP_NOCONNECT) and mt.test_option(conn, SMFIP_NOMAIL) and mt.test_option(conn, SMFIP_NORCPT)
  and mt.test_option(conn, SMFIP_NODATA) and mt.test_option(conn, SMFIP_NR_HDR) and mt.test_option(conn, SMFIP_NR_EOH)
  and mt.test_option(conn, SMFIP_NR_BODY))
expect("verified From: continue at end of message", mt.getreply(conn) == SMFIR_CONTINUE)
expect("verified From: tag header inserted", mt.eom_check(conn, MT_HDRINSERT, "X-Migo-Tag"))
local tag = mt.getheader(conn, "X-Migo-Tag", 0) or ""
expect("tag names the queue id", string.find(tag, "q=4TESTQUEUEID1", 1, true) ~= nil)
expect("tag never names the username", string.find(tag, user_ok, 1, true) == nil)
mt.disconnect(conn)

conn = message(user_ok, {{"From", "app@other.org"}})
expect("unverified From: rejected with a reply code", mt.getreply(conn) == SMFIR_REPLYCODE)
expect("unverified From: no tag", not mt.eom_check(conn, MT_HDRINSERT, "X-Migo-Tag"))
mt.disconnect(conn)

conn = message(user_ok, {{"From", "app@example.com"}, {"X-Migo-Tag", "v=1; a=0000000000000001; q=X; t=1; s=forged"}})
expect("client tag: continue", mt.getreply(conn) == SMFIR_CONTINUE)
expect("client tag: deleted", mt.eom_check(conn, MT_HDRCHANGE, "X-Migo-Tag") or mt.eom_check(conn, MT_HDRDELETE, "X-Migo-Tag"))
expect("client tag: ours inserted", mt.eom_check(conn, MT_HDRINSERT, "X-Migo-Tag"))
mt.disconnect(conn)

conn = message(nil, {{"From", "anyone@other.org"}})
expect("no SASL login: accepted untouched", mt.getreply(conn) == SMFIR_ACCEPT and not mt.eom_check(conn, MT_HDRINSERT, "X-Migo-Tag"))
mt.disconnect(conn)

conn = message(user_off, {{"From", "app@example.com"}})
expect("disabled account: rejected", mt.getreply(conn) == SMFIR_REPLYCODE)
mt.disconnect(conn)

conn = message(user_ok, {{"From", "a@example.com"}, {"From", "b@example.com"}})
expect("two From headers: rejected", mt.getreply(conn) == SMFIR_REPLYCODE)
mt.disconnect(conn)

-- Signing: a DKIM-Signature inserted for the verified domain; headers that
-- exceed what the signer keeps (1 MiB in all) are a temporary failure,
-- never unsigned mail; odd but legal headers are signed.
conn = message(user_ok, {{"From", "app@example.com"}, {"Subject", ""}, {"X-Eight-Bit", "caf\195\169 \255"}})
expect("signed: DKIM-Signature inserted", mt.getreply(conn) == SMFIR_CONTINUE and mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature"))
local sig = mt.getheader(conn, "DKIM-Signature", 0) or ""
expect("signed: d=example.com, relaxed/relaxed", string.find(sig, "d=example.com", 1, true) ~= nil and string.find(sig, "c=relaxed/relaxed", 1, true) ~= nil)
mt.disconnect(conn)
local many = {{"From", "app@example.com"}}
for i = 1, 1100 do many[#many + 1] = {"X-Filler-" .. i, string.rep("x", 1000)} end
conn = message(user_ok, many)
expect("headers too large to sign: temporary failure", mt.getreply(conn) == SMFIR_REPLYCODE and not mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature"))
mt.disconnect(conn)

-- An MTA that cannot be told which macros to send: MAIL is still sent, for
-- {auth_authen}, without a reply.
conn = message(user_ok, {{"From", "app@example.com"}}, false)
expect("no SETSYMLIST: MAIL sent without reply", not mt.test_option(conn, SMFIP_NOMAIL) and mt.test_option(conn, SMFIP_NR_MAIL))
expect("no SETSYMLIST: verified From tagged", mt.getreply(conn) == SMFIR_CONTINUE and mt.eom_check(conn, MT_HDRINSERT, "X-Migo-Tag"))
mt.disconnect(conn)
conn = message(user_ok, {{"From", "app@other.org"}}, false)
expect("no SETSYMLIST: unverified From rejected", mt.getreply(conn) == SMFIR_REPLYCODE)
mt.disconnect(conn)

end
local ran, err = pcall(checks)
if not ran then print("FAILED  script error: " .. tostring(err)); failures = failures + 1 end
print(string.format("%d passed, %d failed", passes, failures))
if failures > 0 then error("milter checks failed") end
