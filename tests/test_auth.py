"""Signing in by password and by link, throttling, password reset, XSRF and redirects."""
import asyncio
import datetime
import re

import pytest

from accounts import sessions, tokens
from tests.support import error_text


async def session_count(db, user) -> int:
    return await db.sessions.count_documents({"user_id": user["_id"]})


async def wait_for_mail(db, to: str, kind: str, timeout: float = 5.0) -> dict:
    """Reset mails leave in the background (so timing tells nothing): wait for the outbox."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        mail = await db.outbox.find_one({"to": to, "kind": kind})
        if mail or asyncio.get_running_loop().time() > deadline:
            return mail
        await asyncio.sleep(0.02)


def reset_path(mail: dict) -> str:
    """The reset link of an outbox entry's full message (kept only without SMTP, for the platform admin)."""
    m = re.search(r"https?://[^/\s]+(/password/reset/[A-Za-z0-9_-]+)", mail["full"]["text"])
    assert m, mail["full"]["text"]
    return m.group(1)


async def event_with_attendee(factory, **user_kwargs):
    space = await factory.space()
    event = await factory.event(space)
    user = await factory.member("attendee", event=event, **user_kwargs)
    return space, event, user


# --- password sign-in -----------------------------------------------------------

@pytest.mark.gen_test
async def test_signin_form_renders(browser):
    r = await browser().get("/signin?next=/profile")
    assert r.status_code == 200
    assert 'name="identifier"' in r.text and 'name="password"' in r.text
    assert 'name="next" value="/profile"' in r.text
    assert 'name="_xsrf"' in r.text
    assert 'href="/password/forgot"' in r.text


@pytest.mark.gen_test
async def test_signin_by_login_and_by_email(browser, factory, db):
    user = await factory.user(email="anna@example.org")
    b = browser()
    r = await b.post("/signin", {"identifier": user["login"], "password": factory.PASSWORD})
    assert r.status_code == 302 and r.headers["location"] == "/"
    assert await session_count(db, user) == 1
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert (await b.get("/")).status_code == 200

    b2 = browser()
    r = await b2.post("/signin", {"identifier": "  Anna@Example.org ", "password": factory.PASSWORD})
    assert r.status_code == 302
    assert await session_count(db, user) == 2
    stored = await db.users.find_one({"_id": user["_id"]})
    assert stored["last_login_at"] is not None


@pytest.mark.gen_test
async def test_wrong_password_and_unknown_account_get_the_same_answer(browser, factory, db, services):
    user = await factory.user()
    b = browser()
    wrong = await b.post("/signin", {"identifier": user["login"], "password": "not the password"})
    unknown = await b.post("/signin", {"identifier": "nobody@example.org", "password": "whatever123"})
    assert wrong.status_code == unknown.status_code == 400
    assert error_text(wrong.text) and error_text(wrong.text) == error_text(unknown.text)
    assert "nobody@example.org" in unknown.text  # the identifier is kept in the form
    assert await db.sessions.count_documents({}) == 0
    assert "lh_session" not in b.client.cookies
    text = services.registry.get_sample_value
    assert text("livehall_signins_total", {"method": "password", "result": "refused"}) == 2


@pytest.mark.gen_test
async def test_empty_form_is_refused_without_counting(browser, db):
    r = await browser().post("/signin", {"identifier": "", "password": ""})
    assert r.status_code == 400 and error_text(r.text)
    assert await db.throttle.count_documents({}) == 0


