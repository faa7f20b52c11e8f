"""Registering attendees one by one, listing and searching them, removing, exporting."""
import csv
import io

import pytest

from access import roles as R
from attendees import registry
from tests.support import error_text


async def staff_browser(browser, factory, event, role=R.EVENT_ADMIN):
    person = await factory.member(role, event=event)
    b = browser()
    await b.sign_in(person["login"], factory.PASSWORD)
    return b, person


async def counts(db) -> dict:
    return {name: await db[name].count_documents({})
            for name in ("users", "memberships", "audit", "imports", "mailings", "outbox")}


def path(event, rest: str = "") -> str:
    return f"/admin/events/{event['_id']}/attendees{rest}"


# --- registering one -----------------------------------------------------------------

@pytest.mark.gen_test
async def test_register_new_person_creates_account_without_password(browser, factory, db):
    event = await factory.event(locales=("ru", "en", "de"))
    b, admin = await staff_browser(browser, factory, event)
    form = await b.get(path(event, "/new"))
    assert form.status_code == 200
    assert 'for="attendee-email"' in form.text and 'name="locale"' in form.text

    r = await b.post(path(event, "/new"), {"email": "  Anna.Berzina@Example.ORG ", "name": " Anna  Berzina ",
                                           "locale": "de"})
    assert r.status_code == 302 and r.headers["location"] == path(event)
    user = await db.users.find_one({"email": "anna.berzina@example.org"})
    assert user and user["password_hash"] is None and user["locale"] == "de"
    assert user["name"] == "Anna Berzina" and user["login"]
    m = await db.memberships.find_one({"user_id": user["_id"], "scope_id": event["_id"]})
    assert m["role"] == R.ATTENDEE and m["locales"] == ["de"] and m["mailed_at"] is None
    assert m["email"] == "anna.berzina@example.org"
    entry = await db.audit.find_one({"action": "attendee.register"})
    assert entry["actor_id"] == admin["_id"] and entry["event_id"] == event["_id"]
    # Whether an account was made is not the event's staff's to know (tests/test_takeover.py).
    assert entry["params"] == {"email": "anna.berzina@example.org"}

    page = await b.get(path(event))
    assert "anna.berzina@example.org" in page.text and "is registered" in page.text


@pytest.mark.gen_test
async def test_register_without_locale_uses_event_default(db, factory):
    event = await factory.event(locales=("ru", "en"))
    m = await registry.register(db, event, email="ivan@example.org", name="Ivan")
    assert m["locales"] == ["ru"]
    user = await db.users.find_one({"email": "ivan@example.org"})
    assert user["locale"] == "ru"


@pytest.mark.gen_test
async def test_register_existing_account_reuses_it(browser, factory, db):
    event = await factory.event()
    existing = await factory.user(email="known@example.org", name="Known Person")
    b, _ = await staff_browser(browser, factory, event)
    users_before = await db.users.count_documents({})
    r = await b.post(path(event, "/new"), {"email": "KNOWN@example.org", "name": "Other Name", "locale": "en"})
    assert r.status_code == 302
    assert await db.users.count_documents({}) == users_before
    m = await db.memberships.find_one({"scope_id": event["_id"], "role": R.ATTENDEE})
    assert m["user_id"] == existing["_id"]
    stored = await db.users.find_one({"_id": existing["_id"]})
    # The person's own name and password are kept.
    assert stored["name"] == "Known Person" and stored["password_hash"] == existing["password_hash"]


@pytest.mark.gen_test
async def test_register_same_address_in_two_events_shares_the_account(db, factory):
    space = await factory.space()
    one, two = await factory.event(space), await factory.event(space)
    await registry.register(db, one, email="both@example.org")
    await registry.register(db, two, email="both@example.org")
    assert await db.users.count_documents({"email": "both@example.org"}) == 1
    assert await db.memberships.count_documents({"email": "both@example.org", "role": R.ATTENDEE}) == 2


@pytest.mark.gen_test
async def test_duplicate_attendee_is_refused_and_changes_nothing(browser, factory, db):
    event = await factory.event()
    b, _ = await staff_browser(browser, factory, event)
    assert (await b.post(path(event, "/new"), {"email": "dup@example.org", "locale": "en"})).status_code == 302
    before = await counts(db)
    r = await b.post(path(event, "/new"), {"email": "Dup@Example.org", "name": "Again", "locale": "en"})
    assert r.status_code == 400
    assert "dup@example.org is already registered" in error_text(r.text)
    assert 'value="Again"' in r.text  # the form keeps what was typed
    assert await counts(db) == before

    with pytest.raises(registry.DuplicateAttendee):
        await registry.register(db, event, email="dup@example.org")
    assert await counts(db) == before


