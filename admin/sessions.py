"""Staff pages of an event's sessions: tracks, channels, and the calendar that plans the schedule.

Handlers read the form, call `events.sessions`, and either redirect with a
message or show the page again with the refusal (status 400, nothing saved).

The calendar (`/calendar`) is a server-rendered grid: a column per channel
(or per track, `?by=track`), a row per quarter hour, each session in the
cell where it starts with an edit link, so it works without JavaScript and
by keyboard.  static/js/schedule_calendar.js lets staff drag a session to
another cell (SortableJS); the drop is sent as JSON to `/program/schedule/move`
(`X-XSRFToken` header), which saves it through `events.sessions.move_session`,
the same validated, audited update as the edit form (docs/http.md).
"""
from __future__ import annotations

import datetime
import json
from typing import Any
from zoneinfo import ZoneInfo

from access.permissions import EVENT_EDIT
from admin import forms
from admin.staff_base import StaffHandler
from core.i18n import N_
from events import editing, sessions
from events.editing import EditError
from handlers.base import PageError
from registration import session_seats

SLOT_MINUTES = 15
MAX_BODY = 4096


def _base(event) -> str:
    return f"/admin/events/{event['_id']}"


def session_values(handler) -> dict[str, Any] | None:
    """A session's own fields from the schedule item form (`sessions.session_form`'s shape).

    A form without them (`session_form` absent: an older page, a script)
    gives None: the item keeps its session fields (the defaults for a new
    one), so unticked boxes are not read as "off".
    """
    if not forms.field(handler, "session_form"):
        return None
    rows = [{"name": forms.field(handler, f"speaker_name_{i}"), "user_id": forms.field(handler, f"speaker_user_{i}")}
            for i in range(sessions.MAX_SPEAKERS + 1)]
    return {"speakers": [r for r in rows if r["name"] or r["user_id"]],
            "track_id": forms.field(handler, "track_id"), "channel_id": forms.field(handler, "channel_id"),
            "chat": forms.field(handler, "chat") == "1", "recording_url": forms.field(handler, "recording_url"),
            "recording_after": forms.field(handler, "recording_after") == "1",
            "materials_after": forms.field(handler, "materials_after") == "1",
            "capacity": forms.field(handler, "capacity")}


# --- tracks -----------------------------------------------------------------------------

class TracksPage(StaffHandler):
    permission = EVENT_EDIT

    async def show(self, status: int = 200, errors: dict | None = None, values: dict | None = None):
        form = {"track": {"title": {}, "colour": "blue"}, "channel": {"slug": "", "title": {}}}
        form.update(values or {})
        self.render_page("admin/event_tracks.html", status=status, active="tracks", errors=errors or {},
                         form=form, tracks=sessions.tracks_of(self.event), palette=sessions.PALETTE,
                         channels=await sessions.channels_of(self.db, self.event),
                         is_channel=sessions.is_channel(self.event))

    def track_values(self) -> dict:
        return {"title": forms.locale_texts(self, "title", self.event["locales"]),
                "colour": forms.field(self, "colour")}

    def done(self, message: str, anchor: str):
        self.flash(message)
        self.redirect(_base(self.event) + "/tracks#" + anchor)


class TracksHandler(TracksPage):
    async def get(self, event_id):
        await self.show()

    async def post(self, event_id):
        values = self.track_values()
        try:
            await sessions.add_track(self.db, self.current_user, self.event, **values)
        except EditError as exc:
            await self.show(400, {"track": self.refusal(exc)}, {"track": values})
            return
        self.done(self._("The track has been added."), "tracks")


class TrackEditHandler(TracksPage):
    def track(self) -> dict:
        track = sessions.find_track(self.event, self.get_query_argument("track", "").strip()[:32])
        if not track:
            raise PageError(404, self._("This track does not exist."))
        return track

    def show_track(self, track: dict, status: int = 200, error: str | None = None, values: dict | None = None):
        self.render_page("admin/event_track.html", status=status, active="tracks", track=track, error=error,
                         form=values or {"title": dict(track["title"]), "colour": track["colour"]},
                         palette=sessions.PALETTE)

    def get(self, event_id):
        self.show_track(self.track())

    async def post(self, event_id):
        track = self.track()
        values = self.track_values()
        try:
            await sessions.update_track(self.db, self.current_user, self.event, track["id"], **values)
        except EditError as exc:
            self.show_track(track, 400, self.refusal(exc), values)
            return
        self.done(self._("The track has been saved."), "tracks")


class TrackRemoveHandler(TracksPage):
    async def post(self, event_id):
        try:
            await sessions.remove_track(self.db, self.current_user, self.event, forms.field(self, "track"))
        except EditError as exc:
            raise PageError(404, self.refusal(exc)) from None
        self.done(self._("The track has been removed."), "tracks")


class ChannelAddHandler(TracksPage):
    async def post(self, event_id):
        values = {"slug": forms.field(self, "slug"),
                  "title": forms.locale_texts(self, "title", self.event["locales"])}
        try:
            channel = await sessions.create_channel(self.db, self.current_user, self.event, **values)
        except EditError as exc:
            await self.show(400, {"channel": self.refusal(exc)}, {"channel": values})
            return
        self.flash(self._("The channel has been created. Set up its broadcast and slides on its own pages."))
        self.redirect(_base(channel))


