"""The event's staff page (grant and revoke roles) and its audit log (page and CSV)."""
import csv
import datetime
import html
import io

import pytest
from bson import ObjectId

from access import audit
from access import roles as R
from accounts import users
from tests.support import error_text
from tests.test_admin_events import assert_refused, last_audit, person, snapshot

UTC = datetime.UTC


# --- staff ----------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_staff_page_lists_staff_not_attendees(browser, factory, db, services):
    event = await factory.event()
    me, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    commentator = await factory.member(R.COMMENTATOR, event=event, locales=["de"])
    attendee = await factory.member(R.ATTENDEE, event=event)
    r = await b.get(f"/admin/events/{event['_id']}/staff")
    assert r.status_code == 200
    assert me["email"] in r.text and commentator["email"] in r.text
    assert attendee["email"] not in r.text
    assert "Deutsch" in r.text
    # No button to revoke one's own role.
    own = await db.memberships.find_one({"user_id": me["_id"]})
    assert f'value="{own["_id"]}"' not in r.text


@pytest.mark.gen_test(timeout=60)
async def test_staff_page_is_paginated(browser, factory, db, services):
    event = await factory.event()
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    for n in range(55):
        user = await users.create(db, email=f"helper{n:02d}@example.org", name=f"Helper {n}")
        await R.grant(db, user, "event", event["_id"], R.MODERATOR)
    r = await b.get(f"/admin/events/{event['_id']}/staff")
    assert r.text.count('name="membership_id"') == 49  # 50 rows, one of them mine
    assert "page=2" in r.text
    r = await b.get(f"/admin/events/{event['_id']}/staff?page=2")
    assert r.text.count('name="membership_id"') == 6


@pytest.mark.gen_test(timeout=60)
async def test_staff_page_refused_to_managers_and_moderators(browser, factory, db, services):
    event = await factory.event()
    url = f"/admin/events/{event['_id']}/staff"
    target = await factory.member(R.MODERATOR, event=event)
    membership = await db.memberships.find_one({"user_id": target["_id"]})
    for role in (R.EVENT_MANAGER, R.MODERATOR, R.COMMENTATOR, R.SPEAKER, R.ATTENDEE):
        _, b = await person(browser, factory, role, event=event, locale="lv")
        assert_refused(await b.get(url), services, "lv")
        before = await snapshot(db)
        assert_refused(await b.post(url, {"email": "x@example.org", "role": R.EVENT_ADMIN}), services, "lv")
        assert_refused(await b.post(url + "/revoke", {"membership_id": str(membership["_id"])}),
                       services, "lv")
        assert await snapshot(db) == before


@pytest.mark.gen_test(timeout=60)
async def test_grant_roles_to_existing_and_new_people(browser, factory, db, services):
    event = await factory.event(locales=("ru", "en", "de"))
    me, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    url = f"/admin/events/{event['_id']}/staff"
    existing = await factory.user()
    r = await b.post(url, {"email": existing["email"], "name": "", "role": R.MODERATOR})
    assert r.status_code == 302
    m = await db.memberships.find_one({"user_id": existing["_id"], "scope_id": event["_id"]})
    assert m["role"] == R.MODERATOR and m["locales"] == [] and m["scope"] == "event"
    entry = await last_audit(db, "staff_grant")
    assert entry["event_id"] == event["_id"] and entry["actor_id"] == me["_id"]
    assert entry["before"] is None
    assert entry["after"]["email"] == existing["email"] and entry["after"]["role"] == R.MODERATOR
    assert entry["params"] == {"email": existing["email"], "role": R.MODERATOR}

    r = await b.post(url, {"email": "Olga@Example.ORG", "name": " Olga  K ", "role": R.COMMENTATOR,
                           "locales": ["de", "ru"]})
    assert r.status_code == 302
    olga = await db.users.find_one({"email": "olga@example.org"})
    assert olga["name"] == "Olga K" and olga["password_hash"] is None and olga["locale"] == "ru"
    m = await db.memberships.find_one({"user_id": olga["_id"], "scope_id": event["_id"]})
    assert m["role"] == R.COMMENTATOR and m["locales"] == ["ru", "de"]
    entry = await last_audit(db, "staff_grant")
    assert entry["params"] == {"email": "olga@example.org", "role": R.COMMENTATOR}
    assert entry["after"]["locales"] == ["ru", "de"] and entry["after"]["name"] == "Olga K"
    r = await b.get(url)
    assert "flash-success" in r.text and "Forgot your password?" in r.text and "olga@example.org" in r.text

    # The same person may hold a second, different role.
    r = await b.post(url, {"email": existing["email"], "role": R.SPEAKER})
    assert r.status_code == 302
    assert await db.memberships.count_documents({"user_id": existing["_id"]}) == 2


