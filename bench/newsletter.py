#!/usr/bin/env python3
"""newsletter.py — writes a ~30 KB HTML newsletter (multipart/alternative:
plain text and quoted-printable HTML with 60 links and images, tables and
inline CSS, as ESP templates look) to stdout, CRLF line ends, for the
tracking benchmark."""
import sys
from email.message import EmailMessage
from email.policy import SMTP

rows = []
for i in range(40):
    rows.append(f"""<tr><td style="padding:12px 24px;font-family:Helvetica,Arial,sans-serif;font-size:15px;line-height:22px;color:#333333">
<img src="https://cdn.example.com/img/product-{i}.jpg" width="120" height="120" alt="Product {i}" style="display:block;border:0">
<h2 style="margin:8px 0;font-size:18px">Produkt Nummer {i} – jetzt günstiger</h2>
<p style="margin:0 0 8px">Beschreibung des Produkts {i}: langlebig, hochwertig und in vielen Farben erhältlich. Nur diese Woche im Angebot.</p>
<a href="https://shop.example.com/p/{i}?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=nov&amp;pos={i}" style="color:#0a5;font-weight:bold">Zum Angebot</a>
</td></tr>""")
html = f"""<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"><title>Newsletter</title>
<style>body{{margin:0;padding:0}} a{{color:#0a5}}</style></head>
<body style="margin:0;background:#f4f4f4"><table role="presentation" width="100%" cellpadding="0" cellspacing="0">
{''.join(rows)}
<tr><td><a href="https://shop.example.com/unsubscribe?u=1">Abmelden</a></td></tr>
</table></body></html>
"""
m = EmailMessage(policy=SMTP)
m["From"] = "Shop <news@example.com>"
m["To"] = "rcpt@dest.test"
m["Subject"] = "Angebote der Woche"
m["List-Unsubscribe"] = "<https://shop.example.com/unsubscribe?u=1>"
m.set_content("Angebote der Woche: https://shop.example.com/\n")
m.add_alternative(html, subtype="html", cte="quoted-printable")
sys.stdout.buffer.write(m.as_bytes())
