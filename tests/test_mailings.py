"""Sign-in mailings without a mail server (outbox), resuming after a restart, the outbox pages."""
import asyncio
import datetime
import re

import pytest

from access import roles as R
from accounts import tokens
from attendees import registry
from core.clock import utcnow
from mailings import signin_mailing
from mailings.messages import HIDDEN
from realtime import timers
from tests.support import error_text


async def staff_browser(browser, factory, event, role=R.EVENT_ADMIN, **kwargs):
    person = await factory.member(role, event=event, **kwargs)
    b = browser()
    await b.sign_in(person["login"], factory.PASSWORD)
    return b, person


def jobs(services) -> list:
    """Background tasks that end (the mailings), not the live side's timers."""
    return [t for t in services.background if not timers.is_timer(t)]


async def drain(services):
    """Wait for every background job (the mailings) to end."""
    while jobs(services):
        await asyncio.gather(*jobs(services))


def base(event) -> str:
    return f"/admin/events/{event['_id']}/mailings"


def link_token(text: str) -> str:
    m = re.search(r"https?://[^/\s]+/signin/link/([A-Za-z0-9_-]+)", text)
    assert m, text
    return m.group(1)


def full(entry: dict) -> dict:
    """The message itself: without SMTP it is kept only for the platform outbox."""
    assert entry["redacted"] and entry["full"], entry
    return entry["full"]


def assert_no_secrets(entry: dict, hidden: str) -> None:
    """The staff copy (what the event outbox shows) holds no link and no password."""
    shown = entry["subject"] + entry["text"] + (entry["html"] or "")
    assert "/signin/link/" not in shown and hidden in entry["text"]
    for secret in re.findall(r"/signin/link/([A-Za-z0-9_-]+)", entry["full"]["text"]):
        assert secret not in shown


def credentials(text: str, login: str) -> tuple[str, str]:
    """(login, password) as the mail shows them: "<label> login", then "<label> password".

    Found by position, not by label, so the check holds in every language.
    """
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.split() and line.split()[-1] == login)
    return login, lines[i + 1].split()[-1]


async def three_attendees(db, factory):
    event = await factory.event(locales=("ru", "en", "de"))
    await registry.register(db, event, email="olga@example.org", name="Olga", locale="ru")
    await registry.register(db, event, email="hans@example.org", name="Hans", locale="de")
    await registry.register(db, event, email="emma@example.org", name="Emma", locale="en")
    return event


async def snapshot(db) -> dict:
    out = {}
    for name in ("users", "memberships", "audit", "outbox", "mailings", "mailing_items", "tokens"):
        out[name] = await db[name].find({}, {"last_login_at": 0}).sort("_id", 1).to_list(None)
    return out


