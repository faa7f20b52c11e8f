"""Web Push and mail to a donor segment, end to end against a local push service.

The push service (`tests/push_service.py`) is a real HTTP server that
checks each request's VAPID signature (ES256 against the key in the
request, `aud` its own origin, `exp` ahead) and decrypts its aes128gcm body
with the private key of the browser the test made (RFC 8291).  A push to a
segment reaches the subscribed browsers of its donors, signed and
decryptable, and its address opens the campaign's gift dialog with the
gift attributed to "push"; a forged subscription is refused at
subscribing; a 410 deletes the subscription; a revoked subscription and an
address that unsubscribed are not contacted again.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
import urllib.parse

import pytest
from bson import ObjectId

from access import roles as R
from core.clock import utcnow
from donations import appeals, campaigns, giving, push, segments
from tests.donations_support import campaign
from tests.push_service import PushService, b64
from tests.support import error_text, translated

PUBLIC = "https://give.example.org"


@pytest.fixture
def push_service(io_loop):
    service = PushService()
    yield service
    service.stop()


@pytest.fixture
def settings(settings, push_service):
    # Only the local service is an allowed push service here; links are made for the public address.
    return dataclasses.replace(settings, push_services=push_service.origin, base_url=PUBLIC)


async def donor(services, factory, found: dict, *, locale: str = "ru", amount: str = "10") -> dict:
    """A signed-up donor who gave to `found` from their wallet (the real giving path)."""
    user = await factory.user(locale=locale)
    await giving.on_topup_paid(services, str(user["_id"]), {"_id": ObjectId(), "amount": 100000, "currency": "EUR"})
    await giving.give(services, found, amount=amount, currency="EUR", key=ObjectId().binary.hex(), method="wallet",
                      user=user, locale=locale)
    return user


async def subscribe(b, space_id, subscription: dict, **extra):
    return await b.client.post("/push/subscriptions", content=json.dumps(
        {"space": str(space_id), "subscription": subscription, **extra}),
        headers={"X-XSRFToken": await b.xsrf(), "Content-Type": "application/json", "Accept": "application/json"})


async def send_appeal(services, found, segment_id, channel="push", message="Wells need you today", **kw):
    admin = await services.db.users.find_one({"_id": (await services.db.memberships.find_one(
        {"scope_id": found["space_id"], "role": R.SPACE_ADMIN}))["user_id"]})
    space = await services.db.spaces.find_one({"_id": found["space_id"]})
    appeal = await appeals.create(services, admin, space, segment_id=str(segment_id), campaign_id=str(found["_id"]),
                                  channel=channel, message=message, key=kw.get("key") or ObjectId().binary.hex())
    await appeals.run(services, appeal["_id"])
    return await services.db.donation_appeals.find_one({"_id": appeal["_id"]})


async def segment_of(services, found, **fields) -> dict:
    admin = await services.db.users.find_one({})
    space = await services.db.spaces.find_one({"_id": found["space_id"]})
    return await segments.create(services.db, admin, space, segments.clean(
        {**segments.blank_form(), "name": "All donors", **fields}))


@pytest.mark.gen_test(timeout=90)
async def test_a_push_to_a_segment_reaches_the_browser_signed_decryptable_and_opens_the_gift_dialog(
        services, factory, db, browser, push_service):
    found = await campaign(services, factory)
    space_id = found["space_id"]
    giver = await donor(services, factory, found, locale="ru")
    # A browser of the donor subscribes from the campaign's page.
    b = browser(locale="ru")
    await b.sign_in(giver["email"], factory.PASSWORD)
    page = await b.get(f"/campaigns/{found['_id']}")
    assert f'data-push-space="{space_id}"' in page.text and "js/push.js" in page.text
    phone = push_service.browser()
    r = await subscribe(b, space_id, phone.subscription())
    assert r.status_code == 201, r.text
    again = await subscribe(b, space_id, phone.subscription())
    assert again.status_code == 201 and await db.push_subscriptions.count_documents({}) == 1
    # A browser subscribed by someone who never gave: not in any donor segment.
    bystander = await factory.user(locale="en")
    other = browser(locale="en")
    await other.sign_in(bystander["email"], factory.PASSWORD)
    stranger = push_service.browser()
    assert (await subscribe(other, space_id, stranger.subscription())).status_code == 201

    # Staff build the segment and send by push from its page.
    admin = await factory.member(R.SPACE_ADMIN, space={"_id": space_id})
    staff = browser(locale="en")
    await staff.sign_in(admin["email"], factory.PASSWORD)
    base = f"/admin/spaces/{space_id}/segments"
    r = await staff.post(base, {**segments.blank_form(), "name": "Registered", "kind": "registered"})
    assert r.status_code == 302, error_text(r.text)
    segment_page = await staff.get(r.headers["location"])
    key = re.search(r'name="key" value="([^"]+)"', segment_page.text).group(1)
    form = {"key": key, "campaign_id": str(found["_id"]), "channel": "push", "message": "Wells need you today"}
    sent = await staff.post(f"{r.headers['location']}/appeals", form)
    assert sent.status_code == 302 and "/appeals/" in sent.headers["location"], error_text(sent.text)
    # The same form sent again (a double click): the same appeal.
    assert (await staff.post(f"{r.headers['location']}/appeals", form)).headers["location"] == sent.headers["location"]
    appeal_id = ObjectId(sent.headers["location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + 20
    while (await db.donation_appeals.find_one({"_id": appeal_id}))["status"] != appeals.DONE:
        assert time.monotonic() < deadline, "the appeal did not finish"
        await asyncio.sleep(0.05)
    progress = await staff.get(sent.headers["location"])
    assert progress.status_code == 200 and "appeal-sent" in progress.text

    assert push_service.refused == []
    [got] = push_service.to(phone)
    assert push_service.to(stranger) == []
    assert got["payload"] == {"title": "Чистая вода", "body": "Wells need you today",
                              "url": f"/campaigns/{found['_id']}?src=push#give",
                              "tag": f"appeal-{appeal_id}"}
    stored_key = await db.platform_keys.find_one({"_id": "vapid"})
    assert got["claims"]["aud"] == push_service.origin and got["claims"]["sub"] == PUBLIC
    assert got["claims"]["_key"] == stored_key["public"] == (await b.get("/push/key")).json()["key"]
    assert got["headers"]["Ttl"] == str(push.TTL_SECONDS)

    # The notification's address opens the campaign's page at its gift form, and the gift it makes says "push".
    url = urllib.parse.urlsplit(got["payload"]["url"])
    page = await b.get(f"{url.path}?{url.query}")
    assert 'id="give"' in page.text and '<input type="hidden" name="source" value="push">' in page.text
    r = await b.post(f"{url.path}/give", {"key": ObjectId().binary.hex(), "currency": "EUR", "amount": "7",
                                          "method": "wallet", "source": "push", "message": ""})
    assert r.status_code == 302, error_text(r.text)
    gift = await db.donations.find_one({"amount": 700})
    assert gift["source"] == "push" and gift["state"] == giving.CONFIRMED
    # A source that is not a source is refused, and nothing is stored.
    r = await b.post(f"{url.path}/give", {"key": ObjectId().binary.hex(), "currency": "EUR", "amount": "8",
                                          "method": "wallet", "source": "<script>", "message": ""})
    assert r.status_code == 400 and error_text(r.text) == translated(services, "ru", giving.BAD_SOURCE)
    assert await db.donations.find_one({"amount": 800}) is None


@pytest.mark.gen_test(timeout=60)
async def test_a_forged_or_invalid_subscription_is_refused_at_subscribing(services, factory, db, browser,
                                                                         push_service):
    found = await campaign(services, factory)
    b = browser(locale="de")
    good = push_service.browser().subscription()
    bad_point = {**good, "keys": {**good["keys"], "p256dh": b64(b"\x04" + bytes(range(64)))}}
    for subscription, message in [
        ({**good, "endpoint": "https://evil.example.org/push/x"}, push.UNKNOWN_SERVICE),
        ({**good, "endpoint": good["endpoint"].replace("127.0.0.1", "localhost")}, push.UNKNOWN_SERVICE),
        ({**good, "endpoint": "http://127.0.0.1:1/push/x"}, push.UNKNOWN_SERVICE),
        (bad_point, push.BAD_SUBSCRIPTION),
        ({**good, "keys": {**good["keys"], "auth": b64(b"short")}}, push.BAD_SUBSCRIPTION),
        ({**good, "keys": {"p256dh": good["keys"]["p256dh"]}}, push.BAD_SUBSCRIPTION),
        ({"endpoint": good["endpoint"]}, push.BAD_SUBSCRIPTION),
        ("not a subscription", push.BAD_SUBSCRIPTION),
    ]:
        r = await subscribe(b, found["space_id"], subscription)
        assert r.status_code == 400 and r.json()["message"] == services.i18n.gettext("de")(message), subscription
    r = await subscribe(b, ObjectId(), good)
    assert r.status_code == 400
    r = await b.client.post("/push/subscriptions", content=b"{not json", headers={
        "X-XSRFToken": await b.xsrf(), "Accept": "application/json"})
    assert r.status_code == 400
    # Without the XSRF header the request is not from this site's page.
    r = await b.client.post("/push/subscriptions", content=json.dumps({"space": str(found["space_id"]),
                                                                       "subscription": good}))
    assert r.status_code == 403
    assert await db.push_subscriptions.count_documents({}) == 0


@pytest.mark.gen_test(timeout=60)
async def test_a_gone_subscription_is_deleted_and_a_revoked_one_is_not_pushed_again(services, factory, db, browser,
                                                                                 push_service):
    found = await campaign(services, factory)
    space_id = found["space_id"]
    segment = await segment_of(services, found)
    phones = {}
    for name in ("kept", "gone", "revoked"):
        giver = await donor(services, factory, found, locale="en")
        b = browser()
        await b.sign_in(giver["email"], factory.PASSWORD)
        phones[name] = (push_service.browser(), b)
        assert (await subscribe(b, space_id, phones[name][0].subscription())).status_code == 201
    push_service.gone.add(phones["gone"][0].token)
    # Revoked by its browser (the page's "Turn off notifications").
    b = phones["revoked"][1]
    r = await b.client.request("DELETE", "/push/subscriptions", content=json.dumps(
        {"space": str(space_id), "endpoint": phones["revoked"][0].endpoint}),
        headers={"X-XSRFToken": await b.xsrf(), "Accept": "application/json"})
    assert r.status_code == 200 and r.json() == {"removed": 1}

    first = await send_appeal(services, found, segment["_id"])
    assert (first["total"], first["sent"], first["failed"]) == (2, 1, 1)
    assert len(push_service.to(phones["kept"][0])) == 1 and push_service.to(phones["revoked"][0]) == []
    assert [r["status"] for r in push_service.refused] == [410]
    item = await db.donation_appeal_items.find_one({"appeal_id": first["_id"], "status": appeals.FAILED})
    assert item["error"].startswith("410")
    assert await db.push_subscriptions.find_one({"endpoint": phones["gone"][0].endpoint}) is None

    # The next appeal reaches the one left, once; the gone one is not tried again.
    second = await send_appeal(services, found, segment["_id"])
    assert (second["total"], second["sent"], second["failed"]) == (1, 1, 0)
    assert len(push_service.to(phones["kept"][0])) == 2 and len(push_service.refused) == 1

    # A subscription revoked after an appeal was made, before its turn, is skipped.
    admin = await db.users.find_one({})
    space = await db.spaces.find_one({"_id": space_id})
    third = await appeals.create(services, admin, space, segment_id=str(segment["_id"]),
                                 campaign_id=str(found["_id"]), channel="push", message="Again",
                                 key=ObjectId().binary.hex())
    await push.unsubscribe(db, phones["kept"][0].endpoint)
    await appeals.run(services, third["_id"])
    third = await db.donation_appeals.find_one({"_id": third["_id"]})
    assert (third["sent"], third["skipped"]) == (0, 1) and len(push_service.to(phones["kept"][0])) == 2
    with pytest.raises(appeals.AppealError) as caught:
        await appeals.create(services, admin, space, segment_id=str(segment["_id"]), campaign_id=str(found["_id"]),
                             channel="push", message="Anyone?", key=ObjectId().binary.hex())
    assert caught.value.message == appeals.NO_ONE


@pytest.mark.gen_test(timeout=60)
async def test_mail_to_a_segment_carries_the_unsubscribe_link_and_an_unsubscribed_address_gets_no_more(
        services, factory, db, browser):
    found = await campaign(services, factory)
    stays = await donor(services, factory, found, locale="de")
    leaves = await donor(services, factory, found, locale="en")
    # A guest donor too (a confirmed card gift, as `giving` stores it).
    await db.donations.insert_one({
        "_id": ObjectId(), "space_id": found["space_id"], "campaign_id": found["_id"], "key": "guest-gift-1",
        "amount": 900, "currency": "EUR", "method": "card", "state": giving.CONFIRMED, "refunded": 0,
        "donor": {"user_id": None, "email": "guest@example.org", "name": "Gus", "locale": "ru"},
        "donor_key": "e:guest@example.org", "anonymous": False, "message": "", "source": None,
        "attempt_id": None, "created_at": utcnow(), "confirmed_at": utcnow(), "receipt": None})
    segment = await segment_of(services, found)

    first = await send_appeal(services, found, segment["_id"], channel="mail", message="Winter is coming")
    assert (first["total"], first["sent"], first["skipped"]) == (3, 3, 0)
    mails = {m["to"]: m for m in await db.outbox.find({"kind": appeals.MAIL_KIND}).to_list(None)}
    assert set(mails) == {stays["email"], leaves["email"], "guest@example.org"}
    for m in mails.values():
        link = m["headers"]["List-Unsubscribe"].strip("<>")
        assert link.startswith(f"{PUBLIC}/unsubscribe?t=") and link in m["text"]
        assert m["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "Winter is coming" in m["text"] and f"{PUBLIC}/campaigns/{found['_id']}?src=mail#give" in m["text"]

    # The registered donor and the guest unsubscribe with their links (the mail client's one-click POST).
    b = browser()
    for who in (leaves["email"], "guest@example.org"):
        link = mails[who]["headers"]["List-Unsubscribe"].strip("<>")
        path = link[len(PUBLIC):]
        page = await b.get(path)
        assert page.status_code == 200 and translated(services, "en", "appeals for donations") in page.text
        assert (await b.client.post(path, content=b"List-Unsubscribe=One-Click")).status_code == 200

    second = await send_appeal(services, found, segment["_id"], channel="mail", message="Still cold")
    assert (second["total"], second["sent"], second["skipped"]) == (3, 1, 2)
    again = await db.outbox.find({"kind": appeals.MAIL_KIND, "text": {"$regex": "Still cold"}}).to_list(None)
    assert [m["to"] for m in again] == [stays["email"]]


@pytest.mark.gen_test(timeout=60)
async def test_a_guest_who_subscribes_after_giving_is_reached_through_their_gift(services, factory, db, browser,
                                                                               push_service):
    found = await campaign(services, factory)
    gift_id = ObjectId()
    await db.donations.insert_one({
        "_id": gift_id, "space_id": found["space_id"], "campaign_id": found["_id"], "key": "guest-gift-2",
        "amount": 1500, "currency": "EUR", "method": "card", "state": giving.CONFIRMED, "refunded": 0,
        "donor": {"user_id": None, "email": "gala@example.org", "name": "Gala", "locale": "de"},
        "donor_key": "e:gala@example.org", "anonymous": False, "message": "", "source": None,
        "attempt_id": None, "created_at": utcnow(), "confirmed_at": utcnow(), "receipt": None})
    # The page after the payment (`?gift=`) carries the gift to the subscription.
    b = browser(locale="de")
    page = await b.get(f"/campaigns/{found['_id']}?gift={gift_id}")
    assert f'data-push-gift="{gift_id}"' in page.text
    phone = push_service.browser()
    assert (await subscribe(b, found["space_id"], phone.subscription(), gift=str(gift_id))).status_code == 201
    # A gift of another space names nobody here.
    stray = push_service.browser()
    other = await campaign(services, factory)
    assert (await subscribe(b, other["space_id"], stray.subscription(), gift=str(gift_id))).status_code == 201
    assert (await db.push_subscriptions.find_one({"endpoint": stray.endpoint})).get("donor_key") is None
    segment = await segment_of(services, found, kind="guest", locale="de")
    appeal = await send_appeal(services, found, segment["_id"], message="Danke, Gala")
    assert (appeal["total"], appeal["sent"]) == (1, 1)
    [got] = push_service.to(phone)
    assert got["payload"]["title"] == campaigns.title(found, "de") and got["payload"]["body"] == "Danke, Gala"


@pytest.mark.gen_test(timeout=60)
async def test_a_push_service_busy_for_now_is_tried_again_and_a_lasting_refusal_is_given_up(services, factory, db,
                                                                                        browser, push_service):
    found = await campaign(services, factory)
    giver = await donor(services, factory, found)
    b = browser()
    await b.sign_in(giver["email"], factory.PASSWORD)
    phone = push_service.browser()
    assert (await subscribe(b, found["space_id"], phone.subscription())).status_code == 201
    stored = await db.push_subscriptions.find_one({})
    keys = await push.vapid(services)
    payload = {"title": "t", "body": "b", "url": "/", "tag": "once"}
    async with push.client() as client:
        push_service.busy[phone.token] = 2
        assert await push.deliver(db, client, keys, PUBLIC, stored, payload, retry_delays=(0.01, 0.01)) == \
            (True, "201")
        assert [r["status"] for r in push_service.refused] == [503, 503] and len(push_service.to(phone)) == 1
        push_service.busy[phone.token] = 5
        delivered, answer = await push.deliver(db, client, keys, PUBLIC, stored, payload, retry_delays=(0.01, 0.01))
        assert not delivered and answer.startswith("503") and push_service.busy[phone.token] == 2
    # Still subscribed: busy is not gone.
    assert await db.push_subscriptions.count_documents({}) == 1
