"""Orders paid through the payments package, against a real localstripe and its signed notifications.

A card order sends its payer to the payment's page; the order becomes paid
only when Stripe's signed notification says so (delivered twice, it changes
the order once; forged, it is refused; about something unknown, it is
acknowledged and changes nothing); a refund goes through Stripe and gives
the tickets back to the quota; money that arrives for an order that can no
longer take it goes back; an invoice order asks for the organisation's
details, checked per country, and is paid when staff mark the invoice paid.
"""
from __future__ import annotations

import asyncio
import datetime
import re

import httpx
import pytest
from bson import ObjectId

from core import money
from core.clock import utcnow
from orders import actions, states
from orders import payments as order_payments
from payments import attempts, invoices, legal, providers
from payments import seller as payment_seller
from tests.orders_support import drain, quota, ticket_type, ticketed_event
from tests.payments_support import (  # noqa: F401 (fixtures)
    hook,
    localstripe,
    signed,
    stripe_api,
    stripe_settings,
    until,
)
from tests.support import error_text, translated

LOCALE = "ru"


@pytest.fixture
def settings(localstripe):
    return stripe_settings(localstripe)


@pytest.fixture
def hooked(io_loop, http_server, base_url, localstripe):
    io_loop.run_sync(lambda: hook(localstripe, base_url))


async def shop(services, factory):
    event, admin = await ticketed_event(services, factory, locales=("ru", "en"))
    standard = await ticket_type(services, event, admin, name="Standard", max_per_order="5")
    q = await quota(services, event, admin, 10, standard)
    db = services.db
    event = await db.events.find_one({"_id": event["_id"]})
    space = await db.spaces.find_one({"_id": event["space_id"]})
    return event, admin, standard, q, f"/e/{space['slug']}/{event['slug']}"


async def signed_in(factory, browser, locale=LOCALE):
    person = await factory.user(locale=locale)
    b = browser(locale=locale)
    await b.sign_in(person["login"], factory.PASSWORD)
    return person, b


async def place(b, path: str, type_id, n: int, method: str, holders: dict | None = None) -> httpx.Response:
    """Choose `n` tickets on the tickets page and place the order; the answer to placing it."""
    r = await b.post(path + "/tickets", {f"qty.{type_id}": str(n), "currency": "EUR"})
    assert r.status_code == 302, error_text(r.text)
    url = r.headers["location"]
    page = await b.get(url)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)
    return await b.post(url, {"idempotency_key": key, "method": method, **(holders or {})})


async def order_of(db, buyer) -> dict:
    return await db.orders.find_one({"buyer_id": buyer["_id"]})


async def order_state_is(db, order_id, state):
    async def probe():
        found = await db.orders.find_one({"_id": order_id})
        return found if found["state"] == state else None
    return await until(probe)


async def pay(services, attempt, payment_method="pm_card_visa"):
    return await services.payments.provider(attempt).execute(attempt, payment_method)


async def post_webhook(base_url, body: bytes, signature: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{base_url}/payments/stripe/webhook", content=body,
                                 headers={"Stripe-Signature": signature, "Content-Type": "application/json"}
                                 if signature else {"Content-Type": "application/json"})


def succeeded(attempt, event_id: str, amount: int | None = None) -> dict:
    """A `payment_intent.succeeded` notification about the attempt's intent, as Stripe sends it."""
    amount = attempt["amount"] if amount is None else amount
    return {"id": event_id, "type": "payment_intent.succeeded", "created": 1,
            "data": {"object": {"id": attempt["provider_ref"], "object": "payment_intent", "status": "succeeded",
                                "amount": amount, "amount_received": amount, "currency": "eur",
                                "latest_charge": f"ch_{event_id}",
                                "metadata": {"livehall_attempt": str(attempt["_id"])}}}}


HOLDER = {"holder_email.0": "ivan@example.org", "holder_name.0": "Иван", "holder_locale.0": "ru"}


