"""Indexes of applications for free tickets (`orders.applications`)."""
from __future__ import annotations

from mongo_indexes.keys import ASC, DESC

APPLICATION_INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict]]] = {
    "applications": [
        # One application per address and type: of two racing submits, one is stored.
        ([("ticket_type_id", ASC), ("email", ASC)], {"unique": True, "name": "type_email_unique"}),
        # The queue: an event's applications by state, oldest first.
        ([("event_id", ASC), ("state", ASC), ("created_at", ASC)], {"name": "event_state_created"}),
        ([("event_id", ASC), ("created_at", DESC)], {"name": "event_created"}),
        # The sweep: approvals a stopped process left half done.
        ([("state", ASC), ("state_at", ASC)], {"name": "state_at"}),
        # A person's own data and its erasure.
        ([("email", ASC)], {"name": "email"}),
        ([("user_id", ASC)], {"name": "user"}),
    ],
}
