"""Tags of events and sessions: what a catalogue filters by and recommendations match.

A tag is a short lower-case word or phrase typed by staff ("data science",
"ai").  Stored as a list on the event (`event["tags"]`) and, optionally, on a
schedule item (`item["tags"]`).  Cleaning is pure: it either returns the
list to store or raises `TagError` with a message marked for translation.
"""
from __future__ import annotations

from collections.abc import Iterable

from core.errors import Refusal
from core.i18n import N_
from core.text import strip_bidi

MAX_TAGS = 20
MAX_TAG_LENGTH = 40
# Commas separate tags in the form; a pasted list may use new lines or semicolons.
_SEPARATORS = (",", ";", "\n", "\r")


class TagError(Refusal):
    """Refused tags; `message` is marked for translation, `params` fill it in."""


def normalise(tag: str) -> str:
    """One tag as stored: trimmed, inner spaces collapsed, lower-case."""
    return " ".join(strip_bidi(tag or "").split()).lower()


def split(raw: str | Iterable[str] | None) -> list[str]:
    """The tags typed in a form ("AI, data science") or given as a list, normalised."""
    if raw is None:
        return []
    if isinstance(raw, str):
        for sep in _SEPARATORS[1:]:
            raw = raw.replace(sep, _SEPARATORS[0])
        pieces: Iterable[str] = raw.split(_SEPARATORS[0])
    else:
        pieces = raw
    return [normalise(p) for p in pieces if isinstance(p, str)]


def clean(raw: str | Iterable[str] | None) -> list[str]:
    """The tags to store: distinct, in the order typed, each and all within their limits."""
    out: list[str] = []
    for tag in split(raw):
        if not tag or tag in out:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise TagError(N_("A tag is too long (at most %(count)s characters)."), count=MAX_TAG_LENGTH)
        out.append(tag)
    if len(out) > MAX_TAGS:
        raise TagError(N_("Too many tags (at most %(count)s)."), count=MAX_TAGS)
    return out


def of(doc) -> list[str]:
    """The stored tags of an event or a session (none for documents stored before tags)."""
    found = doc.get("tags") if doc else None
    return [t for t in found if isinstance(t, str)] if isinstance(found, list) else []


def as_text(tags: Iterable[str]) -> str:
    """Tags as the form shows them."""
    return ", ".join(tags)
