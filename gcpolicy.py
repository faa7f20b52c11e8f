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
Pauses are observed in the `livehall_gc_pause_seconds` histogram.
"""
from __future__ import annotations

import gc
import time


class CollectorPolicy:
    def __init__(self, metrics=None, freeze_every: int = 1000, thaw_after: int = 5000):
        self.metrics = metrics
        self.freeze_every = freeze_every
        self.thaw_after = thaw_after
        self.opened = 0
        self.closed = 0
        self._started = 0.0

    def install(self, live) -> None:
        gc.callbacks.append(self._timed)
        live.on_open.append(self.opened_one)
        live.on_close.append(self.closed_one)

    def uninstall(self, live) -> None:
        if self._timed in gc.callbacks:
            gc.callbacks.remove(self._timed)
        for hooks, hook in ((live.on_open, self.opened_one), (live.on_close, self.closed_one)):
            if hook in hooks:
                hooks.remove(hook)

    def _timed(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.metrics is not None:
            self.metrics.gc_pause.labels(str(info.get("generation"))).observe(time.perf_counter() - self._started)

    async def opened_one(self, conn) -> None:
        self.opened += 1
        if self.opened >= self.freeze_every:
            self.opened = 0
            gc.freeze()

    async def closed_one(self, conn) -> None:
        self.closed += 1
        if self.closed >= self.thaw_after:
            self.closed = 0
            gc.unfreeze()
