"""Promo codes: the last use goes to one buyer (fifty at once in one process, and in two processes);
discounts are computed on the server in minor units (percentages round half up per ticket, a set price,
an amount never below 0); a wrong, expired, used-up or not applicable code is refused and changes nothing;
uses come back when a reservation runs out or an order ends; bulk codes and their CSV; a code that
reserves seats of its quota."""
import asyncio
import csv
import dataclasses
import datetime
import io
import json
import os
import re
import secrets
import sys

import pytest

import server
from core.clock import utcnow
from orders import actions, checkout, promo_codes, states
from orders.model import PROMO_CODES, QUOTAS
from storage.shared import StoreServer
from tests.orders_support import buyers, drain, quota, ticket_type, ticketed_event
from tests.support import error_text, translated

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCALE = "ru"


async def make_code(services, event, admin, **fields) -> dict:
    raw = {**promo_codes.blank_form(), "code": "SPRING", "value": "10", **fields}
    return await promo_codes.create(services, admin, event, await promo_codes.clean(services.db, event, raw))


async def code_doc(db, promo) -> dict:
    return await db[PROMO_CODES].find_one({"_id": promo["_id"]})


async def consistent(db, promo) -> None:
    """The code's counter equals what its holds say."""
    doc = await code_doc(db, promo)
    assert doc["used"] == sum(doc["holds"].values()) and 0 <= doc["used"] <= doc["max_uses"], doc


async def quota_doc(db, q) -> dict:
    return await db[QUOTAS].find_one({"_id": q["_id"]})


async def quota_consistent(db, q) -> None:
    doc = await quota_doc(db, q)
    assert doc["left"] == doc["size"] - sum(doc["holds"].values()), doc


async def reserve(services, event, buyer, ticket, n=1, **kwargs):
    return await checkout.reserve(services, event, buyer, {str(ticket["_id"]): str(n)}, currency="EUR", **kwargs)


async def sales(db) -> dict:
    return {name: await db[name].find({}).sort("_id", 1).to_list(None)
            for name in ("reservations", "orders", "quotas", "promo_codes", "memberships")}


async def shop(services, factory, locales=("ru", "en")):
    event, admin = await ticketed_event(services, factory, locales=locales)
    standard = await ticket_type(services, event, admin, name="Standard", prices="EUR 19.99\nRUB 1500",
                                 max_per_order="10")
    vip = await ticket_type(services, event, admin, name="VIP", prices="EUR 100.00", max_per_order="10")
    q = await quota(services, event, admin, 100, standard, vip)
    return await services.db.events.find_one({"_id": event["_id"]}), admin, standard, vip, q


# --- the last use ---------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=120)
async def test_one_use_left_and_fifty_buyers_spend_it_once(services, factory, db):
    event, admin, standard, vip, q = await shop(services, factory)
    promo = await make_code(services, event, admin, max_uses="3")
    first, *rush = await buyers(db, 51)
    held = await reserve(services, event, first, standard, 2, promo="spring")     # two of three uses gone
    order = await checkout.place(services, event, first, held["_id"], buyer_name="", method="invoice", holders=[],
                                 idempotency_key="k", locale="en")
    assert (await code_doc(db, promo))["used"] == 2 and order["promo"]["uses"] == 2

    async def attempt(buyer):
        try:
            return await reserve(services, event, buyer, standard, promo="SPRING")
        except promo_codes.PromoRefused as exc:
            return exc
    outcomes = await asyncio.gather(*(attempt(b) for b in rush))
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if not isinstance(o, dict)]
    assert len(won) == 1 and len(lost) == 49
    assert all(isinstance(o, promo_codes.UsedUp) for o in lost)
    assert won[0]["lines"][0]["discount"] == 200 and won[0]["promo"]["uses"] == 1
    doc = await code_doc(db, promo)
    assert doc["used"] == 3 and len(doc["holds"]) == 2
    await consistent(db, promo)
    # The refused buyers hold nothing: only the two reservations took tickets.
    assert (await quota_doc(db, q))["left"] == 100 - 3
    await quota_consistent(db, q)
    # The winner's reservation runs out: its use comes back, once, however often the sweep runs; the order
    # keeps its two.
    for _ in range(2):
        await actions.sweep(services, now=won[0]["expires_at"] + datetime.timedelta(seconds=1))
    doc = await code_doc(db, promo)
    assert doc["used"] == 2 and list(doc["holds"]) == [order["hold_key"]]
    await consistent(db, promo)
    # The counter itself, without the checks before it: fifty takes of the one use left, one succeeds.
    use = {"id": promo["_id"], "code": promo["code"], "uses": 1, "lend": {}}
    taken = await asyncio.gather(*(promo_codes.take(db, use, f"direct-{i}") for i in range(50)))
    assert taken.count(True) == 1
    doc = await code_doc(db, promo)
    assert doc["used"] == 3 and len(doc["holds"]) == 2
    await consistent(db, promo)
    await drain(services)


