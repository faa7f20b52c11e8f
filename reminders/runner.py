"""Sending reminders: every process sweeps for due jobs, and each mail goes to each person once.

The sweep (`Runner.sweep`, every `SWEEP_SECONDS` in every process, started
by `server.start_background`) first re-derives the jobs of every event whose
`updated_at` moved since its last look (`reminders.schedule.sync`), then
works every due job.  A due job is worked by whichever processes see it,
at the same time if they happen to: before writing a person's mail a process
claims the pair (job round, person) by inserting a record into
`reminder_sends`, whose unique index lets exactly one insert win.  The
winner writes the mail and marks the record sent; the others skip that
person.  A job is done once a pass finds every recipient's record sent.

A process that dies between its claim and its "sent" leaves a claim behind;
once it is older than `LEASE_SECONDS` another process takes it over (an
update conditional on the old claim time, so one taker wins) and sends.
This is at-least-once at that point, chosen over at-most-once because a
missed reminder costs more than a second copy: a process that died before
the mail server accepted the mail costs nothing (the taker sends the only
copy), while one that died in the moment after the server accepted it and
before the record said so makes the taker send a second copy.  That moment
is a single database write long.

Who gets a reminder is decided when it goes: every registrant whose
registration admits (REGISTERED), and for a session those of them who have
it in their programme (for a session with seats, those holding a seat),
minus those who opted out of reminders (`mailings.unsubscribe`).  A
reminder is skipped when less than half its lead is left when it is worked
(an event moved to three hours from now gets no "tomorrow" mail), or when a
closer reminder of the event is due too (an event created 40 minutes before
it starts gets the "one hour" reminder, not also the "one day" one); a
switched-off one is marked off.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import os
import random
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from attendees import registry
from core.clock import utcnow
from core.i18n import text_for
from events import model, view
from events.model import EventDoc
from mailings import templates, unsubscribe
from registration import session_seats
from registration.model import REGISTERED
from reminders import schedule, texts

log = logging.getLogger(__name__)

SENDS = "reminder_sends"
TOPIC = "reminders"
SWEEP_SECONDS = 5.0
LEASE_SECONDS = 300.0
# Mails in flight per process: enough to keep a mail server busy, few
# enough that a slow one does not pile up thousands of connections.
CONCURRENCY = 20
# Events edited this long before the last look are looked at again: clocks
# of processes differ a little, and an edit is stamped before it is stored.
SYNC_SLACK = datetime.timedelta(seconds=60)
CLAIMED, SENT = "claimed", "sent"
# How long a pass that met other processes' claims waits for them to be sent
# before leaving the job to a later sweep.
WAIT_FOR_OTHERS = 3.0


class Runner:
    """One process's reminder sweep: what it has looked at, and the jobs it is working."""

    def __init__(self, services):
        self.services = services
        self.seen_until: datetime.datetime | None = None
        self.working: dict[Any, asyncio.Task] = {}
        self.owner = f"{os.getpid()}-{ObjectId()}"

    async def sweep(self) -> None:
        await self.sync_changed()
        db = self.services.db
        due = db[schedule.COLLECTION].find({"state": schedule.PENDING, "due_at": {"$lte": utcnow()}})
        async for job in due:
            if job["_id"] not in self.working:
                task = self.services.spawn(self.work(job))
                self.working[job["_id"]] = task
                task.add_done_callback(lambda _t, key=job["_id"]: self.working.pop(key, None))

    async def sync_changed(self) -> None:
        db = self.services.db
        started = utcnow()
        query: dict[str, Any] = {}
        if self.seen_until is not None:
            query = {"updated_at": {"$gte": self.seen_until - SYNC_SLACK}}
        async for event in db.events.find(query):
            await schedule.sync(db, event)
        self.seen_until = started

    async def work(self, job: Mapping[str, Any]) -> str:
        """Send the job's mails that nobody has sent; returns the job's state afterwards."""
        db = self.services.db
        event = await model.get_event(db, job["event_id"])
        if event is None:
            await schedule.cancel_all(db, job["event_id"])
            return schedule.CANCELLED
        wanted = schedule.wanted(event).get(job["key"])
        if wanted is None or wanted["starts_at"] != schedule.utc(job["starts_at"]):
            await schedule.sync(db, event)  # moved or gone since the last look
            return "moved"
        now = utcnow()
        verdict = self._verdict(event, job, now)
        if verdict is not None:
            await self._finish(job, verdict)
            return verdict
        busy = await self.send_all(event, job)
        if busy and not await self._others_finish(job, busy):
            return schedule.PENDING  # someone else's claims are still open: a later sweep looks again
        await self._finish(job, schedule.DONE)
        return schedule.DONE

    def _verdict(self, event: EventDoc, job: Mapping[str, Any], now: datetime.datetime) -> str | None:
        if not texts.is_on(event, job["kind"]):
            return schedule.OFF
        start = schedule.utc(job["starts_at"])
        if start - now < texts.LEADS[job["kind"]] / 2:
            return schedule.SKIPPED  # too late for what it says ("tomorrow" three hours before)
        if job["kind"] in texts.EVENT_KINDS:
            closer = [k for k in texts.EVENT_KINDS if texts.LEADS[k] < texts.LEADS[job["kind"]]]
            if any(now >= start - texts.LEADS[k] and texts.is_on(event, k) for k in closer):
                return schedule.SKIPPED
        return None

    async def _others_finish(self, job: Mapping[str, Any], user_ids: list[Any]) -> bool:
        """Whether the claims other processes hold on this job are all sent within a short wait."""
        sends = self.services.db[SENDS]
        for _ in range(int(WAIT_FOR_OTHERS / 0.2)):
            if not await sends.count_documents({"job_id": job["_id"], "round": job["round"],
                                                "user_id": {"$in": user_ids}, "state": CLAIMED}):
                return True
            await asyncio.sleep(0.2)
        return False

    async def _finish(self, job: Mapping[str, Any], state: str) -> None:
        await self.services.db[schedule.COLLECTION].update_one(
            {"_id": job["_id"], "round": job["round"], "state": schedule.PENDING},
            {"$set": {"state": state, "finished_at": utcnow(), "updated_at": utcnow()}})

    async def recipients(self, event: EventDoc, job: Mapping[str, Any]) -> list[dict[str, Any]]:
        db = self.services.db
        query: dict[str, Any] = {"scope_id": event["_id"], "role": "attendee", "state": {"$in": [REGISTERED, None]}}
        if job["kind"] == texts.SESSION:
            item = next((i for i in event["schedule"] if i["id"] == job["item_id"]), None)
            if item is None:
                return []
            if item.get("capacity") is not None:
                seats = db[session_seats.COLLECTION].find(
                    {"event_id": event["_id"], "item_id": item["id"], "state": REGISTERED}, {"user_id": 1})
                ids = [s["user_id"] async for s in seats]
            else:
                saved = db.programmes.find({"event_id": event["_id"], "item_ids": item["id"]}, {"user_id": 1})
                ids = [p["user_id"] async for p in saved]
            query["user_id"] = {"$in": ids}
        fields = {"user_id": 1, "email": 1, "name": 1, "locales": 1}
        people = [m async for m in db.memberships.find(query, fields) if m.get("email") and m.get("user_id")]
        out = await unsubscribe.opted_out(db, [m["user_id"] for m in people], TOPIC)
        return [m for m in people if m["user_id"] not in out]

    async def send_all(self, event: EventDoc, job: Mapping[str, Any]) -> list[Any]:
        """Claim and send to every recipient; returns those held by another process's live claim."""
        people = await self.recipients(event, job)
        gate = asyncio.Semaphore(CONCURRENCY)
        shared = {"url": await self._event_url(event, job)}

        async def one(membership) -> bool:
            async with gate:
                claim = await self.claim(job, membership["user_id"])
                if claim is None:
                    return True
                if claim is False:
                    return False
                # One account read by id per mail sent: an `$in` over ten thousand ids is
                # far slower on the embedded store, and most of them another process sends.
                user = await self.services.db.users.find_one({"_id": membership["user_id"]}, {"locale": 1})
                await self.send_one(event, job, membership, user, shared["url"])
                await self.services.db[SENDS].update_one({"_id": claim, "owner": self.owner},
                                                         {"$set": {"state": SENT, "sent_at": utcnow()}})
                return False

        # Each process starts at its own random point of the list, so processes
        # working the same job claim different people instead of racing for the same ones.
        if people:
            start = random.randrange(len(people))
            people = people[start:] + people[:start]
        results = await asyncio.gather(*(one(m) for m in people))
        return [m["user_id"] for m, busy in zip(people, results, strict=True) if busy]

    async def claim(self, job: Mapping[str, Any], user_id) -> Any:
        """The record's id when this process may send; False when sent already; None when held by a live claim."""
        sends = self.services.db[SENDS]
        now = utcnow()
        key = {"job_id": job["_id"], "round": job["round"], "user_id": user_id}
        try:
            result = await sends.insert_one({**key, "state": CLAIMED, "owner": self.owner, "claimed_at": now})
            return result.inserted_id
        except DuplicateKeyError:
            pass
        record = await sends.find_one(key)
        if record is None or record["state"] == SENT:
            return False
        if schedule.utc(record["claimed_at"]) > now - datetime.timedelta(seconds=LEASE_SECONDS):
            return None
        # The claim outlived its lease: its process died.  One taker wins.
        taken = await sends.update_one({"_id": record["_id"], "state": CLAIMED, "claimed_at": record["claimed_at"]},
                                       {"$set": {"owner": self.owner, "claimed_at": now}})
        return record["_id"] if taken.modified_count == 1 else None

    async def send_one(self, event: EventDoc, job: Mapping[str, Any], membership: Mapping[str, Any],
                       user: Mapping[str, Any] | None, url: str) -> None:
        services = self.services
        locale = registry.attendee_locale(event, user, membership)  # type: ignore[arg-type]
        link = unsubscribe.url(services.settings.public_url, services.settings.cookie_secret,
                               membership["user_id"], TOPIC)
        subject, text, html = compose(services.i18n, event, job, locale, name=membership.get("name") or "",
                                      event_url=url, unsubscribe_url=link, site_url=services.settings.public_url)
        await services.mailer.send(to=membership["email"], subject=subject, text=text, html=html,
                                   event_id=event["_id"], kind=f"reminder_{job['kind']}",
                                   headers=unsubscribe.headers(link))

    async def _event_url(self, event: EventDoc, job: Mapping[str, Any]) -> str:
        space = await model.get_space(self.services.db, event["space_id"])
        url = f"{self.services.settings.public_url}/e/{space['slug'] if space else ''}/{event['slug']}"
        return url + (f"#item-{job['item_id']}" if job.get("item_id") else "")


