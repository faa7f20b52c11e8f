"""The player's heartbeat: `watching` frames credit minutes watched (`registration.watch_time`).

The event page's player sends `{"type": "watching", "seconds": n}` every 30
seconds while its video plays (`static/js/player.js`): n is how many seconds
it played since its previous heartbeat.  This module applies the rule of
`registration.watch_time` to it: at most n, at most the wall time since this
connection's previous heartbeat (or its opening), at most 45 s, and nothing
while the connection's event is not live; the process's `Ledger` then counts
each person once however many connections they have, and writes every few
seconds.

Whether an event is live is read from the database at most once per
`LIVE_TTL` seconds per event and process (the reads of one moment shared):
a heartbeat costs no database round trip, and a broadcast switched off is
still credited for at most that long.

A heartbeat gets no answer (ten thousand viewers send one every 30 s);
one carrying a `ref` is answered with `watched` and the seconds it credited.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bson import ObjectId

from realtime import protocol, timers
from realtime.connection import Connection
from registration import watch_time

if TYPE_CHECKING:
    from realtime.live import Live

log = logging.getLogger(__name__)

LIVE_TTL = 5.0          # seconds an event's "live or not" is reused
MAX_SECONDS = 3600      # a `seconds` larger than this is refused as invalid


class WatchFrames:
    def __init__(self, live: Live, clock: Callable[[], float] = time.time, live_ttl: float = LIVE_TTL):
        self.live = live
        self.clock = clock
        self.live_ttl = live_ttl
        self.ledger = watch_time.Ledger(clock)
        self._live: dict[str, tuple[float, bool]] = {}        # event id -> (valid until, live)
        self._reading: dict[str, asyncio.Future[bool]] = {}   # event id -> the read under way

    async def on_open(self, conn: Connection) -> None:
        conn.heard_at = self.clock()

    async def watching(self, conn: Connection, msg: dict) -> None:
        claimed = protocol.integer(msg, "seconds", 0, MAX_SECONDS)
        now = self.clock()
        since, conn.heard_at = now - conn.heard_at, now
        live = await self.is_live(conn.event_id)
        credited = 0.0
        if live:
            # Watching a channel is watching its main event, where the registration is.
            event = conn.info["event"]
            main = str(event.get("parent_id") or conn.event_id)
            credited = self.ledger.credit(main, conn.user_id, watch_time.heartbeat_credit(claimed, since), now)
        if msg.get("ref") is not None:
            conn.send({"type": "watched", "ref": msg["ref"], "live": live, "credited": round(credited, 3)})

    async def is_live(self, event_id: str) -> bool:
        loop = asyncio.get_running_loop()
        known = self._live.get(event_id)
        if known is not None and known[0] > loop.time():
            return known[1]
        reading = self._reading.get(event_id)
        if reading is None:
            reading = self._reading[event_id] = asyncio.ensure_future(self._read(event_id))
            reading.add_done_callback(lambda _done: self._reading.pop(event_id, None))
        return await asyncio.shield(reading)

    async def _read(self, event_id: str) -> bool:
        live = await watch_time.broadcast_live(self.live.db, ObjectId(event_id))
        self._live[event_id] = (asyncio.get_running_loop().time() + self.live_ttl, live)
        return live

    async def flush(self) -> int:
        """Write the credit added up so far (every FLUSH_SECONDS, and when the process stops)."""
        return await self.ledger.flush(self.live.db)

    async def _tick(self) -> None:
        await self.flush()


def install(live: Live) -> WatchFrames:
    feature = WatchFrames(live)
    live.frames["watching"] = feature.watching
    live.on_open.append(feature.on_open)
    live.watching = feature
    timers.start(live.services, timers.every(lambda: watch_time.FLUSH_SECONDS, feature._tick, "watch-time"),
                 "watch-time")
    return feature
