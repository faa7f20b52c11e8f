"""Opening Redis from `REDIS_URL`: one server, or a Redis Cluster.

    redis://[user:password@]host:port/0                      one server (rediss:// over TLS)
    redis+cluster://[user:password@]host:port,host:port,...  a Redis Cluster (rediss+cluster://
                                                             over TLS); the addresses are seeds,
                                                             the rest of the cluster is found
                                                             from any one of them

On a cluster the client is redis-py's cluster client: it routes each command
to the master serving its key's hash slot, follows MOVED and ASK
redirections, and splits a pipeline per node, handing each command its own
answer in order.  The platform's keys are laid out for it (README, *Redis
Cluster*): the keys one script or command touches together share a
`{hash tag}`, and nothing uses a command a cluster refuses (KEYS, SELECT,
cross-slot multi-key commands, scripts inside a pipeline).

What redis-py leaves out is riding out a failover.  When a master dies its
slots answer nothing (or CLUSTERDOWN) until the cluster promotes its
replica, a matter of `cluster-node-timeout` plus an election; redis-py
retries at once and gives up within milliseconds.  `FailoverCluster`
retries such a command with a growing pause for up to `FAILOVER_WAIT`
seconds, refreshing the slot map each time, so a chat message sent during a
failover is published once the replica has taken over instead of failing.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection, ConnectionPool, parse_url
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    SlotNotCoveredError,
    TimeoutError,
    TryAgainError,
)

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
FAILOVER_WAIT = 10.0   # seconds a command waits for a failed master's replica to take over
FIRST_PAUSE = 0.05     # seconds before the first retry; doubled each time, up to LONGEST_PAUSE
LONGEST_PAUSE = 0.5

# What a dead or failing-over master answers; anything else (a wrong type,
# a script error) is the command's own answer and is never retried.
TRANSIENT = (ConnectionError, TimeoutError, ClusterDownError, SlotNotCoveredError, TryAgainError)

T = TypeVar("T")


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def cluster_seeds(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """([(host, port)], connection options) from a `redis+cluster://` URL.

    The options (user, password, TLS, query-string settings) are those
    redis-py reads from a single-server URL; a database number other than 0
    is refused, as a cluster has only database 0.
    """
    scheme, rest = url.split("://", 1)
    plain = CLUSTER_SCHEMES.get(scheme.lower())
    if plain is None:
        raise ValueError(f"not a Redis Cluster URL: {scheme}://")
    authority, sep, tail = rest.partition("/")
    if not sep:
        authority, sep, tail = rest.partition("?")
        tail = "?" + tail if sep else ""
    userinfo, _, hosts = authority.rpartition("@")
    seeds = []
    for address in filter(None, (h.strip() for h in hosts.split(","))):
        parts = urlsplit(f"//{address}")
        if not parts.hostname:
            raise ValueError(f"REDIS_URL: no host in {address!r}")
        seeds.append((parts.hostname, parts.port or 6379))
    if not seeds:
        raise ValueError("REDIS_URL names no cluster node")
    options: dict[str, Any] = dict(parse_url(f"{plain}://{userinfo + '@' if userinfo else ''}"
                                             f"{seeds[0][0]}:{seeds[0][1]}/{tail}"))
    options.pop("host", None)
    options.pop("port", None)
    if options.pop("db", 0) not in (0, None):
        raise ValueError("REDIS_URL: a Redis Cluster has only database 0")
    if options.pop("connection_class", None) is not None:
        options["ssl"] = True  # rediss+cluster://
    return seeds, options


async def ride_out(call: Callable[[], Awaitable[T]], wait: float = FAILOVER_WAIT) -> T:
    """`await call()`, retried on TRANSIENT errors with a growing pause, for up to `wait` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    pause = FIRST_PAUSE
    while True:
        try:
            return await call()
        except TRANSIENT as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from exc  # a cancellation that surfaced as a timeout
            if loop.time() + pause > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)


class FailoverCluster(RedisCluster):
    """redis-py's cluster client, whose commands wait out a failover (see the module's docstring).

    Retrying is safe for what the platform sends: SET, GET, EXPIRE, HDEL and
    its scripts leave the same state when repeated, and a publish repeated
    after its answer was lost is a duplicate the hub drops by offset (chat)
    or applies twice to the same effect (state, notices).
    """

    failover_wait = FAILOVER_WAIT

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        parent = super().execute_command
        return await ride_out(lambda: parent(*args, **kwargs), self.failover_wait)


def connect(url: str, **options: Any) -> Redis | FailoverCluster:
    """The client `REDIS_URL` names; `options` are connection settings (timeouts, pool size)."""
    if not is_cluster_url(url):
        return Redis.from_url(url, **options)
    seeds, from_url = cluster_seeds(url)
    # No replica reads: a replica may lag, and a device record or a slow-mode
    # stamp read from behind would break the one-device rule or the limit.
    return FailoverCluster(startup_nodes=[ClusterNode(host, port) for host, port in seeds],
                           **{**options, **from_url})


async def ping(client: Redis | RedisCluster) -> bool:
    """Whether Redis serves: the one server answers, or on a cluster every master does
    (a replica down leaves every slot served; a master down, until its replica takes
    over, does not)."""
    if isinstance(client, RedisCluster):
        return bool(await client.ping(target_nodes=RedisCluster.PRIMARIES))
    return bool(await client.ping())


def is_cluster(client: object) -> bool:
    return isinstance(client, RedisCluster)


def failover_wait(client: object) -> float:
    """How long a command on `client` may wait for a failover: 0 on a single server."""
    return float(getattr(client, "failover_wait", 0.0)) if is_cluster(client) else 0.0


def node_client(cluster: RedisCluster, host: str, port: int) -> Redis:
    """A client of one node of `cluster`, for connections that must stay on that node
    (sharded pub/sub), with the cluster client's settings (password, TLS, timeouts)."""
    kwargs = dict(cluster.get_connection_kwargs())
    connection_class: type[Connection] = kwargs.pop("connection_class") or Connection
    # The cluster's pool size is per node and its reply parsers are its own.
    for name in ("max_connections", "response_callbacks"):
        kwargs.pop(name, None)
    pool = ConnectionPool(connection_class=connection_class, host=host, port=port, **kwargs)
    return Redis(connection_pool=pool)
