"""Each space's own mail server: settings, the test button, sending at a rate, retries and bounces.

Real SMTP servers (aiosmtpd) run in-process on free ports; one of them asks
for a login, and a plain TCP listener that never speaks stands for a host
that does not answer.
"""
import asyncio
import itertools
import secrets
import socket
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from bson import ObjectId
from cryptography.fernet import Fernet

from access import roles as R
from core import config
from core.clock import utcnow
from mailings import mailer as M
from mailings import outbox, space_mail
from mailings.mailer import Mailer
from tests.servers import free_port
from tests.support import translated
from tests.test_mailer import REFUSED, Collector

KEY = Fernet.generate_key().decode()
SECRET = "pa55-Kx9-never-shown"


class Timed(Collector):
    """A collector that notes when each message arrived."""

    def __init__(self):
        super().__init__()
        self.times = []

    async def handle_DATA(self, server, session, envelope):
        self.times.append(time.monotonic())
        return await super().handle_DATA(server, session, envelope)


def accept_only(user: str, password: str):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() \
            and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False)
    return authenticator


@pytest.fixture
def smtp_servers():
    started = []

    def start(**kwargs):
        controller = Controller(Timed(), hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        started.append(controller)
        return controller
    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def platform_smtp(smtp_servers):
    return smtp_servers()


@pytest.fixture
def settings(platform_smtp):
    return config.from_env(mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1,
                           argon2_memory_kib=1024, log_format="text", redis_url="",
                           smtp_host="127.0.0.1", smtp_port=platform_smtp.port, smtp_tls="none",
                           smtp_user="", smtp_password="", mail_from="Platform <platform@example.org>",
                           mail_settings_key=KEY)


@pytest.fixture
def silent_host():
    """A port that accepts connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


async def configure(services, space, server_port, address, **values):
    form = {"host": "127.0.0.1", "port": str(server_port), "tls": "none", "user": "", "password": "",
            "from_address": address, "from_name": f"Team {address.split('@')[0]}", "rate": "0"}
    form.update(values)
    return await space_mail.save(services.db, services.mailer.fernet, None, space, form)


def received(controller):
    return [(rcpts, msg) for rcpts, msg in controller.handler.messages()]


# --- two spaces, two servers -------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_two_spaces_send_through_their_own_servers_from_their_own_addresses(
        services, db, factory, smtp_servers, platform_smtp):
    one, two = smtp_servers(), smtp_servers()
    space_one, space_two, space_bare = await factory.space(), await factory.space(), await factory.space()
    await configure(services, space_one, one.port, "news@one.example")
    await configure(services, space_two, two.port, "hello@two.example")
    ev_one, ev_two = await factory.event(space_one), await factory.event(space_two)
    ev_bare = await factory.event(space_bare)

    for event, to in ((ev_one, "a@example.org"), (ev_two, "b@example.org"), (ev_bare, "c@example.org")):
        entry = await services.mailer.send(to=to, subject="s", text="t", event_id=event["_id"])
        assert entry["status"] == M.SENT

    [(rcpts1, msg1)] = received(one)
    [(rcpts2, msg2)] = received(two)
    [(rcpts3, msg3)] = received(platform_smtp)
    assert rcpts1 == ["a@example.org"] and msg1["From"] == "Team news <news@one.example>"
    assert rcpts2 == ["b@example.org"] and msg2["From"] == "Team hello <hello@two.example>"
    assert rcpts3 == ["c@example.org"] and msg3["From"] == "Platform <platform@example.org>"
    sent = {e["to"]: e for e in await db.outbox.find({}).to_list(None)}
    assert sent["a@example.org"]["space_id"] == space_one["_id"]
    assert sent["a@example.org"]["attempts"] == 1 and sent["a@example.org"]["last_answer"]["code"] == 250


@pytest.mark.gen_test(timeout=30)
async def test_a_refused_recipient_is_a_bounce_and_final(services, db, factory, smtp_servers):
    server = smtp_servers()
    space = await factory.space()
    await configure(services, space, server.port, "news@one.example")
    event = await factory.event(space)
    entry = await services.mailer.send(to=REFUSED, subject="s", text="t", event_id=event["_id"])
    stored = await db.outbox.find_one({"_id": entry["_id"]})
    assert stored["status"] == M.FAILED and stored["bounced"] is True
    assert stored["last_answer"]["code"] == 550 and "No such user" in stored["error"]
    assert stored["next_attempt_at"] is None and stored["attempts"] == 1
    assert await services.mailer.deliver_due() == 0


# --- a wrong password ------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_a_wrong_password_gives_a_clear_status(services, db, factory, smtp_servers, browser):
    server = smtp_servers(authenticator=accept_only("mailer", "right-one"), auth_require_tls=False)
    space = await factory.space()
    await configure(services, space, server.port, "news@one.example", user="mailer", password="wrong-one")
    event = await factory.event(space)

    entry = await services.mailer.send(to="a@example.org", subject="s", text="t", event_id=event["_id"])
    stored = await db.outbox.find_one({"_id": entry["_id"]})
    assert stored["status"] == M.FAILED and stored["last_answer"]["code"] == 535
    assert stored["error"].startswith("535") and "bounced" in stored and not stored["bounced"]
    assert received(server) == []

    admin = await factory.member(R.SPACE_ADMIN, space=space, locale="de")
    b = browser(locale="de")
    await b.sign_in(admin["login"], factory.PASSWORD)
    r = await b.post(f"/admin/spaces/{space['_id']}/mail/test")
    assert r.status_code == 502
    refused = translated(services, "de", "The server refused the message: %(code)s %(answer)s",
                         code=535, answer="5.7.8 Authentication credentials invalid")
    assert refused in r.text

    # The right password: the same button gets the server's acceptance, and the mail goes.
    await configure(services, space, server.port, "news@one.example", user="mailer", password="right-one")
    r = await b.post(f"/admin/spaces/{space['_id']}/mail/test")
    assert r.status_code == 200
    assert translated(services, "de", "The server accepted the message: %(code)s %(answer)s",
                      code=250, answer="OK").split("250")[0] in r.text
    [(rcpts, msg)] = received(server)
    assert rcpts == [admin["email"]] and msg["From"] == "Team news <news@one.example>"


# --- a host that does not answer ---------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_a_host_that_does_not_answer(services, db, factory, silent_host, browser, monkeypatch):
    monkeypatch.setattr(space_mail, "TEST_TIMEOUT", 1.0)
    space = await factory.space()
    await configure(services, space, silent_host, "news@one.example")
    event = await factory.event(space)
    admin = await factory.member(R.SPACE_ADMIN, space=space, locale="ru")
    b = browser(locale="ru")
    await b.sign_in(admin["login"], factory.PASSWORD)

    before = await db.space_mail.find_one({"_id": space["_id"]})
    r = await b.post(f"/admin/spaces/{space['_id']}/mail/test")
    assert r.status_code == 502
    assert translated(services, "ru", "The server did not answer in time (%(host)s, port %(port)s).",
                      host="127.0.0.1", port=silent_host) in r.text
    assert await db.space_mail.find_one({"_id": space["_id"]}) == before
    assert await db.outbox.count_documents({}) == 0

    # Mail: tried, kept for a retry with the reason, tried again, then given up.
    services.mailer.timeout = 1.0
    services.mailer.retry_delays = (0,)
    entry = await services.mailer.send(to="a@example.org", subject="s", text="t", event_id=event["_id"])
    stored = await db.outbox.find_one({"_id": entry["_id"]})
    assert stored["status"] == M.QUEUED and stored["attempts"] == 1
    assert stored["last_answer"]["code"] is None and stored["error"] and stored["next_attempt_at"]
    page = await b.get(f"/admin/events/{event['_id']}/outbox/{entry['_id']}")
    assert page.status_code == 200
    assert translated(services, "ru", "waiting to be sent") in page.text
    assert translated(services, "ru", "Next attempt") in page.text
    assert await services.mailer.deliver_due() == 1
    stored = await db.outbox.find_one({"_id": entry["_id"]})
    assert stored["status"] == M.FAILED and stored["attempts"] == 2 and stored["next_attempt_at"] is None


@pytest.mark.gen_test(timeout=30)
async def test_a_temporary_refusal_is_retried_and_then_delivered(services, db, factory, smtp_servers):
    server = smtp_servers()
    busy = {"left": 1}
    original = server.handler.handle_DATA

    async def handle_DATA(srv, session, envelope):
        if busy["left"]:
            busy["left"] -= 1
            return "451 4.3.0 Try again later"
        return await original(srv, session, envelope)
    server.handler.handle_DATA = handle_DATA
    space = await factory.space()
    await configure(services, space, server.port, "news@one.example")
    event = await factory.event(space)
    services.mailer.retry_delays = (0, 0)
    entry = await services.mailer.send(to="a@example.org", subject="s", text="t", event_id=event["_id"])
    assert entry["status"] == M.QUEUED and entry["last_answer"]["code"] == 451
    page_text = (await outbox.platform_entry(db, entry["_id"]))
    assert page_text["last_answer"]["text"].startswith("4.3.0")
    assert await services.mailer.deliver_due() == 1
    stored = await db.outbox.find_one({"_id": entry["_id"]})
    assert stored["status"] == M.SENT and stored["attempts"] == 2
    assert len(received(server)) == 1


@pytest.mark.gen_test(timeout=30)
async def test_a_waiting_message_with_a_secret_is_sent_whole_and_never_shown_whole(
        services, db, factory, smtp_servers):
    server = smtp_servers()
    space = await factory.space()
    await configure(services, space, server.port, "news@one.example", rate="60")
    event = await factory.event(space)
    await services.mailer.send(to="a@example.org", subject="first", text="t", event_id=event["_id"])
    entry = await services.mailer.send(to="b@example.org", subject="Your link", text="link: SECRET-LINK",
                                       event_id=event["_id"], staff_copy=("Your link", "link: hidden", None))
    assert entry["status"] == M.QUEUED
    shown = await outbox.platform_entry(db, entry["_id"])
    assert "SECRET-LINK" not in repr(shown) and not shown.get("complete")
    await db.outbox.update_one({"_id": entry["_id"]}, {"$set": {"next_attempt_at": utcnow(), "slot_at": utcnow()}})
    assert await services.mailer.deliver_due() == 1
    [_, (rcpts, msg)] = received(server)
    assert rcpts == ["b@example.org"] and "SECRET-LINK" in msg.get_body(("plain",)).get_content()
    stored = await db.outbox.find_one({"_id": entry["_id"]})
    assert stored["status"] == M.SENT and "full" not in stored


# --- the password stays secret -------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_the_password_is_encrypted_and_never_shown(services, db, factory, smtp_servers, browser):
    server = smtp_servers()
    space = await factory.space()
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    r = await b.post(f"/admin/spaces/{space['_id']}/mail", {
        "host": "127.0.0.1", "port": str(server.port), "tls": "none", "user": "mailer", "password": SECRET,
        "from_address": "news@one.example", "from_name": "News", "rate": "30"})
    assert r.status_code == 302, r.text[:500]

    for name in await db.list_collection_names():
        for doc in await db[name].find({}).to_list(None):
            assert SECRET not in repr(doc), name
    stored = await db.space_mail.find_one({"_id": space["_id"]})
    assert Fernet(KEY.encode()).decrypt(stored["password"].encode()).decode() == SECRET
    for path in (f"/admin/spaces/{space['_id']}/mail", f"/admin/spaces/{space['_id']}"):
        page = await b.get(path)
        assert page.status_code == 200 and SECRET not in page.text
    page = await b.get(f"/admin/spaces/{space['_id']}/mail")
    assert translated(services, "en", "A password is set. Leave the field empty to keep it.") in page.text

    # Saving again with the field empty keeps the password.
    r = await b.post(f"/admin/spaces/{space['_id']}/mail", {
        "host": "127.0.0.1", "port": str(server.port), "tls": "none", "user": "mailer", "password": "",
        "from_address": "news@one.example", "from_name": "News", "rate": "30"})
    assert r.status_code == 302
    again = await db.space_mail.find_one({"_id": space["_id"]})
    assert again["password"] == stored["password"]
    # Bad input changes nothing.
    r = await b.post(f"/admin/spaces/{space['_id']}/mail", {
        "host": "127.0.0.1", "port": "99999", "tls": "none", "from_address": "news@one.example"})
    assert r.status_code == 400
    assert translated(services, "en", "The port must be a number from 1 to 65535.") in r.text
    assert await db.space_mail.find_one({"_id": space["_id"]}) == again


@pytest.mark.gen_test(timeout=30)
async def test_without_a_key_settings_cannot_be_stored(services, db, factory, browser):
    services.mailer.fernet = None
    space = await factory.space()
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    message = translated(services, "en", "Mail settings cannot be stored: the platform has no key to "
                                         "encrypt passwords (MAIL_SETTINGS_KEY).")
    assert message in (await b.get(f"/admin/spaces/{space['_id']}/mail")).text
    r = await b.post(f"/admin/spaces/{space['_id']}/mail", {
        "host": "127.0.0.1", "port": "25", "tls": "none", "password": SECRET, "from_address": "a@b.example"})
    assert r.status_code == 400 and message in r.text
    assert await db.space_mail.count_documents({}) == 0


@pytest.mark.gen_test(timeout=30)
async def test_an_event_admin_may_not_open_the_spaces_mail_settings(services, factory, browser):
    event = await factory.event()
    staff = await factory.member(R.EVENT_ADMIN, event=event)
    b = browser()
    await b.sign_in(staff["login"], factory.PASSWORD)
    r = await b.get(f"/admin/spaces/{event['space_id']}/mail")
    assert r.status_code == 403


# --- rate, and no message sent twice ----------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_a_space_sends_at_its_rate(services, db, factory, smtp_servers):
    server = smtp_servers()
    space = await factory.space()
    await configure(services, space, server.port, "news@one.example", rate="120")   # one each 0.5 s
    event = await factory.event(space)
    entries = [await services.mailer.send(to=f"p{i}@example.org", subject="s", text="t", event_id=event["_id"])
               for i in range(5)]
    assert [e["status"] for e in entries] == [M.SENT] + [M.QUEUED] * 4
    slots = [e["next_attempt_at"] for e in entries[1:]]
    assert all(abs((b - a).total_seconds() - 0.5) < 0.01 for a, b in itertools.pairwise(slots))
    deadline = time.monotonic() + 20
    while await db.outbox.count_documents({"status": M.SENT}) < 5 and time.monotonic() < deadline:
        await services.mailer.deliver_due()
        await asyncio.sleep(0.05)
    assert await db.outbox.count_documents({"status": M.SENT}) == 5
    times = server.handler.times
    assert len(times) == 5
    # The k-th message leaves no earlier than k slots after the first (a connection's own delay
    # moves single arrivals by a little, never ahead of their slot).
    assert all(t - times[0] >= k * 0.5 - 0.1 for k, t in enumerate(times)), times


@pytest.mark.gen_test(timeout=60)
async def test_two_senders_on_one_store_never_send_a_message_twice(services, db, factory, smtp_servers):
    server = smtp_servers()
    space = await factory.space()
    await configure(services, space, server.port, "news@one.example")
    event = await factory.event(space)
    now = utcnow()
    # As a restart finds them: queued ones, and ones a dead process held past their lease.
    docs = [{"_id": ObjectId(), "to": f"p{i}@example.org", "subject": f"s{i}", "text": "t", "html": None,
             "event_id": event["_id"], "kind": "test", "mailing_id": None, "created_at": now,
             "status": M.QUEUED if i % 4 else M.SENDING, "lease_until": now, "claimed_by": "gone",
             "error": None, "sent_at": None, "redacted": False, "attempts": 0, "next_attempt_at": now}
            for i in range(40)]
    await db.outbox.insert_many(docs)
    first = Mailer(db, services.settings, fernet=services.mailer.fernet)
    second = Mailer(db, services.settings, fernet=services.mailer.fernet)
    tried = await asyncio.gather(first.deliver_due(), second.deliver_due(), first.deliver_due())
    assert sum(tried) == 40
    recipients = [rcpts[0] for rcpts, _ in received(server)]
    assert sorted(recipients) == sorted(d["to"] for d in docs)
    assert await db.outbox.count_documents({"status": M.SENT}) == 40
    assert await first.deliver_due() == 0
