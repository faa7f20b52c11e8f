"""Live control of one event: days, broadcast, gate, slides, the viewer count and reactions on one page.

GET shows the live state and how many viewers watch now (realtime.presence,
summed over every server process); every button POSTs to /control/<action>,
which parses the form, calls `events.control.apply` (persist, audit, announce) and
redirects back with a message.  A refused action re-renders the page with
the reason (400) and the stored state untouched.  The page works without
JavaScript.

static/js/control.js makes it live: it sends the same forms with fetch() and
`Accept: application/json`, and then the action answers JSON instead of a
redirect: `{"ok": true, "message", "state"}`, or on refusal (400)
`{"error": 400, "message", "state"}` with the message translated (other
refusals, 403 and 404, come as `{"error", "message"}` from
BaseHandler.write_error).  `state` is `snapshot()`: what the page shows, for
every locale.  GET /control with that Accept header answers the snapshot
alone; the script asks for it whenever a `state` frame says the event changed
(another admin, another tab, a deck edit).
"""
from __future__ import annotations

import datetime
import json
import logging
from zoneinfo import ZoneInfo

from access.permissions import EVENT_CONTROL, EVENT_SLIDES
from admin.staff_base import StaffHandler
from core.clock import utcnow
from core.i18n import LOCALE_NAMES, N_, Formatter, text_for
from events import broadcast, control, model, sessions, view
from handlers.base import PageError
from reactions import totals

log = logging.getLogger(__name__)
EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
# Which part of the page to scroll back to after an action.
SECTIONS = {"day": "days", "broadcast": "broadcast", "broadcast_source": "sources",
            "broadcast_sources": "sources", "gate": "gate",
            "slide": "slides", "slides": "slides", "viewers": "viewers", "reactions": "reactions"}
BAD_START = N_("Enter the official start as a date and time.")


def local_to_utc(value: str, timezone: str) -> datetime.datetime | None:
    """A datetime-local input (wall time in the event's zone) as aware UTC; '' -> None.

    Raises ControlError for anything else, including values carrying their
    own offset: the form only ever sends wall time.
    """
    if not value:
        return None
    try:
        naive = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise control.ControlError(BAD_START) from None
    if naive.tzinfo is not None or not 2000 <= naive.year <= 2100:
        raise control.ControlError(BAD_START)
    return naive.replace(tzinfo=ZoneInfo(timezone)).astimezone(datetime.UTC)


def utc_to_local(value: datetime.datetime | None, timezone: str) -> str:
    """The value for a datetime-local input, in the event's zone."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")


def days_state(event: dict) -> list[dict]:
    """The days with their date parsed, so it can be written the reader's way."""
    out = []
    for day in event["days"]:
        try:
            on = datetime.date.fromisoformat(day.get("date") or "")
        except ValueError:
            on = None
        out.append({**day, "on_date": on})
    return out


def next_slide(event: dict, locale: str) -> tuple[int, dict | None]:
    """(1-based number, slide) that the next flip shows in `locale`, or (0, None) at the end.

    A shorter deck holds its last slide, so its "next" may be the slide it shows now.
    """
    slides = model.deck(event, locale)
    following = event["slides"]["index"] + 1
    if not slides or following >= model.slide_count(event):
        return 0, None
    i = min(following, len(slides) - 1)
    return i + 1, slides[i]


def slides_state(event: dict) -> list[dict]:
    """The current and the next slide of every event locale, for the presenter view."""
    out = []
    for locale in event["locales"]:
        number, slide = model.current_slide(event, locale)
        next_number, following = next_slide(event, locale)
        out.append({
            "locale": locale, "name": LOCALE_NAMES[locale], "number": number, "slide": slide,
            "next_number": next_number, "next": following,
            "total": len(model.deck(event, locale)),
            "own": bool(event["slides"]["decks"].get(locale)),
        })
    return out


def sources_state(event: dict) -> dict:
    """Each locale's broadcast source as the form shows it (YouTube preselected when none)."""
    out = {}
    for locale in event["locales"]:
        current = event["broadcast"]["sources"].get(locale) or {}
        out[locale] = {"kind": current.get("kind") or "youtube", "url": current.get("url") or ""}
    return out


