"""WebSocket pings for every connection of the process, from one timer.

A socket nobody answers on (a laptop lid closed, a NAT that forgot the
flow) must be closed, and proxies drop connections that stay silent, so
every socket gets a protocol ping every `INTERVAL` seconds and is closed
when its pong has not come back by its next turn.

Tornado can do this per socket (`websocket_ping_interval`), but it keeps a
task and a timer per connection for it: with ten thousand viewers that is
memory and wake-ups the process pays for nothing.  Here one timer ticks
every second and pings the connections whose turn it is (each connection
gets a slot among `INTERVAL`), so the pings are spread over the interval
instead of arriving as one burst of writes.
"""
from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

from realtime import timers
from realtime.connection import Connection
from realtime.frames import PING

if TYPE_CHECKING:
    from realtime.live import Live

log = logging.getLogger(__name__)

INTERVAL = 25  # seconds between pings to one socket; a pong is due before the next
TICK = 1.0


class Keepalive:
    def __init__(self, interval: int = INTERVAL, tick: float = TICK):
        self.interval = interval
        self.tick = tick
        self._turn = itertools.count()
        self._next_slot = itertools.count()
        # The connections of each turn: a round touches only its own slot,
        # not every connection of the process.  Closed ones leave on their turn.
        self.slots: list[set[Connection]] = [set() for _ in range(interval)]

    def assign(self, conn: Connection) -> None:
        """Give a new connection its turn; it counts as answered until pinged."""
        conn.ping_slot = next(self._next_slot) % self.interval
        conn.ponged = True
        self.slots[conn.ping_slot].add(conn)

    async def round(self) -> None:
        slot = self.slots[next(self._turn) % self.interval]
        for conn in list(slot):
            if conn.closed:
                slot.discard(conn)
            else:
                self.check(conn)

    @staticmethod
    def check(conn: Connection) -> None:
        """Close a connection that did not answer its last ping; ping it again otherwise."""
        ws = conn.handler.ws_connection
        if ws is None or ws.is_closing():
            return
        if not conn.ponged:
            log.info("ping timed out", extra={"user": conn.user_id})
            conn.close(1001, "ping timed out")
            return
        conn.ponged = False
        # The prebuilt frame through the connection's own write (one send),
        # not Tornado's write_ping, which frames it anew and queues it on the
        # stream with a future: on a quiet socket that was the ping's cost.
        conn.write_frame(PING)


def install(live: Live) -> Keepalive:
    keepalive = Keepalive()
    live.keepalive = keepalive
    timers.start(live.services, timers.every(lambda: keepalive.tick, keepalive.round, "keepalive"), "keepalive")
    return keepalive
