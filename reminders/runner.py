"""Sending reminders: every process sweeps for due jobs, and each mail goes to each person once.

The sweep (`Runner.sweep`, every `SWEEP_SECONDS` in every process, started
by `server.start_background`) first re-derives the jobs of every event whose
`updated_at` moved since its last look (`reminders.schedule.sync`), then
works every due job.  A due job is worked by whichever processes see it, at
the same time if they happen to.  Each person's mail of a job's round is an
outbox entry with a key naming (job, round, person), and the outbox keeps
one entry per key (`Mailer.send_many`): the process whose entry is written
sends it, the others skip that person.  From there the mailer owns it: an
entry whose process stopped is taken over once its lease runs out, and a
message is never handed to the mail server twice (`mailings.mailer`).  So
each reminder reaches each person once, with several processes and after a
crash mid-send; a job is done once every recipient has their entry.

For speed with thousands of registrants, people are taken in chunks (their
accounts read together, the chunk's entries written in one call, two chunks
in flight so one is composed while the other goes out), the mail is
rendered once per language with markers where each person's name and link go
(`Composer`), and the mailer reuses its connections to the mail server.

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
import random
import secrets
from collections.abc import Mapping
from typing import Any

from markupsafe import escape

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

TOPIC = "reminders"
SWEEP_SECONDS = 5.0
# People per chunk: their accounts are read, and their mails written, in one call each.
CHUNK = 200
# Events edited this long before the last look are looked at again: clocks
# of processes differ a little, and an edit is stamped before it is stored.
SYNC_SLACK = datetime.timedelta(seconds=60)


class Runner:
    """One process's reminder sweep: what it has looked at, and the jobs it is working."""

    def __init__(self, services):
        self.services = services
        self.seen_until: datetime.datetime | None = None
        self.working: dict[Any, asyncio.Task] = {}

    async def sweep(self) -> None:
        await self.sync_changed()
        db = self.services.db
        # Jobs falling due before the next sweep are started at their due time, not up to a sweep late.
        soon = utcnow() + datetime.timedelta(seconds=SWEEP_SECONDS)
        due = db[schedule.COLLECTION].find({"state": schedule.PENDING, "due_at": {"$lte": soon}})
        async for job in due:
            if job["_id"] not in self.working:
                task = self.services.spawn(self.work_when_due(job))
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

    async def work_when_due(self, job: Mapping[str, Any]) -> str:
        wait = (schedule.utc(job["due_at"]) - utcnow()).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
        return await self.work(job)

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
        await self.send_all(event, job)
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

    async def send_all(self, event: EventDoc, job: Mapping[str, Any]) -> int:
        """Write and send the mail of every recipient who has none yet; how many this process wrote."""
        people = await self.recipients(event, job)
        # Each process starts at its own random point of the list, so processes
        # working the same job write different people's mail instead of racing for the same.
        if people:
            start = random.randrange(len(people))
            people = people[start:] + people[:start]
        services = self.services
        composer = Composer(services, event, job, await self._event_url(event, job))
        gate = asyncio.Semaphore(2)

        async def chunk(part: list[dict[str, Any]]) -> int:
            async with gate:
                keys = {m["user_id"]: key(job, m["user_id"]) for m in part}
                have = {e["key"] async for e in services.db.outbox.find({"key": {"$in": list(keys.values())}},
                                                                       {"key": 1})}
                part = [m for m in part if keys[m["user_id"]] not in have]
                if not part:
                    return 0
                users = {u["_id"]: u async for u in services.db.users.find(
                    {"_id": {"$in": [m["user_id"] for m in part]}}, {"locale": 1})}
                mails = [{**composer.mail(m, users.get(m["user_id"])), "key": keys[m["user_id"]]} for m in part]
                written, _ = await services.mailer.send_many(mails, event_id=event["_id"],
                                                             kind=f"reminder_{job['kind']}")
                return len(written)

        counts = await asyncio.gather(*(chunk(people[i:i + CHUNK]) for i in range(0, len(people), CHUNK)))
        return sum(counts)

    async def _event_url(self, event: EventDoc, job: Mapping[str, Any]) -> str:
        space = await model.get_space(self.services.db, event["space_id"])
        url = f"{self.services.settings.public_url}/e/{space['slug'] if space else ''}/{event['slug']}"
        return url + (f"#item-{job['item_id']}" if job.get("item_id") else "")


def key(job: Mapping[str, Any], user_id) -> str:
    """The outbox key of one person's mail of one round of a job: written once, sent once."""
    return f"reminder:{job['_id']}:{job['round']}:{user_id}"


class Composer:
    """One job's mail for each person: rendered once per language, then each person's name and link put in.

    Rendering (the template, the layout, inlining its CSS) costs far more
    than the mail itself; the parts that differ per person are left as
    markers no text can contain (a random nonce) and replaced, escaped for
    HTML in the HTML part.
    """

    def __init__(self, services, event: EventDoc, job: Mapping[str, Any], url: str):
        self.services, self.event, self.job, self.url = services, event, job, url
        nonce = secrets.token_hex(8)
        self.name_mark, self.link_mark = f"LHNAME{nonce}X", f"LHLINK{nonce}X"
        self.rendered: dict[str, tuple[str, str, str]] = {}

    def mail(self, membership: Mapping[str, Any], user: Mapping[str, Any] | None) -> dict[str, Any]:
        """The `Mailer.send_many` arguments of one person's reminder."""
        settings = self.services.settings
        locale = registry.attendee_locale(self.event, user, membership)  # type: ignore[arg-type]
        parts = self.rendered.get(locale)
        if parts is None:
            parts = self.rendered[locale] = compose(
                self.services.i18n, self.event, self.job, locale, name=self.name_mark, event_url=self.url,
                unsubscribe_url=self.link_mark, site_url=settings.public_url)
        name = membership.get("name") or ""
        link = unsubscribe.url(settings.public_url, settings.cookie_secret, membership["user_id"], TOPIC)
        subject, text, html = parts

        def put(part: str, who: str, where: str) -> str:
            return part.replace(self.name_mark, who).replace(self.link_mark, where)
        return {"to": membership["email"], "subject": put(subject, " ".join(name.split()), link),
                "text": put(text, name, link),
                "html": put(html, str(escape(name)), str(escape(link))),
                "headers": unsubscribe.headers(link)}


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
