"""How many registrations an event has in each state, and the one call that says they changed.

`by_state` is one aggregation in the database.  `announce(services,
event_id)` is what every action that changes a registration calls after
persisting it (registering, importing, approving, cancelling, ...): the
live side hears it through the change bus (`core.changes`) and pushes the
new numbers to the staff watching the event's registrant list, a few times
a second at most however many registrations change (`realtime.registration_frames`).
"""
from __future__ import annotations

from access import roles as R
from core.changes import REGISTRATIONS
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


def frame(event_id, counts: dict[str, int]) -> dict:
    """The `registrations` message staff pages receive (docs/protocol.md)."""
    return {"type": "registrations", "event": str(event_id), "total": sum(counts.values()),
            "holding": sum(n for s, n in counts.items() if s in M.HOLDS_PLACE), "states": counts}


async def announce(services, event_id) -> None:
    """Registrations of this event changed (already persisted): tell whoever listens."""
    await services.notifier.announce(event_id, {"kind": REGISTRATIONS})
