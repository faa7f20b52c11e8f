"""Two server instances sharing one database and a real Redis: live state and chat
cross between them through sharded pub/sub, and survive a Redis restart."""
import asyncio

import pytest

from access import roles as R
from chat import room_names
from events import control
from tests.instances import other, redis_server, settings  # noqa: F401 (fixtures)
from tests.live_client import LiveClient
from tests.test_realtime import person, seeded


@pytest.mark.gen_test(timeout=30)
async def test_state_and_chat_cross_instances(factory, browser, base_url, other, services):
    event = await seeded(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    _, ab = await person(factory, browser, event, locale="ru")
    _, bb = await person(factory, browser, event, locale="de")
    _, cb = await person(factory, browser, event, role=R.COMMENTATOR, locale="en", locales=["ru"])
    on_a = await LiveClient.connect(base_url, ab, event["_id"])
    on_b = await LiveClient.connect(other.url, bb, event["_id"], origin=other.url)
    commentator_b = await LiveClient.connect(other.url, cb, event["_id"], origin=other.url)
    for c in (on_a, on_b, commentator_b):
        await c.expect("state")
    await control.apply(services.db, services.notifier, event["_id"], admin, "slide_goto", {"number": 3})
    state = await on_b.expect("state", state_version=event["state_version"] + 1)
    assert state["state"]["slides"]["media_id"].startswith("de2")
    room = room_names.public_room(event["_id"], "ru")
    for c in (on_a, commentator_b):
        await c.send({"type": "join", "room": room})
        await c.expect("joined", room=room)
    await on_a.send({"type": "send", "room": room, "text": "через Redis", "client_id": "x1"})
    got = await commentator_b.expect("message", room=room)
    assert got["text"] == "через Redis"


@pytest.mark.gen_test(timeout=40)
async def test_redis_restart_resyncs_and_delivery_resumes(factory, browser, base_url, other, services,
                                                         redis_server):
    event = await seeded(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    _, bb = await person(factory, browser, event, locale="de")
    on_b = await LiveClient.connect(other.url, bb, event["_id"], origin=other.url)
    await on_b.expect("state")
    redis_server.stop()
    await asyncio.sleep(0.5)
    redis_server.start()
    resync = await on_b.expect("resync", timeout=15)
    assert resync["reason"] == "broker_reconnected"
    await control.apply(services.db, services.notifier, event["_id"], admin, "slide_next")
    state = await on_b.expect("state", timeout=10)
    assert state["state"]["slides"]["number"] == 2
