"""Card payments against a real localstripe: the attempt, its signed notifications, refunds, the ledger.

Every outcome here comes through the endpoint `POST /payments/stripe/webhook`
as localstripe sends it (signed with the endpoint's secret), or through the
reconciliation sweep asking localstripe; the purpose's callbacks are a
test-only purpose's (`tests.payments_support`).
"""
from __future__ import annotations

import asyncio
import datetime

import httpx
import pytest

from core.clock import utcnow
from payments import attempts, ledger, providers, reconcile
from payments.providers import Fact
from tests.payments_support import (  # noqa: F401 (fixtures)
    PURPOSE,
    WEBHOOK_SECRET,
    hook,
    intents_of,
    localstripe,
    register,
    signed,
    stripe_api,
    stripe_settings,
    until,
)


@pytest.fixture
def settings(localstripe):
    return stripe_settings(localstripe)


@pytest.fixture
def hooked(io_loop, http_server, base_url, localstripe):
    io_loop.run_sync(lambda: hook(localstripe, base_url))


async def start(services, key="order-1-try-1", amount=1500, currency="EUR", ref="order-1", **kw):
    return await attempts.start(services, purpose=PURPOSE, ref=ref, amount=amount, currency=currency,
                                idempotency_key=key, payer_email="Payer@Example.org", locale="ru",
                                description="Ticket to Event 1", **kw)


async def state_is(db, attempt_id, state):
    async def probe():
        doc = await db.payment_attempts.find_one({"_id": attempt_id})
        return doc if doc["state"] == state else None
    return await until(probe)


async def pay(services, attempt, payment_method="pm_card_visa"):
    return await services.payments.provider(attempt).execute(attempt, payment_method)


@pytest.mark.gen_test(timeout=60)
async def test_a_payment_confirmed_through_localstripe_calls_on_paid_once(services, db, localstripe, hooked):
    calls = register(services)
    attempt = await start(services)
    assert attempt["state"] == "created" and attempt["provider_ref"].startswith("pi_")
    assert attempt["client_secret"].startswith(attempt["provider_ref"] + "_secret_")
    assert attempt["payer_email"] == "payer@example.org"
    assert await pay(services, attempt) == "succeeded"
    done = await state_is(db, attempt["_id"], "succeeded")
    # The notification moved it, exactly once, and the purpose heard once.
    assert [h["to"] for h in done["history"]] == ["succeeded"] and done["history"][0]["by"] == "provider"
    await until(lambda: asyncio.sleep(0, result=calls.paid))
    assert calls.paid == [("order-1", attempt["_id"], "succeeded")] and calls.failed == []
    assert done["callbacks"] == [] or (await db.payment_attempts.find_one({"_id": attempt["_id"]}))["callbacks"] == []
    entries = await ledger.entries(db, {"attempt_id": attempt["_id"]})
    assert [(e["kind"], e["amount"], e["currency"]) for e in entries] == [("charge", 1500, "EUR")]
    event = await db.payment_events.find_one({"type": "payment_intent.succeeded", "object_id": attempt["provider_ref"]})
    assert event["status"] == "processed" and event["attempt_ids"] == [attempt["_id"]]


@pytest.mark.gen_test(timeout=60)
async def test_the_same_notification_twice_changes_the_attempt_once(services, db, localstripe, hooked,
                                                                    base_url):
    calls = register(services)
    attempt = await start(services)
    await pay(services, attempt)
    await state_is(db, attempt["_id"], "succeeded")
    # The very event localstripe sent, delivered again (as Stripe retries after a lost answer).
    events = await stripe_api(localstripe, "GET", "/v1/events", type="payment_intent.succeeded", limit=100)
    event = next(e for e in events["data"] if e["data"]["object"]["id"] == attempt["provider_ref"])
    before = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    for _ in range(2):
        body, signature = signed(event)
        async with httpx.AsyncClient() as client:
            r = await client.post(f"{base_url}/payments/stripe/webhook", content=body,
                                  headers={"Stripe-Signature": signature, "Content-Type": "application/json"})
        assert r.status_code == 200 and r.json() == {"received": "duplicate"}
    assert await db.payment_attempts.find_one({"_id": attempt["_id"]}) == before
    assert len(calls.paid) == 1
    assert await db.payments_ledger.count_documents({"attempt_id": attempt["_id"]}) == 1


