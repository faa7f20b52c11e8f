"""Database access: pymongo's async client, or the embedded stand-in.

`open_database` is the one place that decides which backend serves the
platform.  Everything else receives an async database object and uses the
subset of the MongoDB API that both backends support.

On MongoDB (a replica set, or a sharded cluster, in production) the client
is opened with the guarantees the code is written against; they are set
here, whatever the connection string says (`docs/storage.md` explains each):

- write concern "majority" (`w`): a write is acknowledged once a majority
  of the replica set holds it, so an acknowledged chat message,
  registration, order or payment survives the loss of the primary.  The
  wait is bounded (`wtimeoutMS`, 10 s unless the connection string says);
  past it the write raises and may or may not have been applied, which
  every write the code makes tolerates (each is idempotent or guarded).
- retryable writes and reads: a single-document write or a read that meets
  a failover or a dropped connection is tried once more on the new
  primary, exactly once as far as the data is concerned.
- reads from the primary with read concern "local": a process reads what
  it (or any other process) has had acknowledged, which the
  write-then-check steps rely on (`docs/storage.md`).  "majority" reads
  could miss acknowledged writes for a moment after an election.
- the public catalogue alone may read from secondaries, when the operator
  says so (`MONGODB_CATALOGUE_READS`): a listing a second or two old
  harms nobody, and it is what a marketing peak hits.

Tuning that belongs to the deployment (timeouts, TLS, credentials,
`replicaSet`) comes from the connection string.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from core.config import Settings

log = logging.getLogger(__name__)

# Defaults for what the connection string may tune (keys as MongoDB spells them, compared
# case-insensitively).  Server selection waits out an ordinary election (MongoDB
# elects a new primary within about 12 s with its default settings) instead of failing the
# requests that arrive meanwhile.
TUNABLE_DEFAULTS = {"wTimeoutMS": 10_000, "serverSelectionTimeoutMS": 15_000}
# The catalogue's choices (`MONGODB_CATALOGUE_READS`).
CATALOGUE_READS = ("primary", "secondary")
# A secondary further behind than this (seconds; MongoDB's smallest allowed value) is not asked.
CATALOGUE_MAX_STALENESS = 90


class Storage:
    """An open database plus what is needed to close and describe it."""

    # client and db are pymongo's async ones or the embedded stand-ins with their shape.
    def __init__(self, client: Any, db: Any, kind: str, catalogue_db: Any = None):
        self.client = client
        self.db = db
        self.kind = kind  # "mongodb", "embedded" or "embedded-shared"
        # The same database for the public catalogue's reads, which may lag (see the module's docstring).
        self.catalogue_db = catalogue_db if catalogue_db is not None else db

    async def ping(self) -> bool:
        await self.db.command("ping")
        return True

    async def close(self) -> None:
        await self.client.close()


def uri_options(uri: str) -> set[str]:
    """The options a connection string sets, lower-cased (read without resolving any host)."""
    return {key.lower() for key, _ in parse_qsl(urlsplit(uri).query)}


def client_options(uri: str) -> dict[str, Any]:
    """The keyword arguments of the MongoDB client: the guarantees, and defaults the URI did not tune."""
    given = uri_options(uri)
    options: dict[str, Any] = {
        "tz_aware": True,
        "w": "majority",
        "retryWrites": True,
        "retryReads": True,
        "readConcernLevel": "local",
        "readPreference": "primary",
        "appname": "livehall",
    }
    options.update({k: v for k, v in TUNABLE_DEFAULTS.items() if k.lower() not in given})
    return options


def _check_catalogue_reads(choice: str) -> None:
    if choice not in CATALOGUE_READS:
        raise ValueError(f"MONGODB_CATALOGUE_READS must be one of {', '.join(CATALOGUE_READS)}, not {choice!r}")


def catalogue_view(db: Any, choice: str) -> Any:
    """A MongoDB `db` as the public catalogue reads it: from the primary, or from a secondary."""
    _check_catalogue_reads(choice)
    if choice == "primary":
        return db
    from pymongo.read_preferences import SecondaryPreferred

    return db.with_options(read_preference=SecondaryPreferred(max_staleness=CATALOGUE_MAX_STALENESS))


async def open_database(settings: Settings) -> Storage:
    if settings.mongodb_uri:
        from pymongo import AsyncMongoClient

        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongodb_uri, **client_options(settings.mongodb_uri))
        db = mongo[settings.mongodb_db]
        return Storage(mongo, db, "mongodb", catalogue_view(db, settings.mongodb_catalogue_reads))
    # The embedded stores have one copy of the data: every read is the primary's.
    _check_catalogue_reads(settings.mongodb_catalogue_reads)  # a wrong value is refused here too
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
