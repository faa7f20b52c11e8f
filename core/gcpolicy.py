"""Keeps long-lived connection objects out of the cyclic collector's way, and times its pauses.

A process holding thousands of sockets holds hundreds of thousands of
objects that live as long as the sockets.  CPython's full collections walk
every tracked object, so each one costs tens to hundreds of milliseconds
with the event loop stopped: a slide flip waits behind it.  After start-up
and then after every `freeze_every` new connections the live objects are
frozen (`gc.freeze()`: moved where collections never look).  Frozen objects
are still freed by reference counting when a socket closes; only reference
cycles among them wait, so after `thaw_after` closed connections everything
is unfrozen once and the next full collection reclaims those cycles.
The thaw waits for a moment without connections opening or closing
(`quiet` seconds, at most `longest_wait`): in a reconnect storm thousands
close and then open again, and a full collection over every object of the
process would take its CPU just when clients are coming back.

The youngest generation is collected every `young` allocations, not
CPython's 700: a connection's handshake keeps a few hundred objects alive
across its awaits, and with thousands connecting at once the default would
scan (and promote) them again and again before they are freed.
Pauses are observed in the `livehall_gc_pause_seconds` histogram.
"""
from __future__ import annotations

import asyncio
import gc
import time


class CollectorPolicy:
    def __init__(self, metrics=None, freeze_every: int = 1000, thaw_after: int = 5000,
                 quiet: float = 5.0, longest_wait: float = 60.0, young: int = 20000,
                 clock=time.monotonic):
        self.metrics = metrics
        self.freeze_every = freeze_every
        self.thaw_after = thaw_after
        self.quiet = quiet
        self.longest_wait = longest_wait
        self.clock = clock
        self.young = young
        self._thresholds = gc.get_threshold()
        self.opened = 0
        self.closed = 0
        self.last_activity = 0.0   # the last open or close
        self._thaw_since: float | None = None   # when the thaw became due
        self._thaw_timer: asyncio.TimerHandle | None = None
        self._started = 0.0

    def install(self, live) -> None:
        self._thresholds = gc.get_threshold()
        gc.set_threshold(self.young, *self._thresholds[1:])
        gc.callbacks.append(self._timed)
        live.on_open.append(self.opened_one)
        live.on_close.append(self.closed_one)

    def uninstall(self, live) -> None:
        gc.set_threshold(*self._thresholds)
        if self._timed in gc.callbacks:
            gc.callbacks.remove(self._timed)
        for hooks, hook in ((live.on_open, self.opened_one), (live.on_close, self.closed_one)):
            if hook in hooks:
                hooks.remove(hook)
        if self._thaw_timer is not None:
            self._thaw_timer.cancel()
            self._thaw_timer = None

    def _timed(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.metrics is not None:
            self.metrics.gc_pause.labels(str(info.get("generation"))).observe(time.perf_counter() - self._started)

    async def opened_one(self, conn) -> None:
        self.opened += 1
        self.last_activity = self.clock()
        if self.opened >= self.freeze_every:
            self.opened = 0
            gc.freeze()

    async def closed_one(self, conn) -> None:
        self.closed += 1
        self.last_activity = self.clock()
        if self.closed >= self.thaw_after and self._thaw_since is None:
            self._thaw_since = self.clock()
            self.try_thaw()

    def try_thaw(self) -> None:
        """Unfreeze now if connections stopped coming and going, or if the thaw waited long enough."""
        self._thaw_timer = None
        since = self._thaw_since
        assert since is not None, "closed_one sets it before any thaw is tried"
        now = self.clock()
        calm = now - self.last_activity >= self.quiet
        if calm or now - since >= self.longest_wait:
            self.closed = 0
            self._thaw_since = None
            gc.unfreeze()
            return
        wait = min(self.quiet - (now - self.last_activity), since + self.longest_wait - now)
        self._thaw_timer = asyncio.get_running_loop().call_later(max(wait, 0.05), self.try_thaw)
