"""Recommendations by tags: events and sessions that match what a person showed interest in.

Interest comes from three things a person did: registered for an event
(attended, once it is past), watched it (`watching.note_watched` marks the
registration the first time the event page opens), and saved a session to
their programme.  Each gives the tags of what it concerns.  A candidate is
scored by how many tags it shares with each of them, weighted by how strong
the interest is, and explained by the one that contributed most ("Because
you attended “X”").

Never recommended: what the person already has (an event they hold any
registration or role in, a session already in their programme), what is
over (a past event, a session that has started), and events a catalogue
would not list to them (only PUBLIC and SIGNED_IN events are candidates;
sessions only of events the person is registered for, and only those their
programme accepts).

`rank` is pure; `for_person` is the thin read around it.
"""
from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from access import roles as R
from core.clock import utcnow
from core.i18n import N_
from events import catalogue, model, privacy, programme, tags
from registration import model as reg

ATTENDED, WATCHED, REGISTERED, SAVED = "attended", "watched", "registered", "saved"
# How much one shared tag counts, by what the person did.
WEIGHTS = {WATCHED: 3, ATTENDED: 3, SAVED: 2, REGISTERED: 2}
REASONS = {
    ATTENDED: N_("Because you attended “%(title)s”"),
    WATCHED: N_("Because you watched “%(title)s”"),
    REGISTERED: N_("Because you registered for “%(title)s”"),
    SAVED: N_("Because you saved “%(title)s”"),
}
# Registrations that show interest: every state but those that ended it.
INTERESTED = frozenset({reg.UNCONFIRMED, reg.PENDING, reg.WAITING, reg.OFFERED, reg.REGISTERED})
DEFAULT_LIMIT = 10


@dataclasses.dataclass(frozen=True)
class Signal:
    """Something the person did: its kind, the event (and session) it concerns, their tags."""
    kind: str
    event: Any
    item: Any | None
    tags: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Candidate:
    """An event (item None) or one of its sessions that may be recommended."""
    event: Any
    item: Any | None
    tags: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Recommendation:
    candidate: Candidate
    score: int
    because: Signal
    shared: tuple[str, ...]  # the tags shared with `because`, sorted


def _aware(moment: datetime.datetime) -> datetime.datetime:
    # Stored datetimes may come back naive (UTC) from some storage backends.
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _start(candidate: Candidate) -> datetime.datetime:
    if candidate.item is not None:
        return _aware(candidate.item["starts_at"])
    return catalogue.start_of(candidate.event) or datetime.datetime.max.replace(tzinfo=datetime.UTC)


def is_over(candidate: Candidate, now: datetime.datetime) -> bool:
    if candidate.item is not None:
        return _aware(candidate.item["starts_at"]) <= now
    return catalogue.is_past(candidate.event, now)


def rank(signals: Sequence[Signal], candidates: Iterable[Candidate], *, had_events: set,
         had_items: set, now: datetime.datetime, limit: int = DEFAULT_LIMIT) -> list[Recommendation]:
    """The best candidates, highest score first (then soonest), each with its strongest reason.

    `had_events`: ids of events the person already has; `had_items`: (event
    id, item id) of sessions already in their programme.
    """
    out = []
    for c in candidates:
        if c.item is None and c.event["_id"] in had_events:
            continue
        if c.item is not None and (c.event["_id"], c.item["id"]) in had_items:
            continue
        if not c.tags or is_over(c, now):
            continue
        score, best, best_gain = 0, None, 0
        for s in signals:
            if s.item is None and c.item is None and s.event["_id"] == c.event["_id"]:
                continue  # an event never recommends itself
            shared = c.tags & s.tags
            gain = len(shared) * WEIGHTS[s.kind]
            score += gain
            if gain > best_gain:
                best, best_gain = s, gain
        if best is not None:
            out.append(Recommendation(c, score, best, tuple(sorted(c.tags & best.tags))))
    out.sort(key=lambda r: (-r.score, _start(r.candidate), str(r.candidate.event["_id"]),
                            r.candidate.item["id"] if r.candidate.item else ""))
    return out[:limit]


def signals_of(memberships, events: dict, saved: dict, now: datetime.datetime) -> list[Signal]:
    """The person's signals from their registrations and saved sessions.

    `events`: id -> event document; `saved`: event id -> saved item ids.
    """
    out = []
    for m in memberships:
        event = events.get(m["scope_id"])
        if m["role"] != R.ATTENDEE or event is None or reg.state_of(m) not in INTERESTED:
            continue
        if m.get("watched_at"):
            kind = WATCHED
        elif reg.state_of(m) == reg.REGISTERED and catalogue.is_past(event, now):
            kind = ATTENDED
        else:
            kind = REGISTERED
        found = frozenset(tags.of(event))
        if found:
            out.append(Signal(kind, event, None, found))
    for event_id, item_ids in saved.items():
        event = events.get(event_id)
        if event is None:
            continue
        for item in event["schedule"]:
            if item.get("id") in item_ids and tags.of(item):
                out.append(Signal(SAVED, event, item, frozenset(tags.of(item))))
    return out


async def for_person(db, user, *, space_ids: Sequence | None = None, now: datetime.datetime | None = None,
                     limit: int = DEFAULT_LIMIT) -> list[Recommendation]:
    """Recommendations for a signed-in person, within `space_ids` (default: the spaces of their events)."""
    now = now or utcnow()
    memberships = await R.scopes_of(db, user["_id"])
    saved_docs = await db.programmes.find({"user_id": user["_id"]}, {"event_id": 1, "item_ids": 1}).to_list(None)
    saved = {d["event_id"]: set(d.get("item_ids") or ()) for d in saved_docs}
    own_ids = {m["scope_id"] for m in memberships if m["scope"] == "event"} | set(saved)
    events = await model.get_events(db, own_ids)
    signals = signals_of(memberships, events, saved, now)
    wanted = sorted({t for s in signals for t in s.tags})
    if not wanted:
        return []
    spaces = list(space_ids) if space_ids is not None else list({e["space_id"] for e in events.values()})
    query = {"space_id": {"$in": spaces}, "tags": {"$in": wanted},
             "privacy.level": {"$in": catalogue.listed_levels(True)}, **model.MAIN_EVENTS}
    candidates = [Candidate(e, None, frozenset(tags.of(e))) for e in await db.events.find(query).to_list(None)]
    holding = {m["scope_id"] for m in memberships if m["scope"] == "event" and R.holds(m)}
    held = [events[i] for i in holding if i in events and events[i]["space_id"] in spaces]
    # Sessions as the event page shows them to this person (`events.privacy.session_admits`).
    keys: list[R.RolesKey] = [(user["_id"], bool(user.get("platform_admin")), e["space_id"], e["_id"],
                               e.get("parent_id"), bool(e.get("ticketed"))) for e in held]
    roles = await R.roles_in_many(db, keys)
    for key, event in zip(keys, held):
        may_see = await privacy.session_filter(db, event, user, roles[key])
        for item in programme.visible_items(event, may_see).values():
            if tags.of(item):
                candidates.append(Candidate(event, item, frozenset(tags.of(item))))
    had_events = {m["scope_id"] for m in memberships if m["scope"] == "event"}
    had_items = {(event_id, item_id) for event_id, ids in saved.items() for item_id in ids}
    return rank(signals, candidates, had_events=had_events, had_items=had_items, now=now, limit=limit)
