#!/usr/bin/env python3
"""smtp_load.py — SMTP load: one thread per credential sending small messages
for S seconds; prints accepted messages/s, accepted and refused counts.
    smtp_load.py [--tls] [--session-per-message] [--body=FILE] PORT SECONDS USER:PASS [USER:PASS ...]
Default: one persistent session per thread, AUTH PLAIN without TLS, so the
figure measures Postfix and our modules, not handshakes. --tls: STARTTLS
before AUTH. --session-per-message: connect, EHLO, (STARTTLS, EHLO,) AUTH,
one message and QUIT each time, as most applications do. --body=FILE: send
that message (headers and body, CRLF) instead of the small one."""
import smtplib, ssl, sys, threading, time

args = sys.argv[1:]
tls = "--tls" in args
fresh = "--session-per-message" in args
args = [a for a in args if not a.startswith("--")]
port, seconds, creds = int(args[0]), float(args[1]), args[2:]
accepted, failed = [0], [0]
lock = threading.Lock()
deadline = time.monotonic() + seconds
body = ("From: App <app@example.com>\r\nTo: rcpt@dest.test\r\nSubject: load\r\n\r\n" + "x" * 400 + "\r\n")
for a in sys.argv[1:]:
    if a.startswith("--body="):
        body = open(a[len("--body="):], "rb").read()
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def session(user, pw):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo("load.test")
    if tls:
        s.starttls(context=ctx)
        s.ehlo("load.test")
    s.login(user, pw)
    return s


def worker(cred):
    user, pw = cred.split(":", 1)
    n = bad = 0
    s = None
    while time.monotonic() < deadline:
        try:
            if s is None:
                s = session(user, pw)
            s.sendmail("app@example.com", ["rcpt@dest.test"], body)
            n += 1
            if fresh:
                s.quit()
                s = None
        except (smtplib.SMTPException, OSError):
            bad += 1
            try:
                s.close()
            except Exception:
                pass
            s = None
    if s is not None:
        s.quit()
    with lock:
        accepted[0] += n
        failed[0] += bad


start = time.monotonic()
threads = [threading.Thread(target=worker, args=(c,)) for c in creds]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - start
print("%.0f %d %d" % (accepted[0] / elapsed, accepted[0], failed[0]))
