"""Minutes watched from the player's heartbeat: over a real WebSocket, a heartbeat credits at most
the time since the connection's previous one and at most 45 s, rapid or inflated heartbeats gain
nothing, two tabs of one person count once, nothing counts while the broadcast is off, and the
credit reaches the database in batches.  Two processes crediting the same minute never make it
count more than 60 s."""
import asyncio
import time

import pytest

from registration import watch_time
from tests.live_client import LiveClient
from tests.test_realtime import live, person, seeded


class Clock:
    """The live side's wall clock, moved by the test."""

    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def broadcast(db, event, on: bool):
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"broadcast.on": on}})


async def beat(client, seconds, ref):
    await client.send({"type": "watching", "seconds": seconds, "ref": ref})
    return await client.expect("watched", ref=ref)


async def stored_seconds(db, event, user) -> float:
    return watch_time.seconds_of(await db.watch_time.find_one({"event_id": event["_id"], "user_id": user["_id"]}))


@pytest.fixture
def clock(services, monkeypatch):
    fake = Clock()
    feature = services.live.watching
    monkeypatch.setattr(feature, "clock", fake)
    monkeypatch.setattr(feature.ledger, "clock", fake)
    monkeypatch.setattr(feature, "live_ttl", 0.0)   # every heartbeat reads whether the event is live
    return fake


@pytest.mark.gen_test(timeout=30)
async def test_heartbeats_credit_the_time_that_passed_and_no_more(factory, browser, base_url, db, services, clock):
    event = await seeded(factory)
    await broadcast(db, event, True)
    user, b = await person(factory, browser, event)
    first, _, _ = await live(base_url, b, event)

    clock.now += 30
    assert (await beat(first, 30, "a"))["credited"] == 30
    # Forged: heartbeats as fast as the rate limit allows, each claiming the most it may; no time passed.
    for i in range(8):
        assert (await beat(first, 3600, f"f{i}"))["credited"] == 0
    # A long silence (paused) credits what the player says it played, and never more than 45 s.
    clock.now += 600
    assert (await beat(first, 12, "b"))["credited"] == 12
    clock.now += 600
    assert (await beat(first, 3600, "c"))["credited"] == watch_time.CAP

    # A second tab of the same person: the same 30 s are not counted twice.
    second, _, _ = await live(base_url, b, event)
    clock.now += 30
    assert (await beat(first, 30, "d"))["credited"] == 30
    assert (await beat(second, 30, "e"))["credited"] == 0
    clock.now += 10
    assert (await beat(second, 30, "g"))["credited"] == 10   # its own elapsed time is 10 s since "e"

    # Nothing while the broadcast is off.
    await broadcast(db, event, False)
    clock.now += 30
    frame = await beat(first, 30, "h")
    assert frame["credited"] == 0 and frame["live"] is False
    await broadcast(db, event, True)

    # Written in a batch: nothing before the flush, the sum after it.
    assert await db.watch_time.count_documents({}) == 0
    assert await services.live.watching.flush() == 1
    expected = 30 + 12 + 45 + 30 + 10
    assert await stored_seconds(db, event, user) == pytest.approx(expected)
    assert await watch_time.minutes_by_user(db, event["_id"], [user["_id"]]) == {user["_id"]: expected // 60}

    # Bad input is refused and changes nothing.
    for bad in ({"seconds": -1}, {"seconds": 3601}, {"seconds": "30"}, {"seconds": True}, {}):
        await first.send({"type": "watching", "ref": "x", **bad})
        assert (await first.expect("error", ref="x"))["code"] == "invalid"
    assert services.live.watching.ledger.pending() == 0


@pytest.mark.gen_test(timeout=30)
async def test_rapid_heartbeats_in_real_time_stay_within_the_wall_clock(factory, browser, base_url, db, services):
    event = await seeded(factory)
    await broadcast(db, event, True)
    user, b = await person(factory, browser, event)
    started = time.time()
    client, _, _ = await live(base_url, b, event)
    credited = 0.0
    for i in range(15):
        credited += (await beat(client, 45, i))["credited"]
        await asyncio.sleep(0.05)
    await services.live.watching.flush()
    elapsed = time.time() - started
    assert 0 < credited <= elapsed
    assert 0 < await stored_seconds(db, event, user) <= elapsed


@pytest.mark.gen_test(timeout=30)
async def test_a_connection_waiting_behind_the_gate_gets_no_credit(factory, browser, base_url, db, services, clock):
    event = await factory.event(gate_open=False)
    await broadcast(db, event, True)
    user, b = await person(factory, browser, event)
    client = await LiveClient.connect(base_url, b, event["_id"])
    assert (await client.expect("welcome")).get("waiting") is True
    clock.now += 30
    await client.send({"type": "watching", "seconds": 30, "ref": "w"})
    assert (await client.expect("error", ref="w"))["code"] == "not_started"
    assert services.live.watching.ledger.pending() == 0


@pytest.mark.gen_test
async def test_two_processes_crediting_one_minute_count_it_once(db):
    from bson import ObjectId
    event_id, user_id = ObjectId(), ObjectId()
    minute = 60 * 29_000_000
    one, two = watch_time.Ledger(), watch_time.Ledger()
    # Each process sees the person's other tab: both credit the same 60 s; within one process
    # the overlapping stretches are one.
    assert one.credit(str(event_id), str(user_id), 45, minute + 45) == 45
    assert one.credit(str(event_id), str(user_id), 30, minute + 60) == 15
    assert two.credit(str(event_id), str(user_id), 45, minute + 60) == 45
    assert two.credit(str(event_id), str(user_id), 45, minute + 90) == 30   # into the next minute
    await one.flush(db)
    await two.flush(db)
    doc = await db.watch_time.find_one({"event_id": event_id, "user_id": user_id})
    assert doc["minutes"] == {str(minute // 60): 60 + 45, str(minute // 60 + 1): 30}
    assert watch_time.seconds_of(doc) == 60 + 30
    assert watch_time.minutes_of(doc) == 1


@pytest.mark.gen_test(timeout=30)
async def test_a_deleted_accounts_unwritten_credit_is_dropped_in_every_process(factory, browser, base_url, db,
                                                                                services, clock):
    event = await seeded(factory)
    await broadcast(db, event, True)
    user, b = await person(factory, browser, event)
    client, _, _ = await live(base_url, b, event)
    clock.now += 30
    assert (await beat(client, 30, "a"))["credited"] == 30
    assert services.live.watching.ledger.pending() == 1
    await services.live.account_erased(user["_id"])   # as accounts.erase announces it
    for _ in range(50):
        if not services.live.watching.ledger.pending():
            break
        await asyncio.sleep(0.02)
    assert services.live.watching.ledger.pending() == 0
    await services.live.watching.flush()
    assert await db.watch_time.count_documents({}) == 0
