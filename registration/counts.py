"""How many registrations an event has in each state, and the one call that says they changed.

`by_state` is one aggregation in the database.  `announce(services,
event_id)` is what every action that changes a registration calls after
persisting it (registering, importing, approving, cancelling, ...): the
live side hears it through the change bus (`core.changes`) and pushes the
new numbers to the staff watching the event's registrant list, a few times
a second at most however many registrations change (`realtime.registration_frames`).
"""
from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from access import roles as R
from core.changes import ACCESS, REGISTRATIONS
from core.clock import utcnow
from registration import model as M


async def by_state(db, event_id) -> dict[str, int]:
    """State -> number of registrations, every state present (0 where none)."""
    out = dict.fromkeys(M.STATES, 0)
    cursor = await db.memberships.aggregate([
        {"$match": {"scope_id": event_id, "role": R.ATTENDEE}},
        {"$group": {"_id": "$state", "n": {"$sum": 1}}},
    ])
    async for row in cursor:
        # Registrations stored before states existed have none: they are registered.
        state = row["_id"] if row["_id"] in out else M.REGISTERED
        out[state] += int(row["n"])
    return out


async def per_day(db, event_id, timezone: str, days: int = 30,
                  today: datetime.date | None = None) -> list[tuple[datetime.date, int]]:
    """Registrations made on each of the last `days` days (the event's own calendar), oldest first.

    Every registration counts on the day it was made, whatever its state now:
    the chart shows when people came.  Only the dates are read.
    """
    zone = ZoneInfo(timezone)
    today = today or utcnow().astimezone(zone).date()
    first = today - datetime.timedelta(days=days - 1)
    since = datetime.datetime.combine(first, datetime.time(), tzinfo=zone).astimezone(datetime.UTC)
    tally = dict.fromkeys((first + datetime.timedelta(days=i) for i in range(days)), 0)
    async for m in db.memberships.find({"scope_id": event_id, "role": R.ATTENDEE, "created_at": {"$gte": since}},
                                       {"created_at": 1, "_id": 0}):
        day = m["created_at"].astimezone(zone).date()
        if day in tally:
            tally[day] += 1
    return list(tally.items())


def frame(event_id, counts: dict[str, int]) -> dict:
    """The `registrations` message staff pages receive (docs/protocol.md)."""
    return {"type": "registrations", "event": str(event_id), "total": sum(counts.values()),
            "holding": sum(n for s, n in counts.items() if s in M.HOLDS_PLACE), "states": counts}


async def announce(services, event_id) -> None:
    """Registrations of this event changed (already persisted): tell whoever listens."""
    await services.notifier.announce(event_id, {"kind": REGISTRATIONS})


async def access_changed(services, event_id, user_id) -> None:
    """One person's registration stopped admitting them (already persisted): every process closes their
    live connections to the event, and a reconnect is admitted or refused afresh (`realtime.live`)."""
    await services.notifier.announce(event_id, {"kind": ACCESS, "user": str(user_id)})
