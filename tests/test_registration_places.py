"""Places and the waiting list: no overbooking under a rush, exactly one promotion per freed
place across processes, offers that expire and pass on in order, and the reconciliation."""
import asyncio
import dataclasses
import datetime
import json
import os
import secrets
import sys

import pytest

import server
from accounts import users
from attendees import registry
from core.clock import utcnow
from realtime import timers
from registration import actions, places, states
from registration.model import CANCELLED, EXPIRED, OFFERED, REGISTERED, WAITING
from storage import Storage
from storage.shared import SharedClient, StoreServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def drain(services):
    while jobs := [t for t in services.background if not timers.is_timer(t)]:
        await asyncio.gather(*jobs)


async def open_event(db, factory, capacity, approval=False, offer_hours=24):
    event = await factory.event(locales=("en", "ru"))
    settings = {"open": True, "capacity": capacity, "approval": approval, "offer_hours": offer_hours}
    await db.events.update_one({"_id": event["_id"]},
                               {"$set": {"registration": settings, "privacy": {"level": "public", "emails": []}}})
    return await db.events.find_one({"_id": event["_id"]})


async def people(db, n, prefix="p"):
    tag = secrets.token_hex(3)
    return [await users.create(db, email=f"{prefix}{i}-{tag}@example.org", name=f"Person {i}") for i in range(n)]


async def register_all(services, event, persons):
    out = []
    for person in persons:
        out.append(await actions.register_signed_in(services, event, person, source="form"))
    return out


async def counter(db, event):
    return await places.counter(db, actions.target_of(event))


async def by_state(db, event, state):
    return await db.memberships.find({"scope_id": event["_id"], "state": state}).sort("position", 1).to_list(None)


# --- the rush ------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=240)
async def test_500_concurrent_registrations_for_the_last_10_places_admit_exactly_10(services, factory, io_loop):
    """Five hundred people at once, over four connections to one shared store: ten places, ten admitted."""
    store = StoreServer()
    port = await store.start()
    name = f"rush_{secrets.token_hex(3)}"
    clients = [SharedClient(f"127.0.0.1:{port}") for _ in range(4)]
    views = [dataclasses.replace(services, storage=Storage(c, c[name], "embedded-shared")) for c in clients]
    try:
        db = views[0].db
        from mongo_indexes import ensure_indexes
        await ensure_indexes(db)
        shared_factory = type(factory)(views[0])
        event = await open_event(db, shared_factory, capacity=30)
        for i in range(20):  # twenty places already taken by staff
            await registry.register(db, event, email=f"staff-{i}@example.org", name=f"Staff {i}", locale="en")
        assert (await counter(db, event))["taken"] == 20
        rush = await people(db, 500)
        done = await asyncio.gather(*(actions.register_signed_in(views[i % 4], event, p, source="one_click")
                                      for i, p in enumerate(rush)))
        for view in views:
            await drain(view)
        states_seen = [m["state"] for m in done]
        assert states_seen.count(REGISTERED) == 10
        assert states_seen.count(WAITING) == 490
        assert await db.memberships.count_documents({"scope_id": event["_id"], "state": REGISTERED}) == 30
        waiting = await by_state(db, event, WAITING)
        assert sorted(m["position"] for m in waiting) == list(range(1, 491))
        c = await counter(db, event)
        assert (c["taken"], c["waiting"]) == (30, 490)
        # Everyone got one mail saying where they stand (the mailer keeps the services' own outbox).
        assert await services.db.outbox.count_documents({"kind": "registration_registered"}) == 10
        assert await services.db.outbox.count_documents({"kind": "registration_waiting"}) == 490
        # A retry of any of them registers nobody twice.
        again = await actions.register_signed_in(views[1], event, rush[0], source="form")
        assert again["_id"] == done[0]["_id"]
        assert await db.memberships.count_documents({"scope_id": event["_id"]}) == 520
    finally:
        for c in clients:
            await c.close()
        await store.close()


# --- two processes cancelling at once --------------------------------------------------------