# --- the calendar ---------------------------------------------------------------------------

def calendar_grid(event: dict, main: dict, channels: list[dict], by: str, locale_text) -> list[dict]:
    """Per day: its columns, its quarter-hour rows and the sessions starting in each cell.

    The rows run from 08:00 (or the earliest start) to 20:00 (or the latest
    end), on the event's clock.
    """
    zone = ZoneInfo(main["timezone"])
    if by == "track":
        columns = [{"id": "", "title": N_("No track"), "translate": True, "colour": ""}] + [
            {"id": t["id"], "title": locale_text(t["title"]), "translate": False, "colour": t["colour"]}
            for t in sessions.tracks_of(main)]
        key = "track_id"
    else:
        columns = [{"id": "", "title": locale_text(main["title"]), "translate": False, "colour": ""}] + [
            {"id": str(c["_id"]), "title": locale_text(c["title"]), "translate": False, "colour": ""}
            for c in channels]
        key = "channel_id"
    known = {c["id"] for c in columns}
    days = []
    for day, items in editing.schedule_by_day(main):
        first, last = 8 * 60, 20 * 60
        for item in items:
            start = sessions.local_minutes(item["starts_at"], main["timezone"])
            end = sessions.local_minutes(item["ends_at"], main["timezone"]) if item.get("ends_at") else start + 30
            first, last = min(first, start - start % 60), max(last, end if end > start else 24 * 60)
        cells: dict[tuple[str, int], list[dict]] = {}
        for item in items:
            column = item.get(key) or ""
            column = column if column in known else ""
            local = item["starts_at"].astimezone(zone)
            slot = (local.hour * 60 + local.minute) // SLOT_MINUTES * SLOT_MINUTES
            minutes = (int((item["ends_at"] - item["starts_at"]).total_seconds() // 60)
                       if item.get("ends_at") else SLOT_MINUTES)
            cells.setdefault((column, slot), []).append({"item": item, "minutes": minutes,
                                                         "track": sessions.find_track(main, item.get("track_id"))})
        rows = [{"minute": m, "label": f"{m // 60:02d}:{m % 60:02d}"}
                for m in range(first, min(last, 24 * 60), SLOT_MINUTES)]
        days.append({"day": day, "rows": rows, "cells": cells, "count": len(items)})
    return [{"columns": columns, **d} for d in days]


class CalendarHandler(StaffHandler):
    permission = EVENT_EDIT

    async def get(self, event_id):
        main = await sessions.main_of(self.db, self.event)
        if main is not self.event:
            # A channel's sessions are planned in its main event.
            self.redirect(_base(main) + "/calendar")
            return
        by = "track" if self.get_query_argument("by", "") == "track" else "channel"
        channels = await sessions.channels_of(self.db, main)

        def locale_text(values):
            from events import view
            return view.text(main, values, self.locale_code)

        self.render_page("admin/event_calendar.html", active="calendar", by=by,
                         grid=calendar_grid(self.event, main, channels, by, locale_text),
                         slot_minutes=SLOT_MINUTES,
                         seats=await session_seats.counts(self.db, main, main["schedule"]))


class ScheduleMoveHandler(StaffHandler):
    """POST JSON {item, day_id, starts "HH:MM", column?, by?}: move a session (the calendar's drop)."""

    permission = EVENT_EDIT

    def write_json(self, status: int, body: dict) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    async def post(self, event_id):
        body = self.request.body
        try:
            if len(body) > MAX_BODY:
                raise ValueError("too long")
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("not an object")
            fields = {name: data.get(name) for name in ("item", "day_id", "starts", "column", "by")}
            for name, value in fields.items():
                if value is not None and (not isinstance(value, str) or len(value) > 64):
                    raise ValueError(name)
        except ValueError:
            self.write_json(400, {"error": 400, "message": self._("The request was not understood.")})
            return
        try:
            item = await sessions.move_session(
                self.db, self.current_user, self.event, fields["item"] or "", day_id=fields["day_id"] or "",
                starts=fields["starts"] or "", column=fields["column"], by=fields["by"] or "channel")
        except EditError as exc:
            self.write_json(400, {"error": 400, "message": self.refusal(exc), "field": exc.field})
            return
        zone = ZoneInfo(self.event["timezone"])
        ends = item.get("ends_at")
        self.write_json(200, {
            "ok": True, "message": self._("The schedule item has been saved."),
            "item": {"id": item["id"], "day_id": item["day_id"],
                     "starts": item["starts_at"].astimezone(zone).strftime("%H:%M"),
                     "ends": ends.astimezone(zone).strftime("%H:%M") if isinstance(ends, datetime.datetime) else None,
                     "channel_id": item.get("channel_id") or "", "track_id": item.get("track_id") or ""}})


_EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"

ROUTES = [
    (_EVENT + r"/tracks", TracksHandler),
    (_EVENT + r"/tracks/edit", TrackEditHandler),
    (_EVENT + r"/tracks/remove", TrackRemoveHandler),
    (_EVENT + r"/channels", ChannelAddHandler),
    (_EVENT + r"/calendar", CalendarHandler),
    (_EVENT + r"/program/schedule/move", ScheduleMoveHandler),
]