@pytest.mark.gen_test(timeout=90)
async def test_a_card_order_is_paid_by_its_notification_once(services, factory, browser, db, base_url,
                                                             localstripe, hooked):
    event, admin, standard, q, path = await shop(services, factory)
    buyer, b = await signed_in(factory, browser)
    r = await place(b, path, standard["_id"], 2, "card", HOLDER)
    # Placed: the payer is sent straight to the payment's page, which leads back to the order.
    assert r.status_code == 302 and r.headers["location"].startswith("/pay/"), error_text(r.text)
    order = await order_of(db, buyer)
    attempt = await order_payments.attempt_of(db, order)
    assert r.headers["location"] == attempts.pay_url(services, attempt)
    assert (attempt["purpose"], attempt["ref"], attempt["amount"], attempt["currency"], attempt["method"]) \
        == ("order", str(order["_id"]), 3000, "EUR", "card")
    assert attempt["return_path"] == f"/me/orders/{order['_id']}" and order["state"] == states.PENDING
    page = await b.get(r.headers["location"])
    assert page.status_code == 200 and f'href="/me/orders/{order["_id"]}"' in page.text
    # Nothing is issued before the money comes, and the browser's word is not the money.
    assert await db.memberships.find_one({"email": "ivan@example.org"}) is None
    # Paying again from the order's page (a reload, a second tab) finds the same payment.
    again = await b.post(f"/me/orders/{order['_id']}/pay")
    assert again.status_code == 302 and again.headers["location"] == r.headers["location"]
    assert await db.payment_attempts.count_documents({}) == 1

    assert await pay(services, attempt) == "succeeded"
    paid = await order_state_is(db, order["_id"], states.PAID)
    await drain(services)
    paid = await db.orders.find_one({"_id": order["_id"]})
    assert paid["paid_amount"] == 3000 and paid["payment_ref"] == str(attempt["_id"]) and paid["issued"]
    holder = await db.memberships.find_one({"email": "ivan@example.org", "scope_id": event["_id"]})
    assert holder["ticket_type_id"] == standard["_id"] and holder.get("state", "registered") == "registered"
    receipts = await db.outbox.find({"to": buyer["email"], "kind": "order_receipt"}).to_list(None)
    assert len(receipts) == 1
    # In the buyer's language: the default text of the organiser-editable receipt, with what they paid.
    assert receipts[0]["subject"] == services.i18n.gettext(LOCALE)("Your order {code} for {event_title}").format(
        code=paid["code"], event_title=event["title"]["ru"])
    assert "2 × Standard: " in receipts[0]["text"] and money.format(3000, "EUR", LOCALE) in receipts[0]["text"]

    # The very notification localstripe sent, delivered twice more: the order changes once.
    sent = await stripe_api(localstripe, "GET", "/v1/events", type="payment_intent.succeeded", limit=100)
    notification = next(e for e in sent["data"] if e["data"]["object"]["id"] == attempt["provider_ref"])
    for _ in range(2):
        r = await post_webhook(base_url, *signed(notification))
        assert r.status_code == 200 and r.json() == {"received": "duplicate"}
    # The same fact under a new event id (Stripe's retry of a lost event): still once.
    r = await post_webhook(base_url, *signed(succeeded(attempt, "evt_again")))
    assert r.status_code == 200
    await drain(services)
    assert await db.orders.find_one({"_id": order["_id"]}) == paid
    assert [e["after"] for e in paid["log"] if e["action"] == "state"] == [states.PAID]
    assert await db.outbox.count_documents({"kind": "order_receipt"}) == 1
    assert await db.outbox.count_documents({"kind": "order_ticket"}) == 1
    assert await db.payments_ledger.count_documents({}) == 1


