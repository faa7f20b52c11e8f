"""Seats in sessions with a capacity: a full session's waiting list, exactly one promotion per
freed seat in order across processes, no overbooking under a rush, offers that expire and pass
on, only registered attendees seated, seats freed with the registration, the programme feed,
staff counts and CSV, and the cabinet's recordings."""
import asyncio
import dataclasses
import datetime
import json
import os
import re
import secrets
import sys

import icalendar
import pytest

import server
from access import roles as R
from accounts import users
from events import view
from registration import actions, places, session_seats, states
from registration.model import CANCELLED, EXPIRED, OFFERED, REGISTERED, WAITING
from storage import Storage
from storage.shared import SharedClient, StoreServer
from tests.support import translated
from tests.test_catalogue import make_event
from tests.test_catalogue import register as register_as
from tests.test_registration_places import drain, open_event, people, register_all

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UTC = datetime.UTC


def workshop(capacity, *, item_id="w1", hours_from_now=48, **extra):
    start = datetime.datetime.now(UTC).replace(microsecond=0) + datetime.timedelta(hours=hours_from_now)
    return {"id": item_id, "day_id": "d1", "title": {"en": f"Workshop {item_id}", "ru": f"Мастерская {item_id}"},
            "speaker": "", "starts_at": start, "ends_at": start + datetime.timedelta(hours=1),
            "capacity": capacity, **extra}


async def with_schedule(db, event, *items):
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"schedule": list(items)}})
    return await db.events.find_one({"_id": event["_id"]})


async def seats_event(db, factory, capacity, offer_hours=24, extra=()):
    event = await open_event(db, factory, capacity=None, offer_hours=offer_hours)
    return await with_schedule(db, event, workshop(capacity), *extra)


async def seat_of(db, seat):
    return await db.session_seats.find_one({"_id": seat["_id"]})


async def counter(db, event, item_id="w1"):
    return await places.counter(db, session_seats.target(event["_id"], item_id))


# --- the waiting list ------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_a_full_session_puts_the_next_person_on_its_waiting_list_and_a_give_up_promotes_in_order(
        services, factory, db):
    event = await seats_event(db, factory, capacity=2, offer_hours=3)
    persons = await people(db, 5)
    await register_all(services, event, persons)
    seats = [await session_seats.take(services, event, "w1", p) for p in persons]
    assert [s["state"] for s in seats] == [REGISTERED, REGISTERED, WAITING, WAITING, WAITING]
    assert [s.get("position") for s in seats[2:]] == [1, 2, 3]
    # A second click seats nobody twice.
    assert (await session_seats.take(services, event, "w1", persons[0]))["_id"] == seats[0]["_id"]
    assert await db.session_seats.count_documents({"event_id": event["_id"]}) == 5

    await session_seats.give_up(services, event, seats[1], actor=persons[1])
    offered = await seat_of(db, seats[2])
    assert offered["state"] == OFFERED
    hours = (offered["offer_expires_at"] - offered["state_at"]).total_seconds() / 3600
    assert 2.99 < hours <= 3
    assert [(await seat_of(db, s))["state"] for s in seats[3:]] == [WAITING, WAITING]
    c = await counter(db, event)
    assert (c["taken"], c["waiting"]) == (2, 2)
    accepted = await session_seats.accept(services, event, offered, persons[2])
    assert accepted["state"] == REGISTERED and "offer_expires_at" not in accepted
    await drain(services)
    mails = await db.outbox.find({"kind": "session_seat_offered"}).to_list(None)
    assert [m["to"] for m in mails] == [persons[2]["email"]]
    assert "Workshop w1" in mails[0]["subject"]
    assert await db.audit.count_documents({"event_id": event["_id"], "action": "session_seat.offered",
                                           "params.by": "system"}) == 1


