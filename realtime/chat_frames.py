"""Chat frames: join (with resume), leave, send, history, delete.

Messages are stored before they are published (chat.store); a join that
resumes is answered from the per-process recent-entry cache, loaded from
storage once per room however many clients reconnect at the same moment.

An entry is stored with its offset before it is published, so a resume can
see offsets after a hole whose entry is still on its way (stored after the
read, or published late).  The replay notes such holes; the entry is written
to that connection when it arrives, even though its offset is behind the
connection's position.
"""
from __future__ import annotations

import asyncio

from chat import access, store
from core.text import strip_bidi
from realtime import protocol
from chat import room_names
from realtime.frames import combined_frame, combined_items, text_frame
from realtime.connection import Connection, encode
from realtime.protocol import FrameError

MAX_HOLE = 100  # a replay jump longer than this is a range that was never written, not one in flight


class ChatFrames:
    def __init__(self, live):
        self.live = live
        self._loading: dict[str, asyncio.Future] = {}

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
        conn.recovering[room] = []
        holes: set[int] = set()   # offsets the replay skipped: perhaps not yet published
        await self.live.hub.join(conn, room)
        try:
            cache = await self._recent(room)
            current = cache.last
            if epoch is None or offset is None:
                conn.send({"type": "joined", "room": room, "epoch": cache.epoch, "offset": current,
                           "recovered": None, "ref": msg.get("ref")})
                conn.rooms[room] = current
            elif epoch != cache.epoch or offset > cache.known():
                conn.send({"type": "joined", "room": room, "epoch": cache.epoch, "offset": current,
                           "recovered": False, "ref": msg.get("ref")})
                conn.rooms[room] = current
            elif (fast := self._contiguous(cache, offset)) is not None:
                # The usual resume: the cache holds exactly the next entries.
                count, last, items = fast
                joined = text_frame(encode({"type": "joined", "room": room, "epoch": cache.epoch, "offset": offset,
                                            "recovered": True, "missed": count, "ref": msg.get("ref")}))
                conn.rooms[room] = last if count else offset
                # `joined` and the replay in one write: a storm is thousands of these.
                if count > 1 and conn.deflate:
                    # Compressed runs shared by every resume that needs them.
                    joined += cache.deflated_after(room, offset)
                elif count:
                    joined += combined_items(room, items) if count > 1 else text_frame(items)
                conn.write_frame(joined)
            else:
                missed = cache.since(offset)
                if missed is None:
                    self._count_read("resume")
                    entries = await store.since(self.live.db, room, offset, protocol.RECOVER_LIMIT + 1)
                    missed = [(e["offset"], text_frame(encode(store.wire(e)))) for e in entries]
                if len(missed) > protocol.RECOVER_LIMIT:
                    conn.send({"type": "joined", "room": room, "epoch": cache.epoch, "offset": current,
                               "recovered": False, "ref": msg.get("ref")})
                    conn.rooms[room] = current
                else:
                    joined = text_frame(encode({"type": "joined", "room": room, "epoch": cache.epoch,
                                                "offset": offset, "recovered": True, "missed": len(missed),
                                                "ref": msg.get("ref")}))
                    conn.rooms[room] = offset
                    replay = []
                    for o, frame in missed:
                        if o > conn.rooms[room]:
                            if 1 < o - conn.rooms[room] <= MAX_HOLE:
                                holes.update(range(conn.rooms[room] + 1, o))
                            conn.rooms[room] = o
                            replay.append(frame)
                    # One write for `joined` and the whole replay: a reconnect
                    # storm replays hundreds of thousands of entries.
                    if len(replay) > 1:
                        joined += combined_frame(room, replay)
                    elif replay:
                        joined += replay[0]
                    conn.write_frame(joined)
        finally:
            held = conn.recovering.pop(room, None) or []
        for o, frame in sorted(held, key=lambda item: item[0]):
            if o in holes:
                # Stored before the resume's read, published after it: the
                # replay went past it, so it goes out now, late but not lost.
                holes.discard(o)
                conn.write_frame(frame)
            else:
                conn.deliver(room, o, frame)
        if holes and room in conn.rooms:
            self.live.hub.owe(conn, room, holes)

    @staticmethod
    def _contiguous(cache, offset: int) -> tuple[int, int, bytes] | None:
        """(count, last offset, payloads) when the cache holds offset+1, offset+2, ...
        with no hole and within the resume limit; None sends the resume the long way."""
        if not cache.reaches(offset):
            return None
        first, last, count, items = cache.after(offset)
        if count and (first != offset + 1 or last - first + 1 != count or count > protocol.RECOVER_LIMIT):
            return None
        return count, last, items

    async def _recent(self, room: str):
        """The room's cache, loaded from storage once per process however many clients ask."""
        cache = self.live.hub.caches.get(room)
        if cache is not None and cache.loaded:
            return cache
        pending = self._loading.get(room)
        if pending is None:
            pending = self._loading[room] = asyncio.ensure_future(self._load(room))
            pending.add_done_callback(lambda _f: self._loading.pop(room, None))
        return await asyncio.shield(pending)

    def _count_read(self, reason: str) -> None:
        metrics = self.live.services.metrics
        if metrics is not None:
            metrics.history_reads.labels(reason).inc()

    async def _load(self, room: str):
        self._count_read("load")
        meta = await store.meta(self.live.db, room)
        # Live entries that arrive while the database answers are kept by the
        # cache object created here and merged with what the read returns.
        cache = self.live.hub.cache(room, meta["epoch"])
        start = max(0, meta["offset"] - self.live.hub.recent_per_room)
        entries = await store.since(self.live.db, room, start, self.live.hub.recent_per_room)
        cache.merge([(e["offset"], text_frame(encode(store.wire(e)))) for e in entries], meta["offset"])
        return cache

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
        if not access.is_moderator(conn.info["roles"]) and \
                room_names.parse_room(room)["locale"] not in access.commentator_locales(conn.info["roles"]):
            raise FrameError(protocol.FORBIDDEN, "only staff delete messages", msg.get("ref"))
        offset = protocol.integer(msg, "offset", 1)
        doc = await store.delete(self.live.db, room=room, offset=offset, actor=conn.info["user"])
        if doc is None:
            raise FrameError(protocol.NOT_FOUND, "no such message", msg.get("ref"))
        await self.live.hub.publish(room, store.wire(doc))
        conn.send({"type": "ack", "ref": msg.get("ref"), "room": room, "offset": doc["offset"]})


def install(live) -> ChatFrames:
    frames = ChatFrames(live)
    live.frames.update(join=frames.join, leave=frames.leave, send=frames.send,
                       history=frames.history, delete=frames.delete)
    return frames