# --- a whole mailing through the pages --------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_mailing_puts_each_attendees_mail_in_the_outbox_in_their_language(browser, factory, db, services):
    event = await three_attendees(db, factory)
    b, admin = await staff_browser(browser, factory, event)

    page = await b.get(base(event))
    assert page.status_code == 200 and "All attendees (3)" in page.text
    confirm = await b.get(base(event) + "?audience=all")
    assert "Send sign-in emails to 3 attendees?" in confirm.text
    assert 'name="confirm" value="yes"' in confirm.text and "data-confirm=" in confirm.text

    r = await b.post(base(event), {"audience": "all", "confirm": "yes"})
    assert r.status_code == 302
    mailing_path = r.headers["location"]
    assert re.fullmatch(base(event) + r"/[0-9a-f]{24}", mailing_path)
    await drain(services)

    mailing = await db.mailings.find_one({})
    assert (mailing["status"], mailing["total"], mailing["sent"], mailing["failed"]) == ("done", 3, 3, 0)
    assert await db.mailing_items.count_documents({"status": "sent"}) == 3
    assert await db.audit.find_one({"action": "mailing.start", "actor_id": admin["_id"]})

    entries = await db.outbox.find({}).to_list(None)
    assert sorted(e["to"] for e in entries) == ["emma@example.org", "hans@example.org", "olga@example.org"]
    for e in entries:
        assert e["status"] == "stored" and e["kind"] == "signin"
        assert e["event_id"] == event["_id"] and e["mailing_id"] == mailing["_id"]
    expected_locale = {"olga@example.org": "ru", "hans@example.org": "de", "emma@example.org": "en"}
    names = {"olga@example.org": "Olga", "hans@example.org": "Hans", "emma@example.org": "Emma"}
    for e in entries:
        locale = expected_locale[e["to"]]
        user = await db.users.find_one({"email": e["to"]})
        mail = full(e)
        assert_no_secrets(e, services.i18n.gettext(locale)(HIDDEN))
        assert f'lang="{locale}"' in e["html"] and names[e["to"]] in e["text"]
        # The message is that locale's rendering: its language, its event title.
        assert f'lang="{locale}"' in mail["html"]
        assert event["title"][locale] in mail["subject"] and event["title"][locale] in mail["text"]
        assert names[e["to"]] in mail["text"]
        if locale == "en":
            assert "72 hours" in mail["text"] and "one device at a time" in mail["text"]
        assert "72" in mail["text"]
        # The link is a working single-use sign-in link for this person and event.
        raw = link_token(mail["text"])
        assert raw in mail["html"]
        token = await tokens.peek(db, raw, tokens.SIGNIN)
        assert token and token["user_id"] == user["_id"] and token["event_id"] == event["_id"]
        assert token["expires_at"] - token["created_at"] == datetime.timedelta(hours=72)
        # The login and password in the mail are the account's (new: it had none).
        login, password = credentials(mail["text"], user["login"])
        assert password in mail["html"] and len(password) >= 10
        assert password not in e["text"] + e["html"] and user["login"] not in e["text"] + e["html"]
        assert await services.hasher.verify(password, user["password_hash"])
        m = await registry.find_membership(db, event["_id"], user["_id"])
        assert m["mailed_at"] is not None

    progress = await b.get(mailing_path)
    assert progress.status_code == 200
    assert "data-refresh-seconds" not in progress.text and "3 of 3 handled (100%)" in progress.text
    history = await b.get(base(event))
    assert mailing_path in history.text


@pytest.mark.gen_test(timeout=30)
async def test_the_mailed_password_of_a_new_account_signs_in(browser, factory, db, services):
    event = await factory.event(locales=("en",))
    await registry.register(db, event, email="p@example.org")
    person = await db.users.find_one({"email": "p@example.org"})
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    await signin_mailing.run(services, mailing["_id"])
    entry = await db.outbox.find_one({"to": "p@example.org"})
    login, password = credentials(full(entry)["text"], person["login"])
    stored = await db.users.find_one({"_id": person["_id"]})
    assert await services.hasher.verify(password, stored["password_hash"])
    r = await browser().post("/signin", {"identifier": login, "password": password})
    assert r.status_code == 302

    # A second mailing leaves that password alone: the account has one now.
    again = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    await signin_mailing.run(services, again["_id"])
    assert (await db.users.find_one({"_id": person["_id"]}))["password_hash"] == stored["password_hash"]
    second = await db.outbox.find_one({"to": "p@example.org", "mailing_id": again["_id"]})
    assert "the one you already use for this account" in full(second)["text"]
    assert "/password/forgot" in full(second)["text"]


@pytest.mark.gen_test(timeout=30)
async def test_an_account_with_a_password_keeps_it_and_gets_a_working_link(browser, factory, db, services):
    event = await factory.event(locales=("en",))
    person = await factory.member(R.ATTENDEE, event=event, email="p@example.org")
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    await signin_mailing.run(services, mailing["_id"])
    entry = await db.outbox.find_one({"to": "p@example.org"})
    mail = full(entry)
    assert person["login"] in mail["text"] and "the one you already use for this account" in mail["text"]
    assert "/password/forgot" in mail["text"] and "/password/forgot" in mail["html"]
    assert "the link and the sign-in details give access to your account" in mail["text"]
    stored = await db.users.find_one({"_id": person["_id"]})
    assert stored["password_hash"] == person["password_hash"]
    assert await db.mailing_items.count_documents({"new_hash": {"$exists": True}}) == 0
    # The old password still signs in, and so does the mailed link (once).
    b = browser()
    await b.sign_in(person["login"], factory.PASSWORD)
    link_browser = browser()
    r = await link_browser.post(f"/signin/link/{link_token(mail['text'])}")
    assert r.status_code == 302