@pytest.mark.gen_test(timeout=240)
async def test_two_server_processes_never_spend_the_last_use_twice(services, factory):
    """Two server processes, twenty-five buyers each, all at once against one store: one use, one order."""
    store = StoreServer()
    port = await store.start()
    address, name = f"127.0.0.1:{port}", f"promo_{secrets.token_hex(3)}"
    settings = dataclasses.replace(services.settings, embedded_store_address=address, mongodb_db=name)
    mine = await server.make_services(settings)
    workers = []
    try:
        db = mine.db
        event, admin, standard, vip, q = await shop(mine, type(factory)(mine))
        promo = await make_code(mine, event, admin, code="LAST-ONE", max_uses="1")
        people = await buyers(db, 50)
        for plan in (people[:25], people[25:]):
            workers.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.orders_worker", address, name, str(event["_id"]), str(standard["_id"]),
                ",".join(str(b["_id"]) for b in plan), "last-one", cwd=ROOT, stdin=asyncio.subprocess.PIPE,
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
        assert outcome.count("ordered") == 1 and outcome.count("used_up") == 49
        orders = await db.orders.find({"event_id": event["_id"]}).to_list(None)
        assert len(orders) == 1 and orders[0]["lines"][0]["voucher_id"] == promo["_id"]
        assert orders[0]["total"] == 1999 - 200
        doc = await code_doc(db, promo)
        assert doc["used"] == 1 and len(doc["holds"]) == 1
        await consistent(db, promo)
        assert (await quota_doc(db, q))["left"] == 99
    finally:
        for w in workers:
            if w.returncode is None:
                w.kill()
                await w.wait()
        await drain(mine)
        await server.close_services(mine)
        await store.close()


# --- what a code does ------------------------------------------------------------------------------

def test_discounts_in_minor_units():
    percent = {"mode": promo_codes.PERCENT, "percent": 1250}
    assert promo_codes.discount(percent, 1999, "EUR") == 250        # 249.875 rounds to 250
    assert promo_codes.discount({**percent, "percent": 5000}, 1999, "EUR") == 1000   # 999.5: half up
    assert promo_codes.discount({**percent, "percent": 5000}, 1, "EUR") == 1
    assert promo_codes.discount({**percent, "percent": 3333}, 1000, "EUR") == 333    # 333.3 down
    assert promo_codes.discount({**percent, "percent": 10000}, 1999, "EUR") == 1999  # free, never below 0
    assert promo_codes.discount(percent, 0, "EUR") == 0
    amount = {"mode": promo_codes.AMOUNT, "amounts": {"EUR": 500}}
    assert promo_codes.discount(amount, 1999, "EUR") == 500
    assert promo_codes.discount(amount, 300, "EUR") == 300          # never below 0
    assert promo_codes.discount(amount, 1999, "RUB") is None        # no value in that currency
    price = {"mode": promo_codes.PRICE, "amounts": {"EUR": 1000}}
    assert promo_codes.discount(price, 1999, "EUR") == 999
    assert promo_codes.discount(price, 800, "EUR") == 0             # a set price never raises one
    for p in (percent, amount, price):
        assert isinstance(promo_codes.discount(p, 1999, "EUR"), int)


async def signed_in(factory, browser, locale=LOCALE):
    person = await factory.user(locale=locale)
    b = browser(locale=locale)
    await b.sign_in(person["login"], factory.PASSWORD)
    return person, b


