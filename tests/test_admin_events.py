"""Staff pages for spaces and events: dashboard, spaces, event settings, programme."""
import datetime

import pytest
from bson import ObjectId

from access import roles as R
from tests.support import error_text

UTC = datetime.UTC
DENIED = "You do not have permission for this action."


async def snapshot(db):
    out = {}
    for name in ("events", "spaces", "memberships", "users", "audit"):
        out[name] = await db[name].find({}, {"last_login_at": 0}).sort("_id", 1).to_list(None)
    return out


async def person(browser, factory, role, event=None, space=None, locale=None, **kwargs):
    """A signed-in browser for a new user holding `role` (or no role: role=None)."""
    if locale:
        kwargs["locale"] = locale
    if role is None:
        user = await factory.user(**kwargs)
    else:
        user = await factory.member(role, event=event, space=space,
                                    locales=["en"] if role == R.COMMENTATOR else [], **kwargs)
    b = browser(locale=locale) if locale else browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return user, b


async def last_audit(db, action):
    return await db.audit.find_one({"action": action}, sort=[("at", -1), ("_id", -1)])


def assert_refused(r, services, locale="en", status=403, message=DENIED):
    assert r.status_code == status, r.status_code
    assert error_text(r.text) == services.i18n.gettext(locale)(message)
    assert f'lang="{locale}"' in r.text


# --- dashboard ----------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_dashboard_shows_each_person_their_spaces_and_events(browser, factory, services):
    space_a = await factory.space("alpha")
    space_b = await factory.space("beta")
    ev_a1 = await factory.event(space_a, slug="a-one")
    ev_a2 = await factory.event(space_a, slug="a-two")
    ev_b = await factory.event(space_b, slug="b-one")

    _, admin = await person(browser, factory, R.PLATFORM_ADMIN)
    r = await admin.get("/admin")
    assert r.status_code == 200
    for ev in (ev_a1, ev_a2, ev_b):
        assert f"/admin/events/{ev['_id']}" in r.text
    assert 'href="/admin/spaces/new"' in r.text

    _, space_admin = await person(browser, factory, R.SPACE_ADMIN, space=space_a)
    r = await space_admin.get("/admin")
    assert r.status_code == 200
    assert f"/admin/events/{ev_a1['_id']}" in r.text and f"/admin/events/{ev_a2['_id']}" in r.text
    assert f"/admin/events/{ev_b['_id']}" not in r.text and "/b-one" not in r.text
    assert f"/admin/spaces/{space_a['_id']}/events/new" in r.text
    assert 'href="/admin/spaces/new"' not in r.text

    _, moderator = await person(browser, factory, R.MODERATOR, event=ev_a2)
    r = await moderator.get("/admin")
    assert r.status_code == 200
    assert f"/admin/events/{ev_a2['_id']}" in r.text
    assert "/a-one" not in r.text and "/b-one" not in r.text
    # Not a space admin: no link to the space's own page.
    assert f'href="/admin/spaces/{space_a["_id"]}"' not in r.text

    # A speaker is staff (sees the event) but has no staff pages of it.
    _, speaker = await person(browser, factory, R.SPEAKER, event=ev_b)
    r = await speaker.get("/admin")
    assert r.status_code == 200
    assert "/e/beta/b-one" in r.text and f"/admin/events/{ev_b['_id']}" not in r.text


@pytest.mark.gen_test(timeout=60)
async def test_dashboard_refuses_people_without_staff_roles(browser, factory, services):
    event = await factory.event()
    _, attendee = await person(browser, factory, R.ATTENDEE, event=event, locale="de")
    assert_refused(await attendee.get("/admin"), services, "de")
    _, nobody = await person(browser, factory, None)
    assert_refused(await nobody.get("/admin"), services)
    r = await browser().get("/admin")
    assert r.status_code == 302 and r.headers["location"].startswith("/signin?next=")


