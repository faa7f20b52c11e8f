"""Sessions, tracks and channels: staff pages, the event page, the move endpoint and the live socket."""
import datetime
import json
import re

import pytest

from access import roles as R
from chat import room_names
from events import sessions, view
from tests.live_client import LiveClient
from tests.support import error_text, translated
from tests.test_realtime import live

UTC = datetime.UTC


async def staff(factory, browser, event, role=R.EVENT_ADMIN):
    user = await factory.member(role, event=event)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return user, b


async def attendee(factory, browser, event, **kwargs):
    user = await factory.member(R.ATTENDEE, event=event, **kwargs)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return user, b


def base(event) -> str:
    return f"/admin/events/{event['_id']}"


def item_form(title="Keynote", day="d1", starts="10:00", ends="11:00", **session) -> dict:
    data = {"day_id": day, "starts": starts, "ends": ends, "title_ru": title, "title_en": title,
            "session_form": "1", "chat": "1", "materials_after": "1"}
    data.update(session)
    return data


async def fresh(db, event):
    return await db.events.find_one({"_id": event["_id"]})


async def move(b, event, **body):
    return await b.client.post(base(event) + "/program/schedule/move", content=json.dumps(body),
                               headers={"Content-Type": "application/json", "Accept": "application/json",
                                        "X-XSRFToken": await b.xsrf()})


@pytest.mark.gen_test(timeout=60)
async def test_tracks_are_edited_validated_and_filter_the_schedule(factory, browser, db, services):
    space = await factory.space()
    event = await factory.event(space)
    _, b = await staff(factory, browser, event)

    # A colour outside the palette is refused with a translated message, nothing written.
    before = await fresh(db, event)
    r = await b.post(base(event) + "/tracks", {"title_ru": "Наука", "title_en": "Science", "colour": "#ff0000"})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "en", "Choose a colour from the list.")
    assert await fresh(db, event) == before
    # No title in the default language: refused too.
    r = await b.post(base(event) + "/tracks", {"title_en": "Science", "colour": "blue"})
    assert r.status_code == 400 and await fresh(db, event) == before

    for title, colour in (("Science", "blue"), ("Art", "pink")):
        r = await b.post(base(event) + "/tracks", {"title_ru": title, "title_en": title, "colour": colour})
        assert r.status_code == 302
    tracks = (await fresh(db, event))["tracks"]
    assert [(t["title"]["en"], t["colour"]) for t in tracks] == [("Science", "blue"), ("Art", "pink")]
    science, art = tracks
    assert await db.audit.count_documents({"action": "track_add", "event_id": event["_id"]}) == 2

    r = await b.post(base(event) + "/program/schedule", item_form("Physics", track_id=science["id"]))
    assert r.status_code == 302, error_text(r.text)
    r = await b.post(base(event) + "/program/schedule", item_form("Painting", starts="12:00", ends="13:00",
                                                                  track_id=art["id"]))
    assert r.status_code == 302
    # A track that is not the event's is refused.
    before = await fresh(db, event)
    r = await b.post(base(event) + "/program/schedule", item_form("Ghost", track_id="nope"))
    assert r.status_code == 400 and error_text(r.text) == "Choose a track from the list."
    assert await fresh(db, event) == before

    # Editing a track keeps its id; the sessions follow.
    r = await b.post(base(event) + f"/tracks/edit?track={science['id']}",
                     {"title_ru": "Наука", "title_en": "Sciences", "colour": "green"})
    assert r.status_code == 302

    a, ab = await attendee(factory, browser, event)
    path = view.path(space, event)
    page = (await ab.get(path)).text
    assert 'class="track-label track-green">Sciences<' in page and "Painting" in page and "Physics" in page
    filtered = (await ab.get(path + f"?track={science['id']}")).text
    assert "Physics" in filtered and "Painting" not in filtered
    # An unknown (e.g. removed) track filters nothing.
    assert "Painting" in (await ab.get(path + "?track=zzz")).text

    # Removing a track leaves its sessions without one.
    r = await b.post(base(event) + "/tracks/remove", {"track": art["id"]})
    assert r.status_code == 302
    after = await fresh(db, event)
    assert [t["id"] for t in after["tracks"]] == [science["id"]]
    painting = next(i for i in after["schedule"] if i["title"]["en"] == "Painting")
    assert sessions.find_track(after, painting["track_id"]) is None


