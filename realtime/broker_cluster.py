"""The Redis broker on a Redis Cluster: sharded pub/sub on the master that serves each channel.

A sharded channel lives on the master serving its hash slot: SPUBLISH goes
through the cluster client (`storage.redis_client`), which routes it by slot
and waits out a failover; SSUBSCRIBE must be sent on a connection to that
very master.  So this process keeps, per master, up to `shards` connections
(a `_Link` each, channels spread by `room_names.shard`), and asks the
cluster client's slot map which master serves a channel.  Every channel of
one event carries the event's `{hash tag}`, so an event lives on one master
and one link.

Slot moves are followed.  A link gives its channels back to the broker
when its connection fails (the master died, or the network did), when its
master stays silent (a quiet link asks for a PONG every `HEARTBEAT`
seconds: a machine that vanished closes nothing), and when the master says
it no longer serves a channel (an unrequested `sunsubscribe`, sent when a
slot migrates or the master is demoted).  The
broker then refreshes the slot map and subscribes them on their master,
again and again with a growing pause (at most `LONGEST_PAUSE`) while the
map still names a dead master, until its replica has taken over.  Whatever
was published meanwhile is lost for this process, so once a channel that
was being delivered is confirmed again, `on_reconnect` gets it: the hub
makes that channel's members resync from storage.  Channels on other
masters are untouched.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError, MovedError, ResponseError

from chat import room_names
from realtime.broker import Broker, being_cancelled
from storage import redis_client

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)
READ_TIMEOUT = 1.0
HEARTBEAT = 2.0  # seconds of quiet after which a link asks its master for a PONG
SILENCE = 3.0    # seconds without the PONG after which the master counts as gone
CONFIRM_TIMEOUT = 5.0
FIRST_PAUSE = 0.05   # seconds before placing lost channels again; doubled while they keep failing
LONGEST_PAUSE = 0.5
RESYNC_GATHER = 0.02  # seconds: confirmations arriving together make one on_reconnect


class _Link:
    """One sharded pub/sub connection to one master, carrying some of its channels."""

    def __init__(self, broker: ClusterBroker, key: tuple[str, int], host: str, port: int):
        self.broker = broker
        self.key = key
        self.host, self.port = host, port
        self.channels: set[str] = set()
        self.delivering: set[str] = set()    # confirmed on this connection
        self.unsubscribing: dict[str, int] = {}  # sunsubscribe replies we asked for
        self.pubsub: PubSub | None = None
        self.task: asyncio.Task | None = None

    async def add(self, channel: str) -> None:
        self.channels.add(channel)
        if self.pubsub is not None:
            try:
                await self.pubsub.ssubscribe(channel)
            except Exception:
                # The reader notices the broken connection and gives the
                # channel back to the broker with the others.
                log.warning("ssubscribe failed", extra={"channel": channel, "node": self.key[0]})

    async def remove(self, channel: str) -> None:
        self.channels.discard(channel)
        self.delivering.discard(channel)
        if self.pubsub is not None:
            self.unsubscribing[channel] = self.unsubscribing.get(channel, 0) + 1
            try:
                await self.pubsub.sunsubscribe(channel)
            except Exception:
                log.warning("sunsubscribe failed", extra={"channel": channel, "node": self.key[0]})

    async def run(self) -> None:
        failure: Exception | None = None
        pubsub = self.broker.node(self.host, self.port).pubsub()
        try:
            self.pubsub = pubsub
            # One SSUBSCRIBE per slot: a master refuses one naming channels of
            # several slots (CROSSSLOT), even when it serves them all.
            by_slot: dict[int, list[str]] = {}
            for channel in list(self.channels):
                by_slot.setdefault(self.broker.client.keyslot(channel), []).append(channel)
            for group in by_slot.values():
                await pubsub.ssubscribe(*group)
            loop = asyncio.get_running_loop()
            heard = loop.time()
            pinged: float | None = None
            while True:
                if not self.channels and not self.unsubscribing:
                    self.broker.retire(self)  # no await between the check and this: nothing joins meanwhile
                    return
                # A master that vanished without closing the connection (a machine
                # gone, a network cut, a hung process) says nothing at all: a quiet
                # connection is asked for a PONG, and one that stays silent is lost.
                now = loop.time()
                if pinged is not None and now - pinged > SILENCE:
                    raise ConnectionError(f"no answer from {self.key[0]} for {SILENCE:.0f} s")
                if pinged is None and now - heard > HEARTBEAT:
                    pinged = now
                    await pubsub.ping()
                try:
                    msg = await pubsub.get_message(timeout=READ_TIMEOUT)
                except MovedError as exc:
                    # An SSUBSCRIBE that reached the master after its slot moved.
                    self._moved(exc.slot_id)
                    continue
                except ResponseError as exc:
                    # Refused without naming a channel (CLUSTERDOWN, TRYAGAIN): the
                    # subscriptions still unconfirmed are placed again after a pause.
                    log.warning("ssubscribe refused", extra={"node": self.key[0], "error": str(exc)})
                    pending = self.channels - self.delivering
                    self.channels -= pending
                    self.broker.lost(pending, missed=set())
                    continue
                if msg:
                    heard, pinged = loop.time(), None
                    self._dispatch(msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if being_cancelled():
                raise asyncio.CancelledError from exc
            failure = exc
            # A link that had been delivering is news; one that never came up
            # is the retry of a channel whose master is still dead.
            log.log(logging.WARNING if self.delivering else logging.DEBUG,
                    "redis cluster pub/sub connection lost; moving its channels",
                    extra={"node": self.key[0], "error": repr(exc)})
        finally:
            self.pubsub = None
            if self.broker.links.get(self.key) is self:
                self.broker.retire(self)
            if failure is not None or self.channels:
                self.broker.lost(self.channels, missed=self.delivering)
            self.channels = set()
            self.delivering = set()
            try:
                await pubsub.aclose()
            except Exception:
                pass

    def _dispatch(self, msg: dict) -> None:
        raw = msg.get("channel")
        channel: str = raw.decode() if isinstance(raw, bytes) else str(raw)
        kind = msg.get("type")
        if kind == "smessage":
            if channel in self.channels and self.broker.on_message:
                self.broker.on_message(channel, msg["data"])
        elif kind == "ssubscribe":
            if channel in self.channels:
                self.delivering.add(channel)
                self.broker.confirmed(channel)
        elif kind == "sunsubscribe":
            asked = self.unsubscribing.get(channel, 0)
            if asked:
                if asked == 1:
                    del self.unsubscribing[channel]
                else:
                    self.unsubscribing[channel] = asked - 1
            elif channel in self.channels:
                # Not asked for: the master no longer serves the channel's slot.
                self.channels.discard(channel)
                missed = {channel} if channel in self.delivering else set()
                self.delivering.discard(channel)
                self.broker.lost({channel}, missed=missed)

    def _moved(self, slot: int) -> None:
        gone = {c for c in self.channels if self.broker.client.keyslot(c) == slot}
        self.channels -= gone
        missed = gone & self.delivering
        self.delivering -= gone
        self.broker.lost(gone, missed=missed)


class ClusterBroker(Broker):
    """The links of this process, the channel each carries, and the channels waiting for one."""

    def __init__(self, client: RedisCluster, shards: int = 1,
                 node_client: Callable[[RedisCluster, str, int], Redis] = redis_client.node_client):
        self.client = client
        self.shards = max(1, shards)
        self._node_client = node_client
        self.links: dict[tuple[str, int], _Link] = {}
        self._nodes: dict[tuple[str, int], Redis] = {}
        self._wanted: set[str] = set()
        self._home: dict[str, _Link] = {}
        self._homeless: set[str] = set()
        self._missed: set[str] = set()          # lost while delivered: resync once back
        self._resync: set[str] = set()
        self._resync_timer: asyncio.TimerHandle | None = None
        self._waiting: dict[str, list[asyncio.Future]] = {}
        self._wake = asyncio.Event()
        self._pause = 0.0
        self._failures = 0  # placing rounds that failed since a master last confirmed
        self._placer: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    # --- the Broker interface ---------------------------------------------------

    async def start(self) -> None:
        self._placer = asyncio.create_task(self._place_lost())

    async def close(self) -> None:
        tasks = [t for t in (self._placer, *(link.task for link in self.links.values()), *self._tasks) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._resync_timer is not None:
            self._resync_timer.cancel()
        for node in self._nodes.values():
            await node.aclose()
        self._nodes.clear()

    async def publish(self, channel: str, payload: bytes) -> None:
        await self.client.spublish(channel, payload)

    async def subscribe(self, channel: str) -> None:
        """Return once the channel's master has confirmed the subscription (see
        `realtime.broker_redis._Shard.subscribe` for why), or after CONFIRM_TIMEOUT."""
        self._wanted.add(channel)
        home = self._home.get(channel)
        if home is not None and channel in home.delivering:
            return
        confirmed = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(channel, []).append(confirmed)
        if channel not in self._home and channel not in self._homeless:
            try:
                await self._place(channel)
            except Exception as exc:
                log.warning("cluster slot map unavailable; will retry",
                            extra={"channel": channel, "error": repr(exc)})
                self.lost({channel}, missed=set())
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), CONFIRM_TIMEOUT)
        except TimeoutError:
            log.warning("subscription not confirmed in time", extra={"channel": channel})

    async def unsubscribe(self, channel: str) -> None:
        self._wanted.discard(channel)
        self._homeless.discard(channel)
        self._missed.discard(channel)
        for waiter in self._waiting.pop(channel, []):
            if not waiter.done():
                waiter.set_result(False)
        link = self._home.pop(channel, None)
        if link is not None:
            await link.remove(channel)

    async def ping(self) -> bool:
        return await redis_client.ping(self.client)

    # --- placing channels on their master ---------------------------------------------

    def node(self, host: str, port: int) -> Redis:
        """This process's client of one master (each link takes its own connection from it)."""
        client = self._nodes.get((host, port))
        if client is None:
            client = self._nodes[(host, port)] = self._node_client(self.client, host, port)
        return client

    async def _place(self, channel: str) -> None:
        """Subscribe the channel on the link of the master that serves it now."""
        await self.client.initialize()  # learns the slot map once; a no-op after
        master = self.client.get_node_from_key(channel)
        if master is None:
            raise LookupError(f"no master serves {channel}")
        key = (master.name, room_names.shard(channel, self.shards))
        link = self.links.get(key)
        if link is None:
            link = self.links[key] = _Link(self, key, master.host, int(master.port))
            link.channels.add(channel)
            self._home[channel] = link
            link.task = asyncio.create_task(link.run())
            return
        self._home[channel] = link
        await link.add(channel)

    def retire(self, link: _Link) -> None:
        if self.links.get(link.key) is link:
            del self.links[link.key]

    def lost(self, channels: set[str], missed: set[str]) -> None:
        """Channels a link can no longer carry: placed again by `_place_lost`."""
        for channel in channels:
            if channel in self._wanted:
                self._home.pop(channel, None)
                self._homeless.add(channel)
                if channel in missed:
                    self._missed.add(channel)
        if self._homeless:
            self._wake.set()

    async def _place_lost(self) -> None:
        while True:
            await self._wake.wait()
            if self._pause:
                await asyncio.sleep(self._pause)
            self._pause = min(max(self._pause * 2, FIRST_PAUSE), LONGEST_PAUSE)
            self._wake.clear()
            channels, self._homeless = self._homeless & self._wanted, set()
            if not channels:
                continue
            error: Exception | None = None
            try:
                # The slot map as the cluster sees it now (a replica promoted,
                # a slot migrated): not the copy this client last learned.
                await self.client.initialize()
                await self.client.nodes_manager.initialize()
            except Exception as exc:
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                error = exc
            for channel in channels:
                if channel not in self._wanted or channel in self._home:
                    continue
                try:
                    await self._place(channel)
                except Exception as exc:
                    if being_cancelled():
                        raise asyncio.CancelledError from exc
                    error = error or exc
                    self.lost({channel}, missed=set())
            if error is not None:
                self._failures += 1
                # Said once, then every twentieth round: a cluster down for
                # minutes must not fill the log twice a second.
                if self._failures % 20 == 1:
                    log.warning("redis cluster channels not placed; will retry",
                                extra={"error": repr(error), "tries": self._failures})

    def confirmed(self, channel: str) -> None:
        """A master confirmed a subscription: wake its waiters, and resync it if it had been lost."""
        self._pause = 0.0
        self._failures = 0
        for waiter in self._waiting.pop(channel, []):
            if not waiter.done():
                waiter.set_result(True)
        if channel in self._missed:
            self._missed.discard(channel)
            self._resync.add(channel)
            if self._resync_timer is None:
                self._resync_timer = asyncio.get_running_loop().call_later(RESYNC_GATHER, self._resync_now)

    def _resync_now(self) -> None:
        self._resync_timer = None
        channels, self._resync = self._resync, set()
        if channels and self.on_reconnect:
            log.info("redis cluster channels back; their members resync", extra={"channels": len(channels)})
            task = asyncio.ensure_future(self.on_reconnect(channels))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
