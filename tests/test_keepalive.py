"""One process-wide timer pings every socket in turn and closes the ones that stop answering."""
import asyncio

import pytest

from realtime.keepalive import Keepalive
from realtime.tornado_internals import stop_answering_pings
from tests.test_realtime import live, person, seeded


async def server_side(services, user) -> object:
    for _ in range(100):
        conns = services.hub.by_user.get(str(user["_id"]), [])
        if conns:
            return conns[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the server has no connection of this user")


async def until(predicate, seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


def go_silent(client) -> None:
    """The client stops answering pings (a peer that vanished without closing)."""
    stop_answering_pings(client.conn)


@pytest.mark.gen_test
async def test_a_socket_that_answers_stays_and_a_silent_one_is_closed(factory, browser, base_url, services):
    event = await seeded(factory)
    alive_user, b1 = await person(factory, browser, event)
    silent_user, b2 = await person(factory, browser, event)
    alive, _, _ = await live(base_url, b1, event)
    silent, _, _ = await live(base_url, b2, event)
    go_silent(silent)
    keep = services.live.keepalive
    a, s = await server_side(services, alive_user), await server_side(services, silent_user)

    for _ in range(3):
        keep.check(a)
        keep.check(s)
        assert await until(lambda: a.ponged)
    assert not a.closed
    await alive.send({"type": "ping", "ref": 1})
    await alive.expect("pong", ref=1)

    assert s.closed
    assert await silent.next() is None  # the server closed it


@pytest.mark.gen_test
async def test_rounds_ping_each_socket_once_per_interval(factory, browser, base_url, services):
    event = await seeded(factory)
    users, clients = [], []
    for _ in range(4):
        user, b = await person(factory, browser, event)
        client, _, _ = await live(base_url, b, event)
        go_silent(client)
        users.append(user)
        clients.append(client)
    keep = Keepalive(interval=2)
    conns = [await server_side(services, u) for u in users]
    for conn in conns:
        keep.assign(conn)
    assert sorted(c.ping_slot for c in conns) == [0, 0, 1, 1]

    # First pass: every socket pinged once (and none closed: no ping was owed yet).
    await keep.round()
    await keep.round()
    assert not any(c.closed for c in conns) and not any(c.ponged for c in conns)
    # Second pass: the pings went unanswered, so each socket is closed on its turn.
    await keep.round()
    assert sorted(c.closed for c in conns) == [False, False, True, True]
    await keep.round()
    assert all(c.closed for c in conns)
