#!/usr/bin/env python3
"""compose.py OUT KIND — a message as Python's email package writes it (what
Django's EmailMultiAlternatives sends), from the filled templates."""
import sys
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.message import EmailMessage
from email.utils import formatdate

out, kind = sys.argv[1:]
read = lambda n: open("filled/" + n, encoding="utf-8").read()
if kind == "latin1-qp":
    # A Western European sender whose framework still writes ISO-8859-1:
    # Python picks quoted-printable for that charset.
    html = read("leemunroe-email.html").replace("Hi there,", "Grüß Gott, Zoë,").replace(
        "This is a simple email", "Dies ist eine einfache E-Mail für Sie")
    m = MIMEMultipart("alternative")
    m.attach(MIMEText("Grüß Gott, Zoë,\nhttp://htmlemail.io\n", "plain", "iso-8859-1"))
    m.attach(MIMEText(html, "html", "iso-8859-1"))
    m["Subject"] = "Neuigkeiten für Sie"
elif kind == "welcome-utf8":
    # Python 3's EmailMessage API: it chooses the transfer encoding itself.
    m = EmailMessage()
    m.set_content(read("postmark-welcome.txt"))
    m.add_alternative(read("postmark-welcome.html"), subtype="html")
    m["Subject"] = "Welcome to Acme Cloud, Zoë!"
m["From"] = "Acme Cloud <no-reply@acme.example>"
m["To"] = "zoe@customer.example"
m["Date"] = formatdate(1796376600, usegmt=True)
m["Message-ID"] = f"<{kind}@acme.example>"
open(out, "wb").write(m.as_bytes())