@pytest.mark.parametrize("fields, message", [
    ({"email": "not-an-email", "locale": "en"}, "not a valid email address"),
    ({"email": "", "locale": "en"}, "not a valid email address"),
    ({"email": "a@example.org", "locale": "lv"}, "not one of this event"),
    ({"email": "a@example.org", "locale": "xx"}, "not one of this event"),
    ({"email": "a@example.org", "name": "x" * 121, "locale": "en"}, "longer than 120"),
])
@pytest.mark.gen_test
async def test_bad_input_is_refused_and_changes_nothing(browser, factory, db, fields, message):
    event = await factory.event(locales=("ru", "en", "de"))
    b, _ = await staff_browser(browser, factory, event)
    before = await counts(db)
    r = await b.post(path(event, "/new"), fields)
    assert r.status_code == 400
    assert message in error_text(r.text)
    assert await counts(db) == before


@pytest.mark.gen_test
async def test_register_errors_are_translated_in_the_page_language(browser, factory, db):
    event = await factory.event()
    person = await factory.member(R.EVENT_ADMIN, event=event, locale="de")
    b = browser(locale="de")
    await b.sign_in(person["login"], factory.PASSWORD)
    r = await b.post(path(event, "/new"), {"email": "nope", "locale": "en"})
    assert r.status_code == 400 and 'lang="de"' in r.text and error_text(r.text)


# --- listing, searching, paging ----------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_search_is_case_insensitive_escaped_and_paginated(browser, factory, db):
    event = await factory.event()
    for i in range(120):
        await registry.register(db, event, email=f"person{i:03d}@example.org", name=f"Person {i:03d}",
                                locale="en")
    await registry.register(db, event, email="a.b@example.org", name="Dot Person")
    await registry.register(db, event, email="axb@example.org", name="Xavier")
    b, _ = await staff_browser(browser, factory, event)

    first = await b.get(path(event))
    assert first.status_code == 200
    assert first.text.count("/remove\"") == 50
    assert "Page 1 of 3" in first.text and "page=2" in first.text
    last = await b.get(path(event, "?page=3"))
    assert last.text.count("/remove\"") == 22
    beyond = await b.get(path(event, "?page=99"))
    assert beyond.status_code == 200 and beyond.text.count("/remove\"") == 22

    r = await b.get(path(event, "?q=PERSON 01"))
    assert r.text.count("/remove\"") == 10  # Person 010 .. 019
    r = await b.get(path(event, "?q=a.b"))
    assert "a.b@example.org" in r.text and "axb@example.org" not in r.text
    r = await b.get(path(event, "?q=(unclosed["))
    assert r.status_code == 200 and "Nobody matches" in r.text

    rows, page = await registry.search(db, event, "person", "email", 2)
    assert page.total == 121 and next(x["email"] for x in rows) == "person049@example.org"  # a.b@ ("Dot Person") sorts first
    rows, _ = await registry.search(db, event, "", "registered", 1)
    assert rows[0]["email"] == "axb@example.org"
    rows, _ = await registry.search(db, event, "", "name", 1)
    assert rows[0]["name"] == "Dot Person"


@pytest.mark.gen_test
async def test_list_shows_the_registrations_name_and_locale_not_the_accounts(browser, factory, db):
    event = await factory.event(locales=("ru", "en"))
    await registry.register(db, event, email="olga@example.org", name="Olga", locale="ru")
    user = await db.users.find_one({"email": "olga@example.org"})
    await db.users.update_one({"_id": user["_id"]}, {"$set": {"locale": "en", "name": "Olga Own Choice"}})
    b, _ = await staff_browser(browser, factory, event)
    r = await b.get(path(event))
    assert "Olga" in r.text and "Русский" in r.text
    assert "Olga Own Choice" not in r.text and user["login"] not in r.text and str(user["_id"]) not in r.text