@pytest.mark.gen_test(timeout=180)
async def test_concurrent_give_ups_in_two_processes_promote_exactly_one_person_each_in_order(services, factory):
    """A full session, seven waiting; two server processes give up five seats, three of them both at once."""
    store = StoreServer()
    port = await store.start()
    address, name = f"127.0.0.1:{port}", f"seats_{secrets.token_hex(3)}"
    settings = dataclasses.replace(services.settings, embedded_store_address=address, mongodb_db=name)
    mine = await server.make_services(settings)
    workers = []
    try:
        db = mine.db
        event = await seats_event(db, type(factory)(mine), capacity=10)
        persons = await people(db, 17)
        await register_all(mine, event, persons)
        seats = [await session_seats.take(mine, event, "w1", p) for p in persons]
        holders, queue = seats[:10], seats[10:]
        assert {s["state"] for s in holders} == {REGISTERED} and {s["state"] for s in queue} == {WAITING}
        both = [str(s["_id"]) for s in holders[:3]]
        plans = [both + [str(holders[3]["_id"])], both + [str(holders[4]["_id"])]]
        for plan in plans:
            workers.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.registration_worker", address, name, str(event["_id"]), ",".join(plan),
                "seats", cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE))
        for w in workers:
            assert (await asyncio.wait_for(w.stdout.readline(), 60)).strip() == b"ready"
        for w in workers:  # go, both together
            w.stdin.write(b"go\n")
            await w.stdin.drain()
        results = [json.loads(await asyncio.wait_for(w.stdout.readline(), 60)) for w in workers]
        for w in workers:
            assert await w.wait() == 0
        outcome = [r for result in results for r in result.values()]
        assert outcome.count("cancelled") == 5 and outcome.count("refused") == 3
        assert await db.session_seats.count_documents({"event_id": event["_id"], "state": CANCELLED}) == 5
        offered = await db.session_seats.find({"event_id": event["_id"], "state": OFFERED}) \
            .sort("position", 1).to_list(None)
        assert [s["_id"] for s in offered] == [s["_id"] for s in queue[:5]]  # the first five, in order
        still = await db.session_seats.find({"event_id": event["_id"], "state": WAITING}).sort("position", 1) \
            .to_list(None)
        assert [s["_id"] for s in still] == [s["_id"] for s in queue[5:]]
        assert await db.audit.count_documents({"event_id": event["_id"], "action": "session_seat.offered"}) == 5
        assert await db.outbox.count_documents({"kind": "session_seat_offered"}) == 5
        c = await counter(db, event)
        assert (c["taken"], c["waiting"]) == (10, 2)
        assert await places.recount(db, event["_id"], session_seats.target(event["_id"], "w1")) == (10, 2)
    finally:
        for w in workers:
            if w.returncode is None:
                w.kill()
                await w.wait()
        await drain(mine)
        await server.close_services(mine)
        await store.close()