@pytest.mark.gen_test(timeout=30)
async def test_audiences_never_mailed_and_one_locale(factory, db, services):
    event = await three_attendees(db, factory)
    first = await signin_mailing.create(db, event, audience=signin_mailing.ONE_LOCALE, locale="de", actor=None)
    assert first["total"] == 1
    await signin_mailing.run(services, first["_id"])
    assert [e["to"] for e in await db.outbox.find({}).to_list(None)] == ["hans@example.org"]

    await registry.register(db, event, email="late@example.org", locale="ru")
    people = await signin_mailing.recipients(db, event, signin_mailing.NEVER_MAILED)
    assert sorted(u["email"] for _, u in people) == ["emma@example.org", "late@example.org", "olga@example.org"]
    second = await signin_mailing.create(db, event, audience=signin_mailing.NEVER_MAILED, locale=None, actor=None)
    await signin_mailing.run(services, second["_id"])
    assert await db.outbox.count_documents({}) == 4
    assert await signin_mailing.recipients(db, event, signin_mailing.NEVER_MAILED) == []
    with pytest.raises(signin_mailing.MailingError):
        await signin_mailing.create(db, event, audience=signin_mailing.NEVER_MAILED, locale=None, actor=None)


@pytest.mark.gen_test
async def test_mail_locale_follows_the_persons_profile_when_the_event_has_it(factory, db, services):
    event = await factory.event(locales=("ru", "de"))
    await registry.register(db, event, email="k@example.org", locale="ru")
    await db.users.update_one({"email": "k@example.org"}, {"$set": {"locale": "de"}})
    await registry.register(db, event, email="l@example.org", locale="ru")
    await db.users.update_one({"email": "l@example.org"}, {"$set": {"locale": "he"}})
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    await signin_mailing.run(services, mailing["_id"])
    k = await db.outbox.find_one({"to": "k@example.org"})
    l_ = await db.outbox.find_one({"to": "l@example.org"})
    assert 'lang="de"' in full(k)["html"] and 'lang="ru"' in full(l_)["html"]
    # Staff see the copy in the language they registered: the account's own choice is not theirs to know.
    assert 'lang="ru"' in k["html"] and 'lang="ru"' in l_["html"]


# --- refusals ---------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_sending_needs_confirmation_and_a_valid_choice(browser, factory, db, services):
    event = await three_attendees(db, factory)
    b, _ = await staff_browser(browser, factory, event)
    before = await snapshot(db)
    for data in ({}, {"audience": "all"}, {"audience": "everyone", "confirm": "yes"},
                 {"audience": "locale", "locale": "lv", "confirm": "yes"}):
        r = await b.post(base(event), data)
        assert r.status_code == 400, data
        assert error_text(r.text), data
    r = await b.get(base(event) + "?audience=locale&locale=xx")
    assert r.status_code == 400 and "Choose one of this event" in error_text(r.text)
    assert await snapshot(db) == before
    assert not jobs(services)


@pytest.mark.gen_test
async def test_empty_audience_and_running_mailing_are_refused(browser, factory, db, services):
    event = await factory.event(locales=("ru", "en"))
    b, _ = await staff_browser(browser, factory, event)
    before = await snapshot(db)
    r = await b.get(base(event) + "?audience=all")
    assert "No attendees match this choice." in r.text
    r = await b.post(base(event), {"audience": "all", "confirm": "yes"})
    assert r.status_code == 400 and "No attendees match" in error_text(r.text)
    assert await snapshot(db) == before

    await registry.register(db, event, email="q@example.org")
    queued = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    before = await snapshot(db)
    r = await b.post(base(event), {"audience": "all", "confirm": "yes"})
    assert r.status_code == 400 and "still being sent" in error_text(r.text)
    assert await snapshot(db) == before
    # While it waits or runs, its page refreshes itself.
    page = await b.get(f"{base(event)}/{queued['_id']}")
    assert 'data-refresh-seconds="2"' in page.text and 'role="progressbar"' in page.text


@pytest.mark.gen_test
async def test_unknown_mailing_is_404(browser, factory, db):
    space = await factory.space()
    event, other = await factory.event(space), await factory.event(space)
    await registry.register(db, other, email="o@example.org")
    theirs = await signin_mailing.create(db, other, audience="all", locale=None, actor=None)
    b, _ = await staff_browser(browser, factory, event)
    assert (await b.get(f"{base(event)}/{theirs['_id']}")).status_code == 404
    assert (await b.get(f"{base(event)}/{'0' * 24}")).status_code == 404


