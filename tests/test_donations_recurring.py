"""Saved cards, one-click gifts and monthly pledges, against a real localstripe.

A card gift with "remember this card" keeps the card it was paid with (its
provider ids and label only); that card then gives in one click, once per
dialog key however often the dialog is sent; a monthly pledge is charged
once per period however many sweeps run at once or again (the clock is
passed in, never slept); a declined card is tried a bounded number of
times, then the pledge is paused and its donor mailed; removing the card
detaches it at the provider.  Bad input is refused with a clear error and
writes nothing.
"""
from __future__ import annotations

import asyncio
import datetime

import pytest

from access import roles as R
from donations import giving, pledges, saved_cards, totals
from tests.donations_support import campaign, key_of
from tests.payments_support import (  # noqa: F401 (fixtures)
    hook,
    intents_of,
    localstripe,
    stripe_api,
    stripe_settings,
    until,
)
from tests.support import error_text

VISA = "4242424242424242"
DECLINES = "4000000000000341"   # attaches to a Customer, every charge of it is declined


@pytest.fixture
def settings(localstripe):
    return stripe_settings(localstripe)


@pytest.fixture
def hooked(io_loop, http_server, base_url, localstripe):
    io_loop.run_sync(lambda: hook(localstripe, base_url))


async def card_method(localstripe, number: str = VISA) -> str:
    pm = await stripe_api(localstripe, "POST", "/v1/payment_methods", type="card",
                          **{"card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2030",
                             "card[cvc]": "123"})
    return pm["id"]


async def saved_card(services, localstripe, user, space_id, number: str = VISA) -> dict:
    return await saved_cards.remember(services, user, space_id, await card_method(localstripe, number))


async def snapshot(db) -> dict:
    return {name: await db[name].find({}).to_list(None)
            for name in ("donations", "payment_attempts", "saved_cards", "donor_customers", "donation_pledges",
                         "outbox")}


@pytest.mark.gen_test(timeout=120)
async def test_a_remembered_card_gives_in_one_click_once_under_a_double_submit(services, factory, browser, db,
                                                                              localstripe, hooked):
    found = await campaign(services, factory)
    donor = await factory.user()
    b = browser()
    await b.sign_in(donor["email"], factory.PASSWORD)
    page = await b.get(f"/campaigns/{found['_id']}")
    assert "Remember this card" in page.text and "data-one-click" not in page.text
    r = await b.post(f"/campaigns/{found['_id']}/give", {"key": key_of(page.text), "currency": "EUR", "amount": "25",
                                                          "method": "card", "remember": "1"})
    assert r.status_code == 302 and r.headers["location"].startswith("/pay/")
    attempt = await db.payment_attempts.find_one({"purpose": "donation"})
    customer = await db.donor_customers.find_one({})
    assert attempt["saved"] == {"customer": customer["customer"]}
    # Asked of Stripe for a card to be charged again while the donor is away (else it refuses to keep it).
    intent = await stripe_api(localstripe, "GET", f"/v1/payment_intents/{attempt['provider_ref']}")
    assert intent["setup_future_usage"] == "off_session" and intent["customer"] == customer["customer"]
    # The donor's browser pays on the card page (Stripe.js's part, done here as in test_browser_donations).
    pm = await card_method(localstripe)
    await stripe_api(localstripe, "POST", f"/v1/payment_intents/{attempt['provider_ref']}", payment_method=pm)
    await stripe_api(localstripe, "POST", f"/v1/payment_intents/{attempt['provider_ref']}/confirm")
    card = await until(lambda: db.saved_cards.find_one({"user_id": donor["_id"]}))
    # Provider ids and a label, never card data.
    assert set(card) == {"_id", "user_id", "account", "provider", "customer", "payment_method", "brand", "last4",
                         "exp_month", "exp_year", "state", "created_at", "removed_at"}
    assert (card["payment_method"], card["customer"], card["last4"], card["state"]) == \
        (pm, customer["customer"], "4242", "active")
    assert (await stripe_api(localstripe, "GET", f"/v1/payment_methods/{pm}"))["customer"] == customer["customer"]
    await until(lambda: db.audit.find_one({"action": "donations.card_saved"}))

    page = await b.get(f"/campaigns/{found['_id']}")
    assert "data-one-click" in page.text and "Give €25.00 again" in page.text
    form = {"key": "one-click-dialog-1", "currency": "EUR", "amount": "10", "method": "saved",
            "card": str(card["_id"])}
    # The dialog sent twice at once (a double click), then once more (a retried request).
    answers = await asyncio.gather(*(b.post(f"/campaigns/{found['_id']}/give", form,
                                            headers={"Accept": "application/json"}) for _ in range(2)))
    answers.append(await b.post(f"/campaigns/{found['_id']}/give", form, headers={"Accept": "application/json"}))
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    assert len({a.json()["gift"] for a in answers}) == 1
    gift = await db.donations.find_one({"key": "one-click-dialog-1"})
    assert gift["method"] == giving.SAVED and gift["card_id"] == card["_id"]
    assert await db.payment_attempts.count_documents({"ref": str(gift["_id"])}) == 1
    one = await db.payment_attempts.find_one({"ref": str(gift["_id"])})
    assert one["saved"] == {"customer": customer["customer"], "payment_method": pm}
    intents = await intents_of(localstripe, one["_id"])
    assert len(intents) == 1 and intents[0]["status"] == "succeeded" and intents[0]["customer"] == customer["customer"]
    # It counts once the provider's notification confirms it, as every gift.
    await until(lambda: _confirmed(db, gift["_id"]))
    status = await b.get(answers[0].json()["status_url"], headers={"Accept": "application/json"})
    assert status.json()["paid"] is True
    assert await totals.one(db, found["_id"]) == {"raised": 3500, "donors": 1}