# --- spaces -------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_platform_admin_creates_a_space(browser, factory, db, services):
    admin_user, admin = await person(browser, factory, R.PLATFORM_ADMIN)
    r = await admin.get("/admin/spaces/new")
    assert r.status_code == 200 and 'for="space-slug"' in r.text
    r = await admin.post("/admin/spaces/new", {"slug": "acme-events", "name": "  ACME   Events "})
    assert r.status_code == 302
    space = await db.spaces.find_one({"slug": "acme-events"})
    assert space["name"] == "ACME Events"
    assert r.headers["location"] == f"/admin/spaces/{space['_id']}"
    entry = await last_audit(db, "space_create")
    assert entry["space_id"] == space["_id"] and entry["actor_id"] == admin_user["_id"]
    assert entry["before"] is None and entry["after"] == {"slug": "acme-events", "name": "ACME Events"}

    before = await snapshot(db)
    for data in ({"slug": "Bad Slug!", "name": "X"}, {"slug": "-edge", "name": "X"},
                 {"slug": "acme-events", "name": "Another"}, {"slug": "fine", "name": "   "},
                 {"slug": "fine", "name": "N" * 201}):
        r = await admin.post("/admin/spaces/new", data)
        assert r.status_code == 400, data
        assert error_text(r.text), data
    assert await snapshot(db) == before
    r = await admin.post("/admin/spaces/new", {"slug": "acme-events", "name": "Again"})
    assert "already exists" in error_text(r.text)


@pytest.mark.gen_test(timeout=60)
async def test_space_creation_is_for_platform_admins_only(browser, factory, db, services):
    space = await factory.space()
    _, space_admin = await person(browser, factory, R.SPACE_ADMIN, space=space, locale="de")
    assert_refused(await space_admin.get("/admin/spaces/new"), services, "de")
    before = await snapshot(db)
    assert_refused(await space_admin.post("/admin/spaces/new", {"slug": "mine", "name": "Mine"}),
                   services, "de")
    assert await snapshot(db) == before


@pytest.mark.gen_test(timeout=60)
async def test_space_page_renames_and_manages_admins(browser, factory, db, services):
    space = await factory.space()
    event = await factory.event(space)
    me, b = await person(browser, factory, R.SPACE_ADMIN, space=space)
    r = await b.get(f"/admin/spaces/{space['_id']}")
    assert r.status_code == 200
    assert f"/admin/events/{event['_id']}" in r.text and me["email"] in r.text

    r = await b.post(f"/admin/spaces/{space['_id']}", {"name": "Renamed"})
    assert r.status_code == 302
    assert (await db.spaces.find_one({"_id": space["_id"]}))["name"] == "Renamed"
    entry = await last_audit(db, "space_update")
    assert entry["before"] == {"name": space["name"]} and entry["after"] == {"name": "Renamed"}

    # An existing account becomes an admin; a new address gets an account without a password.
    other = await factory.user()
    r = await b.post(f"/admin/spaces/{space['_id']}/admins", {"email": other["email"].upper(), "name": ""})
    assert r.status_code == 302
    assert await db.memberships.find_one({"user_id": other["_id"], "scope_id": space["_id"],
                                          "role": R.SPACE_ADMIN})
    r = await b.post(f"/admin/spaces/{space['_id']}/admins", {"email": "New.Admin@Example.org",
                                                               "name": "New Admin"})
    assert r.status_code == 302
    created = await db.users.find_one({"email": "new.admin@example.org"})
    assert created["name"] == "New Admin" and created["password_hash"] is None
    entry = await last_audit(db, "space_admin_add")
    assert entry["after"]["email"] == "new.admin@example.org" and entry["after"]["name"] == "New Admin"
    assert entry["params"] == {"email": "new.admin@example.org"}  # nothing about the account itself

    before = await snapshot(db)
    for data in ({"email": other["email"], "name": ""}, {"email": "not an email", "name": ""},
                 {"email": "x@example.org", "name": "N" * 121}):
        r = await b.post(f"/admin/spaces/{space['_id']}/admins", data)
        assert r.status_code == 400 and error_text(r.text), data
    mine = await db.memberships.find_one({"user_id": me["_id"], "scope_id": space["_id"]})
    r = await b.post(f"/admin/spaces/{space['_id']}/admins/remove", {"membership_id": str(mine["_id"])})
    assert r.status_code == 400 and error_text(r.text)
    r = await b.post(f"/admin/spaces/{space['_id']}/admins/remove", {"membership_id": str(ObjectId())})
    assert r.status_code == 400
    assert await snapshot(db) == before

    theirs = await db.memberships.find_one({"user_id": other["_id"], "scope_id": space["_id"]})
    r = await b.post(f"/admin/spaces/{space['_id']}/admins/remove", {"membership_id": str(theirs["_id"])})
    assert r.status_code == 302
    assert not await db.memberships.find_one({"_id": theirs["_id"]})
    entry = await last_audit(db, "space_admin_remove")
    assert entry["before"]["email"] == other["email"] and entry["after"] is None


