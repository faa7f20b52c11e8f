"""Invitation mailings: recipients, one personal invitation each, and the funnel.

Staff pick recipients in one of three ways: the registrants of an event of
the same space, through the registrant list's filters
(`registration.filters`); the attendees of a past event (those who opened
it: `watched_at`); or a CSV file (`email,name,locale`).  A file with any
broken row is refused whole with a report of every broken row, and nothing
is written.

A mailing is a document in `invite_mailings` with one `invite_items`
document per recipient.  Each item holds the token of the recipient's
personal invitation (`registration.invitations`: the same token is the
invitation link's, so the tracked link lands on the event page with the
invitation applied; only its SHA-256 is stored).  An address that already
holds a live invitation to the event keeps it: its tracked link lands on the
event page, where that address's invitation admits it once signed in.

The funnel of a mailing, per recipient and in total:

- sent: handed to the mailer (an outbox entry exists);
- delivered: the mail server accepted it (outbox status "sent");
- opened: the tracking pixel fetched by a person; machine prefetches are
  counted apart (`invitations.tracking`);
- clicked: the tracked link followed;
- registered: the address holds an admitting registration for the event
  made after the invitation was sent;
- attended: that registration has opened the event (`watched_at`).

Sending survives a restart.  A mailing is worked by one runner at a time
under a lease it renews (`mailings.lease`), started in the background
(`start`) and continued at server start (`resume_all`) when a stop left it
pending or running; a runner that died is taken over once its lease ran
out.  Each item is claimed (pending -> sending, naming the runner), then
marked as being handed to the mailer (`handing_off_at`) by an update that
matches only while that runner still holds it, then written to the outbox,
then recorded sent.  Nobody is mailed twice: an item whose outbox entry
exists (one per address and mailing) is never sent again; an item a
stopped runner left "sending" and that has no outbox entry goes back to
pending and out again: the outbox entry carries the item's key under a
unique index (`Mailer.send`), so even a write of the stopped runner that
lands late cannot make a second mail.  Stopping on purpose first finishes
the mail in hand.

The mail is the event's "invitation" mail template (`mailings.templates`):
its text with {invitation_url}, the tracked link, as a button; the pixel and
the unsubscribe footer are added by the layout, whatever the text says.  The
staff copy in the outbox has both links hidden.

Every invitation carries the one-click unsubscribe of topic "invitations"
(`mailings.unsubscribe`), and nobody who used it is mailed an invitation
again.  The link names the recipient's account, or for an address without
one the item itself; an address counts as unsubscribed when either its
account or any earlier item to it opted out.
"""
from __future__ import annotations

import asyncio
import csv
import io
import logging
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from access import audit
from access import roles as R
from accounts.tokens import hash_token
from accounts.users import as_id, normalize_email
from attendees import registry
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_, text_for
from events import model
from events.model import EventDoc
from invitations import tracking
from mailings import lease, templates, unsubscribe
from registration import invitations

log = logging.getLogger(__name__)

MAILINGS, ITEMS = "invite_mailings", "invite_items"
TOPIC = "invitations"
KIND = "invitation"
TEMPLATE = templates.KINDS["invitation"]
STOP = N_("Stop invitations")
MAX_RECIPIENTS = 10000
MAX_CSV_BYTES = 2_000_000
PENDING, SENDING, SENT, SKIPPED, FAILED = "pending", "sending", "sent", "skipped", "failed"
RUNNING, DONE = "running", "done"
STAGES = ("recipients", "sent", "delivered", "opened", "prefetched", "clicked", "registered", "attended")


class InviteError(Refusal):
    """A refused mailing; `message` is marked for translation, `params` fill it."""


class CsvErrors(Refusal):
    """A CSV with broken rows: `rows` lists (line number, message, params) for each."""

    def __init__(self, rows: list[tuple[int, str, dict]]):
        super().__init__(N_("The file has %(count)s broken rows; nothing was imported."), count=len(rows))
        self.rows = rows


def _utc(moment):
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


# --- choosing recipients ---------------------------------------------------------------

def _person(m: Mapping[str, Any]) -> dict[str, Any]:
    return {"email": m["email"], "name": m.get("name") or "", "locale": (m.get("locales") or [""])[0],
            "user_id": m.get("user_id")}


