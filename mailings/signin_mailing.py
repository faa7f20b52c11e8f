"""Sign-in mailings: every chosen attendee gets, in their language, a single-use
sign-in link and their login, plus a generated password when their account
has none yet.

An account that already has a password keeps it: the mail tells its owner
to use it (or to choose a new one through "Forgot your password?").  Staff
of one event do not govern the accounts of its attendees, which may be
staff elsewhere, so a mailing must never hand them a credential: the outbox
keeps only a copy with the link, login and password hidden
(`mailings.mailer`), rendered from what staff entered (the registration's name
and language), so it does not tell whether the account existed either.
The texts are the event's "signin" mail template (`mailings.templates`);
the staff copy is the same template with the link, login and password
replaced by the hidden marker.

A mailing is a document with its progress (total, sent, failed, status) and
one `mailing_items` document per recipient (pending -> sending -> sent or
failed).  Sending runs in a background task; the state lives in the
database so that a restart resumes exactly where it stopped:

- one runner at a time holds a mailing through a lease (`runner`,
  `lease_until`, `mailings.lease`) that it renews while it works; a second process, or a
  restart while the old lease is still valid, waits for the lease to lapse
  before taking over;
- each item is claimed atomically (pending -> sending) before its mail is
  composed, so no recipient is mailed twice by two runners;
- an item left in "sending" by a runner that died is settled from the
  outbox: a message that reached the outbox counts as sent (the generated
  password, parked on the item, is applied then), one that did not goes
  back to pending.

A generated password is set only once the message has been handed off
(stored in the outbox, or accepted by the SMTP server), and only if the
account still has no password then: a failed delivery changes nothing, and
a password its owner chose meanwhile stays.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import secrets
from typing import Any

from bson import ObjectId

from access import audit
from access import roles as R
from access.roles import MembershipDoc
from accounts import passwords, tokens, users
from accounts.users import AccountDoc
from attendees import registry
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_, text_for
from core.pagination import Page
from events import model
from events.model import EventDoc
from mailings import lease, templates
from mailings import mailer as mail_status

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
PENDING, SENDING, SENT = "pending", "sending", "sent"
ALL, NEVER_MAILED, ONE_LOCALE = "all", "never_mailed", "locale"
AUDIENCES = (ALL, NEVER_MAILED, ONE_LOCALE)
PER_PAGE = 50
# Each recipient costs one argon2 hash (tens of MB of memory, tens of ms of
# CPU) and one SMTP conversation; two at a time overlaps the network waits
# without letting a big mailing take over the machine.
CONCURRENCY = 2
KIND = templates.KINDS["signin"]


class MailingError(Refusal):
    """A refused mailing; `message` is marked for translation, `params` fill it."""


# --- choosing recipients ----------------------------------------------------------

def clean_audience(event: EventDoc, audience: str, locale: str = "") -> tuple[str, str | None]:
    if audience not in AUDIENCES:
        raise MailingError(N_("Choose who gets the mailing."))
    if audience != ONE_LOCALE:
        return audience, None
    if locale not in event["locales"]:
        raise MailingError(N_("Choose one of this event's languages."))
    return audience, locale


async def recipients(db, event: EventDoc, audience: str, locale: str | None = None
                     ) -> list[tuple[MembershipDoc, dict[str, Any]]]:
    """(membership, user) of every attendee the mailing goes to, by email.

    Only registrations that admit (`attendees.registry.ADMITTING`): a sign-in
    link is for watching, which a pending, waiting, cancelled or rejected
    registration does not allow.
    """
    query: dict = {"scope_id": event["_id"], "role": R.ATTENDEE, **registry.ADMITTING}
    if audience == NEVER_MAILED:
        query["mailed_at"] = None
    found: list[tuple[MembershipDoc, dict[str, Any]]] = []  # the accounts without their password hash
    batch: list[MembershipDoc] = []

    async def flush():
        people = {u["_id"]: u async for u in db.users.find(
            {"_id": {"$in": [m["user_id"] for m in batch]}}, {"password_hash": 0})}
        for m in batch:
            user = people.get(m["user_id"])
            # The language staff registered them with: the account's own
            # choice would let the count tell staff about the account.
            if user and (audience != ONE_LOCALE or registry.registration_locale(event, m) == locale):
                found.append((m, user))
        batch.clear()

    async for m in db.memberships.find(query).sort([("email", 1)]):
        batch.append(m)
        if len(batch) >= 1000:
            await flush()
    await flush()
    return found


async def active(db, event_id) -> dict | None:
    """The event's mailing that is still queued or running, if any."""
    return await db.mailings.find_one({"event_id": event_id, "status": {"$in": [QUEUED, RUNNING]}})