@pytest.mark.gen_test(timeout=90)
async def test_a_forged_notification_is_refused_and_changes_nothing(services, factory, browser, db, base_url,
                                                                    localstripe, hooked):
    event, admin, standard, q, path = await shop(services, factory)
    buyer, b = await signed_in(factory, browser)
    await place(b, path, standard["_id"], 1, "card", HOLDER)
    order = await order_of(db, buyer)
    attempt = await order_payments.attempt_of(db, order)
    forged = succeeded(attempt, "evt_forged")
    before = {name: await db[name].find({}).to_list(None)
              for name in ("orders", "payment_attempts", "payment_events", "memberships", "quotas")}
    for body, signature in (signed(forged, secret="whsec_someone_else"),
                            signed(forged, at=int(utcnow().timestamp()) - 3600),
                            (signed(forged)[0].replace(b'"amount": 1500', b'"amount": 1'), signed(forged)[1]),
                            (signed(forged)[0], "")):
        r = await post_webhook(base_url, body, signature)
        assert r.status_code == 400
    await drain(services)
    after = {name: await db[name].find({}).to_list(None) for name in before}
    assert after == before and (await db.orders.find_one({"_id": order["_id"]}))["state"] == states.PENDING


@pytest.mark.gen_test(timeout=90)
async def test_a_notification_about_an_unknown_order_or_intent_changes_nothing(services, factory, browser, db,
                                                                               base_url, localstripe, hooked):
    event, admin, standard, q, path = await shop(services, factory)
    buyer, b = await signed_in(factory, browser)
    await place(b, path, standard["_id"], 1, "card", HOLDER)
    order = await order_of(db, buyer)
    orders_before = await db.orders.find({}).to_list(None)
    quotas_before = await db.quotas.find({}).to_list(None)
    # An intent this platform never made.
    stranger = {"id": "evt_stranger", "type": "payment_intent.succeeded", "created": 1,
                "data": {"object": {"id": "pi_not_ours", "object": "payment_intent", "status": "succeeded",
                                    "amount": 1500, "amount_received": 1500, "currency": "eur",
                                    "metadata": {}}}}
    r = await post_webhook(base_url, *signed(stranger))
    assert r.status_code == 200 and r.json() == {"received": "unmatched"}
    # A payment of purpose "order" whose order does not exist: paid, acknowledged, and no order changes.
    ghost = await attempts.start(services, purpose="order", ref=str(ObjectId()), amount=1500, currency="EUR",
                                 idempotency_key="ghost", payer_email="ghost@example.org", locale="en",
                                 description="nothing", space_id=event["space_id"])
    await pay(services, ghost)

    async def settled():
        found = await db.payment_attempts.find_one({"_id": ghost["_id"]})
        return found if found["state"] == "succeeded" and not found["callbacks"] else None
    await until(settled)
    await drain(services)
    assert await db.orders.find({}).to_list(None) == orders_before
    assert await db.quotas.find({}).to_list(None) == quotas_before
    assert (await db.orders.find_one({"_id": order["_id"]}))["state"] == states.PENDING


