"""Check-in at the door: a ticket's code admits its holder once, whatever the number of scans at once;
forged codes, another event's tickets, an earlier holder's code and unpaid or ended orders are refused
with a translated reason and change nothing."""
import asyncio
import dataclasses
import datetime
import secrets

import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

import server
from access import roles as R
from mongo_indexes import ensure_indexes
from orders import actions, checkin, checkout, states, tickets
from storage import Storage
from storage.shared import SharedClient, StoreServer
from tests.orders_support import drain, quota, ticket_type, ticketed_event
from tests.support import Browser, error_text, translated


async def sell(services, event, ticket, holder: str, *, paid: bool = True, quantity: int = 1) -> dict:
    """An order of `quantity` tickets (the first held by `holder`), paid by hand unless told otherwise."""
    payer = await services.db.users.find_one({"email": "payer@example.org"})
    if payer is None:
        from accounts import users
        payer = await users.create(services.db, email="payer@example.org", name="Pat Payer")
    reservation = await checkout.reserve(services, event, payer, {str(ticket["_id"]): str(quantity)}, currency="EUR")
    order = await checkout.place(services, event, payer, reservation["_id"], buyer_name="Pat Payer",
                                 method="invoice", idempotency_key=f"k-{holder}", locale="en",
                                 holders=[{"email": holder, "name": holder.split("@")[0].title(), "locale": "en"}])
    if paid:
        order = await actions.mark_paid(services, order["_id"], payment_ref=None, actor=None, why="test")
    await drain(services)
    return await services.db.orders.find_one({"_id": order["_id"]})


def code_of(services, order, index: int = 0) -> str:
    return tickets.check_in_code(services.settings.cookie_secret, order, order["tickets"][index])


async def door(services, factory, *, role=R.EVENT_MANAGER, locale="en"):
    """A ticketed event with a type and a quota, and a member of its staff at the door, signed in."""
    event, admin = await ticketed_event(services, factory, locales=("en", "ru"))
    ticket = await ticket_type(services, event, admin, name="Standard")
    await quota(services, event, admin, 50, ticket)
    event = await services.db.events.find_one({"_id": event["_id"]})
    staff = await factory.member(role, event=event, name="Dora Door", locale=locale)
    return event, admin, ticket, staff


async def staff_browser(factory, browser, staff, locale=None):
    b = browser(locale=locale) if locale else browser()
    await b.sign_in(staff["login"], factory.PASSWORD)
    return b


async def scan(b, event, code: str):
    return await b.post(f"/admin/events/{event['_id']}/checkin", {"code": code},
                        headers={"Accept": "application/json"})


def said(services, locale: str, message: str, **params) -> str:
    """A message as a JSON answer carries it: translated, not escaped."""
    text = services.i18n.gettext(locale)(message)
    return text % params if params else text


async def sales(db) -> dict:
    return {"orders": await db.orders.find({}).sort("_id", 1).to_list(None),
            "audit": await db.audit.count_documents({})}


