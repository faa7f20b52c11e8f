"""Quotas: the last ticket is never sold twice, under a rush in one process and in two; what expires,
is cancelled or refunded goes back on sale; a crash between two quotas leaks nothing; a type in two
quotas stops selling when either is full."""
import asyncio
import dataclasses
import datetime
import json
import os
import secrets
import sys

import pytest

import server
from core.clock import utcnow
from orders import actions, checkout, quotas, states
from orders.model import LEASE, QUOTAS, RESERVATIONS
from storage import Storage
from storage.shared import SharedClient, StoreServer
from tests.orders_support import buyers, drain, quota, reload, ticket_type, ticketed_event

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def left(db, q) -> int:
    return (await db[QUOTAS].find_one({"_id": q["_id"]}))["left"]


async def consistent(db, q) -> None:
    """The quota's counter equals its size less what its holds say."""
    doc = await db[QUOTAS].find_one({"_id": q["_id"]})
    assert doc["left"] == doc["size"] - sum(doc["holds"].values()), doc


async def buy_one(services, event, buyer, ticket, **kwargs):
    return await checkout.reserve(services, event, buyer, {str(ticket["_id"]): "1"}, currency="EUR", **kwargs)


# --- the rush --------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=240)
async def test_200_concurrent_reservations_for_10_tickets_hold_exactly_10(services, factory):
    """Two hundred buyers at once, over four connections to one shared store: ten tickets, ten held."""
    store = StoreServer()
    port = await store.start()
    name = f"tix_{secrets.token_hex(3)}"
    clients = [SharedClient(f"127.0.0.1:{port}") for _ in range(4)]
    views = [dataclasses.replace(services, storage=Storage(c, c[name], "embedded-shared")) for c in clients]
    try:
        db = views[0].db
        from mongo_indexes import ensure_indexes
        await ensure_indexes(db)
        event, admin = await ticketed_event(views[0], type(factory)(views[0]))
        ticket = await ticket_type(views[0], event, admin)
        q = await quota(views[0], event, admin, 10, ticket)
        rush = await buyers(db, 200)

        async def attempt(i, buyer):
            try:
                return await buy_one(views[i % 4], event, buyer, ticket)
            except checkout.SoldOut:
                return None

        done = await asyncio.gather(*(attempt(i, b) for i, b in enumerate(rush)))
        held = [r for r in done if r is not None]
        assert len(held) == 10
        assert await left(db, q) == 0
        await consistent(db, q)
        assert await db[RESERVATIONS].count_documents({"state": checkout.HELD}) == 10
        # A refused buyer wrote nothing, or a reservation refused and released (those who read room
        # just before it ran out); none is left taking or holding.
        assert await db[RESERVATIONS].count_documents({"state": {"$nin": [checkout.HELD, checkout.REFUSED]}}) == 0
        assert await db[RESERVATIONS].count_documents({"state": checkout.REFUSED, "released": False}) == 0
        # The ten place their orders; retried, each still makes one.
        for i, r in enumerate(held):
            buyer = next(b for b in rush if b["_id"] == r["buyer_id"])
            for _ in range(2):
                await checkout.place(views[i % 4], event, buyer, r["_id"], buyer_name="", method="card",
                                     holders=[], idempotency_key=f"key-{i}", locale="en")
        assert await db.orders.count_documents({"event_id": event["_id"]}) == 10
        assert await left(db, q) == 0
        await consistent(db, q)
        for view in views:
            await drain(view)
    finally:
        for c in clients:
            await c.close()
        await store.close()


