"""One device at a time, on the live side: a new device's connection takes over.

A device is a browser session (accounts.devices).  When a viewer connects
(access.rules.is_viewer: staff are exempt), its session claims the
(event, account) record.  If another session held it, a `device_claimed`
notice goes out once on the event's state channel (every process with
connections of the event is in it; no channel per account to subscribe).
Every process with connections of that account acts on it: it reads the
record, and each of its
connections of that account to that event from another session gets
`{"type": "takeover", "reason": "another_device"}` and is closed with code
4001.  Tabs of one browser share the session and never take each other over.

The notice only says "look at the record"; the record decides.  So when two
devices connect at once the last claim wins in every process, and a notice
arriving late never closes the device that holds the record.  Pub/sub may
lose a notice (a broker reconnect); two checks against the record close that
gap: each new connection looks again `check_after` seconds after claiming,
and the periodic refresh of the records reports every connection whose
session is no longer the current one.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING

from access import rules
from accounts import devices as records
from chat import room_names
from realtime import timers
from realtime.connection import Connection

if TYPE_CHECKING:
    from realtime.live import Live

log = logging.getLogger(__name__)

CLOSE_TAKEOVER = 4001
REASON = "another_device"
CLAIMED = "device_claimed"  # broker notice on user channels; never sent to clients


class Devices:
    def __init__(self, live: Live, store: records.MemoryDevices | records.RedisDevices,
                 refresh_every: float = 30.0, check_after: float = 1.0):
        self.live = live
        self.store = store
        self.refresh_every = refresh_every
        self.check_after = check_after
        # Orders claims against record reads in this process (see enforce).
        self._ticks = itertools.count(1)

    @staticmethod
    def bound(conn: Connection) -> bool:
        """Whether the one-device rule holds for this connection (viewers, not staff)."""
        return bool(conn.info.get("session")) and rules.is_viewer(conn.info["roles"])

    async def on_open(self, conn: Connection) -> None:
        if not self.bound(conn):
            return
        if conn.closed:
            return  # gone (or taken over) while opening: it must not claim
        hub = self.live.hub
        session = conn.info["session"]
        try:
            try:
                previous = await self.store.claim(conn.event_id, conn.user_id, session)
            finally:
                conn.info["claimed"] = next(self._ticks)
            if previous is not None and previous != session:
                # Another device held the record: its connections must go.
                # (No record: nobody to take over; a device whose record was
                # lost with Redis's data learns it from its refresh.)
                await hub.publish(room_names.state_channel(conn.event_id),
                                  {"type": CLAIMED, "event": conn.event_id, "user": conn.user_id, "session": session})
        except Exception:
            # Redis unreachable: watching goes on, and the refresh claims the
            # record once Redis answers again.
            log.exception("device claim failed", extra={"user": conn.user_id})
            return
        self.live.services.spawn(self.check_later(conn))

    async def check_later(self, conn: Connection) -> None:
        await asyncio.sleep(self.check_after)
        if not conn.closed:
            await self.enforce(conn.event_id, conn.user_id)

    def on_claimed(self, channel: str, message: dict, members) -> None:
        """Hub control callback (synchronous, on the broker's reader): act in a task."""
        try:
            event_id, user_id, session = str(message["event"]), str(message["user"]), str(message["session"])
        except (KeyError, TypeError):
            log.error("malformed device notice", extra={"channel": channel})
            return
        self.live.services.spawn(self.enforce(event_id, user_id, session))

    async def enforce(self, event_id: str, user_id: str, claimed: str | None = None) -> None:
        """Take over this process's connections of the account that are not the current device.

        `claimed` is the session a notice announced: used when the record
        cannot be read, and to skip reading it when nothing here could differ.
        Only connections whose own claim was over before the record was read
        are judged: for a claim still on its way the read may be older than
        it, and that connection is judged by the checks that follow its claim.
        """
        local = [c for c in list(self.live.hub.by_user.get(user_id, ()))
                 if c.event_id == event_id and not c.closed and self.bound(c)]
        if claimed is not None and not any(c.info["session"] != claimed for c in local):
            return
        mark = next(self._ticks)
        try:
            current = await self.store.current(event_id, user_id) or claimed
        except Exception:
            log.exception("device record unreadable")
            current = claimed
        if current is None:
            return
        for conn in local:
            if conn.info["session"] != current and not conn.closed and conn.info.get("claimed", mark) < mark:
                conn.send({"type": "takeover", "reason": REASON})
                conn.close(CLOSE_TAKEOVER, "another device took over")

    async def refresh(self) -> None:
        """Keep the records of the sessions this process serves alive; close the ones taken over."""
        watching = {(c.event_id, c.user_id, c.info["session"])
                    for conns in list(self.live.hub.by_user.values()) for c in list(conns)
                    if not c.closed and self.bound(c)}
        for event_id, user_id in await self.store.refresh(watching):
            await self.enforce(event_id, user_id)


def install(live: Live) -> Devices:
    devices = Devices(live, records.store(live.services.redis))
    live.on_open.append(devices.on_open)
    live.hub.controls[CLAIMED] = devices.on_claimed
    timers.start(live.services, timers.every(lambda: devices.refresh_every, devices.refresh, "devices"), "devices")
    live.devices = devices
    return devices