def snapshot(event: dict, start_text: str, start_when: str = "") -> dict:
    """What the control page shows of the live state, JSON-safe, for every locale at once.

    `start_text` is the translated sentence about the official start and
    `start_when` the start alone, written the reader's way (both need the
    reader's language and the event's time zone).  `attendees` is, for each
    locale, exactly the state an attendee's page of that language is sent
    (events.view.live_state): the preview shows it.
    """
    start = event["gate"].get("official_start")
    locales = {}
    for s in slides_state(event):
        locales[s["locale"]] = {"number": s["number"], "total": s["total"], "own": s["own"],
                                "url": f"/media/{s['slide']['media_id']}" if s["slide"] else None,
                                "next_number": s["next_number"],
                                "next_url": f"/media/{s['next']['media_id']}" if s["next"] else None}
    return {
        "state_version": event.get("state_version", 0),
        "slides": {"visible": bool(event["slides"]["visible"]), "index": event["slides"]["index"],
                   "count": model.slide_count(event), "locales": locales},
        "broadcast": {"on": bool(event["broadcast"]["on"]), "sources": sources_state(event)},
        "gate": {"mode": event["gate"]["mode"], "open": model.gate_open(event),
                 "official_start": start.astimezone(datetime.UTC).isoformat() if start else None,
                 "official_start_input": utc_to_local(start, event["timezone"]),
                 "official_start_text": start_text, "official_start_when": start_when},
        "days": {day["id"]: bool(day.get("enabled")) for day in event["days"]},
        "viewers_shown": model.viewers_shown(event),
        "reactions_on": model.reactions_on(event),
        "attendees": {locale: view.live_state(event, locale) for locale in event["locales"]},
    }


def source_fields(arguments: dict) -> dict:
    """The sources table's rows as sent (`kind-<locale>`, `url-<locale>`), by locale.

    Every row sent is passed on, a language the event lacks included, so
    the domain action refuses it; rows not sent are left out.
    """
    rows = {}
    for name, url in arguments.items():
        if name.startswith("url-"):
            locale = name.removeprefix("url-")
            rows[locale] = {"kind": arguments.get(f"kind-{locale}", ""), "url": url}
    return rows


class ControlBase(StaffHandler):
    permission = EVENT_CONTROL

    def start_text(self, event: dict) -> str:
        start = event["gate"].get("official_start")
        if not start:
            return self._("Not set.")
        when = Formatter(self.locale_code).datetime(start, event["timezone"])
        return self._("Now set to %(when)s.") % {"when": when}

    def start_when(self, event: dict) -> str:
        start = event["gate"].get("official_start")
        return Formatter(self.locale_code).datetime(start, event["timezone"]) if start else ""

    def snapshot(self, event: dict) -> dict:
        return snapshot(event, self.start_text(event), self.start_when(event))

    def chosen_locale(self, name: str, event: dict) -> str:
        """The language picked for the presenter view or the preview: asked for, the reader's, or the default."""
        for locale in (self.get_query_argument(name, ""), self.locale_code):
            if locale in event["locales"]:
                return locale
        return event["default_locale"]

    def write_json(self, status: int, body: dict) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    async def render_control(self, status: int = 200, error: str = "", typed: dict | None = None,
                             row_errors: dict | None = None):
        event = self.event
        viewers = None
        live = self.services.live
        presence = live.presence if live is not None else None
        if presence is not None:
            try:
                viewers = await presence.counts(event["_id"])
            except Exception:
                # Redis being away must not take the control page with it.
                log.exception("viewer counts unavailable")
        reaction_totals = await totals.totals(self.db, event["_id"])
        sources = sources_state(event)
        typed = typed or {}
        if "source" in typed:
            sources[typed["source"]["locale"]] = typed["source"]
        for locale, row in typed.get("sources", {}).items():
            sources[locale] = {"kind": row["kind"], "url": row["url"]}
        snap = self.snapshot(event)
        self.render_page(
            "admin/control.html", status=status, active="control", error=error,
            days=days_state(event), sources=sources, kinds=broadcast.KINDS,
            kind_labels=broadcast.KIND_LABELS, locale_names=LOCALE_NAMES,
            gate_is_open=model.gate_open(event), viewers_shown=model.viewers_shown(event),
            official_start_input=typed.get("official_start", utc_to_local(
                event["gate"].get("official_start"), event["timezone"])),
            slide_count=model.slide_count(event), slide_index=event["slides"]["index"],
            slides=slides_state(event), goto_value=typed.get("number", ""),
            can_edit_slides=EVENT_SLIDES in self.grants, viewers=viewers,
            start_text=self.start_text(event), state_version=event.get("state_version", 0),
            snapshot=snap, reactions=totals.REACTIONS, reaction_totals=reaction_totals,
            row_errors=row_errors or {}, start_when=self.start_when(event),
            presenter_locale=self.chosen_locale("presenter", event),
            preview_locale=self.chosen_locale("preview", event),
            reactions_on=model.reactions_on(event),
            sessions_now=await sessions.running(self.db, event, utcnow()),
        )


