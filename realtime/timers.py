"""Periodic work of the live side (presence publishing, device refresh).

A timer runs as one task registered with `services.spawn`, so shutdown
cancels it with the rest of the background work; its task is named
"timer:<name>" so that whoever waits for background work to finish (tests of
mailings) can tell a timer, which never finishes, from a job.  One failing round is
logged and the timer goes on: a Redis hiccup must not stop presence for the
lifetime of the process.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realtime.services import Spawner

log = logging.getLogger(__name__)


async def every(seconds: Callable[[], float], work: Callable[[], Awaitable[None]], name: str) -> None:
    """Run `work` every `seconds()` (read each round, so tests can shorten it) until cancelled."""
    while True:
        await asyncio.sleep(seconds())
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("timer round failed", extra={"timer": name})


PREFIX = "timer:"


def start(services: Spawner, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """Spawn a timer's coroutine as background work that shutdown cancels."""
    task = services.spawn(coro)
    task.set_name(PREFIX + name)
    return task


def is_timer(task: asyncio.Task) -> bool:
    return task.get_name().startswith(PREFIX)
