"""The profile: name, language and password change."""
import pytest

from tests.support import error_text


async def signed_in(browser, factory, **kwargs):
    user = await factory.user(**kwargs)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return user, b


@pytest.mark.gen_test
async def test_profile_needs_sign_in(browser):
    b = browser()
    r = await b.get("/profile")
    assert r.status_code == 302 and r.headers["location"] == "/signin?next=%2Fprofile"
    r = await b.post("/profile", {"form": "details", "name": "X", "locale": "de"})
    assert r.status_code == 403 and error_text(r.text)


@pytest.mark.gen_test
async def test_profile_shows_login_and_saves_name_and_language(browser, factory, db):
    space = await factory.space()
    event = await factory.event(space)
    user = await factory.member("attendee", event=event)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.get("/profile")
    assert r.status_code == 200
    assert user["login"] in r.text and user["email"] in r.text
    assert 'for="profile-name"' in r.text and 'for="profile-locale"' in r.text

    r = await b.post("/profile", {"form": "details", "name": "  Anna   Berg ", "locale": "lv"})
    assert r.status_code == 302 and r.headers["location"] == "/profile"
    stored = await db.users.find_one({"_id": user["_id"]})
    assert stored["name"] == "Anna Berg" and stored["locale"] == "lv"
    # Staff lists read the copy in the membership.
    assert (await db.memberships.find_one({"user_id": user["_id"]}))["name"] == "Anna Berg"
    r = await b.get("/profile")
    assert '<html lang="lv" dir="ltr">' in r.text
    assert "flash-success" in r.text


@pytest.mark.gen_test
async def test_profile_refuses_unknown_language_and_long_name(browser, factory, db):
    user, b = await signed_in(browser, factory)
    before = await db.users.find_one({"_id": user["_id"]})
    r = await b.post("/profile", {"form": "details", "name": "Anna", "locale": "xx"})
    assert r.status_code == 400 and error_text(r.text)
    r = await b.post("/profile", {"form": "details", "name": "A" * 121, "locale": "de"})
    assert r.status_code == 400 and error_text(r.text)
    r = await b.post("/profile", {"form": "nonsense"})
    assert r.status_code == 400
    assert await db.users.find_one({"_id": user["_id"]}) == before


@pytest.mark.gen_test(timeout=30)
async def test_password_change_with_wrong_current_password_is_refused(browser, factory, db):
    user, b = await signed_in(browser, factory)
    before = await db.users.find_one({"_id": user["_id"]})
    r = await b.post("/profile", {"form": "password", "current": "not my password",
                                  "password": "a brand new one", "confirm": "a brand new one"})
    assert r.status_code == 400 and error_text(r.text)
    assert (await db.users.find_one({"_id": user["_id"]}))["password_hash"] == before["password_hash"]

    r = await b.post("/profile", {"form": "password", "current": factory.PASSWORD,
                                  "password": "a brand new one", "confirm": "another one"})
    assert r.status_code == 400 and error_text(r.text)
    r = await b.post("/profile", {"form": "password", "current": factory.PASSWORD,
                                  "password": "short", "confirm": "short"})
    assert r.status_code == 400 and error_text(r.text)
    assert (await db.users.find_one({"_id": user["_id"]}))["password_hash"] == before["password_hash"]
    await browser().sign_in(user["login"], factory.PASSWORD)


@pytest.mark.gen_test(timeout=30)
async def test_password_change_signs_out_other_devices_only(browser, factory, db):
    user, b = await signed_in(browser, factory)
    other = browser()
    await other.sign_in(user["email"], factory.PASSWORD)
    assert await db.sessions.count_documents({"user_id": user["_id"]}) == 2

    r = await b.post("/profile", {"form": "password", "current": factory.PASSWORD,
                                  "password": "a brand new one", "confirm": "a brand new one"})
    assert r.status_code == 302
    assert await db.sessions.count_documents({"user_id": user["_id"]}) == 1
    assert (await b.get("/profile")).status_code == 200
    r = await other.get("/profile")
    assert r.status_code == 302 and r.headers["location"].startswith("/signin")

    r = await browser().post("/signin", {"identifier": user["login"], "password": factory.PASSWORD})
    assert r.status_code == 400
    await browser().sign_in(user["login"], "a brand new one")


@pytest.mark.gen_test(timeout=30)
async def test_guessing_the_current_password_is_throttled(browser, factory, db, services):
    user, b = await signed_in(browser, factory)
    before = await db.users.find_one({"_id": user["_id"]})
    for _ in range(services.account_throttle().limit):
        r = await b.post("/profile", {"form": "password", "current": "guess guess",
                                      "password": "a brand new one", "confirm": "a brand new one"})
        assert r.status_code == 400
    r = await b.post("/profile", {"form": "password", "current": factory.PASSWORD,
                                  "password": "a brand new one", "confirm": "a brand new one"})
    assert r.status_code == 429 and "Too many attempts" in error_text(r.text)
    assert (await db.users.find_one({"_id": user["_id"]}))["password_hash"] == before["password_hash"]
