"""Payer and holder: a ticket bought by one person is used by another; the payer passes it on; the first
holder loses access at once (next page load and the open WebSocket), the new one gets in, to what the
ticket grants (its channel and session, its features) and nothing more."""
import datetime
import re

import pytest
from tornado.httpclient import HTTPClientError

from access import roles as R
from events import sessions
from orders import checkout, holders, states
from realtime import protocol
from registration import actions
from tests.live_client import LiveClient
from tests.orders_support import drain, quota, ticket_type
from tests.support import error_text, translated


async def close_code(client, timeout=5.0):
    """Read until the server closes the socket; the close code."""
    while await client.next(timeout) is not None:
        pass
    return client.conn.close_code


async def watch(base_url, b, event):
    client = await LiveClient.connect(base_url, b, event["_id"])
    await client.expect("welcome")
    await client.expect("state")
    return client


async def refused(base_url, b, event) -> int:
    with pytest.raises(HTTPClientError) as no:
        await LiveClient.connect(base_url, b, event["_id"])
    return no.value.code


async def signin_by_mail(services, browser, email: str):
    """A browser signed in through the sign-in link of the ticket mail (the holder's own copy)."""
    mail = await services.db.outbox.find_one({"to": email, "kind": "order_ticket"}, sort=[("_id", -1)])
    raw = re.search(r"/signin/link/([A-Za-z0-9_-]+)", mail["full"]["text"]).group(1)
    b = browser(locale="en")
    r = await b.post(f"/signin/link/{raw}")
    assert r.status_code == 302, r.text[:300]
    return b


async def festival(services, factory):
    """A main event with two channels and two sessions; one type grants stage A, session s1 and the chat."""
    db = services.db
    event = await factory.event(locales=("en", "ru"))
    start = datetime.datetime(2026, 12, 1, 9, tzinfo=datetime.UTC)
    schedule = [{"id": f"s{i}", "day_id": "d1", "starts_at": start + datetime.timedelta(hours=i),
                 "ends_at": start + datetime.timedelta(hours=i, minutes=45), "title": {"en": f"Talk {i}"},
                 "speaker": ""} for i in (1, 2)]
    await db.events.update_one({"_id": event["_id"]}, {"$set": {
        "schedule": schedule, "privacy": {"level": "public", "emails": []}}})
    event = await db.events.find_one({"_id": event["_id"]})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    stage_a = await sessions.create_channel(db, admin, event, slug="stage-a", title={"en": "Stage A"})
    stage_b = await sessions.create_channel(db, admin, event, slug="stage-b", title={"en": "Stage B"})
    pass_a = await ticket_type(services, event, admin, name="Stage A pass", channels_all=False,
                               channels=[str(stage_a["_id"])], sessions_all=False, sessions=["s1"],
                               features=["chat"], recordings=False)
    await quota(services, event, admin, 10, pass_a)
    event = await db.events.find_one({"_id": event["_id"]})
    stage_a = await db.events.find_one({"_id": stage_a["_id"]})
    stage_b = await db.events.find_one({"_id": stage_b["_id"]})
    space = await db.spaces.find_one({"_id": event["space_id"]})
    return event, admin, stage_a, stage_b, pass_a, f"/e/{space['slug']}"