@pytest.mark.gen_test(timeout=90)
async def test_the_discount_reaches_the_order_and_a_set_price_needs_its_minimum(services, factory, browser, db):
    event, admin, standard, vip, q = await shop(services, factory)
    await make_code(services, event, admin, code="TWELVE", value="12.5", max_uses="10")
    await make_code(services, event, admin, code="GROUP", mode=promo_codes.PRICE, value="EUR 70.00",
                    scope=promo_codes.TYPES, ticket_type_ids=[str(vip["_id"])], min_tickets="3", max_uses="10")
    space = await db.spaces.find_one({"_id": event["space_id"]})
    path = f"/e/{space['slug']}/{event['slug']}"
    buyer, b = await signed_in(factory, browser)
    page = await b.get(path + "/tickets?promo=twelve")
    assert page.status_code == 200 and 'name="promo" value="twelve"' in page.text
    r = await b.post(path + "/tickets", {f"qty.{standard['_id']}": "2", "currency": "EUR", "promo": " twelve "})
    assert r.status_code == 302, error_text(r.text)
    checkout_page = await b.get(r.headers["location"])
    assert 'data-total="3498"' in checkout_page.text     # 2 × (19.99 − 2.50)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', checkout_page.text).group(1)
    r = await b.post(r.headers["location"], {"idempotency_key": key, "method": "invoice"})
    assert r.status_code == 302, error_text(r.text)
    order = await db.orders.find_one({"buyer_id": buyer["_id"]})
    assert [(line["unit_price"], line["discount"], line["quantity"], line["total"]) for line in order["lines"]] \
        == [(1999, 250, 2, 3498)]
    assert order["total"] == 3498 and order["promo"]["code"] == "TWELVE"
    assert order["lines"][0]["voucher_id"] == order["promo"]["id"]

    # A set price for VIP tickets only, from three of them: two are refused, three cost 70.00 each, and the
    # standard ticket in the same order keeps its price.
    other, b2 = await signed_in(factory, browser)
    before = await sales(db)
    r = await b2.post(path + "/tickets", {f"qty.{vip['_id']}": "2", "currency": "EUR", "promo": "GROUP"})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, LOCALE, promo_codes.TooFewTickets(3).message, count=3)
    assert await sales(db) == before
    held = await checkout.reserve(services, event, other, {str(vip["_id"]): "3", str(standard["_id"]): "1"},
                                  currency="EUR", promo="group")
    assert sorted((line["unit_price"], line["discount"]) for line in held["lines"]) == [(1999, 0), (10000, 3000)]
    assert checkout.total(held["lines"]) == 3 * 7000 + 1999 and held["promo"]["uses"] == 3
    await drain(services)


@pytest.mark.gen_test(timeout=90)
async def test_bad_codes_are_refused_and_change_nothing(services, factory, browser, db):
    event, admin, standard, vip, q = await shop(services, factory)
    now = utcnow()
    fmt = "%Y-%m-%dT%H:%M"
    await make_code(services, event, admin, code="OLD", valid_until=(now - datetime.timedelta(days=1)).strftime(fmt))
    await make_code(services, event, admin, code="SOON", valid_from=(now + datetime.timedelta(days=1)).strftime(fmt))
    await make_code(services, event, admin, code="VIPONLY", scope=promo_codes.TYPES,
                    ticket_type_ids=[str(vip["_id"])])
    await make_code(services, event, admin, code="EUROS", mode=promo_codes.AMOUNT, value="EUR 5.00")
    gone = await make_code(services, event, admin, code="ONCE", max_uses="1")
    await make_code(services, event, admin, code="TWO", max_uses="2")
    someone, = await buyers(db, 1)
    await reserve(services, event, someone, standard, promo="once")          # its one use is taken
    other_event, other_admin = await ticketed_event(services, factory)
    await make_code(services, other_event, other_admin, code="ELSEWHERE")
    space = await db.spaces.find_one({"_id": event["space_id"]})
    path = f"/e/{space['slug']}/{event['slug']}"
    buyer, b = await signed_in(factory, browser)
    standard_id = str(standard["_id"])
    cases = [
        ("NOPE", {}, promo_codes.WrongCode()),
        ("ELSEWHERE", {}, promo_codes.WrongCode()),          # another event's code is unknown here
        ("OLD", {}, promo_codes.Expired()),
        ("SOON", {}, promo_codes.NotYetValid()),
        ("ONCE", {}, promo_codes.UsedUp()),
        ("TWO", {f"qty.{standard_id}": "3"}, promo_codes.TooFewUsesLeft(2)),
        ("VIPONLY", {}, promo_codes.NotApplicable()),
        ("EUROS", {"currency": "RUB"}, promo_codes.NotInCurrency("RUB")),
        ("TWO", {f"qty.{standard_id}": "-1"}, checkout.BadQuantity()),
        ("TWO", {"discount": "100"}, checkout.PriceSent()),    # a discount sent by the client
    ]
    before = await sales(db)
    for code, extra, refusal in cases:
        form = {f"qty.{standard_id}": "1", "currency": "EUR", "promo": code, **extra}
        r = await b.post(path + "/tickets", form)
        assert r.status_code == 400, (code, r.status_code)
        assert error_text(r.text) == translated(services, LOCALE, refusal.message, **refusal.params), code
        assert await sales(db) == before, code
    assert (await code_doc(db, gone))["used"] == 1
    await drain(services)


