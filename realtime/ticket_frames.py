"""Live ticket availability for the pages that sell an event's tickets.

A page that sells tickets (the event's public page, its tickets page) opens
`/ws?event=<id>&view=tickets`, signed in or not (`realtime.endpoint` asks
the event's privacy, as the page did).  Such a connection joins the event's
tickets channel and nothing else, gets a `tickets` frame with the status of
every public type at once, and sends nothing but `ping`.

When an action announces that what is left of an event's tickets may have
changed (`orders.checkout.announce`, through the change bus: a
reservation, an order placed, expired, cancelled or refunded), this process
reads the statuses once and publishes them on that channel; every process
with pages open there writes the same frame to each.  Bursts are coalesced per event, as the registration counts
are (`realtime.registration_frames`): the first change after a quiet
`window` is pushed at once, the rest of the window's changes become one push
at its end, so a rush for the last tickets costs each page a few frames a
second, and the last frame carries the final statuses.
"""
from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from chat import room_names
from core.changes import TICKETS
from events.model import EventDoc
from orders import shop
from realtime import protocol
from realtime.coalesce import Coalescer
from realtime.connection import Connection

if TYPE_CHECKING:
    from realtime.live import Live

log = logging.getLogger(__name__)

WINDOW = 0.5   # seconds between two pushes for one event, at least


class TicketAvailability:
    def __init__(self, live: Live, window: float = WINDOW):
        self.live = live
        self.window = window
        self.coalescer = Coalescer(live.services.spawn, self._push, window, "ticket availability")

    async def open(self, handler: Any, event: EventDoc, user: dict | None) -> Connection:
        """A connection that follows the event's ticket sale (see the module's docstring)."""
        live = self.live
        conn_id = secrets.token_hex(8)
        # A visitor has no account: a key of its own keeps the hub's per-account index small.
        user_id = str(user["_id"]) if user else f"visitor:{conn_id}"
        conn = Connection(handler, user_id, str(event["_id"]), "", live.max_buffer)
        conn.info.update(conn_id=conn_id, user={"_id": user["_id"]} if user else {}, event=event, roles={},
                         session="", role="", tickets_only=True,
                         bucket=protocol.TokenBucket(live.rate, live.burst, time.monotonic()))
        live.hub.add(conn)
        try:
            if live.keepalive is not None:
                live.keepalive.assign(conn)
            await live.hub.join(conn, room_names.tickets_channel(event["_id"]))
            conn.send(shop.frame(event["_id"], await shop.statuses(live.db, event["_id"])))
        except Exception:
            await live.close(conn)
            raise
        return conn

    async def on_change(self, event_id, change: dict) -> None:
        if change.get("kind") == TICKETS:
            self.coalescer.changed(event_id)

    async def _push(self, event_id) -> None:
        key = str(event_id)
        found = await shop.statuses(self.live.db, event_id)
        await self.live.hub.publish(room_names.tickets_channel(key), shop.frame(key, found))


def install(live: Live) -> TicketAvailability:
    feature = TicketAvailability(live)
    live.services.notifier.subscribe(feature.on_change)
    live.tickets = feature
    return feature
