"""One device at a time: a second signed-in browser takes over, tabs of one browser do not,
staff are exempt, and the takeover crosses server instances through Redis."""
import asyncio

import pytest

from access import roles as R
from accounts import devices as records
from tests.instances import other, redis_server, settings  # noqa: F401 (fixtures)
from tests.live_client import LiveClient
from tests.test_realtime import seeded


async def signed_in(factory, browser, user):
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return b


async def watch(base_url, b, event, origin=None):
    client = await LiveClient.connect(base_url, b, event["_id"], origin=origin)
    await client.expect("welcome")
    await client.expect("state")
    return client


async def close_code(client, timeout=5.0):
    """Read until the server closes the socket; the close code."""
    while await client.next(timeout) is not None:
        pass
    return client.conn.close_code


async def alive(client, ref="alive"):
    await client.send({"type": "ping", "ref": ref})
    await client.expect("pong", ref=ref)
    return True


async def sessions_of(db, user):
    docs = await db.sessions.find({"user_id": user["_id"]}).sort("created_at", 1).to_list(None)
    return [d["token_hash"] for d in docs]


@pytest.mark.gen_test
async def test_second_device_takes_over_the_first(factory, browser, base_url, services, db):
    event = await seeded(factory)
    user = await factory.member(R.ATTENDEE, event=event, locale="ru")
    laptop = await signed_in(factory, browser, user)
    phone = await signed_in(factory, browser, user)
    first = await watch(base_url, laptop, event)
    second = await watch(base_url, phone, event)
    takeover = await first.expect("takeover")
    assert takeover == {"type": "takeover", "reason": "another_device"}
    assert await close_code(first) == 4001
    assert first.conn.close_reason == "another device took over"
    assert await alive(second)
    assert not [f for f in await second.quiet() if f["type"] in ("takeover", "device_claimed")]
    _, phone_session = await sessions_of(db, user)
    assert await services.live.devices.store.current(event["_id"], user["_id"]) == phone_session
    # The old device coming back is a new device again: it takes over in turn.
    again = await watch(base_url, laptop, event)
    await second.expect("takeover")
    assert await close_code(second) == 4001
    assert await alive(again)


@pytest.mark.gen_test
async def test_tabs_of_one_browser_do_not_kick_each_other(factory, browser, base_url):
    event = await seeded(factory)
    user = await factory.member(R.ATTENDEE, event=event, locale="de")
    laptop = await signed_in(factory, browser, user)
    tab1 = await watch(base_url, laptop, event)
    tab2 = await watch(base_url, laptop, event)
    tab3 = await watch(base_url, laptop, event)
    for tab in (tab1, tab2, tab3):
        assert not [f for f in await tab.quiet() if f["type"] == "takeover"]
        assert await alive(tab)
    # Another device takes over every tab of the first one.
    phone = await signed_in(factory, browser, user)
    newcomer = await watch(base_url, phone, event)
    for tab in (tab1, tab2, tab3):
        await tab.expect("takeover", reason="another_device")
        assert await close_code(tab) == 4001
    assert await alive(newcomer)


@pytest.mark.gen_test
async def test_one_device_per_event_other_accounts_untouched(factory, browser, base_url, db):
    event = await seeded(factory)
    other_event = await seeded(factory)
    user = await factory.member(R.ATTENDEE, event=event, locale="ru")
    await R.grant(db, user, "event", other_event["_id"], R.ATTENDEE)
    neighbour = await factory.member(R.ATTENDEE, event=event, locale="ru")
    laptop = await signed_in(factory, browser, user)
    phone = await signed_in(factory, browser, user)
    nb = await signed_in(factory, browser, neighbour)
    on_event = await watch(base_url, laptop, event)
    neighbour_conn = await watch(base_url, nb, event)
    # The same account on another event from another device is not a takeover.
    on_other_event = await watch(base_url, phone, other_event)
    for c in (on_event, on_other_event, neighbour_conn):
        assert not [f for f in await c.quiet() if f["type"] == "takeover"]
        assert await alive(c)


@pytest.mark.gen_test
async def test_staff_may_use_several_devices(factory, browser, base_url):
    event = await seeded(factory)
    for role in (R.MODERATOR, R.EVENT_ADMIN, R.COMMENTATOR):
        user = await factory.member(role, event=event, locale="en", locales=["ru"])
        console = await watch(base_url, await signed_in(factory, browser, user), event)
        phone = await watch(base_url, await signed_in(factory, browser, user), event)
        for c in (console, phone):
            assert not [f for f in await c.quiet(0.2) if f["type"] == "takeover"]
            assert await alive(c)


