"""CSV import: whole-file refusals, per-row checks in the preview, commit exactly once."""
import os
import re
import secrets

import pytest

from access import roles as R
from attendees import csv_import, registry
from core import config
from tests.support import error_text

MAX_ROWS = 40
MAX_KB = 8


@pytest.fixture
def settings():
    # Small limits so the size and row checks are cheap to reach.
    return config.from_env(mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1,
                           argon2_memory_kib=1024, log_format="text", smtp_host="",
                           redis_url=os.environ.get("TEST_REDIS_URL", ""),
                           max_csv_rows=MAX_ROWS, max_csv_kb=MAX_KB)


async def staff_browser(browser, factory, event, role=R.EVENT_ADMIN):
    person = await factory.member(role, event=event)
    b = browser()
    await b.sign_in(person["login"], factory.PASSWORD)
    return b, person


async def snapshot(db) -> dict:
    out = {}
    for name in ("users", "memberships", "audit", "imports"):
        out[name] = await db[name].find({}, {"last_login_at": 0}).sort("_id", 1).to_list(None)
    return out


def base(event) -> str:
    return f"/admin/events/{event['_id']}/attendees"


async def upload(b, event, data: bytes, filename="people.csv"):
    return await b.post(base(event) + "/import", files={"file": (filename, data, "text/csv")})


def preview_path(r) -> str:
    assert r.status_code == 302, (r.status_code, r.text[:800])
    assert re.fullmatch(r"/admin/events/[0-9a-f]{24}/attendees/import/[0-9a-f]{24}", r.headers["location"])
    return r.headers["location"]


# --- the happy path ------------------------------------------------------------------

@pytest.mark.gen_test
async def test_valid_file_previews_then_imports_once(browser, factory, db):
    event = await factory.event(locales=("ru", "en", "de"))
    b, admin = await staff_browser(browser, factory, event)
    form = await b.get(base(event) + "/import")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text

    data = ("\ufeffE-Mail;Name;LOCALE;Phone\r\n"
            "anna@example.org;Anna Berzina;de;123\r\n"
            "\r\n"
            "IVAN@example.org;\"Petrov; Ivan\";ru;\r\n"
            "jonas@example.org;Jonas;;\r\n").encode("utf-8")
    before = await snapshot(db)
    r = await upload(b, event, data)
    where = preview_path(r)
    after_upload = await snapshot(db)
    # Only the preview was stored; nobody is registered yet.
    assert {k: v for k, v in after_upload.items() if k != "imports"} == \
        {k: v for k, v in before.items() if k != "imports"}
    assert len(after_upload["imports"]) == 1
    doc = after_upload["imports"][0]
    assert doc["owner_id"] == admin["_id"] and doc["event_id"] == event["_id"]
    assert doc["total"] == 3 and doc["valid"] == 3 and doc["delimiter"] == ";"
    assert doc["ignored"] == ["Phone"]
    assert (doc["expires_at"] - doc["created_at"]).total_seconds() == 3600

    page = await b.get(where)
    assert page.status_code == 200
    assert "Import 3 valid rows" in page.text and "Petrov; Ivan" in page.text

    r = await b.post(where, {"action": "commit"})
    assert r.status_code == 302 and r.headers["location"] == base(event)
    members = await db.memberships.find({"scope_id": event["_id"], "role": R.ATTENDEE}).to_list(None)
    assert sorted(m["email"] for m in members) == ["anna@example.org", "ivan@example.org", "jonas@example.org"]
    by_email = {m["email"]: m for m in members}
    assert by_email["anna@example.org"]["locales"] == ["de"]
    assert by_email["jonas@example.org"]["locales"] == ["ru"]  # empty -> the event default
    ivan = await db.users.find_one({"email": "ivan@example.org"})
    assert ivan["name"] == "Petrov; Ivan" and ivan["password_hash"] is None and ivan["locale"] == "ru"
    assert await db.imports.count_documents({}) == 0
    entry = await db.audit.find_one({"action": "attendees.import"})
    assert entry["params"]["imported"] == 3 and entry["actor_id"] == admin["_id"]
    listing = await b.get(base(event))
    assert "Imported 3 attendees." in listing.text

    # Committing again (double click, second tab, back button) is refused.
    before = await snapshot(db)
    again = await b.post(where, {"action": "commit"})
    assert again.status_code == 404
    assert "imported already" in error_text(again.text)
    assert await snapshot(db) == before
    assert (await b.get(where)).status_code == 404


@pytest.mark.gen_test
async def test_tab_and_comma_delimiters_and_quoted_fields(db, factory):
    event = await factory.event(locales=("en",))
    parsed = csv_import.parse(b"email\tname\na@example.org\tA, B\n", max_kb=8, max_rows=10)
    assert parsed["delimiter"] == "\t" and parsed["rows"] == [(2, {"email": "a@example.org", "name": "A, B"})]
    parsed = csv_import.parse(b'"name","email"\n"Smith, J","j@example.org"\n', max_kb=8, max_rows=10)
    assert parsed["delimiter"] == "," and parsed["rows"][0][1] == {"email": "j@example.org", "name": "Smith, J"}
    parsed = csv_import.parse(b"email\na@example.org\n", max_kb=8, max_rows=10)
    assert parsed["columns"] == ["email"]
    rows = await csv_import.check_rows(db, event, parsed["rows"])
    assert rows[0]["status"] == "ok" and rows[0]["locale"] == "en"


