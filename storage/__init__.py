"""Database access: pymongo's async client, or the embedded stand-in.

`open_database` is the one place that decides which backend serves the
platform.  Everything else receives an async database object and uses the
subset of the MongoDB API that both backends support.
"""
from __future__ import annotations

import logging

from core.config import Settings

log = logging.getLogger(__name__)


class Storage:
    """An open database plus what is needed to close and describe it."""

    def __init__(self, client, db, kind: str):
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

        client = AsyncMongoClient(settings.mongodb_uri, tz_aware=True,
                                  serverSelectionTimeoutMS=5000)
        db = client[settings.mongodb_db]
        return Storage(client, db, "mongodb")
    if settings.embedded_store_address:
        from storage.shared import SharedClient

        log.warning("MONGODB_URI is not set: using the shared embedded store at %s; "
                    "data is not kept across restarts", settings.embedded_store_address)
        client = SharedClient(settings.embedded_store_address)
        return Storage(client, client[settings.mongodb_db], "embedded-shared")
    from storage.embedded import EmbeddedClient

    log.warning("MONGODB_URI is not set: using the embedded store; "
                "data is not kept across restarts")
    client = EmbeddedClient()
    return Storage(client, client[settings.mongodb_db], "embedded")