@pytest.mark.gen_test(timeout=60)
async def test_speakers_are_names_linked_only_to_the_events_speaker_accounts(factory, browser, db, services):
    event = await factory.event()
    _, b = await staff(factory, browser, event)
    speaker = await factory.member(R.SPEAKER, event=event, name="Dr Ada")
    outsider = await factory.member(R.ATTENDEE, event=event, name="Someone")

    before = await fresh(db, event)
    r = await b.post(base(event) + "/program/schedule",
                     item_form(speaker_name_0="Ada", speaker_user_0=str(outsider["_id"])))
    assert r.status_code == 400
    assert error_text(r.text).startswith("Choose a speaker account from the list")
    assert await fresh(db, event) == before

    r = await b.post(base(event) + "/program/schedule",
                     item_form(speaker_name_0="", speaker_user_0=str(speaker["_id"]),
                               speaker_name_1="Bob  Guest", speaker_user_1=""))
    assert r.status_code == 302, error_text(r.text)
    item = (await fresh(db, event))["schedule"][0]
    assert item["speakers"] == [{"name": "Dr Ada", "user_id": speaker["_id"]}, {"name": "Bob Guest"}]
    # The old one-line speaker stays written for every older reader (calendar feed, questions).
    assert item["speaker"] == "Dr Ada, Bob Guest"
    # The edit form shows both, the account selected.
    page = (await b.get(base(event) + f"/program/schedule/edit?item={item['id']}")).text
    assert 'value="Bob Guest"' in page and f'value="{speaker["_id"]}" selected' in page

    # An item stored before speakers existed reads its one speaker string.
    assert sessions.speakers_of({"speaker": "Old Name"}) == [{"name": "Old Name"}]
    assert sessions.speakers_of({"speaker": ""}) == []


def test_availability_after_the_end():
    now = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    hour = datetime.timedelta(hours=1)
    running = {"starts_at": now - hour, "ends_at": now + hour, "recording_url": "https://v.example/1",
               "recording_after": True, "materials_after": False}
    assert sessions.availability(running, now) == {"ended": False, "recording_url": None, "materials": True}
    ended = {**running, "ends_at": now - datetime.timedelta(minutes=1)}
    assert sessions.availability(ended, now) == {"ended": True, "recording_url": "https://v.example/1",
                                                 "materials": False}
    hidden = {**ended, "recording_after": False, "materials_after": True}
    assert sessions.availability(hidden, now) == {"ended": True, "recording_url": None, "materials": True}
    # No end time: it ends at its start.  Stored before these fields: materials stay.
    assert sessions.availability({"starts_at": now}, now)["ended"] is True
    assert sessions.availability({"starts_at": now - hour}, now)["materials"] is True
    # The event's materials: hidden only once every session has ended and none keeps them.
    event = {"schedule": [ended, {**running, "materials_after": False}]}
    assert sessions.materials_shown(event, now) is True
    assert sessions.materials_shown(event, now + 2 * hour) is False
    assert sessions.materials_shown({"schedule": []}, now) is True


@pytest.mark.gen_test(timeout=60)
async def test_recording_and_materials_on_the_event_page_follow_the_rule(factory, browser, db, services):
    space = await factory.space()
    event = await factory.event(space)
    _, b = await staff(factory, browser, event)
    # Showing a recording needs its link; a link must be https.
    before = await fresh(db, event)
    r = await b.post(base(event) + "/program/schedule", item_form(recording_after="1"))
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "en", "Enter the recording's link to show it after the session.")
    r = await b.post(base(event) + "/program/schedule", item_form(recording_url="javascript:alert(1)"))
    assert r.status_code == 400 and await fresh(db, event) == before

    now = datetime.datetime.now(UTC).replace(microsecond=0)
    hour = datetime.timedelta(hours=1)
    past = {"id": "past1", "day_id": "d1", "starts_at": now - 2 * hour, "ends_at": now - hour,
            "title": {"ru": "Past talk"}, "speaker": "", "recording_url": "https://video.example/past",
            "recording_after": True, "materials_after": False, "chat": False}
    future = {**past, "id": "next1", "starts_at": now + hour, "ends_at": now + 2 * hour,
              "title": {"ru": "Next talk"}, "recording_url": "https://video.example/next"}
    await db.events.update_one({"_id": event["_id"]}, {"$set": {
        "schedule": [past, future],
        "materials": [{"id": "m1", "title": {"ru": "Slides PDF"}, "url": "https://files.example/slides.pdf"}]}})
    _, ab = await attendee(factory, browser, event)
    page = (await ab.get(view.path(space, event))).text
    assert "https://video.example/past" in page and "https://video.example/next" not in page
    assert "No chat during this session" in page
    assert "Slides PDF" in page  # a session still to come keeps the materials shown
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"schedule": [past]}})
    page = (await ab.get(view.path(space, event))).text
    assert "Slides PDF" not in page
    assert translated(services, "en", "The materials of this event are no longer available.") in page
    # Staff still see them.
    _, sb = await staff(factory, browser, event, role=R.EVENT_MANAGER)
    assert "Slides PDF" in (await sb.get(view.path(space, event))).text