@pytest.mark.gen_test(timeout=90)
async def test_uses_come_back_when_an_order_ends(services, factory, db):
    event, admin, standard, vip, q = await shop(services, factory)
    promo = await make_code(services, event, admin, max_uses="10")
    people = await buyers(db, 3)
    placed = []
    for person in people:
        held = await reserve(services, event, person, standard, 2, promo="SPRING")
        placed.append(await checkout.place(services, event, person, held["_id"], buyer_name="", method="invoice",
                                           holders=[], idempotency_key=f"k-{person['_id']}", locale="en"))
    assert (await code_doc(db, promo))["used"] == 6
    # Cancelled by the payer, expired unpaid, refunded in full after payment: each gives its two uses back once.
    paid = await actions.mark_paid(services, placed[2]["_id"], payment_ref=None, actor=admin)
    await actions.cancel(services, event, placed[0], by=states.PAYER, actor=people[0])
    await actions.sweep(services, now=placed[1]["expires_at"] + datetime.timedelta(seconds=1))
    assert (await code_doc(db, promo))["used"] == 2
    await actions.refund(services, paid["_id"], amount=paid["total"], actor=admin, key="r1")
    for _ in range(2):
        await actions.sweep(services, now=utcnow() + datetime.timedelta(days=30))
        for order in placed:
            await actions.after_ended(services, event, await db.orders.find_one({"_id": order["_id"]}), None)
    doc = await code_doc(db, promo)
    assert doc["used"] == 0 and doc["holds"] == {}
    assert {o["state"] for o in await db.orders.find({}).to_list(None)} == {states.CANCELLED, states.EXPIRED,
                                                                            states.REFUNDED}
    await drain(services)


# --- staff ----------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=90)
async def test_staff_make_codes_one_by_one_and_in_bulk_with_csv(services, factory, browser, db):
    event, admin, standard, vip, q = await shop(services, factory, locales=("en", "ru"))
    staff = browser(locale="en")
    await staff.sign_in(admin["login"], factory.PASSWORD)
    base = f"/admin/events/{event['_id']}/promo-codes"
    assert (await staff.get(base)).status_code == 200
    form = {"code": "early-bird", "mode": "percent", "value": "150", "scope": "all", "max_uses": "5",
            "min_tickets": "1"}
    r = await staff.post(base + "/new", form)
    assert r.status_code == 400 and await db[PROMO_CODES].count_documents({}) == 0
    assert error_text(r.text) == translated(services, "en", "Enter a percentage above 0 and at most 100, such as 15 "
                                                           "or 12.5.")
    r = await staff.post(base + "/new", {**form, "value": "15"})
    assert r.status_code == 302
    made = await db[PROMO_CODES].find_one({"code": "EARLY-BIRD"})
    assert made["percent"] == 1500 and made["state"] == promo_codes.ACTIVE
    r = await staff.post(base + "/new", {**form, "value": "15"})      # the same code twice in one event
    assert r.status_code == 400 and await db[PROMO_CODES].count_documents({}) == 1

    r = await staff.post(base + "/bulk", {"count": "25", "prefix": "partner-", "mode": "amount",
                                          "value": "EUR 5.00", "scope": "types", "ticket_type_ids": [str(vip["_id"])],
                                          "max_uses": "1", "min_tickets": "1"})
    assert r.status_code == 302, error_text(r.text)
    batch = re.search(r"batch=([^&]+)", r.headers["location"]).group(1)
    codes = await db[PROMO_CODES].find({"batch": batch}).to_list(None)
    assert len(codes) == 25 and len({c["code"] for c in codes}) == 25
    assert all(re.fullmatch(r"PARTNER-[A-Z2-9]{8}", c["code"]) for c in codes)
    assert all(c["amounts"] == {"EUR": 500} and c["ticket_type_ids"] == [vip["_id"]] for c in codes)
    listed = await staff.get(r.headers["location"])
    assert listed.status_code == 200 and codes[0]["code"] in listed.text
    exported = await staff.get(f"{base}.csv?batch={batch}")
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == promo_codes.EXPORT_COLUMNS
    assert sorted(row[0] for row in rows[1:]) == sorted(c["code"] for c in codes)
    assert all(row[3] == "1" and row[4] == "0" for row in rows[1:])
    everything = await staff.get(f"{base}.csv")
    assert len(list(csv.reader(io.StringIO(everything.content.decode("utf-8-sig"))))) == 27
    assert await db.audit.find_one({"action": "promo_codes.export"})

    # A used code keeps its uses: fewer are refused; it cannot be deleted; an unused one can, after confirming.
    buyer, = await buyers(db, 1)
    await reserve(services, event, buyer, standard, 2, promo="early-bird")
    edit = f"{base}/{made['_id']}"
    page = await staff.get(edit)
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    r = await staff.post(edit, {**form, "value": "15", "code": "EARLY-BIRD", "max_uses": "1", "version": version})
    assert r.status_code == 400
    assert (await db[PROMO_CODES].find_one({"_id": made["_id"]}))["max_uses"] == 5
    r = await staff.post(edit + "/delete", {"confirm": "yes"})
    assert r.status_code == 409 and await db[PROMO_CODES].find_one({"_id": made["_id"]})
    unused = codes[0]
    r = await staff.post(f"{base}/{unused['_id']}/delete", {})
    assert r.status_code == 200 and 'name="confirm" value="yes"' in r.text
    assert await db[PROMO_CODES].find_one({"_id": unused["_id"]})
    r = await staff.post(f"{base}/{unused['_id']}/delete", {"confirm": "yes"})
    assert r.status_code == 302 and await db[PROMO_CODES].find_one({"_id": unused["_id"]}) is None
    await drain(services)