@pytest.mark.gen_test(timeout=120)
async def test_a_ticket_passed_on_moves_access_at_once(services, factory, browser, base_url, db):
    event, admin, stage_a, stage_b, pass_a, prefix = await festival(services, factory)
    payer = await factory.user(email="payer@example.org", locale="en")
    reservation = await checkout.reserve(services, event, payer, {str(pass_a["_id"]): "1"}, currency="EUR")
    order = await checkout.place(services, event, payer, reservation["_id"], buyer_name="Pat Payer",
                                 method="invoice", idempotency_key="k1", locale="en",
                                 holders=[{"email": "ann@example.org", "name": "Ann", "locale": "en"}])
    assert order["state"] == states.PENDING
    assert await db.users.find_one({"email": "ann@example.org"}) is None   # nothing issued before payment

    # Staff mark it paid by hand, after confirming.
    sb = browser()
    await sb.sign_in(admin["login"], factory.PASSWORD)
    page = f"/admin/events/{event['_id']}/orders/{order['_id']}"
    r = await sb.post(page + "/mark-paid", {"why": "bank transfer 42"})
    assert r.status_code == 200 and 'name="confirm" value="yes"' in r.text
    assert (await db.orders.find_one({"_id": order["_id"]}))["state"] == states.PENDING
    r = await sb.post(page + "/mark-paid", {"why": "bank transfer 42", "confirm": "yes"})
    assert r.status_code == 302
    await drain(services)
    assert (await db.orders.find_one({"_id": order["_id"]}))["state"] == states.PAID

    # The holder, whose account the ticket made, signs in from her mail and gets in: the event, stage A,
    # not stage B; session s1 on her schedule, not s2.
    ann = await signin_by_mail(services, browser, "ann@example.org")
    main_page = await ann.get(f"{prefix}/{event['slug']}")
    assert main_page.status_code == 200 and "Talk 1" in main_page.text and "Talk 2" not in main_page.text
    assert (await ann.get(f"{prefix}/{stage_a['slug']}")).status_code == 200
    assert (await ann.get(f"{prefix}/{stage_b['slug']}")).status_code != 200
    assert await refused(base_url, ann, stage_b) == 403
    on_main = await watch(base_url, ann, event)
    on_stage = await watch(base_url, ann, stage_a)
    # Her ticket grants the chat but not the questions.
    room = f"ev:{{{event['_id']}}}:pub:en"
    await on_main.send({"type": "join", "room": room, "ref": "j"})
    await on_main.expect("joined", room=room)
    await on_main.send({"type": "ask", "item": "s1", "text": "Why?", "client_id": "q1", "ref": "q"})
    assert (await on_main.expect("error", ref="q"))["code"] == protocol.FORBIDDEN
    # Her printable ticket, with its QR code.
    ticket_page = f"/me/tickets/{order['_id']}/t1"
    assert (await ann.get(ticket_page)).status_code == 200
    qr = await ann.get(ticket_page + "/qr.svg")
    assert qr.status_code == 200 and qr.headers["Content-Type"].startswith("image/svg+xml")

    # The payer passes the ticket to Bob.
    pb = browser()
    await pb.sign_in(payer["login"], factory.PASSWORD)
    r = await pb.post(f"/me/orders/{order['_id']}/holders",
                      {"ticket": "t1", "email": "bob@example.org", "name": "Bob", "locale": "ru"})
    assert r.status_code == 302, error_text(r.text)

    # Ann's open sockets close at once, and her next page load is refused.
    assert await close_code(on_main) == protocol.CLOSE_ACCESS_CHANGED
    assert await close_code(on_stage) == protocol.CLOSE_ACCESS_CHANGED
    again = await ann.get(f"{prefix}/{event['slug']}")
    assert again.status_code == 302 and again.headers["location"].endswith("/about")
    assert await refused(base_url, ann, event) == 403
    assert (await ann.get(ticket_page)).status_code == 404
    registration = await db.memberships.find_one({"email": "ann@example.org", "scope_id": event["_id"]})
    assert registration["state"] == "cancelled"

    # Bob gets in, to what the ticket grants.
    await drain(services)
    bob = await signin_by_mail(services, browser, "bob@example.org")
    assert (await bob.get(f"{prefix}/{event['slug']}")).status_code == 200
    assert (await bob.get(f"{prefix}/{stage_a['slug']}")).status_code == 200
    assert await refused(base_url, bob, stage_b) == 403
    client = await watch(base_url, bob, stage_a)
    client.close()
    assert (await bob.get(ticket_page)).status_code == 200
    fresh = await db.orders.find_one({"_id": order["_id"]})
    assert fresh["tickets"][0]["holder"]["email"] == "bob@example.org" and fresh["tickets"][0]["nonce"] == 2
    assert [e["action"] for e in fresh["log"]][-1] == "transferred"

    # Cancelling the order (staff) ends Bob's access too, and the ticket is back on sale.
    r = await sb.post(page + "/cancel", {"why": "double booking", "confirm": "yes"})
    assert r.status_code == 302
    await drain(services)
    assert (await bob.get(f"{prefix}/{event['slug']}")).status_code == 302
    assert (await db.quotas.find_one({"event_id": event["_id"]}))["left"] == 10
    # An ended order's ticket goes to nobody any more.
    r = await pb.post(f"/me/orders/{order['_id']}/holders",
                      {"ticket": "t1", "email": "carl@example.org", "name": "Carl", "locale": "en"})
    assert r.status_code == 400 and error_text(r.text) == translated(services, "en", holders.OrderEnded().message)
    assert await db.users.find_one({"email": "carl@example.org"}) is None


