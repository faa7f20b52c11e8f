"""Database access: pymongo's async client, or the embedded stand-in.

`open_database` is the one place that decides which backend serves the
platform.  Everything else receives an async database object and uses the
subset of the MongoDB API that both backends support.
"""
from __future__ import annotations

import logging
from typing import Any

from core.config import Settings

log = logging.getLogger(__name__)


class Storage:
    """An open database plus what is needed to close and describe it."""

    # client and db are pymongo's async ones or the embedded stand-ins with their shape.
    def __init__(self, client: Any, db: Any, kind: str):
        self.client = client
        self.db = db
        self.kind = kind  # "mongodb" or "embedded"

    async def ping(self) -> bool:
        await self.db.command("ping")
        return True

    async def close(self) -> None:
        await self.client.close()


async def open_database(settings: Settings) -> Storage:
    if settings.mongodb_uri:
        from pymongo import AsyncMongoClient

        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongodb_uri, tz_aware=True, serverSelectionTimeoutMS=5000)
        return Storage(mongo, mongo[settings.mongodb_db], "mongodb")
    if settings.embedded_store_address:
        from storage.shared import SharedClient

        log.warning("MONGODB_URI is not set: using the shared embedded store at %s; "
                    "data is not kept across restarts", settings.embedded_store_address)
        shared = SharedClient(settings.embedded_store_address)
        return Storage(shared, shared[settings.mongodb_db], "embedded-shared")
    from storage.embedded import EmbeddedClient

    log.warning("MONGODB_URI is not set: using the embedded store; "
                "data is not kept across restarts")
    embedded = EmbeddedClient()
    return Storage(embedded, embedded[settings.mongodb_db], "embedded")
