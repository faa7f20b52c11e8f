"""Live control of an event: days, broadcast, gate, slides, the viewer count shown to attendees, reactions.

Each action reads the event, computes the new state, persists it guarded by
`state_version` (so two admins clicking at once never lose a flip), writes
the audit log with the state before and after, and only then announces the
change through `StateChanges`.  Handlers call `apply` for these switches;
the other changes to what the live state shows (days added or removed, the
event's languages in events.editing, decks in events.decks) are versioned
and announced the same way.  A day is addressed by its id, never by its
position: adding or removing a day re-sorts the array.
"""
from __future__ import annotations

import copy
import datetime

from access import audit
from accounts.users import AccountDoc
from core.errors import Refusal
from core.i18n import N_
from events import broadcast, model
from events.model import GATE_AUTO, GATE_CLOSED, GATE_OPEN, EventDoc, find_day, slide_count

ACTIONS = (
    "day_on", "day_off", "broadcast_on", "broadcast_off", "broadcast_source", "broadcast_sources",
    "gate_open", "gate_close", "gate_auto", "gate_start",
    "slides_show", "slides_hide", "slide_next", "slide_prev", "slide_goto",
    "viewers_show", "viewers_hide", "reactions_on", "reactions_off",
)


class ControlError(Refusal):
    """A refused action; the message is marked for translation."""


class SourcesRefused(ControlError):
    """Some rows of the sources table are wrong; `rows` maps each such locale to its SourceError.

    Raised before anything is written: one bad row keeps every row unsaved.
    """

    def __init__(self, rows: dict[str, broadcast.SourceError]):
        super().__init__(N_("Nothing was saved: correct the languages marked below."))
        self.rows = rows


CONFLICT = N_("The event is being changed by someone else; try again.")


def _snapshot(event: EventDoc) -> dict:
    return {
        "days": {d["id"]: bool(d.get("enabled")) for d in event["days"]},
        "broadcast": copy.deepcopy(event["broadcast"]),
        "gate": copy.deepcopy(event["gate"]),
        "slides": {"visible": event["slides"]["visible"], "index": event["slides"]["index"]},
        "viewers_shown": model.viewers_shown(event),
        "reactions_on": model.reactions_on(event),
    }


def _changes(event: EventDoc, action: str, params: dict) -> dict:
    """The $set for an action, or ControlError."""
    if action in ("day_on", "day_off"):
        day_id = params.get("day_id")
        if not find_day(event, day_id):
            raise ControlError(N_("Unknown day."))
        return {"days.$.enabled": action == "day_on"}
    if action == "broadcast_on":
        return {"broadcast.on": True}
    if action == "broadcast_off":
        return {"broadcast.on": False}
    if action == "broadcast_source":
        locale = params.get("locale")
        if locale not in event["locales"]:
            raise ControlError(N_("This event has no such language."))
        if not params.get("url"):
            return {f"broadcast.sources.{locale}": None}
        source = broadcast.parse(params.get("kind", ""), params.get("url", ""))
        return {f"broadcast.sources.{locale}": source}
    if action == "broadcast_sources":
        return _sources_changes(event, params.get("sources"))
    if action == "gate_open":
        return {"gate.mode": GATE_OPEN}
    if action == "gate_close":
        return {"gate.mode": GATE_CLOSED}
    if action == "gate_auto":
        return {"gate.mode": GATE_AUTO}
    if action == "gate_start":
        start = params.get("official_start")
        if start is not None and not isinstance(start, datetime.datetime):
            raise ControlError(N_("Enter the official start as a date and time."))
        return {"gate.official_start": start}
    if action in ("viewers_show", "viewers_hide"):
        return {"banner.viewers": action == "viewers_show"}
    if action in ("reactions_on", "reactions_off"):
        return {"reactions_off": action == "reactions_off"}
    if action == "slides_show":
        return {"slides.visible": True}
    if action == "slides_hide":
        return {"slides.visible": False}
    if action in ("slide_next", "slide_prev", "slide_goto"):
        count = slide_count(event)
        if count == 0:
            raise ControlError(N_("There are no slides yet."))
        current = event["slides"]["index"]
        if action == "slide_next":
            target = current + 1
        elif action == "slide_prev":
            target = current - 1
        else:
            number = params.get("number")
            if not isinstance(number, int) or not 1 <= number <= count:
                raise ControlError(N_("There is no slide with that number."))
            target = number - 1
        return {"slides.index": max(0, min(count - 1, target))}
    raise ControlError(N_("Unknown action."))


def _sources_changes(event: EventDoc, sources) -> dict:
    """Every sent row of the sources table at once: all valid, or SourcesRefused and nothing.

    `sources` maps a locale to {"kind", "url"}; an empty link removes that
    language's source; languages not sent keep theirs.
    """
    if not isinstance(sources, dict) or not sources:
        raise ControlError(N_("Enter the broadcast link."))
    if any(locale not in event["locales"] for locale in sources):
        raise ControlError(N_("This event has no such language."))
    changes: dict = {}
    rows: dict[str, broadcast.SourceError] = {}
    for locale in event["locales"]:
        if locale not in sources:
            continue
        row = sources[locale] or {}
        url = (row.get("url") or "").strip()
        try:
            changes[f"broadcast.sources.{locale}"] = broadcast.parse(row.get("kind") or "", url) if url else None
        except broadcast.SourceError as exc:
            rows[locale] = exc
    if rows:
        raise SourcesRefused(rows)
    return changes


def _match(action: str, params: dict) -> dict | None:
    """The element a positional `$` in the changes stands for."""
    if action in ("day_on", "day_off"):
        return {"days.id": params.get("day_id")}
    return None


async def apply(db, notifier, event_id, actor: AccountDoc, action: str, params: dict | None = None,
                retries: int = 5) -> EventDoc:
    """Run one control action; returns the event as persisted afterwards."""
    params = params or {}
    if action not in ACTIONS:
        raise ControlError(N_("Unknown action."))
    try:
        event, after = await model.versioned_update(
            db, event_id, lambda ev: _changes(ev, action, params), retries, _match(action, params))
    except model.EventMissing:
        raise ControlError(N_("This event does not exist.")) from None
    except model.StateConflict:
        raise ControlError(CONFLICT) from None
    await record_and_announce(db, notifier, actor, action, after, _loggable(params),
                              _snapshot(event), _snapshot(after))
    return after


async def record_and_announce(db, notifier, actor: AccountDoc, action: str, saved: EventDoc, params: dict,
                              before, after) -> None:
    """The tail of every live change: audit with before/after, then one announcement."""
    await audit.record(db, actor=actor, action=action, event=saved, params=params,
                       before=before, after=after)
    await announce(notifier, action, saved, params)


async def announce(notifier, action: str, saved: EventDoc, params: dict) -> None:
    """One announcement of a persisted change to what the live state shows."""
    await notifier.announce(saved["_id"], {
        "action": action, "state_version": saved["state_version"], "params": params,
    })


def _loggable(params: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime.datetime) else v) for k, v in params.items()}