async def create(db, event: EventDoc, *, audience: str, locale: str | None, actor: AccountDoc | None) -> dict:
    """Store a queued mailing with one pending item per recipient; `start` sends it."""
    audience, locale = clean_audience(event, audience, locale or "")
    if await active(db, event["_id"]):
        raise MailingError(N_("A mailing for this event is still being sent. Wait until it has finished."))
    people = await recipients(db, event, audience, locale)
    if not people:
        raise MailingError(N_("No attendees match this choice."))
    mailing_id = ObjectId()
    now = utcnow()
    items = [{"mailing_id": mailing_id, "user_id": user["_id"], "email": user["email"],
              "status": PENDING, "error": None, "outbox_id": None, "sent_at": None}
             for _, user in people]
    # Items first: a crash in between leaves orphan items, never a mailing
    # that claims recipients it does not have.
    for i in range(0, len(items), 1000):
        await db.mailing_items.insert_many(items[i:i + 1000])
    mailing = {
        "_id": mailing_id, "event_id": event["_id"], "audience": audience, "locale": locale,
        "total": len(items), "sent": 0, "failed": 0, "status": QUEUED, "error": None,
        "created_at": now, "created_by": actor["_id"] if actor else None,
        "created_by_email": actor["email"] if actor else None,
        "started_at": None, "finished_at": None, "runner": None, "lease_until": None,
    }
    await db.mailings.insert_one(mailing)
    await audit.record(db, actor=actor, action="mailing.start", event=event,
                       params={"mailing_id": str(mailing_id), "audience": audience,
                               "locale": locale, "total": len(items)})
    return mailing


# --- running -------------------------------------------------------------------------

def start(services, mailing_id) -> asyncio.Task:
    """Send a mailing in the background; the task is kept until it ends."""
    return services.spawn(run(services, mailing_id))


async def resume_all(services) -> list[asyncio.Task]:
    """Restart every mailing a stop left queued or running (called at server start)."""
    ids = await services.db.mailings.distinct("_id", {"status": {"$in": [QUEUED, RUNNING]}})
    return [start(services, mailing_id) for mailing_id in ids]


