"""Automatic reminders over real SMTP (aiosmtpd): who gets them, in which language, exactly once.

Exactly once is proved with two server processes on one shared store, and
with a process killed at each point of sending a mail (what it held is
settled or sent once its lease runs out, never twice); moving the event moves its reminders; a
switched-off reminder and an unsubscribed person get nothing.
"""
import asyncio
import dataclasses
import datetime
import email
import email.policy
import json
import os
import re
import secrets
import sys
import time

import pytest
from aiosmtpd.controller import Controller

import server
from access import roles as R
from core import config
from core.clock import utcnow
from events import model, programme
from mailings import unsubscribe
from registration import session_seats
from registration.model import CANCELLED, WAITING
from reminders import runner, schedule, texts
from storage.shared import StoreServer
from tests.servers import free_port
from tests.support import error_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Collector:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self):
        return [email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes]


@pytest.fixture
def smtp_server():
    controller = Controller(Collector(), hostname="127.0.0.1", port=free_port())
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


def mails(smtp_server):
    return smtp_server.handler.messages()


def text_of(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


async def starting_in(factory, db, delta: datetime.timedelta, locales=("ru", "en", "de")):
    event = await factory.event(locales=locales, gate_open=False)
    start = (utcnow() + delta).replace(microsecond=0)
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"gate.official_start": start, "updated_at": utcnow()}})
    return await db.events.find_one({"_id": event["_id"]})


async def attendee(factory, event, locale, **kwargs):
    return await factory.member(R.ATTENDEE, event=event, locale=locale, **kwargs)


async def sweep(services, sweeper=None):
    sweeper = sweeper or runner.Runner(services)
    await sweeper.sweep()
    await asyncio.gather(*sweeper.working.values())
    return sweeper


async def jobs(db, event):
    return {j["key"]: j async for j in db[schedule.COLLECTION].find({"event_id": event["_id"]})}


def gettext(services, locale):
    return services.i18n.gettext(locale)


# --- who gets it, in which language --------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_each_admitted_person_gets_the_due_reminder_once_in_their_language(services, factory, db, smtp_server):
    event = await starting_in(factory, db, datetime.timedelta(minutes=40))
    people = {loc: await attendee(factory, event, loc) for loc in ("ru", "en", "de")}
    gone = await attendee(factory, event, "en")
    waiting = await attendee(factory, event, "en")
    await db.memberships.update_one({"user_id": gone["_id"]}, {"$set": {"state": CANCELLED}})
    await db.memberships.update_one({"user_id": waiting["_id"]}, {"$set": {"state": WAITING}})
    staff = await factory.member(R.EVENT_ADMIN, event=event)

    await sweep(services)
    got = mails(smtp_server)
    assert sorted(m["To"] for m in got) == sorted(p["email"] for p in people.values())
    assert staff["email"] not in {m["To"] for m in got}
    space = await model.get_space(db, event["space_id"])
    event_url = f"{services.settings.public_url}/e/{space['slug']}/{event['slug']}"
    for loc, person in people.items():
        msg = next(m for m in got if m["To"] == person["email"])
        title = event["title"][loc]
        # The one-hour reminder (the one-day one is skipped: the closer one is due too).
        assert msg["Subject"] == gettext(services, loc)(texts.DEFAULT_SUBJECTS[texts.EVENT_1H]).format(
            event_title=title)
        text = text_of(msg)
        assert title in text and event_url in text
        assert "/signin" not in text and "token=" not in text  # the event page, never a sign-in link
        link = re.search(r"<(.+)>", msg["List-Unsubscribe"]).group(1)
        assert link in text and msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert unsubscribe.read_token(services.settings.cookie_secret, link.split("t=")[1]) == (person["_id"],
                                                                                              "reminders")
    assert len({m["Subject"] for m in got}) == 3  # three languages, three subjects
    assert next(m for m in got if m["To"] == people["ru"]["email"])["Subject"].startswith("Через час")
    stored = await jobs(db, event)
    assert stored[texts.EVENT_1D]["state"] == schedule.SKIPPED
    assert stored[texts.EVENT_1H]["state"] == schedule.DONE
    assert stored[texts.EVENT_5M]["state"] == schedule.PENDING
    await sweep(services)  # again, and in a fresh process's sweeper: nothing more goes
    await sweep(services)
    assert len(mails(smtp_server)) == 3
    assert await db.outbox.count_documents({"kind": "reminder_event_1h", "status": "sent"}) == 3


