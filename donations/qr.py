"""QR codes that lead to a campaign: for posters, flyers and screens, with an optional source tag.

A code leads to one of the campaign's pages (`TARGETS`: its giving page, its
fundraising screen, its widget) at the site's public address, with
`?src=qr` or, given a tag typed by staff, `?src=qr-<tag>`: a gift made after
scanning it is counted under that source (`donations.sources`), so each
poster can be told apart.  A tag is short: 1 to `MAX_TAG` lower-case
letters, digits and hyphens.

Sizes (`SIZES`) are the code's side: for print, at 300 dots per inch, a
code that fills an A6 flyer, an A5 sheet or an A4 poster with its margin
(80, 120 and 180 mm); for a screen, 512 pixels.  The PNG is the nearest
whole number of pixels per module below that side, and says its 300 dpi
so it prints at its size; the SVG gives its side in millimetres (or
pixels, for the screen), so it prints at its size whatever the program.
Error correction M (15 %) survives a poster's fold or smudge.
"""
from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import segno
from PIL import Image

from core.errors import Refusal
from core.i18n import N_

PAGE, SCREEN, WIDGET = "page", "screen", "widget"
TARGETS = {PAGE: N_("The campaign's page"), SCREEN: N_("The fundraising screen"), WIDGET: N_("The widget")}
_PATHS = {PAGE: "", SCREEN: "/screen", WIDGET: "/widget"}
DPI = 300
MM_PER_INCH = 25.4
# name -> (label, side in mm for print or None, side in pixels)
SIZES: dict[str, tuple[str, float | None, int]] = {
    "screen": (N_("Screen (512 pixels)"), None, 512),
    "a6": (N_("A6 flyer (8 cm, 300 dpi)"), 80.0, round(80 / MM_PER_INCH * DPI)),
    "a5": (N_("A5 sheet (12 cm, 300 dpi)"), 120.0, round(120 / MM_PER_INCH * DPI)),
    "a4": (N_("A4 poster (18 cm, 300 dpi)"), 180.0, round(180 / MM_PER_INCH * DPI)),
}
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
MAX_TAG = 24
TAG = re.compile(rf"^[a-z0-9-]{{1,{MAX_TAG}}}$")
BORDER = 4   # modules of quiet zone, as the standard asks


class QrError(Refusal):
    """A QR code's options refused; nothing was made."""


def clean_tag(text: str | None) -> str:
    """The staff's source tag, or "" for none; QrError when it is not 1-24 of [a-z0-9-]."""
    tag = (text or "").strip()
    if tag and not TAG.match(tag):
        raise QrError(N_("A source tag is 1 to %(max)s lower-case Latin letters, digits and hyphens "
                         "(for example “hall-poster”)."), max=MAX_TAG)
    return tag


def source(tag: str) -> str:
    """The `src` a code with this tag carries."""
    return f"qr-{tag}" if tag else "qr"


def url(public_url: str, campaign: Mapping[str, Any], target: str, tag: str = "") -> str:
    """The address a code leads to."""
    if target not in TARGETS:
        raise QrError(N_("Choose where the code leads."))
    path = f"/campaigns/{campaign['_id']}{_PATHS[target]}"
    return f"{public_url.rstrip('/')}{path}?{urlencode({'src': source(clean_tag(tag))})}"


def render(address: str, size: str, kind: str) -> bytes:
    """The code of `address` at `size` (`SIZES`) as `kind` (`FORMATS`): dark modules on white."""
    if size not in SIZES:
        raise QrError(N_("Choose a size."))
    if kind not in FORMATS:
        raise QrError(N_("Choose SVG or PNG."))
    code = segno.make(address, error="m")
    modules = int(code.symbol_size(scale=1, border=BORDER)[0])
    _, mm, pixels = SIZES[size]
    out = io.BytesIO()
    if kind == "svg":
        if mm is not None:
            code.save(out, kind="svg", scale=mm / modules, border=BORDER, unit="mm", xmldecl=True, svgns=True)
        else:
            code.save(out, kind="svg", scale=max(1, pixels // modules), border=BORDER, xmldecl=True, svgns=True)
        return out.getvalue()
    scale = max(1, pixels // modules)
    # segno's own PNG writer goes pixel by pixel in Python; Pillow writes the same image in C.
    dots = bytes(0 if dark else 255 for row in code.matrix_iter(scale=1, border=BORDER) for dark in row)
    image = Image.frombytes("L", (modules, modules), dots).convert("1")
    image = image.resize((modules * scale, modules * scale), Image.Resampling.NEAREST)
    image.save(out, format="PNG", dpi=(DPI, DPI), optimize=True)
    return out.getvalue()


def filename(campaign: Mapping[str, Any], target: str, size: str, kind: str, tag: str = "") -> str:
    """The download's name: campaign-<id>-<target>[-<tag>]-<size>.<kind> (ASCII only)."""
    return f"campaign-{campaign['_id']}-{target}{'-' + tag if tag else ''}-{size}.{kind}"
