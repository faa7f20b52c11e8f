"""A certificate as PDF: the organiser's layout with its placeholders filled, drawn by WeasyPrint.

WeasyPrint shapes text through Pango and HarfBuzz, so Hebrew comes out right
to left and Kazakh with its letters joined as they should be.  The name is
isolated (`dir="auto"`) so a Hebrew name keeps its order inside a
left-to-right page and the other way round.  The QR code is a PNG made from
segno's matrix and embedded as a data URI; the layout may load nothing else
(no file or network address is fetched), so a template cannot reach the
server's files or its network.

This runs in the worker processes of `certificates.pdf_pool`, thousands of
times with one layout, so what does not change between two certificates of
a layout is made once per process and layout (`prepared`): the font
configuration (Fontconfig's fonts and Pango's font map, with the shaping
caches they fill; a new one per document cost about 40% of a certificate)
and the layout's stylesheets, parsed once.  Only the HTML with the
person's values is parsed for each certificate.
"""
from __future__ import annotations

import base64
import functools
import html
import io
import re
from typing import Any

import segno
from PIL import Image

from certificates.templates import DEFAULT_LAYOUT, PLACEHOLDER, PLACEHOLDERS
from core.i18n import direction

BASE_CSS = "@page { size: A4 landscape; margin: 12mm; } .bidi { unicode-bidi: isolate; }"
QR_SCALE, QR_BORDER = 6, 2
# A plain <style> element: its text is CSS to the end tag (the HTML parser reads it so too).
STYLE = re.compile(r"<style>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
PREPARED_LAYOUTS = 8   # layouts a worker keeps prepared (several events may issue at once)


def qr_png(url: str) -> bytes:
    """The URL as a QR code (error correction M), black on white, 6 pixels a module, 2 modules of margin."""
    code = segno.make(url, error="m")
    size = int(code.symbol_size(scale=1, border=QR_BORDER)[0])
    # segno's own PNG writer goes pixel by pixel in Python; Pillow writes the same image in C.
    modules = bytes(0 if dark else 255 for row in code.matrix_iter(scale=1, border=QR_BORDER) for dark in row)
    image = Image.frombytes("L", (size, size), modules).convert("1")
    image = image.resize((size * QR_SCALE, size * QR_SCALE), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def fill(layout: str, values: dict[str, str], qr: bytes) -> str:
    qr_tag = f'<img class="qr" alt="" src="data:image/png;base64,{base64.b64encode(qr).decode()}">'
    escaped = {k: html.escape(v) for k, v in values.items()}
    escaped["name"] = f'<span class="bidi" dir="auto">{escaped["name"]}</span>'
    escaped["event"] = f'<span class="bidi" dir="auto">{escaped["event"]}</span>'

    def one(match) -> str:
        key = match.group(1)
        return qr_tag if key == "qr" else escaped.get(key, match.group(0))
    return PLACEHOLDER.sub(one, layout)


def document(layout: str, values: dict[str, str], locale: str, qr: bytes, base_css: bool = True) -> str:
    style = f"<style>{BASE_CSS}</style>" if base_css else ""
    return (f'<!doctype html><html lang="{html.escape(locale)}" dir="{direction(locale)}"><head>'
            f'<meta charset="utf-8">{style}</head>'
            f"<body>{fill(layout, values, qr)}</body></html>")


def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher
    return URLFetcher(allowed_protocols={"data"})


class Prepared:
    """What a worker keeps of one layout: its font configuration and, when they can be, its parsed styles.

    The layout's `<style>` elements are taken out and parsed once when every
    one of them is a plain `<style>` with neither a placeholder nor
    `!important` in it.  WeasyPrint takes such stylesheets as the user's
    rather than the author's: among themselves, against the browser's
    defaults and against `style` attributes (which still win) they cascade
    as they did in place, given in the layout's order after the base style;
    only an `!important` would rank differently.  Otherwise the layout is
    parsed whole each time, the base style first in its head.
    """

    def __init__(self, layout: str):
        # Imported here: this runs in the PDF workers only; no page view needs Pango.
        from weasyprint import CSS
        from weasyprint.css.counters import CounterStyle
        from weasyprint.text.fonts import FontConfiguration

        # One per layout, not one per process: an @font-face of one organiser's layout must not
        # change the fonts of another's.
        self.font_config = FontConfiguration()
        self.counter_style = CounterStyle()
        styles = STYLE.findall(layout)
        apart = len(styles) == len(re.findall(r"<style\b", layout, re.IGNORECASE)) and not any(
            "!important" in css or any(key in PLACEHOLDERS for key in PLACEHOLDER.findall(css)) for css in styles)
        self.body = STYLE.sub("", layout) if apart else layout
        self.base_in_document = not apart
        fetcher = _fetcher()
        self.stylesheets = [CSS(string=css, url_fetcher=fetcher, font_config=self.font_config,
                                counter_style=self.counter_style) for css in ([BASE_CSS, *styles] if apart else [])]


@functools.lru_cache(maxsize=PREPARED_LAYOUTS)
def prepared(layout: str) -> Prepared:
    return Prepared(layout)


def pdf(layout: str, values: dict[str, str], locale: str) -> bytes:
    """The PDF bytes; `values` has name, event, date, code and url (the verification page)."""
    from weasyprint import HTML
    ready = prepared(layout)
    source = document(ready.body, values, locale, qr_png(values["url"]), base_css=ready.base_in_document)
    return HTML(string=source, url_fetcher=_fetcher()).write_pdf(
        stylesheets=ready.stylesheets, font_config=ready.font_config, counter_style=ready.counter_style)


def warm() -> None:
    """A worker's start: WeasyPrint imported, the built-in layout prepared and its fonts loaded."""
    import signal
    # Ctrl-C in a terminal reaches the whole process group: the server stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pdf(DEFAULT_LAYOUT, {"name": "", "event": "", "date": "", "code": "", "url": "https://localhost/"}, "en")