async def run(services, mailing_id) -> None:
    """Send every pending item of a mailing, then record the outcome."""
    db = services.db
    runner = secrets.token_hex(8)
    mailing = await lease.acquire(db.mailings, mailing_id, runner, waiting=(QUEUED, RUNNING), running=RUNNING)
    if mailing is None:
        return
    hold = lease.Lease(db.mailings, mailing_id, runner)
    try:
        if not mailing.get("started_at"):
            await db.mailings.update_one({"_id": mailing_id}, {"$set": {"started_at": utcnow()}})
        event = await model.get_event(db, mailing["event_id"])
        if not event:
            raise RuntimeError("the event of this mailing no longer exists")
        await _settle_interrupted(services, event, mailing_id)
        # A task group: if one worker fails, its siblings stop too rather
        # than go on sending for a mailing already marked failed.
        async with asyncio.TaskGroup() as group:
            for _ in range(CONCURRENCY):
                group.create_task(_worker(services, event, mailing, hold))
        if hold.lost:
            return
        await _finish(db, mailing_id, runner, DONE)
    except asyncio.CancelledError:
        # Shutting down: give the lease back so the next start resumes at once.
        await hold.release()
        raise
    except Exception as exc:
        log.exception("mailing failed", extra={"mailing_id": str(mailing_id)})
        while isinstance(exc, ExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        await _finish(db, mailing_id, runner, FAILED, error=str(exc)[:500] or type(exc).__name__)


async def _finish(db, mailing_id, runner: str, status: str, error: str | None = None) -> None:
    # Counted from the items, so the totals are right whatever happened on the way.
    sent = await db.mailing_items.count_documents({"mailing_id": mailing_id, "status": SENT})
    failed = await db.mailing_items.count_documents({"mailing_id": mailing_id, "status": FAILED})
    await db.mailings.update_one(
        {"_id": mailing_id, "runner": runner},
        {"$set": {"status": status, "sent": sent, "failed": failed, "error": error,
                  "finished_at": utcnow(), "lease_until": None}})


async def _worker(services, event: EventDoc, mailing: dict, hold: lease.Lease) -> None:
    db = services.db
    while await hold.keep():
        item = await db.mailing_items.find_one_and_update(
            {"mailing_id": mailing["_id"], "status": PENDING},
            {"$set": {"status": SENDING, "claimed_at": utcnow()}}, sort=[("_id", 1)])
        if not item:
            return
        try:
            await send_one(services, event, mailing, item)
        except Exception as exc:
            log.exception("mailing item failed", extra={"mailing_id": str(mailing["_id"])})
            await _settle(db, mailing["_id"], item, FAILED, error=str(exc)[:500] or type(exc).__name__)


async def _settle(db, mailing_id, item: dict, status: str, error: str | None = None,
                  outbox_id=None) -> None:
    now = utcnow()
    await db.mailing_items.update_one(
        {"_id": item["_id"]},
        {"$set": {"status": status, "error": error, "outbox_id": outbox_id,
                  "sent_at": now if status == SENT else None},
         "$unset": {"new_hash": ""}})
    await db.mailings.update_one({"_id": mailing_id}, {"$inc": {"sent" if status == SENT else "failed": 1}})


async def _handed_off(db, event_id, user_id, new_hash: str | None) -> None:
    """What a delivered sign-in mail makes true: its password (if still none) and its mailed date."""
    if new_hash:
        await users.set_first_password_hash(db, user_id, new_hash)
    await db.memberships.update_one({"user_id": user_id, "scope_id": event_id, "role": R.ATTENDEE},
                                    {"$set": {"mailed_at": utcnow()}})


def _values(services, event: EventDoc, locale: str, name: str) -> dict[str, str]:
    s = services.settings
    return {"person_name": name, "event_title": text_for(event["title"], locale, (event["default_locale"],)),
            "signin_url": s.public_url + "/signin",
            "link_valid_for": templates.link_valid_for(services.i18n, locale, s.signin_link_ttl_hours)}


def render_signin(services, event: EventDoc, user: AccountDoc, locale: str, link: str, password: str | None):
    """(subject, text, html) of a sign-in mail in `locale`; `password` None: they keep their own."""
    s = services.settings
    if password is None:
        password = services.i18n.gettext(locale)(templates.OWN_PASSWORD) % {"url": s.public_url + "/password/forgot"}
    values = {**_values(services, event, locale, user.get("name", "")),
              "signin_link": link, "login": user["login"], "password": password}
    return templates.render(services.i18n, event, KIND, locale, values, site_url=s.public_url)


def render_signin_for_staff(services, event: EventDoc, membership: MembershipDoc):
    """The outbox copy of a sign-in mail: the registration's name and language, no secrets.

    Nothing of the account goes in (its name, language, login, whether it
    has a password), so the copy is the same for a new and an existing one;
    the link, login and password show the hidden marker (`templates.render`
    with `staff`).
    """
    locale = registry.registration_locale(event, membership)
    return templates.render(services.i18n, event, KIND, locale,
                            _values(services, event, locale, membership.get("name", "")),
                            site_url=services.settings.public_url, staff=True)


async def send_one(services, event: EventDoc, mailing: dict, item: dict) -> str:
    """Compose and send one claimed item; returns its final status."""
    db, s = services.db, services.settings
    user = await users.by_id(db, item["user_id"])
    membership = await registry.find_membership(db, event["_id"], item["user_id"]) if user else None
    if not user or not membership:
        await _settle(db, mailing["_id"], item, FAILED, error="no longer registered for this event")
        return FAILED
    locale = registry.attendee_locale(event, user, membership)
    raw = await tokens.issue(db, user["_id"], tokens.SIGNIN,
                             datetime.timedelta(hours=s.signin_link_ttl_hours), event_id=event["_id"])
    try:
        password = new_hash = None
        if not user.get("password_hash"):
            password = passwords.generate_password()
            new_hash = await services.hasher.hash(password)
            # Parked on the item so a crash after the hand-off still applies it.
            await db.mailing_items.update_one({"_id": item["_id"]}, {"$set": {"new_hash": new_hash}})
        subject, text, html = render_signin(services, event, user, locale,
                                            f"{s.public_url}/signin/link/{raw}", password)
        entry = await services.mailer.send(to=user["email"], subject=subject, text=text, html=html,
                                           event_id=event["_id"], kind="signin", mailing_id=mailing["_id"],
                                           staff_copy=render_signin_for_staff(services, event, membership),
                                           final=True)
    except Exception:
        await db.tokens.delete_one({"token_hash": tokens.hash_token(raw)})
        raise
    if entry["status"] in (mail_status.SENT, mail_status.STORED):
        await _handed_off(db, event["_id"], user["_id"], new_hash)
        await _settle(db, mailing["_id"], item, SENT, outbox_id=entry.get("_id"))
        return SENT
    # Not delivered: the link was never seen, and nothing about the account changed.
    await db.tokens.delete_one({"token_hash": tokens.hash_token(raw)})
    await _settle(db, mailing["_id"], item, FAILED, error=entry.get("error") or "not delivered",
                  outbox_id=entry.get("_id"))
    return FAILED


async def _settle_interrupted(services, event: EventDoc, mailing_id) -> None:
    """Items a dead runner left in "sending": decided by what reached the outbox."""
    db = services.db
    async for item in db.mailing_items.find({"mailing_id": mailing_id, "status": SENDING}):
        entry = await db.outbox.find_one({"mailing_id": mailing_id, "to": item["email"]},
                                         sort=[("created_at", -1)])
        if not entry:
            await db.mailing_items.update_one({"_id": item["_id"]},
                                              {"$set": {"status": PENDING}, "$unset": {"new_hash": ""}})
        elif entry["status"] in (mail_status.SENT, mail_status.STORED):
            await _handed_off(db, event["_id"], item["user_id"], item.get("new_hash"))
            await _settle(db, mailing_id, item, SENT, outbox_id=entry["_id"])
        else:
            # "queued": the process stopped mid-conversation with the SMTP
            # server; resending could deliver twice, so staff decide.
            await _settle(db, mailing_id, item, FAILED, outbox_id=entry["_id"],
                          error=entry.get("error") or "interrupted while sending")


# --- reading ----------------------------------------------------------------------------

async def get(db, event_id, mailing_id) -> dict | None:
    oid = users.as_id(mailing_id)
    return await db.mailings.find_one({"_id": oid, "event_id": event_id}) if oid else None


async def history(db, event_id, page_number: int) -> tuple[list[dict], Page]:
    query = {"event_id": event_id}
    page = Page(page_number, PER_PAGE, await db.mailings.count_documents(query))
    items = await db.mailings.find(query).sort([("created_at", -1), ("_id", -1)]) \
        .skip(page.skip).limit(PER_PAGE).to_list(None)
    return items, page


async def failures(db, mailing_id, page_number: int) -> tuple[list[dict], Page]:
    query = {"mailing_id": mailing_id, "status": FAILED}
    page = Page(page_number, PER_PAGE, await db.mailing_items.count_documents(query))
    items = await db.mailing_items.find(query, {"new_hash": 0}).sort([("_id", 1)]) \
        .skip(page.skip).limit(PER_PAGE).to_list(None)
    return items, page


def progress(mailing: dict) -> dict:
    total = mailing["total"] or 0
    done = mailing["sent"] + mailing["failed"]
    return {"done": done, "pending": max(0, total - done),
            "percent": 100 if not total else min(100, round(100 * done / total)),
            "running": mailing["status"] in (QUEUED, RUNNING)}