@pytest.mark.gen_test(timeout=60)
async def test_an_event_that_sells_tickets_admits_only_ticket_holders(services, factory, browser, base_url, db):
    """A registration without a ticket (made before the event sold any) does not admit; a ticket for it does."""
    event = await factory.event(locales=("en",))
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    old = await factory.member(R.ATTENDEE, event=event)
    b = browser()
    await b.sign_in(old["login"], factory.PASSWORD)
    space = await db.spaces.find_one({"_id": event["space_id"]})
    path = f"/e/{space['slug']}/{event['slug']}"
    assert (await b.get(path)).status_code == 200
    free = await ticket_type(services, event, admin, name="Free", prices="EUR 0")
    assert (await b.get(path)).status_code != 200
    event = await db.events.find_one({"_id": event["_id"]})
    assert await refused(base_url, b, event) == 403
    reservation = await checkout.reserve(services, event, old, {str(free["_id"]): "1"}, currency="EUR")
    order = await checkout.place(services, event, old, reservation["_id"], buyer_name="", method="", locale="en",
                                 idempotency_key="k", holders=[{"email": old["email"], "name": "Me", "locale": "en"}])
    assert order["state"] == states.PAID
    assert (await b.get(path)).status_code == 200
    client = await watch(base_url, b, event)
    client.close()
    # A ticket of an order is not cancelled by its holder: it ends with the ticket.
    r = await b.post(path + "/register/cancel", {"confirm": "yes"})
    assert r.status_code == 409
    assert error_text(r.text) == translated(services, "en", actions.HoldsTicket().message)
    assert (await db.memberships.find_one({"user_id": old["_id"], "scope_id": event["_id"]})).get("state", "registered") \
        == "registered"
    # Staff registering someone by hand give them a ticket type; without one they are refused.
    sb = browser()
    await sb.sign_in(admin["login"], factory.PASSWORD)
    new = f"/admin/events/{event['_id']}/attendees/new"
    r = await sb.post(new, {"email": "guest@example.org", "name": "Guest", "locale": "en"})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "en", "Choose a ticket type: this event admits only ticket holders.")
    assert await db.users.find_one({"email": "guest@example.org"}) is None
    r = await sb.post(new, {"email": "guest@example.org", "name": "Guest", "locale": "en",
                            "ticket_type": str(free["_id"])})
    assert r.status_code == 302
    guest = await db.memberships.find_one({"email": "guest@example.org", "scope_id": event["_id"]})
    assert guest["ticket_type_id"] == free["_id"] and guest["state"] == "registered"
    # One ticket per person: a second one for the same address is refused with its reason.
    reservation = await checkout.reserve(services, event, admin, {str(free["_id"]): "1"}, currency="EUR")
    with pytest.raises(checkout.HolderError) as no:
        await checkout.place(services, event, admin, reservation["_id"], buyer_name="", method="", locale="en",
                             idempotency_key="k2", holders=[{"email": old["email"], "name": "", "locale": "en"}])
    assert translated(services, "en", no.value.message, **no.value.params).endswith("already holds a ticket for this event.")
    await drain(services)
