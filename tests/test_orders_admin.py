"""The staff side of tickets: ticket types and quotas from their forms, the orders list (search, filters, CSV)
and an order's page (mark paid, refund in part and in full, each confirmed and logged)."""
import csv
import io

import pytest

from orders import checkout, states
from tests.orders_support import buyers, drain, ticketed_event
from tests.support import error_text, translated


async def staff(factory, browser, admin):
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    return b


@pytest.mark.gen_test(timeout=90)
async def test_ticket_types_and_quotas_from_their_forms(services, factory, browser, db):
    event, admin = await ticketed_event(services, factory, locales=("en", "ru"))
    b = await staff(factory, browser, admin)
    base = f"/admin/events/{event['_id']}"
    assert (await b.get(base + "/tickets")).status_code == 200
    form = {"name.en": "Early bird", "name.ru": "Ранняя пташка", "prices": "EUR 12.50\nRUB 1200",
            "visibility": "public", "min_per_order": "1", "max_per_order": "4", "channels_all": "1",
            "sessions_all": "1", "recordings": "1", "features": ["chat", "questions"]}
    # Too precise an amount, a hidden type without its code, no name: refused, nothing stored.
    for bad, message, params in (
            ({"prices": "EUR 12.505"}, "%(currency)s amounts have at most %(places)s digits after the point.",
             {"currency": "EUR", "places": 2}),
            ({"visibility": "hidden"}, "A hidden ticket type needs a code: buyers see it only with the code.", {}),
            ({"name.en": ""}, "Enter the name in the event's default language.", {})):
        r = await b.post(base + "/tickets/new", {**form, **bad})
        assert r.status_code == 400 and error_text(r.text) == translated(services, "en", message, **params)
    assert await db.ticket_types.count_documents({}) == 0
    assert not (await db.events.find_one({"_id": event["_id"]})).get("ticketed")
    r = await b.post(base + "/tickets/new", form)
    assert r.status_code == 302
    stored = await db.ticket_types.find_one({})
    assert stored["prices"] == {"EUR": 1250, "RUB": 120000} and stored["max_per_order"] == 4
    assert stored["grants"] == {"channels": None, "sessions": None, "recordings": True,
                                "features": ["chat", "questions"]}
    assert (await db.events.find_one({"_id": event["_id"]}))["ticketed"] is True
    # Two staff editing at once: the second is told, nothing of theirs is written.
    edit = f"{base}/tickets/{stored['_id']}"
    assert (await b.get(edit)).status_code == 200
    assert (await b.post(edit, {**form, "name.en": "Early", "version": "1"})).status_code == 302
    r = await b.post(edit, {**form, "name.en": "Late", "version": "1"})
    assert r.status_code == 409
    assert (await db.ticket_types.find_one({}))["name"]["en"] == "Early"
    # A quota over it.
    r = await b.post(base + "/quotas/new", {"name": "Hall", "size": "100", "types": [str(stored["_id"])]})
    assert r.status_code == 302
    q = await db.quotas.find_one({})
    assert (q["size"], q["left"], q["ticket_type_ids"]) == (100, 100, [stored["_id"]])
    r = await b.post(f"{base}/quotas/{q['_id']}", {"name": "Hall", "size": "80", "types": [str(stored["_id"])],
                                                    "version": "1"})
    assert r.status_code == 302 and (await db.quotas.find_one({}))["left"] == 80
    assert await db.audit.count_documents({"action": {"$in": ["ticket_type.create", "ticket_type.update",
                                                              "quota.create", "quota.update"]}}) == 4


@pytest.mark.gen_test(timeout=90)
async def test_orders_list_csv_and_an_orders_page(services, factory, browser, db):
    event, admin = await ticketed_event(services, factory, locales=("en",))
    b = await staff(factory, browser, admin)
    base = f"/admin/events/{event['_id']}"
    await b.post(base + "/tickets/new", {"name.en": "Standard", "prices": "EUR 10", "visibility": "public",
                                         "channels_all": "1", "sessions_all": "1", "features": ["chat"]})
    standard = await db.ticket_types.find_one({})
    event = await db.events.find_one({"_id": event["_id"]})
    alice, bob = await buyers(db, 2)
    made = []
    for person, name in ((alice, "=HYPERLINK(1)"), (bob, "Bob")):
        r = await checkout.reserve(services, event, person, {str(standard["_id"]): "2"}, currency="EUR")
        made.append(await checkout.place(services, event, person, r["_id"], buyer_name=name, method="invoice",
                                         holders=[], idempotency_key=str(person["_id"]), locale="en"))
    listing = await b.get(base + "/orders")
    assert listing.status_code == 200 and made[0]["code"] in listing.text and made[1]["code"] in listing.text
    found = await b.get(base + f"/orders?q={bob['email']}")
    assert made[1]["code"] in found.text and made[0]["code"] not in found.text
    found = await b.get(base + f"/orders?q={made[0]['code'].lower()}")
    assert made[0]["code"] in found.text and made[1]["code"] not in found.text
    assert made[0]["code"] not in (await b.get(base + "/orders?state=paid")).text
    export = await b.get(base + f"/orders.csv?q={alice['email']}")
    assert export.status_code == 200 and export.text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert [r["code"] for r in rows] == [made[0]["code"]] * 2   # one row per ticket
    assert rows[0]["total_minor"] == "2000" and rows[0]["total"] == "20.00" and rows[0]["currency"] == "EUR"
    assert rows[0]["buyer_name"] == "'=HYPERLINK(1)"   # a formula stays text

    # Mark paid by hand, then refunds: in part (money only), a bad amount refused, then the rest.
    page = f"{base}/orders/{made[1]['_id']}"
    assert (await b.post(page + "/mark-paid", {"confirm": "yes", "why": "transfer"})).status_code == 302
    r = await b.post(page + "/refund", {"amount": "5.00", "why": "goodwill", "key": "k1"})
    assert r.status_code == 200 and 'name="confirm" value="yes"' in r.text   # asks first
    r = await b.post(page + "/refund", {"amount": "5.00", "why": "goodwill", "key": "k1", "confirm": "yes"})
    assert r.status_code == 302
    r = await b.post(page + "/refund", {"amount": "5.00", "why": "goodwill", "key": "k1", "confirm": "yes"})
    assert r.status_code == 302   # the same refund sent again counts once
    order = await db.orders.find_one({"_id": made[1]["_id"]})
    assert order["state"] == states.PARTIALLY_REFUNDED and order["refunded_amount"] == 500
    r = await b.post(page + "/refund", {"amount": "50", "key": "k2", "confirm": "yes"})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "en", "Refund an amount above zero and at most %(most)s.",
                                            most="€15.00")
    r = await b.post(page + "/refund", {"amount": "", "key": "k3", "confirm": "yes", "why": "event moved"})
    assert r.status_code == 302
    order = await db.orders.find_one({"_id": made[1]["_id"]})
    assert order["state"] == states.REFUNDED and order["refunded_amount"] == 2000
    shown = await b.get(page)
    assert "goodwill" in shown.text and "event moved" in shown.text and "transfer" in shown.text
    await drain(services)