@pytest.mark.parametrize("role", [R.ATTENDEE, R.MODERATOR, R.COMMENTATOR])
@pytest.mark.gen_test
async def test_roles_without_mailing_permission_are_refused(browser, factory, db, services, role):
    event = await three_attendees(db, factory)
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    await signin_mailing.run(services, mailing["_id"])
    entry = await db.outbox.find_one({})
    b, _ = await staff_browser(browser, factory, event, role=role, locales=["en"])
    before = await snapshot(db)
    for url in (base(event), base(event) + "?audience=all", f"{base(event)}/{mailing['_id']}",
                f"/admin/events/{event['_id']}/outbox", f"/admin/events/{event['_id']}/outbox/{entry['_id']}",
                f"/admin/events/{event['_id']}/outbox/{entry['_id']}/html", "/admin/outbox"):
        r = await b.get(url)
        assert r.status_code == 403 and "error-message" in r.text, url
        assert "Password:" not in r.text
    r = await b.post(base(event), {"audience": "all", "confirm": "yes"})
    assert r.status_code == 403
    assert await snapshot(db) == before
    assert not jobs(services)


# --- resuming after a restart -----------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_resume_sends_only_pending_items_and_nobody_twice(factory, db, services):
    event = await factory.event(locales=("en",))
    for i in range(6):
        await registry.register(db, event, email=f"r{i}@example.org")
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    items = await db.mailing_items.find({"mailing_id": mailing["_id"]}).sort("_id", 1).to_list(None)
    # As if a previous process had sent the first two and then stopped mid-run.
    for item in items[:2]:
        await db.mailing_items.update_one({"_id": item["_id"]}, {"$set": {"status": "sent"}})
    await db.mailings.update_one({"_id": mailing["_id"]}, {"$set": {"status": "running", "sent": 2}})
    other = await db.mailings.insert_one({"event_id": event["_id"], "status": "done", "total": 0,
                                          "sent": 0, "failed": 0, "lease_until": None})

    tasks = await signin_mailing.resume_all(services)
    assert len(tasks) == 1
    await asyncio.gather(*tasks)
    sent_to = sorted(e["to"] for e in await db.outbox.find({}).to_list(None))
    assert sent_to == sorted(item["email"] for item in items[2:])
    done = await db.mailings.find_one({"_id": mailing["_id"]})
    assert (done["status"], done["sent"], done["failed"]) == ("done", 6, 0)
    assert (await db.mailings.find_one({"_id": other.inserted_id}))["status"] == "done"

    # Resuming again finds nothing to do and sends nothing.
    assert await signin_mailing.resume_all(services) == []
    assert await db.outbox.count_documents({}) == 4


@pytest.mark.gen_test(timeout=30)
async def test_resume_settles_items_a_dead_runner_left_sending(factory, db, services):
    event = await factory.event(locales=("en",))
    for email in ("handed@example.org", "lost@example.org"):
        await registry.register(db, event, email=email)
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    handed = await db.mailing_items.find_one({"email": "handed@example.org"})
    lost = await db.mailing_items.find_one({"email": "lost@example.org"})
    new_hash = await services.hasher.hash("parked-password")
    # "handed" reached the outbox before the crash, "lost" did not.
    await db.mailing_items.update_one({"_id": handed["_id"]}, {"$set": {"status": "sending", "new_hash": new_hash}})
    await db.mailing_items.update_one({"_id": lost["_id"]}, {"$set": {"status": "sending"}})
    await db.outbox.insert_one({"to": "handed@example.org", "mailing_id": mailing["_id"], "status": "stored",
                                "event_id": event["_id"], "created_at": utcnow(), "subject": "s", "text": "t"})
    # The dead runner's lease has lapsed.
    await db.mailings.update_one({"_id": mailing["_id"]}, {"$set": {
        "status": "running", "runner": "dead", "lease_until": utcnow() - datetime.timedelta(seconds=1)}})

    await asyncio.gather(*await signin_mailing.resume_all(services))
    assert await db.outbox.count_documents({"to": "handed@example.org"}) == 1
    assert await db.outbox.count_documents({"to": "lost@example.org"}) == 1
    user = await db.users.find_one({"email": "handed@example.org"})
    assert await services.hasher.verify("parked-password", user["password_hash"])
    assert (await registry.find_membership(db, event["_id"], user["_id"]))["mailed_at"]
    done = await db.mailings.find_one({"_id": mailing["_id"]})
    assert (done["status"], done["sent"]) == ("done", 2)
    assert await db.mailing_items.count_documents({"new_hash": {"$exists": True}}) == 0


