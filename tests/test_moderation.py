"""Chat moderation with real WebSocket clients: mute, ban, slow mode, staff rooms and unread counts."""
import asyncio
import secrets

import pytest
from bson import ObjectId

from access import roles as R
from chat import room_names
from events import control
from tests.instances import other, redis_server, settings  # noqa: F401 (fixtures)
from tests.live_client import LiveClient
from tests.test_realtime import live, person, seeded


async def joined(client, *rooms):
    for room in rooms:
        await client.send({"type": "join", "room": room})
        await client.expect("joined", room=room)


def messages(frames):
    return [f for f in frames if f.get("type") == "message"]


async def snapshot(db):
    return {
        "sanctions": await db.sanctions.count_documents({}),
        "messages": await db.messages.count_documents({}),
        "audit": await db.audit.count_documents({}),
        "reads": await db.reads.count_documents({}),
        "slow": await db.rooms.count_documents({"slow_mode": {"$gt": 0}}),
    }


@pytest.mark.gen_test(timeout=20)
async def test_mute_blocks_sending_nothing_stored_and_unmute_restores(factory, browser, base_url, db):
    event = await seeded(factory)
    att, ab = await person(factory, browser, event, locale="ru")
    mod, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    room = room_names.public_room(event["_id"], "ru")
    a, _, _ = await live(base_url, ab, event)
    m, _, _ = await live(base_url, mb, event)
    await joined(a, room)
    await joined(m, room)

    await m.send({"type": "mute", "user": str(att["_id"]), "minutes": 15, "ref": "mu"})
    ack = await m.expect("ack", ref="mu")
    assert ack["kind"] == "mute" and ack["active"] is True and ack["until"].endswith("Z")
    notice = await a.expect("sanction")
    assert notice == {"type": "sanction", "event": str(event["_id"]), "user": str(att["_id"]),
                      "kind": "mute", "active": True, "until": ack["until"]}

    await a.send({"type": "send", "room": room, "text": "let me speak", "client_id": "x1", "ref": "s"})
    err = await a.expect("error", ref="s")
    assert err["code"] == "muted" and err["until"] == ack["until"]
    assert await db.messages.count_documents({}) == 0
    # A muted user still reads the room.
    await m.send({"type": "send", "room": room, "text": "calm down", "client_id": "m1"})
    assert (await a.expect("message", room=room))["text"] == "calm down"
    # ... and a new connection is told about the mute straight away.
    a2, _, _ = await live(base_url, ab, event)
    assert (await a2.expect("sanction"))["kind"] == "mute"

    await m.send({"type": "unmute", "user": str(att["_id"]), "ref": "un"})
    assert (await m.expect("ack", ref="un"))["lifted"] is True
    lifted = await a.expect("sanction")
    assert lifted["active"] is False and lifted["until"] is None
    await a.send({"type": "send", "room": room, "text": "thanks", "client_id": "x2", "ref": "s2"})
    assert (await a.expect("ack", ref="s2"))["duplicate"] is False
    assert await db.sanctions.count_documents({}) == 0
    actions = [e["action"] for e in await db.audit.find({"event_id": event["_id"]}).sort("at", 1).to_list(None)]
    assert actions[-2:] == ["chat_mute", "chat_unmute"]
    # Lifting again is harmless and says nothing was lifted.
    await m.send({"type": "unmute", "user": str(att["_id"]), "ref": "un2"})
    assert (await m.expect("ack", ref="un2"))["lifted"] is False


@pytest.mark.gen_test(timeout=20)
async def test_attendee_cannot_moderate_and_nothing_changes(factory, browser, base_url, db):
    event = await seeded(factory)
    _, ab = await person(factory, browser, event, locale="ru")
    victim, _ = await person(factory, browser, event, locale="ru")
    room = room_names.public_room(event["_id"], "ru")
    a, _, _ = await live(base_url, ab, event)
    await joined(a, room)
    before = await snapshot(db)
    frames = [
        {"type": "mute", "user": str(victim["_id"]), "minutes": 10},
        {"type": "ban", "user": str(victim["_id"]), "minutes": 10},
        {"type": "unmute", "user": str(victim["_id"])},
        {"type": "slow_mode", "room": room, "seconds": 60},
        {"type": "read", "room": room, "offset": 0},
        {"type": "rooms"},
    ]
    for i, frame in enumerate(frames):
        await a.send({**frame, "ref": i})
        err = await a.expect("error", ref=i)
        assert err["code"] == "forbidden", (frame, err)
    assert await snapshot(db) == before
    await a.send({"type": "send", "room": room, "text": "still fine", "client_id": "ok", "ref": "s"})
    await a.expect("ack", ref="s")


