"""A community page's plain-text body as HTML: paragraphs, line breaks and links.

Staff write plain text.  Blank lines separate paragraphs, single line breaks
are kept, and http(s) addresses become links that open in a new tab.  Every
piece of the text is escaped by markupsafe before it is put into markup; the
only tags produced are the ones written here.
"""
from __future__ import annotations

import re
from urllib.parse import urlparse

from markupsafe import Markup, escape

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
_TRAILING = ".,;:!?»”’"


def _trim(url: str) -> tuple[str, str]:
    """Split punctuation that ends a sentence, not the address, off a match."""
    tail = ""
    while url:
        last = url[-1]
        if last in _TRAILING or (last == ")" and url.count("(") < url.count(")")):
            tail = last + tail
            url = url[:-1]
        else:
            break
    return url, tail


def _link(url: str) -> Markup:
    return Markup('<a href="{0}" target="_blank" rel="noopener noreferrer nofollow">{0}</a>').format(url)


def line_html(line: str) -> Markup:
    out = Markup()
    at = 0
    for m in _URL.finditer(line):
        url, tail = _trim(m.group(0))
        parsed = urlparse(url)
        out += escape(line[at:m.start()])
        if parsed.scheme.lower() in ("http", "https") and parsed.hostname:
            out += _link(url)
        else:
            out += escape(url)
        out += escape(tail)
        at = m.end()
    return out + escape(line[at:])


def body_html(text: str | None) -> Markup:
    """The body as a series of <p> elements (empty markup for an empty text)."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return Markup()
    paragraphs = []
    for block in _PARAGRAPH_BREAK.split(text):
        lines = [line_html(line) for line in block.strip("\n").split("\n")]
        paragraphs.append(Markup("<p>{}</p>").format(Markup("<br>\n").join(lines)))
    return Markup("\n").join(paragraphs)