@pytest.mark.gen_test(timeout=120)
async def test_twenty_scans_at_once_admit_the_ticket_once(services, factory):
    """Twenty posts of one code at once, to two servers sharing one store over sockets (so every request
    really waits on the store, as in production, and their steps interleave): one admits, nineteen say
    "already"."""
    store = StoreServer()
    store_port = await store.start()
    name = f"door_{secrets.token_hex(3)}"
    clients = [SharedClient(f"127.0.0.1:{store_port}") for _ in range(2)]
    views = [dataclasses.replace(services, storage=Storage(c, c[name], "embedded-shared")) for c in clients]
    servers, devices = [], []
    try:
        db = views[0].db
        await ensure_indexes(db)
        event, _, ticket, staff = await door(views[0], type(factory)(views[0]))
        order = await sell(views[0], event, ticket, "ann@example.org")
        code = code_of(services, order)
        for view in views:
            sock, port = bind_unused_port()
            http = HTTPServer(server.make_app(view))
            http.add_sockets([sock])
            servers.append(http)
            for _ in range(2):
                device = Browser(f"http://127.0.0.1:{port}")
                await device.sign_in(staff["login"], factory.PASSWORD)
                devices.append(device)
        answers = await asyncio.gather(*(scan(devices[i % 4], event, code) for i in range(20)))
        outcomes = sorted(r.json()["outcome"] for r in answers)
        assert outcomes == ["admitted"] + ["already"] * 19, outcomes
        assert sorted(r.status_code for r in answers) == [200] + [409] * 19
        admitted = next(r.json() for r in answers if r.json()["outcome"] == "admitted")
        assert admitted["holder"] == "Ann" and admitted["type"] == "Standard"
        assert admitted["counts"] == {"admitted": 1, "valid": 1}

        stored = (await db.orders.find_one({"_id": order["_id"]}))["tickets"][0]
        assert stored["checked_in_by"] == staff["_id"] and stored["checked_in_at"] is not None
        assert await db.audit.count_documents({"action": "ticket.checked_in"}) == 1

        # A later scan says when and by whom, in the event's time zone.
        again = (await scan(devices[0], event, code)).json()
        local = checkin.local_time(event, stored["checked_in_at"])
        assert again["outcome"] == "already" and again["message"] == said(
            services, "en", "Already admitted at %(time)s by %(name)s. Do not admit again.", time=local,
            name="Dora Door")
    finally:
        for device in devices:
            await device.aclose()
        for http in servers:
            http.stop()
            await http.close_all_connections()
        for view in views:
            await drain(view)
        for c in clients:
            await c.close()
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_bad_codes_are_refused_with_a_reason_and_change_nothing(services, factory, browser, db):
    event, admin, ticket, staff = await door(services, factory, locale="ru")
    order = await sell(services, event, ticket, "ann@example.org")
    unpaid = await sell(services, event, ticket, "ben@example.org", paid=False)
    cancelled = await sell(services, event, ticket, "cid@example.org")
    await actions.cancel(services, event, cancelled, by=states.STAFF, actor=admin, why="test")
    # Another event of the same organiser, with a paid ticket of its own.
    other, other_admin, other_ticket, _ = await door(services, factory)
    elsewhere = await sell(services, other, other_ticket, "dan@example.org")
    # A ticket passed on: its first holder's code stops working, the new holder's admits.
    passed = await sell(services, event, ticket, "eve@example.org")
    old_code = code_of(services, passed)
    await actions.assign_holder(services, passed, "t1", email="fay@example.org", name="Fay", locale="en",
                                actor=None)
    await drain(services)
    passed = await db.orders.find_one({"_id": passed["_id"]})
    assert code_of(services, passed) != old_code

    good = code_of(services, order)
    order_id, ticket_id, signature = good.split(".")
    forged = f"{order_id}.{ticket_id}.{'A' * len(signature)}"
    b = await staff_browser(factory, browser, staff, locale="ru")
    before = await sales(db)
    cases = [
        ("", "Scan a ticket's QR code or type its code.", {}),
        (forged, "This is not a valid ticket code. Do not admit: ask for the ticket from the holder's account.", {}),
        ("not a code at all", "This is not a valid ticket code. Do not admit: ask for the ticket from the "
                              "holder's account.", {}),
        (f"{order_id}.t9.{signature}", "This is not a valid ticket code. Do not admit: ask for the ticket from the "
                                       "holder's account.", {}),
        (code_of(services, elsewhere), "This ticket is for another event.", {}),
        (old_code, "This code is no longer valid: the ticket was passed to another holder, who has a new code.", {}),
        (code_of(services, unpaid), "This ticket's order is not paid yet.", {}),
        (code_of(services, cancelled), "This ticket's order was cancelled, refunded or has expired: the ticket "
                                       "no longer admits.", {}),
    ]
    for code, message, params in cases:
        r = await scan(b, event, code)
        assert r.status_code == 400, (code, r.text)
        body = r.json()
        assert body["outcome"] == "refused" and body["message"] == said(services, "ru", message, **params)
        assert body["message"] != message or not message  # in the staff member's language
        assert "holder" not in body
        # The page without the script says the same.
        page = await b.post(f"/admin/events/{event['_id']}/checkin", {"code": code})
        assert page.status_code == 400 and error_text(page.text) == translated(services, "ru", message, **params)
    assert await sales(db) == before

    # The other event's door refuses this event's ticket the same way.
    other_staff = await factory.member(R.EVENT_ADMIN, event=other)
    ob = await staff_browser(factory, browser, other_staff)
    assert (await scan(ob, other, good)).json()["message"] == said(services, "en", "This ticket is for another event.")
    # The new holder's code admits; the genuine one here too.
    assert (await scan(b, event, code_of(services, passed))).json()["outcome"] == "admitted"
    assert (await scan(b, event, good)).json()["outcome"] == "admitted"
    counted = await checkin.counts(db, event)
    assert counted == {"admitted": 2, "valid": 2}