@pytest.mark.gen_test(timeout=60)
async def test_space_page_refused_to_event_staff_and_unknown_space_is_404(browser, factory, db, services):
    space = await factory.space()
    event = await factory.event(space)
    _, event_admin = await person(browser, factory, R.EVENT_ADMIN, event=event)
    assert_refused(await event_admin.get(f"/admin/spaces/{space['_id']}"), services)
    before = await snapshot(db)
    assert_refused(await event_admin.post(f"/admin/spaces/{space['_id']}", {"name": "Hijacked"}), services)
    assert_refused(await event_admin.post(f"/admin/spaces/{space['_id']}/events/new",
                                          {"slug": "x", "locales": ["en"], "default_locale": "en",
                                           "timezone": "UTC", "title_en": "X"}), services)
    assert await snapshot(db) == before
    # The event pages do not link to a space page the person cannot open.
    r = await event_admin.get(f"/admin/events/{event['_id']}")
    assert f'href="/admin/spaces/{space["_id"]}"' not in r.text
    _, admin = await person(browser, factory, R.PLATFORM_ADMIN)
    r = await admin.get(f"/admin/spaces/{ObjectId()}")
    assert_refused(r, services, status=404, message="This space does not exist.")


# --- creating an event ----------------------------------------------------------------------

def new_event_form(**overrides):
    data = {"slug": "summit", "locales": ["de", "en"], "default_locale": "en",
            "timezone": "Europe/Berlin", "title_en": "Summit", "title_de": "Gipfel",
            "title_ru": "ignored: not a chosen language"}
    data.update(overrides)
    return data


@pytest.mark.gen_test(timeout=60)
async def test_space_admin_creates_an_event(browser, factory, db, services):
    space = await factory.space()
    me, b = await person(browser, factory, R.SPACE_ADMIN, space=space)
    r = await b.get(f"/admin/spaces/{space['_id']}/events/new")
    assert r.status_code == 200 and 'value="Europe/Riga"' in r.text
    r = await b.post(f"/admin/spaces/{space['_id']}/events/new", new_event_form())
    assert r.status_code == 302
    event = await db.events.find_one({"space_id": space["_id"], "slug": "summit"})
    assert r.headers["location"] == f"/admin/events/{event['_id']}"
    # Platform order, only the chosen languages' texts.
    assert event["locales"] == ["en", "de"] and event["default_locale"] == "en"
    assert event["timezone"] == "Europe/Berlin"
    assert event["title"] == {"en": "Summit", "de": "Gipfel"}
    entry = await last_audit(db, "event_create")
    assert entry["event_id"] == event["_id"] and entry["actor_email"] == me["email"]
    assert entry["before"] is None and entry["after"]["title"] == {"en": "Summit", "de": "Gipfel"}
    r = await b.get(f"/admin/events/{event['_id']}")
    assert r.status_code == 200 and "Summit" in r.text


@pytest.mark.gen_test(timeout=60)
async def test_event_creation_refuses_bad_input_and_changes_nothing(browser, factory, db, services):
    space = await factory.space()
    await factory.event(space, slug="taken")
    _, b = await person(browser, factory, R.SPACE_ADMIN, space=space)
    url = f"/admin/spaces/{space['_id']}/events/new"
    bad = {
        "invalid slug": new_event_form(slug="Not A Slug"),
        "duplicate slug": new_event_form(slug="taken"),
        "no languages": new_event_form(locales=[]),
        "unknown locale": new_event_form(locales=["en", "xx"]),
        "default not among locales": new_event_form(default_locale="ru"),
        "unknown default": new_event_form(default_locale="zz", locales=["en"]),
        "unknown timezone": new_event_form(timezone="Mars/Olympus"),
        "no default title": new_event_form(title_en=""),
        "overlong title": new_event_form(title_de="T" * 201),
    }
    before = await snapshot(db)
    for why, data in bad.items():
        r = await b.post(url, data)
        assert r.status_code == 400, why
        assert error_text(r.text), why
        # The form comes back with what was typed.
        assert f'value="{data["slug"]}"' in r.text, why
    assert await snapshot(db) == before
    r = await b.post(url, new_event_form(slug="taken"))
    assert "already has an event" in error_text(r.text)