@pytest.mark.gen_test(timeout=60)
async def test_a_forged_or_stale_signature_is_refused_and_changes_nothing(services, db, localstripe,
                                                                          hooked, base_url):
    calls = register(services)
    attempt = await start(services)
    event = {"id": "evt_forged1", "type": "payment_intent.succeeded", "created": 1,
             "data": {"object": {"id": attempt["provider_ref"], "object": "payment_intent", "status": "succeeded",
                                 "amount": 1500, "amount_received": 1500, "currency": "eur",
                                 "metadata": {"livehall_attempt": str(attempt["_id"])}}}}
    before = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    cases = [signed(event, secret="whsec_not_ours"),                       # wrong secret
             signed(event, at=int(utcnow().timestamp()) - 3600),            # an hour old: replayed
             (signed(event)[0] + b" ", signed(event)[1]),                   # body changed after signing
             (signed(event)[0], "")]                                        # no signature
    async with httpx.AsyncClient() as client:
        for body, signature in cases:
            r = await client.post(f"{base_url}/payments/stripe/webhook", content=body,
                                  headers={"Stripe-Signature": signature} if signature else {})
            assert r.status_code == 400, r.text
        assert await db.payment_events.count_documents({}) == 0
        assert await db.payment_attempts.find_one({"_id": attempt["_id"]}) == before
        # The same event, signed right, is taken: the refusals above were about the signature.
        body, signature = signed(event)
        r = await client.post(f"{base_url}/payments/stripe/webhook", content=body,
                              headers={"Stripe-Signature": signature})
        assert r.status_code == 200 and r.json() == {"received": "processed"}
    assert (await db.payment_attempts.find_one({"_id": attempt["_id"]}))["state"] == "succeeded"
    assert len(calls.paid) == 1


@pytest.mark.gen_test(timeout=60)
async def test_a_retried_start_makes_one_payment_intent_and_one_charge(services, db, localstripe, hooked):
    calls = register(services)
    first, second, third = await asyncio.gather(start(services), start(services), start(services))
    assert first["_id"] == second["_id"] == third["_id"]
    assert first["provider_ref"] == second["provider_ref"] == third["provider_ref"]
    again = await start(services)
    assert again["_id"] == first["_id"] and again["provider_ref"] == first["provider_ref"]
    assert await db.payment_attempts.count_documents({}) == 1
    assert len(await intents_of(localstripe, first["_id"])) == 1
    await pay(services, first)
    await state_is(db, first["_id"], "succeeded")
    again = await start(services)
    assert again["state"] == "succeeded" and again["_id"] == first["_id"]
    charges = await stripe_api(localstripe, "GET", "/v1/charges", limit=100)
    assert len([c for c in charges["data"] if c["payment_intent"] == first["provider_ref"]]) == 1
    await until(lambda: asyncio.sleep(0, result=calls.paid))
    assert len(calls.paid) == 1
    # The same key for another amount is a mistake, refused.
    with pytest.raises(attempts.PaymentError) as refused:
        await start(services, amount=2500)
    assert refused.value.message == attempts.KEY_REUSED


