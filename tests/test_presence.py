"""Presence: live viewer counts per language and day, summed over server instances
through Redis, pushed to staff, shown on the control page; dead processes drop out."""
import asyncio
import re

import pytest

from access import roles as R
from events import audience
from tests.instances import other, redis_server, settings  # noqa: F401 (fixtures)
from tests.live_client import LiveClient
from tests.test_realtime import seeded


async def signed_in(factory, browser, user):
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return b


async def connect(url, b, event):
    client = await LiveClient.connect(url, b, event["_id"], origin=url)
    await client.expect("state")
    # Frames are read only once the server's open (and its hooks) finished.
    await client.send({"type": "ping", "ref": "ready"})
    await client.expect("pong", ref="ready")
    return client


async def viewer(factory, browser, url, event, locale):
    user = await factory.member(R.ATTENDEE, event=event, locale=locale)
    b = await signed_in(factory, browser, user)
    return b, await connect(url, b, event)


async def eventually(check, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.05)


def counts(total, event, day="d1", **locales):
    out = {loc: 0 for loc in event["locales"]}
    out.update(locales)
    return {"total": total, "locales": out, "days": {day: total} if day else {}}


def page_counts(html: str) -> dict:
    return {loc: int(n) for loc, n in re.findall(r'data-presence-locale="(\w+)">(\d+)<', html)}


@pytest.mark.gen_test(timeout=20)
async def test_staff_see_counts_change_and_closing_decrements(factory, browser, base_url, services):
    event = await seeded(factory)
    presence = services.live.presence
    mod_user = await factory.member(R.MODERATOR, event=event, locale="en")
    mod = await connect(base_url, await signed_in(factory, browser, mod_user), event)
    first = await mod.expect("presence")
    assert first == {"type": "presence", "event": str(event["_id"]), **counts(0, event)}

    rb, ru = await viewer(factory, browser, base_url, event, "ru")
    ru_tab = await connect(base_url, rb, event)       # a second tab: the same viewer
    _, de = await viewer(factory, browser, base_url, event, "de")
    _, lv = await viewer(factory, browser, base_url, event, "lv")  # not an event locale: the default (ru)
    speaker = await factory.member(R.SPEAKER, event=event, locale="de")
    await connect(base_url, await signed_in(factory, browser, speaker), event)  # staff: not counted

    await presence.tick()
    update = await mod.expect("presence")
    assert update == {"type": "presence", "event": str(event["_id"]), **counts(3, event, ru=2, de=1)}
    assert await presence.counts(event["_id"]) == counts(3, event, ru=2, de=1)

    de.close()
    ru_tab.close()
    assert await eventually(lambda: _total_is(presence, event, 2))
    await presence.tick()
    assert (await mod.expect("presence"))["locales"] == counts(2, event, ru=2)["locales"]
    # Nothing changed: no frame.
    await presence.tick()
    assert not [f for f in await mod.quiet(0.3) if f["type"] == "presence"]
    # Viewers never get presence frames, and cannot ask for them.
    await ru.send({"type": "presence", "ref": "p"})
    assert (await ru.expect("error", ref="p"))["code"] == "unknown_type"
    assert not [f for f in ru.frames + lv.frames if f["type"] == "presence"]


async def _total_is(presence, event, n):
    return (await presence.counts(event["_id"]))["total"] == n


@pytest.mark.gen_test(timeout=20)
async def test_the_timer_pushes_changes_by_itself(factory, browser, base_url, services):
    event = await seeded(factory)
    services.live.presence.interval = 0.1
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="en")
    console = await connect(base_url, await signed_in(factory, browser, admin), event)
    assert (await console.expect("presence"))["total"] == 0
    await viewer(factory, browser, base_url, event, "en")
    pushed = await console.expect("presence", timeout=5)
    assert pushed["total"] == 1 and pushed["locales"]["en"] == 1


@pytest.mark.gen_test
async def test_days_follow_the_current_day(factory, db):
    event = await seeded(factory)
    assert audience.summarize([{"locales": {"ru": 2}}, {"locales": {"de": 1, "ru": 1}}], event) == \
        counts(4, event, ru=3, de=1)
    event["days"][1]["enabled"] = True
    assert audience.summarize([{"locales": {"ru": 2}}], event)["days"] == {"d2": 2}
    for day in event["days"]:
        day["enabled"] = False
    assert audience.summarize([{"locales": {"ru": 2}}], event)["days"] == {}


