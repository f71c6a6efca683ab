#!/usr/bin/env python3
"""fill.py TEMPLATE — the template with its Mustache-style placeholders
filled the way a template engine fills them: values HTML-escaped in .html
(so a URL's & becomes &amp; inside href, the case that breaks careless
rewriters), as they are in .txt; {{#each X}}…{{/each}} repeated per item."""
import html, re, sys

VALUES = {
    "name": "Zoë Müller",
    "product_name": "Acme Cloud",
    "product_url": "https://acme.example/?utm_source=email&utm_medium=reset",
    "action_url": "https://app.acme.example/reset?token=b7Qz9k&user=4821&utm_campaign=reset#form",
    "support_url": "https://acme.example/support?topic=Account%20access&ref=mail",
    "login_url": "https://app.acme.example/login?next=%2Fdashboard&src=welcome",
    "username": "zoe@customer.example",
    "trial_length": "14",
    "trial_start_date": "1 December 2026",
    "trial_end_date": "15 December 2026",
    "live_chat_url": "https://acme.example/chat?lang=de",
    "sender_name": "Ana",
    "help_url": "HTTPS://Help.Acme.Example/Getting-Started?x=1&y=2",
    "operating_system": "Linux",
    "browser_name": "Firefox",
    "receipt_id": "R-2026-0042",
    "date": "4 December 2026",
    "purchase_date": "4 December 2026",
    "total": "€29.00",
    "amount": "€29.00",
    "description": "Pro plan (monthly)",
    "credit_card_brand": "Visa",
    "credit_card_last_four": "4242",
    "expiration_date": "12/2028",
    "billing_url": "https://app.acme.example/billing?invoice=R-2026-0042&download=pdf",
    "company_name": "Acme GmbH",
    "company_address": "Hauptstraße 1, 10115 Berlin",
}
ITEMS = {"receipt_details": [{"description": "Pro plan (monthly)", "amount": "€25.00"},
                             {"description": "Extra seats × 2", "amount": "€4.00"}]}


def fill(text, values, escape):
    def each(m):
        return "".join(fill(m.group(2), {**values, **item}, escape) for item in ITEMS.get(m.group(1), []))
    text = re.sub(r"\{\{#each (\w+)\}\}(.*?)\{\{/each\}\}", each, text, flags=re.S)
    def one(m):
        v = values.get(m.group(1), "")
        return html.escape(v, quote=True) if escape else v
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", one, text)


path = sys.argv[1]
sys.stdout.write(fill(open(path, encoding="utf-8").read(), VALUES, path.endswith(".html")))