@pytest.mark.gen_test(timeout=180)
async def test_concurrent_cancellations_in_two_processes_promote_exactly_one_person_each(services, factory):
    """A full event, seven waiting; two server processes cancel five registrations, three of them both at once.

    Each cancellation that wins frees one place, which goes to exactly one
    waiting person, in order; a cancellation the other process won promotes nobody.
    """
    store = StoreServer()
    port = await store.start()
    address, name = f"127.0.0.1:{port}", f"two_{secrets.token_hex(3)}"
    settings = dataclasses.replace(services.settings, embedded_store_address=address, mongodb_db=name)
    mine = await server.make_services(settings)
    workers = []
    try:
        db = mine.db
        event = await open_event(db, type(factory)(mine), capacity=10)
        holders = await register_all(mine, event, await people(db, 10, "holder"))
        queue = await register_all(mine, event, await people(db, 7, "queue"))
        assert {m["state"] for m in holders} == {REGISTERED} and {m["state"] for m in queue} == {WAITING}
        await drain(mine)
        both = [str(m["_id"]) for m in holders[:3]]
        plans = [both + [str(holders[3]["_id"])], both + [str(holders[4]["_id"])]]
        for plan in plans:
            workers.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.registration_worker", address, name, str(event["_id"]), ",".join(plan),
                cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE))
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
        assert await db.memberships.count_documents({"scope_id": event["_id"], "state": CANCELLED}) == 5
        offered = await by_state(db, event, OFFERED)
        assert [m["_id"] for m in offered] == [m["_id"] for m in queue[:5]]  # the first five, in order
        assert [m["_id"] for m in await by_state(db, event, WAITING)] == [m["_id"] for m in queue[5:]]
        assert await db.audit.count_documents({"event_id": event["_id"], "action": "registration.offered"}) == 5
        assert await db.outbox.count_documents({"kind": "registration_offered"}) == 5
        c = await counter(db, event)
        assert (c["taken"], c["waiting"]) == (10, 2)
    finally:
        for w in workers:
            if w.returncode is None:
                w.kill()
                await w.wait()
        await drain(mine)
        await server.close_services(mine)
        await store.close()


# --- offers -------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_offers_expire_and_pass_the_place_on_in_order(services, factory, db):
    event = await open_event(db, factory, capacity=2, offer_hours=5)
    holders = await register_all(services, event, await people(db, 2, "h"))
    queue = await register_all(services, event, await people(db, 3, "q"))
    await actions.cancel(services, event, holders[0], actor_kind=states.ATTENDEE, actor=None)
    first = await db.memberships.find_one({"_id": queue[0]["_id"]})
    assert first["state"] == OFFERED
    deadline = first["offer_expires_at"]
    assert datetime.timedelta(hours=4, minutes=59) < deadline - first["state_at"] <= datetime.timedelta(hours=5)

    await actions.sweep(services, now=deadline - datetime.timedelta(seconds=1))  # not yet
    assert (await db.memberships.find_one({"_id": queue[0]["_id"]}))["state"] == OFFERED

    await actions.sweep(services, now=deadline + datetime.timedelta(seconds=1))
    assert (await db.memberships.find_one({"_id": queue[0]["_id"]}))["state"] == EXPIRED
    second = await db.memberships.find_one({"_id": queue[1]["_id"]})
    assert second["state"] == OFFERED
    assert (await db.memberships.find_one({"_id": queue[2]["_id"]}))["state"] == WAITING

    # Too late to accept an expired offer; the second person accepts theirs.
    expired = await db.memberships.find_one({"_id": queue[0]["_id"]})
    with pytest.raises(actions.OfferGone):
        await actions.accept_offer(services, event, expired, None)
    done = await actions.accept_offer(services, event, second, None)
    assert done["state"] == REGISTERED and "offer_expires_at" not in done
    c = await counter(db, event)
    assert (c["taken"], c["waiting"]) == (2, 1)
    await drain(services)
    kinds = [e["kind"] async for e in db.outbox.find({"to": queue[1]["email"]}).sort("_id", 1)]
    assert kinds == ["registration_waiting", "registration_offered", "registration_registered"]
    assert await db.audit.count_documents({"action": "registration.expired", "params.by": "system"}) == 1


