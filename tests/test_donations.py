"""Donations: gifts by card against a real localstripe, from a wallet, live totals, and bad input.

A gift is stored once per dialog key (a double submit or a retried request
finds it), paid by card through the payments package (a notification
delivered twice confirms it once), mailed a receipt in the donor's language,
and counted in the campaign's totals, which open pages receive live.  A
wallet never goes below zero under concurrent gifts.  Bad input gets a
clear error and stores nothing.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import secrets
import sys

import httpx
import pytest
from bson import ObjectId

import server
from core import money
from core.clock import utcnow
from donations import campaigns, giving, totals, wallet
from storage.shared import StoreServer
from tests.donations_support import Totals, campaign, key_of
from tests.orders_support import drain
from tests.payments_support import (  # noqa: F401 (fixtures)
    hook,
    localstripe,
    signed,
    stripe_api,
    stripe_settings,
    until,
)
from tests.support import error_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def settings(localstripe):
    return stripe_settings(localstripe)


@pytest.fixture
def hooked(io_loop, http_server, base_url, localstripe):
    io_loop.run_sync(lambda: hook(localstripe, base_url))


async def post_webhook(base_url, body: bytes, signature: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{base_url}/payments/stripe/webhook", content=body,
                                 headers={"Stripe-Signature": signature, "Content-Type": "application/json"})


async def snapshot(db) -> dict:
    return {name: await db[name].find({}).to_list(None)
            for name in ("donations", "payment_attempts", "payments_ledger", "wallet_entries", "wallet_balances",
                         "outbox", "payment_events")}


def gift_form(page: str, **fields) -> dict:
    return {"key": key_of(page), "currency": "EUR", "amount": "25", "email": "anna@example.org", "name": "Anna",
            "message": "", "method": "card", **fields}


@pytest.mark.gen_test(timeout=120)
async def test_a_card_gift_is_stored_once_paid_once_and_counted_once(services, factory, browser, db, base_url,
                                                                    localstripe, hooked):
    found = await campaign(services, factory)
    live = await Totals.follow(base_url, found["_id"])
    assert await live.next() == {"type": "donations", "campaign": str(found["_id"]), "raised": 0, "donors": 0,
                                 "goal": 100000, "currency": "EUR", "latest": None}
    b = browser(locale="ru")
    page = await b.get(f"/campaigns/{found['_id']}")
    assert page.status_code == 200 and "Чистая вода" in page.text
    form = gift_form(page.text, message="<b>For the well</b>", anonymous="1")
    # A double click: the same dialog's key twice, at once, then a retried request.
    first, second = await asyncio.gather(b.post(f"/campaigns/{found['_id']}/give", form),
                                         b.post(f"/campaigns/{found['_id']}/give", form))
    third = await b.post(f"/campaigns/{found['_id']}/give", form)
    for r in (first, second, third):
        assert r.status_code == 302 and r.headers["location"].startswith("/pay/"), error_text(r.text)
    assert first.headers["location"] == second.headers["location"] == third.headers["location"]
    assert await db.donations.count_documents({}) == 1 and await db.payment_attempts.count_documents({}) == 1
    donation = await db.donations.find_one({})
    attempt = await db.payment_attempts.find_one({})
    assert (attempt["purpose"], attempt["ref"], attempt["amount"], attempt["currency"]) == \
        ("donation", str(donation["_id"]), 2500, "EUR")
    assert donation["state"] == giving.PENDING and donation["anonymous"] and donation["donor"]["locale"] == "ru"
    # Not counted before the money comes.
    assert await totals.one(db, found["_id"]) == {"raised": 0, "donors": 0}

    assert await services.payments.provider(attempt).execute(attempt, "pm_card_visa") == "succeeded"
    frame = await live.until(lambda f: f["raised"] == 2500)
    assert frame["donors"] == 1
    await drain(services)
    confirmed = await db.donations.find_one({"_id": donation["_id"]})
    assert confirmed["state"] == giving.CONFIRMED

    # The notification localstripe sent, delivered twice more: counted once.
    sent = await stripe_api(localstripe, "GET", "/v1/events", type="payment_intent.succeeded", limit=100)
    notification = next(e for e in sent["data"] if e["data"]["object"]["id"] == attempt["provider_ref"])
    for _ in range(2):
        r = await post_webhook(base_url, *signed(notification))
        assert r.status_code == 200
    # The purpose's callback called again (a process stopped before it was marked done): nothing more.
    await giving.on_paid(services, str(donation["_id"]), await db.payment_attempts.find_one({}))
    await drain(services)
    assert await totals.one(db, found["_id"]) == {"raised": 2500, "donors": 1}
    assert await db.payments_ledger.count_documents({}) == 1
    assert await db.donations.find_one({"_id": donation["_id"]}) == confirmed

    # One receipt, in the donor's language.
    receipts = await db.outbox.find({"kind": "donation_receipt"}).to_list(None)
    assert len(receipts) == 1 and receipts[0]["to"] == "anna@example.org"
    assert receipts[0]["subject"] == services.i18n.gettext("ru")("Thank you for your gift to %(campaign)s") \
        % {"campaign": "Чистая вода"}
    assert money.format(2500, "EUR", "ru") in receipts[0]["text"]

    # The page shows the gift: anonymous, its message as text, never markup.
    page = await b.get(f"/campaigns/{found['_id']}?gift={donation['_id']}")
    assert "gift-confirmed" in page.text and "&lt;b&gt;For the well&lt;/b&gt;" in page.text
    assert "<b>For the well</b>" not in page.text and "Anna" not in page.text
    live.close()


@pytest.mark.gen_test(timeout=90)
async def test_a_forged_notification_changes_nothing(services, factory, browser, db, base_url, localstripe, hooked):
    found = await campaign(services, factory)
    b = browser()
    page = await b.get(f"/campaigns/{found['_id']}")
    r = await b.post(f"/campaigns/{found['_id']}/give", gift_form(page.text))
    assert r.status_code == 302
    attempt = await db.payment_attempts.find_one({})
    forged = {"id": "evt_forged", "type": "payment_intent.succeeded", "created": 1,
              "data": {"object": {"id": attempt["provider_ref"], "object": "payment_intent", "status": "succeeded",
                                  "amount": 2500, "amount_received": 2500, "currency": "eur",
                                  "metadata": {"livehall_attempt": str(attempt["_id"])}}}}
    before = await snapshot(db)
    for body, signature in (signed(forged, secret="whsec_someone_else"),
                            signed(forged, at=int(utcnow().timestamp()) - 3600)):
        assert (await post_webhook(base_url, body, signature)).status_code == 400
    await drain(services)
    assert await snapshot(db) == before
    assert (await db.donations.find_one({}))["state"] == giving.PENDING


@pytest.mark.gen_test(timeout=90)
async def test_bad_gifts_are_refused_clearly_and_change_nothing(services, factory, browser, db, base_url):
    found = await campaign(services, factory)
    other_space = await campaign(services, factory, title={"en": "Other space"})
    draft = await campaign(services, factory, state=campaigns.DRAFT, title={"en": "Draft"})
    b = browser(locale="en")
    page = await b.get(f"/campaigns/{found['_id']}")
    before = await snapshot(db)
    cases = [
        ({"amount": "-5"}, "“-5” is not an amount."),
        ({"amount": "abc"}, "“abc” is not an amount."),
        ({"amount": "0.5"}, "The smallest gift is €1.00."),
        ({"amount": "1000000.01"}, "The largest gift is €1,000,000.00."),
        ({"amount": "1e9"}, "The largest gift is €1,000,000.00."),
        ({"amount": "99999999999"}, "This amount is too large."),
        ({"amount": "10.001"}, "EUR amounts have at most 2 digits after the point."),
        ({"currency": "USD"}, "This campaign takes gifts in EUR only."),
        ({"currency": "XYZ"}, "This campaign takes gifts in EUR only."),
        ({"email": "nobody"}, "Give an e-mail address for the receipt."),
        ({"method": "wallet"}, "Sign in to give from your wallet."),
        ({"method": "bitcoin"}, "Choose how to give."),
        ({"key": "x"}, "This form has expired: please open it again."),
        ({"message": "m" * 281}, "A message is at most 280 characters."),
    ]
    for fields, message in cases:
        r = await b.post(f"/campaigns/{found['_id']}/give", gift_form(page.text, **fields))
        assert r.status_code == 400 and error_text(r.text) == message, (fields, r.status_code, error_text(r.text))
    # Unknown campaigns, and a draft, are not found.
    for cid in (ObjectId(), draft["_id"]):
        r = await b.post(f"/campaigns/{cid}/give", gift_form(page.text))
        assert r.status_code == 404 and "This campaign does not exist." in r.text
        assert (await b.get(f"/campaigns/{cid}")).status_code == 404
    # A closed campaign shows but takes nothing.
    await db.donation_campaigns.update_one({"_id": other_space["_id"]}, {"$set": {"state": campaigns.CLOSED}})
    r = await b.post(f"/campaigns/{other_space['_id']}/give", gift_form(page.text))
    assert r.status_code == 400 and error_text(r.text) == "This campaign does not take gifts now."
    assert await snapshot(db) == before
    # The same key again with another amount is refused once the first gift is stored.
    form = gift_form(page.text)
    r = await b.post(f"/campaigns/{found['_id']}/give", form)
    assert r.status_code == 302, error_text(r.text)
    r = await b.post(f"/campaigns/{found['_id']}/give", {**form, "amount": "26"})
    assert r.status_code == 400 and error_text(r.text) == \
        "This form was already sent with another amount: please open it again."
    assert await db.donations.count_documents({}) == 1 and await db.payment_attempts.count_documents({}) == 1


@pytest.mark.gen_test(timeout=120)
async def test_a_wallet_never_goes_below_zero_under_concurrent_gifts(services, factory, db):
    found = await campaign(services, factory)
    donor = await factory.user()
    attempt_id = ObjectId()
    await giving.on_topup_paid(services, str(donor["_id"]), {"_id": attempt_id, "amount": 1000, "currency": "EUR"})
    # The same top-up told twice (a callback repeated): credited once.
    await giving.on_topup_paid(services, str(donor["_id"]), {"_id": attempt_id, "amount": 1000, "currency": "EUR"})
    assert await wallet.balance(db, donor["_id"], "EUR") == 1000

    async def gift(i: int) -> str:
        try:
            await giving.give(services, found, amount="1", currency="EUR", key=f"wallet-gift-{i:04d}",
                              method=giving.WALLET, user=donor, locale="en")
            return "given"
        except wallet.NotEnough:
            return "refused"
    results = await asyncio.gather(*(gift(i) for i in range(50)))
    assert results.count("given") == 10 and results.count("refused") == 40
    # A double click on one of them, and a retried one: nothing more.
    again = await asyncio.gather(*(gift(0) for _ in range(5)))
    assert set(again) == {"given"}
    await drain(services)
    assert await wallet.balance(db, donor["_id"], "EUR") == 0
    assert await wallet.audit(db, donor["_id"], "EUR") == (0, 0)
    assert await db.wallet_entries.count_documents({"state": wallet.APPLIED}) == 11
    assert await totals.one(db, found["_id"]) == {"raised": 1000, "donors": 1}
    assert await db.donations.count_documents({"state": giving.CONFIRMED}) == 10
    assert await db.outbox.count_documents({"kind": "donation_receipt"}) == 10


@pytest.mark.gen_test(timeout=180)
async def test_totals_equal_the_donations_after_many_concurrent_gifts(services, factory, db, base_url, http_server):
    found = await campaign(services, factory, goal="100")
    live = await Totals.follow(base_url, found["_id"])
    await live.next()
    donors = [await factory.user() for _ in range(30)]
    for d in donors:
        await giving.on_topup_paid(services, str(d["_id"]), {"_id": ObjectId(), "amount": 100000, "currency": "EUR"})
    n = 300
    started = asyncio.get_running_loop().time()

    async def gift(i: int) -> None:
        await giving.give(services, found, amount=str(1 + i % 7), currency="EUR", key=f"many-gifts-{i:05d}",
                          method=giving.WALLET, user=donors[i % len(donors)], locale="en")
    await asyncio.gather(*(gift(i) for i in range(n)))
    last_confirmed = asyncio.get_running_loop().time()
    expected = sum(100 * (1 + i % 7) for i in range(n))
    frame = await live.until(lambda f: f["raised"] == expected, timeout=10)
    took = asyncio.get_running_loop().time() - started
    # The last confirmation reaches the open page within a second.
    lag = asyncio.get_running_loop().time() - last_confirmed
    assert lag < 1.0, lag
    await drain(services)
    confirmed = await db.donations.find({"campaign_id": found["_id"], "state": giving.CONFIRMED}).to_list(None)
    ledger = sum(-e["amount"] for e in await db.wallet_entries.find({"kind": wallet.GIFT,
                                                                     "state": wallet.APPLIED}).to_list(None))
    assert len(confirmed) == n and sum(d["amount"] for d in confirmed) == expected == frame["raised"] == ledger
    assert frame["donors"] == len(donors)
    # Coalesced: far fewer frames than gifts.
    assert len(live.frames) < n // 5, len(live.frames)
    for d in donors:
        value, entries = await wallet.audit(db, d["_id"], "EUR")
        assert value == entries
    print(f"{n} wallet gifts in {took:.2f} s; {len(live.frames)} frames; last confirmation to frame {lag:.3f} s")
    live.close()


@pytest.mark.gen_test(timeout=60)
async def test_the_sweep_confirms_a_wallet_gift_left_between_debit_and_confirmation(services, factory, db):
    found = await campaign(services, factory)
    donor = await factory.user()
    await giving.on_topup_paid(services, str(donor["_id"]), {"_id": ObjectId(), "amount": 500, "currency": "EUR"})
    # A process stopped right after the debit: the donation is pending, the money out of the wallet.
    confirm = giving.confirm
    giving.confirm = lambda *a, **k: asyncio.sleep(0, False)
    try:
        left = await giving.give(services, found, amount="3", currency="EUR", key="stopped-midway", method="wallet",
                                 user=donor, locale="en")
        refused = None
        try:
            await giving.give(services, found, amount="4", currency="EUR", key="refused-gift", method="wallet",
                              user=donor, locale="en")
        except wallet.NotEnough:
            refused = await db.donations.find_one({"key": "refused-gift"})
    finally:
        giving.confirm = confirm
    assert left["state"] == giving.PENDING and refused is not None
    assert await wallet.balance(db, donor["_id"], "EUR") == 200
    assert await totals.one(db, found["_id"]) == {"raised": 0, "donors": 0}
    # Too fresh: it may still be under way.
    assert await giving.sweep(services) == 0
    await db.donations.update_many({}, {"$set": {"created_at": utcnow() - datetime.timedelta(minutes=5)}})
    assert await giving.sweep(services) == 1
    assert await giving.sweep(services) == 0
    await drain(services)
    assert (await db.donations.find_one({"_id": left["_id"]}))["state"] == giving.CONFIRMED
    assert (await db.donations.find_one({"_id": refused["_id"]}))["state"] == giving.PENDING
    assert await totals.one(db, found["_id"]) == {"raised": 300, "donors": 1}
    assert await wallet.audit(db, donor["_id"], "EUR") == (200, 200)
    # The refused gift, tried again once the wallet holds enough: given, once.
    assert (await db.donations.find_one({"_id": refused["_id"]}))["refused_at"] is not None
    await giving.on_topup_paid(services, str(donor["_id"]), {"_id": ObjectId(), "amount": 300, "currency": "EUR"})
    again = await giving.give(services, found, amount="4", currency="EUR", key="refused-gift", method="wallet",
                              user=donor, locale="en")
    assert again["state"] == giving.CONFIRMED and again["refused_at"] is None
    assert await wallet.audit(db, donor["_id"], "EUR") == (100, 100)
    assert await totals.one(db, found["_id"]) == {"raised": 700, "donors": 1}


@pytest.mark.gen_test(timeout=180)
async def test_two_server_processes_never_take_a_wallet_below_zero(services, factory):
    """Two processes, fifty gifts each from one wallet holding ten; half the keys sent to both (a retry that
    lands on the other process): ten gifts, a balance of zero, the balance equal to its entries."""
    store = StoreServer()
    port = await store.start()
    address, name = f"127.0.0.1:{port}", f"two_{secrets.token_hex(3)}"
    settings = dataclasses.replace(services.settings, embedded_store_address=address, mongodb_db=name)
    mine = await server.make_services(settings)
    workers = []
    try:
        db = mine.db
        found = await campaign(mine, type(factory)(mine))
        donor = await type(factory)(mine).user()
        await giving.on_topup_paid(mine, str(donor["_id"]), {"_id": ObjectId(), "amount": 1000, "currency": "EUR"})
        plans = [("process-a", 25), ("process-b", 25), ("both-processes", 25), ("both-processes", 25)]
        for prefix, count in plans:
            workers.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.donations_worker", address, name, str(found["_id"]),
                str(donor["_id"]), prefix, str(count), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE))
        for w in workers:
            assert (await asyncio.wait_for(w.stdout.readline(), 60)).strip() == b"ready"
        for w in workers:  # go, all together
            w.stdin.write(b"go\n")
            await w.stdin.drain()
        results = [json.loads(await asyncio.wait_for(w.stdout.readline(), 120)) for w in workers]
        for w in workers:
            assert await w.wait() == 0
        # A key sent to two processes has one outcome.
        assert results[2] == results[3]
        outcome = [*results[0].values(), *results[1].values(), *results[2].values()]
        assert outcome.count("given") == 10 and outcome.count("refused") == 65
        assert await wallet.balance(db, donor["_id"], "EUR") == 0
        assert await wallet.audit(db, donor["_id"], "EUR") == (0, 0)
        assert await db.donations.count_documents({"state": giving.CONFIRMED}) == 10
        assert await totals.one(db, found["_id"]) == {"raised": 1000, "donors": 1}
    finally:
        for w in workers:
            if w.returncode is None:
                w.kill()
                await w.wait()
        await drain(mine)
        await server.close_services(mine)
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_the_sweep_mails_a_receipt_that_failed_once(services, factory, db, monkeypatch):
    from donations import mails
    found = await campaign(services, factory)
    donor = await factory.user(locale="de")
    await giving.on_topup_paid(services, str(donor["_id"]), {"_id": ObjectId(), "amount": 500, "currency": "EUR"})

    async def broken(*args):
        return False
    monkeypatch.setattr(mails, "send_receipt", broken)
    given = await giving.give(services, found, amount="5", currency="EUR", key="receipt-later", method="wallet",
                              user=donor, locale="de")
    assert given["state"] == giving.CONFIRMED and given["receipt"] is None
    monkeypatch.undo()
    await db.donations.update_many({}, {"$set": {"confirmed_at": utcnow() - datetime.timedelta(minutes=5)}})
    await giving.sweep(services)
    await giving.sweep(services)
    receipts = await db.outbox.find({"kind": "donation_receipt"}).to_list(None)
    assert len(receipts) == 1 and receipts[0]["to"] == donor["email"]
    assert (await db.donations.find_one({}))["receipt"] is not None
