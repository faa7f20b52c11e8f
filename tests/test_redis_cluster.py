"""The Redis side on a real Redis Cluster (six redis-server nodes: three masters, three replicas).

Keys that go together share a slot; the cluster client reaches every master,
pipelines and scripts included; the broker carries channels of every master
between two processes and follows a slot that moves to another master.  Then
the cross-instance tests written for one Redis server run again, unchanged,
with two server instances on the cluster.  (Two processes behind nginx and a
killed master: tests/test_redis_cluster_failover.py.)
"""
import asyncio
import secrets

import pytest
from redis.crc import key_slot

from accounts import devices as records
from chat import moderation, room_names
from core import config
from events import audience
from realtime.broker_cluster import ClusterBroker
from storage import batching, redis_client

# The cross-instance tests, collected here again with this module's fixtures (the cluster).
from tests.instances import other  # noqa: F401 (fixture)
from tests.test_devices import (  # noqa: F401
    test_records_expire_refresh_and_report_takeovers_in_redis,
    test_simultaneous_devices_end_with_the_record_holder,
    test_takeover_crosses_instances_through_redis,
)
from tests.test_gate_redis import test_gate_name_and_support_cross_instances  # noqa: F401
from tests.test_moderation import TestAcrossInstances  # noqa: F401
from tests.test_presence import (  # noqa: F401
    test_a_process_that_stops_heartbeating_drops_out,
    test_counts_cross_instances_through_redis,
)
from tests.test_questions_redis import test_questions_cross_instances  # noqa: F401
from tests.test_realtime_redis import test_state_and_chat_cross_instances  # noqa: F401


@pytest.fixture
def settings(redis_cluster):
    return config.from_env(mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1,
                           argon2_memory_kib=1024, log_format="text", redis_url=redis_cluster.url,
                           redis_shards=2, smtp_host="")


@pytest.fixture
def redis_server(redis_cluster):
    return redis_cluster


def event_ids(n: int) -> list[str]:
    return [secrets.token_hex(12) for _ in range(n)]


def spread(client, ids: list[str]) -> dict[str, list[str]]:
    """Event ids by the master serving them; asserts that every master serves some."""
    by_master: dict[str, list[str]] = {}
    for event_id in ids:
        by_master.setdefault(client.get_node_from_key(room_names.state_channel(event_id)).name, []).append(event_id)
    assert len(by_master) == 3, by_master
    return by_master


def test_the_keys_and_channels_of_one_event_share_one_slot():
    event_id, user_id, page_id = secrets.token_hex(12), secrets.token_hex(12), secrets.token_hex(12)
    room = room_names.public_room(event_id, "ru")
    names = [
        room_names.state_channel(event_id), room_names.registrations_channel(event_id), room,
        room_names.support_room(event_id, "de", user_id), room_names.community_room(event_id, page_id),
        room_names.questions_room(event_id), room_names.questions_session_room(event_id, page_id),
        room_names.questions_mod_room(event_id),
        records.key(event_id, user_id), audience.key(event_id), moderation.slow_key(room, user_id),
    ]
    assert {key_slot(name.encode()) for name in names} == {key_slot(event_id.encode())}
    # Other events land elsewhere: the tag is the event, not a constant.
    assert len({key_slot(room_names.state_channel(e).encode()) for e in event_ids(20)}) > 1


def test_cluster_urls():
    assert redis_client.is_cluster_url("redis+cluster://a:1,b:2") and not redis_client.is_cluster_url("redis://a")
    seeds, options = redis_client.cluster_seeds("rediss+cluster://user:p%40ss@10.0.0.1:7000,10.0.0.2/0?socket_timeout=3")
    assert seeds == [("10.0.0.1", 7000), ("10.0.0.2", 6379)]
    assert options == {"username": "user", "password": "p@ss", "socket_timeout": 3.0, "ssl": True}
    assert redis_client.cluster_seeds("redis+cluster://h:7000")[1] == {}
    with pytest.raises(ValueError, match="database 0"):
        redis_client.cluster_seeds("redis+cluster://h:7000/3")
    with pytest.raises(ValueError):
        redis_client.cluster_seeds("redis+cluster:///0")


@pytest.mark.gen_test(timeout=30)
async def test_keys_pipelines_and_scripts_reach_every_master(redis_cluster):
    client = redis_client.connect(redis_cluster.url)
    try:
        assert isinstance(client, redis_client.FailoverCluster)
        await client.initialize()
        ids = event_ids(24)
        by_master = spread(client, ids)
        # One turn's commands over every master: each caller gets its own answer.
        batch = batching.redis_pipeline(client)
        keys = [records.key(e, "u") for e in ids]
        await client.set(keys[0], "not a number")
        got = await asyncio.gather(
            *(batch.submit(lambda pipe, k=k, i=i: pipe.set(k, f"s{i}", ex=60, get=True)) for i, k in enumerate(keys)),
            batch.submit(lambda pipe: pipe.incr(keys[0])),
            *(batch.submit(lambda pipe, k=k: pipe.get(k)) for k in keys),
            return_exceptions=True)
        n = len(keys)
        assert got[0] == b"not a number" and got[1:n] == [None] * (n - 1)
        assert isinstance(got[n], Exception)
        assert got[n + 1:] == [f"s{i}".encode() for i in range(n)]

        # Device records of events on every master: one script call per event.
        store = records.RedisDevices(client, ttl=60)
        watching = [(e, f"u{j}", f"s{j}") for e in ids for j in range(3)]
        for e in ids:
            assert await store.claim(e, "u0", "other") is None
        assert await store.refresh(watching) == {(e, "u0") for e in ids}
        assert await store.current(ids[5], "u2") == "s2" and await store.current(ids[5], "u0") == "other"

        # Slow mode stamps and presence entries live beside their event, on every master.
        gate = moderation.SlowGate(client)
        presence = audience.RedisPresence(client)
        for event_ids_of_master in by_master.values():
            room = room_names.public_room(event_ids_of_master[0], "ru")
            assert await gate.take(room, "u", 30) == 0
            assert await gate.take(room, "u", 30) >= 29
            await presence.put(event_ids_of_master[0], "p1", {"locales": {"ru": 2}}, 30)
            assert await presence.read(event_ids_of_master[0], 30) == {"p1": {"locales": {"ru": 2}}}
    finally:
        await client.aclose()