async def _confirmed(db, gift_id) -> bool:
    found = await db.donations.find_one({"_id": gift_id})
    return found["state"] == giving.CONFIRMED


@pytest.mark.gen_test(timeout=120)
async def test_a_pledge_is_charged_once_per_period_by_concurrent_and_repeated_sweeps(services, factory, db,
                                                                                   localstripe, hooked):
    found = await campaign(services, factory)
    donor = await factory.user()
    card = await saved_card(services, localstripe, donor, found["space_id"])
    start = datetime.datetime(2026, 1, 31, 10, 0, tzinfo=datetime.UTC)
    pledge = await pledges.create(services, found, donor, amount="20", currency="EUR", card_id=str(card["_id"]),
                                  key="pledge-form-1", now=start)
    assert (pledge["day"], pledge["period"], pledge["state"]) == (31, "2026-01", pledges.ACTIVE)
    # The same form again: the same pledge.
    again = await pledges.create(services, found, donor, amount="20", currency="EUR", card_id=str(card["_id"]),
                                 key="pledge-form-1", now=start)
    assert again["_id"] == pledge["_id"] and await db.donation_pledges.count_documents({}) == 1

    async def sweeps(now):
        await asyncio.gather(pledges.sweep(services, now), pledges.sweep(services, now))
        await pledges.sweep(services, now)

    await sweeps(start)
    gifts = await db.donations.find({"pledge_id": pledge["_id"]}).to_list(None)
    assert [(g["key"], g["period"]) for g in gifts] == [(f"pledge-{pledge['_id']}-2026-01", "2026-01")]
    assert await db.payment_attempts.count_documents({"ref": str(gifts[0]["_id"])}) == 1
    attempt = await db.payment_attempts.find_one({"ref": str(gifts[0]["_id"])})
    assert len(await intents_of(localstripe, attempt["_id"])) == 1
    await until(lambda: _confirmed(db, gifts[0]["_id"]))
    # Confirmed: the next sweep moves the pledge on to February, anchored on the 31st (February's last day).
    await sweeps(start + datetime.timedelta(minutes=1))
    moved = await pledges.get(db, pledge["_id"])
    assert moved["period"] == "2026-02"
    assert moved["next_charge_at"].replace(tzinfo=datetime.UTC) == datetime.datetime(2026, 2, 28, tzinfo=datetime.UTC)
    await sweeps(datetime.datetime(2026, 2, 27, 23, 0, tzinfo=datetime.UTC))
    assert await db.donations.count_documents({"pledge_id": pledge["_id"]}) == 1

    february = datetime.datetime(2026, 2, 28, 0, 30, tzinfo=datetime.UTC)
    await sweeps(february)
    gifts = await db.donations.find({"pledge_id": pledge["_id"]}).sort("period", 1).to_list(None)
    assert [g["period"] for g in gifts] == ["2026-01", "2026-02"]
    attempts_of = await db.payment_attempts.find({"ref": {"$in": [str(g["_id"]) for g in gifts]}}).to_list(None)
    assert len(attempts_of) == 2
    for a in attempts_of:
        assert len(await intents_of(localstripe, a["_id"])) == 1
    await until(lambda: _confirmed(db, gifts[1]["_id"]))
    await sweeps(february + datetime.timedelta(hours=1))
    assert (await pledges.get(db, pledge["_id"]))["period"] == "2026-03"
    assert await db.donations.count_documents({"pledge_id": pledge["_id"]}) == 2
    assert await totals.one(db, found["_id"]) == {"raised": 4000, "donors": 1}
    assert await db.audit.count_documents({"action": "donations.pledge_create"}) == 1