@pytest.mark.gen_test(timeout=240)
async def test_200_concurrent_seat_requests_for_the_last_5_seats_take_exactly_5(services, factory):
    store = StoreServer()
    port = await store.start()
    name = f"seatrush_{secrets.token_hex(3)}"
    clients = [SharedClient(f"127.0.0.1:{port}") for _ in range(4)]
    views = [dataclasses.replace(services, storage=Storage(c, c[name], "embedded-shared")) for c in clients]
    try:
        db = views[0].db
        from mongo_indexes import ensure_indexes
        await ensure_indexes(db)
        event = await seats_event(db, type(factory)(views[0]), capacity=25)
        early = await people(db, 20, "early")
        rush = await people(db, 200, "rush")
        await register_all(views[0], event, early + rush)
        for p in early:
            await session_seats.take(views[0], event, "w1", p)
        done = await asyncio.gather(*(session_seats.take(views[i % 4], event, "w1", p) for i, p in enumerate(rush)))
        got = [s["state"] for s in done]
        assert got.count(REGISTERED) == 5 and got.count(WAITING) == 195
        assert await db.session_seats.count_documents({"event_id": event["_id"], "state": REGISTERED}) == 25
        waiting = await db.session_seats.find({"event_id": event["_id"], "state": WAITING}).to_list(None)
        assert sorted(s["position"] for s in waiting) == list(range(1, 196))
        c = await counter(db, event)
        assert (c["taken"], c["waiting"]) == (25, 195)
    finally:
        for view_ in views:
            await drain(view_)
        for c in clients:
            await c.close()
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_an_offer_expiring_passes_the_seat_on(services, factory, db):
    event = await seats_event(db, factory, capacity=1, offer_hours=2)
    persons = await people(db, 4)
    await register_all(services, event, persons)
    holder, first, second, third = [await session_seats.take(services, event, "w1", p) for p in persons]
    await session_seats.give_up(services, event, holder, actor=persons[0])
    first = await seat_of(db, first)
    deadline = first["offer_expires_at"]
    await actions.sweep(services, now=deadline - datetime.timedelta(seconds=1))
    assert (await seat_of(db, first))["state"] == OFFERED
    await actions.sweep(services, now=deadline + datetime.timedelta(seconds=1))
    assert (await seat_of(db, first))["state"] == EXPIRED
    assert (await seat_of(db, second))["state"] == OFFERED
    assert (await seat_of(db, third))["state"] == WAITING
    with pytest.raises(session_seats.OfferGone):
        await session_seats.accept(services, event, await seat_of(db, first), persons[1])
    c = await counter(db, event)
    assert (c["taken"], c["waiting"]) == (1, 1)
    assert await db.audit.count_documents({"action": "session_seat.expired", "params.by": "system"}) == 1


@pytest.mark.gen_test(timeout=60)
async def test_the_session_sweep_recounts_only_session_counters_and_passes_a_lost_seat_on(services, factory, db):
    event = await seats_event(db, factory, capacity=1)
    persons = await people(db, 2)
    await register_all(services, event, persons)
    holder, waiting = [await session_seats.take(services, event, "w1", p) for p in persons]
    # A process died between giving a seat up and freeing it in the counter.
    await states.transition(db, event, holder, CANCELLED, actor_kind=states.ATTENDEE,
                            scope=session_seats.scope(event, "w1"))
    later = datetime.datetime.now(UTC) + places.QUIET + datetime.timedelta(seconds=5)
    await db[places.COUNTERS].update_many({}, {"$set": {"checked_at": later - places.RECONCILE_EVERY}})
    await actions.sweep(services, now=later)
    assert (await seat_of(db, waiting))["state"] == OFFERED
    # The event's own counter was recounted from registrations, the session's from seats.
    assert (await places.counter(db, actions.target_of(event)))["taken"] == 2
    assert (await counter(db, event))["taken"] == 1


# --- who may take a seat ----------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_a_non_attendee_cannot_take_a_seat_and_nothing_is_written(services, factory, db, browser):
    space = await factory.space()
    event = await seats_event(db, factory, capacity=3)
    space = await db.spaces.find_one({"_id": event["space_id"]})
    path = view.path(space, event)
    moderator = await factory.member(R.MODERATOR, event=event)
    b = browser()
    await b.sign_in(moderator["login"], factory.PASSWORD)
    audit_before = await db.audit.count_documents({})
    r = await b.post(path + "/seat", {"item": "w1", "action": "take"}, headers={"Accept": "application/json"})
    assert r.status_code == 403
    assert r.json()["message"] == translated(
        services, "en", "Only people registered for this event can take a seat in its sessions.")
    assert await db.session_seats.count_documents({}) == 0
    assert await counter(db, event) is None and await db.audit.count_documents({}) == audit_before
    # Nor one whose registration waits or was cancelled.
    (person,) = await people(db, 1)
    await register_as(db, person, event, WAITING)
    with pytest.raises(session_seats.NotAttendee):
        await session_seats.take(services, event, "w1", person)
    # A session without a capacity has no seats; an unknown action is refused.
    plain = await with_schedule(db, event, workshop(None, item_id="p1"), workshop(3))
    r = await b.post(path + "/seat", {"item": "p1", "action": "take"})
    assert r.status_code == 400
    r = await b.post(path + "/seat", {"item": "w1", "action": "steal"})
    assert r.status_code == 400
    assert await db.session_seats.count_documents({}) == 0 and plain


