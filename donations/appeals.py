"""Appeals: a notification to a donor segment, by Web Push or by mail, sent in the background.

An appeal names a segment (`donations.segments`), a campaign of the same
space, a channel (`push` or `mail`) and a short message from staff.  It is
made once per staff form (a unique key), with one `donation_appeal_items`
document per recipient fixed at that moment: for push, each subscription
of the segment's donors (`donations.push`); for mail, each donor's latest
address.  Then a background runner sends it, like the sign-in mailings
(`mailings.lease`: one runner at a time, resumed after a restart), each
item claimed pending -> sending -> sent, failed or skipped, and the
appeal's counts show staff its progress.

Each notification opens the campaign's page with its gift dialog open and
the gift attributed to the channel: `/campaigns/<id>?src=push#give`
(or `src=mail`).  Push: the title is the campaign's title in the
browser's language, the body the staff message; a subscription revoked
since the appeal was made is skipped, and one the push service calls gone
(404/410) is deleted (`push.deliver`).  Mail: through the outbox in the
donor's language with the one-click unsubscribe of topic "donations"
(`mailings.unsubscribe`), asked again just before each message, so an
address that opted out is not written to; the outbox's key
(`appeal-<appeal>-<donor>`) writes each donor's message once.  An item a
stopped runner left "sending" is sent again: a mail finds its outbox entry
by the key, a push is repeated under the same notification tag, which the
browser shows once.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from access import audit
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from donations import campaigns, push, segments
from mailings import lease, messages, unsubscribe
from mailings import mailer as mail_status

log = logging.getLogger(__name__)

APPEALS = "donation_appeals"
ITEMS = "donation_appeal_items"
PUSH, MAIL = "push", "mail"
CHANNELS = {PUSH: N_("Web Push"), MAIL: N_("Mail")}
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
PENDING, SENDING, SENT, SKIPPED = "pending", "sending", "sent", "skipped"
TOPIC = "donations"
MAIL_KIND = "donation_appeal"
MAX_MESSAGE = 300
CONCURRENCY = {PUSH: 8, MAIL: 2}
KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class AppealError(Refusal):
    """An appeal refused; nothing was stored or sent."""


NOT_FOUND = N_("This appeal does not exist.")
NO_ONE = N_("Nobody in this segment can be reached this way.")


def gift_url(public_url: str, campaign: Mapping[str, Any], channel: str) -> str:
    """Where a notification leads: the campaign's page with its gift dialog open, attributed to the channel.

    A mail needs the whole address (`public_url` the site's); a push carries the path alone.
    """
    return f"{public_url}/campaigns/{campaign['_id']}?src={channel}#give"


def optout_subject(member: Mapping[str, Any]) -> ObjectId:
    """Whose opt-out a donor's mail asks: their account, or (a guest) an id derived from their address."""
    if member.get("user_id"):
        return member["user_id"]
    return ObjectId(hashlib.sha256(f"donor\n{member['email']}".encode()).digest()[:12])


async def create(services, actor: Mapping[str, Any], space: Mapping[str, Any], *, segment_id: str,
                 campaign_id: str, channel: str, message: str, key: str) -> dict:
    """Store a queued appeal with its recipients (once per form key); `start` sends it.  AppealError else."""
    db = services.db
    key = (key or "").strip()
    if not (8 <= len(key) <= 64 and set(key) <= KEY_CHARS):
        raise AppealError(N_("This form has expired: please open it again."))
    existing = await db[APPEALS].find_one({"space_id": space["_id"], "key": key})
    if existing is not None:
        return existing
    segment = await segments.get(db, segment_id, space["_id"])
    if segment is None:
        raise AppealError(segments.NOT_FOUND)
    campaign = await campaigns.get(db, campaign_id, space["_id"])
    if campaign is None or not campaigns.taking(campaign):
        raise AppealError(N_("Choose a campaign that takes gifts."))
    if channel not in CHANNELS:
        raise AppealError(N_("Choose how to send."))
    message = " ".join((message or "").split())
    if not message:
        raise AppealError(N_("Write the message."))
    if len(message) > MAX_MESSAGE:
        raise AppealError(N_("A message is at most %(max)s characters."), max=MAX_MESSAGE)
    donors = await segments.members(db, space["_id"], segment["criteria"])
    appeal_id = ObjectId()
    if channel == PUSH:
        subs = await push.of_donors(db, space["_id"], [d["_id"] for d in donors])
        items = [{"appeal_id": appeal_id, "target": str(s["_id"]), "subscription_id": s["_id"]} for s in subs]
    else:
        items = [{"appeal_id": appeal_id, "target": d["_id"], "email": d["email"], "user_id": d.get("user_id"),
                  "locale": d.get("locale") or "en", "name": d.get("name") or ""} for d in donors if d.get("email")]
    if not items:
        raise AppealError(NO_ONE)
    for item in items:
        item.update(status=PENDING, error=None, done_at=None)
    # Items first: a crash in between leaves orphan items, never an appeal that claims recipients it lacks.
    for i in range(0, len(items), 1000):
        await db[ITEMS].insert_many(items[i:i + 1000])
    appeal = {"_id": appeal_id, "space_id": space["_id"], "key": key, "segment_id": segment["_id"],
              "segment_name": segment["name"], "campaign_id": campaign["_id"], "channel": channel,
              "message": message, "total": len(items), "sent": 0, "failed": 0, "skipped": 0, "status": QUEUED,
              "error": None, "created_at": utcnow(), "created_by": actor["_id"], "created_by_email": actor.get("email"),
              "started_at": None, "finished_at": None, "runner": None, "lease_until": None}
    try:
        await db[APPEALS].insert_one(appeal)
    except DuplicateKeyError:
        # The same form twice at once: the other request made it; these items are not its.
        await db[ITEMS].delete_many({"appeal_id": appeal_id})
        found = await db[APPEALS].find_one({"space_id": space["_id"], "key": key})
        if found is None:
            raise
        return found
    await audit.record(db, actor=actor, action="donations.appeal_start", space_id=space["_id"],
                       params={"appeal_id": appeal_id, "segment_id": segment["_id"], "campaign_id": campaign["_id"],
                               "channel": channel, "total": len(items)})
    return appeal


# --- running ------------------------------------------------------------------------------------------

def start(services, appeal_id) -> asyncio.Task:
    return services.spawn(run(services, appeal_id))


async def resume_all(services) -> list[asyncio.Task]:
    """Restart every appeal a stop left queued or running (called at server start)."""
    ids = await services.db[APPEALS].distinct("_id", {"status": {"$in": [QUEUED, RUNNING]}})
    return [start(services, appeal_id) for appeal_id in ids]


async def run(services, appeal_id) -> None:
    db = services.db
    runner = secrets.token_hex(8)
    appeal = await lease.acquire(db[APPEALS], appeal_id, runner, waiting=(QUEUED, RUNNING), running=RUNNING)
    if appeal is None:
        return
    hold = lease.Lease(db[APPEALS], appeal_id, runner)
    try:
        if not appeal.get("started_at"):
            await db[APPEALS].update_one({"_id": appeal_id}, {"$set": {"started_at": utcnow()}})
        campaign = await campaigns.get(db, appeal["campaign_id"])
        if campaign is None:
            raise RuntimeError("the campaign of this appeal no longer exists")
        # Left "sending" by a runner that stopped: sent again (see the module docstring).
        await db[ITEMS].update_many({"appeal_id": appeal_id, "status": SENDING}, {"$set": {"status": PENDING}})
        sender = await _sender(services, appeal, campaign)
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(CONCURRENCY[appeal["channel"]]):
                    group.create_task(_worker(services, appeal, hold, sender))
        finally:
            await sender.close()
        if hold.lost:
            return
        await _finish(db, appeal_id, runner, DONE)
    except asyncio.CancelledError:
        await hold.release()
        raise
    except Exception as exc:
        log.exception("appeal failed", extra={"appeal_id": str(appeal_id)})
        while isinstance(exc, ExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        await _finish(db, appeal_id, runner, FAILED, error=str(exc)[:500] or type(exc).__name__)


async def _finish(db, appeal_id, runner: str, status: str, error: str | None = None) -> None:
    # Counted from the items, so the totals are right whatever happened on the way.
    counts = {name: await db[ITEMS].count_documents({"appeal_id": appeal_id, "status": name})
              for name in (SENT, FAILED, SKIPPED)}
    await db[APPEALS].update_one({"_id": appeal_id, "runner": runner},
                                 {"$set": {"status": status, "sent": counts[SENT], "failed": counts[FAILED],
                                           "skipped": counts[SKIPPED], "error": error, "finished_at": utcnow(),
                                           "lease_until": None}})


async def _worker(services, appeal: dict, hold: lease.Lease, sender) -> None:
    db = services.db
    while await hold.keep():
        item = await db[ITEMS].find_one_and_update({"appeal_id": appeal["_id"], "status": PENDING},
                                                   {"$set": {"status": SENDING}}, sort=[("_id", 1)])
        if not item:
            return
        try:
            status, error = await sender.send(item)
        except Exception as exc:
            log.exception("appeal item failed", extra={"appeal_id": str(appeal["_id"])})
            status, error = FAILED, str(exc)[:300] or type(exc).__name__
        await db[ITEMS].update_one({"_id": item["_id"]},
                                   {"$set": {"status": status, "error": error, "done_at": utcnow()}})
        await db[APPEALS].update_one({"_id": appeal["_id"]}, {"$inc": {status: 1}})


async def _sender(services, appeal: dict, campaign: dict):
    if appeal["channel"] == PUSH:
        return _PushSender(services, appeal, campaign, await push.vapid(services))
    return _MailSender(services, appeal, campaign)


class _PushSender:
    def __init__(self, services, appeal: dict, campaign: dict, keys):
        self.services, self.appeal, self.campaign, self.keys = services, appeal, campaign, keys
        self.client = push.client()
        self.contact = push.subject(services.settings)

    async def send(self, item: dict) -> tuple[str, str | None]:
        db = self.services.db
        subscription = await db[push.SUBSCRIPTIONS].find_one({"_id": item["subscription_id"]})
        if subscription is None:
            return SKIPPED, "unsubscribed"
        payload = {"title": campaigns.title(self.campaign, subscription["locale"]), "body": self.appeal["message"],
                   # A path: the worker opens it on its own origin, whatever BASE_URL says.
                   "url": gift_url("", self.campaign, PUSH),
                   "tag": f"appeal-{self.appeal['_id']}"}
        delivered, answer = await push.deliver(db, self.client, self.keys, self.contact, subscription, payload)
        return (SENT, None) if delivered else (FAILED, answer)

    async def close(self) -> None:
        await self.client.aclose()


class _MailSender:
    def __init__(self, services, appeal: dict, campaign: dict):
        self.services, self.appeal, self.campaign = services, appeal, campaign

    async def send(self, item: dict) -> tuple[str, str | None]:
        services, s = self.services, self.services.settings
        who = optout_subject(item)
        if await unsubscribe.opted_out(services.db, [who], TOPIC):
            return SKIPPED, "unsubscribed"
        locale = item["locale"]
        link = unsubscribe.url(s.public_url, s.cookie_secret, who, TOPIC)
        subject, text, html = messages.render(
            services.i18n, locale, MAIL_KIND, person_name=item.get("name") or "",
            campaign_title=campaigns.title(self.campaign, locale), message=self.appeal["message"],
            gift_url=gift_url(s.public_url, self.campaign, MAIL), unsubscribe_url=link, site_url=s.public_url)
        entry = await services.mailer.send(to=item["email"], subject=subject, text=text, html=html, kind=MAIL_KIND,
                                           headers=unsubscribe.headers(link),
                                           key=f"appeal-{self.appeal['_id']}-{item['target']}")
        if entry["status"] == mail_status.FAILED:
            return FAILED, str(entry.get("error") or "not delivered")[:300]
        return SENT, None

    async def close(self) -> None:
        pass


# --- reading ---------------------------------------------------------------------------------------------

async def get(db, appeal_id: Any, space_id: Any) -> dict | None:
    oid = campaigns.as_id(appeal_id)
    return await db[APPEALS].find_one({"_id": oid, "space_id": space_id}) if oid else None


async def of_space(db, space_id: Any, limit: int = 50) -> list[dict]:
    return await db[APPEALS].find({"space_id": space_id}).sort([("created_at", -1)]).to_list(limit)


def progress(appeal: Mapping[str, Any]) -> dict:
    total = appeal["total"] or 0
    done = appeal["sent"] + appeal["failed"] + appeal["skipped"]
    return {"done": done, "pending": max(0, total - done),
            "percent": 100 if not total else min(100, round(100 * done / total)),
            "running": appeal["status"] in (QUEUED, RUNNING)}
