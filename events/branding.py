"""A space's look on its event pages: a logo and two colours (accent, accent text).

The organiser sets them on the space's page.  Colours are `#rrggbb` only,
and the pair must read: text in the accent-text colour on the accent needs
a contrast of at least 4.5:1 (WCAG 2 AA for normal text), else nothing is
saved.  The logo is an image checked like a slide (`media.image_store`:
PNG, JPEG, WebP or GIF, bounded in bytes and pixels).  Every change is
audited.

The event pages get the colours from a small stylesheet of their own
(`stylesheet`), never from an inline style: the accent band behind the
event's title and logo, and, when the accent also reads as text on the
white cards (4.5:1 again), the page's accent: links, tabs and buttons.
"""
from __future__ import annotations

import hashlib
import re

from access import audit
from accounts.users import AccountDoc
from core.i18n import N_
from events.editing import EditError
from events.model import SpaceDoc
from media import image_store

HEX = re.compile(r"^#[0-9a-f]{6}$")
MIN_CONTRAST = 4.5
CARD = "#ffffff"

BAD_COLOUR = N_("Enter a colour as # and six hexadecimal digits, for example #1f5fbf.")
LOW_CONTRAST = N_("The accent text is hard to read on the accent colour (contrast %(ratio)s:1, at least "
                  "%(min)s:1 is needed). Choose a darker accent or a lighter text colour, or the other way round.")
BOTH_OR_NEITHER = N_("Choose both colours, or clear both to use the standard ones.")


def clean_colour(value: str, field: str) -> str:
    """`#rrggbb` in lower case, or "" for none."""
    value = (value or "").strip().lower()
    if not value:
        return ""
    if not HEX.match(value):
        raise EditError(BAD_COLOUR, field)
    return value


def _luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        v = int(hex_pair, 16) / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(colour[i:i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The WCAG 2 contrast ratio of two `#rrggbb` colours (1 to 21)."""
    la, lb = _luminance(a), _luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def of(space: SpaceDoc | dict) -> dict:
    """The space's branding: {accent, accent_text, logo: {media_id, width, height} | None}."""
    b: dict = dict(space).get("branding") or {}
    return {"accent": b.get("accent") or "", "accent_text": b.get("accent_text") or "", "logo": b.get("logo")}


def _audited(look: dict) -> dict:
    return {"accent": look["accent"], "accent_text": look["accent_text"],
            "logo": look["logo"]["media_id"] if look["logo"] else None}


def check_colours(accent: str, accent_text: str) -> tuple[str, str]:
    """Both colours cleaned, or both ""; refused when only one is given or the pair does not read."""
    accent = clean_colour(accent, "accent")
    accent_text = clean_colour(accent_text, "accent_text")
    if bool(accent) != bool(accent_text):
        raise EditError(BOTH_OR_NEITHER, "accent" if not accent else "accent_text")
    if accent:
        ratio = contrast(accent, accent_text)
        if ratio < MIN_CONTRAST:
            # Rounded down, so the message never shows 4.5 for a refused 4.49.
            raise EditError(LOW_CONTRAST, "accent_text", ratio=f"{int(ratio * 100) / 100:.2f}", min=MIN_CONTRAST)
    return accent, accent_text


async def save(db, actor: AccountDoc, space: SpaceDoc, *, accent: str, accent_text: str,
               logo: tuple[bytes, str] | None = None, remove_logo: bool = False, max_bytes: int) -> dict:
    """Save the colours and the logo (`logo`: an upload's bytes and file name) together.

    Everything is checked before anything is written: a refused colour pair
    (`EditError`) or image (`image_store.MediaError`) changes nothing.
    """
    accent, accent_text = check_colours(accent, accent_text)
    data = logo[0] if logo else b""
    info = await image_store.inspect(data, max_bytes) if logo else None
    before = of(space)
    after = {**before, "accent": accent, "accent_text": accent_text}
    if info:
        await image_store.save(db, data, info)
        after["logo"] = {"media_id": info["_id"], "width": info["width"], "height": info["height"]}
    elif remove_logo:
        after["logo"] = None
    if after == before:
        return before
    await db.spaces.update_one({"_id": space["_id"]}, {"$set": {"branding": after}})
    await audit.record(db, actor=actor, action="space_branding", space_id=space["_id"],
                       before=_audited(before), after=_audited(after))
    return after


def logo_size(logo: dict, height: int = 48) -> tuple[int, int]:
    """Width and height to reserve for the logo shown `height` pixels high (no shift when it loads)."""
    return max(1, round(logo["width"] * height / max(1, logo["height"]))), height


def stylesheet(space: SpaceDoc | dict) -> str:
    """The CSS of the space's colours on its event pages ("" without colours). Only validated hex goes in."""
    b = of(space)
    accent, text = b["accent"], b["accent_text"]
    if not (HEX.match(accent) and HEX.match(text)):
        return ""
    rules = [f"#event.branded {{ --brand: {accent}; --brand-fg: {text}; }}"]
    if contrast(accent, CARD) >= MIN_CONTRAST:
        # Readable as text on the white cards too: the page's accent (links, tabs, buttons) follows it.
        rules.append(f"#event.branded {{ --accent: {accent}; --accent-fg: {text}; }}")
    return "\n".join(rules) + "\n"


def version(space: SpaceDoc | dict) -> str:
    """Changes with the colours: the stylesheet's address carries it, so it can be cached."""
    b = of(space)
    return hashlib.sha256(f"{b['accent']}|{b['accent_text']}".encode()).hexdigest()[:12]
