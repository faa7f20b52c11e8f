"""What a reminder says: the kinds, their default texts, and the organiser's own texts per locale.

The organiser's settings live in the event document under `reminders`
({kind: {"off": bool, "texts": {locale: {"subject", "body"}}}}), written by
`save` through `events.model.versioned_update`, so a change is versioned and
moves the event's `updated_at` like every other edit of the event.

The texts are mail templates (`mailings.templates`, kinds `reminder_<kind>`):
`{placeholder}` fields, refused with a translated error when the kind does
not declare them, an empty text meaning the translated default.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from access import audit
from core.i18n import N_
from events import model
from events.model import EventDoc
from mailings import templates

EVENT_1D, EVENT_1H, EVENT_5M, SESSION = "event_1d", "event_1h", "event_5m", "session"
EVENT_KINDS = (EVENT_1D, EVENT_1H, EVENT_5M)
KINDS = (*EVENT_KINDS, SESSION)
# How long before the moment each reminder goes.
LEADS = {EVENT_1D: datetime.timedelta(days=1), EVENT_1H: datetime.timedelta(hours=1),
         EVENT_5M: datetime.timedelta(minutes=5), SESSION: datetime.timedelta(minutes=15)}
# The texts themselves are mail templates (`mailings.templates`), kept under the event's `reminders`.
TEMPLATES = {kind: templates.KINDS[f"reminder_{kind}"] for kind in KINDS}
LABELS = {kind: TEMPLATES[kind].label for kind in KINDS}
DEFAULT_SUBJECTS = {kind: TEMPLATES[kind].subject for kind in KINDS}
PLACEHOLDERS = TEMPLATES[SESSION].placeholders
MAX_SUBJECT, MAX_BODY = templates.MAX_SUBJECT, templates.MAX_BODY
UNKNOWN_PLACEHOLDER, TOO_LONG = templates.UNKNOWN_PLACEHOLDER, templates.TOO_LONG
UNKNOWN_KIND = N_("Unknown reminder.")
AUDIT_ACTION = "reminders_update"
TextError = templates.TextError
fill = templates.fill


def placeholders_for(kind: str) -> tuple[str, ...]:
    return TEMPLATES[kind].placeholders


def check(kind: str, text: str, limit: int) -> None:
    """Refuse a text with an unknown placeholder, or one that is too long."""
    templates.check(TEMPLATES[kind], text, limit)


def settings_of(event: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every kind's settings, with defaults for what the organiser never set."""
    stored = event.get("reminders") or {}
    return {kind: {"off": bool((stored.get(kind) or {}).get("off")),
                   "texts": dict((stored.get(kind) or {}).get("texts") or {})} for kind in KINDS}


def is_on(event: Mapping[str, Any], kind: str) -> bool:
    return not settings_of(event)[kind]["off"]


def texts_for(event: Mapping[str, Any], kind: str, locale: str, gettext) -> tuple[str, str]:
    """(subject, body) templates for the locale: the organiser's, else the translated defaults."""
    return templates.texts_for(event, TEMPLATES[kind], locale, gettext)


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
