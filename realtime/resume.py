"""Resume: a client that joins a room again says where it stopped and gets exactly what it missed.

A join may carry the room's epoch and the last offset the client received.
It is answered with `joined` and the entries after that offset, from the
per-process recent cache (`realtime.room_cache`) or, when the cache does not
reach back that far, from storage; or with `recovered: false` when that
cannot be done (another epoch, an offset the room never reached, more than
`protocol.RECOVER_LIMIT` missed), which makes the client reload.  The
cache is loaded from storage once per room and process however many
clients reconnect at the same moment; each read is counted
(`livehall_history_reads_total`).

While a connection catches up it is marked as recovering: live messages
for the room are held for it (`Connection.deliver`) and released after the
stored ones, skipping any offset it already received.

An entry is stored with its offset before it is published, so a resume can
see offsets after a hole whose entry is still on its way (stored after the
read, or published late).  The replay notes such holes; the entry is written
to that connection when it arrives, even though its offset is behind the
connection's position (`Hub.owe`).
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from chat import store
from realtime import protocol
from realtime.connection import Connection, encode
from realtime.frames import combined_frame, combined_items, text_frame
from realtime.room_cache import RoomCache

if TYPE_CHECKING:
    from core.metrics import Metrics
    from realtime.hub import Hub

MAX_HOLE = 100  # a replay jump longer than this is a range that was never written, not one in flight


class Resume:
    """Joins to chat rooms, answered from where each client stopped."""

    def __init__(self, hub: Hub, db, metrics: Metrics | None = None):
        self.hub = hub
        self.db = db
        self.metrics = metrics
        self._loading: dict[str, asyncio.Future] = {}

    async def join(self, conn: Connection, room: str, epoch: str | None, offset: int | None, ref) -> None:
        """Add `conn` to `room` and send it `joined`, with what it missed after
        `offset` when `epoch` is the room's (both None: a first join)."""
        conn.recovering[room] = []
        await self.hub.join(conn, room)
        try:
            cache = await self.recent(room)
            holes = await self._answer(conn, room, cache, epoch, offset, ref)
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
            self.hub.owe(conn, room, holes)

    async def _answer(self, conn: Connection, room: str, cache: RoomCache, epoch, offset, ref) -> set[int]:
        """Send `joined` and the missed entries; the offsets the replay skipped
        (perhaps not yet published)."""
        current = cache.last   # before any read: what arrives meanwhile is held for the connection
        if epoch is None or offset is None:
            self._start_over(conn, room, cache.epoch, current, None, ref)
        elif epoch != cache.epoch or offset > cache.known():
            self._start_over(conn, room, cache.epoch, current, False, ref)
        elif (fast := self._contiguous(cache, offset)) is not None:
            # The usual resume: the cache holds exactly the next entries.
            count, last, items = fast
            joined = text_frame(encode({"type": "joined", "room": room, "epoch": cache.epoch, "offset": offset,
                                        "recovered": True, "missed": count, "ref": ref}))
            conn.rooms[room] = last if count else offset
            # `joined` and the replay in one write: a storm is thousands of these.
            if count > 1 and conn.deflate:
                # Compressed runs shared by every resume that needs them.
                joined += cache.deflated_after(room, offset)
            elif count:
                joined += combined_items(room, items) if count > 1 else text_frame(items)
            conn.write_frame(joined)
        else:
            return await self._replay(conn, room, cache, current, offset, ref)
        return set()

    @staticmethod
    def _start_over(conn: Connection, room: str, epoch: str, current: int, recovered: bool | None, ref) -> None:
        """`joined` at the room's newest offset: a first join (`recovered` None),
        or a resume that cannot be answered (False)."""
        conn.send({"type": "joined", "room": room, "epoch": epoch, "offset": current,
                   "recovered": recovered, "ref": ref})
        conn.rooms[room] = current

    async def _replay(self, conn: Connection, room: str, cache: RoomCache, current: int, offset: int,
                      ref) -> set[int]:
        """The long way: entries with holes, or from storage when the cache does not reach back."""
        holes: set[int] = set()
        missed = cache.since(offset)
        if missed is None:
            self._count_read("resume")
            entries = await store.since(self.db, room, offset, protocol.RECOVER_LIMIT + 1)
            missed = [(e["offset"], text_frame(encode(store.wire(e)))) for e in entries]
        if len(missed) > protocol.RECOVER_LIMIT:
            self._start_over(conn, room, cache.epoch, current, False, ref)
            return holes
        joined = text_frame(encode({"type": "joined", "room": room, "epoch": cache.epoch,
                                    "offset": offset, "recovered": True, "missed": len(missed),
                                    "ref": ref}))
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
        return holes

    @staticmethod
    def _contiguous(cache: RoomCache, offset: int) -> tuple[int, int, bytes] | None:
        """(count, last offset, payloads) when the cache holds offset+1, offset+2, ...
        with no hole and within the resume limit; None sends the resume the long way."""
        if not cache.reaches(offset):
            return None
        first, last, count, items = cache.after(offset)
        if count and (first != offset + 1 or last - first + 1 != count or count > protocol.RECOVER_LIMIT):
            return None
        return count, last, items

    async def recent(self, room: str) -> RoomCache:
        """The room's cache, loaded from storage once per process however many clients ask."""
        cache = self.hub.caches.get(room)
        if cache is not None and cache.loaded:
            return cache
        pending = self._loading.get(room)
        if pending is None:
            pending = self._loading[room] = asyncio.ensure_future(self._load(room))
            pending.add_done_callback(lambda _f: self._loading.pop(room, None))
        return await asyncio.shield(pending)

    def _count_read(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.history_reads.labels(reason).inc()

    async def _load(self, room: str) -> RoomCache:
        self._count_read("load")
        meta = await store.meta(self.db, room)
        # Live entries that arrive while the database answers are kept by the
        # cache object created here and merged with what the read returns.
        cache = self.hub.cache(room, meta["epoch"])
        start = max(0, meta["offset"] - self.hub.recent_per_room)
        entries = await store.since(self.db, room, start, self.hub.recent_per_room)
        cache.merge([(e["offset"], text_frame(encode(store.wire(e)))) for e in entries], meta["offset"])
        return cache
