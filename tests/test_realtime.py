"""The WebSocket endpoint with real clients: state, chat, resume, hostile frames."""
import asyncio
import json

import pytest
from tornado.httpclient import HTTPClientError

from access import roles as R
from chat import room_names
from events import control
from realtime.connection import Connection
from tests.live_client import LiveClient


async def seeded(factory, locales=("ru", "en", "de")):
    event = await factory.event(locales=locales)
    decks = {loc: [{"media_id": f"{loc}{i}".ljust(64, "0"), "name": f"{loc}{i}"} for i in range(3)]
             for loc in locales}
    await factory.db.events.update_one({"_id": event["_id"]}, {"$set": {"slides.decks": decks}})
    return await factory.db.events.find_one({"_id": event["_id"]})


async def person(factory, browser, event, role=R.ATTENDEE, locale="ru", locales=()):
    user = await factory.member(role, event=event, locale=locale, locales=locales)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return user, b


async def live(base_url, b, event):
    client = await LiveClient.connect(base_url, b, event["_id"])
    welcome = await client.expect("welcome")
    state = await client.expect("state")
    return client, welcome, state


async def two_in_room(factory, browser, base_url):
    """Two Russian viewers joined to their public room: (event, room, (browser, client) each, a's joined)."""
    event = await seeded(factory)
    _, ab = await person(factory, browser, event, locale="ru")
    _, bb = await person(factory, browser, event, locale="ru")
    room = room_names.public_room(event["_id"], "ru")
    a, _, _ = await live(base_url, ab, event)
    b, _, _ = await live(base_url, bb, event)
    for c in (a, b):
        await c.send({"type": "join", "room": room})
    joined = await a.expect("joined", room=room)
    await b.expect("joined", room=room)
    return event, room, (ab, a), (bb, b), joined


@pytest.mark.gen_test
async def test_connect_gets_welcome_then_full_state_in_own_locale(factory, browser, base_url):
    event = await seeded(factory)
    _, b = await person(factory, browser, event, locale="de")
    client = await LiveClient.connect(base_url, b, event["_id"])
    first = await client.next()
    second = await client.next()
    assert first["type"] == "welcome" and first["protocol"] == 1 and first["locale"] == "de"
    assert second["type"] == "state"
    assert second["state"]["slides"]["media_id"].startswith("de0")
    assert first["rooms"][0] == room_names.public_room(event["_id"], "de")


@pytest.mark.gen_test
async def test_refused_without_session_foreign_origin_or_membership(factory, browser, base_url):
    event = await seeded(factory)
    with pytest.raises(HTTPClientError) as exc:
        await LiveClient.connect(base_url, browser(), event["_id"])
    assert exc.value.code == 401
    _, b = await person(factory, browser, event)
    with pytest.raises(HTTPClientError) as exc:
        await LiveClient.connect(base_url, b, event["_id"], origin="http://evil.example")
    assert exc.value.code == 403
    await assert_outsider_refused(factory, browser, base_url, event)


async def assert_outsider_refused(factory, browser, base_url, event) -> None:
    """Someone signed in but not of the event gets no socket (403)."""
    outsider = await factory.user()
    ob = browser()
    await ob.sign_in(outsider["login"], factory.PASSWORD)
    with pytest.raises(HTTPClientError) as exc:
        await LiveClient.connect(base_url, ob, event["_id"])
    assert exc.value.code == 403


