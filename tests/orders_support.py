"""Helpers for the tickets and orders tests: an event that sells tickets, built through the real actions."""
from __future__ import annotations

import asyncio
import secrets

from access import roles as R
from accounts import users
from orders import quotas, ticket_types
from realtime import timers


async def drain(services) -> None:
    while jobs := [t for t in services.background if not timers.is_timer(t)]:
        await asyncio.gather(*jobs)


async def ticket_type(services, event, admin, *, name="Standard", prices="EUR 15.00", **fields) -> dict:
    """A ticket type of `event`, cleaned and stored as the staff page does."""
    raw = {**ticket_types.blank_form(), "name": {event["default_locale"]: name}, "prices": prices, **fields}
    values = await ticket_types.clean(services.db, event, raw)
    return await ticket_types.create(services.db, admin, event, values)


async def quota(services, event, admin, size: int, *types, name="Quota") -> dict:
    return await quotas.create(services.db, admin, event, name=name, size=str(size),
                               type_ids=[str(t["_id"]) for t in types])


async def ticketed_event(services, factory, *, locales=("en", "ru"), privacy="public"):
    """(event, its admin): a public event, reloaded after its first ticket type made it ticketed by the caller."""
    event = await factory.event(locales=locales)
    await services.db.events.update_one({"_id": event["_id"]},
                                        {"$set": {"privacy": {"level": privacy, "emails": []}}})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    return await services.db.events.find_one({"_id": event["_id"]}), admin


async def reload(db, doc, collection="events"):
    return await db[collection].find_one({"_id": doc["_id"]})


async def buyers(db, n: int, prefix: str = "buyer") -> list[dict]:
    tag = secrets.token_hex(3)
    return [await users.create(db, email=f"{prefix}{i}-{tag}@example.org", name=f"Buyer {i}") for i in range(n)]
