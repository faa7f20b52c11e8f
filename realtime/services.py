"""What the live side takes from the platform's services, as a type.

`app.services.Services` is the one implementation; the live side names only
the members it uses, so that it depends on no layer above it.  Members are
read-only here (properties), which lets the bundle declare them as plain
fields.
"""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

    from core.changes import StateChanges
    from core.config import Settings
    from core.metrics import Metrics
    from realtime.live import Live

T = TypeVar("T")


class Spawner(Protocol):
    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run work beyond a request; cancelled at shutdown."""
        ...


class LiveServices(Spawner, Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Any: ...

    @property
    def notifier(self) -> StateChanges: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def redis(self) -> Redis | RedisCluster | None: ...

    @property
    def live(self) -> Live | None: ...
