"""The live service: what happens when a client connects, sends a frame or leaves.

The WebSocket handler only authenticates and passes frames here; this
module validates them (realtime.protocol), checks access (chat.access),
stores (chat.store) and publishes through the hub.  It also turns every
persisted event state change (realtime.notify) into one published `state`
message carrying each language's view.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time

from chat import access, store
from events import model, view
from realtime import channels, protocol
from realtime.frames import text_frame
from realtime.hub import Connection, Hub, encode
from realtime.protocol import FrameError

log = logging.getLogger(__name__)


class Live:
    def __init__(self, services, hub: Hub, max_buffer: int = 1024 * 1024,
                 rate: float = 5.0, burst: int = 20):
        self.services = services
        self.db = services.db
        self.hub = hub
        self.max_buffer = max_buffer
        self.rate, self.burst = rate, burst
        self._loading: dict[str, asyncio.Future] = {}

    def start(self) -> None:
        self.services.notifier.subscribe(self.on_state_change)

    # --- event state ------------------------------------------------------------

    def state_message(self, event: dict) -> dict:
        return {"type": "state", "event": str(event["_id"]), "state_version": event.get("state_version", 0),
                "default_locale": event["default_locale"],
                "locales": {loc: view.live_state(event, loc) for loc in event["locales"]}}

    async def on_state_change(self, event_id, change: dict) -> None:
        event = await model.get_event(self.db, event_id)
        if event:
            await self.hub.publish(channels.state_channel(event_id), self.state_message(event))

    # --- connections ----------------------------------------------------------

    async def open(self, handler, user: dict, event: dict, roles: dict, viewer_locale: str) -> Connection:
        chat_locale = model.locale_for(event, viewer_locale)
        conn = Connection(handler, str(user["_id"]), str(event["_id"]), chat_locale, self.max_buffer)
        conn.info.update(conn_id=secrets.token_hex(8), user=user, event=event, roles=roles,
                         role=access.main_role(roles),
                         bucket=protocol.TokenBucket(self.rate, self.burst, time.monotonic()))
        self.hub.add(conn)
        # Join first, then read: a change landing in between arrives as a
        # newer state_version, and clients apply only newer states.
        await self.hub.join(conn, channels.state_channel(conn.event_id))
        rooms = access.default_rooms(event, conn.user_id, roles, chat_locale)
        conn.send({"type": "welcome", "protocol": protocol.VERSION, "conn_id": conn.info["conn_id"],
                   "user": {"id": conn.user_id, "name": user.get("name", ""), "role": conn.info["role"]},
                   "event": conn.event_id, "locale": chat_locale, "rooms": rooms,
                   "moderator": access.is_moderator(roles)})
        fresh = await model.get_event(self.db, event["_id"]) or event
        conn.info["event"] = fresh
        conn.write_frame(text_frame(encode({
            "type": "state", "event": conn.event_id, "state_version": fresh.get("state_version", 0),
            "state": view.live_state(fresh, chat_locale)})))
        return conn

    async def close(self, conn: Connection) -> None:
        conn.closed = True
        await self.hub.remove(conn)

    # --- frames -------------------------------------------------------------------

    async def handle(self, conn: Connection, raw) -> None:
        ref = None
        try:
            if not conn.info["bucket"].take(time.monotonic()):
                raise FrameError(protocol.RATE_LIMITED, "too many frames; slow down")
            msg = protocol.parse(raw)
            ref = msg.get("ref")
            if ref is not None and (not isinstance(ref, (str, int)) or len(str(ref)) > 64):
                raise FrameError(protocol.INVALID, "`ref` must be a short string or number")
            handler = getattr(self, "do_" + msg["type"], None) if msg["type"].isidentifier() else None
            if handler is None:
                raise FrameError(protocol.UNKNOWN_TYPE, f"unknown frame type {msg['type'][:40]!r}", ref)
            await handler(conn, msg)
        except FrameError as exc:
            conn.send(protocol.error(exc.code, exc.message, exc.ref if exc.ref is not None else ref))

    async def do_ping(self, conn: Connection, msg: dict) -> None:
        conn.send({"type": "pong", "ref": msg.get("ref")})

    def _room(self, conn: Connection, msg: dict, joined: bool = True) -> str:
        room = protocol.string(msg, "room", 120)
        info = conn.info
        if not access.can_enter(room, info["event"], conn.user_id, info["roles"], conn.locale):
            if channels.parse_room(room) is None:
                raise FrameError(protocol.UNKNOWN_ROOM, "no such room", msg.get("ref"))
            raise FrameError(protocol.FORBIDDEN, "this room is not yours", msg.get("ref"))
        if joined and room not in conn.rooms and room not in conn.recovering:
            raise FrameError(protocol.NOT_JOINED, "join the room first", msg.get("ref"))
        return room

    async def do_join(self, conn: Connection, msg: dict) -> None:
        room = self._room(conn, msg, joined=False)
        epoch = msg.get("epoch")
        offset = protocol.integer(msg, "offset", required=False)
        if epoch is not None and (not isinstance(epoch, str) or len(epoch) > 32):
            raise FrameError(protocol.INVALID, "`epoch` must be the string the server sent", msg.get("ref"))
        if room in conn.rooms or room in conn.recovering:
            raise FrameError(protocol.INVALID, "already in this room", msg.get("ref"))
        conn.recovering[room] = []
        await self.hub.join(conn, room)
        try:
            cache = await self._recent(room)
            current = cache.last
            if epoch is None or offset is None:
                conn.send({"type": "joined", "room": room, "epoch": cache.epoch, "offset": current,
                           "recovered": None, "ref": msg.get("ref")})
                conn.rooms[room] = current
            elif epoch != cache.epoch or offset > current:
                conn.send({"type": "joined", "room": room, "epoch": cache.epoch, "offset": current,
                           "recovered": False, "ref": msg.get("ref")})
                conn.rooms[room] = current
            else:
                missed = cache.since(offset)
                if missed is None:
                    entries = await store.since(self.db, room, offset, protocol.RECOVER_LIMIT + 1)
                    missed = [(e["offset"], text_frame(encode(store.wire(e)))) for e in entries]
                if len(missed) > protocol.RECOVER_LIMIT:
                    conn.send({"type": "joined", "room": room, "epoch": cache.epoch, "offset": current,
                               "recovered": False, "ref": msg.get("ref")})
                    conn.rooms[room] = current
                else:
                    conn.send({"type": "joined", "room": room, "epoch": cache.epoch, "offset": offset,
                               "recovered": True, "missed": len(missed), "ref": msg.get("ref")})
                    conn.rooms[room] = offset
                    for o, frame in missed:
                        if o > conn.rooms[room]:
                            conn.rooms[room] = o
                            conn.write_frame(frame)
        finally:
            held = conn.recovering.pop(room, None) or []
        for o, frame in sorted(held, key=lambda item: item[0]):
            conn.deliver(room, o, frame)

    async def _recent(self, room: str):
        """The room's cache, loaded from storage once per process however many clients ask."""
        cache = self.hub.caches.get(room)
        if cache is not None and cache.loaded:
            return cache
        pending = self._loading.get(room)
        if pending is None:
            pending = self._loading[room] = asyncio.ensure_future(self._load(room))
            pending.add_done_callback(lambda _f: self._loading.pop(room, None))
        return await asyncio.shield(pending)

    async def _load(self, room: str):
        meta = await store.meta(self.db, room)
        # Live entries that arrive while the database answers are kept by the
        # cache object created here and merged with what the read returns.
        cache = self.hub.cache(room, meta["epoch"])
        start = max(0, meta["offset"] - self.hub.recent_per_room)
        entries = await store.since(self.db, room, start, self.hub.recent_per_room)
        cache.merge([(e["offset"], text_frame(encode(store.wire(e)))) for e in entries], meta["offset"])
        return cache

    async def do_leave(self, conn: Connection, msg: dict) -> None:
        room = self._room(conn, msg)
        await self.hub.leave(conn, room)
        conn.send({"type": "left", "room": room, "ref": msg.get("ref")})

    async def do_send(self, conn: Connection, msg: dict) -> None:
        room = self._room(conn, msg)
        text = msg.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > protocol.MAX_TEXT:
            raise FrameError(protocol.INVALID, f"`text` must be 1 to {protocol.MAX_TEXT} characters",
                             msg.get("ref"))
        client_id = protocol.string(msg, "client_id", protocol.MAX_CLIENT_ID)
        doc, created = await store.post(self.db, room=room, event_id=conn.event_id, user=conn.info["user"],
                                        role=conn.info["role"], text=text.strip(), client_id=client_id)
        if created:
            await self.hub.publish(room, store.wire(doc))
        conn.send({"type": "ack", "ref": msg.get("ref"), "room": room, "client_id": client_id,
                   "offset": doc["offset"], "duplicate": not created})

    async def do_history(self, conn: Connection, msg: dict) -> None:
        room = self._room(conn, msg)
        before = protocol.integer(msg, "before", 1, required=False)
        limit = protocol.integer(msg, "limit", 1, protocol.HISTORY_LIMIT, required=False) or store.PAGE
        docs = await store.history(self.db, room, before, limit)
        conn.send({"type": "history", "room": room, "ref": msg.get("ref"),
                   "messages": [store.wire(d) for d in reversed(docs)],
                   "complete": len(docs) < limit})

    async def do_delete(self, conn: Connection, msg: dict) -> None:
        room = self._room(conn, msg)
        if not access.is_moderator(conn.info["roles"]) and \
                channels.parse_room(room)["locale"] not in access.commentator_locales(conn.info["roles"]):
            raise FrameError(protocol.FORBIDDEN, "only staff delete messages", msg.get("ref"))
        offset = protocol.integer(msg, "offset", 1)
        doc = await store.delete(self.db, room=room, offset=offset, actor=conn.info["user"])
        if doc is None:
            raise FrameError(protocol.NOT_FOUND, "no such message", msg.get("ref"))
        await self.hub.publish(room, store.wire(doc))
        conn.send({"type": "ack", "ref": msg.get("ref"), "room": room, "offset": doc["offset"]})