# --- a code that reserves seats -------------------------------------------------------------------

@pytest.mark.gen_test(timeout=90)
async def test_a_code_that_reserves_seats_keeps_them_for_its_buyers(services, factory, db):
    event, admin = await ticketed_event(services, factory)
    ticket = await ticket_type(services, event, admin, name="Standard", max_per_order="10")
    q = await quota(services, event, admin, 10, ticket)
    event = await db.events.find_one({"_id": event["_id"]})
    fields = {"scope": promo_codes.QUOTA, "quota_id": str(q["_id"]), "reserve": "1", "max_uses": "3"}
    # More seats than the quota has left are refused, and nothing is stored.
    with pytest.raises(promo_codes.PromoCodeError):
        await make_code(services, event, admin, code="HUGE", **{**fields, "max_uses": "11"})
    assert await db[PROMO_CODES].count_documents({}) == 0 and (await quota_doc(db, q))["left"] == 10
    soon = (utcnow() + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    promo = await make_code(services, event, admin, code="SPEAKERS", valid_until=soon, **fields)
    key = promo_codes.hold_key(promo)
    assert (await quota_doc(db, q))["left"] == 7 and (await quota_doc(db, q))["holds"][key] == 3

    # The public buys the seven others; the eighth is sold out for them.
    people = await buyers(db, 10)
    for person in people[:7]:
        await reserve(services, event, person, ticket)
    with pytest.raises(checkout.SoldOut):
        await reserve(services, event, people[7], ticket)
    # The code's holders still get theirs, from the code's seats.
    mine = await reserve(services, event, people[8], ticket, 2, promo="speakers")
    doc = await quota_doc(db, q)
    assert doc["left"] == 0 and doc["holds"][key] == 1 and doc["lent"][str(mine["_id"])] == {"from": key, "n": 2}
    await quota_consistent(db, q)
    with pytest.raises(promo_codes.TooFewUsesLeft):
        await reserve(services, event, people[9], ticket, 2, promo="speakers")
    # An order of the code that ends gives its seats back to the code, not to the public.
    order = await checkout.place(services, event, people[8], mine["_id"], buyer_name="", method="invoice",
                                 holders=[], idempotency_key="k", locale="en")
    await actions.cancel(services, event, order, by=states.STAFF, actor=admin)
    doc = await quota_doc(db, q)
    assert doc["left"] == 0 and doc["holds"][key] == 3 and (await code_doc(db, promo))["used"] == 0
    await quota_consistent(db, q)
    # Used again, then the code expires: its unspent seats go back on sale, what its buyer holds stays held,
    # and that ticket goes back to the public when it ends.
    again = await reserve(services, event, people[9], ticket, 1, promo="speakers")
    for _ in range(2):
        await promo_codes.sweep(services, now=utcnow() + datetime.timedelta(days=3, minutes=5))
    doc = await quota_doc(db, q)
    assert key not in doc["holds"] and doc["left"] == 2 and (await code_doc(db, promo))["seats_released"]
    await quota_consistent(db, q)
    await actions.sweep(services, now=again["expires_at"] + datetime.timedelta(days=5))
    doc = await quota_doc(db, q)
    assert doc["left"] == 10 and doc["holds"] == {}
    # A reserving code never used gives its seats back when deleted.
    other = await make_code(services, event, admin, code="PRESS", **fields)
    assert (await quota_doc(db, q))["left"] == 7
    await promo_codes.remove(services, admin, event, other)
    assert (await quota_doc(db, q))["left"] == 10 and await db[PROMO_CODES].find_one({"_id": other["_id"]}) is None
    await drain(services)
