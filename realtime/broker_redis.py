"""The Redis broker on one Redis server: sharded pub/sub (SPUBLISH / SSUBSCRIBE, Redis 7+).

Sharded pub/sub routes a channel by its hash slot, so the same channels work
on a Redis Cluster (`realtime.broker_cluster`), where classic PUBLISH would
be broadcast to every node.  Subscriptions are spread over `shards`
connections by `room_names.shard`, so one busy event cannot stall the
reading of another.

When a connection drops, its reader re-creates it, subscribes again to
every channel it carried, and calls `on_reconnect`: anything published in
between was lost for this process, and the hub makes its clients resync
from the stored state.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from chat import room_names
from realtime.broker import Broker, being_cancelled

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)
READ_TIMEOUT = 1.0
CONFIRM_TIMEOUT = 5.0


class _Shard:
    def __init__(self, broker: RedisBroker, index: int):
        self.broker = broker
        self.index = index
        self.channels: set[str] = set()
        self.pubsub: PubSub | None = None
        self.ready = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.waiting: dict[str, list[asyncio.Future]] = {}

    async def subscribe(self, channel: str) -> None:
        """Return once Redis has confirmed the subscription.

        Callers read stored state right after subscribing (a chat room's
        recent entries); anything published after that read must reach
        them, so "sent the command" is not enough: wait for the reply.
        """
        self.channels.add(channel)
        confirmed = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(channel, []).append(confirmed)
        if self.pubsub is not None:
            try:
                await self.pubsub.ssubscribe(channel)
            except Exception:
                # The reader notices the broken connection and subscribes
                # again to everything in self.channels when it is back.
                log.warning("ssubscribe failed; will retry on reconnect", extra={"channel": channel})
        self.ready.set()
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), CONFIRM_TIMEOUT)
        except TimeoutError:
            log.warning("subscription not confirmed in time", extra={"channel": channel})

    def _confirmed(self, channel: str) -> None:
        for waiter in self.waiting.pop(channel, []):
            if not waiter.done():
                waiter.set_result(True)

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        if self.pubsub is not None:
            try:
                await self.pubsub.sunsubscribe(channel)
            except Exception:
                log.warning("sunsubscribe failed", extra={"channel": channel})

    async def run(self) -> None:
        delay = 0.1
        first = True
        while True:
            await self.ready.wait()
            try:
                pubsub = self.pubsub = self.broker.client.pubsub()
                if self.channels:
                    await pubsub.ssubscribe(*self.channels)
                if not first and self.broker.on_reconnect:
                    await self.broker.on_reconnect(None)
                first = False
                delay = 0.1
                while True:
                    if not self.channels and not pubsub.subscribed:
                        self.ready.clear()
                        break
                    msg = await pubsub.get_message(timeout=READ_TIMEOUT)
                    if not msg:
                        continue
                    channel = msg.get("channel")
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    if msg.get("type") == "smessage" and self.broker.on_message:
                        self.broker.on_message(channel, msg["data"])
                    elif msg.get("type") == "ssubscribe":
                        self._confirmed(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                log.warning("redis pub/sub connection lost; reconnecting",
                            extra={"shard": self.index, "error": repr(exc)})
                first = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                if self.pubsub is not None:
                    try:
                        await self.pubsub.aclose()
                    except Exception:
                        pass
                    self.pubsub = None


class RedisBroker(Broker):
    def __init__(self, client: Redis, shards: int = 1):
        self.client = client
        self._shards = [_Shard(self, i) for i in range(max(1, shards))]

    async def start(self) -> None:
        for shard in self._shards:
            shard.task = asyncio.create_task(shard.run())

    async def close(self) -> None:
        for shard in self._shards:
            if shard.task:
                shard.task.cancel()
        await asyncio.gather(*(s.task for s in self._shards if s.task), return_exceptions=True)

    def _shard(self, channel: str) -> _Shard:
        return self._shards[room_names.shard(channel, len(self._shards))]

    async def publish(self, channel: str, payload: bytes) -> None:
        await self.client.spublish(channel, payload)

    async def subscribe(self, channel: str) -> None:
        await self._shard(channel).subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self._shard(channel).unsubscribe(channel)

    async def ping(self) -> bool:
        return bool(await self.client.ping())