@pytest.mark.gen_test(timeout=20)
async def test_commentator_acts_only_on_own_languages_and_never_on_staff(factory, browser, base_url, db):
    event = await seeded(factory)
    ru_att, rb = await person(factory, browser, event, locale="ru")
    de_att, _ = await person(factory, browser, event, locale="de")
    other_staff, _ = await person(factory, browser, event, role=R.COMMENTATOR, locale="ru", locales=["ru"])
    mod, _ = await person(factory, browser, event, role=R.MODERATOR, locale="ru")
    _, cb = await person(factory, browser, event, role=R.COMMENTATOR, locale="en", locales=["ru"])
    c, _, _ = await live(base_url, cb, event)
    de_room = room_names.public_room(event["_id"], "de")
    de_support = room_names.support_room(event["_id"], "de", de_att["_id"])
    before = await snapshot(db)
    cases = [
        ({"type": "mute", "user": str(de_att["_id"]), "minutes": 5}, "forbidden"),
        ({"type": "ban", "user": str(de_att["_id"]), "minutes": 5}, "forbidden"),
        ({"type": "unban", "user": str(de_att["_id"])}, "forbidden"),
        ({"type": "slow_mode", "room": de_room, "seconds": 10}, "forbidden"),
        ({"type": "read", "room": de_support, "offset": 0}, "forbidden"),
        ({"type": "mute", "user": str(other_staff["_id"]), "minutes": 5}, "forbidden"),
        ({"type": "ban", "user": str(mod["_id"]), "minutes": 5}, "forbidden"),
        ({"type": "mute", "user": str(ObjectId()), "minutes": 5}, "not_found"),
        ({"type": "mute", "user": "not-an-id", "minutes": 5}, "invalid"),
        ({"type": "mute", "user": {"$ne": None}, "minutes": 5}, "invalid"),
        ({"type": "mute", "user": str(ru_att["_id"]), "minutes": 0}, "invalid"),
        ({"type": "mute", "user": str(ru_att["_id"]), "minutes": 10081}, "invalid"),
        ({"type": "mute", "user": str(ru_att["_id"]), "minutes": "5"}, "invalid"),
        ({"type": "mute", "user": str(ru_att["_id"])}, "invalid"),
        ({"type": "slow_mode", "room": room_names.public_room(event["_id"], "ru"), "seconds": 3601}, "invalid"),
        ({"type": "slow_mode", "room": room_names.public_room(event["_id"], "ru"), "seconds": True}, "invalid"),
        ({"type": "slow_mode", "room": "ev:{nope}:pub:ru", "seconds": 5}, "unknown_room"),
    ]
    for i, (frame, code) in enumerate(cases):
        await c.send({**frame, "ref": i})
        err = await c.expect("error", ref=i)
        assert err["code"] == code, (frame, err)
    assert await snapshot(db) == before
    # Their own language's attendee they may mute.
    r, _, _ = await live(base_url, rb, event)
    await c.send({"type": "mute", "user": str(ru_att["_id"]), "minutes": 1, "ref": "ok"})
    await c.expect("ack", ref="ok")
    assert (await r.expect("sanction"))["kind"] == "mute"
    stored = await db.sanctions.find_one({"user_id": ru_att["_id"]})
    assert stored["kind"] == "mute" and stored["event_id"] == event["_id"]