@pytest.mark.gen_test
async def test_control_page_shows_the_counts(factory, browser, base_url, services):
    event = await seeded(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="en")
    ab = await signed_in(factory, browser, admin)
    r = await ab.get(f"/admin/events/{event['_id']}/control")
    assert r.status_code == 200
    assert page_counts(r.text) == {"ru": 0, "en": 0, "de": 0}
    for locale in ("ru", "ru", "de"):
        await viewer(factory, browser, base_url, event, locale)
    r = await ab.get(f"/admin/events/{event['_id']}/control")
    assert page_counts(r.text) == {"ru": 2, "en": 0, "de": 1}
    assert re.search(r"data-presence-total>3<", r.text)
    assert 'data-presence-day="d1"' in r.text
    # Attendees do not reach the page at all.
    attendee = await factory.member(R.ATTENDEE, event=event)
    r = await (await signed_in(factory, browser, attendee)).get(f"/admin/events/{event['_id']}/control")
    assert r.status_code == 403


@pytest.mark.gen_test(timeout=30)
async def test_counts_cross_instances_through_redis(factory, browser, base_url, other, services):
    event = await seeded(factory)
    a, b = services.live.presence, other.services.live.presence
    mod_user = await factory.member(R.MODERATOR, event=event, locale="en")
    mod = await connect(base_url, await signed_in(factory, browser, mod_user), event)
    await mod.expect("presence")
    await viewer(factory, browser, base_url, event, "ru")
    await viewer(factory, browser, other.url, event, "ru")
    _, de_on_b = await viewer(factory, browser, other.url, event, "de")
    await b.tick()
    await a.tick()
    expected = counts(3, event, ru=2, de=1)
    assert await a.counts(event["_id"]) == expected
    assert await b.counts(event["_id"]) == expected
    assert (await mod.expect("presence"))["locales"] == expected["locales"]
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="en")
    page = await (await signed_in(factory, browser, admin)).get(f"/admin/events/{event['_id']}/control")
    assert page_counts(page.text) == {"ru": 2, "en": 0, "de": 1}

    de_on_b.close()
    assert await eventually(lambda: _local_is(b, event, {"ru": 1}))
    await b.tick()
    await a.tick()
    assert await a.counts(event["_id"]) == counts(2, event, ru=2)
    pushed = await mod.expect("presence")
    assert pushed["total"] == 2 and pushed["locales"]["de"] == 0


async def _local_is(presence, event, locales):
    return presence.local(str(event["_id"]))["locales"] == locales


@pytest.mark.gen_test(timeout=30)
async def test_a_process_that_stops_heartbeating_drops_out(factory, browser, base_url, other, services):
    event = await seeded(factory)
    a, b = services.live.presence, other.services.live.presence
    key = audience.key(event["_id"])
    await viewer(factory, browser, other.url, event, "de")
    await b.tick()
    assert (await a.counts(event["_id"]))["total"] == 1
    # B goes silent (no change, heartbeat not due); readers with a 1 s TTL drop it.
    a.ttl = 1.0
    await asyncio.sleep(1.3)
    assert (await a.counts(event["_id"]))["total"] == 0
    assert b.process_id.encode() not in await services.redis.hkeys(key)
    # B's heartbeat brings the entry back.
    b.heartbeat = 0
    await b.tick()
    assert (await a.counts(event["_id"]))["total"] == 1
    # The whole hash expires when no process writes any more.
    assert 0 < await services.redis.ttl(key) <= audience.TTL
    # A clean shutdown withdraws B's numbers at once.
    a.ttl = audience.TTL
    b.task.cancel()
    await asyncio.gather(b.task, return_exceptions=True)
    assert await services.redis.hkeys(key) == []
    assert (await a.counts(event["_id"]))["total"] == 0


@pytest.mark.gen_test
async def test_a_failing_round_does_not_stop_the_timer(services):
    presence = services.live.presence
    rounds = []

    async def flaky():
        rounds.append(1)
        if len(rounds) == 1:
            raise RuntimeError("redis away")

    from realtime import timers
    task = asyncio.ensure_future(timers.every(lambda: 0.01, flaky, "test"))
    assert await eventually(lambda: _at_least(rounds, 3), timeout=2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert presence.task in services.background


async def _at_least(rounds, n):
    return len(rounds) >= n