@pytest.mark.gen_test(timeout=60)
async def test_an_offer_past_its_deadline_cannot_be_accepted_before_the_sweep(services, factory, db):
    event = await open_event(db, factory, capacity=1)
    (holder,) = await register_all(services, event, await people(db, 1, "h"))
    (waiting,) = await register_all(services, event, await people(db, 1, "w"))
    await actions.cancel(services, event, holder, actor_kind=states.STAFF, actor=None)
    await db.memberships.update_one({"_id": waiting["_id"]},
                                    {"$set": {"offer_expires_at": utcnow() - datetime.timedelta(minutes=1)}})
    stale = await db.memberships.find_one({"_id": waiting["_id"]})
    with pytest.raises(actions.OfferGone):
        await actions.accept_offer(services, event, stale, None)
    assert (await db.memberships.find_one({"_id": waiting["_id"]}))["state"] == OFFERED


# --- capacity changes, approval, staff ---------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_lowering_the_capacity_removes_nobody_and_new_registrants_wait(services, factory, db):
    event = await open_event(db, factory, capacity=5)
    holders = await register_all(services, event, await people(db, 5, "h"))
    values = actions.clean_settings(open_="1", capacity="3", approval="", offer_hours="24")
    event = await actions.update_settings(services, event, values, None)
    assert await db.memberships.count_documents({"scope_id": event["_id"], "state": REGISTERED}) == 5
    (late,) = await register_all(services, event, await people(db, 1, "late"))
    assert late["state"] == WAITING
    await actions.cancel(services, event, holders[0], actor_kind=states.ATTENDEE, actor=None)
    # Four hold places, three allowed: the waiting person still waits.
    assert (await db.memberships.find_one({"_id": late["_id"]}))["state"] == WAITING
    # Raising it again passes the new place on at once.
    event = await actions.update_settings(services, event, {**values, "capacity": 5}, None)
    assert (await db.memberships.find_one({"_id": late["_id"]}))["state"] == OFFERED


@pytest.mark.gen_test(timeout=60)
async def test_approval_and_staff_moves(services, factory, db):
    event = await open_event(db, factory, capacity=1, approval=True)
    a, b, c = await register_all(services, event, await people(db, 3))
    assert {a["state"], b["state"], c["state"]} == {"pending"}
    assert await counter(db, event) is None  # pending holds no place (no counter yet)
    assert (await actions.approve(services, event, a, None))["state"] == REGISTERED
    assert (await actions.approve(services, event, b, None))["state"] == WAITING  # full
    assert (await actions.reject(services, event, c, None))["state"] == "rejected"
    with pytest.raises(states.IllegalTransition):
        await actions.approve(services, event, await db.memberships.find_one({"_id": c["_id"]}), None)
    # Staff may give a waiting person a place beyond the capacity, on purpose.
    moved = await actions.move_from_waiting_list(services, event, await db.memberships.find_one({"_id": b["_id"]}),
                                                 None)
    assert moved["state"] == REGISTERED
    cnt = await counter(db, event)
    assert (cnt["taken"], cnt["waiting"]) == (2, 0)
    await drain(services)
    assert await db.outbox.count_documents({"to": c["email"], "kind": "registration_rejected"}) == 1