@pytest.mark.gen_test(timeout=60)
async def test_grant_refuses_bad_input_and_changes_nothing(browser, factory, db, services):
    event = await factory.event(locales=("ru", "en", "de"))
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    url = f"/admin/events/{event['_id']}/staff"
    moderator = await factory.member(R.MODERATOR, event=event)
    before = await snapshot(db)
    for why, data in {
        "duplicate grant": {"email": moderator["email"], "role": R.MODERATOR},
        "commentator without languages": {"email": "c@example.org", "role": R.COMMENTATOR},
        "language the event lacks": {"email": "c@example.org", "role": R.COMMENTATOR, "locales": ["he"]},
        "unknown language": {"email": "c@example.org", "role": R.COMMENTATOR, "locales": ["xx"]},
        "unknown role": {"email": "c@example.org", "role": "overlord"},
        "attendee is not a staff role": {"email": "c@example.org", "role": R.ATTENDEE},
        "space admin is not an event role": {"email": "c@example.org", "role": R.SPACE_ADMIN},
        "bad email": {"email": "not-an-email", "role": R.MODERATOR},
        "overlong name": {"email": "c@example.org", "name": "N" * 121, "role": R.MODERATOR},
    }.items():
        r = await b.post(url, data)
        assert r.status_code == 400, why
        assert error_text(r.text), why
    assert await snapshot(db) == before
    r = await b.post(url, {"email": moderator["email"].upper(), "role": R.MODERATOR})
    assert error_text(r.text) == "This person already has this role in the event."


@pytest.mark.gen_test(timeout=60)
async def test_revoke_a_role(browser, factory, db, services):
    event = await factory.event()
    other_event = await factory.event()
    me, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    url = f"/admin/events/{event['_id']}/staff/revoke"
    target = await factory.member(R.COMMENTATOR, event=event, locales=["en"])
    attendee = await factory.member(R.ATTENDEE, event=event)
    elsewhere = await factory.member(R.MODERATOR, event=other_event)
    own = await db.memberships.find_one({"user_id": me["_id"]})

    before = await snapshot(db)
    for why, membership_id in {
        "own role": own["_id"],
        "attendee": (await db.memberships.find_one({"user_id": attendee["_id"]}))["_id"],
        "another event's staff": (await db.memberships.find_one({"user_id": elsewhere["_id"]}))["_id"],
        "unknown": ObjectId(),
        "garbage": "zzz",
    }.items():
        r = await b.post(url, {"membership_id": str(membership_id)})
        assert r.status_code == 400 and error_text(r.text), why
    assert await snapshot(db) == before

    m = await db.memberships.find_one({"user_id": target["_id"]})
    r = await b.post(url, {"membership_id": str(m["_id"])})
    assert r.status_code == 302
    assert not await db.memberships.find_one({"_id": m["_id"]})
    assert await db.users.find_one({"_id": target["_id"]})  # the account stays
    entry = await last_audit(db, "staff_revoke")
    assert entry["before"]["email"] == target["email"] and entry["before"]["locales"] == ["en"]
    assert entry["after"] is None
    # Revoking again is a clear error, not a crash.
    r = await b.post(url, {"membership_id": str(m["_id"])})
    assert r.status_code == 400 and error_text(r.text)


@pytest.mark.gen_test(timeout=60)
async def test_space_admin_manages_staff_of_every_event_in_the_space(browser, factory, db, services):
    space = await factory.space()
    event = await factory.event(space)
    _, b = await person(browser, factory, R.SPACE_ADMIN, space=space)
    r = await b.post(f"/admin/events/{event['_id']}/staff", {"email": "ev@example.org", "role": R.EVENT_ADMIN})
    assert r.status_code == 302
    assert await db.memberships.find_one({"email": "ev@example.org", "role": R.EVENT_ADMIN})


# --- audit log ------------------------------------------------------------------------------

