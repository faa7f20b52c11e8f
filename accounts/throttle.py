"""Counting failures per key (an account, an IP) in fixed time windows.

Stored in the database so every process behind nginx shares the count.
A key is blocked once it reaches its limit within the window; the window
restarts when it has passed.  A successful sign-in clears the account's key.
"""
from __future__ import annotations

import datetime

from pymongo import ReturnDocument

from core.clock import utcnow


class Throttle:
    def __init__(self, db, limit: int, window: datetime.timedelta, prefix: str):
        self.db = db
        self.limit = limit
        self.window = window
        self.prefix = prefix

    def _id(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    async def blocked(self, key: str) -> bool:
        doc = await self.db.throttle.find_one({"_id": self._id(key)})
        return bool(doc and doc["expires_at"] > utcnow() and doc["count"] >= self.limit)

    async def fail(self, key: str) -> int:
        """Count one failure; returns the count in the current window."""
        now = utcnow()
        _id = self._id(key)
        # Drop a finished window first so the count restarts cleanly.
        await self.db.throttle.delete_one({"_id": _id, "expires_at": {"$lte": now}})
        doc = await self.db.throttle.find_one_and_update(
            {"_id": _id},
            {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": now + self.window}},
            upsert=True, return_document=ReturnDocument.AFTER,
        )
        return doc["count"]

    async def clear(self, key: str) -> None:
        await self.db.throttle.delete_one({"_id": self._id(key)})
