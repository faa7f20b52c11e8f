"""Reading an event's audit log: filters, readable labels, compact JSON and CSV.

The log itself is written by `audit.record`; this module only presents it to
staff, on the audit page and as a spreadsheet.
"""
from __future__ import annotations

import datetime
import json
from zoneinfo import ZoneInfo

from bson import ObjectId

from core.i18n import N_

ACTION_LABELS = {
    "day_on": N_("Day switched on"),
    "day_off": N_("Day switched off"),
    "broadcast_on": N_("Broadcast switched on"),
    "broadcast_off": N_("Broadcast switched off"),
    "broadcast_source": N_("Broadcast source changed"),
    "broadcast_sources": N_("Broadcast sources changed"),
    "gate_open": N_("Gate opened"),
    "gate_close": N_("Gate closed"),
    "gate_auto": N_("Gate follows the official start"),
    "gate_start": N_("Official start changed"),
    "reminders_update": N_("Reminders changed"),
    "slides_show": N_("Slides shown"),
    "slides_hide": N_("Slides hidden"),
    "slide_next": N_("Next slide"),
    "slide_prev": N_("Previous slide"),
    "slide_goto": N_("Slide chosen"),
    "event_create": N_("Event created"),
    "event_update": N_("Texts and settings changed"),
    "day_add": N_("Day added"),
    "day_remove": N_("Day removed"),
    "schedule_add": N_("Schedule item added"),
    "schedule_update": N_("Schedule item changed"),
    "schedule_remove": N_("Schedule item removed"),
    "material_add": N_("Material added"),
    "material_remove": N_("Material removed"),
    "track_add": N_("Track added"),
    "track_update": N_("Track changed"),
    "track_remove": N_("Track removed"),
    "channel_create": N_("Channel created"),
    "staff_grant": N_("Staff role granted"),
    "staff_revoke": N_("Staff role revoked"),
    "deck_add": N_("Slides uploaded"),
    "deck_move": N_("Slide moved"),
    "deck_remove": N_("Slide removed"),
    "deck_copy": N_("Deck copied"),
    "attendee.register": N_("Attendee registered"),
    "attendee.remove": N_("Attendee removed"),
    "attendees.import": N_("Attendees imported"),
    "attendees.export": N_("Attendees exported"),
    "mailing.start": N_("Mailing started"),
    "chat_mute": N_("Chat: member muted"),
    "chat_ban": N_("Chat: member banned"),
    "chat_unmute": N_("Chat: mute lifted"),
    "chat_unban": N_("Chat: ban lifted"),
    "chat_slow_mode": N_("Chat: slow mode changed"),
    "community_page_create": N_("Community page created"),
    "community_page_update": N_("Community page changed"),
    "community_page_publish": N_("Community page published"),
    "community_page_unpublish": N_("Community page unpublished"),
    "community_page_discussion": N_("Community discussion switched"),
    "community_page_move": N_("Community page moved"),
    "community_page_delete": N_("Community page deleted"),
}
MAX_ACTION = 64
CSV_HEADER = ("time_utc", "time_event", "actor_email", "action", "params", "before", "after")


def query(event_id, action: str | None = None) -> dict:
    q: dict = {"event_id": event_id}
    if action:
        q["action"] = action
    return q


async def actions(db, event_id) -> list[str]:
    """Every action that occurs in the event's log, for the filter."""
    return sorted(a for a in await db.audit.distinct("action", {"event_id": event_id}) if a)


def _plain(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, (datetime.date, ObjectId)):
        return str(value)
    return repr(value)


def compact_json(value) -> str:
    """One readable line: sorted keys, real characters (not \\u escapes)."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_plain)


def _cell(text: str) -> str:
    # Spreadsheets run a cell that starts with = + - @ as a formula; anything
    # typed by a person (an email, a title) must not become one.
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def csv_row(entry: dict, timezone: str) -> list[str]:
    at = entry["at"]
    if at.tzinfo is None:
        at = at.replace(tzinfo=datetime.UTC)
    return [_cell(v) for v in (
        at.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        at.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds"),
        entry.get("actor_email") or "",
        entry.get("action") or "",
        compact_json(entry.get("params") or None),
        compact_json(entry.get("before")),
        compact_json(entry.get("after")),
    )]