# --- overview and settings --------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_overview_for_staff_refused_for_others_404_for_unknown(browser, factory, db, services):
    event = await factory.event()
    for role in (R.EVENT_ADMIN, R.EVENT_MANAGER, R.MODERATOR, R.COMMENTATOR):
        _, b = await person(browser, factory, role, event=event)
        r = await b.get(f"/admin/events/{event['_id']}")
        assert r.status_code == 200, role
        assert "Event" in r.text and "Europe/Riga" in r.text
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    r = await b.get(f"/admin/events/{event['_id']}")
    assert f"/admin/events/{event['_id']}/audit" in r.text and f"/admin/events/{event['_id']}/staff" in r.text
    for role in (R.SPEAKER, R.ATTENDEE):
        _, b = await person(browser, factory, role, event=event, locale="de")
        assert_refused(await b.get(f"/admin/events/{event['_id']}"), services, "de")
    _, admin = await person(browser, factory, R.PLATFORM_ADMIN, locale="de")
    for suffix in ("", "/edit", "/program", "/staff", "/audit", "/audit.csv"):
        r = await admin.get(f"/admin/events/{ObjectId()}{suffix}")
        assert_refused(r, services, "de", status=404, message="This event does not exist."), suffix


def settings_form(event, **overrides):
    data = {"locales": list(event["locales"]), "default_locale": event["default_locale"],
            "timezone": event["timezone"]}
    for code in event["locales"]:
        data[f"title_{code}"] = event["title"].get(code, "")
        data[f"description_{code}"] = ""
    data.update(overrides)
    return data


@pytest.mark.gen_test(timeout=60)
async def test_edit_settings_and_texts(browser, factory, db, services):
    event = await factory.event(locales=("ru", "en", "de"))
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    url = f"/admin/events/{event['_id']}/edit"
    r = await b.get(url)
    assert r.status_code == 200 and 'name="description_ru"' in r.text
    r = await b.post(url, settings_form(event, locales=["en", "de", "he"], default_locale="en",
                                        title_en="New title", description_de="Beschreibung",
                                        title_he="כותרת", title_ru="dropped with its language"))
    assert r.status_code == 302
    stored = await db.events.find_one({"_id": event["_id"]})
    assert stored["locales"] == ["en", "de", "he"] and stored["default_locale"] == "en"
    assert stored["title"] == {"en": "New title", "de": event["title"]["de"], "he": "כותרת"}
    assert stored["description"] == {"de": "Beschreibung"}
    entry = await last_audit(db, "event_update")
    assert entry["before"]["locales"] == ["ru", "en", "de"] and entry["after"]["locales"] == ["en", "de", "he"]
    assert entry["before"]["title"] == event["title"] and entry["after"]["title"] == stored["title"]


@pytest.mark.gen_test(timeout=60)
async def test_new_timezone_keeps_the_schedule_on_the_clock(browser, factory, db, services):
    event = await factory.event()
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    r = await b.post(f"/admin/events/{event['_id']}/program/schedule",
                     {"day_id": "d1", "starts": "10:00", "ends": "11:30", "title_ru": "Доклад"})
    assert r.status_code == 302
    r = await b.post(f"/admin/events/{event['_id']}/edit", settings_form(event, timezone="Asia/Almaty"))
    assert r.status_code == 302
    item = (await db.events.find_one({"_id": event["_id"]}))["schedule"][0]
    # 10:00 in Almaty (UTC+5) on 2026-12-01.
    assert item["starts_at"] == datetime.datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert item["ends_at"] == datetime.datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    entry = await last_audit(db, "event_update")
    assert entry["before"]["schedule"][0]["starts_at"] == datetime.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.gen_test(timeout=60)
