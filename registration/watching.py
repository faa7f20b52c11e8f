"""What a registrant watched: the first time they opened the event page.

`watched_at` on the registration feeds recommendations ("Because you
watched ..."); it is written once, and the guard in the filter makes every
later page view a read that writes nothing.
"""
from __future__ import annotations

from access import roles as R
from core.clock import utcnow


async def note_watched(db, event_id, user_id) -> bool:
    """Mark the registration watched (once); True when this call marked it."""
    result = await db.memberships.update_one(
        {"user_id": user_id, "scope_id": event_id, "role": R.ATTENDEE, "watched_at": {"$exists": False}},
        {"$set": {"watched_at": utcnow()}})
    return result.modified_count == 1
