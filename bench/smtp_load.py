#!/usr/bin/env python3
"""smtp_load.py — SMTP load: N threads, each one persistent authenticated
session sending small messages for S seconds; prints accepted messages/s.
    smtp_load.py PORT SECONDS USER:PASS [USER:PASS ...]
One thread per credential. AUTH PLAIN without TLS (the benchmark instance
allows it) so the figure measures Postfix and our modules, not handshakes."""
import smtplib, sys, threading, time

port, seconds, creds = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
accepted, failed = [0], [0]
lock = threading.Lock()
deadline = time.monotonic() + seconds
body = ("From: App <app@example.com>\r\nTo: rcpt@dest.test\r\nSubject: load\r\n\r\n" + "x" * 400 + "\r\n")

def worker(cred):
    user, pw = cred.split(":", 1)
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo("load.test")
    s.login(user, pw)
    n = bad = 0
    while time.monotonic() < deadline:
        try:
            s.sendmail("app@example.com", ["rcpt@dest.test"], body)
            n += 1
        except smtplib.SMTPException:
            bad += 1
            s.rset()
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
