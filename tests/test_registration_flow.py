"""Self-registration over HTTP, with mail over real SMTP: register without an account, confirm,
be registered; the same answer for an address that has an account (which never changes);
one click; retries; refusals that write nothing."""
import asyncio
import re

import pytest

from access import roles as R
from mailings import templates
from realtime import timers
from registration import actions, mails
from tests.support import error_text, translated
from tests.test_mailer import body, settings, smtp_server  # noqa: F401 (the fixtures)

CONFIRM = re.compile(r"/register/confirm\?token=([A-Za-z0-9_-]+)")


async def drain(services):
    while jobs := [t for t in services.background if not timers.is_timer(t)]:
        await asyncio.gather(*jobs)


async def public_event(db, factory, *, open_=True, capacity=None, level="public", approval=False):
    space = await factory.space()
    event = await factory.event(space, locales=("en", "ru", "he"))
    await db.events.update_one({"_id": event["_id"]}, {"$set": {
        "registration": {"open": open_, "capacity": capacity, "approval": approval, "offer_hours": 24},
        "privacy": {"level": level, "emails": []}}})
    return space, await db.events.find_one({"_id": event["_id"]})


def register_url(space, event, rest=""):
    return f"/e/{space['slug']}/{event['slug']}/register{rest}"


def mails_to(smtp_server, address):
    return [msg for rcpts, msg in smtp_server.handler.messages() if address in rcpts]


async def snapshot(db):
    out = {}
    for name in ("users", "memberships", "tokens", "audit", "outbox", "registration_counters"):
        out[name] = await db[name].find({}, {"last_login_at": 0}).sort("_id", 1).to_list(None)
    return out


@pytest.mark.gen_test(timeout=90)
async def test_register_without_an_account_confirm_by_mail_then_registered(browser, factory, services, db,
                                                                           smtp_server):
    space, event = await public_event(db, factory, capacity=5)
    visitor = browser(locale="ru")
    page = await visitor.get(register_url(space, event))
    assert page.status_code == 200 and 'name="email"' in page.text
    r = await visitor.post(register_url(space, event), {"name": "Анна Новая", "email": "Anna.New@Example.org"})
    assert r.status_code == 200, r.text[:500]
    assert translated(services, "ru", "Almost done: we have sent a link to %(email)s. Open it to confirm your "
                      "address; your registration counts from then on.", email="anna.new@example.org") in r.text
    m = await db.memberships.find_one({"email": "anna.new@example.org"})
    assert m["state"] == "unconfirmed" and m["source"] == "form"
    assert await db.registration_counters.count_documents({"taken": {"$gt": 0}}) == 0  # no place held yet
    await drain(services)

    (mail,) = mails_to(smtp_server, "anna.new@example.org")
    text = body(mail, "plain")
    # The Russian default text of the confirmation, its link on the line below.
    intro = services.i18n.gettext("ru")(templates.KINDS[mails.CONFIRM].body).split("\n\n")[1].split("\n")[0]
    assert intro.format(event_title=event["title"]["ru"]) in text and intro.startswith("Кто-то")
    token = CONFIRM.search(text).group(1)
    # The outbox staff read keeps the link hidden.
    entry = await db.outbox.find_one({"kind": "registration_confirm"})
    assert token not in entry["text"] and token not in (entry["html"] or "")

    confirm_page = await visitor.get(f"/register/confirm?token={token}")
    assert confirm_page.status_code == 200
    assert (await db.memberships.find_one({"_id": m["_id"]}))["state"] == "unconfirmed"  # a GET uses nothing
    r = await visitor.post(f"/register/confirm?token={token}")
    assert r.status_code == 302 and r.headers["location"] == register_url(space, event)
    assert (await db.memberships.find_one({"_id": m["_id"]}))["state"] == "registered"
    account = await db.users.find_one({"email": "anna.new@example.org"})
    assert account["name"] == "Анна Новая" and account["password_hash"] is None
    shown = await visitor.get(r.headers["location"])  # signed in now
    assert 'data-registration-state="registered"' in shown.text
    assert (await actions.places_left(db, event)) == 4

    # A second click, or the same POST retried: nothing changes.
    before = await snapshot(db)
    again = await visitor.post(f"/register/confirm?token={token}")
    assert again.status_code == 302 and again.headers["location"] == register_url(space, event)
    retried = await visitor.post(register_url(space, event), {"name": "X", "email": "anna.new@example.org"})
    assert retried.status_code == 302
    after = await snapshot(db)
    assert after["memberships"] == before["memberships"] and after["users"] == before["users"]
    assert after["registration_counters"] == before["registration_counters"]
    await drain(services)
    kinds = [e["kind"] async for e in db.outbox.find({"to": "anna.new@example.org"}).sort("_id", 1)]
    assert kinds == ["registration_confirm", "registration_registered"]