class Process:
    """One process's side of the broker: what it received and which channels it was told to resync."""

    def __init__(self, url: str):
        self.client = redis_client.connect(url)
        self.broker = ClusterBroker(self.client, shards=2)
        self.got: list[tuple[str, bytes]] = []
        self.resynced: list[set[str]] = []
        self.broker.on_message = lambda channel, payload: self.got.append((channel, payload))

        async def on_reconnect(channels):
            self.resynced.append(set(channels))
        self.broker.on_reconnect = on_reconnect

    async def close(self):
        await self.broker.close()
        await self.client.aclose()


async def until(check, timeout=30.0):
    # Generous: a failover on a loaded 2-core machine takes seconds more than on a quiet one.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.mark.gen_test(timeout=120)
async def test_broker_carries_every_master_and_follows_a_moved_slot(redis_cluster):
    a, b = Process(redis_cluster.url), Process(redis_cluster.url)
    try:
        for p in (a, b):
            await p.broker.start()
        await a.client.initialize()
        by_master = spread(a.client, event_ids(24))
        channels = [room_names.state_channel(e) for ids in by_master.values() for e in ids]
        channels.append(room_names.ACCOUNTS)
        for p in (a, b):
            for channel in channels:
                await p.broker.subscribe(channel)
        # Each process holds links to all three masters (two shards each at most).
        assert {name for name, _ in a.broker.links} == set(by_master)
        for channel in channels:
            await a.broker.publish(channel, b"from a " + channel.encode())
            await b.broker.publish(channel, b"from b " + channel.encode())
        await until(lambda: len(a.got) == len(b.got) == 2 * len(channels))
        assert sorted(a.got) == sorted(b.got)

        # The master of the first group hands its slots to its replica.
        moved_master = next(iter(by_master))
        moved = {room_names.state_channel(e) for e in by_master[moved_master]}
        node = next(n for n in redis_cluster.nodes if n.address == moved_master)
        redis_cluster.hand_over(node)
        # Each process resubscribes the moved channels on the new master and has
        # their members resync; the channels of the other masters are untouched.
        # (a superset: on a loaded machine a heartbeat may also give up on a slow master, which costs
        # a resync and nothing else)
        await until(lambda: moved <= set().union(*a.resynced) and moved <= set().union(*b.resynced))
        assert all(moved_master not in name for name, _ in a.broker.links)
        a.got.clear()
        b.got.clear()
        for channel in channels:
            await a.broker.publish(channel, b"after " + channel.encode())
        await until(lambda: len(a.got) == len(b.got) == len(channels))
        assert {c for c, _ in b.got} == set(channels)
        await a.broker.unsubscribe(channels[0])
        await a.broker.publish(channels[0], b"gone")
        await b.broker.publish(channels[1], b"still")
        await until(lambda: (channels[1], b"still") in a.got)
        assert (channels[0], b"gone") not in a.got
    finally:
        for p in (a, b):
            await p.close()


@pytest.mark.gen_test(timeout=90)
async def test_broker_leaves_a_master_that_hangs_for_its_replica(redis_cluster):
    """A master that stops answering without closing its connections (SIGSTOP: a machine
    gone, a network cut) is noticed by the links' own heartbeat, not only by a reset."""
    a, b = Process(redis_cluster.url), Process(redis_cluster.url)
    try:
        for p in (a, b):
            await p.broker.start()
        await a.client.initialize()
        by_master = spread(a.client, event_ids(24))
        channels = [room_names.state_channel(e) for ids in by_master.values() for e in ids]
        for p in (a, b):
            for channel in channels:
                await p.broker.subscribe(channel)
        hung_master = next(iter(by_master))
        hung = {room_names.state_channel(e) for e in by_master[hung_master]}
        node = next(n for n in redis_cluster.nodes if n.address == hung_master)
        node.freeze()
        try:
            # Neither process publishes: each finds out by itself, then resubscribes on
            # the promoted replica and has the members of those channels resync.
            await until(lambda: hung <= set().union(*a.resynced) and hung <= set().union(*b.resynced),
                        timeout=40)
            for channel in channels:
                await b.broker.publish(channel, b"after " + channel.encode())
            await until(lambda: len(a.got) == len(b.got) == len(channels))
        finally:
            node.thaw()
            redis_cluster.wait_healthy()
    finally:
        for p in (a, b):
            await p.close()