@pytest.mark.gen_test(timeout=60)
async def test_sixth_attempt_for_an_account_is_refused_even_with_the_right_password(
        browser, factory, db, services):
    user = await factory.user(email="target@example.org")
    other = await factory.user()
    b = browser()
    # Login and email name the same account: they share one budget.
    for identifier in (user["login"], "target@example.org", user["login"], "TARGET@example.org", user["login"]):
        r = await b.post("/signin", {"identifier": identifier, "password": "wrong password"})
        assert r.status_code == 400

    verified = []
    real_verify = services.hasher.verify

    async def counting_verify(password, hashed):
        verified.append(password)
        return await real_verify(password, hashed)

    services.hasher.verify = counting_verify
    r = await b.post("/signin", {"identifier": user["email"], "password": factory.PASSWORD})
    assert r.status_code == 429
    assert "Too many attempts, try again in 15 minutes" in error_text(r.text)
    assert r.headers["retry-after"] == "900"
    assert verified == []  # a blocked account is not even checked
    assert await session_count(db, user) == 0

    # Other accounts from the same address still get in.
    r = await browser().post("/signin", {"identifier": other["login"], "password": factory.PASSWORD})
    assert r.status_code == 302
    assert services.registry.get_sample_value(
        "livehall_signins_total", {"method": "password", "result": "throttled"}) == 1


@pytest.mark.gen_test(timeout=60)
async def test_per_ip_limit(browser, factory, db, services):
    user = await factory.user()
    limit = services.ip_throttle().limit
    b = browser()
    for i in range(limit):
        # A different account every time: only the per-IP count adds up.
        r = await b.post("/signin", {"identifier": f"guess{i}@example.org", "password": "wrong password"})
        assert r.status_code == 400
    r = await browser().post("/signin", {"identifier": user["login"], "password": factory.PASSWORD})
    assert r.status_code == 429
    assert "Too many attempts" in error_text(r.text)
    assert await session_count(db, user) == 0


@pytest.mark.gen_test
async def test_success_clears_the_account_failures(browser, factory, db):
    user = await factory.user()
    b = browser()
    for _ in range(4):
        await b.post("/signin", {"identifier": user["login"], "password": "wrong password"})
    assert await db.throttle.find_one({"_id": "account:" + user["email"]})
    await b.sign_in(user["login"], factory.PASSWORD)
    assert await db.throttle.find_one({"_id": "account:" + user["email"]}) is None
    assert (await db.throttle.find_one({"_id": "ip:127.0.0.1"}))["count"] == 4


@pytest.mark.gen_test
async def test_throttle_message_is_translated(browser, factory, services):
    user = await factory.user()
    throttle = services.account_throttle()
    for _ in range(throttle.limit):
        await throttle.fail(user["email"])
    r = await browser(locale="de").post("/signin", {"identifier": user["login"], "password": "x" * 10})
    assert r.status_code == 429
    assert 'lang="de"' in r.text
    minutes = 15
    expected = services.i18n.translations("de").ngettext(
        "Too many attempts, try again in %(count)s minute.",
        "Too many attempts, try again in %(count)s minutes.", minutes) % {"count": minutes}
    assert error_text(r.text) == expected


@pytest.mark.gen_test
async def test_open_redirect_next_is_ignored(browser, factory):
    user = await factory.user()
    for evil in ("//evil.example", "https://evil.example/", "/\\evil.example", "http:/evil.example"):
        b = browser()
        r = await b.post("/signin", {"identifier": user["login"], "password": factory.PASSWORD, "next": evil})
        assert r.status_code == 302 and r.headers["location"] == "/", evil
    b = browser()
    r = await b.post("/signin", {"identifier": user["login"], "password": factory.PASSWORD, "next": "/profile"})
    assert r.headers["location"] == "/profile"
    r = await browser().get("/signin?next=//evil.example")
    assert 'name="next" value=""' in r.text


@pytest.mark.gen_test
async def test_forged_xsrf_on_signin_is_refused_translated(browser, factory, db):
    user = await factory.user()
    b = browser(locale="de")
    await b.xsrf()
    r = await b.post("/signin", {"identifier": user["login"], "password": factory.PASSWORD,
                                 "_xsrf": "2|00000000|forged|0"})
    assert r.status_code == 403
    assert 'lang="de"' in r.text and error_text(r.text)
    r = await b.post("/signin", {"identifier": user["login"], "password": factory.PASSWORD}, xsrf=False)
    assert r.status_code == 403
    assert await db.sessions.count_documents({}) == 0
    assert "lh_session" not in b.client.cookies