# --- removing --------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_remove_keeps_the_account(browser, factory, db):
    event = await factory.event()
    await registry.register(db, event, email="gone@example.org")
    user = await db.users.find_one({"email": "gone@example.org"})
    membership = await db.memberships.find_one({"user_id": user["_id"], "scope_id": event["_id"]})
    b, admin = await staff_browser(browser, factory, event)
    page = await b.get(path(event))
    assert "data-confirm=" in page.text and f"/{membership['_id']}/remove" in page.text
    r = await b.post(path(event, f"/{membership['_id']}/remove"))
    assert r.status_code == 302
    assert await db.memberships.count_documents({"user_id": user["_id"]}) == 0
    assert await db.users.find_one({"_id": user["_id"]})
    entry = await db.audit.find_one({"action": "attendee.remove"})
    assert entry["before"]["email"] == "gone@example.org" and entry["actor_id"] == admin["_id"]

    before = await counts(db)
    r = await b.post(path(event, f"/{membership['_id']}/remove"))
    assert r.status_code == 404 and await counts(db) == before


@pytest.mark.gen_test
async def test_remove_cannot_touch_another_events_attendee(browser, factory, db):
    space = await factory.space()
    mine, other = await factory.event(space), await factory.event(space)
    await registry.register(db, other, email="theirs@example.org")
    user = await db.users.find_one({"email": "theirs@example.org"})
    theirs = await db.memberships.find_one({"user_id": user["_id"], "scope_id": other["_id"]})
    b, _ = await staff_browser(browser, factory, mine)
    before = await counts(db)
    for target in (theirs["_id"], user["_id"]):
        r = await b.post(path(mine, f"/{target}/remove"))
        assert r.status_code == 404 and await counts(db) == before


# --- export ------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_export_csv(browser, factory, db):
    event = await factory.event(locales=("ru", "en"))
    await registry.register(db, event, email="b@example.org", name="=HYPERLINK(\"x\")", locale="en")
    await registry.register(db, event, email="a@example.org", name="Алиса", locale="ru")
    b, _ = await staff_browser(browser, factory, event)
    r = await b.get(path(event, "/export.csv"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["email", "name", "locale", "registered_at", "mailed_at", "link_used_at"]
    assert [row[0] for row in rows[1:]] == ["a@example.org", "b@example.org"]
    assert rows[1][1] == "Алиса" and rows[1][2] == "ru" and rows[1][3].endswith("Z") and rows[1][4] == ""
    assert rows[2][1].startswith("'=")  # never a live formula in a spreadsheet
    assert await db.audit.find_one({"action": "attendees.export"})


# --- locale of an attendee ---------------------------------------------------------------

def test_attendee_locale_prefers_the_persons_choice_then_registration_then_default():
    event = {"locales": ["ru", "de"], "default_locale": "ru"}
    assert registry.attendee_locale(event, {"locale": "de"}, {"locales": ["ru"]}) == "de"
    assert registry.attendee_locale(event, {"locale": "en"}, {"locales": ["de"]}) == "de"
    assert registry.attendee_locale(event, {"locale": "en"}, {"locales": []}) == "ru"


# --- permissions ------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [R.ATTENDEE, R.MODERATOR, R.COMMENTATOR, R.SPEAKER])
@pytest.mark.gen_test
async def test_roles_without_the_permission_are_refused(browser, factory, db, role):
    event = await factory.event()
    await registry.register(db, event, email="listed@example.org")
    listed = await db.users.find_one({"email": "listed@example.org"})
    b, _ = await staff_browser(browser, factory, event, role=role)
    before = await counts(db)
    for url in (path(event), path(event, "/new"), path(event, "/export.csv"), path(event, "/import")):
        r = await b.get(url)
        assert r.status_code == 403 and "error-message" in r.text, url
        assert "listed@example.org" not in r.text
    r = await b.post(path(event, "/new"), {"email": "x@example.org", "locale": "en"})
    assert r.status_code == 403
    r = await b.post(path(event, f"/{listed['_id']}/remove"))
    assert r.status_code == 403
    assert await counts(db) == before


@pytest.mark.gen_test
async def test_event_manager_may_manage_attendees(browser, factory, db):
    event = await factory.event()
    b, _ = await staff_browser(browser, factory, event, role=R.EVENT_MANAGER)
    assert (await b.get(path(event))).status_code == 200
    r = await b.post(path(event, "/new"), {"email": "m@example.org", "locale": "en"})
    assert r.status_code == 302


@pytest.mark.gen_test
async def test_signed_out_visitor_is_sent_to_signin(browser, factory):
    event = await factory.event()
    r = await browser().get(path(event))
    assert r.status_code == 302 and r.headers["location"].startswith("/signin?next=")
