"""Sessions and accounts read once per loop turn for all the requests that ask in it.

Every page request looks up its session and its account.  When hundreds
arrive at once (a rush for the last tickets, a marketing peak on an event's
page), each is a database round trip per request; asked for in the same turn
of the event loop they become one query per turn (`storage.batching`),
with answers exactly as fresh: the query starts after every question it
answers was asked.  The live side does the same for connecting sockets
(`realtime.reads`).

Each caller gets its own copy of the documents, so a request that changes
its account in memory changes nobody else's.
"""
from __future__ import annotations

from typing import Any

from accounts import sessions, users
from storage import batching


def _own_copy(value: Any) -> Any:
    """A copy of a stored document: its dicts and lists are new, its leaves shared.

    Stored documents hold only dicts, lists and immutable values (strings,
    numbers, dates, ids), so this is a deep copy at an eighth of
    `copy.deepcopy`'s cost, which a rush of page requests pays twice each.
    """
    if type(value) is dict:
        return {key: _own_copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_own_copy(item) for item in value]
    return value


class AccountReads:
    """`await reads.session(db, raw)` and `await reads.user(db, user_id)`, batched per database."""

    def __init__(self) -> None:
        self._by_db: dict[int, tuple[Any, batching.TickBatch, batching.TickBatch]] = {}

    def _batches(self, db) -> tuple[Any, batching.TickBatch, batching.TickBatch]:
        entry = self._by_db.get(id(db))
        if entry is None or entry[0] is not db:   # a database of its own (tests swap them)
            entry = (db, batching.keyed_reads(lambda raws: sessions.lookup_many(db, raws)),
                     batching.keyed_reads(lambda ids: users.by_ids(db, ids)))
            self._by_db[id(db)] = entry
        return entry

    async def session(self, db, raw: str | None) -> dict | None:
        """The live session behind a cookie's token (as `sessions.lookup`), or None."""
        if not raw or len(raw) > 128:
            return None
        found = await self._batches(db)[1].submit(raw)
        return _own_copy(found) if found is not None else None

    async def user(self, db, user_id) -> dict | None:
        """The account (as `users.by_id`), or None."""
        oid = users.as_id(user_id)
        if oid is None:
            return None
        found = await self._batches(db)[2].submit(oid)
        return _own_copy(found) if found is not None else None
