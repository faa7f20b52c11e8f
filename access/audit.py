"""The audit log: who did what to which event, when, and the state before/after.

Written by domain actions right after their change is persisted; never
updated or deleted by the application.
"""
from __future__ import annotations

from core.clock import utcnow


async def record(db, *, actor: dict | None, action: str, event: dict | None = None,
                 space_id=None, params: dict | None = None, before=None, after=None) -> dict:
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


async def page(db, query: dict, skip: int, limit: int) -> tuple[list[dict], int]:
    total = await db.audit.count_documents(query)
    items = await db.audit.find(query).sort("at", -1).skip(skip).limit(limit).to_list(None)
    return items, total