@pytest.mark.gen_test(timeout=90)
async def test_an_address_with_an_account_gets_the_same_answer_and_the_account_never_changes(
        browser, factory, services, db, smtp_server):
    space, event = await public_event(db, factory)
    owner = await factory.user(email="owner@example.org", name="Olga Owner", locale="de")
    stored = await db.users.find_one({"_id": owner["_id"]})
    answers = []
    for email, name in (("fresh@example.org", "Someone"), ("owner@example.org", "Mallory's pick")):
        b = browser(locale="en")
        r = await b.post(register_url(space, event), {"name": name, "email": email})
        assert r.status_code == 200
        answers.append(r.text.replace(email, "ADDRESS"))
    # Same page, whatever the address (the XSRF token aside).
    strip = re.compile(r'name="_xsrf" value="[^"]*"|name="_xsrf" content="[^"]*"')
    assert strip.sub("", answers[0]) == strip.sub("", answers[1])
    assert await db.users.find_one({"_id": owner["_id"]}) == stored
    assert await db.sessions.count_documents({"user_id": owner["_id"]}) == 0
    await drain(services)
    (mail,) = mails_to(smtp_server, "owner@example.org")
    token = CONFIRM.search(body(mail, "plain")).group(1)
    owner_browser = browser()
    r = await owner_browser.post(f"/register/confirm?token={token}")
    assert r.status_code == 302
    account = await db.users.find_one({"_id": owner["_id"]})
    assert (account["name"], account["password_hash"], account["locale"]) == \
        (stored["name"], stored["password_hash"], stored["locale"])
    m = await db.memberships.find_one({"user_id": owner["_id"], "scope_id": event["_id"]})
    assert m["state"] == "registered"
    assert await db.sessions.count_documents({"user_id": owner["_id"]}) == 1  # the link holder, signed in


@pytest.mark.gen_test(timeout=90)
async def test_the_organisers_confirmation_and_state_texts_reach_the_registrant(browser, factory, services, db,
                                                                               smtp_server):
    space, event = await public_event(db, factory)
    for key, body_ in ((mails.CONFIRM, "Hi {person_name}, confirm here: {confirm_url} ({link_valid_for})"),
                       ("registration_registered", "Welcome aboard, {person_name}: {event_url}")):
        event = await templates.save(db, event, templates.KINDS[key], {"en": {"subject": "", "body": body_}}, None)
    r = await browser(locale="en").post(register_url(space, event), {"name": "Eve", "email": "eve@example.org"})
    assert r.status_code == 200
    await drain(services)
    (mail,) = mails_to(smtp_server, "eve@example.org")
    text = body(mail, "plain").replace("\r\n", "\n")
    assert re.search(r"^Hi Eve, confirm here: \S+/register/confirm\?token=\S+ \(\d+ hours\)$", text, re.M), text
    assert mail["Subject"] == f"Confirm your registration for {event['title']['en']}"  # the default subject
    # The staff copy holds the organiser's text with the link hidden.
    entry = await db.outbox.find_one({"kind": mails.CONFIRM})
    assert "Hi Eve, confirm here: [hidden: sent only to the recipient]" in entry["text"]
    assert "/register/confirm" not in entry["text"] + entry["html"]
    r = await browser(locale="en").post(f"/register/confirm?token={CONFIRM.search(text).group(1)}")
    assert r.status_code == 302
    await drain(services)
    welcome = mails_to(smtp_server, "eve@example.org")[1]
    assert f"Welcome aboard, Eve: {services.settings.public_url}/e/" in body(welcome, "plain")