@pytest.mark.gen_test(timeout=60)
async def test_a_partial_refund_then_the_rest(services, db, localstripe, hooked):
    calls = register(services)
    admin = {"_id": "staff-1", "email": "staff@example.org"}
    attempt = await start(services, amount=1500)
    await pay(services, attempt)
    await state_is(db, attempt["_id"], "succeeded")
    part = await attempts.refund(services, attempt_id=attempt["_id"], amount=500, reason="one ticket back",
                                 idempotency_key="r1", actor=admin)
    assert part["state"] == "partially_refunded" and part["refunded"] == 500 and part["refundable"] == 1000
    # The same refund asked again (a double click) gives back nothing more.
    again = await attempts.refund(services, attempt_id=attempt["_id"], amount=500, reason="one ticket back",
                                  idempotency_key="r1", actor=admin)
    assert again["refunded"] == 500
    with pytest.raises(attempts.PaymentError) as refused:
        await attempts.refund(services, attempt_id=attempt["_id"], amount=1001, reason="too much",
                              idempotency_key="r2", actor=admin)
    assert refused.value.message == attempts.TOO_MUCH
    rest = await attempts.refund(services, attempt_id=attempt["_id"], amount=1000, reason="the rest",
                                 idempotency_key="r3", actor=admin)
    assert rest["state"] == "refunded" and rest["refunded"] == 1500 and rest["refundable"] == 0
    assert [h["to"] for h in rest["history"]] == ["succeeded", "partially_refunded", "refunded"]
    assert calls.refunded == [("order-1", attempt["_id"], 500), ("order-1", attempt["_id"], 1000)]
    with pytest.raises(attempts.PaymentError):
        await attempts.refund(services, attempt_id=attempt["_id"], amount=1, reason="more", idempotency_key="r4",
                              actor=admin)
    # localstripe holds exactly two refunds; the ledger says the same, and sums to nothing left.
    refunds = await stripe_api(localstripe, "GET", "/v1/refunds", limit=100)
    mine = sorted(r["amount"] for r in refunds["data"] if r["metadata"].get("livehall_attempt") == str(attempt["_id"]))
    assert mine == [500, 1000]
    entries = await ledger.entries(db, {"attempt_id": attempt["_id"]})
    assert sorted(e["amount"] for e in entries) == [-1000, -500, 1500]
    assert await ledger.balance(db, {"attempt_id": attempt["_id"]}) == {"EUR": 0}
    # The refunds' own notifications (if the provider sends them) find them counted.
    for refund in refunds["data"]:
        fact = providers.Fact(providers.REFUND, provider_ref=attempt["provider_ref"], amount=refund["amount"],
                              refund_ref=refund["id"], refund_key=refund["metadata"]["livehall_refund"],
                              refund_status="succeeded")
        await attempts.apply(services, "stripe", fact)
    final = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    assert final["refunded"] == 1500 and len(final["history"]) == 3 and len(calls.refunded) == 2


@pytest.mark.gen_test(timeout=60)
async def test_a_declined_card_fails_the_attempt(services, db, localstripe, hooked, base_url):
    calls = register(services)
    attempt = await start(services)
    with pytest.raises(providers.ProviderRefused):
        await pay(services, attempt, "pm_card_chargeCustomerFail")
    failed = await state_is(db, attempt["_id"], "failed")
    assert failed["failure"]["code"] == "card_declined"
    await until(lambda: asyncio.sleep(0, result=calls.failed))
    assert calls.paid == [] and len(calls.failed) == 1
    assert await db.payments_ledger.count_documents({}) == 0
    # Another card on the same PaymentIntent still pays it (Stripe lets the payer try again; localstripe
    # cannot confirm an intent twice, so its notification is sent here as Stripe would send it).
    body, signature = signed({"id": "evt_second_card", "type": "payment_intent.succeeded", "created": 1,
                              "data": {"object": {"id": attempt["provider_ref"], "object": "payment_intent",
                                                  "status": "succeeded", "amount": 1500, "amount_received": 1500,
                                                  "currency": "eur", "latest_charge": "ch_second",
                                                  "metadata": {"livehall_attempt": str(attempt["_id"])}}}})
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{base_url}/payments/stripe/webhook", content=body,
                              headers={"Stripe-Signature": signature})
    assert r.json() == {"received": "processed"}
    await state_is(db, attempt["_id"], "succeeded")
    await until(lambda: asyncio.sleep(0, result=calls.paid))
    assert len(calls.paid) == 1 and len(calls.failed) == 1


@pytest.mark.gen_test(timeout=60)
async def test_a_notification_for_an_unknown_intent_is_acknowledged_and_changes_nothing(
        services, db, localstripe, hooked):
    calls = register(services)
    attempt = await start(services)
    before = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    # A payment made at the provider by someone else (another integration on the same account).
    pi = await stripe_api(localstripe, "POST", "/v1/payment_intents", amount="700", currency="eur",
                          payment_method="pm_card_visa", confirm="true")

    async def stored():
        return await db.payment_events.find_one({"object_id": pi["id"], "type": "payment_intent.succeeded"})
    event = await until(stored)
    assert event["status"] == "unmatched" and event["attempt_ids"] == []
    assert await db.payment_attempts.find_one({"_id": attempt["_id"]}) == before
    assert calls.paid == [] and await db.payments_ledger.count_documents({}) == 0


