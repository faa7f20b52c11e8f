"""What a reminder says: the kinds, their default texts, and the organiser's own texts per locale.

The organiser's settings live in the event document under `reminders`
({kind: {"off": bool, "texts": {locale: {"subject", "body"}}}}), written by
`save` through `events.model.versioned_update`, so a change is versioned and
moves the event's `updated_at` like every other edit of the event.

Texts use `{placeholder}` fields.  A text with a field that is not in
`PLACEHOLDERS` (or not meant for its kind) is refused with a translated
error and nothing is saved.  An empty text means the translated default.
The texts are plain text: the mail's HTML part escapes them.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from access import audit
from core.errors import Refusal
from core.i18n import N_
from events import model
from events.model import EventDoc

EVENT_1D, EVENT_1H, EVENT_5M, SESSION = "event_1d", "event_1h", "event_5m", "session"
EVENT_KINDS = (EVENT_1D, EVENT_1H, EVENT_5M)
KINDS = (*EVENT_KINDS, SESSION)
# How long before the moment each reminder goes.
LEADS = {EVENT_1D: datetime.timedelta(days=1), EVENT_1H: datetime.timedelta(hours=1),
         EVENT_5M: datetime.timedelta(minutes=5), SESSION: datetime.timedelta(minutes=15)}
LABELS = {EVENT_1D: N_("One day before the event"), EVENT_1H: N_("One hour before the event"),
          EVENT_5M: N_("Five minutes before the event"),
          SESSION: N_("Fifteen minutes before each session in a person's programme")}
DEFAULT_SUBJECTS = {EVENT_1D: N_("Tomorrow: {event_title}"), EVENT_1H: N_("In one hour: {event_title}"),
                    EVENT_5M: N_("Starting in five minutes: {event_title}"),
                    SESSION: N_("Soon in your programme: {session_title}")}
DEFAULT_EVENT_BODY = N_("Hello, {person_name}!\n\n{event_title} starts at {starts_at}.\n\n"
                        "Join here: {event_url}")
DEFAULT_SESSION_BODY = N_("Hello, {person_name}!\n\n{session_title} ({event_title}) starts at {starts_at}.\n\n"
                          "Join here: {event_url}")
PLACEHOLDERS = ("person_name", "event_title", "starts_at", "event_url", "session_title")
MAX_SUBJECT, MAX_BODY = 200, 5000
FIELD = re.compile(r"\{([^{}]*)\}")

UNKNOWN_PLACEHOLDER = N_("Unknown placeholder {%(name)s}. Use only: %(known)s.")
TOO_LONG = N_("This text is too long.")
UNKNOWN_KIND = N_("Unknown reminder.")


AUDIT_ACTION = "reminders_update"


class TextError(Refusal):
    """A refused text; the message is marked for translation."""


def placeholders_for(kind: str) -> tuple[str, ...]:
    return PLACEHOLDERS if kind == SESSION else tuple(p for p in PLACEHOLDERS if p != "session_title")


def check(kind: str, text: str, limit: int) -> None:
    """Refuse a text with an unknown placeholder, or one that is too long."""
    if len(text) > limit:
        raise TextError(TOO_LONG)
    known = placeholders_for(kind)
    for name in FIELD.findall(text):
        if name not in known:
            raise TextError(UNKNOWN_PLACEHOLDER, name=name, known=", ".join("{%s}" % k for k in known))


def fill(text: str, values: Mapping[str, str]) -> str:
    """The text with each known field replaced; anything else is left as typed."""
    return FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def settings_of(event: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every kind's settings, with defaults for what the organiser never set."""
    stored = event.get("reminders") or {}
    return {kind: {"off": bool((stored.get(kind) or {}).get("off")),
                   "texts": dict((stored.get(kind) or {}).get("texts") or {})} for kind in KINDS}


def is_on(event: Mapping[str, Any], kind: str) -> bool:
    return not settings_of(event)[kind]["off"]


def texts_for(event: Mapping[str, Any], kind: str, locale: str, gettext) -> tuple[str, str]:
    """(subject, body) templates for the locale: the organiser's, else the translated defaults."""
    own = settings_of(event)[kind]["texts"].get(locale) or {}
    body = DEFAULT_SESSION_BODY if kind == SESSION else DEFAULT_EVENT_BODY
    return own.get("subject") or gettext(DEFAULT_SUBJECTS[kind]), own.get("body") or gettext(body)


def parse(event: EventDoc, form: Mapping[str, str]) -> dict[str, Any]:
    """The settings a staff form describes (`off_<kind>`, `subject_<kind>_<locale>`, `body_<kind>_<locale>`).

    Raises `TextError` on the first bad text, before anything is written.
    """
    out: dict[str, Any] = {}
    for kind in KINDS:
        texts = {}
        for locale in event["locales"]:
            subject = " ".join((form.get(f"subject_{kind}_{locale}") or "").split())
            body = (form.get(f"body_{kind}_{locale}") or "").replace("\r\n", "\n").strip()
            check(kind, subject, MAX_SUBJECT)
            check(kind, body, MAX_BODY)
            if subject or body:
                texts[locale] = {"subject": subject, "body": body}
        out[kind] = {"off": bool(form.get(f"off_{kind}")), "texts": texts}
    return out


async def save(db, event: EventDoc, settings: dict[str, Any], actor: Mapping[str, Any] | None) -> EventDoc:
    """Store validated settings (from `parse`) on the event, and audit the change."""
    before, after = await model.versioned_update(db, event["_id"], lambda _current: {"reminders": settings})
    await audit.record(db, actor=actor, action=AUDIT_ACTION, event=after,
                       before=before.get("reminders"), after=settings)
    return after