@pytest.mark.gen_test(timeout=120)
async def test_a_refund_goes_through_stripe_and_returns_the_quota(services, factory, browser, db, localstripe,
                                                                  hooked):
    event, admin, standard, q, path = await shop(services, factory)
    buyer, b = await signed_in(factory, browser)
    await place(b, path, standard["_id"], 2, "card", HOLDER)
    order = await order_of(db, buyer)
    await pay(services, await order_payments.attempt_of(db, order))
    await order_state_is(db, order["_id"], states.PAID)
    await drain(services)
    assert (await db.quotas.find_one({"_id": q["_id"]}))["left"] == 8

    staff = browser(locale="en")
    await staff.sign_in(admin["login"], factory.PASSWORD)
    page = f"/admin/events/{event['_id']}/orders/{order['_id']}"
    shown = await staff.get(page)
    assert translated(services, "en", "Refund through the payment") in shown.text
    # A part: money only, through Stripe; the tickets stay valid and keep their places.
    form = {"amount": "15.00", "why": "one guest cannot come", "key": "refund-form-1", "confirm": "yes"}
    for _ in range(2):   # the form sent twice (a double click): one refund
        r = await staff.post(page + "/refund", form)
        assert r.status_code == 302, error_text(r.text)
    part = await db.orders.find_one({"_id": order["_id"]})
    assert part["state"] == states.PARTIALLY_REFUNDED and part["refunded_amount"] == 1500 and len(part["refunds"]) == 1
    assert (await db.quotas.find_one({"_id": q["_id"]}))["left"] == 8
    refunds = await stripe_api(localstripe, "GET", "/v1/refunds", limit=100)
    assert [x["amount"] for x in refunds["data"]] == [1500]
    # The provider's report of it called back again (a process that died mid-way): counted once.
    attempt = await db.payment_attempts.find_one({"_id": ObjectId(part["payment_ref"])})
    made = attempt["refunds"][0]
    await order_payments.on_refunded(services, str(order["_id"]), {**attempt, "refund": {
        "id": f"refund-{made['provider_ref']}", "ref": made["provider_ref"], "key": made["key"]}}, 1500)
    assert await db.orders.find_one({"_id": order["_id"]}) == part
    # More than is left is refused, and nothing moves.
    r = await staff.post(page + "/refund", {"amount": "20.00", "why": "", "key": "refund-form-2", "confirm": "yes"})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "en", actions.BadAmount("").message,
                                            most=money.format(1500, "EUR", "en"))
    assert (await db.orders.find_one({"_id": order["_id"]}))["refunded_amount"] == 1500
    # The rest: refunded in full, the tickets go back to the quota and the holder is out.
    r = await staff.post(page + "/refund", {"amount": "", "why": "event moved", "key": "refund-form-3", "confirm": "yes"})
    assert r.status_code == 302, error_text(r.text)
    await drain(services)
    done = await db.orders.find_one({"_id": order["_id"]})
    assert done["state"] == states.REFUNDED and done["refunded_amount"] == 3000
    assert [r["by"] for r in done["refunds"]] == [states.STAFF, states.STAFF]
    assert (await db.quotas.find_one({"_id": q["_id"]}))["left"] == 10
    holder = await db.memberships.find_one({"email": "ivan@example.org", "scope_id": event["_id"]})
    assert holder["state"] == "cancelled"
    attempt = await db.payment_attempts.find_one({"_id": ObjectId(done["payment_ref"])})
    assert attempt["state"] == "refunded" and attempt["refunded"] == 3000
    refunds = await stripe_api(localstripe, "GET", "/v1/refunds", limit=100)
    assert sorted(x["amount"] for x in refunds["data"]) == [1500, 1500]


@pytest.mark.gen_test(timeout=90)
async def test_a_declined_card_leaves_the_order_pending_for_another_card(services, factory, browser, db, base_url,
                                                                         localstripe, hooked):
    event, admin, standard, q, path = await shop(services, factory)
    buyer, b = await signed_in(factory, browser)
    await place(b, path, standard["_id"], 1, "card", HOLDER)
    order = await order_of(db, buyer)
    attempt = await order_payments.attempt_of(db, order)
    with pytest.raises(providers.ProviderRefused):
        await pay(services, attempt, "pm_card_chargeCustomerFail")

    async def noted():
        found = await db.orders.find_one({"_id": order["_id"]})
        return found if any(e["action"] == "payment_failed" for e in found["log"]) else None
    failed = await until(noted)
    assert failed["state"] == states.PENDING and failed["expires_at"] is not None
    # The order's page offers paying again, on the same payment.
    r = await b.post(f"/me/orders/{order['_id']}/pay")
    assert r.headers["location"] == attempts.pay_url(services, attempt)
    # Another card pays it (its notification signed here: localstripe cannot confirm an intent twice).
    r = await post_webhook(base_url, *signed(succeeded(attempt, "evt_second_card")))
    assert r.json() == {"received": "processed"}
    await order_state_is(db, order["_id"], states.PAID)
    await drain(services)


