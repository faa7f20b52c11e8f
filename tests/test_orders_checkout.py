"""Checkout over HTTP: bad input changes nothing and says why in the buyer's language; prices come from the
server; a retried "place order" makes one order; a free ticket is paid at once and reaches its holder."""
import re

import pytest
from bson import ObjectId

from orders import checkout, states
from tests.orders_support import drain, quota, ticket_type, ticketed_event
from tests.support import error_text, translated

LOCALE = "ru"


async def shop(services, factory):
    event, admin = await ticketed_event(services, factory, locales=("ru", "en"))
    standard = await ticket_type(services, event, admin, name="Standard", max_per_order="3")
    secret = await ticket_type(services, event, admin, name="Press", visibility="hidden", code="PRESS-2026")
    free = await ticket_type(services, event, admin, name="Free", prices="EUR 0")
    q = await quota(services, event, admin, 20, standard, secret)
    db = services.db
    event = await db.events.find_one({"_id": event["_id"]})
    space = await db.spaces.find_one({"_id": event["space_id"]})
    return event, admin, {"standard": standard, "secret": secret, "free": free, "quota": q}, \
        f"/e/{space['slug']}/{event['slug']}"


async def signed_in(factory, browser, locale=LOCALE):
    person = await factory.user(locale=locale)
    b = browser(locale=locale)
    await b.sign_in(person["login"], factory.PASSWORD)
    return person, b


async def state_of_sales(db) -> dict:
    return {name: await db[name].find({}, {"_id": 1, "state": 1, "left": 1, "holds": 1}).sort("_id", 1).to_list(None)
            for name in ("reservations", "orders", "quotas", "memberships")}


async def checkout_form(b, url: str) -> dict:
    page = await b.get(url)
    assert page.status_code == 200, page.text[:500]
    return {"idempotency_key": re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)}


@pytest.mark.gen_test(timeout=90)
async def test_bad_choices_change_nothing_and_say_why(services, factory, browser, db):
    event, admin, types, path = await shop(services, factory)
    other_event, other_admin = await ticketed_event(services, factory)
    foreign = await ticket_type(services, other_event, other_admin, name="Elsewhere")
    person, b = await signed_in(factory, browser)
    standard, secret = str(types["standard"]["_id"]), str(types["secret"]["_id"])
    cases = [
        ({f"qty.{standard}": "-1"}, checkout.BadQuantity()),
        ({f"qty.{standard}": "0"}, checkout.NothingChosen()),
        ({f"qty.{standard}": "lots"}, checkout.BadQuantity()),
        ({f"qty.{standard}": "4"}, checkout.AboveMax("Standard", 3)),
        ({f"qty.{standard}": "1", "price": "0"}, checkout.PriceSent()),
        ({f"qty.{standard}": "1", f"price.{standard}": "1"}, checkout.PriceSent()),
        ({f"qty.{ObjectId()}": "1"}, checkout.UnknownType()),
        ({"qty.not-an-id": "1"}, checkout.UnknownType()),
        ({f"qty.{foreign['_id']}": "1"}, checkout.UnknownType()),
        ({f"qty.{secret}": "1"}, checkout.NeedsCode()),
        ({f"qty.{secret}": "1", "code": "WRONG"}, checkout.NeedsCode()),
        ({f"qty.{standard}": "1", "currency": "RUB"}, checkout.NoPrice("Standard", "RUB")),
    ]
    before = await state_of_sales(db)
    for form, refusal in cases:
        r = await b.post(path + "/tickets", {"currency": "EUR", **form})
        assert r.status_code == 400, (form, r.status_code)
        assert error_text(r.text) == translated(services, LOCALE, refusal.message, **refusal.params), form
        assert await state_of_sales(db) == before, form
    # Visitors are asked to sign in; nothing is held for them.
    r = await browser().post(path + "/tickets", {f"qty.{standard}": "1", "currency": "EUR"})
    assert r.status_code == 403 and await state_of_sales(db) == before
    # With its code the hidden type is shown and sold.
    page = await b.get(path + "/tickets?code=press-2026")
    assert "Press" in page.text and "Press" not in (await b.get(path + "/tickets")).text
    r = await b.post(path + "/tickets", {f"qty.{secret}": "1", "code": "press-2026", "currency": "EUR"})
    assert r.status_code == 302 and "/checkout/" in r.headers["location"]


