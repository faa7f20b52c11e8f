"""Mail over real SMTP: an aiosmtpd server runs in-process on a free port.

Covers the mailer itself (sent, refused, server down) and a sign-in mailing
delivered over SMTP, including a recipient the server refuses.
"""
import asyncio
import dataclasses
import email
import email.policy
import os
import secrets

import pytest
from aiosmtpd.controller import Controller

from access import roles as R
from attendees import registry
from core import config
from mailings import signin_mailing
from mailings.mailer import Mailer
from tests.servers import free_port

REFUSED = "bounce@example.org"


class Collector:
    """An SMTP handler keeping every envelope; refuses one address like a real server would."""

    def __init__(self):
        self.envelopes = []
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == REFUSED:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self):
        return [(env.rcpt_tos, email.message_from_bytes(env.content, policy=email.policy.default))
                for env in self.envelopes]


@pytest.fixture
def smtp_server():
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def settings(smtp_server):
    return config.from_env(mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1,
                           argon2_memory_kib=1024, log_format="text",
                           redis_url=os.environ.get("TEST_REDIS_URL", ""),
                           smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_tls="none",
                           smtp_user="", smtp_password="", mail_from="Livehall <events@example.org>")


def body(msg, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    return part.get_content() if part else ""


def server_down(services) -> None:
    """Point the mailer at a port where nothing listens."""
    services.mailer = Mailer(services.db, dataclasses.replace(services.settings, smtp_port=free_port()),
                             services.metrics)


# --- the mailer -------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_mail_is_delivered_and_marked_sent(services, db, smtp_server):
    entry = await services.mailer.send(to="anna@example.org", subject="Grüße", text="Plain body ✓",
                                       html="<p>HTML body</p>", kind="test")
    assert entry["status"] == "sent"
    stored = await db.outbox.find_one({"_id": entry["_id"]})
    assert stored["status"] == "sent" and stored["sent_at"] is not None and stored["error"] is None
    [(rcpts, msg)] = smtp_server.handler.messages()
    assert rcpts == ["anna@example.org"]
    assert msg["Subject"] == "Grüße" and msg["To"] == "anna@example.org"
    assert "events@example.org" in msg["From"]
    assert body(msg, "plain").strip() == "Plain body ✓"
    assert "<p>HTML body</p>" in body(msg, "html")


@pytest.mark.gen_test(timeout=30)
async def test_connections_are_reused_and_a_message_whose_hand_over_is_refused_never_arrives(services, db,
                                                                                             smtp_server):
    """Mail goes over kept connections; a message whose entry another process took over before its
    ending line (the hand-over mark finds it no longer held) is dropped by the server unfinished."""
    messages = [{"to": f"p{i}@example.org", "subject": f"s{i}", "text": "t", "key": f"k{i}"} for i in range(12)]
    written, repeated = await services.mailer.send_many(messages, event_id=None, kind="test")
    assert len(written) == 12 and repeated == 0 and {e["status"] for e in written} == {"sent"}
    assert len(smtp_server.handler.envelopes) == 12
    assert smtp_server.handler.connections < 12
    # The same keys again: nothing written, nothing sent.
    assert (await services.mailer.send_many(messages, event_id=None, kind="test"))[0] == []
    assert len(smtp_server.handler.envelopes) == 12

    mailer = services.mailer
    original = mailer._handover.submit

    async def taken_over(entry_id):
        await db.outbox.update_one({"_id": entry_id}, {"$set": {"claimed_by": "another process"}})
        return await original(entry_id)
    mailer._handover.submit = taken_over
    [entry], _ = await mailer.send_many([{"to": "late@example.org", "subject": "s", "text": "t", "key": "late"}],
                                        event_id=None, kind="test")
    mailer._handover.submit = original
    await asyncio.sleep(0.3)
    assert len(smtp_server.handler.envelopes) == 12  # the unfinished message was discarded
    stored = await db.outbox.find_one({"key": "late"})
    assert stored["status"] == "sending" and stored["claimed_by"] == "another process"
    # The connection is not reused after an abandoned message; the next one goes out as usual.
    assert (await mailer.send(to="next@example.org", subject="s", text="t"))["status"] == "sent"
    assert len(smtp_server.handler.envelopes) == 13


@pytest.mark.gen_test(timeout=30)
async def test_an_entry_handed_over_by_a_stopped_process_is_counted_sent_and_not_sent_again(services, db,
                                                                                            smtp_server):
    from mailings import mailer as mailer_module
    past = mailer_module.utcnow() - mailer_module.LEASE * 2
    held = {"to": "a@example.org", "subject": "s", "text": "t", "html": None, "status": "handed",
            "lease_until": past, "claimed_by": "gone", "attempts": 0, "created_at": past, "event_id": None}
    waiting = {**held, "to": "b@example.org", "status": "sending"}
    await db.outbox.insert_many([held, waiting])
    assert await services.mailer.deliver_due() == 1
    handed = await db.outbox.find_one({"to": "a@example.org"})
    assert handed["status"] == "sent" and handed["unconfirmed"] is True
    assert "not sent again" in handed["last_answer"]["text"]
    assert [rcpts for rcpts, _ in smtp_server.handler.messages()] == [["b@example.org"]]


@pytest.mark.gen_test(timeout=30)
async def test_refused_recipient_is_marked_failed_with_the_servers_answer(services, db, smtp_server):
    entry = await services.mailer.send(to=REFUSED, subject="s", text="t")
    assert entry["status"] == "failed"
    stored = await db.outbox.find_one({"_id": entry["_id"]})
    assert stored["status"] == "failed" and "No such user" in stored["error"]
    assert smtp_server.handler.envelopes == []


@pytest.mark.gen_test(timeout=30)
async def test_server_down_is_retried_then_marked_failed(services, db):
    server_down(services)
    services.mailer.retry_delays = (0,)
    entry = await services.mailer.send(to="a@example.org", subject="s", text="t")
    stored = await db.outbox.find_one({"_id": entry["_id"]})
    assert stored["status"] == "queued" and stored["attempts"] == 1 and stored["error"]
    assert stored["next_attempt_at"] is not None and stored["last_answer"]["code"] is None
    assert await services.mailer.deliver_due() == 1
    stored = await db.outbox.find_one({"_id": entry["_id"]})
    assert stored["status"] == "failed" and stored["attempts"] == 2 and stored["next_attempt_at"] is None


@pytest.mark.gen_test
async def test_without_smtp_mail_stays_in_the_outbox(services, db):
    services.mailer = Mailer(db, dataclasses.replace(services.settings, smtp_host=""))
    entry = await services.mailer.send(to="a@example.org", subject="s", text="t")
    assert (await db.outbox.find_one({"_id": entry["_id"]}))["status"] == "stored"


# --- a sign-in mailing over SMTP ---------------------------------------------------------------

async def attendees_with_one_refused(db, factory):
    event = await factory.event(locales=("ru", "en"))
    await registry.register(db, event, email="olga@example.org", name="Olga", locale="ru")
    await registry.register(db, event, email="emma@example.org", name="Emma", locale="en")
    bounce = await factory.member(R.ATTENDEE, event=event, email=REFUSED)
    return event, bounce


@pytest.mark.gen_test(timeout=30)
async def test_mailing_over_smtp_delivers_and_goes_on_past_a_refusal(services, db, factory, smtp_server):
    event, bounce = await attendees_with_one_refused(db, factory)
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    await asyncio.gather(signin_mailing.start(services, mailing["_id"]))

    delivered = {rcpts[0]: msg for rcpts, msg in smtp_server.handler.messages()}
    assert sorted(delivered) == ["emma@example.org", "olga@example.org"]
    for address, locale in (("emma@example.org", "en"), ("olga@example.org", "ru")):
        msg = delivered[address]
        user = await db.users.find_one({"email": address})
        text, html = body(msg, "plain"), body(msg, "html")
        assert event["title"][locale] in msg["Subject"]
        assert user["login"] in text and "/signin/link/" in text and f'lang="{locale}"' in html
    outbox = {e["to"]: e for e in await db.outbox.find({}).to_list(None)}
    assert outbox["emma@example.org"]["status"] == outbox["olga@example.org"]["status"] == "sent"
    assert outbox[REFUSED]["status"] == "failed" and "No such user" in outbox[REFUSED]["error"]

    done = await db.mailings.find_one({"_id": mailing["_id"]})
    assert (done["status"], done["sent"], done["failed"]) == ("done", 2, 1)
    failed = await db.mailing_items.find_one({"email": REFUSED})
    assert failed["status"] == "failed" and "No such user" in failed["error"]
    # The refused attendee keeps the password they had, and is still "never mailed".
    stored = await db.users.find_one({"_id": bounce["_id"]})
    assert await services.hasher.verify(factory.PASSWORD, stored["password_hash"])
    assert (await registry.find_membership(db, event["_id"], bounce["_id"]))["mailed_at"] is None
    assert await db.tokens.count_documents({"user_id": bounce["_id"]}) == 0
    assert await db.tokens.count_documents({}) == 2


@pytest.mark.gen_test(timeout=30)
async def test_mailing_with_smtp_down_fails_every_item_and_finishes(services, db, factory):
    event, bounce = await attendees_with_one_refused(db, factory)
    server_down(services)
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=None)
    await signin_mailing.run(services, mailing["_id"])
    done = await db.mailings.find_one({"_id": mailing["_id"]})
    assert (done["status"], done["sent"], done["failed"]) == ("done", 0, 3)
    assert await db.outbox.count_documents({"status": "failed"}) == 3
    assert all(e["error"] for e in await db.outbox.find({}).to_list(None))
    assert await db.memberships.count_documents({"role": R.ATTENDEE, "mailed_at": {"$ne": None}}) == 0
    # Everyone is still waiting for a mail, so "never mailed" reaches them all next time.
    assert len(await signin_mailing.recipients(db, event, signin_mailing.NEVER_MAILED)) == 3