@pytest.mark.gen_test
async def test_cp1251_file_from_russian_excel(browser, factory, db):
    event = await factory.event(locales=("ru", "en"))
    b, _ = await staff_browser(browser, factory, event)
    data = "email;name\r\nivan@example.org;Иван Петров\r\n".encode("cp1251")
    where = preview_path(await upload(b, event, data))
    page = await b.get(where)
    assert "Иван Петров" in page.text and "Windows-1251" in page.text
    assert (await b.post(where, {"action": "commit"})).status_code == 302
    user = await db.users.find_one({"email": "ivan@example.org"})
    assert user["name"] == "Иван Петров"


# --- per-row problems ------------------------------------------------------------------

@pytest.mark.gen_test
async def test_row_errors_are_shown_and_only_valid_rows_import(browser, factory, db):
    event = await factory.event(locales=("ru", "en"))
    await registry.register(db, event, email="already@example.org")
    b, _ = await staff_browser(browser, factory, event)
    data = (b"email,name,locale\n"
            b"good@example.org,Good,en\n"          # row 2
            b"not-an-email,Bad,en\n"               # row 3
            b"Good@Example.org,Twin,en\n"          # row 4: same as row 2
            b"already@example.org,Old,ru\n"        # row 5
            b"lang@example.org,Lang,de\n"          # row 6: de is not an event language
            b"fine@example.org,Fine,\n")  # row 7
    where = preview_path(await upload(b, event, data))
    doc = await db.imports.find_one({})
    assert (doc["total"], doc["valid"], doc["invalid"]) == (6, 2, 4)
    status = {r["row"]: (r["status"], r["error"] and r["error"] % r["params"]) for r in doc["rows"]}
    assert status[2] == ("ok", None) and status[7] == ("ok", None)
    assert "not a valid email" in status[3][1]
    assert status[4][1] == "The same email as row 2."
    assert status[5][1] == "Already registered for this event."
    assert "“de”" in status[6][1] and "ru, en" in status[6][1]

    page = await b.get(where)
    assert page.status_code == 200
    assert "Import 2 valid rows" in page.text
    assert "The same email as row 2." in page.text and "Already registered for this event." in page.text
    assert "not-an-email" in page.text
    assert "fine@example.org" not in page.text  # the default view lists the problems only
    assert "fine@example.org" in (await b.get(where + "?show=all")).text

    users_before = await db.users.count_documents({})
    assert (await b.post(where, {"action": "commit"})).status_code == 302
    emails = sorted(await db.memberships.distinct("email", {"scope_id": event["_id"], "role": R.ATTENDEE}))
    assert emails == ["already@example.org", "fine@example.org", "good@example.org"]
    assert await db.users.count_documents({}) == users_before + 2
    assert not await db.users.find_one({"email": "lang@example.org"})


@pytest.mark.gen_test
async def test_commit_rechecks_rows_registered_meanwhile(browser, factory, db):
    event = await factory.event(locales=("en",))
    b, _ = await staff_browser(browser, factory, event)
    where = preview_path(await upload(b, event, b"email\nlate@example.org\nnew@example.org\n"))
    await registry.register(db, event, email="late@example.org")
    r = await b.post(where, {"action": "commit"})
    assert r.status_code == 302
    listing = await b.get(base(event))
    assert "Imported 1 attendee." in listing.text and "1 row was skipped" in listing.text
    assert await db.memberships.count_documents({"email": "late@example.org"}) == 1


@pytest.mark.gen_test
async def test_long_error_lists_are_paginated(browser, factory, db):
    event = await factory.event(locales=("en",))
    b, _ = await staff_browser(browser, factory, event)
    data = ("email\n" + "".join(f"bad{i}\n" for i in range(MAX_ROWS))).encode()
    where = preview_path(await upload(b, event, data))
    page = await b.get(where)
    assert page.text.count('class="row-error"') == MAX_ROWS  # 40 fit on one page of 50
    assert "Import 0" not in page.text and 'value="commit"' not in page.text
    rows, total = csv_import.rows_page(await db.imports.find_one({}), True, 30, 50)
    assert total == MAX_ROWS and len(rows) == 10