@pytest.mark.gen_test(timeout=60)
async def test_channels_are_created_listed_and_run_their_sessions(factory, browser, db, services):
    space = await factory.space()
    event = await factory.event(space)
    admin, b = await staff(factory, browser, event)
    r = await b.post(base(event) + "/channels", {"slug": "hall-b", "title_ru": "Зал Б", "title_en": "Hall B"})
    assert r.status_code == 302
    channel = await db.events.find_one({"parent_id": event["_id"]})
    assert r.headers["Location"] == base(channel)
    assert channel["slug"] == "hall-b" and channel["space_id"] == space["_id"]
    assert channel["locales"] == event["locales"] and channel["timezone"] == event["timezone"]
    assert [d["id"] for d in channel["days"]] == [d["id"] for d in event["days"]]
    entry = await db.audit.find_one({"action": "channel_create"})
    assert entry["event_id"] == event["_id"] and entry["params"]["channel_id"] == str(channel["_id"])

    # The address is the space's: taken, bad, or a channel of a channel are refused, nothing written.
    count = await db.events.count_documents({})
    for data, message in (({"slug": event["slug"], "title_ru": "X"},
                           "This space already has an event with this address name."),
                          ({"slug": "Bad Slug", "title_ru": "X"}, None),
                          ({"slug": "hall-c"}, "Enter the title in the default language.")):
        r = await b.post(base(event) + "/channels", data)
        assert r.status_code == 400, data
        if message:
            assert error_text(r.text) == message
    r = await b.post(base(channel) + "/channels", {"slug": "hall-c", "title_ru": "X"})
    assert r.status_code == 400 and error_text(r.text) == "A channel cannot have channels of its own."
    assert await db.events.count_documents({}) == count

    # The main event's staff are the channel's staff: its pages open to them.
    assert (await b.get(base(channel) + "/control")).status_code == 200

    # A session in the channel: on the channel's page, and on the main page with a link to it.
    r = await b.post(base(event) + "/program/schedule", item_form("Side room talk", channel_id=str(channel["_id"])))
    assert r.status_code == 302, error_text(r.text)
    r = await b.post(base(event) + "/program/schedule", item_form("Main hall talk", starts="12:00", ends="13:00"))
    before = await fresh(db, event)
    r = await b.post(base(event) + "/program/schedule", item_form("Lost", channel_id="0" * 24))
    assert r.status_code == 400 and error_text(r.text) == "Choose a channel from the list."
    assert await fresh(db, event) == before

    _, ab = await attendee(factory, browser, event)
    main_page = (await ab.get(view.path(space, event))).text
    assert "Hall B" in main_page and f'href="{view.path(space, channel)}"' in main_page
    assert "Side room talk" in main_page and "Main hall talk" in main_page
    r = await ab.get(view.path(space, channel))
    assert r.status_code == 200
    assert "Side room talk" in r.text and "Main hall talk" not in r.text
    assert f'href="{view.path(space, event)}"' in r.text  # back to the main event

    # Not listed by itself: "my events" of the space's admin shows the main event only.
    space_admin = await factory.member(R.SPACE_ADMIN, space=space)
    sb = browser()
    await sb.sign_in(space_admin["login"], factory.PASSWORD)
    items, total = await view.visible_events(db, space_admin, 0, 50)
    assert [i["event"]["_id"] for i in items] == [event["_id"]] and total == 1