@pytest.mark.gen_test
async def test_signout_ends_the_session(browser, factory, db):
    user = await factory.user()
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.post("/signout")
    assert r.status_code == 302
    assert await session_count(db, user) == 0
    r = await b.get("/")
    assert r.status_code == 302 and r.headers["location"].startswith("/signin")


# --- sign-in links ------------------------------------------------------------------

@pytest.mark.gen_test
async def test_link_get_confirms_without_consuming_then_post_signs_in(browser, factory, db, services):
    space, event, user = await event_with_attendee(factory)
    raw = await tokens.issue(db, user["_id"], tokens.SIGNIN, datetime.timedelta(hours=1),
                             event_id=event["_id"])
    b = browser()
    for _ in range(2):  # a mail scanner's prefetch, then the person
        r = await b.get(f"/signin/link/{raw}")
        assert r.status_code == 200
        assert user["email"] in r.text
        assert 'method="post"' in r.text
        assert r.headers["referrer-policy"] == "no-referrer"
    assert (await db.tokens.find_one({"user_id": user["_id"]}))["used_at"] is None
    assert await session_count(db, user) == 0

    r = await b.post(f"/signin/link/{raw}")
    assert r.status_code == 302
    assert r.headers["location"] == f"/e/{space['slug']}/{event['slug']}"
    assert await session_count(db, user) == 1
    assert (await b.get(r.headers["location"])).status_code == 200
    assert services.registry.get_sample_value(
        "livehall_signins_total", {"method": "link", "result": "ok"}) == 1


@pytest.mark.gen_test
async def test_link_reuse_is_refused(browser, factory, db):
    _, _, user = await event_with_attendee(factory)
    raw = await tokens.issue(db, user["_id"], tokens.SIGNIN, datetime.timedelta(hours=1))
    r = await browser().post(f"/signin/link/{raw}")
    assert r.status_code == 302 and r.headers["location"] == "/"

    other = browser()
    for r in (await other.get(f"/signin/link/{raw}"), await other.post(f"/signin/link/{raw}")):
        assert r.status_code == 410
        assert 'data-link-state="used"' in r.text
        assert "already been used" in error_text(r.text)
        assert 'href="/signin"' in r.text and 'href="/password/forgot"' in r.text
    assert await session_count(db, user) == 1
    assert "lh_session" not in other.client.cookies


@pytest.mark.gen_test
async def test_expired_link_is_refused(browser, factory, db):
    _, _, user = await event_with_attendee(factory)
    raw = await tokens.issue(db, user["_id"], tokens.SIGNIN, datetime.timedelta(minutes=-1))
    b = browser()
    for r in (await b.get(f"/signin/link/{raw}"), await b.post(f"/signin/link/{raw}")):
        assert r.status_code == 410
        assert 'data-link-state="expired"' in r.text
    assert (await db.tokens.find_one({"user_id": user["_id"]}))["used_at"] is None
    assert await session_count(db, user) == 0


@pytest.mark.gen_test
async def test_unknown_link_and_wrong_purpose(browser, factory, db):
    user = await factory.user()
    reset = await tokens.issue(db, user["_id"], tokens.RESET, datetime.timedelta(hours=1))
    b = browser()
    for raw in ("no-such-token", reset):
        for r in (await b.get(f"/signin/link/{raw}"), await b.post(f"/signin/link/{raw}")):
            assert r.status_code == 400
            assert 'data-link-state="unknown"' in r.text
    # A reset token cannot sign anybody in, and stays usable for its purpose.
    assert await tokens.state(db, reset, tokens.RESET) == "valid"
    assert await db.sessions.count_documents({}) == 0


