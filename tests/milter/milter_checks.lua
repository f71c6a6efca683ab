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

-- One message through a fresh connection; returns the connection after EOM.
local function message(login, headers)
  local conn = mt.connect(sock, 20, 0.25)
  assert(conn, "mt.connect() failed")
  assert(mt.conninfo(conn, "client.test", "127.0.0.1") == nil, "conninfo failed")
  if login then mt.macro(conn, SMFIC_MAIL, "{auth_authen}", login, "i", "4TESTQUEUEID1") 
  else mt.macro(conn, SMFIC_MAIL, "i", "4TESTQUEUEID1") end
  assert(mt.mailfrom(conn, "app@example.com") == nil, "mailfrom failed")
  if mt.getreply(conn) == SMFIR_ACCEPT then return conn, "accepted at MAIL" end
  -- No RCPT, end-of-header or body events: the milter negotiates them away
  -- (it has no callbacks for them), and miltertest, like Postfix, obeys.
  for _, h in ipairs(headers) do assert(mt.header(conn, h[1], h[2]) == nil, "header failed") end
  assert(mt.eom(conn) == nil, "eom failed")
  return conn, nil
end

-- miltertest prints nothing for a Lua error: run the checks under pcall so
-- a failure says what it was.
local function checks()
local conn, early = message(user_ok, {{"From", "App <app@example.com>"}, {"Subject", "hi"}})
expect("verified From: continue at end of message", early == nil and mt.getreply(conn) == SMFIR_CONTINUE)
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

conn, early = message(nil, {{"From", "anyone@other.org"}})
expect("no SASL login: accepted untouched at MAIL", early == "accepted at MAIL")
mt.disconnect(conn)

conn = message(user_off, {{"From", "app@example.com"}})
expect("disabled account: rejected", mt.getreply(conn) == SMFIR_REPLYCODE)
mt.disconnect(conn)

conn = message(user_ok, {{"From", "a@example.com"}, {"From", "b@example.com"}})
expect("two From headers: rejected", mt.getreply(conn) == SMFIR_REPLYCODE)
mt.disconnect(conn)

end
local ran, err = pcall(checks)
if not ran then print("FAILED  script error: " .. tostring(err)); failures = failures + 1 end
print(string.format("%d passed, %d failed", passes, failures))
if failures > 0 then error("milter checks failed") end