@pytest.mark.gen_test(timeout=60)
async def test_cancelling_the_event_registration_frees_the_seats(services, factory, db):
    event = await seats_event(db, factory, capacity=1, extra=[workshop(1, item_id="w2")])
    persons = await people(db, 2)
    regs = await register_all(services, event, persons)
    mine = await session_seats.take(services, event, "w1", persons[0])
    mine2 = await session_seats.take(services, event, "w2", persons[0])
    theirs = await session_seats.take(services, event, "w1", persons[1])
    assert (mine["state"], mine2["state"], theirs["state"]) == (REGISTERED, REGISTERED, WAITING)
    await actions.cancel(services, event, regs[0], actor_kind=states.ATTENDEE, actor=persons[0])
    assert (await seat_of(db, mine))["state"] == CANCELLED and (await seat_of(db, mine2))["state"] == CANCELLED
    assert (await seat_of(db, theirs))["state"] == OFFERED
    assert (await counter(db, event, "w2"))["taken"] == 0

    # Staff removing a registration altogether frees that person's seats too.
    third = (await people(db, 1, prefix="x-"))[0]
    (reg3,) = await register_all(services, event, [third])
    held = await session_seats.take(services, event, "w2", third)
    assert held["state"] == REGISTERED
    await actions.remove_by_staff(services, event, reg3["_id"], None)
    assert (await seat_of(db, held))["state"] == CANCELLED
    assert (await counter(db, event, "w2"))["taken"] == 0


@pytest.mark.gen_test(timeout=60)
async def test_a_seat_taken_while_the_registration_ends_is_given_back(services, factory, db, monkeypatch):
    """The registration is cancelled (and its seats released) after `take` found it admitting and before
    its seat is written: the seat written late is given back, and the person told they are not registered."""
    event = await seats_event(db, factory, capacity=1)
    persons = await people(db, 2)
    regs = await register_all(services, event, persons)
    enter = places.enter

    async def cancelled_meanwhile(*args, **kwargs):
        monkeypatch.setattr(places, "enter", enter)
        await actions.cancel(services, event, regs[0], actor_kind=states.ATTENDEE, actor=persons[0])
        return await enter(*args, **kwargs)

    monkeypatch.setattr(places, "enter", cancelled_meanwhile)
    with pytest.raises(session_seats.NotAttendee):
        await session_seats.take(services, event, "w1", persons[0])
    assert (await session_seats.find(db, event["_id"], "w1", persons[0]["_id"]))["state"] == CANCELLED
    assert (await counter(db, event))["taken"] == 0
    assert (await session_seats.take(services, event, "w1", persons[1]))["state"] == REGISTERED


@pytest.mark.gen_test(timeout=60)
async def test_an_offer_accepted_while_the_registration_ends_is_released_too(services, factory, db, monkeypatch):
    """Releasing finds the seat offered, and the person accepts it before the release's own move: the
    release's move is refused, and it gives up the seat as it is now (held)."""
    event = await seats_event(db, factory, capacity=1)
    persons = await people(db, 2)
    regs = await register_all(services, event, persons)
    first = await session_seats.take(services, event, "w1", persons[0])
    waiting = await session_seats.take(services, event, "w1", persons[1])
    await session_seats.give_up(services, event, first, actor=persons[0])
    offered = await seat_of(db, waiting)
    assert offered["state"] == OFFERED
    give_up = session_seats.give_up

    async def accepted_meanwhile(services_, event_, seat, **kwargs):
        monkeypatch.setattr(session_seats, "give_up", give_up)
        if seat["state"] == OFFERED:
            await states.transition(db, event_, seat, REGISTERED, actor_kind=states.ATTENDEE, actor=persons[1],
                                    unset=("offer_expires_at",), scope=session_seats.scope(event_, "w1"))
        return await give_up(services_, event_, seat, **kwargs)

    monkeypatch.setattr(session_seats, "give_up", accepted_meanwhile)
    await actions.cancel(services, event, regs[1], actor_kind=states.ATTENDEE, actor=persons[1])
    assert (await seat_of(db, waiting))["state"] == CANCELLED
    assert (await counter(db, event))["taken"] == 0