@pytest.mark.gen_test(timeout=120)
async def test_a_declined_card_pauses_the_pledge_after_bounded_retries_and_mails_the_donor(
        services, factory, db, localstripe, hooked):
    found = await campaign(services, factory, title={"en": "Clean water", "de": "Sauberes Wasser"})
    donor = await factory.user(locale="de")
    card = await saved_card(services, localstripe, donor, found["space_id"], DECLINES)
    start = datetime.datetime(2026, 3, 5, 9, 0, tzinfo=datetime.UTC)
    pledge = await pledges.create(services, found, donor, amount="15", currency="EUR", card_id=str(card["_id"]),
                                  key="pledge-declined", now=start)
    # The first charge was declined at once: one more try in RETRY_DAYS.
    assert (pledge["state"], pledge["failures"], pledge["tries"]) == (pledges.ACTIVE, 1, 1)
    assert pledge["next_charge_at"].replace(tzinfo=datetime.UTC) == start + datetime.timedelta(days=pledges.RETRY_DAYS)
    await pledges.sweep(services, start + datetime.timedelta(days=1))
    assert await db.payment_attempts.count_documents({}) == 1
    day = start
    for _ in range(pledges.MAX_TRIES - 1):
        day += datetime.timedelta(days=pledges.RETRY_DAYS)
        await asyncio.gather(pledges.sweep(services, day), pledges.sweep(services, day))
        await pledges.sweep(services, day)
    after = await pledges.get(db, pledge["_id"])
    assert (after["state"], after["failures"]) == (pledges.PAUSED, pledges.MAX_TRIES)
    # One gift for the period, one payment attempt per try, each declined; nothing counted.
    gifts = await db.donations.find({"pledge_id": pledge["_id"]}).to_list(None)
    assert len(gifts) == 1 and gifts[0]["state"] == giving.PENDING
    tried = await db.payment_attempts.find({"ref": str(gifts[0]["_id"])}).to_list(None)
    assert sorted(a["idempotency_key"] for a in tried) == [f"donation-{gifts[0]['_id']}",
                                                          f"donation-{gifts[0]['_id']}-1",
                                                          f"donation-{gifts[0]['_id']}-2"]
    assert {a["state"] for a in tried} == {"failed"}
    assert await totals.one(db, found["_id"]) == {"raised": 0, "donors": 0}
    mails = await db.outbox.find({"kind": pledges.PAUSED_MAIL}).to_list(None)
    assert len(mails) == 1 and mails[0]["to"] == donor["email"]
    assert "Sauberes Wasser" in mails[0]["subject"] and "pausiert" in mails[0]["subject"]
    assert await db.audit.count_documents({"action": "donations.pledge_pause"}) == 1
    # Paused: later sweeps charge nothing.
    await pledges.sweep(services, day + datetime.timedelta(days=40))
    assert await db.payment_attempts.count_documents({}) == pledges.MAX_TRIES


@pytest.mark.gen_test(timeout=120)
async def test_removing_a_saved_card_detaches_it_and_pauses_its_pledges(services, factory, browser, db,
                                                                         localstripe, hooked):
    found = await campaign(services, factory)
    donor = await factory.user()
    card = await saved_card(services, localstripe, donor, found["space_id"])
    pledge = await pledges.create(services, found, donor, amount="5", currency="EUR", card_id=str(card["_id"]),
                                  key="pledge-before-removal")
    b = browser()
    await b.sign_in(donor["email"], factory.PASSWORD)
    page = await b.get("/me/giving")
    assert f'data-card="{card["_id"]}"' in page.text and "VISA ···· 4242" in page.text
    assert f'data-pledge="{pledge["_id"]}"' in page.text
    r = await b.post(f"/me/giving/cards/{card['_id']}/remove")
    assert r.status_code == 302
    gone = await db.saved_cards.find_one({"_id": card["_id"]})
    assert gone["state"] == saved_cards.REMOVED
    assert (await stripe_api(localstripe, "GET", f"/v1/payment_methods/{card['payment_method']}"))["customer"] is None
    assert (await pledges.get(db, pledge["_id"]))["state"] == pledges.PAUSED
    assert await db.audit.count_documents({"action": "donations.card_removed"}) == 1
    page = await b.get("/me/giving")
    assert f'data-card="{card["_id"]}"' not in page.text
    # The removed card no longer gives.
    r = await b.post(f"/campaigns/{found['_id']}/give", {"key": "after-removal-1", "currency": "EUR", "amount": "5",
                                                          "method": "saved", "card": str(card["_id"])})
    assert r.status_code == 400 and error_text(r.text) == "This saved card does not exist."
    # Removing it again: refused, nothing more changes.
    r = await b.post(f"/me/giving/cards/{card['_id']}/remove")
    assert r.status_code == 400 and error_text(r.text) == "This saved card does not exist."
    assert await db.audit.count_documents({"action": "donations.card_removed"}) == 1