@pytest.mark.gen_test(timeout=20)
async def test_slow_mode_refuses_second_message_staff_exempt(factory, browser, base_url, db):
    event = await seeded(factory)
    _, ab = await person(factory, browser, event, locale="ru")
    _, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    _, cb = await person(factory, browser, event, role=R.COMMENTATOR, locale="ru", locales=["ru"])
    room = room_names.public_room(event["_id"], "ru")
    a, _, _ = await live(base_url, ab, event)
    m, _, _ = await live(base_url, mb, event)
    c, _, _ = await live(base_url, cb, event)
    for client in (a, m, c):
        await joined(client, room)

    await m.send({"type": "slow_mode", "room": room, "seconds": 30, "ref": "sm"})
    assert (await m.expect("ack", ref="sm"))["slow_mode"] == 30
    settings = await a.expect("room_settings")
    assert settings == {"type": "room_settings", "room": room, "slow_mode": 30}

    await a.send({"type": "send", "room": room, "text": "one", "client_id": "a1", "ref": 1})
    await a.expect("ack", ref=1)
    await a.send({"type": "send", "room": room, "text": "two", "client_id": "a2", "ref": 2})
    err = await a.expect("error", ref=2)
    assert err["code"] == "slow_mode" and 1 <= err["retry_after"] <= 30
    assert await db.messages.count_documents({"text": "two"}) == 0
    # Retrying a stored message is still answered as a duplicate.
    await a.send({"type": "send", "room": room, "text": "one", "client_id": "a1", "ref": 3})
    assert (await a.expect("ack", ref=3))["duplicate"] is True
    # Staff are exempt.
    for client, tag in ((m, "m"), (c, "c")):
        for i in range(2):
            await client.send({"type": "send", "room": room, "text": f"{tag}{i}", "client_id": f"{tag}{i}",
                               "ref": f"{tag}{i}"})
            await client.expect("ack", ref=f"{tag}{i}")
    # Someone joining later learns the setting before `joined`.
    _, lb = await person(factory, browser, event, locale="ru")
    late, _, _ = await live(base_url, lb, event)
    await late.send({"type": "join", "room": room})
    assert (await late.next())["type"] == "room_settings"
    await late.expect("joined", room=room)

    await m.send({"type": "slow_mode", "room": room, "seconds": 0, "ref": "off"})
    await m.expect("ack", ref="off")
    assert (await a.expect("room_settings"))["slow_mode"] == 0
    await a.send({"type": "send", "room": room, "text": "three", "client_id": "a3", "ref": 4})
    await a.expect("ack", ref=4)


@pytest.mark.gen_test(timeout=20)
async def test_unread_counts_follow_messages_and_reads(factory, browser, base_url, db):
    event = await seeded(factory)
    ru_att = await factory.member(R.ATTENDEE, event=event, locale="ru", name="Иван")
    rb = browser()
    await rb.sign_in(ru_att["login"], factory.PASSWORD)
    de_att, db_ = await person(factory, browser, event, locale="de")
    _, cb = await person(factory, browser, event, role=R.COMMENTATOR, locale="en", locales=["ru"])
    _, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    ru_pub = room_names.public_room(event["_id"], "ru")
    ru_sup = room_names.support_room(event["_id"], "ru", ru_att["_id"])
    de_sup = room_names.support_room(event["_id"], "de", de_att["_id"])
    r, _, _ = await live(base_url, rb, event)
    d, _, _ = await live(base_url, db_, event)
    c, _, _ = await live(base_url, cb, event)
    m, _, _ = await live(base_url, mb, event)
    await joined(r, ru_pub, ru_sup)
    await joined(d, de_sup)
    # A support room that was only opened, never written to, is not listed.
    _, eb = await person(factory, browser, event, locale="ru")
    e, ewelcome, _ = await live(base_url, eb, event)
    await joined(e, *ewelcome["rooms"])

    for i in range(3):
        await r.send({"type": "send", "room": ru_pub, "text": f"p{i}", "client_id": f"p{i}", "ref": f"p{i}"})
        await r.expect("ack", ref=f"p{i}")
    await r.send({"type": "send", "room": ru_sup, "text": "help", "client_id": "h", "ref": "h"})
    await r.expect("ack", ref="h")
    await d.send({"type": "send", "room": de_sup, "text": "Hilfe", "client_id": "h", "ref": "h"})
    await d.expect("ack", ref="h")

    async def listing(client, **extra):
        ref = secrets.token_hex(3)
        await client.send({"type": "rooms", "ref": ref, **extra})
        return await client.expect("rooms", ref=ref)

    page = await listing(c)
    by_room = {x["room"]: x for x in page["rooms"]}
    assert list(by_room) == [ru_pub, ru_sup] and page["next"] is None
    assert by_room[ru_pub]["unread"] == 3 and by_room[ru_pub]["kind"] == "pub" and by_room[ru_pub]["user"] is None
    assert by_room[ru_sup]["unread"] == 1 and by_room[ru_sup]["locale"] == "ru"
    assert by_room[ru_sup]["user"] == {"id": str(ru_att["_id"]), "name": "Иван"}

    everything = await listing(m)
    names = [x["room"] for x in everything["rooms"]]
    assert names == sorted([room_names.public_room(event["_id"], loc) for loc in ("ru", "en", "de")]
                           + [ru_sup, de_sup])
    assert {x["room"]: x["unread"] for x in everything["rooms"]}[room_names.public_room(event["_id"], "en")] == 0

    await c.send({"type": "read", "room": ru_pub, "offset": 3, "ref": "rd"})
    assert (await c.expect("ack", ref="rd"))["offset"] == 3
    await c.send({"type": "read", "room": ru_pub, "offset": 1, "ref": "back"})
    assert (await c.expect("ack", ref="back"))["offset"] == 3   # never goes back
    await c.send({"type": "read", "room": ru_pub, "offset": 99, "ref": "far"})
    assert (await c.expect("error", ref="far"))["code"] == "invalid"
    after_read = {x["room"]: x["unread"] for x in (await listing(c))["rooms"]}
    assert after_read == {ru_pub: 0, ru_sup: 1}
    await r.send({"type": "send", "room": ru_pub, "text": "p3", "client_id": "p3", "ref": "p3"})
    await r.expect("ack", ref="p3")
    assert {x["room"]: x["unread"] for x in (await listing(c))["rooms"]}[ru_pub] == 1
    # Reads are per staff member.
    assert {x["room"]: x["unread"] for x in (await listing(m))["rooms"]}[ru_pub] == 4

    first = await listing(m, limit=2)
    assert len(first["rooms"]) == 2 and first["next"] == first["rooms"][-1]["room"]
    rest = await listing(m, limit=100, after=first["next"])
    assert [x["room"] for x in first["rooms"] + rest["rooms"]] == names and rest["next"] is None
    for i, bad in enumerate(({"limit": 0}, {"limit": 101}, {"after": 5}, {"after": ""})):
        await m.send({"type": "rooms", "ref": f"bad{i}", **bad})
        assert (await m.expect("error", ref=f"bad{i}"))["code"] == "invalid"


