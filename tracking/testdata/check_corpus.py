#!/usr/bin/python3
"""check_corpus.py DIR — an oracle for the golden corpus, independent of the
rewriter's code (Python's email package and html.parser, not GMime and
gumbo): for every DIR/NAME.in and its NAME.out, each HTML part that may be
tracked must come out with exactly its http(s) links replaced by the test's
tracked URLs in order (https://t.example/c/T0, T1, …; List-Unsubscribe URLs
and links marked migo:no-track left alone, the marker removed), the pixel
at the placeholder or before </body>, and every other character as it was.
Parts that must never be touched (inside multipart/signed or encrypted,
inside message/rfc822, attachments) must come out identical. So a golden
file rewritten wrongly and accepted with MIGO_GOLDEN_UPDATE fails here."""
import email
import html.parser
import re
import sys
from email import policy
from pathlib import Path

TRACKED = re.compile(r"https://t\.example/c/T(\d+)")
PIXEL = re.compile(r'<img[^>]*https://t\.example/o/P[^>]*>')
HREF = re.compile(r'(?i)\bhref\s*=\s*("[^"]*"|\'[^\']*\'|[^\s>]+)')
MARKER = re.compile(r'(?i)\s+migo:no-track(?:=("[^"]*"|\'[^\']*\'|[^\s>]+))?')


class Anchors(html.parser.HTMLParser):
    """Each a/area's href and whether it carries migo:no-track."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag in ("a", "area"):
            names = [k for k, _ in attrs]
            href = next((v for k, v in attrs if k == "href"), None)
            if href is not None:
                self.links.append((href, "migo:no-track" in names))


def parts(msg):
    """(trackable?, part) for each leaf part, in order; the insides of
    signed/encrypted multiparts and of message/rfc822 are never trackable."""
    out = []

    def walk(p, sealed):
        ct = p.get_content_type()
        if p.is_multipart() and ct != "message/rfc822":
            inner = sealed or ct in ("multipart/signed", "multipart/encrypted")
            for sub in p.iter_parts():
                walk(sub, inner)
        else:
            out.append((not sealed and ct != "message/rfc822" and not p.is_attachment(), p))

    walk(msg, False)
    return out


def load(raw):
    return email.message_from_bytes(raw.replace(b"\n", b"\r\n"), policy=policy.default)


def check(name_in):
    problems = []
    raw_out = name_in.with_suffix(".out").read_bytes()
    raw_out = raw_out[: raw_out.rfind(b"-- links=")]
    before, after = load(name_in.read_bytes()), load(raw_out)
    unsub = re.findall(r"<(https?://[^>]*)>", str(before.get("List-Unsubscribe", "")))
    a_parts, b_parts = parts(before), parts(after)
    if len(a_parts) != len(b_parts):
        return ["the structure changed"]
    index = 0
    for (trackable, a), (_, b) in zip(a_parts, b_parts):
        if not trackable or a.get_content_type() != "text/html":
            if a.get_content_type() != "text/plain" or not trackable:
                if a.get_payload(decode=True) != b.get_payload(decode=True):
                    problems.append(f"an untouchable {a.get_content_type()} part changed")
            continue
        old, new = a.get_content(), b.get_content()
        pa, pb = Anchors(), Anchors()
        pa.feed(old)
        pb.feed(new)
        if len(pa.links) != len(pb.links):
            problems.append("the number of links changed")
            continue
        for (href, no_track), (got, marked) in zip(pa.links, pb.links):
            url = href.strip()
            if marked:
                problems.append(f"migo:no-track left on {url}")
            if re.match(r"(?i)https?://", url) and url not in unsub and not no_track:
                m = TRACKED.fullmatch(got)
                if not m or int(m.group(1)) != index:
                    problems.append(f"link {index} ({url}) became {got}")
                index += 1
            elif got != href:
                problems.append(f"{href} must stay as it is, became {got}")
        # All but the hrefs, the marker and the pixel is character for character.
        norm_old = HREF.sub("href=X", MARKER.sub("", old))
        pixels = PIXEL.findall(new)
        if len(pixels) != 1:
            problems.append(f"{len(pixels)} pixels in an HTML part")
            continue
        where = "<!--migo:open-->" if "<!--migo:open-->" in old else None
        norm_new = HREF.sub("href=X", new)
        norm_new = norm_new.replace(HREF.sub("href=X", pixels[0]), where or "", 1)
        if norm_new != norm_old:
            problems.append("text outside the links changed")
        # Else before </body>, else before </html>, else at the end.
        if where is None:
            close = "</body>" if re.search(r"(?i)</body>", old) else "</html>" if re.search(r"(?i)</html>", old) else ""
            if not re.search(r"(?i)" + re.escape(pixels[0]) + (r"\s*" + close if close else r"\s*$"), new):
                problems.append(f"the pixel is not right before {close or 'the end'}")
    return problems


def main():
    failed = 0
    files = sorted(Path(sys.argv[1]).glob("*.in"))
    for f in files:
        problems = check(f)
        for p in problems:
            print(f"{f.name}: {p}")
        failed += bool(problems)
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed or not files else 0


sys.exit(main())