@pytest.mark.gen_test(timeout=60)
async def test_roles_of_a_channel_come_from_its_main_event_in_one_query(factory, db):
    space = await factory.space()
    event = await factory.event(space)
    other = await factory.event(space)
    channel = await sessions.create_channel(db, None, event, slug="side", title={"ru": "Side"})
    att = await factory.member(R.ATTENDEE, event=event)
    mod = await factory.member(R.MODERATOR, event=event)
    elsewhere = await factory.member(R.ATTENDEE, event=other)
    pending = await factory.member(R.ATTENDEE, event=event)
    await db.memberships.update_one({"user_id": pending["_id"]}, {"$set": {"state": "pending"}})
    expected = {att["_id"]: {R.ATTENDEE}, mod["_id"]: {R.MODERATOR}, elsewhere["_id"]: set(), pending["_id"]: set()}
    users = (att, mod, elsewhere, pending)
    keys = [(u["_id"], False, space["_id"], channel["_id"], event["_id"]) for u in users]
    many = await R.roles_in_many(db, keys)
    for user, key in zip(users, keys):
        one = await R.roles_in(db, user, **R.event_scopes(channel))
        assert set(one) == expected[user["_id"]] and many[key] == one
    # The main event's roles do not flow the other way, nor to another event.
    assert await R.roles_in(db, await factory.member(R.ATTENDEE, event=channel), **R.event_scopes(event)) == {}


@pytest.mark.gen_test(timeout=60)
async def test_a_registered_attendee_of_the_main_event_watches_a_channel_and_a_stranger_does_not(
        factory, browser, base_url, db):
    event = await factory.event()
    channel = await sessions.create_channel(db, None, event, slug="side", title={"ru": "Side"})
    channel["gate"]["mode"] = event["gate"]["mode"]
    await db.events.update_one({"_id": channel["_id"]}, {"$set": {"gate": event["gate"]}})
    _, ab = await attendee(factory, browser, event, locale="ru")
    client, welcome, state = await live(base_url, ab, channel)
    assert welcome["rooms"][0] == room_names.public_room(channel["_id"], "ru")
    client.close()

    stranger = await factory.user()
    sb = browser()
    await sb.sign_in(stranger["login"], factory.PASSWORD)
    from tornado.httpclient import HTTPClientError
    with pytest.raises(HTTPClientError) as exc:
        await LiveClient.connect(base_url, sb, channel["_id"])
    assert exc.value.code == 403
    # A registration that does not hold (waiting for approval) admits to no channel either.
    waiting, wb = await attendee(factory, browser, event)
    await db.memberships.update_one({"user_id": waiting["_id"]}, {"$set": {"state": "pending"}})
    with pytest.raises(HTTPClientError) as exc:
        await LiveClient.connect(base_url, wb, channel["_id"])
    assert exc.value.code == 403


@pytest.mark.gen_test(timeout=60)
async def test_staff_of_the_main_event_moderate_the_channels_chat(factory, browser, base_url, db):
    event = await factory.event()
    channel = await sessions.create_channel(db, None, event, slug="side", title={"ru": "Side"})
    await db.events.update_one({"_id": channel["_id"]}, {"$set": {"gate": event["gate"]}})
    channel = await db.events.find_one({"_id": channel["_id"]})
    att, ab = await attendee(factory, browser, event, locale="ru")
    mod = await factory.member(R.MODERATOR, event=event, locale="en")
    mb = browser()
    await mb.sign_in(mod["login"], factory.PASSWORD)
    room = room_names.public_room(channel["_id"], "ru")
    a, _, _ = await live(base_url, ab, channel)
    m, _, _ = await live(base_url, mb, channel)
    for client in (a, m):
        await client.send({"type": "join", "room": room})
        await client.expect("joined", room=room)
    await a.send({"type": "send", "room": room, "text": "hello side room", "client_id": "c1", "ref": "s"})
    await a.expect("ack", ref="s")
    assert (await m.expect("message", room=room))["text"] == "hello side room"
    await m.send({"type": "mute", "user": str(att["_id"]), "minutes": 5, "ref": "mu"})
    ack = await m.expect("ack", ref="mu")
    assert ack["kind"] == "mute" and ack["active"] is True
    sanction = await db.sanctions.find_one({"user_id": att["_id"]})
    assert str(sanction["event_id"]) == str(channel["_id"])
    await a.send({"type": "send", "room": room, "text": "again", "client_id": "c2", "ref": "s2"})
    assert (await a.expect("error", ref="s2"))["code"] == "muted"
    # An attendee of the main event moderates nothing in the channel.
    await a.send({"type": "slow_mode", "room": room, "seconds": 30, "ref": "sl"})
    assert (await a.expect("error", ref="sl"))["code"] == "forbidden"