@pytest.mark.gen_test(timeout=20)
async def test_support_rooms_exist_only_for_people_of_the_event(factory, browser, base_url, db):
    """A support room's name can carry any account id: staff open only those of the event's people."""
    event = await seeded(factory)
    quiet_att = await factory.member(R.ATTENDEE, event=event, locale="ru")
    gone_att, gb = await person(factory, browser, event, locale="ru")
    stranger = await factory.user(locale="ru")
    _, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    _, cb = await person(factory, browser, event, role=R.COMMENTATOR, locale="en", locales=["ru"])
    gone_room = room_names.support_room(event["_id"], "ru", gone_att["_id"])
    g, _, _ = await live(base_url, gb, event)
    await joined(g, gone_room)
    await g.send({"type": "send", "room": gone_room, "text": "help", "client_id": "h", "ref": "h"})
    await g.expect("ack", ref="h")
    await db.memberships.delete_one({"user_id": gone_att["_id"], "scope_id": event["_id"]})
    m, _, _ = await live(base_url, mb, event)
    c, _, _ = await live(base_url, cb, event)

    # Someone registered who has not written yet, and someone gone whose history stays.
    await joined(m, room_names.support_room(event["_id"], "ru", quiet_att["_id"]), gone_room)
    before = await snapshot(db)
    stranger_room = room_names.support_room(event["_id"], "ru", stranger["_id"])
    for client in (m, c):
        for i, frame in enumerate(({"type": "join", "room": stranger_room},
                                   {"type": "slow_mode", "room": stranger_room, "seconds": 30},
                                   {"type": "read", "room": stranger_room, "offset": 0})):
            await client.send({**frame, "ref": f"x{i}"})
            assert (await client.expect("error", ref=f"x{i}"))["code"] == "unknown_room", frame
    assert await snapshot(db) == before
    assert await db.rooms.count_documents({"_id": stranger_room}) == 0