# --- password reset -------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_password_reset_end_to_end(browser, factory, db, services):
    user = await factory.user(email="reset@example.org", locale="de")
    device_a = browser()
    await device_a.sign_in(user["login"], factory.PASSWORD)
    assert await session_count(db, user) == 1

    b = browser()
    known = await b.post("/password/forgot", {"email": "Reset@Example.org"})
    unknown = await b.post("/password/forgot", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    marker = "If an account exists for this address"
    assert marker in known.text and marker in unknown.text

    mail = await wait_for_mail(db, "reset@example.org", "password_reset")
    assert mail is not None
    assert await db.outbox.count_documents({}) == 1  # nothing for the unknown address
    assert 'lang="de"' in mail["full"]["html"]
    path = reset_path(mail)
    assert services.settings.public_url + path in mail["full"]["text"] and path in mail["full"]["html"]
    # What the outbox shows as the message itself has the link hidden.
    assert mail["redacted"] and "/password/reset/" not in mail["text"] + mail["html"]
    assert 'lang="de"' in mail["html"]

    r = await b.get(path)
    assert r.status_code == 200 and 'name="confirm"' in r.text

    # A typo changes nothing and keeps the link usable.
    before = await db.users.find_one({"_id": user["_id"]})
    r = await b.post(path, {"password": "a new password", "confirm": "a new passwort"})
    assert r.status_code == 400 and error_text(r.text)
    r = await b.post(path, {"password": "short", "confirm": "short"})
    assert r.status_code == 400 and error_text(r.text)
    assert await db.users.find_one({"_id": user["_id"]}) == before
    assert await db.tokens.count_documents({"user_id": user["_id"], "used_at": None}) == 1

    r = await b.post(path, {"password": "a new password", "confirm": "a new password"})
    assert r.status_code == 302 and r.headers["location"] == "/"
    assert await session_count(db, user) == 1  # only the device that reset it
    r = await device_a.get("/profile")
    assert r.status_code == 302 and r.headers["location"].startswith("/signin")
    assert (await b.get("/profile")).status_code == 200

    r = await browser().post("/signin", {"identifier": user["login"], "password": factory.PASSWORD})
    assert r.status_code == 400
    await browser().sign_in(user["login"], "a new password")

    r = await browser().get(path)
    assert r.status_code == 410 and 'data-link-state="used"' in r.text
    r = await browser().post(path, {"password": "another password", "confirm": "another password"})
    assert r.status_code == 410


@pytest.mark.gen_test
async def test_expired_reset_link(browser, factory, db):
    user = await factory.user()
    raw = await tokens.issue(db, user["_id"], tokens.RESET, datetime.timedelta(minutes=-5))
    before = await db.users.find_one({"_id": user["_id"]})
    b = browser()
    r = await b.get(f"/password/reset/{raw}")
    assert r.status_code == 410 and 'data-link-state="expired"' in r.text
    r = await b.post(f"/password/reset/{raw}", {"password": "a new password", "confirm": "a new password"})
    assert r.status_code == 410
    assert await db.users.find_one({"_id": user["_id"]}) == before


@pytest.mark.gen_test
async def test_forgot_password_validates_and_is_throttled_per_ip(browser, factory, db, services):
    b = browser()
    r = await b.post("/password/forgot", {"email": "not an email"})
    assert r.status_code == 400 and error_text(r.text)
    limit = services.ip_throttle().limit
    for i in range(limit):
        r = await b.post("/password/forgot", {"email": f"someone{i}@example.org"})
        assert r.status_code == 200
    r = await b.post("/password/forgot", {"email": "someone@example.org"})
    assert r.status_code == 429 and "Too many attempts" in error_text(r.text)


@pytest.mark.gen_test(timeout=30)
async def test_reset_mails_to_one_address_are_limited(browser, factory, db, services):
    user = await factory.user()
    limit = services.account_throttle().limit
    for _ in range(limit + 2):
        r = await browser().post("/password/forgot", {"email": user["email"]})
        assert r.status_code == 200
    await asyncio.sleep(0.2)
    assert await db.outbox.count_documents({"to": user["email"]}) == limit


@pytest.mark.gen_test
async def test_session_revocation_is_server_side(factory, db):
    user = await factory.user()
    raw = await sessions.create(db, user["_id"], datetime.timedelta(days=1))
    await sessions.revoke_others(db, user["_id"])
    assert await sessions.lookup(db, raw) is None