async def fill_log(db, event, actor, count, action="slide_next", start=None):
    start = start or datetime.datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    for n in range(count):
        await db.audit.insert_one({
            "at": start + datetime.timedelta(minutes=n), "actor_id": actor["_id"],
            "actor_email": actor["email"], "action": action, "event_id": event["_id"],
            "space_id": event["space_id"], "params": {"n": n},
            "before": {"slides": {"index": n}}, "after": {"slides": {"index": n + 1}},
        })


@pytest.mark.gen_test(timeout=60)
async def test_audit_log_newest_first_paginated_and_filtered(browser, factory, db, services):
    event = await factory.event()
    other = await factory.event()
    me, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    await fill_log(db, event, me, 55)
    await fill_log(db, event, me, 3, action="day_on", start=datetime.datetime(2026, 4, 1, tzinfo=UTC))
    await fill_log(db, other, me, 2, action="gate_open")
    url = f"/admin/events/{event['_id']}/audit"
    r = await b.get(url)
    assert r.status_code == 200
    text = html.unescape(r.text)
    assert r.text.count("<tr>") == 51  # header + 50 entries
    # Newest first; times on the event's clock (Riga, UTC+3 in May).
    assert text.index('{"n": 54}') < text.index('{"n": 53}')
    assert "12:54" in text
    assert '{"slides": {"index": 54}}' in text and '{"slides": {"index": 55}}' in text
    assert "Gate opened" not in text  # another event's entry
    r = await b.get(url + "?page=2")
    assert r.text.count("<tr>") == 9  # header + 5 + 3

    r = await b.get(url + "?action=day_on")
    assert r.text.count("<tr>") == 4
    assert "Day switched on" in r.text and '{"n": 54}' not in html.unescape(r.text)
    assert "audit.csv?action=day_on" in r.text


@pytest.mark.gen_test(timeout=60)
async def test_audit_log_records_real_actions_in_the_viewers_language(browser, factory, db, services):
    event = await factory.event()
    me, b = await person(browser, factory, R.EVENT_ADMIN, event=event, locale="de")
    await b.post(f"/admin/events/{event['_id']}/program/materials",
                 {"url": "https://example.org/x.pdf", "title_ru": "Файл"})
    r = await b.get(f"/admin/events/{event['_id']}/audit")
    assert r.status_code == 200 and 'lang="de"' in r.text
    assert me["email"] in r.text and "Файл" in r.text  # real characters, not \\u escapes
    assert services.i18n.gettext("de")("Material added") in r.text


@pytest.mark.gen_test(timeout=60)
async def test_audit_csv_export(browser, factory, db, services):
    event = await factory.event()
    me, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    await fill_log(db, event, me, 3)
    await fill_log(db, event, me, 1, action="day_off", start=datetime.datetime(2026, 4, 1, tzinfo=UTC))
    await audit.record(db, actor={"_id": ObjectId(), "email": "=cmd@example.org"}, action="staff_grant",
                       event=event, params={"email": "=HYPERLINK()"}, before=None, after={"name": "-1"})
    r = await b.get(f"/admin/events/{event['_id']}/audit.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["time_utc", "time_event", "actor_email", "action", "params", "before", "after"]
    assert len(rows) == 6
    # A value a spreadsheet would run as a formula is neutralised.
    assert rows[1][2] == "'=cmd@example.org"
    assert rows[1][4] == '{"email": "=HYPERLINK()"}'
    # Newest first: the oldest slide flip, then the older day switch.
    first_flip = rows[-2]
    assert first_flip[0] == "2026-05-01T09:00:00Z" and first_flip[1] == "2026-05-01T12:00:00+03:00"
    assert first_flip[3] == "slide_next" and first_flip[5] == '{"slides": {"index": 0}}'
    assert rows[-1][3] == "day_off" and rows[-1][6] == '{"slides": {"index": 1}}'

    r = await b.get(f"/admin/events/{event['_id']}/audit.csv?action=day_off")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 2 and rows[1][3] == "day_off"


@pytest.mark.gen_test(timeout=60)
async def test_audit_refused_to_roles_without_it(browser, factory, db, services):
    event = await factory.event()
    for role in (R.EVENT_MANAGER, R.MODERATOR, R.COMMENTATOR):
        _, b = await person(browser, factory, role, event=event, locale="et")
        assert_refused(await b.get(f"/admin/events/{event['_id']}/audit"), services, "et")
        r = await b.get(f"/admin/events/{event['_id']}/audit.csv")
        assert r.status_code == 403 and "text/csv" not in r.headers["content-type"]