async def test_edit_settings_refuses_bad_input_and_other_roles(browser, factory, db, services):
    event = await factory.event()
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    url = f"/admin/events/{event['_id']}/edit"
    before = await snapshot(db)
    for why, data in {
        "unknown locale": settings_form(event, locales=["ru", "xx"]),
        "default not among locales": settings_form(event, locales=["en", "de"], default_locale="ru"),
        "no languages": settings_form(event, locales=[]),
        "unknown timezone": settings_form(event, timezone="Nowhere/City"),
        "overlong description": settings_form(event, description_en="D" * 20001),
        "overlong title": settings_form(event, title_de="T" * 201),
        "no default title": settings_form(event, title_ru=""),
    }.items():
        r = await b.post(url, data)
        assert r.status_code == 400, why
        assert error_text(r.text), why
    assert await snapshot(db) == before
    _, manager = await person(browser, factory, R.EVENT_MANAGER, event=event, locale="de")
    assert_refused(await manager.get(url), services, "de")
    before = await snapshot(db)
    assert_refused(await manager.post(url, settings_form(event, title_ru="Hacked")), services, "de")
    assert_refused(await manager.post(f"/admin/events/{event['_id']}/program/days",
                                      {"date": "2027-01-01"}), services, "de")
    assert await snapshot(db) == before


# --- days -----------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_days_are_added_sorted_and_removed_with_their_schedule(browser, factory, db, services):
    event = await factory.event()
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    base = f"/admin/events/{event['_id']}/program"
    r = await b.get(base)
    assert r.status_code == 200 and "Dec 1, 2026" in r.text and 'value="d1"' in r.text
    r = await b.post(base + "/days", {"date": "2026-11-30", "title_en": "Warm-up"})
    assert r.status_code == 302
    stored = await db.events.find_one({"_id": event["_id"]})
    assert [d["date"] for d in stored["days"]] == ["2026-11-30", "2026-12-01", "2026-12-02"]
    new_day = stored["days"][0]
    # Added switched off: days go on and off in live control only.
    assert new_day["enabled"] is False and new_day["title"] == {"en": "Warm-up"}
    entry = await last_audit(db, "day_add")
    assert entry["before"] is None and entry["after"]["id"] == new_day["id"]

    before = await snapshot(db)
    for why, data in {"duplicate date": {"date": "2026-12-01"}, "no date": {"date": ""},
                      "bad date": {"date": "2026-13-45"},
                      "overlong title": {"date": "2027-01-01", "title_de": "T" * 201}}.items():
        r = await b.post(base + "/days", data)
        assert r.status_code == 400 and error_text(r.text), why
    r = await b.post(base + "/days/remove", {"day_id": "nope"})
    assert r.status_code == 404 and error_text(r.text)
    assert await snapshot(db) == before

    await b.post(base + "/schedule", {"day_id": "d2", "starts": "09:00", "title_ru": "Утро"})
    await b.post(base + "/schedule", {"day_id": "d1", "starts": "09:00", "title_ru": "Первый"})
    r = await b.post(base + "/days/remove", {"day_id": "d2"})
    assert r.status_code == 302
    stored = await db.events.find_one({"_id": event["_id"]})
    assert "d2" not in [d["id"] for d in stored["days"]]
    assert [i["day_id"] for i in stored["schedule"]] == ["d1"]
    entry = await last_audit(db, "day_remove")
    assert entry["before"]["day"]["id"] == "d2" and len(entry["before"]["schedule"]) == 1
    assert entry["after"] is None


