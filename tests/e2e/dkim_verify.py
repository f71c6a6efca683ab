#!/usr/bin/python3
"""dkim_verify.py FILE DNS_HOST:PORT — verifies the DKIM signatures of the
message in FILE with python3-dkim (an implementation independent of
libopendkim), looking keys up in DNS at DNS_HOST:PORT (the tests' dnsmasq)
through dnspython. Prints "ok d=DOMAIN s=SELECTOR a=ALGORITHM" for each
signature that verifies and "bad: ..." for each that does not; exits 0
only when there is at least one signature and every one verifies."""
import re
import sys

import dkim
import dns.resolver

path, server = sys.argv[1], sys.argv[2]
host, port = server.rsplit(":", 1)
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = [host]
resolver.port = int(port)


def txt(name, timeout=5):
    try:
        answer = resolver.resolve(name.decode() if isinstance(name, bytes) else name, "TXT", lifetime=timeout)
    except Exception as e:  # NXDOMAIN, timeout: no key
        print("dns:", e, file=sys.stderr)
        return None
    return b"".join(b"".join(r.strings) for r in answer)


msg = open(path, "rb").read()
# smtp-sink may store LF line ends: DKIM is computed over CRLF.
msg = re.sub(rb"(?<!\r)\n", b"\r\n", msg)
d = dkim.DKIM(msg)
count = sum(1 for name, _ in d.headers if name.lower() == b"dkim-signature")
if count == 0:
    print("bad: no DKIM-Signature")
    sys.exit(1)
failed = False
for i in range(count):
    d = dkim.DKIM(msg)
    try:
        ok = d.verify(idx=i, dnsfunc=txt)
    except dkim.DKIMException as e:
        print("bad:", e)
        failed = True
        continue
    if not ok:
        print("bad: signature %d does not verify" % i)
        failed = True
        continue
    alg = d.signature_fields.get(b"a", b"?").decode()
    print("ok d=%s s=%s a=%s" % (d.domain.decode(), d.selector.decode(), alg))
sys.exit(1 if failed else 0)