@pytest.mark.gen_test(timeout=30)
async def test_a_held_lease_is_waited_out_not_shared(factory, db, services):
    event = await factory.event(locales=("en",))
    await registry.register(db, event, email="w@example.org")
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    await db.mailings.update_one({"_id": mailing["_id"]}, {"$set": {
        "status": "running", "runner": "other", "lease_until": utcnow() + datetime.timedelta(milliseconds=300)}})
    tasks = await signin_mailing.resume_all(services)
    await asyncio.sleep(0.1)
    assert await db.outbox.count_documents({}) == 0  # the other runner still holds it
    await asyncio.gather(*tasks)
    assert await db.outbox.count_documents({}) == 1
    assert (await db.mailings.find_one({"_id": mailing["_id"]}))["status"] == "done"


@pytest.mark.gen_test(timeout=30)
async def test_removed_attendee_is_skipped_as_failed(factory, db, services):
    event = await factory.event(locales=("en",))
    await registry.register(db, event, email="stay@example.org")
    await registry.register(db, event, email="leave@example.org")
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    leaver = await db.users.find_one({"email": "leave@example.org"})
    await registry.remove(db, event, (await registry.find_membership(db, event["_id"], leaver["_id"]))["_id"])
    await signin_mailing.run(services, mailing["_id"])
    done = await db.mailings.find_one({"_id": mailing["_id"]})
    assert (done["status"], done["sent"], done["failed"]) == ("done", 1, 1)
    assert [e["to"] for e in await db.outbox.find({}).to_list(None)] == ["stay@example.org"]