@pytest.mark.gen_test(timeout=60)
async def test_staff_registrations_take_places_and_removing_one_frees_it(services, factory, db):
    event = await open_event(db, factory, capacity=2)
    for i in range(3):  # staff overbook on purpose
        await registry.register(db, event, email=f"vip{i}@example.org", name=f"VIP {i}", locale="en")
    assert (await counter(db, event))["taken"] == 3
    staff_made = await db.memberships.find_one({"email": "vip0@example.org"})
    assert (staff_made["state"], staff_made["source"]) == (REGISTERED, "staff")
    (waiting,) = await register_all(services, event, await people(db, 1))
    assert waiting["state"] == WAITING
    for i in range(2):
        m = await db.memberships.find_one({"email": f"vip{i}@example.org"})
        await registry.remove(db, event, m["_id"])
    assert (await counter(db, event))["taken"] == 1
    # The freed place reaches the waiting person with the next sweep round.
    await actions.sweep(services)
    assert (await db.memberships.find_one({"_id": waiting["_id"]}))["state"] == OFFERED


# --- reconciliation ---------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_reconciliation_repairs_a_counter_left_wrong_by_a_crash(services, factory, db):
    event = await open_event(db, factory, capacity=3)
    holders = await register_all(services, event, await people(db, 3, "h"))
    (waiting,) = await register_all(services, event, await people(db, 1, "w"))
    # A process died between a cancellation and giving its place back.
    await states.transition(db, event, holders[0], CANCELLED, actor_kind=states.ATTENDEE)
    target = actions.target_of(event)
    assert (await counter(db, event))["taken"] == 3

    # Too soon: a registration changed a moment ago, so a half-done pair may be in flight.
    assert not await places.reconcile(db, target, event["_id"])
    assert (await counter(db, event))["taken"] == 3

    later = utcnow() + places.QUIET + datetime.timedelta(seconds=5)
    await db[places.COUNTERS].update_one({"_id": target}, {"$set": {"checked_at": utcnow() - places.RECONCILE_EVERY}})
    await actions.sweep(services, now=later)
    # Recounted (two hold places), and the place found free went to the waiting person.
    assert (await db.memberships.find_one({"_id": waiting["_id"]}))["state"] == OFFERED
    c = await counter(db, event)
    assert (c["taken"], c["waiting"]) == (3, 0)
    assert await places.recount(db, event["_id"]) == (3, 0)


@pytest.mark.gen_test(timeout=30)
async def test_reconcile_leaves_a_right_counter_alone(services, factory, db):
    event = await open_event(db, factory, capacity=3)
    await register_all(services, event, await people(db, 2))
    later = utcnow() + places.QUIET + datetime.timedelta(seconds=5)
    assert not await places.reconcile(db, actions.target_of(event), event["_id"], later)
    assert (await counter(db, event))["taken"] == 2


def test_settings_refuse_bad_numbers():
    for raw in ({"capacity": "-1"}, {"capacity": "ten"}, {"offer_hours": "0"}, {"offer_hours": "x"},
                {"capacity": str(actions.MAX_CAPACITY + 1)}):
        values = {"open_": "1", "capacity": "", "approval": "", "offer_hours": "", **raw}
        with pytest.raises(actions.SettingsError):
            actions.clean_settings(**values)
    assert actions.clean_settings(open_="1", capacity="", approval="1", offer_hours="") == \
        {"open": True, "capacity": None, "approval": True, "offer_hours": 48}



@pytest.mark.gen_test(timeout=60)
async def test_staff_register_again_a_cancelled_rejected_or_expired_registration(services, factory, db):
    event = await open_event(db, factory, capacity=1)
    staff = await factory.user()
    holder, leaver, refused, late = await people(db, 4)
    await register_all(services, event, [holder])
    first = await actions.register_signed_in(services, event, leaver, source="form",
                                             answers={"f": {"v": 1, "value": "old"}}, form_version=1)
    assert first["state"] == WAITING
    await actions.cancel(services, event, first, actor_kind=states.ATTENDEE, actor=leaver)
    (waiting,) = await register_all(services, event, [refused])
    await actions.reject(services, event, waiting, staff)
    (offered,) = await register_all(services, event, [late])
    await db.memberships.update_one({"_id": offered["_id"]}, {"$set": {"state": EXPIRED}})
    taken = (await counter(db, event))["taken"]

    for person, was in ((leaver, CANCELLED), (refused, "rejected"), (late, EXPIRED)):
        before = await actions.find(db, event["_id"], person["_id"])
        assert before["state"] == was
        again = await registry.register(db, event, email=person["email"], name="Typed By Staff", locale="ru",
                                        actor=staff)
        assert again["_id"] == before["_id"] and again["state"] == REGISTERED
        assert (again["name"], again["locales"], again["source"]) == ("Typed By Staff", ["ru"], "staff")
        assert "answers" not in again and "position" not in again
        entry = await db.audit.find_one({"action": "registration.registered", "params.registration_id":
                                         str(before["_id"]), "params.by": "staff"})
        assert entry["before"] == {"state": was} and entry["actor_id"] == staff["_id"]
    # Each took a place, beyond the capacity, as staff registrations do.
    assert (await counter(db, event))["taken"] == taken + 3
    # A registration that still counts is refused as before, nothing written.
    with pytest.raises(registry.DuplicateAttendee):
        await registry.register(db, event, email=holder["email"], locale="en", actor=staff)
    assert (await counter(db, event))["taken"] == taken + 3


