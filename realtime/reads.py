"""The reads every connecting socket makes, shared by the sockets of one loop turn.

A socket's handshake looks up its session, its account, its event and its
roles there.  When
thousands of viewers reconnect within seconds, each of these is one database
round trip per socket; asked for in the same turn of the event loop they
become one query per turn (`storage.batching`), with answers exactly as
fresh: the query starts after every question it answers was asked.
"""
from __future__ import annotations

from access import roles as R
from accounts import sessions, users
from events import model
from events.model import EventDoc
from storage import batching


class ConnectReads:
    def __init__(self, db):
        self._sessions = batching.keyed_reads(lambda raws: sessions.lookup_many(db, raws))
        self._users = batching.keyed_reads(lambda ids: users.by_ids(db, ids))
        self._events = batching.keyed_reads(lambda ids: model.get_events(db, ids))
        self._roles = batching.keyed_reads(lambda keys: R.roles_in_many(db, keys))

    async def session(self, raw: str | None) -> dict | None:
        """The live session behind a cookie's token, or None."""
        return await self._sessions.submit(raw) if raw else None

    async def user(self, user_id) -> dict | None:
        return await self._users.submit(user_id)

    async def event(self, event_id) -> EventDoc | None:
        return await self._events.submit(event_id)

    async def roles(self, user: dict, event: EventDoc) -> dict:
        """The account's roles in the event, its space and its main event, as its tickets admit
        (`roles.roles_in`)."""
        key = (user["_id"], bool(user.get("platform_admin")), event.get("space_id"), event["_id"],
               event.get("parent_id"), bool(event.get("ticketed")))
        return await self._roles.submit(key)