@pytest.mark.gen_test(timeout=60)
async def test_late_and_out_of_order_notifications_change_nothing(services, db, localstripe, hooked, base_url):
    calls = register(services)
    attempt = await start(services)
    await pay(services, attempt)
    await state_is(db, attempt["_id"], "succeeded")
    pi = {"id": attempt["provider_ref"], "object": "payment_intent", "amount": 1500, "currency": "eur",
          "metadata": {"livehall_attempt": str(attempt["_id"])}}

    async def send(event_id, kind, **fields):
        body, signature = signed({"id": event_id, "type": kind, "created": 1,
                                  "data": {"object": {**pi, **fields}}})
        async with httpx.AsyncClient() as client:
            r = await client.post(f"{base_url}/payments/stripe/webhook", content=body,
                                  headers={"Stripe-Signature": signature})
        assert r.status_code == 200
        return await db.payment_attempts.find_one({"_id": attempt["_id"]})

    paid = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    # Another intent's notification naming this attempt in its metadata is not this attempt's.
    body, signature = signed({"id": "evt_other_intent", "type": "payment_intent.succeeded", "created": 1,
                              "data": {"object": {**pi, "id": "pi_someone_elses", "status": "succeeded",
                                                  "amount_received": 1500}}})
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{base_url}/payments/stripe/webhook", content=body,
                              headers={"Stripe-Signature": signature})
    assert r.json() == {"received": "unmatched"}
    # A failure reported after the success (the first card failed, the second paid; the order of
    # delivery is not the order of events).
    late = await send("evt_late_failure", "payment_intent.payment_failed", status="requires_payment_method",
                      last_payment_error={"code": "card_declined", "message": "declined"})
    assert late == paid
    assert await send("evt_late_processing", "payment_intent.processing", status="processing") == paid
    await attempts.refund(services, attempt_id=attempt["_id"], amount=1500, reason="all", idempotency_key="all",
                          actor=None)
    refunded = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    # The success delivered again, under a new id, after the refund: refunded it stays.
    after = await send("evt_succeeded_again", "payment_intent.succeeded", status="succeeded", amount_received=1500)
    assert after == refunded and after["state"] == "refunded"
    assert len(calls.paid) == 1 and calls.failed == [] and len(calls.refunded) == 1
    assert await ledger.balance(db, {"attempt_id": attempt["_id"]}) == {"EUR": 0}


@pytest.mark.gen_test(timeout=60)
async def test_an_attempt_whose_notification_never_came_is_asked_after(services, db, localstripe, base_url,
                                                                       http_server):
    # Notifications go nowhere: a closed port.
    await hook(localstripe, base_url, url="http://127.0.0.1:9/nowhere")
    calls = register(services)
    attempt = await start(services)
    await pay(services, attempt)
    await asyncio.sleep(1.5)  # localstripe would have sent it by now
    assert (await db.payment_attempts.find_one({"_id": attempt["_id"]}))["state"] == "created"
    # Not due yet: the sweep leaves it.
    assert (await reconcile.sweep(services))["checked"] == 0
    await db.payment_attempts.update_one({"_id": attempt["_id"]},
                                         {"$set": {"check_at": utcnow() - datetime.timedelta(seconds=1)}})
    # Two processes that both read it as due: one of them checks it, and the purpose hears once.
    due = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    now = utcnow()
    assert sorted(await asyncio.gather(reconcile.check(services, due, now), reconcile.check(services, due, now))) \
        == [False, True]
    assert (await reconcile.sweep(services))["checked"] == 0   # checked: not due again for a while
    done = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    assert done["state"] == "succeeded" and done["history"][-1]["by"] == "sweep"
    assert len(calls.paid) == 1 and await ledger.balance(db, {}) == {"EUR": 1500}
    assert done["check_at"] is None