# --- schedule -------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_schedule_items_are_added_edited_and_removed(browser, factory, db, services):
    event = await factory.event()
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    base = f"/admin/events/{event['_id']}/program"
    r = await b.post(base + "/schedule", {"day_id": "d1", "starts": "10:00", "ends": "11:15",
                                          "title_ru": "Открытие", "title_en": "Opening",
                                          "speaker": "  Anna   Berg "})
    assert r.status_code == 302
    item = (await db.events.find_one({"_id": event["_id"]}))["schedule"][0]
    # Europe/Riga is UTC+2 in December.
    assert item["starts_at"] == datetime.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert item["ends_at"] == datetime.datetime(2026, 12, 1, 9, 15, tzinfo=UTC)
    assert item["title"] == {"ru": "Открытие", "en": "Opening"} and item["speaker"] == "Anna Berg"
    entry = await last_audit(db, "schedule_add")
    assert entry["before"] is None and entry["after"]["id"] == item["id"]

    r = await b.get(f"{base}/schedule/edit?item={item['id']}")
    assert r.status_code == 200 and 'value="10:00"' in r.text and 'value="11:15"' in r.text
    r = await b.post(f"{base}/schedule/edit?item={item['id']}",
                     {"day_id": "d2", "starts": "12:00", "ends": "", "title_ru": "Открытие",
                      "speaker": ""})
    assert r.status_code == 302
    changed = (await db.events.find_one({"_id": event["_id"]}))["schedule"][0]
    assert changed["id"] == item["id"] and changed["day_id"] == "d2"
    assert changed["starts_at"] == datetime.datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert changed["ends_at"] is None and changed["title"] == {"ru": "Открытие"}
    entry = await last_audit(db, "schedule_update")
    assert entry["before"]["starts_at"] == item["starts_at"] and entry["after"]["day_id"] == "d2"

    r = await b.post(base + "/schedule/remove", {"item": item["id"]})
    assert r.status_code == 302
    assert (await db.events.find_one({"_id": event["_id"]}))["schedule"] == []
    entry = await last_audit(db, "schedule_remove")
    assert entry["before"]["id"] == item["id"] and entry["after"] is None


@pytest.mark.gen_test(timeout=60)
async def test_schedule_refuses_bad_input_and_changes_nothing(browser, factory, db, services):
    event = await factory.event()
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    base = f"/admin/events/{event['_id']}/program"
    await b.post(base + "/schedule", {"day_id": "d1", "starts": "10:00", "title_ru": "Есть"})
    item_id = (await db.events.find_one({"_id": event["_id"]}))["schedule"][0]["id"]
    good = {"day_id": "d1", "starts": "10:00", "ends": "11:00", "title_ru": "Доклад", "speaker": ""}
    bad = {
        "end before start": {**good, "ends": "09:30"},
        "end equals start": {**good, "ends": "10:00"},
        "unknown day": {**good, "day_id": "zz"},
        "bad time": {**good, "starts": "25:61"},
        "not a time": {**good, "starts": "noon"},
        "no default title": {**good, "title_ru": "", "title_en": "Talk"},
        "overlong title": {**good, "title_en": "T" * 201},
        "overlong speaker": {**good, "speaker": "S" * 201},
    }
    before = await snapshot(db)
    for why, data in bad.items():
        r = await b.post(base + "/schedule", data)
        assert r.status_code == 400 and error_text(r.text), why
        r = await b.post(f"{base}/schedule/edit?item={item_id}", data)
        assert r.status_code == 400 and error_text(r.text), why
    r = await b.post(base + "/schedule", bad["end before start"])
    assert error_text(r.text) == "The end must be after the start."
    r = await b.post(f"{base}/schedule/edit?item=nope", good)
    assert r.status_code == 404
    r = await b.post(base + "/schedule/remove", {"item": "nope"})
    assert r.status_code == 404
    assert await snapshot(db) == before


@pytest.mark.gen_test(timeout=60)
async def test_schedule_refuses_a_time_skipped_by_daylight_saving(browser, factory, db, services):
    event = await factory.event()
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    base = f"/admin/events/{event['_id']}/program"
    # Riga moves its clocks from 03:00 to 04:00 on 29 March 2026.
    await b.post(base + "/days", {"date": "2026-03-29"})
    day_id = next(d["id"] for d in (await db.events.find_one({"_id": event["_id"]}))["days"]
                  if d["date"] == "2026-03-29")
    before = await snapshot(db)
    r = await b.post(base + "/schedule", {"day_id": day_id, "starts": "03:30", "title_ru": "Ночь"})
    assert r.status_code == 400 and error_text(r.text)
    assert await snapshot(db) == before


