"""One space's staff cannot take over an account that has a role elsewhere on the installation.

Accounts are platform-wide, staff powers are per space and event.  The
admin of space B registers addresses that already have accounts (space A's
admin, the platform admin) in B's event, sends B's sign-in mailing and reads
everything B's staff can read: no working link, no password, no change to
those accounts, no session.  With SMTP the recipient alone gets the secrets;
without it only the platform admin reads them.  And nothing B's staff see
tells whether an address already had an account.
"""
import asyncio
import csv
import dataclasses
import html
import io
import re

import pytest
from aiosmtpd.controller import Controller

from access import roles as R
from core.clock import utcnow
from core.i18n import LOCALES
from mailings import signin_mailing, templates
from mailings.mailer import Mailer
from realtime import timers
from tests.servers import free_port
from tests.test_mailer import Collector, body

LINK = re.compile(r"/signin/link/([A-Za-z0-9_-]+)")
RESET = re.compile(r"/password/reset/([A-Za-z0-9_-]+)")
HIDDEN = "hidden: sent only to the recipient"
ID = re.compile(r"\b[0-9a-f]{24}\b")


# --- helpers ------------------------------------------------------------------------------

async def drain(services):
    """Run every background job (the mailings) to completion."""
    while jobs := [t for t in services.background if not timers.is_timer(t)]:
        await asyncio.gather(*jobs)


async def signed_in(browser, factory, user):
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return b


def attendees_url(event, rest: str = "") -> str:
    return f"/admin/events/{event['_id']}/attendees{rest}"


def outbox_url(event, rest: str = "") -> str:
    return f"/admin/events/{event['_id']}/outbox{rest}"


async def import_csv(b, event, data: str):
    r = await b.post(attendees_url(event, "/import"), files={"file": ("people.csv", data.encode(), "text/csv")})
    assert r.status_code == 302, r.text[:500]
    preview = await b.get(r.headers["location"])
    commit = await b.post(r.headers["location"], {"action": "commit"})
    assert commit.status_code == 302, commit.text[:500]
    return preview, commit


async def send_mailing(b, event, services):
    r = await b.post(f"/admin/events/{event['_id']}/mailings", {"audience": "all", "confirm": "yes"})
    assert r.status_code == 302, r.text[:500]
    await drain(services)
    return await b.get(r.headers["location"])


async def event_outbox_pages(b, event) -> list[str]:
    """Every page of the event outbox its staff can open: the list, each entry, each HTML view."""
    listing = await b.get(outbox_url(event))
    assert listing.status_code == 200
    pages = [listing.text]
    for entry_id in sorted(set(re.findall(outbox_url(event, r"/([0-9a-f]{24})"), listing.text))):
        for rest in (f"/{entry_id}", f"/{entry_id}/html"):
            r = await b.get(outbox_url(event, rest))
            assert r.status_code == 200, rest
            pages.append(r.text)
    assert len(pages) > 1, "the outbox lists no message"
    return pages


def password_candidates(pages: list[str]) -> set[str]:
    """Every word on the pages that could be a password (generated ones are 10 such characters)."""
    words = set()
    for page in pages:
        words.update(re.findall(r"[A-Za-z0-9_-]{8,64}", html.unescape(page)))
    return words


async def users_by_email(db, *emails) -> dict:
    return {e: await db.users.find_one({"email": e}) for e in emails}


