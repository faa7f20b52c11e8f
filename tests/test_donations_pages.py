"""Campaign pages: staff make and change campaigns through their pages; the public list filters them;
a refund takes its amount off the totals; a wallet is topped up by card through localstripe.
"""
from __future__ import annotations

import json

import pytest
from bson import ObjectId
from tornado.httpclient import HTTPClientError

from access import roles as R
from donations import campaigns, giving, totals, wallet
from payments import attempts
from realtime import protocol
from tests.donations_support import Totals, campaign, key_of
from tests.orders_support import drain
from tests.payments_support import hook, localstripe, stripe_settings, until  # noqa: F401 (fixtures)
from tests.support import error_text


@pytest.fixture
def settings(localstripe):
    return stripe_settings(localstripe)


def staff_form(**fields) -> dict:
    return {"title_en": "School books", "title_ru": "Учебники", "story_en": "Books for a school.", "category":
            "education", "state": "open", "goal": "500.50", "currency": "EUR", "deadline": "2030-01-31",
            "event_id": "", **fields}


@pytest.mark.gen_test(timeout=90)
async def test_space_admins_make_and_change_campaigns_and_the_public_list_filters_them(services, factory, browser,
                                                                                      db):
    space = await factory.space()
    other = await factory.space()
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    b = browser(locale="en")
    await b.sign_in(admin["login"], factory.PASSWORD)
    base = f"/admin/spaces/{space['_id']}/campaigns"
    assert (await b.get(base + "/new")).status_code == 200
    for fields, message in (({"goal": "-1"}, "“-1” is not an amount."), ({"goal": "0"}, "The goal must be more "
                                                                           "than zero."),
                            ({"title_en": "", "title_ru": ""}, "Give the campaign a title in at least one language."),
                            ({"currency": "XXX"}, "Unknown currency “XXX”."),
                            ({"category": "weapons"}, "Choose a category."),
                            ({"deadline": "soon"}, "The deadline is not a date.")):
        r = await b.post(base + "/new", staff_form(**fields))
        assert r.status_code == 400 and error_text(r.text) == message, (fields, error_text(r.text))
    assert await db.donation_campaigns.count_documents({}) == 0
    r = await b.post(base + "/new", staff_form())
    assert r.status_code == 302, error_text(r.text)
    made = await db.donation_campaigns.find_one({})
    assert (made["goal"], made["currency"], made["title"], made["space_id"]) == \
        (50050, "EUR", {"en": "School books", "ru": "Учебники"}, space["_id"])
    assert await db.audit.find_one({"action": "donations.campaign_create"})
    r = await b.post(f"{base}/{made['_id']}", staff_form(state="closed", category="health"))
    assert r.status_code == 302
    assert (await db.donation_campaigns.find_one({}))["state"] == "closed"
    # Another space's campaign through this space's URL: not found, unchanged.
    foreign = await campaign(services, factory, space=other, title={"en": "Foreign"})
    foreign = await db.donation_campaigns.find_one({"_id": foreign["_id"]})
    for r in (await b.get(f"{base}/{foreign['_id']}"),
              await b.post(f"{base}/{foreign['_id']}", staff_form())):
        assert r.status_code == 404
    assert await db.donation_campaigns.find_one({"_id": foreign["_id"]}) == foreign
    # The public list: drafts never, filters by category and state.
    await campaign(services, factory, space=space, title={"en": "Wells"}, category="water")
    await campaign(services, factory, space=space, title={"en": "Hidden draft"}, state=campaigns.DRAFT)
    page = (await b.get(f"/spaces/{space['slug']}/campaigns")).text
    assert "Wells" in page and "School books" in page and "Hidden draft" not in page and "Foreign" not in page
    page = (await b.get(f"/spaces/{space['slug']}/campaigns?category=water")).text
    assert "Wells" in page and "School books" not in page
    page = (await b.get(f"/spaces/{space['slug']}/campaigns?state=closed")).text
    assert "Wells" not in page and "School books" in page
    listed = (await b.get(base)).text
    assert "Hidden draft" in listed and "Foreign" not in listed


