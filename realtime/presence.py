"""Presence: how many viewers watch each event now, per language and day, over all processes.

This process keeps its viewers' connections per event (viewers as
access.rules defines them: attendees; staff are not counted) and, every
`interval` seconds, publishes its numbers to the shared presence store when
they changed, and at least every `heartbeat` seconds when they did not, so
that an entry older than `ttl` means a dead process.  `counts(event_id)`
sums every live process, taking this process's own numbers fresh.

Staff connections (EVENT_OVERVIEW: admins, managers, moderators,
commentators) get a `presence` frame on connecting and then, from the same
per-process timer, whenever the numbers of their event change.  The frame
is built once per event and the same bytes go to each staff socket.

When the event's staff show the count to attendees (events.model
`viewers_shown`), every connection on the event page gets a `viewers` frame
with the total from the same timer when it changed (so at most one frame
per `interval`, however fast people come and go), and the latest one on
connecting.  Connections waiting behind the closed gate get none.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from typing import TYPE_CHECKING

from access import rules
from chat import room_names
from events import audience, model
from events.model import EventDoc
from realtime import timers
from realtime.connection import Connection, encode
from realtime.frames import text_frame

if TYPE_CHECKING:
    from realtime.live import Live

log = logging.getLogger(__name__)


class Presence:
    def __init__(self, live: Live, store: audience.MemoryPresence | audience.RedisPresence,
                 interval: float = 2.0, heartbeat: float = 10.0,
                 ttl: float = audience.TTL):
        self.live = live
        self.store = store
        self.interval, self.heartbeat, self.ttl = interval, heartbeat, ttl
        # Unique even for two instances in one test process.
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.viewers: dict[str, set[Connection]] = {}
        self.staff: dict[str, set[Connection]] = {}
        self._published: dict[str, tuple[dict, float]] = {}  # event -> (counts, when)
        self._sent: dict[str, dict] = {}                      # event -> counts staff last got
        self._shown: dict[str, tuple[int, bytes]] = {}        # event -> (total, frame) viewers last got
        self.task: asyncio.Task[None] | None = None

    # --- connections ----------------------------------------------------------

    async def on_open(self, conn: Connection) -> None:
        roles = conn.info["roles"]
        shown = self._shown.get(conn.event_id)
        if shown is not None:
            conn.write_frame(shown[1])
        if rules.is_viewer(roles):
            self.viewers.setdefault(conn.event_id, set()).add(conn)
        elif rules.may_see_presence(roles):
            self.staff.setdefault(conn.event_id, set()).add(conn)
            try:
                conn.send(self.frame(conn.event_id, await self.counts(conn.event_id)))
            except Exception:
                # The timer's next round sends the numbers to every staff
                # connection of the event once they can be read.
                log.exception("presence unreadable", extra={"event_id": conn.event_id})
                self._sent.pop(conn.event_id, None)
        if conn.closed:
            # Gone while the hook ran: the close hook may already have run.
            await self.on_close(conn)

    async def on_close(self, conn: Connection) -> None:
        for groups in (self.viewers, self.staff):
            conns = groups.get(conn.event_id)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del groups[conn.event_id]

    # --- numbers ----------------------------------------------------------------

    def local(self, event_id: str) -> dict:
        return audience.local_counts((c.user_id, c.locale) for c in self.viewers.get(event_id, ())
                                     if not c.closed)

    async def counts(self, event_id, outline: EventDoc | None = None) -> dict:
        """{"total": n, "locales": {locale: n}, "days": {day_id: n}} over every live process.

        `outline`: the event's languages and days when the caller has read them.
        """
        event_id = str(event_id)
        entries = await self.store.read(event_id, self.ttl)
        entries[self.process_id] = self.local(event_id)
        event = outline if outline is not None else await audience.event_outline(self.live.db, event_id)
        return audience.summarize(entries.values(), event)

    @staticmethod
    def frame(event_id: str, counts: dict) -> dict:
        return {"type": "presence", "event": event_id, **counts}

    # --- the timer ----------------------------------------------------------------

    async def tick(self) -> None:
        """One round: publish this process's changed numbers, tell staff about changes."""
        now = time.monotonic()
        for event_id in list(set(self.viewers) | set(self._published)):
            try:
                await self.publish(event_id, now)
            except Exception:
                log.exception("presence publish failed", extra={"event_id": event_id})
        for event_id in [e for e in self._sent if e not in self.staff]:
            del self._sent[event_id]
        for event_id in [e for e in self._shown if e not in self.staff and e not in self.viewers]:
            del self._shown[event_id]
        for event_id in list(set(self.staff) | set(self.viewers)):
            try:
                await self.tell(event_id)
            except Exception:
                log.exception("presence update failed", extra={"event_id": event_id})

    async def tell(self, event_id: str) -> None:
        """This round's numbers to the event's staff, and to everyone when the count is shown."""
        # One small read per event and round (not per connection): whether
        # the count is shown is stored on the event, and every process must
        # follow a switch made in any of them.
        outline = await audience.event_outline(self.live.db, event_id)
        shown = model.viewers_shown(outline) if outline else False
        if not shown:
            self._shown.pop(event_id, None)
            if event_id not in self.staff:
                return
        counts = await self.counts(event_id, outline)
        if event_id in self.staff:
            self.tell_staff(event_id, counts)
        if shown:
            self.tell_everyone(event_id, counts["total"])

    async def publish(self, event_id: str, now: float) -> None:
        counts = self.local(event_id)
        last = self._published.get(event_id)
        if not counts["locales"]:
            if last is not None:
                await self.store.forget(event_id, self.process_id)
                del self._published[event_id]
            return
        if last is None or last[0] != counts or now - last[1] >= self.heartbeat:
            await self.store.put(event_id, self.process_id, counts, self.ttl)
            self._published[event_id] = (counts, now)

    def tell_staff(self, event_id: str, counts: dict) -> None:
        if counts == self._sent.get(event_id):
            return
        self._sent[event_id] = counts
        frame = text_frame(encode(self.frame(event_id, counts)))
        for conn in list(self.staff.get(event_id, ())):
            conn.write_frame(frame)

    def tell_everyone(self, event_id: str, total: int) -> None:
        """The `viewers` frame to every connection of the event here but those waiting at the gate."""
        last = self._shown.get(event_id)
        if last is not None and last[0] == total:
            return
        frame = text_frame(encode({"type": "viewers", "event": event_id, "total": total}))
        self._shown[event_id] = (total, frame)
        for conn in list(self.live.hub.channels.get(room_names.state_channel(event_id), ())):
            if not conn.info.get("waiting"):
                conn.write_frame(frame)

    async def run(self) -> None:
        try:
            await timers.every(lambda: self.interval, self.tick, "presence")
        except asyncio.CancelledError:
            # A clean shutdown takes this process's numbers away at once
            # instead of after the TTL.
            try:
                await asyncio.wait_for(self.withdraw(), 1.0)
            except Exception:
                log.warning("presence entries not withdrawn; they expire by themselves")
            raise

    async def withdraw(self) -> None:
        for event_id in list(self._published):
            await self.store.forget(event_id, self.process_id)
            del self._published[event_id]


def install(live: Live) -> Presence:
    presence = Presence(live, audience.store(live.services.redis))
    live.on_open.append(presence.on_open)
    live.on_close.append(presence.on_close)
    presence.task = timers.start(live.services, presence.run(), "presence")
    live.presence = presence
    return presence
