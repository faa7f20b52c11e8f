"""The audit log: who did what to which event, when, and the state before/after.

Written by domain actions right after their change is persisted; never
updated or deleted by the application.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.clock import utcnow


# The actor is an account and the event an event document; access sits below
# the packages that type them, so they are read as mappings.
async def record(db, *, actor: Mapping[str, Any] | None, action: str, event: Mapping[str, Any] | None = None,
                 space_id: object = None, params: Mapping[str, Any] | None = None, before: object = None,
                 after: object = None) -> dict[str, Any]:
    entry = {
        "at": utcnow(),
        "actor_id": actor["_id"] if actor else None,
        "actor_email": actor["email"] if actor else None,
        "action": action,
        "event_id": event["_id"] if event else None,
        "space_id": event["space_id"] if event else space_id,
        "params": params or {},
        "before": before,
        "after": after,
    }
    await db.audit.insert_one(entry)
    return entry


async def page(db, query: dict[str, Any], skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    total = await db.audit.count_documents(query)
    items = await db.audit.find(query).sort("at", -1).skip(skip).limit(limit).to_list(None)
    return items, total