@pytest.mark.gen_test(timeout=60)
async def test_the_calendar_moves_a_session_through_the_validated_action(factory, browser, db, services):
    space = await factory.space()
    event = await factory.event(space)
    _, b = await staff(factory, browser, event)
    await b.post(base(event) + "/channels", {"slug": "hall-b", "title_ru": "Зал Б", "title_en": "Hall B"})
    channel = await db.events.find_one({"parent_id": event["_id"]})
    r = await b.post(base(event) + "/program/schedule", item_form("Opening", starts="10:00", ends="10:45"))
    assert r.status_code == 302
    item = (await fresh(db, event))["schedule"][0]

    page = await b.get(base(event) + "/calendar")
    assert page.status_code == 200
    assert f'href="{base(event)}/program/schedule/edit?item={item["id"]}"' in page.text
    assert "Hall B" in page.text and 'data-starts="10:00"' in page.text

    r = await move(b, event, item=item["id"], day_id="d2", starts="14:30", column=str(channel["_id"]), by="channel")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True and body["item"]["starts"] == "14:30" and body["item"]["ends"] == "15:15"
    moved = (await fresh(db, event))["schedule"][0]
    assert moved["day_id"] == "d2" and moved["channel_id"] == str(channel["_id"])
    assert moved["ends_at"] - moved["starts_at"] == datetime.timedelta(minutes=45)
    assert moved["title"] == item["title"] and moved["chat"] is True
    assert await db.audit.count_documents({"action": "schedule_update"}) == 1

    # Refusals: translated, nothing changed.
    before = await fresh(db, event)
    for body, status in (({"item": item["id"], "day_id": "d2", "starts": "25:99"}, 400),
                         ({"item": item["id"], "day_id": "nope", "starts": "10:00"}, 400),
                         ({"item": item["id"], "day_id": "d2", "starts": "23:30"}, 400),
                         ({"item": "missing", "day_id": "d2", "starts": "10:00"}, 400),
                         ({"item": item["id"], "day_id": "d2", "starts": "10:00", "column": "x" * 24}, 400),
                         ({"item": {"$ne": 1}, "day_id": "d2", "starts": "10:00"}, 400)):
        r = await move(b, event, **body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["message"]
    r = await move(b, event, item=item["id"], day_id="d2", starts="25:99")
    assert r.json()["message"] == translated(services, "en", "Enter the time as hours:minutes.")
    # Without the XSRF token the request is refused before anything runs.
    r = await b.client.post(base(event) + "/program/schedule/move",
                            content=json.dumps({"item": item["id"], "day_id": "d1", "starts": "09:00"}),
                            headers={"Content-Type": "application/json"})
    assert r.status_code == 403
    # Someone without the edit permission cannot move.
    _, mb = await staff(factory, browser, event, role=R.MODERATOR)
    r = await move(mb, event, item=item["id"], day_id="d1", starts="09:00")
    assert r.status_code == 403
    assert await fresh(db, event) == before


@pytest.mark.gen_test(timeout=60)
async def test_live_control_shows_whether_the_running_sessions_chat_is_open(factory, browser, db, services):
    event = await factory.event()
    channel = await sessions.create_channel(db, None, event, slug="side", title={"ru": "Side"})
    now = datetime.datetime.now(UTC)
    hour = datetime.timedelta(hours=1)
    running = {"id": "run1", "day_id": "d1", "starts_at": now - hour, "ends_at": now + hour,
               "title": {"ru": "Quiet talk"}, "speaker": "", "chat": False, "channel_id": str(channel["_id"])}
    main_talk = {**running, "id": "run2", "title": {"ru": "Loud talk"}, "chat": True, "channel_id": None}
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"schedule": [running, main_talk]}})
    _, b = await staff(factory, browser, event)
    page = (await b.get(base(channel) + "/control")).text
    assert "Quiet talk" in page and "Loud talk" not in page
    assert translated(services, "en", "Chat planned off for this session: slow the room down or answer in the "
                                      "chat console") in page
    page = (await b.get(base(event) + "/control")).text
    assert "Loud talk" in page and "Quiet talk" not in page
    assert translated(services, "en", "Chat open during this session") in page