# --- materials ------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_materials_are_added_and_removed_https_only(browser, factory, db, services):
    event = await factory.event()
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    base = f"/admin/events/{event['_id']}/program"
    r = await b.post(base + "/materials", {"url": "https://example.org/slides.pdf",
                                           "title_ru": "Слайды", "title_de": "Folien"})
    assert r.status_code == 302
    material = (await db.events.find_one({"_id": event["_id"]}))["materials"][0]
    assert material["url"] == "https://example.org/slides.pdf"
    assert material["title"] == {"ru": "Слайды", "de": "Folien"}
    entry = await last_audit(db, "material_add")
    assert entry["before"] is None and entry["after"] == material

    before = await snapshot(db)
    for why, data in {
        "http": {"url": "http://example.org/a.pdf", "title_ru": "A"},
        "javascript": {"url": "javascript:alert(1)", "title_ru": "A"},
        "no host": {"url": "https:///a.pdf", "title_ru": "A"},
        "no url": {"url": "", "title_ru": "A"},
        "overlong url": {"url": "https://example.org/" + "a" * 2000, "title_ru": "A"},
        "no default title": {"url": "https://example.org/a.pdf", "title_en": "A"},
        "overlong title": {"url": "https://example.org/a.pdf", "title_ru": "T" * 201},
    }.items():
        r = await b.post(base + "/materials", data)
        assert r.status_code == 400 and error_text(r.text), why
        assert 'id="materials"' in r.text
    r = await b.post(base + "/materials/remove", {"material": "nope"})
    assert r.status_code == 404
    assert await snapshot(db) == before

    r = await b.post(base + "/materials/remove", {"material": material["id"]})
    assert r.status_code == 302
    assert (await db.events.find_one({"_id": event["_id"]}))["materials"] == []
    entry = await last_audit(db, "material_remove")
    assert entry["before"] == material and entry["after"] is None


@pytest.mark.gen_test(timeout=60)
async def test_program_pages_render_in_hebrew(browser, factory, db, services):
    event = await factory.event(locales=("he", "en"))
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event, locale="he")
    for suffix in ("", "/edit", "/program"):
        r = await b.get(f"/admin/events/{event['_id']}{suffix}")
        assert r.status_code == 200 and 'dir="rtl"' in r.text, suffix


@pytest.mark.gen_test(timeout=60)
async def test_every_page_renders_for_a_permitted_role_and_is_refused_to_another(browser, factory, db,
                                                                                 services):
    space = await factory.space()
    event = await factory.event(space)
    _, b = await person(browser, factory, R.EVENT_ADMIN, event=event)
    await b.post(f"/admin/events/{event['_id']}/program/schedule",
                 {"day_id": "d1", "starts": "10:00", "title_ru": "Доклад"})
    item_id = (await db.events.find_one({"_id": event["_id"]}))["schedule"][0]["id"]
    ev = f"/admin/events/{event['_id']}"
    pages = [  # (path, permitted role, refused role)
        ("/admin", R.SPEAKER, R.ATTENDEE),
        ("/admin/spaces/new", R.PLATFORM_ADMIN, R.SPACE_ADMIN),
        (f"/admin/spaces/{space['_id']}", R.SPACE_ADMIN, R.EVENT_ADMIN),
        (f"/admin/spaces/{space['_id']}/events/new", R.SPACE_ADMIN, R.EVENT_ADMIN),
        (ev, R.COMMENTATOR, R.SPEAKER),
        (ev + "/edit", R.EVENT_ADMIN, R.EVENT_MANAGER),
        (ev + "/program", R.EVENT_ADMIN, R.EVENT_MANAGER),
        (ev + f"/program/schedule/edit?item={item_id}", R.EVENT_ADMIN, R.MODERATOR),
        (ev + "/staff", R.SPACE_ADMIN, R.EVENT_MANAGER),
        (ev + "/audit", R.EVENT_ADMIN, R.MODERATOR),
        (ev + "/audit.csv", R.EVENT_ADMIN, R.COMMENTATOR),
    ]
    people = {}
    for role in {r for _, *roles in pages for r in roles}:
        people[role] = (await person(browser, factory, role, event=event, space=space, locale="kk"))[1]
    for path, allowed, refused in pages:
        r = await people[allowed].get(path)
        assert r.status_code == 200, (path, allowed)
        assert_refused(await people[refused].get(path), services, "kk")
