"""The broker: carries a published payload to every process subscribed to its channel.

A narrow interface with three implementations: `InProcessBroker` (one
process, no Redis: the embedded default), `realtime.broker_redis.RedisBroker`
(sharded pub/sub on one Redis server, across processes and machines) and
`realtime.broker_cluster.ClusterBroker` (the same on a Redis Cluster).  The hub subscribes a
channel while it has local members and gives the broker one callback,
`on_message(channel, payload)`, called once per message per process.

Delivery is at most once, like any pub/sub: durability comes from storing
first (chat messages, event state) and from clients resuming by offset.
`on_reconnect(channels)` tells the hub that messages of those channels (None:
of every channel) may have been missed while the broker's connection was
down, so it can make their members resynchronise.
"""
from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Collection

OnMessage = Callable[[str, bytes], None]
OnReconnect = Callable[[Collection[str] | None], Awaitable[None]]


def being_cancelled() -> bool:
    """Whether the running task has been asked to stop.  A reader loop that catches a
    client library's errors checks it: a cancellation that surfaces as some other error
    (a timeout racing it) must still end the loop, or closing the broker waits forever."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Broker(abc.ABC):
    """The interface the hub uses; `on_message` and `on_reconnect` are set by the hub."""

    on_message: OnMessage | None = None
    on_reconnect: OnReconnect | None = None

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, channel: str, payload: bytes) -> None: ...

    @abc.abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Return once the broker delivers the channel's messages to this process."""

    @abc.abstractmethod
    async def unsubscribe(self, channel: str) -> None: ...

    async def ping(self) -> bool:
        return True


class InProcessBroker(Broker):
    """Publishing is a direct call; only subscribed channels are delivered."""

    def __init__(self):
        self._channels: set[str] = set()

    async def start(self) -> None:
        pass  # nothing to connect to

    async def close(self) -> None:
        pass

    async def publish(self, channel: str, payload: bytes) -> None:
        if channel in self._channels and self.on_message:
            # Deliver on the next loop turn, as a network broker would: the
            # publisher never runs subscribers' code inside its own call.
            asyncio.get_running_loop().call_soon(self.on_message, channel, payload)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