@pytest.mark.gen_test(timeout=240)
async def test_two_server_processes_never_sell_the_last_ticket_twice(services, factory):
    """Two server processes, sixty buyers each, all at once against one store: ten tickets, ten orders."""
    store = StoreServer()
    port = await store.start()
    address, name = f"127.0.0.1:{port}", f"two_{secrets.token_hex(3)}"
    settings = dataclasses.replace(services.settings, embedded_store_address=address, mongodb_db=name)
    mine = await server.make_services(settings)
    workers = []
    try:
        db = mine.db
        event, admin = await ticketed_event(mine, type(factory)(mine))
        ticket = await ticket_type(mine, event, admin)
        q = await quota(mine, event, admin, 10, ticket)
        people = await buyers(db, 120)
        plans = [people[:60], people[60:]]
        for plan in plans:
            workers.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.orders_worker", address, name, str(event["_id"]), str(ticket["_id"]),
                ",".join(str(b["_id"]) for b in plan), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE))
        for w in workers:
            assert (await asyncio.wait_for(w.stdout.readline(), 60)).strip() == b"ready"
        for w in workers:  # go, both together
            w.stdin.write(b"go\n")
            await w.stdin.drain()
        results = [json.loads(await asyncio.wait_for(w.stdout.readline(), 120)) for w in workers]
        for w in workers:
            assert await w.wait() == 0
        outcome = [r for result in results for r in result.values()]
        assert outcome.count("ordered") == 10 and outcome.count("sold_out") == 110
        assert await db.orders.count_documents({"event_id": event["_id"], "state": states.PENDING}) == 10
        assert await left(db, q) == 0
        await consistent(db, q)
    finally:
        for w in workers:
            if w.returncode is None:
                w.kill()
                await w.wait()
        await drain(mine)
        await server.close_services(mine)
        await store.close()


# --- what goes back on sale ----------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_an_expired_reservation_gives_its_tickets_back(services, factory, db):
    event, admin = await ticketed_event(services, factory)
    ticket = await ticket_type(services, event, admin, max_per_order="5")
    q = await quota(services, event, admin, 3, ticket)
    first, second = await buyers(db, 2)
    r = await checkout.reserve(services, event, first, {str(ticket["_id"]): "3"}, currency="EUR")
    assert await left(db, q) == 0
    with pytest.raises(checkout.SoldOut):
        await buy_one(services, event, second, ticket)
    # Before its deadline the sweep leaves it alone; after, its tickets are back (once, however often swept).
    await actions.sweep(services, now=r["expires_at"] - datetime.timedelta(seconds=1))
    assert await left(db, q) == 0
    for _ in range(2):
        await actions.sweep(services, now=r["expires_at"] + datetime.timedelta(seconds=1))
    assert await left(db, q) == 3
    await consistent(db, q)
    assert (await reload(db, r, RESERVATIONS))["state"] == checkout.RELEASED
    # Too late to order it; the tickets are someone else's now.
    with pytest.raises(checkout.ReservationGone):
        await checkout.place(services, event, first, r["_id"], buyer_name="", method="card", holders=[],
                             idempotency_key="late", locale="en")
    await buy_one(services, event, second, ticket)
    assert await left(db, q) == 2
    await drain(services)


@pytest.mark.gen_test(timeout=60)
async def test_a_crash_between_two_quotas_leaks_nothing(services, factory, db):
    """A process dies after taking quota A and before quota B: once its lease is over, the sweep gives A back."""
    event, admin = await ticketed_event(services, factory)
    ticket = await ticket_type(services, event, admin)
    a = await quota(services, event, admin, 5, ticket, name="A")
    b = await quota(services, event, admin, 5, ticket, name="B")
    buyer, = await buyers(db, 1)
    real_take = quotas.take
    calls = []

    async def dies_at_the_second(db_, quota_id, key, n, lend=None):
        calls.append(quota_id)
        if len(calls) == 2:
            raise RuntimeError("the process died here")
        return await real_take(db_, quota_id, key, n, lend)

    quotas.take = dies_at_the_second
    try:
        with pytest.raises(RuntimeError):
            await buy_one(services, event, buyer, ticket)
    finally:
        quotas.take = real_take
    assert sorted([await left(db, a), await left(db, b)]) == [4, 5]   # one taken, the other not
    stuck = await db[RESERVATIONS].find_one({"buyer_id": buyer["_id"]})
    assert stuck["state"] == checkout.TAKING and set(stuck["quotas"]) == {str(a["_id"]), str(b["_id"])}
    # Within the lease the process might still be working: left alone.
    await actions.sweep(services, now=utcnow())
    assert sorted([await left(db, a), await left(db, b)]) == [4, 5]
    await actions.sweep(services, now=utcnow() + LEASE + datetime.timedelta(seconds=1))
    assert (await left(db, a), await left(db, b)) == (5, 5)
    await consistent(db, a)
    await consistent(db, b)
    assert (await reload(db, stuck, RESERVATIONS))["released"] is True
    await drain(services)


