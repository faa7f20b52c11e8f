"""An event's certificate template and conditions, one document per event in `certificate_templates`.

The layout is HTML with CSS written by the organiser, one per locale, with
placeholders in braces: {name}, {event}, {date}, {code}, {url}, {qr}.  The
values are escaped when filled in, so a person's name is never markup; a
placeholder outside that list is refused when saved, so a misspelt one is
not silently printed.  Conditions: a registration in state registered whose
event page was opened (`watched_at`), and optionally a number of minutes of
the broadcast watched (`min_minutes`, from the player's heartbeat:
`registration.watch_time`) and a finished quiz with at least a share of
right answers.
"""
from __future__ import annotations

import re

from access import audit
from accounts.users import AccountDoc
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from events.model import EventDoc

PLACEHOLDERS = ("name", "event", "date", "code", "url", "qr")
PLACEHOLDER = re.compile(r"\{([^{}\s]{0,40})\}")
MAX_LAYOUT = 50_000
MAX_MINUTES = 10_000   # a week of broadcast, about

DEFAULT_LAYOUT = """<style>
  body { font-family: "DejaVu Serif", serif; text-align: center; color: #1b1f2a; }
  .frame { border: 6pt double #1f5fbf; height: 170mm; padding: 12mm; }
  h1 { font-size: 34pt; margin: 10mm 0 6mm; }
  .name { font-size: 28pt; font-weight: bold; margin: 8mm 0; }
  .event { font-size: 18pt; }
  .foot { margin-top: 12mm; font-size: 10pt; color: #5a6275; }
  .qr { width: 32mm; height: 32mm; }
</style>
<div class="frame">
  <h1>Certificate of attendance</h1>
  <p>This certifies that</p>
  <p class="name">{name}</p>
  <p>attended</p>
  <p class="event">{event}</p>
  <p>{date}</p>
  <div class="foot">{qr}<br>Verification code: {code}<br>{url}</div>
</div>
"""


class TemplateError(Refusal):
    pass


def blank(event_id) -> dict:
    return {"event_id": event_id, "layouts": {}, "quiz_id": None, "min_percent": None, "min_minutes": None,
            "version": 0}


async def load(db, event: EventDoc) -> dict:
    return await db.certificate_templates.find_one({"event_id": event["_id"]}) or blank(event["_id"])


def layout_for(template: dict, event: EventDoc, locale: str) -> str:
    """The layout in `locale`, else the event's default locale's, else the built-in one."""
    layouts = template.get("layouts") or {}
    return layouts.get(locale) or layouts.get(event.get("default_locale", "")) or DEFAULT_LAYOUT


def check_layout(layout: str) -> str:
    layout = layout.replace("\r\n", "\n").strip()
    if len(layout) > MAX_LAYOUT:
        raise TemplateError(N_("The layout is too long (at most %(most)s characters)."), most=MAX_LAYOUT)
    for found in PLACEHOLDER.findall(layout):
        if found not in PLACEHOLDERS:
            raise TemplateError(N_("Unknown placeholder {%(name)s}; use one of: %(known)s."), name=found,
                                known=", ".join("{" + p + "}" for p in PLACEHOLDERS))
    return layout


def clean(event: EventDoc, quizzes: list[dict], *, layouts: dict[str, str], quiz_id: str,
          min_percent: str, min_minutes: str = "") -> dict:
    """The settings as they will be stored, or a `TemplateError`; nothing is written here."""
    cleaned = {}
    for locale in event["locales"]:
        text = layouts.get(locale, "")
        if text.strip():
            cleaned[locale] = check_layout(text)
    quiz = None
    if quiz_id:
        quiz = next((q["_id"] for q in quizzes if str(q["_id"]) == quiz_id), None)
        if quiz is None:
            raise TemplateError(N_("Choose one of this event's quizzes."))
    percent = None
    if quiz is not None:
        try:
            percent = int(min_percent or "0")
        except ValueError:
            percent = -1
        if not 0 <= percent <= 100:
            raise TemplateError(N_("The minimum score is a whole percentage from 0 to 100."))
    return {"layouts": cleaned, "quiz_id": quiz, "min_percent": percent, "min_minutes": clean_minutes(min_minutes)}


def clean_minutes(raw: str) -> int | None:
    """The minutes of the broadcast a certificate asks for; None (empty or 0) asks for none."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        minutes = int(raw)
    except ValueError:
        minutes = -1
    if not 0 <= minutes <= MAX_MINUTES:
        raise TemplateError(N_("The minutes watched are a whole number from 0 to %(most)s."), most=MAX_MINUTES)
    return minutes or None


async def save(db, actor: AccountDoc, event: EventDoc, values: dict) -> None:
    await db.certificate_templates.update_one(
        {"event_id": event["_id"]},
        {"$set": {**values, "updated_at": utcnow()}, "$inc": {"version": 1},
         "$setOnInsert": {"event_id": event["_id"]}}, upsert=True)
    await audit.record(db, actor=actor, action="certificate_template_save", event=event,
                       params={"locales": sorted(values["layouts"]), "quiz": bool(values["quiz_id"]),
                               "min_minutes": values.get("min_minutes")})
