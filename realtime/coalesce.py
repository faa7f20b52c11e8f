"""Live numbers pushed per event at most once a window, however many changes come.

A feature that shows numbers people watch (registration counts, ticket
availability) hears of each change through the change bus and must not
push a frame per change: an import of ten thousand rows or a rush for the
last tickets would cost every viewer thousands of frames.  `Coalescer`
pushes the first change after a quiet `window` at once; the changes that
follow within the window become one push at its end, which reads the
numbers as they are then, so the last frame always carries the final ones.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Coalescer:
    """`coalescer.changed(event_id)`: `push(event_id)` soon, at most once per `window` per event."""

    def __init__(self, spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
                 push: Callable[[Any], Awaitable[None]], window: float, what: str):
        self.spawn = spawn
        self.push = push
        self.window = window
        self.what = what                               # named in the log when a push fails
        self._last: dict[str, float] = {}              # event -> loop time of its last push
        self._due: dict[str, asyncio.Task[None]] = {}  # event -> the push waiting for its window

    def changed(self, event_id) -> None:
        key = str(event_id)
        if key in self._due:
            return  # a push is already waiting: it will read the numbers as they are then
        loop = asyncio.get_running_loop()
        wait = max(0.0, self._last.get(key, -self.window) + self.window - loop.time())
        self._due[key] = self.spawn(self._run(event_id, key, wait))

    async def _run(self, event_id, key: str, wait: float) -> None:
        try:
            if wait:
                await asyncio.sleep(wait)
            # Taken off first: a change during the read below schedules the next push.
            self._due.pop(key, None)
            self._last[key] = asyncio.get_running_loop().time()
            await self.push(event_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s not pushed", self.what, extra={"event_id": key})
        finally:
            if self._due.get(key) is asyncio.current_task():
                self._due.pop(key, None)
            if len(self._last) > 10000:
                # Old windows mean nothing: forget the ones long past.
                now = asyncio.get_running_loop().time()
                self._last = {k: t for k, t in self._last.items() if now - t < self.window}
