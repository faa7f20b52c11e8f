"""What an event offers a buyer: its ticket types with their prices and whether they can be bought now.

One read for the tickets page and the event's public page (`offer`), and
the same statuses, public types only, for the live frame that tells open
pages when a type sells out or comes back (`statuses`,
`realtime.ticket_frames`).  A type is SOLD_OUT when one of its quotas has
fewer tickets left than its fewest per order.  A type given by application
is offered as a link to its application form (`orders.applications`), not
as a quantity to buy.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from core.clock import utcnow
from events.model import EventDoc
from orders import quotas, ticket_types
from orders.model import PUBLIC

ON_SALE, SOLD_OUT = ticket_types.ON_SALE, "sold_out"
NOT_YET, ENDED = ticket_types.NOT_YET, ticket_types.ENDED


def status(ticket_type: Mapping[str, Any], left: int | None, now: datetime.datetime) -> str:
    sale = ticket_types.sale_state(ticket_type, now)
    if sale != ON_SALE:
        return sale
    if left is not None and left < int(ticket_type.get("min_per_order", 1)):
        return SOLD_OUT
    return ON_SALE


async def offer(db, event: EventDoc, *, code: str | None, locale: str, now: datetime.datetime | None = None,
                extra: Mapping[Any, int] | None = None) -> list[dict[str, Any]]:
    """The types a buyer sees (public ones, and hidden ones whose code was given), in the staff's order.

    `extra`: type id -> seats a promo code the buyer has reserves for them
    (`orders.promo_codes.seats_for`), on top of what is left for everyone.
    """
    now = now or utcnow()
    types = [t for t in await ticket_types.of_event(db, event["_id"]) if ticket_types.visible(t, code)]
    left = await quotas.availability(db, event["_id"], [t["_id"] for t in types])
    for type_id, seats in (extra or {}).items():
        if left.get(type_id) is not None:
            left[type_id] = int(left[type_id] or 0) + int(seats)
    out = []
    for t in types:
        found = status(t, left[t["_id"]], now)
        most = int(t["max_per_order"])
        room = left[t["_id"]]
        if room is not None:
            most = min(most, room)
        out.append({"id": str(t["_id"]), "type": t, "name": ticket_types.name(t, locale, event),
                    "description": ticket_types.name({"name": t.get("description") or {}}, locale, event),
                    "prices": dict(t.get("prices") or {}), "status": found, "hidden": t.get("visibility") != PUBLIC,
                    "min": int(t["min_per_order"]), "max": max(most, 0),
                    "by_application": ticket_types.by_application(t),
                    "sale_starts_at": t.get("sale_starts_at"), "sale_ends_at": t.get("sale_ends_at")})
    return out


async def statuses(db, event_id, now: datetime.datetime | None = None) -> dict[str, str]:
    """Public type id -> status: what the live frame carries (hidden types are nobody's business)."""
    now = now or utcnow()
    types = [t for t in await ticket_types.of_event(db, event_id) if t.get("visibility", PUBLIC) == PUBLIC]
    left = await quotas.availability(db, event_id, [t["_id"] for t in types])
    return {str(t["_id"]): status(t, left[t["_id"]], now) for t in types}


def frame(event_id, found: Mapping[str, str]) -> dict[str, Any]:
    """The `tickets` message open pages receive (docs/protocol.md)."""
    return {"type": "tickets", "event": str(event_id), "types": dict(found)}