class ControlPage(ControlBase):
    async def get(self, event_id):
        self.set_header("Cache-Control", "no-store")
        if self.wants_json():
            self.write_json(200, self.snapshot(self.event))
            return
        await self.render_control()


class ControlAction(ControlBase):

    async def post(self, event_id, action):
        if action not in control.ACTIONS:
            raise PageError(404, self._("Unknown action."))
        typed: dict = {}
        try:
            params = self.params_for(action, typed)
            after = await control.apply(self.db, self.services.notifier, self.event["_id"],
                                        self.current_user, action, params)
        except (control.ControlError, broadcast.SourceError) as exc:
            rows = {locale: self.refusal(row) for locale, row in getattr(exc, "rows", {}).items()}
            if self.wants_json():
                # The stored state comes along: after a conflict the page shows what won.
                fresh = await model.get_event(self.db, self.event["_id"]) or self.event
                body = {"error": 400, "message": self.refusal(exc), "state": self.snapshot(fresh)}
                if rows:
                    body["rows"] = rows
                self.write_json(400, body)
                return
            await self.render_control(status=400, error=self.refusal(exc), typed=typed, row_errors=rows)
            return
        if self.wants_json():
            self.write_json(200, {"ok": True, "message": self.done_message(action, params, after),
                                  "state": self.snapshot(after)})
            return
        self.flash(self.done_message(action, params, after))
        section = SECTIONS.get(action) or SECTIONS[action.split("_")[0]]
        self.redirect(f"/admin/events/{self.event['_id']}/control#{section}")

    def params_for(self, action: str, typed: dict) -> dict:
        if action in ("day_on", "day_off"):
            return {"day_id": self.form("day_id", max_length=100)}
        if action == "broadcast_source":
            locale = self.form("locale", max_length=10)
            kind = self.form("kind", max_length=20)
            url = self.form("url", max_length=2100)
            if locale in self.event["locales"]:
                typed["source"] = {"locale": locale, "kind": kind, "url": url}
            return {"locale": locale, "kind": kind, "url": url}
        if action == "broadcast_sources":
            arguments = {name: self.form(name, max_length=2100) for name in self.request.body_arguments
                         if name.startswith(("kind-", "url-")) and len(name) <= 12}
            rows = source_fields(arguments)
            typed["sources"] = {k: v for k, v in rows.items() if k in self.event["locales"]}
            return {"sources": rows}
        if action == "gate_start":
            value = self.form("official_start", max_length=40)
            typed["official_start"] = value
            return {"official_start": local_to_utc(value, self.event["timezone"])}
        if action == "slide_goto":
            raw = self.form("number", max_length=10)
            typed["number"] = raw
            try:
                number = int(raw)
            except ValueError:
                number = None
            return {"number": number}
        return {}

    def done_message(self, action: str, params: dict, event: dict) -> str:
        _ = self._
        if action in ("day_on", "day_off"):
            day = model.find_day(event, params["day_id"])
            title = text_for(day["title"], self.locale_code, (event["default_locale"],)) or day["date"]
            if action == "day_on":
                return _("%(day)s is switched on.") % {"day": title}
            return _("%(day)s is switched off.") % {"day": title}
        if action == "broadcast_source":
            language = LOCALE_NAMES[params["locale"]]
            if event["broadcast"]["sources"].get(params["locale"]):
                return _("The broadcast source for %(language)s is saved.") % {"language": language}
            return _("The broadcast source for %(language)s is removed.") % {"language": language}
        if action == "broadcast_sources":
            return _("The broadcast sources are saved.")
        if action == "gate_start":
            if event["gate"].get("official_start"):
                return _("The official start is set.")
            return _("The official start is cleared.")
        if action in ("slide_next", "slide_prev", "slide_goto"):
            return _("Slide %(number)s of %(count)s is shown.") % {
                "number": event["slides"]["index"] + 1, "count": model.slide_count(event)}
        return {
            "broadcast_on": _("The broadcast is on."),
            "broadcast_off": _("The broadcast is off."),
            "gate_open": _("The gate is open: attendees can enter."),
            "gate_close": _("The gate is closed: attendees wait outside."),
            "gate_auto": _("The gate opens by itself at the official start."),
            "slides_show": _("The slides are shown."),
            "slides_hide": _("The slides are hidden."),
            "viewers_show": _("Attendees see the number of viewers while the event is live."),
            "viewers_hide": _("Attendees no longer see the number of viewers."),
            "reactions_on": _("Attendees can send reactions."),
            "reactions_off": _("Reactions are off for attendees."),
        }[action]


ROUTES = [
    (EVENT + r"/control", ControlPage),
    (EVENT + r"/control/(?P<action>[a-z_]+)", ControlAction),
]
