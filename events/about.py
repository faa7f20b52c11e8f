"""What an event's public page and its catalogue card show, for one viewer's language.

Pure: computed from the event document.  Who may see it at all is decided
before (`access.rules.privacy_verdict`); a session with privacy of its own
is shown only when `session_shown` admits it.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from core.i18n import LOCALE_NAMES
from events import catalogue, tags, view
from events.model import EventDoc, SpaceDoc

EXCERPT = 240


def excerpt(text: str, length: int = EXCERPT) -> str:
    """The start of a description for a card or a sharing preview, cut at a word."""
    text = " ".join((text or "").split())
    if len(text) <= length:
        return text
    cut = text[:length].rsplit(" ", 1)[0]
    return (cut or text[:length]) + "…"


def iso(moment: datetime.datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def card(space: SpaceDoc, event: EventDoc, viewer_locale: str, now: datetime.datetime) -> dict:
    """One catalogue entry."""
    start = catalogue.start_of(event)
    return {
        "event": event, "about": view.path(space, event) + "/about",
        "title": view.text(event, event["title"], viewer_locale),
        "excerpt": excerpt(view.text(event, event.get("description"), viewer_locale)),
        "start": start, "start_iso": iso(start), "local_start": view.local(start, event["timezone"]),
        "timezone": event["timezone"], "past": catalogue.is_past(event, now),
        "languages": [{"code": c, "name": LOCALE_NAMES[c]} for c in event["locales"] if c in LOCALE_NAMES],
        "tags": tags.of(event),
    }


def page(space: SpaceDoc, event: EventDoc, viewer_locale: str, now: datetime.datetime,
         session_shown: Callable[[Any], bool] = lambda item: True) -> dict:
    """The public page: the card's facts, the whole description, days and their sessions."""
    out = card(space, event, viewer_locale, now)
    out["description"] = view.text(event, event.get("description"), viewer_locale)
    days = []
    for day in sorted(event["days"], key=lambda d: d.get("date", "")):
        items = sorted((i for i in event["schedule"] if i.get("day_id") == day["id"] and session_shown(i)),
                       key=lambda i: i["starts_at"])
        days.append({
            "date": _date(day.get("date")), "title": view.text(event, day.get("title"), viewer_locale),
            "sessions": [{"title": view.text(event, i.get("title"), viewer_locale),
                          "starts_at": i["starts_at"], "ends_at": i.get("ends_at"),
                          "speaker": i.get("speaker", ""), "tags": tags.of(i)} for i in items],
        })
    out["days"] = days
    return out


def _date(value: str | None) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value) if value else None
    except ValueError:
        return None