@pytest.mark.gen_test(timeout=60)
async def test_one_click_for_a_signed_in_person(browser, factory, services, db):
    space, event = await public_event(db, factory, capacity=1)
    person = await factory.user(email="regular@example.org")
    b = browser()
    await b.sign_in(person["login"], factory.PASSWORD)
    page = await b.get(register_url(space, event))
    assert "/register/one-click" in page.text and 'name="email"' not in page.text
    r = await b.post(register_url(space, event, "/one-click"))
    assert r.status_code == 302
    m = await db.memberships.find_one({"user_id": person["_id"], "scope_id": event["_id"]})
    assert (m["state"], m["source"]) == ("registered", "one_click")
    # A double click registers once.
    r = await b.post(register_url(space, event, "/one-click"))
    assert r.status_code == 302
    assert await db.memberships.count_documents({"scope_id": event["_id"]}) == 1
    assert await db.audit.count_documents({"event_id": event["_id"], "action": "registration.registered"}) == 1

    # The next person finds it full and waits; cancelling (with its confirmation step) offers them the place.
    other = await factory.user(email="second@example.org")
    b2 = browser()
    await b2.sign_in(other["login"], factory.PASSWORD)
    await b2.post(register_url(space, event, "/one-click"))
    assert 'data-registration-state="waiting"' in (await b2.get(register_url(space, event))).text
    ask = await b.post(register_url(space, event, "/cancel"))
    assert ask.status_code == 200 and 'name="confirm" value="yes"' in ask.text
    assert (await db.memberships.find_one({"_id": m["_id"]}))["state"] == "registered"
    r = await b.post(register_url(space, event, "/cancel"), {"confirm": "yes"})
    assert r.status_code == 302
    assert (await db.memberships.find_one({"_id": m["_id"]}))["state"] == "cancelled"
    page = await b2.get(register_url(space, event))
    assert 'data-registration-state="offered"' in page.text and "/register/accept" in page.text
    r = await b2.post(register_url(space, event, "/accept"))
    assert r.status_code == 302
    assert (await db.memberships.find_one({"user_id": other["_id"]}))["state"] == "registered"
    await drain(services)