# --- the outbox pages ----------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_event_outbox_lists_newest_first_and_shows_bodies_safely(browser, factory, db, services):
    space = await factory.space()
    event, other = await factory.event(space, locales=("en",)), await factory.event(space, locales=("en",))
    await registry.register(db, event, email="x@example.org", name="<script>alert(1)</script>")
    await registry.register(db, other, email="y@example.org")
    for ev in (event, other):
        m = await signin_mailing.create(db, ev, audience="all", locale=None, actor=None)
        await signin_mailing.run(services, m["_id"])
    await services.mailer.send(to="later@example.org", subject="Later", text="t", event_id=event["_id"])
    b, _ = await staff_browser(browser, factory, event)

    listing = await b.get(f"/admin/events/{event['_id']}/outbox")
    assert listing.status_code == 200 and listing.headers["cache-control"] == "no-store"
    assert listing.text.index("later@example.org") < listing.text.index("x@example.org")
    assert "y@example.org" not in listing.text

    entry = await db.outbox.find_one({"to": "x@example.org"})
    page = await b.get(f"/admin/events/{event['_id']}/outbox/{entry['_id']}")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert "/signin/link/" not in page.text and "hidden: sent only to the recipient" in page.text
    assert "/html" in page.text
    html = await b.get(f"/admin/events/{event['_id']}/outbox/{entry['_id']}/html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert html.headers["content-security-policy"].startswith("sandbox")
    assert html.text == entry["html"] and "/signin/link/" not in html.text

    theirs = await db.outbox.find_one({"to": "y@example.org"})
    assert (await b.get(f"/admin/events/{event['_id']}/outbox/{theirs['_id']}")).status_code == 404
    assert (await b.get(f"/admin/events/{event['_id']}/outbox/{theirs['_id']}/html")).status_code == 404
    assert (await b.get("/admin/outbox")).status_code == 403


@pytest.mark.gen_test
async def test_platform_outbox_shows_every_event(browser, factory, db, services):
    event = await factory.event(locales=("en",))
    await services.mailer.send(to="a@example.org", subject="One", text="t", event_id=event["_id"])
    await services.mailer.send(to="b@example.org", subject="Two", text="t")
    admin = await factory.user(platform_admin=True)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    r = await b.get("/admin/outbox")
    assert r.status_code == 200 and "a@example.org" in r.text and "b@example.org" in r.text
    assert event["title"]["en"] in r.text
    entry = await db.outbox.find_one({"to": "b@example.org"})
    r = await b.get(f"/admin/outbox/{entry['_id']}")
    assert r.status_code == 200 and "Two" in r.text
    assert (await b.get(f"/admin/outbox/{entry['_id']}/html")).status_code == 404  # no HTML part


@pytest.mark.gen_test
async def test_outbox_is_paginated(browser, factory, db, services):
    event = await factory.event(locales=("en",))
    for i in range(55):
        await services.mailer.send(to=f"m{i}@example.org", subject=f"S{i}", text="t", event_id=event["_id"])
    b, _ = await staff_browser(browser, factory, event)
    first = await b.get(f"/admin/events/{event['_id']}/outbox")
    assert "Page 1 of 2" in first.text and first.text.count("@example.org</td>") == 50
    second = await b.get(f"/admin/events/{event['_id']}/outbox?page=2")
    assert second.text.count("@example.org</td>") == 5


@pytest.mark.gen_test(timeout=30)
async def test_an_error_with_one_recipient_does_not_stop_the_others(factory, db, services, monkeypatch):
    event = await factory.event(locales=("en",))
    for email in ("a@example.org", "broken@example.org", "c@example.org"):
        await registry.register(db, event, email=email)
    real = signin_mailing.render_signin

    def render(services_, event_, user, *args):
        if user["email"] == "broken@example.org":
            raise ValueError("template exploded")
        return real(services_, event_, user, *args)

    monkeypatch.setattr(signin_mailing, "render_signin", render)
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    await signin_mailing.run(services, mailing["_id"])
    done = await db.mailings.find_one({"_id": mailing["_id"]})
    assert (done["status"], done["sent"], done["failed"]) == ("done", 2, 1)
    item = await db.mailing_items.find_one({"email": "broken@example.org"})
    assert item["status"] == "failed" and "template exploded" in item["error"]
    broken = await db.users.find_one({"email": "broken@example.org"})
    assert broken["password_hash"] is None  # nothing was handed off, nothing changed
    assert await db.tokens.count_documents({"user_id": broken["_id"]}) == 0


@pytest.mark.gen_test(timeout=30)
async def test_a_mailing_whose_event_is_gone_is_marked_failed(factory, db, services):
    event = await factory.event(locales=("en",))
    await registry.register(db, event, email="a@example.org")
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    await db.events.delete_one({"_id": event["_id"]})
    await signin_mailing.run(services, mailing["_id"])
    done = await db.mailings.find_one({"_id": mailing["_id"]})
    assert done["status"] == "failed" and "no longer exists" in done["error"]
    assert await db.outbox.count_documents({}) == 0


@pytest.mark.gen_test
async def test_a_mailing_and_the_count_reach_only_registrations_that_admit(factory, db, services):
    event = await factory.event(locales=("en",))
    states = ("registered", None, "unconfirmed", "pending", "waiting", "offered", "cancelled", "rejected",
              "expired")
    for i, state in enumerate(states):
        m = await registry.register(db, event, email=f"p{i}@example.org", locale="en")
        if state is None:  # registered by staff before registrations had states
            await db.memberships.update_one({"_id": m["_id"]}, {"$unset": {"state": ""}})
        else:
            await db.memberships.update_one({"_id": m["_id"]}, {"$set": {"state": state}})
    assert await registry.count(db, event["_id"]) == 2
    for audience in (signin_mailing.ALL, signin_mailing.NEVER_MAILED):
        people = await signin_mailing.recipients(db, event, audience)
        assert sorted(u["email"] for _, u in people) == ["p0@example.org", "p1@example.org"]
    mailing = await signin_mailing.create(db, event, audience=signin_mailing.ALL, locale=None, actor=None)
    assert mailing["total"] == 2
    await signin_mailing.run(services, mailing["_id"])
    assert sorted(e["to"] for e in await db.outbox.find({}).to_list(None)) == ["p0@example.org", "p1@example.org"]