# --- pages ------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=90)
async def test_the_page_the_programme_and_its_feed_list_only_seated_sessions(services, factory, db, browser):
    space = await factory.space()
    event = await factory.event(space, locales=("en", "ru"))
    await db.events.update_one({"_id": event["_id"]}, {"$set": {
        "registration": {"open": True, "capacity": None, "approval": False, "offer_hours": 24},
        "days": [{"id": "d1", "enabled": True, "title": {"en": "Day"}}]}})
    event = await with_schedule(db, event, workshop(1, item_id="w1"), workshop(1, item_id="w2"),
                                workshop(None, item_id="p1"))
    path = view.path(space, event)
    me = await factory.member(R.ATTENDEE, event=event)
    other = await factory.member(R.ATTENDEE, event=event)
    b = browser()
    await b.sign_in(me["login"], factory.PASSWORD)
    # A session saved to the programme before it got a capacity is not in it without a seat.
    await b.post(path + "/programme", {"item": "w2", "saved": "1"})
    await session_seats.take(services, event, "w2", other)

    page = (await b.get(path)).text
    tr = services.i18n.gettext("en")
    assert tr("Take a seat (%(count)s left)") % {"count": 1} in page
    assert tr("Join the waiting list") in page  # w2 is full

    r = await b.post(path + "/seat", {"item": "w1", "action": "take"}, headers={"Accept": "application/json"})
    assert r.status_code == 200
    body = r.json()
    assert body["state"] == REGISTERED and body["action"] == "give_up" and body["items"] == ["w1"]
    assert body["label"] == tr("You have a seat — give it up")
    r = await b.post(path + "/programme", {"item": "p1", "saved": "1"}, headers={"Accept": "application/json"})
    assert sorted(r.json()["items"]) == ["p1", "w1"]

    feed = icalendar.Calendar.from_ical((await b.get(path + "/programme.ics")).content)
    uids = sorted(str(c["uid"]).split("@")[0].split("-")[-1] for c in feed.walk("VEVENT"))
    assert uids == ["p1", "w1"]
    cabinet = (await b.get("/me")).text
    assert "Workshop w1" in cabinet and "Workshop w2" not in cabinet

    # Giving up without the script asks first, and changes nothing until confirmed.
    r = await b.post(path + "/seat", {"item": "w1", "action": "give_up"})
    assert r.status_code == 200 and 'name="confirm" value="yes"' in r.text
    assert (await session_seats.find(db, event["_id"], "w1", me["_id"]))["state"] == REGISTERED
    r = await b.post(path + "/seat", {"item": "w1", "action": "give_up", "confirm": "yes"})
    assert r.status_code == 302 and r.headers["location"] == path + "#item-w1"
    assert (await session_seats.find(db, event["_id"], "w1", me["_id"]))["state"] == CANCELLED
    feed = icalendar.Calendar.from_ical((await b.get(path + "/programme.ics")).content)
    assert [str(c["uid"]).split("@")[0].split("-")[-1] for c in feed.walk("VEVENT")] == ["p1"]