# --- a channel is a room of its main event, not an event of its own ------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_a_channel_is_left_out_of_catalogue_recommendations_and_the_space_page(factory, browser, db):
    from events import catalogue, spaces
    from registration import recommend
    from tests.test_catalogue import make_event, register
    space = await factory.space()
    went = await make_event(factory, db, space, tags=["ai"], starts_in_days=-20)
    main = await make_event(factory, db, space, tags=["ai"])
    channel = await sessions.create_channel(db, None, main, slug="side", title={"en": "Side"})
    # Listed like its main event in every way but one: it is a channel.
    await db.events.update_one({"_id": channel["_id"]}, {"$set": {
        "tags": ["ai"], "gate.official_start": main["gate"]["official_start"], "days": main["days"]}})
    filters = catalogue.Filters()
    found, total = await catalogue.page(db, space["_id"], filters, signed_in=True, skip=0, limit=50)
    assert {e["_id"] for e in found} == {main["_id"]} and total == 1
    assert await catalogue.tags_in_use(db, space["_id"], signed_in=False) == ["ai"]
    person = await factory.user()
    await register(db, person, went)
    assert [r.candidate.event["_id"] for r in await recommend.for_person(db, person)] == [main["_id"]]
    listed, count = await spaces.events_of(db, space["_id"], 0, 50)
    assert channel["_id"] not in {e["_id"] for e in listed} and count == 2


@pytest.mark.gen_test(timeout=60)
async def test_a_channels_about_and_register_pages_lead_to_the_main_events(factory, browser, db):
    event = await factory.event()
    space = await db.spaces.find_one({"_id": event["space_id"]})
    channel = await sessions.create_channel(db, None, event, slug="side", title={"ru": "Side"})
    b = browser()
    main, side = view.path(space, event), view.path(space, channel)
    r = await b.get(side + "/about?invite=abc")
    assert r.status_code == 302 and r.headers["location"] == main + "/about?invite=abc"
    for path in ("/register", "/register?invite=abc"):
        r = await b.get(side + path)
        assert r.status_code == 302 and r.headers["location"] == main + path
    before = await db.memberships.count_documents({})
    r = await b.post(side + "/register", {"name": "A", "email": "a@example.org"})
    assert r.status_code == 302 and r.headers["location"] == main + "/register"
    assert await db.memberships.count_documents({}) == before


@pytest.mark.gen_test(timeout=60)
async def test_attendees_save_a_channels_sessions_to_the_main_events_programme(factory, browser, db):
    event = await factory.event(locales=("ru",), days=1)
    space = await db.spaces.find_one({"_id": event["space_id"]})
    channel = await sessions.create_channel(db, None, event, slug="side", title={"ru": "Side"})
    await db.events.update_one({"_id": channel["_id"]}, {"$set": {"gate": event["gate"]}})
    day = event["days"][0]["id"]
    start = datetime.datetime(2026, 12, 1, 9, tzinfo=UTC)
    schedule = [{"id": "main1", "day_id": day, "starts_at": start, "title": {"ru": "Main talk"}, "speaker": ""},
                {"id": "side1", "day_id": day, "starts_at": start, "title": {"ru": "Side talk"}, "speaker": "",
                 "channel_id": str(channel["_id"])}]
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"schedule": schedule}})
    user, b = await attendee(factory, browser, event)
    side = view.path(space, channel)
    r = await b.post(side + "/programme", {"item": "side1", "saved": "1"}, headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json()["items"] == ["side1"]
    # A session of the main room is not on the channel's page, so it is not saved from there.
    r = await b.post(side + "/programme", {"item": "main1", "saved": "1"})
    assert r.status_code == 400
    saved = await db.programmes.find_one({"user_id": user["_id"]})
    assert saved["event_id"] == event["_id"] and saved["item_ids"] == ["side1"]
    page = await b.get(side)
    assert re.search(r'<li id="item-side1".*?aria-pressed="true"', page.text, re.S)
    assert "Side talk" in (await b.get(side + "/programme.ics")).text