@pytest.mark.gen_test(timeout=60)
async def test_an_unsubscribed_person_gets_no_reminder(services, factory, db, smtp_server, browser):
    event = await starting_in(factory, db, datetime.timedelta(minutes=40))
    stays, leaves = await attendee(factory, event, "de"), await attendee(factory, event, "ru")
    link = unsubscribe.url(services.settings.public_url, services.settings.cookie_secret, leaves["_id"], "reminders")
    b = browser(locale="ru")
    path = link[len(services.settings.public_url):]
    page = await b.get(path)  # opening the link (or a scanner following it) changes nothing
    assert page.status_code == 200 and await db.mail_optouts.count_documents({}) == 0
    forged = await b.post(path[:-3] + "AAA", xsrf=False)
    assert forged.status_code == 400 and await db.mail_optouts.count_documents({}) == 0
    done = await b.post(path, xsrf=False)  # a mail client's one-click POST carries no cookie
    assert done.status_code == 200 and 'data-unsubscribed="1"' in done.text
    await sweep(services)
    assert [m["To"] for m in mails(smtp_server)] == [stays["email"]]


# --- moved, cancelled, switched off --------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_a_rescheduled_event_moves_its_reminders(services, factory, db, smtp_server):
    event = await starting_in(factory, db, datetime.timedelta(minutes=40))
    person = await attendee(factory, event, "en")
    sweeper = runner.Runner(services)
    await schedule.sync(db, event)
    # Moved three hours later before the reminder went: it waits for its new time.
    later = (utcnow() + datetime.timedelta(hours=3)).replace(microsecond=0)
    await model.versioned_update(db, event["_id"], lambda e: {"gate.official_start": later})
    await sweep(services, sweeper)
    assert mails(smtp_server) == []
    stored = await jobs(db, event)
    assert schedule.utc(stored[texts.EVENT_1H]["due_at"]) == later - datetime.timedelta(hours=1)
    assert stored[texts.EVENT_1H]["state"] == schedule.PENDING
    # Moved back to 40 minutes from now: the one-hour reminder goes now...
    sooner = (utcnow() + datetime.timedelta(minutes=40)).replace(microsecond=0)
    await model.versioned_update(db, event["_id"], lambda e: {"gate.official_start": sooner})
    await sweep(services, sweeper)
    assert [m["To"] for m in mails(smtp_server)] == [person["email"]]
    # ...and moved again after it went, it goes again for the new time.
    await model.versioned_update(db, event["_id"], lambda e: {"gate.official_start": sooner + datetime.timedelta(
        minutes=10)})
    await sweep(services, sweeper)
    assert [m["To"] for m in mails(smtp_server)] == [person["email"]] * 2
    assert (await jobs(db, event))[texts.EVENT_1H]["round"] == 1


@pytest.mark.gen_test(timeout=60)
async def test_a_switched_off_reminder_is_not_sent_and_edited_texts_are(services, factory, db, smtp_server):
    event = await starting_in(factory, db, datetime.timedelta(minutes=40))
    await attendee(factory, event, "de")
    form = {f"off_{texts.EVENT_1H}": "1", f"subject_{texts.EVENT_5M}_de": "Gleich: {event_title}",
            f"body_{texts.EVENT_5M}_de": "Hallo {person_name}, los geht's: {event_url}"}
    event = await texts.save(db, event, texts.parse(event, form), None)
    await sweep(services)
    assert mails(smtp_server) == []
    assert (await jobs(db, event))[texts.EVENT_1H]["state"] == schedule.OFF
    # Five minutes before: the organiser's German text.
    soon = (utcnow() + datetime.timedelta(minutes=4)).replace(microsecond=0)
    await model.versioned_update(db, event["_id"], lambda e: {"gate.official_start": soon})
    await sweep(services)
    [msg] = mails(smtp_server)
    assert msg["Subject"] == f"Gleich: {event['title']['de']}"
    assert text_of(msg).startswith("Hallo User")


@pytest.mark.gen_test(timeout=60)
async def test_a_session_reminder_goes_to_those_with_it_in_their_programme_and_a_deleted_session_cancels_it(
        services, factory, db, smtp_server):
    event = await starting_in(factory, db, datetime.timedelta(days=10), locales=("en", "ru"))
    item = {"id": "s1", "day_id": "d1", "starts_at": utcnow() + datetime.timedelta(minutes=10), "ends_at": None,
            "title": {"en": "Opening talk", "ru": "Вступительный доклад"}, "speaker": ""}
    other = {**item, "id": "s2", "title": {"en": "Later talk"}, "starts_at": utcnow() + datetime.timedelta(hours=5)}
    await model.versioned_update(db, event["_id"], lambda e: {"schedule": [item, other]})
    event = await db.events.find_one({"_id": event["_id"]})
    follows, ignores = await attendee(factory, event, "ru"), await attendee(factory, event, "en")
    await programme.set_saved(db, follows["_id"], event, "s1", True)
    await programme.set_saved(db, follows["_id"], event, "s2", True)
    await sweep(services)
    [msg] = mails(smtp_server)
    assert msg["To"] == follows["email"] and "Вступительный доклад" in msg["Subject"]
    assert "#item-s1" in text_of(msg)
    assert ignores["email"] not in {m["To"] for m in mails(smtp_server)}
    await model.versioned_update(db, event["_id"], lambda e: {"schedule": [item]})  # s2 deleted
    await sweep(services)
    assert (await jobs(db, event))["session:s2"]["state"] == schedule.CANCELLED


