"""What a person sees of orders in their cabinet: the orders they paid for, and the tickets they hold.

Everything is keyed by the person's own id: a payer reads their orders
(`buyer_id`), a holder the tickets issued to them (`tickets.holder_id`).
Nobody reads another person's order or ticket (`orders.actions.of_buyer`,
`ticket_of_holder`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accounts.users import as_id, find_by_ids
from events import model, view
from orders import states, ticket_types
from orders.model import ORDERS, TICKET_TYPES

MAX_SHOWN = 200


async def _names(db, events: Mapping[Any, Any], locale: str) -> dict[Any, str]:
    found: dict[Any, str] = {}
    async for t in db[TICKET_TYPES].find({"event_id": {"$in": list(events)}}):
        event = events.get(t["event_id"])
        if event is not None:
            found[t["_id"]] = ticket_types.name(t, locale, event)
    return found


async def read(db, user: Mapping[str, Any], locale: str) -> dict[str, list[dict[str, Any]]]:
    """{"orders": the person's orders, newest first; "tickets": the valid tickets they hold}."""
    mine = await db[ORDERS].find({"buyer_id": user["_id"]}).sort([("created_at", -1), ("_id", -1)]) \
        .to_list(MAX_SHOWN)
    held = await db[ORDERS].find({"tickets.holder_id": user["_id"], "state": {"$in": list(states.VALID)}}) \
        .sort([("created_at", -1), ("_id", -1)]).to_list(MAX_SHOWN)
    events = await model.get_events(db, {o["event_id"] for o in mine + held})
    spaces = await find_by_ids(db.spaces, {e["space_id"] for e in events.values()})
    names = await _names(db, events, locale)

    def where(order) -> dict[str, Any]:
        event = events.get(order["event_id"])
        space = spaces.get(event["space_id"]) if event else None
        return {"event": event, "title": view.text(event, event["title"], locale) if event else "",
                "path": view.path(space, event) if event and space else ""}

    orders = [{"order": o, **where(o), "label": states.LABELS.get(o["state"], o["state"]),
               "count": len(o["tickets"]), "unassigned": sum(1 for t in o["tickets"] if not t.get("holder"))}
              for o in mine]
    tickets = [{"order": o, "ticket": t, **where(o), "type_name": names.get(t["ticket_type_id"], "")}
               for o in held for t in o["tickets"] if t.get("holder_id") == user["_id"] and t.get("issued")]
    return {"orders": orders, "tickets": tickets}


async def ticket_of_holder(db, user: Mapping[str, Any], order_id, ticket_id: str
                           ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(order, ticket) when the person holds this ticket now (issued to them, order valid); else None."""
    oid = as_id(order_id)
    if oid is None:
        return None
    order = await db[ORDERS].find_one({"_id": oid, "state": {"$in": list(states.VALID)},
                                       "tickets": {"$elemMatch": {"id": ticket_id, "holder_id": user["_id"],
                                                                  "issued": True}}})
    if order is None:
        return None
    ticket = next(t for t in order["tickets"] if t["id"] == ticket_id)
    return order, ticket
