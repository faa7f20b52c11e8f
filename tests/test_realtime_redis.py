"""Two server instances sharing one database and a real Redis: live state and chat
cross between them through sharded pub/sub, and survive a Redis restart."""
import asyncio

import pytest
import tornado.httpserver

import roles as R
import server
from events import control
from realtime import channels
from tests.live_client import LiveClient
from tests.servers import RedisServer, free_port
from tests.test_realtime import person, seeded


@pytest.fixture
def redis_server():
    srv = RedisServer()
    yield srv
    srv.stop()


@pytest.fixture
def settings(redis_server):
    import secrets
    import config
    return config.from_env(mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1,
                           argon2_memory_kib=1024, log_format="text", redis_url=redis_server.url,
                           redis_shards=2)


@pytest.fixture
def second(io_loop, services, settings):
    """Another instance: its own hub and Redis broker, the same database and cookie secret."""
    other = io_loop.run_sync(lambda: server.make_services(settings, storage=services.storage))
    port = free_port()
    http = tornado.httpserver.HTTPServer(server.make_app(other))
    http.listen(port, "127.0.0.1")
    yield f"http://127.0.0.1:{port}"
    http.stop()

    async def close():
        for task in list(other.background):
            task.cancel()
        await asyncio.gather(*other.background, return_exceptions=True)
        await other.broker.close()
        await other.redis.aclose()
    io_loop.run_sync(close)


@pytest.mark.gen_test(timeout=30)
async def test_state_and_chat_cross_instances(factory, browser, base_url, second, services):
    event = await seeded(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    _, ab = await person(factory, browser, event, locale="ru")
    _, bb = await person(factory, browser, event, locale="de")
    _, cb = await person(factory, browser, event, role=R.COMMENTATOR, locale="en", locales=["ru"])
    on_a = await LiveClient.connect(base_url, ab, event["_id"])
    on_b = await LiveClient.connect(second, bb, event["_id"], origin=second)
    commentator_b = await LiveClient.connect(second, cb, event["_id"], origin=second)
    for c in (on_a, on_b, commentator_b):
        await c.expect("state")
    await control.apply(services.db, services.notifier, event["_id"], admin, "slide_goto", {"number": 3})
    state = await on_b.expect("state", state_version=event["state_version"] + 1)
    assert state["state"]["slides"]["media_id"].startswith("de2")
    room = channels.public_room(event["_id"], "ru")
    for c in (on_a, commentator_b):
        await c.send({"type": "join", "room": room})
        await c.expect("joined", room=room)
    await on_a.send({"type": "send", "room": room, "text": "через Redis", "client_id": "x1"})
    got = await commentator_b.expect("message", room=room)
    assert got["text"] == "через Redis"


@pytest.mark.gen_test(timeout=40)
async def test_redis_restart_resyncs_and_delivery_resumes(factory, browser, base_url, second, services,
                                                         redis_server):
    import asyncio
    event = await seeded(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    _, bb = await person(factory, browser, event, locale="de")
    on_b = await LiveClient.connect(second, bb, event["_id"], origin=second)
    await on_b.expect("state")
    redis_server.stop()
    await asyncio.sleep(0.5)
    redis_server.start()
    resync = await on_b.expect("resync", timeout=15)
    assert resync["reason"] == "broker_reconnected"
    await control.apply(services.db, services.notifier, event["_id"], admin, "slide_next")
    state = await on_b.expect("state", timeout=10)
    assert state["state"]["slides"]["number"] == 2