# --- the staff page ------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_staff_texts_with_an_unknown_placeholder_are_refused_and_nothing_is_saved(
        services, factory, db, browser):
    event = await starting_in(factory, db, datetime.timedelta(days=2))
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="de")
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    page = f"/admin/events/{event['_id']}/reminders"
    assert (await b.get(page)).status_code == 200
    before = await db.events.find_one({"_id": event["_id"]})
    bad = await b.post(page, {f"subject_{texts.EVENT_1D}_en": "Soon: {evnt_title}"})
    assert bad.status_code == 400
    assert "{evnt_title}" in error_text(bad.text)
    assert error_text(bad.text) != texts.UNKNOWN_PLACEHOLDER  # translated (German)
    assert (await db.events.find_one({"_id": event["_id"]}))["state_version"] == before["state_version"]
    preview = await b.post(page, {f"body_{texts.EVENT_1D}_en": "Dear {person_name}: {event_title}",
                                  "preview": f"{texts.EVENT_1D}:en"})
    assert preview.status_code == 200 and "Dear Alex Sample: " + event["title"]["en"] in preview.text
    assert "reminders" not in await db.events.find_one({"_id": event["_id"]})
    saved = await b.post(page, {f"off_{texts.EVENT_5M}": "1"})
    assert saved.status_code == 302
    assert (await db.audit.find_one({"action": texts.AUDIT_ACTION}))["actor_id"] == admin["_id"]
    assert texts.settings_of(await db.events.find_one({"_id": event["_id"]}))[texts.EVENT_5M]["off"] is True


# --- several processes, and a crash -------------------------------------------------------

async def shared_services(services):
    store = StoreServer()
    port = await store.start()
    address, name = f"127.0.0.1:{port}", f"rem_{secrets.token_hex(3)}"
    mine = await server.make_services(dataclasses.replace(services.settings, embedded_store_address=address,
                                                          mongodb_db=name))
    return store, address, name, mine


async def worker(address, name, smtp_port, lease, mode=""):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.reminder_worker", address, name, str(smtp_port), str(lease), mode,
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
    return proc


async def go(proc):
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()


async def crowd(factory, db, n):
    event = await starting_in(factory, db, datetime.timedelta(minutes=40), locales=("en", "ru"))
    people = [await attendee(factory, event, "en" if i % 2 else "ru") for i in range(n)]
    await schedule.sync(db, event)
    return event, people


async def stop(procs, store, mine):
    for p in procs:
        if p.returncode is None:
            p.kill()
            await p.wait()
    await server.close_services(mine)
    await store.close()


@pytest.mark.gen_test(timeout=180)
async def test_two_processes_send_each_reminder_exactly_once(services, factory, smtp_server):
    store, address, name, mine = await shared_services(services)
    procs = []
    try:
        event, people = await crowd(type(factory)(mine), mine.db, 60)
        procs = [await worker(address, name, smtp_server.port, 300) for _ in range(2)]
        for p in procs:
            await go(p)
        results = [json.loads(await asyncio.wait_for(p.stdout.readline(), 120)) for p in procs]
        assert sum(r["sent"] for r in results) == 60 and all(r["delivered"] == 0 for r in results)
        got = [m["To"] for m in mails(smtp_server)]
        assert sorted(got) == sorted(p["email"] for p in people)
        assert (await jobs(mine.db, event))[texts.EVENT_1H]["state"] == schedule.DONE
    finally:
        await stop(procs, store, mine)


LEASE = 8  # the killed process's lease on its mail, in seconds