class TestAcrossInstances:
    """Two instances sharing one database and a real Redis."""

    @pytest.mark.gen_test(timeout=40)
    async def test_ban_reaches_the_other_instance_and_takes_user_out_of_chat(
            self, factory, browser, base_url, other, services, db):
        event = await seeded(factory)
        admin = await factory.member(R.EVENT_ADMIN, event=event)
        att, ab = await person(factory, browser, event, locale="ru")
        _, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
        pub = room_names.public_room(event["_id"], "ru")
        sup = room_names.support_room(event["_id"], "ru", att["_id"])
        on_b = await LiveClient.connect(other.url, ab, event["_id"], origin=other.url)
        await on_b.expect("state")
        await joined(on_b, pub, sup)
        m, _, _ = await live(base_url, mb, event)
        await joined(m, pub)

        await m.send({"type": "ban", "user": str(att["_id"]), "minutes": 60, "ref": "b"})
        ack = await m.expect("ack", ref="b")
        notice = await on_b.expect("sanction", timeout=10)
        assert notice["kind"] == "ban" and notice["active"] is True and notice["until"] == ack["until"]
        left = {(await on_b.expect("left", timeout=10))["room"] for _ in range(2)}
        assert left == {pub, sup}
        assert all(f.get("reason") == "banned" for f in on_b.frames if f["type"] == "left")

        await m.send({"type": "send", "room": pub, "text": "after the ban", "client_id": "ab", "ref": "s"})
        await m.expect("ack", ref="s")
        assert not messages(await on_b.quiet(0.5))
        await on_b.send({"type": "join", "room": pub, "ref": "j"})
        assert (await on_b.expect("error", ref="j"))["code"] == "banned"
        await on_b.send({"type": "send", "room": pub, "text": "hey", "client_id": "h", "ref": "x"})
        assert (await on_b.expect("error", ref="x"))["code"] in ("not_joined", "banned")
        assert await db.messages.count_documents({"user_id": att["_id"]}) == 0
        # Slides and state keep coming.
        await control.apply(services.db, services.notifier, event["_id"], admin, "slide_next")
        assert (await on_b.expect("state", timeout=10))["state"]["slides"]["number"] == 2
        # Connecting again, on either instance, does not get around it.
        again, _, _ = await live(base_url, ab, event)
        assert (await again.expect("sanction"))["kind"] == "ban"
        await again.send({"type": "join", "room": sup, "ref": "j2"})
        assert (await again.expect("error", ref="j2"))["code"] == "banned"

        await m.send({"type": "unban", "user": str(att["_id"]), "ref": "u"})
        await m.expect("ack", ref="u")
        assert (await on_b.expect("sanction", timeout=10))["active"] is False
        await joined(on_b, pub)

    @pytest.mark.gen_test(timeout=40)
    async def test_slow_mode_holds_across_instances_for_one_user(
            self, factory, browser, base_url, other, db):
        event = await seeded(factory)
        _, ab = await person(factory, browser, event, locale="ru")
        _, cb = await person(factory, browser, event, role=R.COMMENTATOR, locale="ru", locales=["ru"])
        room = room_names.public_room(event["_id"], "ru")
        on_a, _, _ = await live(base_url, ab, event)
        on_b = await LiveClient.connect(other.url, ab, event["_id"], origin=other.url)
        await on_b.expect("state")
        com_b = await LiveClient.connect(other.url, cb, event["_id"], origin=other.url)
        await com_b.expect("state")
        for client in (on_a, on_b, com_b):
            await joined(client, room)

        await com_b.send({"type": "slow_mode", "room": room, "seconds": 2, "ref": "sm"})
        await com_b.expect("ack", ref="sm")
        assert (await on_a.expect("room_settings", timeout=10))["slow_mode"] == 2
        await on_b.send({"type": "send", "room": room, "text": "from b", "client_id": "b1", "ref": 1})
        await on_b.expect("ack", ref=1)
        await on_a.send({"type": "send", "room": room, "text": "from a", "client_id": "a1", "ref": 2})
        err = await on_a.expect("error", ref=2)
        assert err["code"] == "slow_mode" and 1 <= err["retry_after"] <= 2
        assert await db.messages.count_documents({"client_id": "a1"}) == 0
        for i in range(2):
            await com_b.send({"type": "send", "room": room, "text": f"c{i}", "client_id": f"c{i}", "ref": i})
            await com_b.expect("ack", ref=i)
        await asyncio.sleep(2.1)
        await on_a.send({"type": "send", "room": room, "text": "from a", "client_id": "a1", "ref": 3})
        assert (await on_a.expect("ack", ref=3))["duplicate"] is False