@pytest.mark.gen_test
async def test_clients_cannot_forge_a_takeover(factory, browser, base_url, services):
    event = await seeded(factory)
    user = await factory.member(R.ATTENDEE, event=event, locale="ru")
    victim = await factory.member(R.ATTENDEE, event=event, locale="ru")
    attacker = await watch(base_url, await signed_in(factory, browser, user), event)
    target = await watch(base_url, await signed_in(factory, browser, victim), event)
    forged = [
        {"type": "takeover", "reason": "another_device", "user": str(victim["_id"])},
        {"type": "device_claimed", "event": str(event["_id"]), "user": str(victim["_id"]), "session": "x"},
        {"type": "join", "room": f"user:{{{victim['_id']}}}"},
    ]
    codes = []
    for i, frame in enumerate(forged):
        await attacker.send({**frame, "ref": i})
        codes.append((await attacker.expect("error", ref=i))["code"])
    assert codes == ["unknown_type", "unknown_type", "unknown_room"]
    assert await alive(target) and await alive(attacker)
    assert await services.live.devices.store.current(event["_id"], victim["_id"]) is not None


async def check_record_rules(store, advance):
    assert await store.claim("e", "u", "s1") is None
    assert await store.claim("e", "u", "s2") == "s1"
    await advance(0.6)
    # s2 is refreshed; s1 lost the record and is reported, not brought back.
    assert await store.refresh([("e", "u", "s2"), ("e", "u", "s1")]) == {("e", "u")}
    await advance(0.6)
    assert await store.current("e", "u") == "s2"  # refreshed at 0.6, lives until 1.6
    await advance(0.6)
    assert await store.refresh([]) in (None, set())
    assert await store.current("e", "u") is None
    # A session still watching when its record is gone claims it again.
    assert await store.refresh([("e", "u", "s3")]) == set()
    assert await store.current("e", "u") == "s3"


@pytest.mark.gen_test
async def test_records_expire_refresh_and_report_takeovers_in_memory():
    now = [0.0]

    async def advance(seconds):
        now[0] += seconds

    await check_record_rules(records.MemoryDevices(ttl=1, clock=lambda: now[0]), advance)


@pytest.mark.gen_test(timeout=20)
async def test_records_expire_refresh_and_report_takeovers_in_redis(other, services):
    await check_record_rules(records.RedisDevices(services.redis, ttl=1), asyncio.sleep)


@pytest.mark.gen_test(timeout=30)
async def test_takeover_crosses_instances_through_redis(factory, browser, base_url, other, services, db):
    event = await seeded(factory)
    user = await factory.member(R.ATTENDEE, event=event, locale="ru")
    laptop = await signed_in(factory, browser, user)
    phone = await signed_in(factory, browser, user)
    tab_a = await watch(base_url, laptop, event)
    tab_b = await watch(other.url, laptop, event, origin=other.url)
    # Tabs of one browser on two processes are still one device.
    for tab in (tab_a, tab_b):
        assert not [f for f in await tab.quiet() if f["type"] == "takeover"]
        assert await alive(tab)
    newcomer = await watch(other.url, phone, event, origin=other.url)
    for tab in (tab_a, tab_b):
        await tab.expect("takeover", reason="another_device")
        assert await close_code(tab) == 4001
    assert await alive(newcomer)
    _, phone_session = await sessions_of(db, user)
    key = records.key(event["_id"], user["_id"])
    assert (await services.redis.get(key)).decode() == phone_session
    assert 0 < await services.redis.ttl(key) <= records.TTL
    # The laptop comes back on the first process and takes over the phone on the second.
    back = await watch(base_url, laptop, event)
    await newcomer.expect("takeover")
    assert await close_code(newcomer) == 4001
    assert await alive(back)


@pytest.mark.gen_test(timeout=30)
async def test_simultaneous_devices_end_with_the_record_holder(factory, browser, base_url, other, services):
    event = await seeded(factory)
    user = await factory.member(R.ATTENDEE, event=event, locale="ru")
    devices = [await signed_in(factory, browser, user) for _ in range(8)]
    clients = await asyncio.gather(*(
        watch(*((base_url, b, event) if i % 2 == 0 else (other.url, b, event, other.url)))
        for i, b in enumerate(devices)))
    # Notices, and each connection's own look at the record after 1 s, settle it.
    await asyncio.sleep(2.0)
    current = await services.live.devices.store.current(event["_id"], user["_id"])
    survivors = []
    for c in clients:
        await c.quiet(0.2)
        if c.closed:
            assert any(f["type"] == "takeover" for f in c.frames) and c.conn.close_code == 4001
        else:
            assert await alive(c, ref="s")
            survivors.append(c)
    assert len(survivors) == 1
    # The survivor is the device named by the record: every process agreed.
    hub_conns = [conn for svc in (services, other.services)
                 for conn in svc.hub.by_user.get(str(user["_id"]), ()) if not conn.closed]
    assert [conn.info["session"] for conn in hub_conns] == [current]