@pytest.mark.parametrize("when", ["before joining", "after joining"])
@pytest.mark.gen_test(timeout=60)
async def test_a_place_freed_while_someone_joins_the_waiting_list_goes_to_them_at_once(
        services, factory, db, monkeypatch, when):
    event = await open_event(db, factory, capacity=1)
    holder, newcomer = await people(db, 2)
    (held,) = await register_all(services, event, [holder])
    join_queue = places.join_queue

    async def interleaved(db_, target, event_id):
        # The newcomer found the event full; the holder cancels right around their joining the list,
        # and the promotion that follows finds nobody waiting yet.
        if when == "before joining":
            await actions.cancel(services, event, held, actor_kind=states.ATTENDEE, actor=holder)
        position = await join_queue(db_, target, event_id)
        if when == "after joining":
            await actions.cancel(services, event, held, actor_kind=states.ATTENDEE, actor=holder)
        return position

    monkeypatch.setattr(places, "join_queue", interleaved)
    came = await actions.register_signed_in(services, event, newcomer, source="form")
    monkeypatch.setattr(places, "join_queue", join_queue)
    # No sweep needed: the free place is offered to the newcomer at once.
    assert came["state"] == OFFERED
    assert (await db.memberships.find_one({"_id": came["_id"]}))["state"] == OFFERED
    c = await counter(db, event)
    assert (c["taken"], c["waiting"]) == (1, 0)
    await drain(services)

@pytest.mark.gen_test(timeout=120)
@pytest.mark.parametrize("capacity", [None, 100])
async def test_the_first_registrations_at_once_all_get_places_while_places_are_free(services, factory, capacity):
    """The place counter is created by the first registrations: several arriving together, over
    several connections, must not take its creation by another one for a full event."""
    store = StoreServer()
    port = await store.start()
    name = f"first_{secrets.token_hex(3)}"
    clients = [SharedClient(f"127.0.0.1:{port}") for _ in range(4)]
    views = [dataclasses.replace(services, storage=Storage(c, c[name], "embedded-shared")) for c in clients]
    try:
        db = views[0].db
        from mongo_indexes import ensure_indexes
        await ensure_indexes(db)
        shared_factory = type(factory)(views[0])
        for attempt in range(5):   # five fresh events: the first moments of each are the race
            event = await open_event(db, shared_factory, capacity=capacity)
            rush = await people(db, 40, prefix=f"a{attempt}-")

            async def arrive(i, person, event=event):
                await asyncio.sleep(i * 0.0005)   # as requests do: a little apart, not in lockstep
                return await actions.register_signed_in(views[i % 4], event, person, source="form")

            done = await asyncio.gather(*(arrive(i, p) for i, p in enumerate(rush)))
            assert [m["state"] for m in done] == [REGISTERED] * 40, attempt
            c = await counter(db, event)
            assert (c["taken"], c["waiting"]) == (40, 0)
        for view in views:
            await drain(view)
    finally:
        for c in clients:
            await c.close()
        await store.close()