@pytest.mark.gen_test(timeout=120)
async def test_bad_input_is_refused_with_a_clear_error_and_nothing_written(services, factory, browser, db,
                                                                         localstripe):
    found = await campaign(services, factory)
    donor = await factory.user()
    other = await factory.user()
    card = await saved_card(services, localstripe, donor, found["space_id"])
    theirs = await saved_card(services, localstripe, other, found["space_id"])
    pledge = await pledges.create(services, found, other, amount="5", currency="EUR", card_id=str(theirs["_id"]),
                                  key="their-pledge-1")
    before = await snapshot(db)
    b = browser()
    await b.sign_in(donor["email"], factory.PASSWORD)
    base = {"currency": "EUR", "method": "saved", "card": str(card["_id"])}
    cases = [
        ({"amount": "-5", "key": "bad-input-1"}, "“-5” is not an amount."),
        ({"amount": "5", "key": "bad-input-2", "card": str(theirs["_id"])}, "This saved card does not exist."),
        ({"amount": "5", "key": "bad-input-3", "card": "not-an-id"}, "This saved card does not exist."),
        ({"amount": "5", "key": "bad-input-4", "currency": "USD"}, "This campaign takes gifts in EUR only."),
        ({"amount": "-5", "key": "bad-input-5", "monthly": "1"}, "“-5” is not an amount."),
        ({"amount": "5", "key": "bad-input-6", "monthly": "1", "card": str(theirs["_id"])},
         "This saved card does not exist."),
    ]
    for fields, message in cases:
        r = await b.post(f"/campaigns/{found['_id']}/give", {**base, **fields})
        assert r.status_code == 400 and error_text(r.text) == message, (fields, r.status_code, error_text(r.text))
        r = await b.post(f"/campaigns/{found['_id']}/give", {**base, **fields}, headers={"Accept": "application/json"})
        assert r.status_code == 400 and r.json()["message"] == message
    # Another donor's pledge: not theirs to change.
    r = await b.post(f"/me/giving/pledges/{pledge['_id']}/cancel")
    assert r.status_code == 400 and error_text(r.text) == "This monthly gift does not exist."
    # A guest cannot give with a saved card.
    guest = browser()
    r = await guest.post(f"/campaigns/{found['_id']}/give", {**base, "amount": "5", "key": "bad-input-7"})
    assert r.status_code == 400 and error_text(r.text) == "Sign in to give with a saved card."
    # Another space's staff do not see this campaign's pledges.
    stranger = await factory.member(R.SPACE_ADMIN, space=await factory.space())
    s = browser()
    await s.sign_in(stranger["email"], factory.PASSWORD)
    r = await s.get(f"/admin/spaces/{found['space_id']}/campaigns/{found['_id']}")
    assert r.status_code in (403, 404) and str(pledge["_id"]) not in r.text
    assert await snapshot(db) == before
    # Its own space's staff do.
    admin = await factory.member(R.SPACE_ADMIN, space={"_id": found["space_id"]})
    a = browser()
    await a.sign_in(admin["email"], factory.PASSWORD)
    r = await a.get(f"/admin/spaces/{found['space_id']}/campaigns/{found['_id']}")
    assert r.status_code == 200 and f'data-pledge="{pledge["_id"]}"' in r.text and other["email"] in r.text