async def from_registrants(db, target: Mapping[str, Any], source: Mapping[str, Any] | None,
                           query: dict) -> list[dict[str, Any]]:
    """The registrants of `source` (an event of the same space) that the list filters' `query` selects."""
    if source is None or source["space_id"] != target["space_id"]:
        raise InviteError(N_("Choose an event of this space."))
    return [_person(m) async for m in db.memberships.find(query) if m.get("email")]


async def from_attendees(db, target: Mapping[str, Any], past: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Those who attended `past` (an event of the same space): their registration opened it."""
    if past is None or past["space_id"] != target["space_id"] or past["_id"] == target["_id"]:
        raise InviteError(N_("Choose an event of this space."))
    found = db.memberships.find({"scope_id": past["_id"], "role": R.ATTENDEE, "watched_at": {"$ne": None}})
    return [_person(m) async for m in found if m.get("email") and m.get("watched_at")]


def from_csv(data: bytes, locales: Iterable[str]) -> list[dict[str, Any]]:
    """Rows `email[,name[,locale]]` (a header row naming "email" is skipped); CsvErrors on any broken row."""
    if len(data) > MAX_CSV_BYTES:
        raise InviteError(N_("The file is too large (at most %(size)s MB)."), size=MAX_CSV_BYTES // 1_000_000)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InviteError(N_("The file is not UTF-8 text.")) from None
    known = set(locales)
    people: list[dict[str, Any]] = []
    broken: list[tuple[int, str, dict]] = []
    seen: set[str] = set()
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or (number == 1 and cells[0].lower() in ("email", "e-mail")):
            continue
        if len(cells) > 3:
            broken.append((number, N_("Too many columns: expected email, name, language."), {}))
            continue
        email = normalize_email(cells[0]) if "@" in cells[0] and " " not in cells[0] else ""
        locale = cells[2] if len(cells) > 2 else ""
        if not email or "." not in email.rpartition("@")[2]:
            broken.append((number, N_("“%(value)s” is not an email address."), {"value": cells[0][:100]}))
        elif email in seen:
            broken.append((number, N_("%(value)s appears twice."), {"value": email}))
        elif locale and locale not in known:
            broken.append((number, N_("“%(value)s” is not one of this event's languages."), {"value": locale[:20]}))
        else:
            seen.add(email)
            people.append({"email": email, "name": cells[1][:200] if len(cells) > 1 else "",
                           "locale": locale, "user_id": None})
    if broken:
        raise CsvErrors(broken)
    if not people:
        raise InviteError(N_("The file has no addresses."))
    return people


async def suppressed(db, people: list[dict[str, Any]]) -> set[str]:
    """The addresses among `people` that opted out of invitations (by account or by an earlier item)."""
    emails = [p["email"] for p in people]
    owners: dict[ObjectId, str] = {}
    for i in range(0, len(emails), 1000):
        async for u in db.users.find({"email": {"$in": emails[i:i + 1000]}}, {"email": 1}):
            owners[u["_id"]] = u["email"]
        async for item in db[ITEMS].find({"email": {"$in": emails[i:i + 1000]}}, {"email": 1}):
            owners[item["_id"]] = item["email"]
    for p in people:
        if p.get("user_id"):
            owners[p["user_id"]] = p["email"]
    return {owners[i] for i in await unsubscribe.opted_out(db, owners, TOPIC)}


# --- making and sending ----------------------------------------------------------------

async def create(db, actor: Mapping[str, Any], event: Mapping[str, Any], people: list[dict[str, Any]],
                 source: str) -> dict[str, Any]:
    """Store a mailing with one pending item per address (repeats and opted-out addresses left out)."""
    unique: dict[str, dict[str, Any]] = {}
    for p in people:
        unique.setdefault(p["email"], p)
    if not unique:
        raise InviteError(N_("Nobody matches this choice."))
    if len(unique) > MAX_RECIPIENTS:
        raise InviteError(N_("At most %(count)s recipients at once."), count=MAX_RECIPIENTS)
    out = await suppressed(db, list(unique.values()))
    now = utcnow()
    mailing = {"_id": ObjectId(), "event_id": event["_id"], "space_id": event["space_id"], "source": source,
               "created_at": now, "created_by": actor["_id"], "total": len(unique), "unsubscribed": len(out),
               "status": PENDING, "runner": None, "lease_until": None, "started_at": None, "finished_at": None,
               "error": None}
    items = []
    for p in unique.values():
        items.append({"_id": ObjectId(), "mailing_id": mailing["_id"], "event_id": event["_id"], "email": p["email"],
                      "name": p["name"], "locale": model.locale_for(event, p.get("locale") or ""),  # type: ignore
                      "user_id": p.get("user_id"), "status": SKIPPED if p["email"] in out else PENDING,
                      "token_hash": None, "outbox_id": None, "sent_at": None, "opened_at": None, "opens": 0,
                      "prefetches": 0, "clicked_at": None, "clicks": 0})
    for i in range(0, len(items), 1000):
        await db[ITEMS].insert_many(items[i:i + 1000])
    await db[MAILINGS].insert_one(mailing)
    await audit.record(db, actor=actor, action="invitation.mailing", event=event,
                       params={"count": len(items), "source": source}, before=None, after=None)
    return mailing


async def _invitation_token(db, actor_id, event: Mapping[str, Any], email: str, item_id) -> str | None:
    """A new personal invitation's raw token, or None when the address holds a live one already.

    The invitation names the item it was made for: an item sent again after
    a stop (its first token never reached anyone) gets its invitation's
    token renewed rather than a link without the invitation.
    """
    raw, hashed = invitations._token()
    now = utcnow()
    try:
        await db.invitations.insert_one({
            "_id": ObjectId(), "event_id": event["_id"], "space_id": event["space_id"], "email": email,
            "token_hash": hashed, "created_at": now, "created_by": actor_id, "invite_item_id": item_id,
            "revoked_at": None, "used_at": None, "used_by": None})
        return raw
    except DuplicateKeyError:
        renewed = await db.invitations.update_one(
            {"event_id": event["_id"], "email": email,
             "$or": [{"revoked_at": {"$ne": None}}, {"invite_item_id": item_id, "used_at": None}]},
            {"$set": {"token_hash": hashed, "created_at": now, "created_by": actor_id, "invite_item_id": item_id,
                      "revoked_at": None, "used_at": None, "used_by": None}})
        return raw if renewed.modified_count else None


def start(services, mailing_id) -> asyncio.Task:
    """Send a mailing in the background; the task is kept until it ends and cancelled at shutdown."""
    return services.spawn(run(services, mailing_id))


async def resume_all(services) -> list[asyncio.Task]:
    """Continue every mailing a stop left pending or running (called at server start)."""
    ids = await services.db[MAILINGS].distinct("_id", {"status": {"$in": [PENDING, RUNNING]}})
    return [start(services, mailing_id) for mailing_id in ids]


async def run(services, mailing_id) -> int:
    """Send every pending item of a mailing under its lease, then mark it done; how many this run sent."""
    db = services.db
    runner = secrets.token_hex(8)
    mailing = await lease.acquire(db[MAILINGS], mailing_id, runner, waiting=(PENDING, RUNNING), running=RUNNING)
    if mailing is None:
        return 0
    hold = lease.Lease(db[MAILINGS], mailing_id, runner)
    sent = 0
    try:
        if not mailing.get("started_at"):
            await db[MAILINGS].update_one({"_id": mailing_id}, {"$set": {"started_at": utcnow()}})
        event = await model.get_event(db, mailing["event_id"])
        if event is None:
            raise RuntimeError("the event of this mailing no longer exists")
        space = await model.get_space(db, event["space_id"])
        event_path = f"/e/{space['slug'] if space else ''}/{event['slug']}"
        await _settle_interrupted(db, mailing_id, event_path)
        while await hold.keep():
            item = await db[ITEMS].find_one_and_update(
                {"mailing_id": mailing_id, "status": PENDING},
                {"$set": {"status": SENDING, "runner": runner, "claimed_at": utcnow()}},
                sort=[("_id", 1)], return_document=True)
            if item is None:
                break
            try:
                sent += await _send_one(services, event, mailing, item, runner, event_path)
            except Exception as exc:
                log.exception("invitation failed", extra={"mailing_id": str(mailing_id)})
                await db[ITEMS].update_one({"_id": item["_id"], "runner": runner}, {"$set": {
                    "status": FAILED, "error": str(exc)[:500] or type(exc).__name__}})
        if not hold.lost:
            await _finish(db, mailing_id, runner, DONE)
    except asyncio.CancelledError:
        # Shutting down: give the lease back so the next start resumes at once.
        await hold.release()
        raise
    except Exception as exc:
        log.exception("invitation mailing failed", extra={"mailing_id": str(mailing_id)})
        await _finish(db, mailing_id, runner, FAILED, error=str(exc)[:500] or type(exc).__name__)
    return sent


async def _finish(db, mailing_id, runner: str, status: str, error: str | None = None) -> None:
    await db[MAILINGS].update_one({"_id": mailing_id, "runner": runner}, {"$set": {
        "status": status, "error": error, "finished_at": utcnow(), "lease_until": None}})


async def _outbox_entry(db, mailing_id, email: str) -> dict | None:
    """The item's outbox entry, if it was written: one item per address and mailing, so (mailing, address)."""
    return await db.outbox.find_one({"mailing_id": mailing_id, "to": email}, {"_id": 1, "status": 1})


async def _mark_sent(db, item: Mapping[str, Any], outbox_id, event_path: str) -> None:
    await db[ITEMS].update_one({"_id": item["_id"]}, {"$set": {
        "status": SENT, "sent_at": utcnow(), "outbox_id": outbox_id, "event_path": event_path}})


async def _settle_interrupted(db, mailing_id, event_path: str) -> None:
    """Items a stopped runner left "sending", decided by what reached the outbox; never mailed twice.

    Written to the outbox: sent.  Not written: pending again, so it goes out
    now; its outbox key keeps a late write of the stopped runner from making
    a second mail.
    """
    async for item in db[ITEMS].find({"mailing_id": mailing_id, "status": SENDING}):
        entry = await _outbox_entry(db, mailing_id, item["email"])
        if entry:
            await _mark_sent(db, item, entry["_id"], event_path)
        else:
            await db[ITEMS].update_one({"_id": item["_id"], "status": SENDING},
                                       {"$set": {"status": PENDING, "runner": None}})


async def _send_one(services, event: EventDoc, mailing: Mapping[str, Any], item: dict, runner: str,
                    event_path: str) -> int:
    """Compose and hand one claimed item to the mailer; 1 if this call sent it."""
    db = services.db
    mine = {"_id": item["_id"], "status": SENDING, "runner": runner}
    # Asked again at the moment of sending: an opt-out made since the mailing was created counts.
    if await suppressed(db, [item]):
        await db[ITEMS].update_one(mine, {"$set": {"status": SKIPPED}})
        return 0
    entry = await _outbox_entry(db, mailing["_id"], item["email"])
    if entry:  # written by a runner that stopped before recording it: not sent again
        await _mark_sent(db, item, entry["_id"], event_path)
        return 0
    public = services.settings.public_url
    raw = await _invitation_token(db, mailing["created_by"], event, item["email"], item["_id"])
    track = raw or invitations._token()[0]
    account = await db.users.find_one({"email": item["email"]}, {"_id": 1})
    link = unsubscribe.url(public, services.settings.cookie_secret, account["_id"] if account else item["_id"], TOPIC)
    locale, i18n = item["locale"], services.i18n
    gettext = i18n.gettext(locale)
    values = {"person_name": item["name"], "event_title": text_for(event["title"], locale, (event["default_locale"],))}
    subject, text, html = templates.render(
        i18n, event, TEMPLATE, locale, {**values, "invitation_url": f"{public}/i/c/{track}"}, site_url=public,
        footer=[(gettext(STOP), link)], pixel_url=f"{public}/i/o/{track}.gif")
    # The staff copy hides the personal link (it admits whoever holds it) and the unsubscribe link.
    staff = templates.render(i18n, event, TEMPLATE, locale, values, site_url=public, staff=True,
                             footer=[(f"{gettext(STOP)}: {templates.hidden(i18n, locale)}", "")])
    # From this update on the item is being handed to the mailer: a runner that finds it so
    # after a stop never sends it again, and one that took it over meanwhile makes this match nothing.
    fenced = await db[ITEMS].update_one(mine, {"$set": {
        "token_hash": hash_token(track), "has_invitation": raw is not None, "handing_off_at": utcnow()}})
    if fenced.modified_count != 1:
        return 0
    handing = asyncio.ensure_future(_hand_off(services, event, mailing, item, event_path, link,
                                              (subject, text, html), staff))
    try:
        await asyncio.shield(handing)
    except asyncio.CancelledError:
        # Stopping: the mail in hand is written and recorded first, so a restart never finds it half done.
        await asyncio.wait([handing])
        raise
    return 1


async def _hand_off(services, event: EventDoc, mailing: Mapping[str, Any], item: Mapping[str, Any], event_path: str,
                    link: str, message: tuple[str, str, str], staff: tuple[str, str, str]) -> None:
    subject, text, html = message
    entry = await services.mailer.send(to=item["email"], subject=subject, text=text, html=html,
                                       event_id=event["_id"], kind=KIND, mailing_id=mailing["_id"],
                                       staff_copy=staff, headers=unsubscribe.headers(link),
                                       key=f"invitation:{item['_id']}")
    await _mark_sent(services.db, item, entry.get("_id"), event_path)


# --- tracking ----------------------------------------------------------------------------

async def _item(db, raw: str) -> dict | None:
    if not raw or len(raw) > invitations.MAX_TOKEN:
        return None
    return await db[ITEMS].find_one({"token_hash": hash_token(raw)})


async def record_open(db, raw: str, ip: str, user_agent: str) -> None:
    item = await _item(db, raw)
    if item is None:
        return
    entry = await db.outbox.find_one({"_id": item["outbox_id"]}, {"sent_at": 1}) if item.get("outbox_id") else None
    now = utcnow()
    if tracking.is_prefetch(ip, user_agent, _utc((entry or {}).get("sent_at")), now):
        await db[ITEMS].update_one({"_id": item["_id"]}, {"$inc": {"prefetches": 1}})
    else:
        await db[ITEMS].update_one({"_id": item["_id"]}, {"$inc": {"opens": 1}})
        await db[ITEMS].update_one({"_id": item["_id"], "opened_at": None}, {"$set": {"opened_at": now}})


async def record_click(db, raw: str) -> str | None:
    """Where the tracked link leads (the event page, with the invitation when it is this link's); None if unknown."""
    item = await _item(db, raw)
    if item is None:
        return None
    now = utcnow()
    await db[ITEMS].update_one({"_id": item["_id"]}, {"$inc": {"clicks": 1}})
    await db[ITEMS].update_one({"_id": item["_id"], "clicked_at": None}, {"$set": {"clicked_at": now}})
    path = item.get("event_path") or "/"
    return f"{path}/about?invite={raw}" if item.get("has_invitation") else f"{path}/about"


# --- the funnel ---------------------------------------------------------------------------

async def rows(db, mailing: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each recipient with the stages they reached (see the module docstring), by address."""
    items = await db[ITEMS].find({"mailing_id": mailing["_id"]}).sort("email", 1).to_list(None)
    outbox_ids = [i["outbox_id"] for i in items if i.get("outbox_id")]
    delivered = {e["_id"] async for e in db.outbox.find({"_id": {"$in": outbox_ids}, "status": "sent"}, {"_id": 1})}
    regs: dict[str, dict] = {}
    emails = [i["email"] for i in items]
    for i in range(0, len(emails), 1000):
        async for m in db.memberships.find({"scope_id": mailing["event_id"], "role": R.ATTENDEE,
                                            "email": {"$in": emails[i:i + 1000]}, **registry.ADMITTING}):
            regs[m["email"]] = m
    out = []
    for item in items:
        reg = regs.get(item["email"])
        sent_at = _utc(item.get("sent_at"))
        registered = bool(reg and sent_at and _utc(reg.get("created_at")) and _utc(reg["created_at"]) >= sent_at)
        out.append({
            "email": item["email"], "name": item.get("name", ""), "locale": item.get("locale", ""),
            "unsubscribed": item["status"] == SKIPPED, "sent": bool(item.get("outbox_id")),
            "delivered": item.get("outbox_id") in delivered, "opened": bool(item.get("opens")),
            "opens": item.get("opens", 0), "prefetched": item.get("prefetches", 0) > 0,
            "prefetches": item.get("prefetches", 0), "clicked": bool(item.get("clicks")),
            "registered": registered, "attended": registered and bool(reg and reg.get("watched_at"))})
    return out


def totals(people: list[dict[str, Any]]) -> dict[str, int]:
    counts = {stage: sum(1 for p in people if p.get(stage)) for stage in STAGES[1:]}
    return {"recipients": len(people), "unsubscribed": sum(1 for p in people if p["unsubscribed"]), **counts}


async def listing(db, event_id) -> list[dict[str, Any]]:
    return await db[MAILINGS].find({"event_id": event_id}).sort("created_at", -1).to_list(200)


async def get(db, event_id, mailing_id) -> dict | None:
    oid = as_id(mailing_id)
    return await db[MAILINGS].find_one({"_id": oid, "event_id": event_id}) if oid else None