def test_a_built_message_reads_back_with_the_email_package():
    from mailings import mime
    subject = "Через час: Международный саммит по образованию — " + "очень длинное название " * 4
    raw = mime.build(sender="Школа «Ромашка» <events@example.org>", to="anna@example.org", subject=subject,
                     text="Привет, Анна!\n\n.точка в начале строки\n", html="<p>Привет, <b>Анна</b>!</p>",
                     headers={"List-Unsubscribe": "<https://example.org/u?t=abc>",
                              "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    assert raw.isascii() and all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == " ".join(subject.split())
    assert msg["From"].addresses[0].display_name == "Школа «Ромашка»"
    assert msg["From"].addresses[0].addr_spec == "events@example.org" and msg["To"] == "anna@example.org"
    assert msg["List-Unsubscribe"] == "<https://example.org/u?t=abc>" and msg["Message-ID"] and msg["Date"]
    assert not msg.defects and msg.get_content_type() == "multipart/alternative"
    assert body(msg, "plain") == "Привет, Анна!\n\n.точка в начале строки\n"
    assert body(msg, "html") == "<p>Привет, <b>Анна</b>!</p>"
    plain = email.message_from_bytes(mime.build(sender="a@example.org", to="b@example.org", subject="Hi",
                                                text="Just text"), policy=email.policy.default)
    assert plain.get_content_type() == "text/plain" and plain.get_content() == "Just text"
    assert mime.envelope("Школа <events@example.org>", "anna@example.org") == ("events@example.org",
                                                                              ["anna@example.org"])
