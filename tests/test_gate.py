"""The live side of the gate, the banner's viewer count, name changes and support conversations.

Real clients on the WebSocket: members behind the closed gate connect in
the waiting mode (a reduced state, every frame but ping refused) and learn
when the gate opens; the LIVE banner's count is pushed from presence when
staff show it; a display-name change reaches the account's connections and
its next messages; staff who may answer a support room hear of its entries.
"""
import asyncio
import datetime

import pytest

from access import roles as R
from chat import room_names
from events import control
from tests.test_moderation import joined
from tests.test_realtime import assert_outsider_refused, live, person, seeded

WAITING_KEYS = {"waiting", "gate", "broadcast", "day_open"}


async def closed_event(factory):
    """Slides in every language, broadcast on, the gate closed until tomorrow (automatic)."""
    event = await seeded(factory)
    tomorrow = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    await factory.db.events.update_one({"_id": event["_id"]}, {"$set": {
        "gate.mode": "auto", "gate.official_start": tomorrow, "broadcast.on": True}})
    return await factory.db.events.find_one({"_id": event["_id"]})


# --- waiting for the gate -------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_a_member_behind_the_closed_gate_waits_with_flags_only(factory, browser, base_url, services):
    event = await closed_event(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    _, b = await person(factory, browser, event, locale="de")
    client, welcome, state = await live(base_url, b, event)
    assert welcome["waiting"] is True and welcome["rooms"] == [] and welcome["moderator"] is False
    assert welcome["locale"] == "de"
    # Nothing the countdown page would not show: no slides, no source, no day titles.
    assert set(state["state"]) == WAITING_KEYS
    assert state["state"]["gate"]["open"] is False and state["state"]["gate"]["mode"] == "auto"
    assert state["state"]["broadcast"] == {"on": True} and state["state"]["day_open"] is True
    # Not a viewer: not counted, not a device.
    assert str(event["_id"]) not in services.live.presence.viewers

    # Every frame but ping is refused, and nothing changes.
    public = room_names.public_room(event["_id"], "de")
    for i, frame in enumerate([{"type": "join", "room": public},
                               {"type": "send", "room": public, "text": "hi", "client_id": "c1"},
                               {"type": "history", "room": public},
                               {"type": "questions"},
                               {"type": "rooms"}]):
        await client.send({**frame, "ref": i})
        refused = await client.expect("error", ref=i)
        assert refused["code"] == "not_started"
    await client.send({"type": "ping", "ref": "p"})
    await client.expect("pong", ref="p")
    assert not any(services.hub.channels.get(public, ()))
    assert await services.db.messages.count_documents({}) == 0

    # A slide flip while waiting: a new state, still the reduced one.
    await control.apply(services.db, services.notifier, event["_id"], admin, "slide_next")
    flipped = await client.expect("state")
    assert set(flipped["state"]) == WAITING_KEYS and flipped["state_version"] == event["state_version"] + 1
    # The admin opens the gate: the waiting connection learns it at once.
    await control.apply(services.db, services.notifier, event["_id"], admin, "gate_open")
    opened = await client.expect("state", timeout=2)
    assert opened["state"]["gate"]["open"] is True and set(opened["state"]) == WAITING_KEYS
    # Nothing else came meanwhile (no chat, questions, presence or counts).
    assert {f["type"] for f in client.frames} <= {"welcome", "state", "error", "pong"}

    # Reconnected after the opening: a full connection.
    client.close()
    again, welcome2, state2 = await live(base_url, b, event)
    assert "waiting" not in welcome2 and welcome2["rooms"]
    assert state2["state"]["slides"]["number"] == 2 and state2["state"]["gate"]["open"] is True
    again.close()


@pytest.mark.gen_test(timeout=30)
async def test_waiting_connections_learn_of_the_broadcast_day_and_start(factory, browser, base_url, services):
    event = await closed_event(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    _, b = await person(factory, browser, event)
    client, _, _ = await live(base_url, b, event)
    await control.apply(services.db, services.notifier, event["_id"], admin, "broadcast_off")
    assert (await client.expect("state"))["state"]["broadcast"] == {"on": False}
    await control.apply(services.db, services.notifier, event["_id"], admin, "day_off", {"day_id": "d1"})
    assert (await client.expect("state"))["state"]["day_open"] is False
    await control.apply(services.db, services.notifier, event["_id"], admin, "gate_start", {"official_start": None})
    changed = await client.expect("state")
    assert changed["state"]["gate"] == {"open": False, "mode": "auto", "official_start": None}
    client.close()


@pytest.mark.gen_test(timeout=30)
async def test_staff_enter_early_and_outsiders_are_still_refused(factory, browser, base_url):
    event = await closed_event(factory)
    for role in (R.EVENT_ADMIN, R.MODERATOR, R.COMMENTATOR):
        _, b = await person(factory, browser, event, role=role, locales=["ru"])
        client, welcome, state = await live(base_url, b, event)
        assert "waiting" not in welcome and state["state"]["slides"]["total"] == 3, role
        client.close()
    await assert_outsider_refused(factory, browser, base_url, event)


# --- the LIVE banner's viewer count ------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_viewer_count_is_shown_through_the_control_action_and_pushed_aggregated(
        factory, browser, base_url, services, db):
    event = await seeded(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    ab = browser()
    await ab.sign_in(admin["login"], factory.PASSWORD)
    _, first_b = await person(factory, browser, event, locale="ru")
    watcher, _, state = await live(base_url, first_b, event)
    assert state["state"]["viewers"] == {"shown": False}

    # Shown from the live-control page: persisted, audited, announced.
    r = await ab.post(f"/admin/events/{event['_id']}/control/viewers_show", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json()["state"]["viewers_shown"] is True
    assert (await db.events.find_one({"_id": event["_id"]}))["banner"]["viewers"] is True
    entry = await db.audit.find_one({"action": "viewers_show"})
    assert entry["before"]["viewers_shown"] is False and entry["after"]["viewers_shown"] is True
    assert (await watcher.expect("state"))["state"]["viewers"] == {"shown": True}
    assert (await watcher.expect("viewers", timeout=6))["total"] == 1

    # Five more come within a moment: a few frames, not one per arrival.
    for _ in range(5):
        _, b = await person(factory, browser, event, locale="de")
        await live(base_url, b, event)
    got = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while loop.time() < deadline:
        got += [f for f in await watcher.quiet(0.5) if f["type"] == "viewers"]
        if got and got[-1]["total"] == 6:
            break
    assert got and got[-1]["total"] == 6 and len(got) <= 3, got
    # A newcomer gets the count at once, right after welcome and state.
    _, late_b = await person(factory, browser, event, locale="en")
    late, _, _ = await live(base_url, late_b, event)
    assert (await late.expect("viewers", timeout=1))["total"] == 6

    # Hidden again: the state says so and the frames stop.
    r = await ab.post(f"/admin/events/{event['_id']}/control/viewers_hide", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json()["state"]["viewers_shown"] is False
    assert (await watcher.expect("state"))["state"]["viewers"] == {"shown": False}
    late.close()
    assert not [f for f in await watcher.quiet(4.5) if f["type"] == "viewers"]


@pytest.mark.gen_test(timeout=30)
async def test_waiting_connections_get_no_viewer_count(factory, browser, base_url, services):
    event = await closed_event(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    await control.apply(services.db, services.notifier, event["_id"], admin, "viewers_show")
    _, b = await person(factory, browser, event)
    waiting, welcome, _ = await live(base_url, b, event)
    assert welcome["waiting"] is True
    # Staff inside see the count; the waiting attendee never does.
    _, sb = await person(factory, browser, event, role=R.EVENT_MANAGER)
    staff, _, _ = await live(base_url, sb, event)
    assert (await staff.expect("viewers", timeout=6))["total"] == 0
    assert not [f for f in await waiting.quiet(3) if f["type"] == "viewers"]


# --- display-name changes ------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_a_name_change_reaches_open_connections_and_the_next_messages(factory, browser, base_url, services):
    event = await seeded(factory)
    other_event = await seeded(factory)
    user, b = await person(factory, browser, event, locale="ru")
    await R.grant(factory.db, user, "event", other_event["_id"], R.ATTENDEE)
    _, ob = await person(factory, browser, event, locale="ru")
    mine, _, _ = await live(base_url, b, event)
    elsewhere, _, _ = await live(base_url, b, other_event)
    reader, _, _ = await live(base_url, ob, event)
    room = room_names.public_room(event["_id"], "ru")
    await joined(mine, room)
    await joined(reader, room)

    r = await b.post("/profile", {"form": "details", "name": "  Anna   Petrova ", "locale": "ru"})
    assert r.status_code == 302
    for client in (mine, elsewhere):
        changed = await client.expect("profile", timeout=2)
        assert changed["user"] == {"id": str(user["_id"]), "name": "Anna Petrova"}
    # Only the account's own connections hear of it.
    assert not [f for f in await reader.quiet(0.5) if f["type"] == "profile"]
    # What others see of the name in new messages.
    await mine.send({"type": "send", "room": room, "text": "hello", "client_id": "n1", "ref": "n1"})
    seen = await reader.expect("message", room=room)
    assert seen["user"]["name"] == "Anna Petrova"
    # Saving the same name again announces nothing.
    await b.post("/profile", {"form": "details", "name": "Anna Petrova", "locale": "ru"})
    assert not [f for f in await mine.quiet(0.5) if f["type"] == "profile"]


# --- support conversations for staff ----------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_staff_of_the_language_hear_of_support_conversations(factory, browser, base_url, services):
    event = await seeded(factory)
    _, rb = await person(factory, browser, event, role=R.COMMENTATOR, locales=["ru"])
    _, db_ = await person(factory, browser, event, role=R.COMMENTATOR, locales=["de"])
    _, mb = await person(factory, browser, event, role=R.MODERATOR)
    ru_staff, _, _ = await live(base_url, rb, event)
    de_staff, _, _ = await live(base_url, db_, event)
    moderator, _, _ = await live(base_url, mb, event)
    user = await factory.member(R.ATTENDEE, event=event, locale="ru", name="Anna")
    ab = browser()
    await ab.sign_in(user["login"], factory.PASSWORD)
    attendee, _, _ = await live(base_url, ab, event)
    _, other_b = await person(factory, browser, event, locale="ru")
    other, _, _ = await live(base_url, other_b, event)
    support = room_names.support_room(event["_id"], "ru", user["_id"])
    await joined(attendee, support)
    await attendee.send({"type": "send", "room": support, "text": "no sound", "client_id": "s1", "ref": "s1"})
    ack = await attendee.expect("ack", ref="s1")
    for staff in (ru_staff, moderator):
        frame = await staff.expect("support", timeout=2)
        assert frame == {"type": "support", "event": str(event["_id"]), "room": support, "locale": "ru",
                         "user": {"id": str(user["_id"]), "name": "Anna"},
                         "epoch": frame["epoch"], "offset": ack["offset"]}
        assert frame["epoch"]
    # The German commentator, the attendee and other attendees hear nothing of it.
    for client in (de_staff, attendee, other):
        assert not [f for f in await client.quiet(0.5) if f["type"] == "support"]

    # A staff reply counts too, without the attendee's name.
    await joined(ru_staff, support)
    await ru_staff.send({"type": "send", "room": support, "text": "check volume", "client_id": "r1", "ref": "r1"})
    reply = await ru_staff.expect("ack", ref="r1")
    frame = await moderator.expect("support", timeout=2)
    assert frame["offset"] == reply["offset"] and frame["user"] == {"id": str(user["_id"])}
    # Public rooms are not support conversations.
    public = room_names.public_room(event["_id"], "ru")
    await joined(attendee, public)
    await attendee.send({"type": "send", "room": public, "text": "hi all", "client_id": "p1", "ref": "p1"})
    await attendee.expect("ack", ref="p1")
    assert not [f for f in await moderator.quiet(0.5) if f["type"] == "support"]
