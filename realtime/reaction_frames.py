"""Reactions: the `react` frame, and `reactions` frames that carry a window's counts to everyone.

A viewer on the event page sends `{"type": "react", "emoji": "clap"}`.  The
name must be one of `reactions.totals.NAMES`, the event must take reactions
(staff can switch them off), and each person may react once per
`reactions.totals.EVERY` seconds in an event, counted over every server
process (`chat.moderation.SlowGate`, the chat's slow-mode limit, with
Redis).  An accepted reaction gets no answer; a refused one gets an
`error` frame and is not counted.

Two windows keep a burst of applause from becoming a burst of frames:

- *sending*: this process adds up what its own viewers sent per event and,
  at most once per `window`, adds that to the stored totals
  (`reactions.totals.add`, one `$inc`) and publishes one `reaction_counts`
  notice with the counts and the totals after the addition on the event's
  state channel;
- *receiving*: every process with viewers of the event adds up the notices
  it hears from all processes and writes them to its viewers as one
  `reactions` frame, at most once per `window` per event, built once and
  written as the same bytes to every socket.  So a viewer gets at most one
  frame per window however many processes publish.

Both windows push the first change after a quiet window at once and the
rest at the window's end.  Totals only grow, so a process keeps the largest
total heard per reaction: notices arriving out of order never take a count
back.  Staff connections (those that see presence) get the totals too, for
the control page; viewers get the window's counts only.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from access import rules
from chat import moderation, room_names
from reactions import totals
from realtime import protocol
from realtime.connection import Connection, encode
from realtime.frames import text_frame
from realtime.protocol import FrameError

if TYPE_CHECKING:
    from realtime.live import Live

log = logging.getLogger(__name__)

WINDOW = 0.5          # seconds between two publishes of one process, and two frames to one viewer, per event
NOTICE = "reaction_counts"   # state channel notice between processes; clients get `reactions` frames
SETTINGS_TTL = 2.0    # seconds a process trusts its reading of whether an event takes reactions


class _Window:
    """Counts gathered for one event, and when they were last passed on (leading and trailing edge)."""

    __slots__ = ("counts", "last", "timer")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.last = float("-inf")
        self.timer: asyncio.TimerHandle | None = None

    def add(self, counts: dict[str, int]) -> None:
        for name, n in counts.items():
            self.counts[name] = self.counts.get(name, 0) + n

    def schedule(self, window: float, run) -> None:
        """Run `run` now if the last run is a window ago, else at the window's end (once)."""
        if self.timer is not None:
            return
        loop = asyncio.get_running_loop()
        due = self.last + window
        if loop.time() >= due:
            run()
        else:
            self.timer = loop.call_at(due, run)

    def take(self) -> dict[str, int]:
        """The counts to pass on now; the window starts again."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.last = asyncio.get_running_loop().time()
        counts, self.counts = self.counts, {}
        return counts


class Reactions:
    def __init__(self, live: Live, window: float = WINDOW):
        self.live = live
        self.window = window
        self.gate = moderation.SlowGate(live.services.redis)
        # event -> this process's senders' counts not yet published (a few bytes per event that had reactions)
        self.outgoing: dict[str, _Window] = {}
        self.incoming: dict[str, _Window] = {}   # event -> counts heard, not yet written to viewers here
        self.totals: dict[str, dict[str, int]] = {}   # event -> the largest totals heard
        self._enabled: dict[str, tuple[bool, float]] = {}   # event -> (takes reactions, monotonic expiry)
        self.published = 0   # notices this process published (read by tests and operators)
        self.written = 0     # `reactions` frames built here (each written to every viewer of the event)

    # --- the frame ------------------------------------------------------------------

    async def react(self, conn: Connection, msg: dict) -> None:
        name = msg.get("emoji")
        if not totals.valid(name):
            raise FrameError(protocol.INVALID, f"`emoji` must be one of: {', '.join(totals.NAMES)}",
                             msg.get("ref"))
        event_id = conn.info["event"]["_id"]
        if not await self._takes_reactions(event_id):
            raise FrameError(protocol.FORBIDDEN, "reactions are off in this event", msg.get("ref"))
        wait = await self.gate.take(totals.limit_key(event_id), conn.user_id, totals.EVERY)
        if wait:
            raise FrameError(protocol.RATE_LIMITED, f"one reaction per {totals.EVERY} s", msg.get("ref"),
                             retry_after=wait)
        window = self.outgoing.get(conn.event_id)
        if window is None:
            if len(self.outgoing) > 10000:
                # Events whose reactions stopped a while ago: a new one starts a window afresh.
                self.outgoing = {k: w for k, w in self.outgoing.items() if w.timer is not None or w.counts}
            window = self.outgoing[conn.event_id] = _Window()
        window.add({name: 1})
        window.schedule(self.window, lambda: self._publish(conn.event_id, event_id))

    async def _takes_reactions(self, event_id) -> bool:
        key = str(event_id)
        now = time.monotonic()
        cached = self._enabled.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        on = await totals.enabled(self.live.db, event_id)
        if len(self._enabled) > 10000:
            self._enabled = {k: v for k, v in self._enabled.items() if v[1] > now}
        self._enabled[key] = (on, now + SETTINGS_TTL)
        return on

    # --- sending: one notice per window per process ---------------------------------------

    def _publish(self, key: str, event_id) -> None:
        window = self.outgoing.get(key)
        if window is None:
            return
        counts = window.take()
        if counts:
            self.live.services.spawn(self._send(key, event_id, counts))

    async def _send(self, key: str, event_id, counts: dict[str, int]) -> None:
        try:
            after = await totals.add(self.live.db, event_id, counts)
            await self.live.hub.publish(room_names.state_channel(key), {
                "type": NOTICE, "event": key, "counts": counts, "totals": after})
            self.published += 1
        except Exception:
            # Reactions are a passing sign of life: a window lost to a database or
            # Redis failure is not retried.
            log.exception("reactions not published", extra={"event_id": key})

    # --- receiving: one frame per window per event ----------------------------------------

    def heard(self, channel: str, message: dict, members) -> None:
        """Hub control: a process's window of reactions for the event of this state channel."""
        key, counts = message.get("event"), totals.clean(message.get("counts"))
        if not isinstance(key, str) or channel != room_names.state_channel(key):
            log.error("malformed reactions notice", extra={"channel": channel})
            return
        known = self.totals.setdefault(key, totals.empty())
        for name, n in totals.clean(message.get("totals")).items():
            known[name] = max(known[name], n)
        window = self.incoming.get(key)
        if window is None:
            window = self.incoming[key] = _Window()
        window.add(counts)
        window.schedule(self.window, lambda: self._write(key))

    def _write(self, key: str) -> None:
        window = self.incoming.get(key)
        if window is None:
            return
        counts = window.take()
        members = self.live.hub.channels.get(room_names.state_channel(key))
        if not counts or not members:
            if not members:
                self.incoming.pop(key, None)
                self.totals.pop(key, None)
            return
        everyone = text_frame(encode({"type": "reactions", "event": key, "counts": counts}))
        staff = None
        for conn in list(members):
            if conn.info.get("waiting"):
                continue
            if rules.may_see_presence(conn.info.get("roles") or {}):
                if staff is None:
                    staff = text_frame(encode({"type": "reactions", "event": key, "counts": counts,
                                               "totals": self.totals.get(key, totals.empty())}))
                conn.write_frame(staff)
            else:
                conn.write_frame(everyone)
        self.written += 1


def install(live: Live) -> Reactions:
    feature = Reactions(live)
    live.frames["react"] = feature.react
    live.hub.controls[NOTICE] = feature.heard
    live.reactions = feature
    return feature
