"""Chat frames: join (with resume), leave, send, history, delete.

Messages are stored before they are published (chat.store).  A join is
checked here and answered by `realtime.resume`: from where the client
stopped, or from the room's newest offset.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from chat import access, store
from core.text import strip_bidi
from realtime import protocol
from realtime.connection import Connection
from realtime.protocol import FrameError
from realtime.resume import Resume

if TYPE_CHECKING:
    from realtime.live import Live


class ChatFrames:
    def __init__(self, live: Live):
        self.live = live
        self.resume = Resume(live.hub, live.db, live.services.metrics)

    async def join(self, conn: Connection, msg: dict) -> None:
        room = self.live.room_for(conn, msg, joined=False)
        for check in self.live.join_checks:
            await check(conn, room, msg)
        epoch = msg.get("epoch")
        offset = protocol.integer(msg, "offset", required=False)
        if epoch is not None and (not isinstance(epoch, str) or len(epoch) > 32):
            raise FrameError(protocol.INVALID, "`epoch` must be the string the server sent", msg.get("ref"))
        if room in conn.rooms or room in conn.recovering:
            raise FrameError(protocol.INVALID, "already in this room", msg.get("ref"))
        await self.resume.join(conn, room, epoch, offset, msg.get("ref"))

    async def leave(self, conn: Connection, msg: dict) -> None:
        room = self.live.room_for(conn, msg)
        await self.live.hub.leave(conn, room)
        conn.send({"type": "left", "room": room, "ref": msg.get("ref")})

    async def send(self, conn: Connection, msg: dict) -> None:
        room = self.live.room_for(conn, msg)
        text = strip_bidi(msg.get("text"))
        if not isinstance(text, str) or not text.strip() or len(text) > protocol.MAX_TEXT:
            raise FrameError(protocol.INVALID, f"`text` must be 1 to {protocol.MAX_TEXT} characters",
                             msg.get("ref"))
        client_id = protocol.string(msg, "client_id", protocol.MAX_CLIENT_ID)
        for check in self.live.send_checks:
            await check(conn, room, msg)
        doc, created = await store.post(self.live.db, room=room, event_id=conn.event_id, user=conn.info["user"],
                                        role=conn.info["role"], text=text.strip(), client_id=client_id)
        if created:
            await self.live.hub.publish(room, store.wire(doc))
            for hook in self.live.after_send:
                await hook(conn, room, doc)
        conn.send({"type": "ack", "ref": msg.get("ref"), "room": room, "client_id": client_id,
                   "offset": doc["offset"], "duplicate": not created})

    async def history(self, conn: Connection, msg: dict) -> None:
        room = self.live.room_for(conn, msg)
        before = protocol.integer(msg, "before", 1, required=False)
        limit = protocol.integer(msg, "limit", 1, protocol.HISTORY_LIMIT, required=False) or store.PAGE
        docs = await store.history(self.live.db, room, before, limit)
        conn.send({"type": "history", "room": room, "ref": msg.get("ref"),
                   "messages": [store.wire(d) for d in reversed(docs)],
                   "complete": len(docs) < limit})

    async def delete(self, conn: Connection, msg: dict) -> None:
        room = self.live.room_for(conn, msg)
        if not access.may_moderate(room, conn.info["roles"]):
            raise FrameError(protocol.FORBIDDEN, "only staff delete messages", msg.get("ref"))
        offset = protocol.integer(msg, "offset", 1)
        doc = await store.delete(self.live.db, room=room, offset=offset, actor=conn.info["user"])
        if doc is None:
            raise FrameError(protocol.NOT_FOUND, "no such message", msg.get("ref"))
        await self.live.hub.publish(room, store.wire(doc))
        conn.send({"type": "ack", "ref": msg.get("ref"), "room": room, "offset": doc["offset"]})


def install(live: Live) -> ChatFrames:
    frames = ChatFrames(live)
    live.frames.update(join=frames.join, leave=frames.leave, send=frames.send,
                       history=frames.history, delete=frames.delete)
    return frames


