"""Minutes watched: how long each person had the broadcast playing, from the player's heartbeats.

The event page's player sends a heartbeat over the live connection
(`realtime.watch_frames`) every 30 seconds while its video plays, saying how
many seconds it played since its previous one.  The rule that turns those
into credit:

1. **Per heartbeat**: at most the seconds the player says it played, at most
   the wall time since the same connection's previous heartbeat (or since it
   opened), and at most `CAP` (45 s); nothing while the event's broadcast is
   not live (switched off, or the gate closed).  A client that sends
   heartbeats faster, or claims more, gains nothing.
2. **Per person, within a process**: a heartbeat's credit is the stretch of
   wall time that ends when it arrives; the process remembers where each
   person's credit ends and credits only the part of a new stretch after it.
   Two tabs (or devices) of one person playing at once count once: the union
   of their stretches, never more than the wall time.
3. **Per minute, across processes**: seconds are kept per minute of wall
   time (UTC).  A person whose connections landed on two processes (nginx
   keeps a browser on one) may have both add to the same minute; a minute
   counts at most 60 s when read, so nobody is ever credited more than the
   wall time.

Writes are batched (`Ledger`): each process adds credit up in memory and
writes every `FLUSH_SECONDS` one `$inc` update per person who has new
seconds, so ten thousand viewers cost a few hundred small updates a second
in all, not one per heartbeat.  A process that stops cleanly writes what it
holds; one that dies loses what it had not written: the heartbeats of its
last few seconds, at most one heartbeat (45 s) per person.  A failed write
is not retried (it may have landed): it loses those seconds too.

Stored in `watch_time`, one document per (event, person): the main event of
a channel (watching a channel is watching its event, as `registration.watching`
says), `minutes` maps the minute's number (seconds since the epoch // 60, as a
string) to the seconds credited in it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from core.clock import utcnow
from events import model

log = logging.getLogger(__name__)

CAP = 45.0            # seconds one heartbeat may credit at most
FLUSH_SECONDS = 5.0   # how often a process writes what it added up
MINUTE = 60
WRITES_AT_ONCE = 100  # updates of one flush in flight together

Key = tuple[str, str]  # (event id, user id) as strings, as the live side has them


def seconds_of(doc: dict | None) -> float:
    """The seconds a stored document credits: each minute counts at most 60 s (rule 3)."""
    minutes = (doc or {}).get("minutes") or {}
    return sum(min(float(v), MINUTE) for v in minutes.values() if isinstance(v, (int, float)))


def minutes_of(doc: dict | None) -> int:
    """Whole minutes watched (rounded down), as staff pages and the certificate condition count them."""
    return int(seconds_of(doc) // MINUTE)


def heartbeat_credit(claimed: float, since_previous: float) -> float:
    """Rule 1: what one heartbeat may credit, before the person's other connections are considered."""
    return max(0.0, min(claimed, since_previous, CAP))


class Ledger:
    """This process's credit not yet written, and where each person's credit ends (rules 2 and 3)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._until: dict[Key, float] = {}              # where the person's credit ends, wall time
        self._pending: dict[Key, dict[int, float]] = {}  # minute -> seconds, not yet written

    def credit(self, event_id: str, user_id: str, seconds: float, now: float | None = None) -> float:
        """Credit a stretch of `seconds` ending `now`; returns the seconds that were new for the person."""
        now = self.clock() if now is None else now
        key = (event_id, user_id)
        start = max(now - seconds, self._until.get(key, 0.0))
        if seconds <= 0 or start >= now:
            return 0.0
        self._until[key] = now
        minutes = self._pending.setdefault(key, {})
        at = start
        while at < now:
            minute = int(at // MINUTE)
            end = min(now, (minute + 1) * MINUTE)
            minutes[minute] = minutes.get(minute, 0.0) + (end - at)
            at = end
        return now - start

    def pending(self) -> int:
        """How many people have credit not yet written."""
        return len(self._pending)

    def forget(self, user_id: str) -> None:
        """Drop a person's unwritten credit (their account is being deleted)."""
        for key in [k for k in self._pending if k[1] == user_id]:
            del self._pending[key]
        for key in [k for k in self._until if k[1] == user_id]:
            del self._until[key]

    async def flush(self, db) -> int:
        """Write what was added up since the last flush; returns how many people were written."""
        pending, self._pending = self._pending, {}
        # A stretch starts at most CAP before its heartbeat: older ends can no longer overlap one.
        horizon = self.clock() - 2 * CAP
        self._until = {k: v for k, v in self._until.items() if v > horizon}
        if not pending:
            return 0
        items = list(pending.items())
        written = 0
        for i in range(0, len(items), WRITES_AT_ONCE):
            done = await asyncio.gather(*(_add(db, key, minutes) for key, minutes in items[i:i + WRITES_AT_ONCE]),
                                        return_exceptions=True)
            for result in done:
                if isinstance(result, BaseException):
                    log.error("watch time not written", exc_info=result)
                else:
                    written += 1
        return written


async def _add(db, key: Key, minutes: dict[int, float]) -> None:
    event_id, user_id = key
    update = {"$inc": {f"minutes.{m}": round(s, 3) for m, s in minutes.items()}, "$set": {"updated_at": utcnow()}}
    where = {"event_id": ObjectId(event_id), "user_id": ObjectId(user_id)}
    try:
        await db.watch_time.update_one(where, update, upsert=True)
    except DuplicateKeyError:
        # Two processes made the person's first document at once: it exists now.
        await db.watch_time.update_one(where, update)


# --- reading --------------------------------------------------------------------------

async def broadcast_live(db, event_id) -> bool:
    """Whether the event's broadcast is live now: switched on, and the gate open (the LIVE banner's rule)."""
    event = await db.events.find_one({"_id": event_id}, {"broadcast.on": 1, "gate": 1})
    return bool(event and (event.get("broadcast") or {}).get("on") and event.get("gate")
                and model.gate_open(event))


async def minutes_by_user(db, event_id, user_ids: Iterable[Any]) -> dict[Any, int]:
    """Whole minutes watched of the event by each of `user_ids` (those with none are left out)."""
    ids = [u for u in user_ids if u is not None]
    if not ids:
        return {}
    found = db.watch_time.find({"event_id": event_id, "user_id": {"$in": ids}}, {"user_id": 1, "minutes": 1})
    return {doc["user_id"]: minutes_of(doc) async for doc in found}