def compose(i18n, event: EventDoc, job: Mapping[str, Any], locale: str, *, name: str, event_url: str,
            unsubscribe_url: str, site_url: str) -> tuple[str, str, str]:
    """(subject, text, html) of one reminder in `locale`, from the organiser's texts or the defaults."""
    fallback = (event["default_locale"],)
    item: Mapping[str, Any] = next((i for i in event["schedule"] if i["id"] == job.get("item_id")), {})
    values = {"person_name": name, "event_title": text_for(event["title"], locale, fallback),
              "starts_at": when(schedule.utc(job["starts_at"]), event), "event_url": event_url,
              "session_title": text_for(item.get("title") or {}, locale, fallback)}
    gettext = i18n.gettext(locale)
    return templates.render(
        i18n, event, texts.TEMPLATES[job["kind"]], locale, values, site_url=site_url,
        action=(gettext("Open the event"), event_url),
        footer=[(gettext("You get this reminder because you registered for %(event)s.")
                 % {"event": values["event_title"]}, ""),
                (gettext("Stop reminders"), unsubscribe_url)])


def when(moment: datetime.datetime, event: EventDoc) -> str:
    """A time as people read it: the event's local time, with its zone named."""
    zone = event.get("timezone") or "UTC"
    shown = view.local(moment, zone) or moment
    return f"{shown:%Y-%m-%d %H:%M} ({zone})"