# --- the takeover path --------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=90)
async def test_space_b_admin_cannot_take_over_space_a_admin_or_the_platform_admin(browser, factory, db, services):
    space_a, space_b = await factory.space(), await factory.space()
    await factory.event(space_a, locales=("de",))
    event_b = await factory.event(space_b, locales=("en", "ru"))
    victim = await factory.member(R.SPACE_ADMIN, space=space_a, email="admin-a@example.org", locale="de",
                                  name="Anna A")
    root = await factory.member(R.PLATFORM_ADMIN, email="root@example.org", name="Root")
    for person in (victim, root):
        await signed_in(browser, factory, person)  # they have used their accounts
    attacker = await signed_in(browser, factory, await factory.member(R.SPACE_ADMIN, space=space_b))
    before = await users_by_email(db, victim["email"], root["email"])
    sessions_before = {p["email"]: await db.sessions.count_documents({"user_id": p["_id"]})
                       for p in (victim, root)}

    # B's admin registers A's admin with the form and the platform admin by CSV ...
    r = await attacker.post(attendees_url(event_b, "/new"),
                            {"email": victim["email"], "name": "Mallory's guest", "locale": "en"})
    assert r.status_code == 302
    preview, _ = await import_csv(attacker, event_b, f"email,name,locale\n{root['email']},Root guest,ru\n")
    # ... sends B's sign-in mailing and reads everything B's staff can read.
    progress = await send_mailing(attacker, event_b, services)
    assert await db.outbox.count_documents({"event_id": event_b["_id"]}) == 2
    pages = [preview.text, progress.text, *await event_outbox_pages(attacker, event_b)]
    for rest in ("", "/export.csv"):
        pages.append((await attacker.get(attendees_url(event_b, rest))).text)
    pages.append((await attacker.get(f"/admin/events/{event_b['_id']}/audit")).text)
    assert (await attacker.get("/admin/outbox")).status_code == 403

    # Every sign-in link on those pages is refused, whoever clicks it.
    tokens = {t for page in pages for t in LINK.findall(page)}
    for token in tokens:
        r = await browser().post(f"/signin/link/{token}")
        assert r.status_code in (400, 410), token
    # No word on those pages is the password of either account.
    candidates = password_candidates(pages)
    assert candidates
    for person in (victim, root):
        stored = await db.users.find_one({"_id": person["_id"]})
        for word in candidates:
            assert not await services.hasher.verify(word, stored["password_hash"]), word

    # Their accounts are exactly as they were, and B's staff got no session for them.
    assert await users_by_email(db, victim["email"], root["email"]) == before
    for person in (victim, root):
        assert await db.sessions.count_documents({"user_id": person["_id"]}) == sessions_before[person["email"]]
    # Their own passwords still work.
    for person in (victim, root):
        await signed_in(browser, factory, person)
    # B's staff still saw the messages, with the secrets replaced.
    assert any(HIDDEN in page for page in pages)


# --- with a mail server ----------------------------------------------------------------------------