@pytest.mark.gen_test(timeout=60)
async def test_refusals_are_translated_and_write_nothing(browser, factory, services, db):
    space, closed = await public_event(db, factory, open_=False)
    _, invitation_only = await public_event(db, factory, level="invitation")
    space_b, signed_in_only = await public_event(db, factory, level="signed_in")
    member = browser()
    await member.sign_in((await factory.user())["login"], factory.PASSWORD)
    for locale in ("en", "he", "kk"):
        visitor = browser(locale=locale)
        before = await snapshot(db)
        r = await visitor.post(register_url(space, closed), {"name": "A", "email": "a@example.org"})
        assert r.status_code == 403
        assert error_text(r.text) == translated(services, locale, "Registration for this event is closed.")
        # The invitation-only event sits in its own space.
        inv_space = await db.spaces.find_one({"_id": invitation_only["space_id"]})
        r = await visitor.post(register_url(inv_space, invitation_only), {"name": "A", "email": "a@example.org"})
        assert r.status_code == 403 and "/signin?next=" in r.text
        r = await member.post(register_url(inv_space, invitation_only, "/one-click"))
        assert r.status_code == 403
        assert translated(services, "en", "This event is open by invitation only.") in r.text
        r = await visitor.get(register_url(space_b, signed_in_only))
        assert r.status_code == 403 and "/signin?next=" in r.text
        assert translated(services, locale, "This event is not open to everyone. Sign in to register.") in r.text
        r = await visitor.post(register_url(space, closed.copy() | {"slug": "nope"}), {"email": "a@example.org"})
        assert r.status_code == 404
        r = await visitor.get("/register/confirm?token=forged-token-123")
        assert r.status_code == 400 and 'data-link-state="unknown"' in r.text
        r = await visitor.post("/register/confirm?token=forged-token-123")
        assert r.status_code == 400
        assert await snapshot(db) == before, locale

    # Bad input on an open event: a precise message, nothing written.
    space_o, open_event = await public_event(db, factory)
    before = await snapshot(db)
    visitor = browser(locale="ru")
    r = await visitor.post(register_url(space_o, open_event), {"name": "A", "email": "not-an-address"})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "ru", "This is not a valid email address.")
    r = await visitor.post(register_url(space_o, open_event), {"name": "x" * 200, "email": "a@example.org"})
    assert r.status_code == 400 and error_text(r.text)
    assert await snapshot(db) == before
    # Someone else's registration cannot be cancelled or accepted by a person without one.
    nobody = await factory.user()
    b = browser()
    await b.sign_in(nobody["login"], factory.PASSWORD)
    before = await snapshot(db)
    for rest in ("/cancel", "/accept"):
        r = await b.post(register_url(space_o, open_event, rest), {"confirm": "yes"})
        assert r.status_code == 404 and error_text(r.text)
    assert await snapshot(db) == before


@pytest.mark.gen_test(timeout=60)
async def test_staff_page_settings_and_actions(browser, factory, services, db):
    space, event = await public_event(db, factory, capacity=1, approval=True)
    manager = await factory.member(R.EVENT_MANAGER, event=event)
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="de")
    person = await factory.user()
    pb = browser()
    await pb.sign_in(person["login"], factory.PASSWORD)
    await pb.post(register_url(space, event, "/one-click"))
    m = await db.memberships.find_one({"user_id": person["_id"], "scope_id": event["_id"]})
    assert m["state"] == "pending"

    mb = browser()
    await mb.sign_in(manager["login"], factory.PASSWORD)
    base = f"/admin/events/{event['_id']}/registration"
    page = await mb.get(base)
    assert page.status_code == 200 and person["email"] in page.text
    assert f'action="{base}/settings"' not in page.text  # settings need the event-editing permission
    r = await mb.post(f"{base}/settings", {"open": "1", "capacity": "9"})
    assert r.status_code == 403
    r = await mb.post(f"{base}/{m['_id']}", {"action": "approve"})
    assert r.status_code == 302
    assert (await db.memberships.find_one({"_id": m["_id"]}))["state"] == "registered"
    r = await mb.post(f"{base}/{m['_id']}", {"action": "approve"})
    assert r.status_code == 409 and error_text(r.text)

    ab = browser()
    await ab.sign_in(admin["login"], factory.PASSWORD)
    await drain(services)  # the approval's mail goes out in the background
    before = await snapshot(db)
    r = await ab.post(f"{base}/settings", {"open": "1", "capacity": "-3", "offer_hours": "12"})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "de", "The number of places must be between 0 and %(max)s.",
                                            max=actions.MAX_CAPACITY)
    assert await snapshot(db) == before
    r = await ab.post(f"{base}/settings", {"open": "1", "capacity": "3", "offer_hours": "12"})
    assert r.status_code == 302
    saved = (await db.events.find_one({"_id": event["_id"]}))["registration"]
    assert saved == {"open": True, "capacity": 3, "approval": False, "offer_hours": 12}
    assert await db.audit.count_documents({"action": "registration.settings"}) == 1
    await drain(services)