@pytest.mark.gen_test(timeout=60)
async def test_cancel_refund_and_expiry_give_the_tickets_back(services, factory, db):
    event, admin = await ticketed_event(services, factory)
    ticket = await ticket_type(services, event, admin, max_per_order="2")
    q = await quota(services, event, admin, 6, ticket)
    people = await buyers(db, 3)
    orders = []
    for i, buyer in enumerate(people):
        r = await checkout.reserve(services, event, buyer, {str(ticket["_id"]): "2"}, currency="EUR")
        orders.append(await checkout.place(services, event, buyer, r["_id"], buyer_name="", method="invoice",
                                           holders=[], idempotency_key=f"k{i}", locale="en"))
    assert await left(db, q) == 0
    # Cancelled (pending): back on sale, once however often it is asked.
    await actions.cancel(services, event, orders[0], by=states.PAYER, actor=people[0])
    with pytest.raises(states.OrderError):
        await actions.cancel(services, event, orders[0], by=states.PAYER, actor=people[0])
    assert await left(db, q) == 2
    # Paid by hand, then refunded in part (money only: the tickets stay), then in full: back on sale.
    paid = await actions.mark_paid(services, orders[1]["_id"], payment_ref="bank-1", actor=admin, why="transfer")
    assert paid["state"] == states.PAID
    assert (await actions.mark_paid(services, orders[1]["_id"], payment_ref="bank-1", actor=admin))["version"] \
        == paid["version"]
    part = await actions.refund(services, paid["_id"], amount=1000, actor=admin, why="goodwill", key="r1")
    assert part["state"] == states.PARTIALLY_REFUNDED and part["refunded_amount"] == 1000
    assert (await actions.refund(services, paid["_id"], amount=1000, actor=admin, key="r1"))["refunded_amount"] == 1000
    assert await left(db, q) == 2
    full = await actions.refund(services, paid["_id"], amount=2000, actor=admin, key="r2")
    assert full["state"] == states.REFUNDED and full["refunded_amount"] == 3000
    assert await left(db, q) == 4
    # Unpaid past its deadline: the sweep expires it.
    await actions.sweep(services, now=orders[2]["expires_at"] + datetime.timedelta(seconds=1))
    assert (await reload(db, orders[2], "orders"))["state"] == states.EXPIRED
    assert await left(db, q) == 6
    await consistent(db, q)
    logged = (await reload(db, orders[1], "orders"))["log"]
    assert [e["after"] for e in logged] == [states.PENDING, states.PAID, states.PARTIALLY_REFUNDED, states.REFUNDED]
    assert [e["by"] for e in logged[1:]] == [states.STAFF] * 3 and logged[1]["why"] == "transfer"
    audited = await db.audit.find({"params.order_id": str(orders[1]["_id"])}).sort("_id", 1).to_list(None)
    assert [e["action"] for e in audited] == ["order.placed", "order.paid", "order.partially_refunded",
                                              "order.refunded"]
    await drain(services)


@pytest.mark.gen_test(timeout=60)
async def test_a_type_in_two_quotas_stops_selling_when_either_is_full(services, factory, db):
    event, admin = await ticketed_event(services, factory)
    day = await ticket_type(services, event, admin, name="Day pass")
    full = await ticket_type(services, event, admin, name="Full pass")
    venue = await quota(services, event, admin, 5, day, full, name="Venue")
    passes = await quota(services, event, admin, 2, full, name="Full passes")
    people = await buyers(db, 6)
    await buy_one(services, event, people[0], full)
    await buy_one(services, event, people[1], full)
    # The full passes' own quota is full while the venue still has room: no third full pass.
    with pytest.raises(checkout.SoldOut) as refused:
        await buy_one(services, event, people[2], full)
    assert refused.value.params["name"] == "Full pass"
    assert (await left(db, venue), await left(db, passes)) == (3, 0)
    # Day passes sell until the venue is full, and then neither sells.
    for person in people[2:5]:
        await buy_one(services, event, person, day)
    assert await left(db, venue) == 0
    with pytest.raises(checkout.SoldOut):
        await buy_one(services, event, people[5], day)
    await consistent(db, venue)
    await consistent(db, passes)
    await drain(services)