@pytest.fixture
def smtp_server():
    controller = Controller(Collector(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


def use_smtp(services, smtp_server) -> None:
    settings = dataclasses.replace(services.settings, smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                                   smtp_tls="none", smtp_user="", smtp_password="")
    services.settings = settings
    services.mailer = Mailer(services.db, settings, services.metrics)


@pytest.mark.gen_test(timeout=60)
async def test_over_smtp_only_the_recipient_gets_the_link_and_a_new_account_its_password(
        browser, factory, db, services, smtp_server):
    use_smtp(services, smtp_server)
    space_a, space_b = await factory.space(), await factory.space()
    event = await factory.event(space_b, locales=("en",))
    staff = await signed_in(browser, factory, await factory.member(R.EVENT_ADMIN, event=event))
    existing = await factory.member(R.SPACE_ADMIN, space=space_a, email="has-password@example.org")
    for email in (existing["email"], "fresh@example.org"):
        r = await staff.post(attendees_url(event, "/new"), {"email": email, "name": "Guest", "locale": "en"})
        assert r.status_code == 302
    await send_mailing(staff, event, services)

    delivered = {rcpts[0]: msg for rcpts, msg in smtp_server.handler.messages()}
    assert sorted(delivered) == ["fresh@example.org", "has-password@example.org"]
    people = await users_by_email(db, "fresh@example.org", existing["email"])
    # The fresh account: a working link, its login and a generated password that signs in.
    fresh, text = people["fresh@example.org"], body(delivered["fresh@example.org"], "plain")
    [token] = LINK.findall(text)
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split() and line.split()[-1] == fresh["login"])
    password = lines[at + 1].split()[-1]
    assert len(password) == 10 and await services.hasher.verify(password, fresh["password_hash"])
    r = await browser().post("/signin", {"identifier": fresh["login"], "password": password})
    assert r.status_code == 302
    assert (await browser().post(f"/signin/link/{token}")).status_code == 302
    # Staff see that this event's link was used, a fact about their event.
    used = await db.memberships.find_one({"user_id": fresh["_id"], "scope_id": event["_id"]})
    assert used["link_used_at"] is not None
    row = row_of((await staff.get(attendees_url(event))).text, "fresh@example.org")
    assert "not yet" not in row.split("</td>")[-3]
    # The existing account: a working link and its login, its own password untouched.
    mine = existing["email"]
    text, html_part = body(delivered[mine], "plain"), body(delivered[mine], "html")
    assert people[mine]["password_hash"] == existing["password_hash"]
    assert existing["login"] in text and "the one you already use for this account" in text
    assert "/password/forgot" in text and "/password/forgot" in html_part
    [token] = LINK.findall(text)
    assert (await browser().post(f"/signin/link/{token}")).status_code == 302

    # The outbox kept only the staff copy: no link, no password, not even for the platform admin.
    for entry in await db.outbox.find({}).to_list(None):
        assert entry["status"] == "sent" and entry["redacted"] and "full" not in entry
        stored = entry["subject"] + entry["text"] + entry["html"]
        assert HIDDEN in entry["text"] and not LINK.search(stored) and password not in stored
    pages = await event_outbox_pages(staff, event)
    assert any(HIDDEN in page for page in pages)
    assert not any(LINK.search(page) or password in page for page in pages)
    root = await signed_in(browser, factory, await factory.member(R.PLATFORM_ADMIN))
    entry = await db.outbox.find_one({"to": "fresh@example.org"})
    page = await root.get(f"/admin/outbox/{entry['_id']}")
    assert page.status_code == 200 and HIDDEN in page.text
    assert not LINK.search(page.text) and password not in page.text


# --- without a mail server ----------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_without_smtp_only_the_platform_admin_reads_the_full_message(browser, factory, db, services):
    event = await factory.event(locales=("en",))
    staff = await signed_in(browser, factory, await factory.member(R.EVENT_ADMIN, event=event))
    root = await signed_in(browser, factory, await factory.member(R.PLATFORM_ADMIN))
    r = await staff.post(attendees_url(event, "/new"), {"email": "fresh@example.org", "locale": "en"})
    assert r.status_code == 302
    await send_mailing(staff, event, services)
    entry = await db.outbox.find_one({"to": "fresh@example.org"})
    fresh = await db.users.find_one({"email": "fresh@example.org"})

    # The platform outbox shows the full message: its link works, its password signs in.
    page = await root.get(f"/admin/outbox/{entry['_id']}")
    view = await root.get(f"/admin/outbox/{entry['_id']}/html")
    assert page.status_code == view.status_code == 200
    assert "no mail server is configured, so this is its only copy" in page.text
    [token] = set(LINK.findall(page.text))
    assert token in view.text and fresh["login"] in page.text
    assert any([await services.hasher.verify(word, fresh["password_hash"])
                for word in password_candidates([page.text])])

    # The event outbox never does, on any of its pages.
    pages = await event_outbox_pages(staff, event)
    assert not any(token in p or LINK.search(p) for p in pages)
    assert not any([await services.hasher.verify(word, fresh["password_hash"])
                    for word in password_candidates(pages)])
    assert (await browser().post(f"/signin/link/{token}")).status_code == 302

    # Password reset mail: the link only on the platform page, never in the event outbox.
    known = await factory.member(R.EVENT_ADMIN, event=event, email="forgetful@example.org")
    await browser().post("/password/forgot", {"email": known["email"]})
    for _ in range(250):
        reset = await db.outbox.find_one({"kind": "password_reset"})
        if reset:
            break
        await asyncio.sleep(0.02)
    assert reset and reset["event_id"] is None and not RESET.search(reset["text"] + reset["html"])
    page = await root.get(f"/admin/outbox/{reset['_id']}")
    assert RESET.search(page.text)
    assert (await staff.get(outbox_url(event, f"/{reset['_id']}"))).status_code == 404
    assert reset["to"] not in (await staff.get(outbox_url(event))).text


@pytest.mark.gen_test
async def test_event_outbox_withholds_the_body_of_a_message_written_before_redaction(browser, factory, db):
    event = await factory.event(locales=("en",))
    staff = await signed_in(browser, factory, await factory.member(R.EVENT_ADMIN, event=event))
    old = {"to": "old@example.org", "subject": "Your access", "kind": "signin", "event_id": event["_id"],
           "status": "stored", "text": "http://x/signin/link/OLDTOKEN Password: OldSecret9",
           "html": "<p>/signin/link/OLDTOKEN OldSecret9</p>", "error": None, "sent_at": None,
           "mailing_id": None, "created_at": utcnow()}
    await db.outbox.insert_one(old)
    page = await staff.get(outbox_url(event, f"/{old['_id']}"))
    assert page.status_code == 200 and "OldSecret9" not in page.text and "OLDTOKEN" not in page.text
    assert (await staff.get(outbox_url(event, f"/{old['_id']}/html"))).status_code == 404


# --- no existence oracle -------------------------------------------------------------------------

def same_shape(text: str, email: str) -> str:
    """A piece of a page with what legitimately differs (the address, ids, clock times, XSRF) made equal."""
    text = text.replace(email, "EMAIL").replace(html.escape(email), "EMAIL")
    text = re.sub(r'name="_xsrf" value="[^"]*"', "XSRF", text)  # masked anew for every response
    return re.sub(r"\d", "0", ID.sub("ID", text))


def row_of(page: str, email: str) -> str:
    rows = [row for row in re.findall(r"<tr\b[^>]*>.*?</tr>", page, re.S) if email in row]
    assert len(rows) == 1, (email, rows)
    return rows[0]


def flash_of(page: str) -> str:
    m = re.search(r'class="flash flash-success"[^>]*>(.*?)<', page, re.S)
    assert m, page[:2000]
    return m.group(1).strip()


def audit_view(entry: dict) -> dict:
    return {k: entry[k] for k in ("action", "params", "before", "after", "actor_id", "event_id")}


async def last_audit(db, action: str) -> dict:
    return (await db.audit.find({"action": action}).sort("_id", -1).limit(1).to_list(None))[0]


async def an_account_elsewhere(db, factory, email: str) -> dict:
    """An account with a name, language, login and sign-in of its own, staff in another space."""
    other = await factory.space()
    person = await factory.member(R.SPACE_ADMIN, space=other, email=email, locale="de", name="Own Name")
    await db.users.update_one({"_id": person["_id"]}, {"$set": {"login": "own-login-" + email.split("@")[0],
                                                                "last_login_at": utcnow()}})
    return person


@pytest.mark.gen_test(timeout=90)
async def test_registering_tells_staff_nothing_about_an_account_elsewhere(browser, factory, db, services):
    event = await factory.event(locales=("en", "ru"))
    staff = await signed_in(browser, factory, await factory.member(R.EVENT_ADMIN, event=event))
    await an_account_elsewhere(db, factory, "known@example.org")
    await an_account_elsewhere(db, factory, "known-csv@example.org")
    before = await users_by_email(db, "known@example.org", "known-csv@example.org")
    pairs = (("known@example.org", "fresh@example.org"), ("known-csv@example.org", "fresh-csv@example.org"))

    # One by one with the form: the same answer, the same audit entry.
    answers, audits = {}, {}
    for email in pairs[0]:
        r = await staff.post(attendees_url(event, "/new"), {"email": email, "name": "Guest", "locale": "en"})
        assert r.status_code == 302
        answers[email] = same_shape(flash_of((await staff.get(r.headers["location"])).text), email)
        entry = audit_view(await last_audit(db, "attendee.register"))
        audits[email] = same_shape(repr(entry), email)
    assert answers[pairs[0][0]] == answers[pairs[0][1]]
    assert audits[pairs[0][0]] == audits[pairs[0][1]]

    # By CSV: the same preview rows, and the import's answer and audit say nothing either.
    data = "email,name,locale\n" + "".join(f"{e},Guest,ru\n" for e in pairs[1])
    preview, commit = await import_csv(staff, event, data)
    assert same_shape(row_of(preview.text, pairs[1][0]), pairs[1][0]) == \
        same_shape(row_of(preview.text, pairs[1][1]), pairs[1][1])
    entry = await last_audit(db, "attendees.import")
    assert entry["params"]["imported"] == 2 and set(entry["params"]) == {"filename", "rows", "invalid",
                                                                         "imported", "skipped"}

    # The list, the export and the mailing's counts show the same for both of each pair.
    listing = (await staff.get(attendees_url(event))).text
    export = list(csv.reader(io.StringIO((await staff.get(attendees_url(event, "/export.csv"))).text)))
    for known, fresh in pairs:
        assert same_shape(row_of(listing, known), known) == same_shape(row_of(listing, fresh), fresh)
        rows = {r[0]: same_shape(",".join(r[1:]), "") for r in export[1:]}
        assert rows[known] == rows[fresh]
    for text in (listing, *(",".join(r) for r in export)):
        assert "Own Name" not in text and "own-login" not in text
    for locale, count in (("en", 2), ("ru", 2), ("de", 0)):
        assert len(await signin_mailing.recipients(db, event, signin_mailing.ONE_LOCALE, locale)) == count

    # The staff copies of the sign-in mails are alike too.
    await send_mailing(staff, event, services)
    copies = {}
    for email in (*pairs[0], *pairs[1]):
        entry = await db.outbox.find_one({"to": email})
        pages = [(await staff.get(outbox_url(event, f"/{entry['_id']}{rest}"))).text for rest in ("", "/html")]
        copies[email] = [same_shape(p, email) for p in pages]
    for known, fresh in pairs:
        assert copies[known] == copies[fresh]

    # The accounts that existed were not changed by any of it.
    after = await users_by_email(db, "known@example.org", "known-csv@example.org")
    assert after == before


async def answers_for_both(staff, db, post_url: str, page_url: str, form: dict, action: str) -> dict:
    """Post `form` for an address with an account elsewhere and for a fresh one: their flash and audit."""
    seen = {}
    for email in ("known@example.org", "fresh@example.org"):
        r = await staff.post(post_url, {"email": email, **form})
        assert r.status_code == 302, r.text[:500]
        seen[email] = (same_shape(flash_of((await staff.get(page_url)).text), email),
                       same_shape(repr(audit_view(await last_audit(db, action))), email))
    return seen


@pytest.mark.gen_test(timeout=60)
async def test_granting_a_role_tells_staff_nothing_about_an_account_elsewhere(browser, factory, db):
    event = await factory.event(locales=("en", "ru"))
    staff = await signed_in(browser, factory, await factory.member(R.EVENT_ADMIN, event=event))
    await an_account_elsewhere(db, factory, "known@example.org")
    before = await db.users.find_one({"email": "known@example.org"})
    url = f"/admin/events/{event['_id']}/staff"
    seen = await answers_for_both(staff, db, url, url, {"name": "Helper", "role": R.COMMENTATOR, "locales": ["ru"]},
                                  "staff_grant")
    assert seen["known@example.org"] == seen["fresh@example.org"]
    page = (await staff.get(url)).text
    assert same_shape(row_of(page, "known@example.org"), "known@example.org") == \
        same_shape(row_of(page, "fresh@example.org"), "fresh@example.org")
    assert "Own Name" not in page
    assert await db.users.find_one({"email": "known@example.org"}) == before


@pytest.mark.gen_test(timeout=60)
async def test_adding_a_space_admin_tells_nothing_about_an_account_elsewhere(browser, factory, db):
    space = await factory.space()
    staff = await signed_in(browser, factory, await factory.member(R.SPACE_ADMIN, space=space))
    await an_account_elsewhere(db, factory, "known@example.org")
    before = await db.users.find_one({"email": "known@example.org"})
    url = f"/admin/spaces/{space['_id']}"
    seen = await answers_for_both(staff, db, url + "/admins", url, {"name": "Helper"}, "space_admin_add")
    assert seen["known@example.org"] == seen["fresh@example.org"]
    assert await db.users.find_one({"email": "known@example.org"}) == before


# --- the mail in every language ------------------------------------------------------------------

@pytest.mark.parametrize("code", LOCALES)
def test_the_keep_your_password_mail_and_the_staff_copy_are_translated(services, code):
    event = {"title": {code: "Конференция"}, "default_locale": code, "locales": [code]}
    gettext = services.i18n.gettext(code)
    _, text, html_part = signin_mailing.render_signin(services, event, {"name": "Anna", "login": "anna7"}, code,
                                                "http://x/signin/link/tok", None)
    own = gettext(templates.OWN_PASSWORD) % {"url": "http://127.0.0.1:8888/password/forgot"}
    assert own in text and "anna7" in text and (code == "en" or own != templates.OWN_PASSWORD)
    assert "/password/forgot" in text and 'href="http://127.0.0.1:8888/password/forgot"' in html_part
    registration = {"name": "Anna", "locales": [code]}
    subject, text, html_part = signin_mailing.render_signin_for_staff(services, event, registration)
    hidden = gettext(HIDDEN)
    assert hidden in text and html.escape(hidden) in html_part and (code == "en" or hidden != HIDDEN)
    assert subject == gettext(templates.KINDS["signin"].subject).format(event_title="Конференция")
    assert "/signin/link/" not in text + html_part and f'lang="{code}"' in html_part
    assert "anna7" not in text + html_part
