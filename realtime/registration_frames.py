"""Live registration counts for the staff who manage an event's registrations.

A connection whose roles grant EVENT_ATTENDEES (admins, managers) is put
in the event's registrations channel on connecting and gets a
`registrations` frame with the numbers per state right away.  When an action
announces that registrations changed (`registration.counts.announce`, through
the change bus), this process reads the numbers once and publishes them on
that channel; every process with staff there writes the same frame to each.

Bursts are coalesced per event: the first change after a quiet `window` is
pushed at once, the changes that follow within the window become one push at
its end, so an import of ten thousand rows or a bulk approval costs each
staff page at most 1 / `window` frames a second, and the last frame always
carries the final numbers.  Clients cannot send `registrations`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from access import permissions as P
from chat import room_names
from core.changes import REGISTRATIONS
from realtime.coalesce import Coalescer
from realtime.connection import Connection
from registration import counts

if TYPE_CHECKING:
    from realtime.live import Live

log = logging.getLogger(__name__)

WINDOW = 0.5   # seconds between two pushes for one event, at least


class RegistrationCounts:
    def __init__(self, live: Live, window: float = WINDOW):
        self.live = live
        self.window = window
        self.coalescer = Coalescer(live.services.spawn, self._push, window, "registration counts")

    @staticmethod
    def watches(conn: Connection) -> bool:
        return P.EVENT_ATTENDEES in P.granted(conn.info["roles"])

    async def on_open(self, conn: Connection) -> None:
        if not self.watches(conn):
            return
        await self.live.hub.join(conn, room_names.registrations_channel(conn.event_id))
        try:
            conn.send(counts.frame(conn.event_id, await counts.by_state(self.live.db, conn.info["event"]["_id"])))
        except Exception:
            # The next change brings the numbers; the connection stays.
            log.exception("registration counts unreadable", extra={"event_id": conn.event_id})

    async def on_change(self, event_id, change: dict) -> None:
        if change.get("kind") == REGISTRATIONS:
            self.coalescer.changed(event_id)

    async def _push(self, event_id) -> None:
        key = str(event_id)
        numbers = await counts.by_state(self.live.db, event_id)
        await self.live.hub.publish(room_names.registrations_channel(key), counts.frame(key, numbers))


def install(live: Live) -> RegistrationCounts:
    feature = RegistrationCounts(live)
    live.on_open.append(feature.on_open)
    live.services.notifier.subscribe(feature.on_change)
    live.registrations = feature
    return feature