@pytest.mark.gen_test(timeout=90)
async def test_prices_come_from_the_server_and_a_retried_order_is_one(services, factory, browser, db):
    event, admin, types, path = await shop(services, factory)
    person, b = await signed_in(factory, browser)
    r = await b.post(path + "/tickets", {f"qty.{types['standard']['_id']}": "2", "currency": "EUR"})
    assert r.status_code == 302
    url = r.headers["location"]
    form = await checkout_form(b, url)
    holders = {"holder_email.0": "ivan@example.org", "holder_name.0": "Иван", "holder_locale.0": "ru"}
    # A price in the order form is refused too, and places nothing.
    r = await b.post(url, {**form, **holders, "method": "card", "total": "1"})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, LOCALE, checkout.PriceSent().message)
    assert await db.orders.count_documents({}) == 0
    # The same address for both tickets is refused: one person, one ticket.
    r = await b.post(url, {**form, **holders, "holder_email.1": "ivan@example.org", "method": "card"})
    assert r.status_code == 400 and await db.orders.count_documents({}) == 0
    # Placed, then placed again (a double click, a retry after a lost answer): one order.
    first = await b.post(url, {**form, **holders, "method": "invoice"})
    again = await b.post(url, {**form, **holders, "method": "invoice"})
    assert first.status_code == again.status_code == 302
    assert first.headers["location"] == again.headers["location"]
    assert await db.orders.count_documents({}) == 1
    order = await db.orders.find_one({})
    assert order["total"] == 3000 and order["currency"] == "EUR"
    assert [(line["unit_price"], line["quantity"], line["discount"], line["voucher_id"]) for line in order["lines"]] \
        == [(1500, 2, 0, None)]
    assert order["state"] == states.PENDING and order["method"] == "invoice"
    assert order["tickets"][0]["holder"] == {"email": "ivan@example.org", "name": "Иван", "locale": "ru"}
    assert order["tickets"][1]["holder"] is None
    # The payer sees it; nobody else does, nor can they act on it.
    page = await b.get(first.headers["location"])
    assert page.status_code == 200 and order["code"] in page.text
    stranger, sb = await signed_in(factory, browser)
    before = await state_of_sales(db)
    for r in (await sb.get(f"/me/orders/{order['_id']}"),
              await sb.post(f"/me/orders/{order['_id']}/holders", {"ticket": "t2", "email": "x@example.org"}),
              await sb.post(f"/me/orders/{order['_id']}/cancel", {"confirm": "yes"}),
              await sb.get(url)):
        assert r.status_code == 404
        assert error_text(r.text) in (translated(services, LOCALE, "This order does not exist."),
                                      translated(services, LOCALE, checkout.NotFound().message))
    assert await state_of_sales(db) == before
    await drain(services)


@pytest.mark.gen_test(timeout=90)
async def test_a_free_ticket_is_paid_at_once_and_reaches_its_holder(services, factory, browser, db):
    event, admin, types, path = await shop(services, factory)
    person, b = await signed_in(factory, browser, locale="en")
    r = await b.post(path + "/tickets", {f"qty.{types['free']['_id']}": "1", "currency": "EUR"})
    url = r.headers["location"]
    form = await checkout_form(b, url)
    r = await b.post(url, {**form, "holder_email.0": "olga@example.org", "holder_name.0": "Ольга",
                           "holder_locale.0": "ru"})
    assert r.status_code == 302
    await drain(services)
    order = await db.orders.find_one({})
    assert order["state"] == states.PAID and order["method"] == "free" and order["total"] == 0
    holder = await db.users.find_one({"email": "olga@example.org"})
    assert holder is not None and holder["password_hash"] is None
    registration = await db.memberships.find_one({"user_id": holder["_id"], "scope_id": event["_id"]})
    assert registration["state"] == "registered" and registration["ticket_type_id"] == types["free"]["_id"]
    assert registration["order_id"] == order["_id"] and registration["ticket_id"] == "t1"
    mail = await db.outbox.find_one({"to": "olga@example.org", "kind": "order_ticket"})
    assert mail["subject"] == translated(services, "ru", "Your ticket for %(event)s",
                                         event=event["title"]["ru"]).replace("&#34;", '"')
    # The outbox keeps the sign-in link hidden; only the holder's own copy has it.
    assert "/signin/link/" not in mail["text"] and "/signin/link/" in mail["full"]["text"]
    receipt = await db.outbox.find_one({"to": person["email"], "kind": "order_receipt"})
    assert receipt is not None and order["code"] in receipt["subject"]
    # Registering for a ticketed event is getting a ticket.
    r = await b.get(path + "/register")
    assert r.status_code == 302 and r.headers["location"].endswith("/tickets")