# --- whole-file refusals ------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    (os.urandom(2048) + b"\x00\x01\x02", "not a CSV file"),
    (bytes(range(1, 256)) * 4, "not a CSV file"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not a CSV file"),
    ("email,name\na@example.org,Ann\n".encode("utf-16"), "not a CSV file"),
    (b"\x98\x98 email\n", "encoding is not recognised"),
    (b"", "Choose a CSV file"),
    (b"   \r\n\r\n", "The file is empty"),
    (b"email,name\n", "header but no attendees"),
    (b"name,locale\nAnn,en\n", "with an “email” column"),
    (b"a@example.org,Ann\n", "with an “email” column"),
    (b"email,Email\na@example.org,b@example.org\n", "twice"),
    (b"email\n" + b"".join(b"p%d@example.org\n" % i for i in range(MAX_ROWS + 1)), "more than 40 rows"),
    (b"email,name\n" + b"a@example.org," + b"x" * (MAX_KB * 1024) + b"\n", "larger than 8 KB"),
])
@pytest.mark.gen_test
async def test_bad_files_are_refused_whole_and_store_nothing(browser, factory, db, data, message):
    event = await factory.event()
    b, _ = await staff_browser(browser, factory, event)
    before = await snapshot(db)
    r = await upload(b, event, data)
    assert r.status_code == 400
    assert message in error_text(r.text), error_text(r.text)
    assert await snapshot(db) == before


@pytest.mark.gen_test
async def test_post_without_a_file_is_refused(browser, factory, db):
    event = await factory.event()
    b, _ = await staff_browser(browser, factory, event)
    before = await snapshot(db)
    r = await b.post(base(event) + "/import", {})
    assert r.status_code == 400 and "Choose a CSV file" in error_text(r.text)
    assert await snapshot(db) == before


# --- who may see and commit a preview --------------------------------------------------------

@pytest.mark.gen_test
async def test_only_the_uploader_sees_and_commits_the_preview(browser, factory, db):
    event = await factory.event(locales=("en",))
    b, _ = await staff_browser(browser, factory, event)
    where = preview_path(await upload(b, event, b"email\nsecret@example.org\n"))
    other, _ = await staff_browser(browser, factory, event)
    before = await snapshot(db)
    assert (await other.get(where)).status_code == 404
    assert (await other.post(where, {"action": "commit"})).status_code == 404
    assert (await other.post(where, {"action": "discard"})).status_code == 404
    assert await snapshot(db) == before

    # The same preview id under another event is unknown too.
    second = await factory.event(await db.spaces.find_one({"_id": event["space_id"]}), locales=("en",))
    await factory.member(R.EVENT_ADMIN, event=second)
    before = await snapshot(db)
    wrong = where.replace(str(event["_id"]), str(second["_id"]))
    assert (await b.get(wrong)).status_code in (403, 404)
    assert await snapshot(db) == before


@pytest.mark.gen_test
async def test_discard_and_expiry(browser, factory, db):
    event = await factory.event(locales=("en",))
    b, _ = await staff_browser(browser, factory, event)
    where = preview_path(await upload(b, event, b"email\nx@example.org\n"))
    r = await b.post(where, {"action": "discard"})
    assert r.status_code == 302 and await db.imports.count_documents({}) == 0
    assert await db.memberships.count_documents({"email": "x@example.org"}) == 0

    where = preview_path(await upload(b, event, b"email\ny@example.org\n"))
    await db.imports.update_many({}, {"$set": {"expires_at": (await db.imports.find_one({}))["created_at"]}})
    before = await snapshot(db)
    assert (await b.get(where)).status_code == 404
    assert (await b.post(where, {"action": "commit"})).status_code == 404
    assert await snapshot(db) == before


@pytest.mark.gen_test
async def test_unknown_action_is_refused(browser, factory, db):
    event = await factory.event(locales=("en",))
    b, _ = await staff_browser(browser, factory, event)
    where = preview_path(await upload(b, event, b"email\nz@example.org\n"))
    before = await snapshot(db)
    assert (await b.post(where, {})).status_code == 400
    assert await snapshot(db) == before


@pytest.mark.gen_test
async def test_concurrent_commits_import_once(db, factory):
    import asyncio
    event = await factory.event(locales=("en",))
    owner = await factory.user()
    doc = await csv_import.preview(db, event, b"email\n" + b"".join(b"c%d@example.org\n" % i for i in range(10)),
                                   owner=owner, max_kb=8, max_rows=40)
    results = await asyncio.gather(*(csv_import.commit(db, event, doc["_id"], owner=owner) for _ in range(3)),
                                   return_exceptions=True)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert sum(isinstance(r, csv_import.ImportGone) for r in results) == 2
    assert await db.memberships.count_documents({"scope_id": event["_id"], "role": R.ATTENDEE}) == 10


@pytest.mark.parametrize("role", [R.ATTENDEE, R.MODERATOR])
@pytest.mark.gen_test
async def test_attendee_and_moderator_cannot_import(browser, factory, db, role):
    event = await factory.event(locales=("en",))
    b, _ = await staff_browser(browser, factory, event, role=role)
    before = await snapshot(db)
    r = await upload(b, event, b"email\nq@example.org\n")
    assert r.status_code == 403
    assert await snapshot(db) == before
