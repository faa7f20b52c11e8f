"""A certificate as PDF: the organiser's layout with its placeholders filled, drawn by WeasyPrint.

WeasyPrint shapes text through Pango and HarfBuzz, so Hebrew comes out right
to left and Kazakh with its letters joined as they should be.  The name is
isolated (`dir="auto"`) so a Hebrew name keeps its order inside a
left-to-right page and the other way round.  The QR code is a PNG made by
segno and embedded as a data URI; the layout may load nothing else (no
file or network address is fetched), so a template cannot reach the
server's files or its network.
"""
from __future__ import annotations

import base64
import html
import io

import segno

from certificates.templates import PLACEHOLDER
from core.i18n import direction

BASE_CSS = "@page { size: A4 landscape; margin: 12mm; } .bidi { unicode-bidi: isolate; }"


def qr_png(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=6, border=2)
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


def document(layout: str, values: dict[str, str], locale: str, qr: bytes) -> str:
    return (f'<!doctype html><html lang="{html.escape(locale)}" dir="{direction(locale)}"><head>'
            f'<meta charset="utf-8"><style>{BASE_CSS}</style></head>'
            f"<body>{fill(layout, values, qr)}</body></html>")


def pdf(layout: str, values: dict[str, str], locale: str) -> bytes:
    """The PDF bytes; `values` has name, event, date, code and url (the verification page)."""
    # Imported on first use: it loads Pango, which no page view needs.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher
    source = document(layout, values, locale, qr_png(values["url"]))
    return HTML(string=source, url_fetcher=URLFetcher(allowed_protocols={"data"})).write_pdf()