@pytest.mark.gen_test(timeout=90)
async def test_money_for_an_expired_order_goes_back(services, factory, browser, db, base_url, localstripe, hooked):
    event, admin, standard, q, path = await shop(services, factory)
    buyer, b = await signed_in(factory, browser)
    await place(b, path, standard["_id"], 1, "card", HOLDER)
    order = await order_of(db, buyer)
    attempt = await order_payments.attempt_of(db, order)
    await actions.sweep(services, now=utcnow() + datetime.timedelta(days=1))
    expired = await db.orders.find_one({"_id": order["_id"]})
    assert expired["state"] == states.EXPIRED and (await db.quotas.find_one({"_id": q["_id"]}))["left"] == 10
    # The payer paid in a tab left open: the money is given back whole, and the order stays as it is.
    await pay(services, attempt)

    async def returned():
        found = await db.payment_attempts.find_one({"_id": attempt["_id"]})
        return found if found["state"] == "refunded" and not found["callbacks"] else None
    back = await until(returned)
    assert back["refunded"] == 1500
    await drain(services)
    after = await db.orders.find_one({"_id": order["_id"]})
    assert after["state"] == states.EXPIRED and after["paid_amount"] == 0 and after["refunds"] == []
    assert [e["action"] for e in after["log"]][-1] == "payment_returned"
    assert (await db.quotas.find_one({"_id": q["_id"]}))["left"] == 10
    assert await db.memberships.find_one({"email": "ivan@example.org"}) is None
    # Paying the expired order again is refused with a reason.
    r = await b.post(f"/me/orders/{order['_id']}/pay")
    assert r.status_code == 409
    assert error_text(r.text) == translated(services, LOCALE, order_payments.NotPayable().message)


SELLER = {"country": "RU", "name": "ООО Организатор", "inn": "7707083893", "kpp": "773601001",
          "ogrn": "1027700132195", "address": "Москва, ул. Примерная, 1", "bik": "044525225",
          "account": "40702810638050013199"}


@pytest.mark.gen_test(timeout=90)
async def test_an_invoice_order_asks_for_the_organisation_and_is_paid_by_staff(services, factory, browser, db):
    event, admin, standard, q, path = await shop(services, factory)
    buyer, b = await signed_in(factory, browser)
    r = await place(b, path, standard["_id"], 1, "invoice", HOLDER)
    order = await order_of(db, buyer)
    form_url = f"/me/orders/{order['_id']}/invoice"
    assert r.status_code == 302 and r.headers["location"] == form_url
    page = await b.get(form_url)
    assert page.status_code == 200 and translated(services, LOCALE, "INN") in page.text
    # Without the organiser's legal details, no invoice; a wrong INN is refused field by field.
    org = {**SELLER, "name": "АО Покупатель", "inn": "7707083894"}
    r = await b.post(form_url, org)
    assert r.status_code == 400
    assert translated(services, LOCALE, legal.INN_CHECK) in r.text
    r = await b.post(form_url, {**org, "inn": "7707083893"})
    assert r.status_code == 400 and error_text(r.text) == translated(services, LOCALE, attempts.NO_SELLER)
    assert await db.payment_attempts.count_documents({}) == 0
    await payment_seller.save(db, admin, await db.spaces.find_one({"_id": event["space_id"]}), SELLER)
    r = await b.post(form_url, {**org, "inn": "7707083893"})
    assert r.status_code == 302 and r.headers["location"].startswith("/pay/"), error_text(r.text)
    attempt = await order_payments.attempt_of(db, await db.orders.find_one({"_id": order["_id"]}))
    assert attempt["method"] == "invoice" and attempt["invoice"]["number"] and attempt["amount"] == 1500
    # Issued once: the form again leads to the same invoice.
    again = await b.get(form_url)
    assert again.status_code == 302 and again.headers["location"] == attempts.pay_url(services, attempt)
    await drain(services)
    assert await db.outbox.count_documents({"to": buyer["email"], "kind": invoices.MAIL}) == 1
    # The transfer arrives; staff mark the invoice paid: the order is paid, once.
    await invoices.mark_paid(services, attempt["_id"], actor=admin, confirmed=True)
    await drain(services)
    paid = await db.orders.find_one({"_id": order["_id"]})
    assert paid["state"] == states.PAID and paid["payment_ref"] == str(attempt["_id"])
    with pytest.raises(invoices.InvoiceError):
        await invoices.mark_paid(services, attempt["_id"], actor=admin, confirmed=True)
    assert await db.orders.find_one({"_id": order["_id"]}) == paid
    await asyncio.sleep(0)