@pytest.mark.gen_test
async def test_slide_flip_reaches_each_locale_with_its_own_slide(factory, browser, base_url, services):
    event = await seeded(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    clients = {}
    for loc in ("ru", "de"):
        _, b = await person(factory, browser, event, locale=loc)
        clients[loc], _, _ = await live(base_url, b, event)
    await control.apply(services.db, services.notifier, event["_id"], admin, "slide_next")
    for loc, client in clients.items():
        state = await client.expect("state")
        assert state["state"]["slides"]["number"] == 2
        assert state["state"]["slides"]["media_id"].startswith(f"{loc}1")
        assert state["state_version"] == event["state_version"] + 1


@pytest.mark.gen_test
async def test_chat_goes_to_the_language_room_and_its_commentator_only(factory, browser, base_url):
    event = await seeded(factory)
    _, rb = await person(factory, browser, event, locale="ru")
    _, db_ = await person(factory, browser, event, locale="de")
    _, cb = await person(factory, browser, event, role=R.COMMENTATOR, locale="en", locales=["ru"])
    ru, ru_welcome, _ = await live(base_url, rb, event)
    de, de_welcome, _ = await live(base_url, db_, event)
    com, com_welcome, _ = await live(base_url, cb, event)
    room = room_names.public_room(event["_id"], "ru")
    assert room in com_welcome["rooms"]
    for client, welcome in ((ru, ru_welcome), (de, de_welcome), (com, com_welcome)):
        for r in welcome["rooms"]:
            await client.send({"type": "join", "room": r})
            await client.expect("joined", room=r)
    await ru.send({"type": "send", "room": room, "text": "<b>Привет</b>", "client_id": "m1", "ref": 1})
    ack = await ru.expect("ack", ref=1)
    assert ack["offset"] == 1 and ack["duplicate"] is False
    got = await com.expect("message", room=room)
    assert got["text"] == "<b>Привет</b>" and got["offset"] == 1
    await ru.expect("message", room=room)
    assert not [f for f in await de.quiet() if f.get("type") == "message"]
    # A retried send with the same client id is acknowledged, not posted twice.
    await ru.send({"type": "send", "room": room, "text": "<b>Привет</b>", "client_id": "m1", "ref": 2})
    again = await ru.expect("ack", ref=2)
    assert again["duplicate"] is True and again["offset"] == 1
    assert not [f for f in await com.quiet() if f.get("type") == "message"]


@pytest.mark.gen_test
async def test_reconnect_resumes_exactly_what_was_missed(factory, browser, base_url, db):
    event, room, (ab, a), (_, b), joined = await two_in_room(factory, browser, base_url)
    for i in range(3):
        await b.send({"type": "send", "room": room, "text": f"m{i}", "client_id": f"c{i}"})
        await a.expect("message", offset=i + 1)
    a.close()
    for i in range(3, 6):
        await b.send({"type": "send", "room": room, "text": f"m{i}", "client_id": f"c{i}"})
        await b.expect("ack", offset=i + 1)
    a2, _, _ = await live(base_url, ab, event)
    await a2.send({"type": "join", "room": room, "epoch": joined["epoch"], "offset": 3})
    resumed = await a2.expect("joined", room=room)
    assert resumed["recovered"] is True
    missed = [await a2.expect("message") for _ in range(3)]
    assert [m["offset"] for m in missed] == [4, 5, 6]
    assert [m["text"] for m in missed] == ["m3", "m4", "m5"]
    assert not [f for f in await a2.quiet() if f.get("type") == "message"]
    # A stale epoch cannot be resumed: the client is told to reload.
    a3, _, _ = await live(base_url, ab, event)
    await a3.send({"type": "join", "room": room, "epoch": "0000", "offset": 3})
    assert (await a3.expect("joined", room=room))["recovered"] is False


@pytest.mark.gen_test
async def test_deletion_reaches_clients_and_attendees_cannot_delete(factory, browser, base_url):
    event = await seeded(factory)
    _, ab = await person(factory, browser, event, locale="ru")
    _, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    room = room_names.public_room(event["_id"], "ru")
    att, _, _ = await live(base_url, ab, event)
    mod, _, _ = await live(base_url, mb, event)
    for c in (att, mod):
        await c.send({"type": "join", "room": room})
        await c.expect("joined", room=room)
    await att.send({"type": "send", "room": room, "text": "spam", "client_id": "s1"})
    await mod.expect("message", offset=1)
    await att.send({"type": "delete", "room": room, "offset": 1, "ref": "d"})
    err = await att.expect("error", ref="d")
    assert err["code"] == "forbidden"
    await mod.send({"type": "delete", "room": room, "offset": 1})
    gone = await att.expect("message", kind="delete")
    assert gone["target"] == 1
    await att.send({"type": "history", "room": room, "ref": "h"})
    history = await att.expect("history", ref="h")
    assert history["messages"][0]["deleted"] is True and history["messages"][0]["text"] is None


@pytest.mark.gen_test
async def test_hostile_frames_get_errors_and_change_nothing(factory, browser, base_url, db):
    event = await seeded(factory)
    user, ab = await person(factory, browser, event, locale="ru")
    other, _ = await person(factory, browser, event, locale="ru")
    c, welcome, _ = await live(base_url, ab, event)
    own = room_names.public_room(event["_id"], "ru")
    await c.send({"type": "join", "room": own})
    await c.expect("joined", room=own)
    cases = [
        (b"\x00\x01binary", "binary_not_supported"),
        ("not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        (json.dumps({"type": "launch_missiles"}), "unknown_type"),
        (json.dumps({"type": "send", "room": own, "text": "x" * 20000, "client_id": "big"}), "too_large"),
        (json.dumps({"type": "send", "room": own, "text": "x" * 2001, "client_id": "long"}), "invalid"),
        (json.dumps({"type": "send", "room": own, "text": 5, "client_id": "num"}), "invalid"),
        (json.dumps({"type": "send", "room": own, "text": "hi"}), "invalid"),
        (json.dumps({"type": "join", "room": room_names.public_room(event["_id"], "de")}), "forbidden"),
        (json.dumps({"type": "join", "room": room_names.support_room(event["_id"], "ru", other["_id"])}),
         "forbidden"),
        (json.dumps({"type": "join", "room": "ev:{nope}:pub:ru"}), "unknown_room"),
        (json.dumps({"type": "send", "room": room_names.public_room(event["_id"], "de"), "text": "hi",
                     "client_id": "x"}), "forbidden"),
        (json.dumps({"type": "history", "room": own, "limit": 10**9}), "invalid"),
    ]
    for raw, code in cases:
        await c.send(raw)
        err = await c.expect("error")
        assert err["code"] == code, (raw[:60], err)
    await c.send({"type": "ping", "ref": "still-alive"})
    await c.expect("pong", ref="still-alive")
    assert await db.messages.count_documents({}) == 0


@pytest.mark.gen_test
async def test_flood_is_rate_limited(factory, browser, base_url, services):
    event = await seeded(factory)
    _, ab = await person(factory, browser, event, locale="ru")
    c, _, _ = await live(base_url, ab, event)
    for i in range(40):
        await c.send({"type": "ping", "ref": i})
    frames = await c.quiet(0.5)
    codes = [f.get("code") for f in frames if f["type"] == "error"]
    assert "rate_limited" in codes
    assert sum(1 for f in frames if f["type"] == "pong") <= services.live.burst + 2


@pytest.mark.gen_test
async def test_a_broadcast_is_framed_once_per_locale_not_once_per_socket(factory, browser, base_url, services,
                                                                       monkeypatch):
    event = await seeded(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    clients = []
    for loc in ("ru", "ru", "ru", "de", "de"):
        _, b = await person(factory, browser, event, locale=loc)
        clients.append((await live(base_url, b, event))[0])
    written = []
    real_write = Connection.write_frame

    def spy(conn, frame):
        if b'"type":"state"' in frame[:40]:
            written.append((conn.locale, id(frame), frame))
        return real_write(conn, frame)
    monkeypatch.setattr(Connection, "write_frame", spy)
    await control.apply(services.db, services.notifier, event["_id"], admin, "slide_next")
    for client in clients:
        await client.expect("state")
    by_locale = {}
    for locale, ident, _frame in written:
        by_locale.setdefault(locale, set()).add(ident)
    assert len(written) == 5
    assert {loc: len(ids) for loc, ids in by_locale.items()} == {"ru": 1, "de": 1}


@pytest.mark.gen_test
async def test_every_kind_of_state_change_reaches_viewers(factory, browser, base_url, services):
    event = await seeded(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    await services.db.events.update_one({"_id": event["_id"]}, {"$set": {"broadcast.sources.de": {
        "kind": "hls", "url": "https://cdn.example.org/de.m3u8", "embed": "https://cdn.example.org/de.m3u8"}}})
    _, b = await person(factory, browser, event, locale="de")
    client, _, first = await live(base_url, b, event)
    assert first["state"]["enabled_days"] == ["d1"]
    steps = [
        ("day_on", {"day_id": "d2"}, lambda s: s["enabled_days"] == ["d1", "d2"] and s["day"]["id"] == "d2"),
        ("day_off", {"day_id": "d2"}, lambda s: s["enabled_days"] == ["d1"]),
        ("broadcast_on", {}, lambda s: s["broadcast"] == {"on": True, "kind": "hls",
                                                          "embed": "https://cdn.example.org/de.m3u8"}),
        ("slides_hide", {}, lambda s: s["slides"]["visible"] is False),
        ("gate_close", {}, lambda s: s["gate"]["open"] is False and s["gate"]["mode"] == "closed"),
        ("gate_open", {}, lambda s: s["gate"]["open"] is True),
    ]
    for action, params, check in steps:
        await control.apply(services.db, services.notifier, event["_id"], admin, action, params)
        state = await client.expect("state")
        assert check(state["state"]), (action, state["state"])


@pytest.mark.gen_test
async def test_a_frame_over_the_hard_limit_closes_only_that_connection(factory, browser, base_url):
    event = await seeded(factory)
    _, ab = await person(factory, browser, event, locale="ru")
    _, bb = await person(factory, browser, event, locale="ru")
    a, _, _ = await live(base_url, ab, event)
    b, _, _ = await live(base_url, bb, event)
    await a.send("x" * (2 * 1024 * 1024))
    assert await a.next(5) is None and a.conn.close_code == 1009
    await b.send({"type": "ping", "ref": "fine"})
    await b.expect("pong", ref="fine")


@pytest.mark.gen_test
async def test_a_resume_past_an_entry_still_on_its_way_gets_it_when_it_arrives(factory, browser, base_url, services,
                                                                              monkeypatch):
    """Offset 2 is stored but published late (after 3, after the gap wait): a client
    that resumes in between replays 3 and must still get 2, once."""
    monkeypatch.setattr(services.hub, "gap_wait", 0.3)
    event, room, (ab, a), (_, b), joined = await two_in_room(factory, browser, base_url)
    held = []
    publish = services.hub.broker.publish

    async def late_publish(channel, payload):
        if b'"late"' in payload:
            held.append((channel, payload))
            return
        await publish(channel, payload)

    monkeypatch.setattr(services.hub.broker, "publish", late_publish)
    for i, text in enumerate(["m1", "late", "m3"]):
        await b.send({"type": "send", "room": room, "text": text, "client_id": f"c{i}"})
        await b.expect("ack", offset=i + 1)
    await a.expect("message", offset=1)
    a.close()
    await asyncio.sleep(0.6)  # offset 3 waited for 2, then went out without it
    a2, _, _ = await live(base_url, ab, event)
    await a2.send({"type": "join", "room": room, "epoch": joined["epoch"], "offset": 1})
    assert (await a2.expect("joined", room=room))["recovered"] is True
    assert (await a2.expect("message"))["offset"] == 3
    assert len(held) == 1
    await publish(*held[0])
    late = await a2.expect("message")
    assert (late["offset"], late["text"]) == (2, "late")
    assert not [f for f in await a2.quiet() if f.get("type") == "message"]