@pytest.mark.gen_test(timeout=60)
async def test_staff_see_counts_lists_and_a_formula_safe_csv(services, factory, db, browser):
    event = await seats_event(db, factory, capacity=1)
    persons = [await users.create(db, email=f"{n}-{secrets.token_hex(2)}@example.org", name=name)
               for n, name in (("a", "=HYPERLINK(\"x\")"), ("b", "Әлия Қасымова"))]
    await register_all(services, event, persons)
    for p in persons:
        await session_seats.take(services, event, "w1", p)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    base = f"/admin/events/{event['_id']}"
    r = await b.get(base + "/sessions/seats?item=w1")
    assert r.status_code == 200 and "Әлия Қасымова" in r.text
    assert re.search(r"1 of 1", r.text)
    r = await b.get(base + "/calendar")
    assert r.status_code == 200 and "sessions/seats?item=w1" in r.text
    r = await b.get(base + "/sessions/seats.csv?item=w1")
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    rows = r.content.decode("utf-8-sig").splitlines()
    assert rows[0] == ",".join(session_seats.CSV_COLUMNS)
    assert rows[1].split(",")[1:3] == ["\"'=HYPERLINK(\"\"x\"\")\"", "registered"]
    assert "Әлия Қасымова,waiting,1" in rows[2]
    assert (await b.get(base + "/sessions/seats?item=nope")).status_code == 404
    # An attendee is not staff.
    ab = browser()
    await ab.sign_in((await factory.member(R.ATTENDEE, event=event))["login"], factory.PASSWORD)
    assert (await ab.get(base + "/sessions/seats")).status_code == 403


@pytest.mark.gen_test(timeout=60)
async def test_the_session_capacity_is_edited_validated_and_more_seats_pass_on(services, factory, db, browser):
    event = await seats_event(db, factory, capacity=1)
    persons = await people(db, 2)
    await register_all(services, event, persons)
    await session_seats.take(services, event, "w1", persons[0])
    waiting = await session_seats.take(services, event, "w1", persons[1])
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    url = f"/admin/events/{event['_id']}/program/schedule/edit?item=w1"
    form = {"day_id": "d1", "starts": "10:00", "ends": "11:00", "title_en": "Workshop", "title_ru": "Мастерская",
            "session_form": "1", "chat": "1", "materials_after": "1"}
    before = await db.events.find_one({"_id": event["_id"]})
    for bad in ("many", "0", "-3"):
        r = await b.post(url, {**form, "capacity": bad})
        assert r.status_code == 400
    assert await db.events.find_one({"_id": event["_id"]}) == before
    r = await b.post(url, {**form, "capacity": "2"})
    assert r.status_code == 302
    stored = await db.events.find_one({"_id": event["_id"]})
    assert stored["schedule"][0]["capacity"] == 2
    assert (await seat_of(db, waiting))["state"] == OFFERED
    r = await b.post(url, {**form, "capacity": ""})
    assert (await db.events.find_one({"_id": event["_id"]}))["schedule"][0]["capacity"] is None


# --- the cabinet's recordings ------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_the_cabinet_shows_a_past_sessions_recording_only_when_allowed(services, factory, db, browser):
    space = await factory.space("rec")
    ago = datetime.datetime.now(UTC) - datetime.timedelta(days=30)
    shown = {"id": "r1", "day_id": "d1", "title": {"en": "Allowed talk"}, "speaker": "", "starts_at": ago,
             "ends_at": ago + datetime.timedelta(hours=1), "recording_url": "https://video.example/allowed",
             "recording_after": True, "materials_after": False}
    hidden = {**shown, "id": "r2", "title": {"en": "Hidden talk"}, "recording_url": "https://video.example/hidden",
              "recording_after": False}
    went = await make_event(factory, db, space, starts_in_days=-30, title={"en": "Went"}, schedule=[shown, hidden],
                            materials=[{"id": "m1", "title": {"en": "Slides"}, "url": "https://files.example/s.pdf"}])
    missed = await make_event(factory, db, space, starts_in_days=-30, title={"en": "Missed"},
                              schedule=[{**shown, "recording_url": "https://video.example/missed"}])
    me = await factory.user()
    await register_as(db, me, went)
    await register_as(db, me, missed, CANCELLED)
    b = browser()
    await b.sign_in(me["login"], factory.PASSWORD)
    html = (await b.get("/me")).text
    assert "https://video.example/allowed" in html
    assert "https://video.example/hidden" not in html and "https://video.example/missed" not in html
    # No session keeps the materials after it ended: the event page hides them, so does the cabinet.
    assert "https://files.example/s.pdf" not in html
    await db.events.update_one({"_id": went["_id"]}, {"$set": {"schedule.0.materials_after": True}})
    assert "https://files.example/s.pdf" in (await b.get("/me")).text