@pytest.mark.gen_test(timeout=120)
async def test_a_donor_pauses_resumes_and_cancels_a_monthly_gift_in_the_cabinet(services, factory, browser, db,
                                                                              localstripe, hooked):
    found = await campaign(services, factory)
    donor = await factory.user()
    card = await saved_card(services, localstripe, donor, found["space_id"])
    b = browser()
    await b.sign_in(donor["email"], factory.PASSWORD)
    # Made from the one-click dialog with "every month" ticked: the first month is charged at once.
    form = {"key": "monthly-dialog-1", "currency": "EUR", "amount": "7", "method": "saved", "card": str(card["_id"]),
            "monthly": "1"}
    answers = [await b.post(f"/campaigns/{found['_id']}/give", form, headers={"Accept": "application/json"})
               for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200] and answers[0].json()["gift"] == answers[1].json()["gift"]
    pledge = await db.donation_pledges.find_one({"user_id": donor["_id"]})
    assert await db.donation_pledges.count_documents({}) == 1 and pledge["amount"] == 700
    await until(lambda: _confirmed(db, pledge_gift_id(answers[0])))
    page = await b.get("/me/giving")
    assert 'data-state="active"' in page.text and f"/me/giving/pledges/{pledge['_id']}/pause" in page.text

    for change, state in (("pause", pledges.PAUSED), ("resume", pledges.ACTIVE), ("cancel", pledges.CANCELLED)):
        r = await b.post(f"/me/giving/pledges/{pledge['_id']}/{change}")
        assert r.status_code == 302, (change, r.text[:300])
        assert (await pledges.get(db, pledge["_id"]))["state"] == state
        assert await db.audit.count_documents({"action": f"donations.pledge_{change}"}) == 1
    # Cancelled is final.
    r = await b.post(f"/me/giving/pledges/{pledge['_id']}/resume")
    assert r.status_code == 400 and error_text(r.text) == "This monthly gift cannot be changed so: it is cancelled."
    page = await b.get("/me/giving")
    assert 'data-state="cancelled"' in page.text and f"/me/giving/pledges/{pledge['_id']}/resume" not in page.text
    far = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=90)
    await pledges.sweep(services, far)
    assert await db.donations.count_documents({"pledge_id": pledge["_id"]}) == 1


def pledge_gift_id(answer):
    from bson import ObjectId
    return ObjectId(answer.json()["gift"])


@pytest.mark.gen_test(timeout=120)
async def test_a_card_gift_given_every_month_is_the_first_month_of_a_pledge(services, factory, browser, db,
                                                                           localstripe, hooked):
    found = await campaign(services, factory)
    donor = await factory.user()
    b = browser()
    await b.sign_in(donor["email"], factory.PASSWORD)
    page = await b.get(f"/campaigns/{found['_id']}")
    r = await b.post(f"/campaigns/{found['_id']}/give", {"key": key_of(page.text), "currency": "EUR", "amount": "12",
                                                          "method": "card", "monthly": "1"})
    assert r.status_code == 302 and r.headers["location"].startswith("/pay/")
    attempt = await db.payment_attempts.find_one({"purpose": "donation"})
    pm = await card_method(localstripe)
    await stripe_api(localstripe, "POST", f"/v1/payment_intents/{attempt['provider_ref']}", payment_method=pm)
    await stripe_api(localstripe, "POST", f"/v1/payment_intents/{attempt['provider_ref']}/confirm")
    pledge = await until(lambda: db.donation_pledges.find_one({"user_id": donor["_id"]}))
    first = await db.donations.find_one({"_id": pledge["last_donation_id"]})
    assert first["state"] == giving.CONFIRMED and first["pledge_id"] == pledge["_id"]
    # This month is paid by the gift itself: the pledge is due next month, on the same day.
    assert (pledge["amount"], pledge["state"], pledge["period"]) == (1200, pledges.ACTIVE,
                                                                     pledges._next(first["period"]))
    due = pledge["next_charge_at"].replace(tzinfo=datetime.UTC)
    await pledges.sweep(services, due - datetime.timedelta(hours=1))
    assert await db.donations.count_documents({}) == 1
    await asyncio.gather(pledges.sweep(services, due), pledges.sweep(services, due))
    second = await db.donations.find_one({"key": f"pledge-{pledge['_id']}-{pledge['period']}"})
    assert second is not None and second["method"] == giving.SAVED
    await until(lambda: _confirmed(db, second["_id"]))
    assert await totals.one(db, found["_id"]) == {"raised": 2400, "donors": 1}
    # Every month asked of a wallet gift or a guest: refused, nothing stored.
    r = await b.post(f"/campaigns/{found['_id']}/give", {"key": "monthly-wallet-1", "currency": "EUR", "amount": "5",
                                                          "method": "wallet", "monthly": "1"})
    assert r.status_code == 400 and \
        error_text(r.text) == "A monthly gift is paid by card: sign in and choose to give by card."
    assert await db.donations.count_documents({}) == 2