@pytest.mark.gen_test(timeout=120)
async def test_a_refund_takes_the_gift_off_the_totals(services, factory, browser, db, base_url, localstripe,
                                                      http_server):
    await hook(localstripe, base_url)
    found = await campaign(services, factory)
    b = browser()
    page = await b.get(f"/campaigns/{found['_id']}")
    r = await b.post(f"/campaigns/{found['_id']}/give", {"key": key_of(page.text), "currency": "EUR",
                                                         "amount": "40", "email": "x@example.org", "method": "card"})
    assert r.status_code == 302
    attempt = await db.payment_attempts.find_one({})
    live = await Totals.follow(base_url, found["_id"])
    await live.next()
    assert await services.payments.provider(attempt).execute(attempt, "pm_card_visa") == "succeeded"
    await live.until(lambda f: f["raised"] == 4000)
    await until(lambda: _paid(db, attempt))
    await attempts.refund(services, attempt_id=attempt["_id"], amount=1500, reason="asked", idempotency_key="r1",
                          actor=None)
    assert (await live.until(lambda f: f["raised"] == 2500))["donors"] == 1
    await attempts.refund(services, attempt_id=attempt["_id"], amount=2500, reason="asked", idempotency_key="r2",
                          actor=None)
    assert (await live.until(lambda f: f["raised"] == 0))["donors"] == 0
    await drain(services)
    gift = await db.donations.find_one({})
    assert gift["state"] == giving.REFUNDED and gift["refunded"] == 4000
    assert await totals.one(db, found["_id"]) == {"raised": 0, "donors": 0}
    live.close()


async def _paid(db, attempt):
    found = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    return found["state"] == "succeeded" and not found["callbacks"]


@pytest.mark.gen_test(timeout=120)
async def test_a_wallet_is_topped_up_by_card_once(services, factory, browser, db, base_url, localstripe,
                                                   http_server):
    await hook(localstripe, base_url)
    donor = await factory.user()
    b = browser(locale="en")
    await b.sign_in(donor["login"], factory.PASSWORD)
    page = await b.get("/me/wallet")
    assert page.status_code == 200 and "Your wallet is empty." in page.text
    form = {"key": key_of(page.text), "amount": "30", "currency": "EUR"}
    first, second = await b.post("/me/wallet/top-up", form), await b.post("/me/wallet/top-up", form)
    assert first.status_code == second.status_code == 302
    assert first.headers["location"] == second.headers["location"]
    attempt = await db.payment_attempts.find_one({"purpose": "wallet"})
    assert (attempt["amount"], attempt["ref"]) == (3000, str(donor["_id"]))
    r = await b.post("/me/wallet/top-up", {**form, "amount": "31"})
    assert r.status_code == 400 and error_text(r.text) == \
        "This form was already sent with another amount: please open it again."
    assert await services.payments.provider(attempt).execute(attempt, "pm_card_visa") == "succeeded"

    async def credited():
        return await wallet.balance(db, donor["_id"], "EUR") == 3000
    await until(credited)
    await drain(services)
    assert await wallet.audit(db, donor["_id"], "EUR") == (3000, 3000)
    page = await b.get("/me/wallet")
    assert "Top-up by card" in page.text
    # The wallet gives on a campaign's page.
    found = await campaign(services, factory)
    page = await b.get(f"/campaigns/{found['_id']}")
    r = await b.post(f"/campaigns/{found['_id']}/give", {"key": key_of(page.text), "currency": "EUR",
                                                         "amount": "12.50", "method": "wallet"})
    assert r.status_code == 302 and "?gift=" in r.headers["location"], error_text(r.text)
    assert "gift-confirmed" in (await b.get(r.headers["location"])).text
    assert await wallet.balance(db, donor["_id"], "EUR") == 1750
    r = await b.post(f"/campaigns/{found['_id']}/give", {"key": key_of(page.text) + "x", "currency": "EUR",
                                                         "amount": "20", "method": "wallet"})
    assert r.status_code == 400 and error_text(r.text) == "Your wallet does not hold enough for this gift."
    assert await wallet.balance(db, donor["_id"], "EUR") == 1750