@pytest.mark.parametrize("crash, copies, unconfirmed", [
    ("hang-before-handover", 1, False),   # the server never got the ending line: sent again, once
    ("hang-after-accept", 1, True),       # the server took it: counted as sent, never sent again
    ("hang-after-handover", 0, True),     # the one moment left: at most once, and marked as unknown
])
@pytest.mark.gen_test(timeout=180)
async def test_a_process_killed_mid_send_never_causes_a_second_copy(services, factory, smtp_server, crash, copies,
                                                                    unconfirmed):
    """A process is killed while sending the 5th of 20 reminders; later processes finish the job.

    Before the hand-over mark the mail server holds an unfinished message, which it discards, so the
    taker sends the only copy.  After the server accepted the mail the hand-over mark says it may
    have gone: it is counted as sent and not sent again.  Between the mark and the ending line
    (one database answer long) the mail is lost, and its entry says its fate is unconfirmed."""
    store, address, name, mine = await shared_services(services)
    procs = []
    try:
        event, people = await crowd(type(factory)(mine), mine.db, 20)
        first = await worker(address, name, smtp_server.port, LEASE, f"{crash}:5")
        procs.append(first)
        await go(first)
        started = time.monotonic()
        assert (await asyncio.wait_for(first.stdout.readline(), 60)).strip() == b"hanging"
        await asyncio.sleep(1)  # the others in flight finish
        first.kill()
        await first.wait()
        assert len(mails(smtp_server)) == 20 - (0 if crash == "hang-after-accept" else 1)
        # A second process within the lease writes nothing new and leaves the held entry alone...
        early = await worker(address, name, smtp_server.port, 300)
        procs.append(early)
        await go(early)
        assert json.loads(await asyncio.wait_for(early.stdout.readline(), 60)) == {"sent": 0, "delivered": 0}
        # ...one after it settles or sends the dead process's entry.
        await asyncio.sleep(max(0.0, LEASE + 0.5 - (time.monotonic() - started)))
        late = await worker(address, name, smtp_server.port, 2)
        procs.append(late)
        await go(late)
        assert json.loads(await asyncio.wait_for(late.stdout.readline(), 60)) == {
            "sent": 0, "delivered": 1 if crash == "hang-before-handover" else 0}
        await asyncio.sleep(0.5)
        got = [m["To"] for m in mails(smtp_server)]
        counts = sorted(got.count(p["email"]) for p in people)
        assert counts == sorted([1] * 19 + [copies])
        entries = await mine.db.outbox.find({"kind": "reminder_event_1h"}).to_list(None)
        assert len(entries) == 20 and {e["status"] for e in entries} == {"sent"}
        assert sum(1 for e in entries if e.get("unconfirmed")) == (1 if unconfirmed else 0)
        assert (await jobs(mine.db, event))[texts.EVENT_1H]["state"] == schedule.DONE
    finally:
        await stop(procs, store, mine)


@pytest.mark.gen_test(timeout=60)
async def test_an_event_removed_or_left_without_a_start_cancels_its_waiting_reminders(services, factory, db,
                                                                                       smtp_server):
    event = await starting_in(factory, db, datetime.timedelta(days=3))
    await attendee(factory, event, "en")
    await sweep(services)
    assert {j["state"] for j in (await jobs(db, event)).values()} == {schedule.PENDING}
    await model.versioned_update(db, event["_id"], lambda e: {"gate.official_start": None})
    await sweep(services)
    assert {j["state"] for j in (await jobs(db, event)).values()} == {schedule.CANCELLED}
    # Gone altogether: a due reminder of it is cancelled when it comes up.
    other = await starting_in(factory, db, datetime.timedelta(minutes=40))
    await attendee(factory, other, "en")
    await schedule.sync(db, other)
    await db.events.delete_one({"_id": other["_id"]})
    await sweep(services)
    assert {j["state"] for j in (await jobs(db, other)).values()} == {schedule.CANCELLED}
    assert mails(smtp_server) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_session_with_seats_reminds_those_seated_not_those_waiting(services, factory, db, smtp_server):
    event = await starting_in(factory, db, datetime.timedelta(days=10), locales=("en",))
    item = {"id": "w1", "day_id": "d1", "starts_at": utcnow() + datetime.timedelta(minutes=12), "ends_at": None,
            "title": {"en": "Workshop"}, "speaker": "", "capacity": 1}
    await model.versioned_update(db, event["_id"], lambda e: {"schedule": [item]})
    event = await db.events.find_one({"_id": event["_id"]})
    seated, waiting = await attendee(factory, event, "en"), await attendee(factory, event, "en")
    await programme.set_saved(db, waiting["_id"], event, "w1", True)  # saved, but no seat: not in the programme
    first = await session_seats.take(services, event, "w1", seated)
    second = await session_seats.take(services, event, "w1", waiting)
    assert (first["state"], second["state"]) == ("registered", "waiting")
    await sweep(services)
    assert [m["To"] for m in mails(smtp_server) if "Workshop" in m["Subject"]] == [seated["email"]]