@pytest.mark.gen_test(timeout=60)
async def test_a_callback_left_by_a_dead_process_is_called_once_by_the_sweep(services, db, localstripe, hooked):
    calls = register(services)
    attempt = await start(services)
    # The move is written but its process dies before calling back: the callback stays queued, claimed.
    fact = Fact(providers.SUCCEEDED, provider_ref=attempt["provider_ref"], amount=1500, currency="EUR",
                charge_ref="ch_dead")
    real_fire = attempts.fire
    attempts.fire = lambda *a, **k: asyncio.sleep(0)
    try:
        await attempts.apply(services, "stripe", fact)
    finally:
        attempts.fire = real_fire
    queued = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    assert queued["state"] == "succeeded" and [c["kind"] for c in queued["callbacks"]] == ["paid"]
    await db.payment_attempts.update_one(
        {"_id": attempt["_id"]}, {"$set": {"callbacks.0.claimed_until": utcnow() + datetime.timedelta(minutes=1)}})
    assert (await reconcile.sweep(services))["callbacks"] == 0 and calls.paid == []   # still claimed
    await db.payment_attempts.update_one(
        {"_id": attempt["_id"]}, {"$set": {"callbacks.0.claimed_until": utcnow() - datetime.timedelta(seconds=1)}})
    # Two processes that both read the expired claim: one of them takes it.
    stale = (await db.payment_attempts.find_one({"_id": attempt["_id"]}))["callbacks"][0]
    assert await attempts.claim(db, attempt["_id"], stale) is not None
    assert await attempts.claim(db, attempt["_id"], stale) is None
    await db.payment_attempts.update_one(
        {"_id": attempt["_id"]}, {"$set": {"callbacks.0.claimed_until": utcnow() - datetime.timedelta(seconds=1)}})
    await asyncio.gather(reconcile.sweep(services), reconcile.sweep(services))
    assert len(calls.paid) == 1
    assert (await db.payment_attempts.find_one({"_id": attempt["_id"]}))["callbacks"] == []
    assert await ledger.balance(db, {}) == {"EUR": 1500}


@pytest.mark.gen_test(timeout=90)
async def test_the_ledger_sums_match_the_attempts(services, db, localstripe, hooked):
    register(services)
    made = []
    for n, (amount, currency, back) in enumerate([(1500, "EUR", [500]), (990000, "RUB", []),
                                                  (250, "EUR", [250]), (12345, "KZT", [45, 300])]):
        attempt = await start(services, key=f"k{n}", ref=f"order-{n}", amount=amount, currency=currency)
        await pay(services, attempt)
        await state_is(db, attempt["_id"], "succeeded")
        for i, amount_back in enumerate(back):
            await attempts.refund(services, attempt_id=attempt["_id"], amount=amount_back, reason="back",
                                  idempotency_key=f"b{i}", actor=None)
        made.append(attempt["_id"])
    expected: dict[str, int] = {}
    async for doc in db.payment_attempts.find({"_id": {"$in": made}}):
        assert await ledger.balance(db, {"attempt_id": doc["_id"]}) == {doc["currency"]: doc["amount"] - doc["refunded"]}
        expected[doc["currency"]] = expected.get(doc["currency"], 0) + doc["amount"] - doc["refunded"]
        assert all(isinstance(e["amount"], int) for e in await ledger.entries(db, {"attempt_id": doc["_id"]}))
    assert await ledger.balance(db, {}) == expected == {"EUR": 1000, "RUB": 990000, "KZT": 12000}


@pytest.mark.gen_test(timeout=30)
async def test_bad_starts_are_refused_and_store_nothing(services, db, localstripe):
    register(services)
    for kwargs, message in [({"amount": 0}, attempts.BAD_AMOUNT), ({"amount": 15.5}, attempts.BAD_AMOUNT),
                            ({"currency": "XXX"}, attempts.BAD_CURRENCY), ({"key": ""}, attempts.BAD_KEY),
                            ({"method": "cash"}, attempts.BAD_METHOD)]:
        with pytest.raises(attempts.PaymentError) as refused:
            await start(services, **kwargs)
        assert refused.value.message == message
    assert await db.payment_attempts.count_documents({}) == 0


@pytest.mark.gen_test(timeout=60)
async def test_a_success_for_another_amount_is_not_counted(services, db, localstripe, hooked, base_url):
    calls = register(services)
    attempt = await start(services, amount=1500)
    body, signature = signed({"id": "evt_wrong_amount", "type": "payment_intent.succeeded", "created": 1,
                              "data": {"object": {"id": attempt["provider_ref"], "object": "payment_intent",
                                                  "status": "succeeded", "amount": 15, "amount_received": 15,
                                                  "currency": "eur",
                                                  "metadata": {"livehall_attempt": str(attempt["_id"])}}}})
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{base_url}/payments/stripe/webhook", content=body,
                              headers={"Stripe-Signature": signature})
    assert r.status_code == 200
    after = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    assert after["state"] == "created" and after["failure"]["code"] == "amount_mismatch"
    assert calls.paid == [] and await db.payments_ledger.count_documents({}) == 0