@pytest.mark.gen_test(timeout=60)
async def test_a_campaign_socket_follows_totals_only_and_drafts_are_not_found(services, factory, base_url, db,
                                                                              http_server):
    found = await campaign(services, factory)
    live = await Totals.follow(base_url, found["_id"])
    assert (await live.next())["type"] == "donations"
    await live.conn.write_message(json.dumps({"type": "join", "room": "ev:{x}:pub:en", "ref": "j"}))
    refused = await live.next()
    assert refused["type"] == "error" and refused["code"] == protocol.DONATIONS_ONLY and refused["ref"] == "j"
    await live.conn.write_message(json.dumps({"type": "ping", "ref": "p"}))
    assert (await live.next())["type"] == "pong"
    live.close()
    draft = await campaign(services, factory, state=campaigns.DRAFT)
    for cid in (draft["_id"], ObjectId(), "nonsense"):
        with pytest.raises(HTTPClientError) as refused_upgrade:
            await Totals.follow(base_url, cid)
        assert refused_upgrade.value.code == 404


@pytest.mark.gen_test(timeout=60)
async def test_an_events_page_shows_the_totals_of_its_open_campaigns(services, factory, browser, db):
    event = await factory.event(locales=("en",))
    space = await db.spaces.find_one({"_id": event["space_id"]})
    tied = await campaign(services, factory, space=space, title={"en": "Wells for the evening"},
                          event_id=str(event["_id"]))
    await campaign(services, factory, space=space, title={"en": "A draft for the evening"},
                   event_id=str(event["_id"]), state=campaigns.DRAFT)
    await campaign(services, factory, space=space, title={"en": "Not tied"})
    donor = await factory.user()
    await giving.on_topup_paid(services, str(donor["_id"]), {"_id": ObjectId(), "amount": 900, "currency": "EUR"})
    await giving.give(services, tied, amount="9", currency="EUR", key="evening-gift", method="wallet", user=donor,
                      locale="en")
    attendee = await factory.member(R.ATTENDEE, event=event)
    b = browser(locale="en")
    await b.sign_in(attendee["login"], factory.PASSWORD)
    page = (await b.get(f"/e/{space['slug']}/{event['slug']}")).text
    assert f'data-campaign-live="{tied["_id"]}"' in page and 'data-raised="900"' in page
    assert "Wells for the evening" in page and "A draft for the evening" not in page and "Not tied" not in page
    assert "js/campaign.js" in page


@pytest.mark.gen_test(timeout=60)
async def test_staff_see_a_campaigns_gifts_and_hide_a_message(services, factory, browser, db):
    space = await factory.space()
    found = await campaign(services, factory, space=space)
    other = await campaign(services, factory, space=space, title={"en": "Other"})
    donor = await factory.user(name="Greta Giver")
    await giving.on_topup_paid(services, str(donor["_id"]), {"_id": ObjectId(), "amount": 900, "currency": "EUR"})
    gift = await giving.give(services, found, amount="9", currency="EUR", key="gift-with-message", method="wallet",
                             user=donor, locale="en", message="Rude words here")
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    b = browser(locale="en")
    await b.sign_in(admin["login"], factory.PASSWORD)
    base = f"/admin/spaces/{space['_id']}/campaigns"
    page = (await b.get(f"{base}/{found['_id']}")).text
    assert "Greta Giver" in page and "Rude words here" in page
    assert "Rude words here" in (await b.get(f"/campaigns/{found['_id']}")).text
    # A gift of another campaign through this one's URL: not found, unchanged.
    r = await b.post(f"{base}/{other['_id']}/gifts/{gift['_id']}/hide")
    assert r.status_code == 404 and "message_hidden" not in await db.donations.find_one({})
    r = await b.post(f"{base}/{found['_id']}/gifts/{gift['_id']}/hide")
    assert r.status_code == 302
    public = (await b.get(f"/campaigns/{found['_id']}")).text
    assert "Rude words here" not in public and "Greta Giver" in public
    assert await totals.one(db, found["_id"]) == {"raised": 900, "donors": 1}
    assert await db.audit.find_one({"action": "donations.message_hidden"})
    r = await b.post(f"{base}/{found['_id']}/gifts/{gift['_id']}/hide", {"show": "1"})
    assert r.status_code == 302 and "Rude words here" in (await b.get(f"/campaigns/{found['_id']}")).text