@pytest.mark.gen_test(timeout=60)
async def test_a_partly_refunded_order_admits_and_an_ended_registration_does_not(services, factory, browser, db):
    event, admin, ticket, staff = await door(services, factory)
    order = await sell(services, event, ticket, "ann@example.org")
    await actions.refund(services, order["_id"], amount=500, actor=admin, key="r1")
    b = await staff_browser(factory, browser, staff)
    assert (await db.orders.find_one({"_id": order["_id"]}))["state"] == states.PARTIALLY_REFUNDED
    assert (await scan(b, event, code_of(services, order))).json()["outcome"] == "admitted"

    second = await sell(services, event, ticket, "ben@example.org")
    # The holder's registration was ended meanwhile (by staff): the ticket does not admit them.
    await db.memberships.update_one({"order_id": second["_id"]}, {"$set": {"state": "cancelled"}})
    r = await scan(b, event, code_of(services, second))
    assert r.json()["message"] == said(services, "en",
                                       "The holder's registration for this event does not admit them now.")
    assert (await db.orders.find_one({"_id": second["_id"]}))["tickets"][0].get("checked_in_at") is None


def test_the_time_of_an_admission_is_told_in_the_events_zone():
    event = {"timezone": "Europe/Riga"}
    at = datetime.datetime(2026, 12, 5, 8, 7, tzinfo=datetime.UTC)
    assert checkin.local_time(event, at, today=datetime.date(2026, 12, 5)) == "10:07"
    assert checkin.local_time(event, at, today=datetime.date(2026, 12, 6)) == "2026-12-05 10:07"


@pytest.mark.gen_test(timeout=30)
async def test_only_door_staff_open_the_page(services, factory, browser):
    event, _, ticket, staff = await door(services, factory)
    page = await (await staff_browser(factory, browser, staff)).get(f"/admin/events/{event['_id']}/checkin")
    assert page.status_code == 200 and "Admitted: 0 of 0 valid tickets" in page.text
    moderator = await factory.member(R.MODERATOR, event=event)
    r = await (await staff_browser(factory, browser, moderator)).get(f"/admin/events/{event['_id']}/checkin")
    assert r.status_code == 403


@pytest.mark.gen_test(timeout=120)
async def test_at_the_door_on_a_phone_a_typed_code_admits_then_says_already(services, factory, base_url, db,
                                                                             http_server, tmp_path):
    import segno

    from tests.browser import chromium, screenshot, signed_in_page

    event, _, ticket, staff = await door(services, factory)
    order = await sell(services, event, ticket, "ann@example.org")
    second = await sell(services, event, ticket, "ben@example.org")
    photo = tmp_path / "ticket.png"
    segno.make(code_of(services, second), error="m").save(str(photo), kind="png", scale=8, border=4)
    async with chromium() as chrome:
        page = await signed_in_page(chrome, base_url, staff["login"], factory.PASSWORD, width=390)
        await page.set_viewport_size({"width": 390, "height": 844})
        problems = []
        # Refusals answer 400 and "already" 409, which Chromium notes as failed loads: expected here.
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" and not m.text.startswith(
            ("Failed to load resource: the server responded with a status of 400",
             "Failed to load resource: the server responded with a status of 409")) else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        await page.goto(f"{base_url}/admin/events/{event['_id']}/checkin")
        assert await page.text_content("#checkin-count") == "Admitted: 0 of 2 valid tickets"
        # The field has the focus: a scanner that types, or a person, just types and presses Enter.
        assert await page.evaluate("() => document.activeElement.id") == "checkin-code"
        await page.keyboard.type(code_of(services, order))
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#checkin-result.checkin-admitted")
        assert await page.text_content("#checkin-result .checkin-verdict") == "Admitted"
        assert await page.text_content("#checkin-result .checkin-holder") == "Ann"
        assert await page.text_content("#checkin-count") == "Admitted: 1 of 2 valid tickets"
        assert await page.input_value("#checkin-code") == ""
        await screenshot(page, "checkin-admitted-phone")

        await page.fill("#checkin-code", code_of(services, order))
        await page.press("#checkin-code", "Enter")
        await page.wait_for_selector("#checkin-result.checkin-already")
        assert await page.text_content("#checkin-result .checkin-verdict") == "Already admitted"
        assert "by Dora Door" in await page.text_content("#checkin-result .checkin-message")
        await screenshot(page, "checkin-already-phone")

        await page.fill("#checkin-code", "forged.t1.AAAA")
        await page.press("#checkin-code", "Enter")
        await page.wait_for_selector("#checkin-result.checkin-refused")
        assert await page.text_content("#checkin-result .checkin-verdict") == "Refused"

        # A photo of the second ticket's QR code is read in the page (jsQR) and admits its holder.
        await page.set_input_files("#checkin-photo", str(photo))
        await page.wait_for_selector("#checkin-result.checkin-admitted")
        assert await page.text_content("#checkin-result .checkin-holder") == "Ben"
        assert await page.text_content("#checkin-count") == "Admitted: 2 of 2 valid tickets"
        assert not problems, problems
    assert (await db.orders.find_one({"_id": second["_id"]}))["tickets"][0]["checked_in_by"] == staff["_id"]
