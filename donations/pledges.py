"""Monthly pledges: a signed-in donor gives the same amount to a campaign each month with a saved card.

A pledge (`donation_pledges`) holds the amount and currency, the campaign,
the saved card, its state (active, paused, cancelled), the day of the
month it is anchored to (the day it was made; the 31st is charged on a
shorter month's last day), the period due (``YYYY-MM``) and when it is due.

The sweep (`sweep`, every `SWEEP_SECONDS` in every process, given the
moment to act at) charges each due pledge for its period through
`donations.giving.give`, with the key ``pledge-<pledge id>-<period>``: the
one donation of that period, unique per campaign, paid by one payment
attempt per try (``donation-<donation id>[-<try>]``).  Two processes
sweeping at once, or a sweep repeated, find that donation and that attempt
and charge nothing more.  The period moves on (one guarded update from the
period it read) once the period's gift is confirmed by the provider's
notification; it counts in the campaign's totals like any gift.

A declined charge is tried again `RETRY_DAYS` later, at most `MAX_TRIES`
times in all; then the pledge is paused and the donor mailed in their
language.  The donor pauses, resumes and cancels their pledges in their
cabinet; removing the card pauses the pledges it paid.  Every change is
audited.
"""
from __future__ import annotations

import calendar
import datetime
import logging
import re
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from access import audit
from core import money
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import LOCALES, N_, text_for
from donations import campaigns, giving, saved_cards
from mailings import messages

log = logging.getLogger(__name__)

PLEDGES = "donation_pledges"
ACTIVE, PAUSED, CANCELLED = "active", "paused", "cancelled"
STATES = (ACTIVE, PAUSED, CANCELLED)
STATE_LABELS = {ACTIVE: N_("active"), PAUSED: N_("paused"), CANCELLED: N_("cancelled")}
MAX_TRIES = 3
RETRY_DAYS = 2
SWEEP_SECONDS = 60.0
PAUSED_MAIL = "pledge_paused"
KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
FAILED_STATES = ("failed", "cancelled", "requires_action")

NOT_FOUND = N_("This monthly gift does not exist.")
CANNOT = N_("This monthly gift cannot be changed so: it is %(state)s.")


class PledgeError(Refusal):
    """A pledge action refused; nothing changed."""


# --- periods ------------------------------------------------------------------------------------

def period_of(moment: datetime.datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def _next(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def charge_at(period: str, day: int) -> datetime.datetime:
    """When a period is due: its anchored day (the month's last when shorter), at midnight UTC."""
    year, month = int(period[:4]), int(period[5:7])
    last = calendar.monthrange(year, month)[1]
    return datetime.datetime(year, month, min(day, last), tzinfo=datetime.UTC)


def following(period: str, day: int, now: datetime.datetime) -> tuple[str, datetime.datetime]:
    """The period after `period` (periods missed while paused are skipped, never charged late)."""
    nxt = _next(period)
    if charge_at(nxt, day) < now:
        nxt = period_of(now)
        if charge_at(nxt, day) < now:
            nxt = _next(nxt)
    return nxt, charge_at(nxt, day)


def _aware(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


# --- the donor's actions ------------------------------------------------------------------------

async def create(services, campaign: Mapping[str, Any], user: Mapping[str, Any], *, amount: str, currency: str,
                 card_id: str, key: str, locale: str = "en", anonymous: bool = False,
                 now: datetime.datetime | None = None) -> dict:
    """A monthly pledge for this form's `key` (made once; the same key again finds it), charged now."""
    db = services.db
    now = now or utcnow()
    key = (key or "").strip()
    if not KEY.match(key):
        raise giving.GiftError(giving.BAD_KEY)
    minor = giving.amount_of(amount, (currency or "").strip().upper(), campaign, locale)
    existing = await db[PLEDGES].find_one({"user_id": user["_id"], "key": key})
    if existing is None:
        if not campaigns.taking(campaign):
            raise giving.GiftError(giving.NOT_TAKING)
        card = await saved_cards.own(services, user, card_id, campaign["space_id"])
        period = period_of(now)
        pledge = {
            "_id": ObjectId(), "space_id": campaign["space_id"], "campaign_id": campaign["_id"],
            "user_id": user["_id"], "key": key, "card_id": card["_id"],
            "card_label": f"{card['brand'].upper()} {card['last4']}",
            "amount": minor, "currency": campaign["currency"], "state": ACTIVE, "day": now.day,
            "period": period, "next_charge_at": now, "tries": 0, "failures": 0, "last_failure": "",
            "anonymous": bool(anonymous), "locale": locale if locale in LOCALES else "en",
            "created_at": now, "updated_at": now,
        }
        try:
            await db[PLEDGES].insert_one(pledge)
        except DuplicateKeyError:
            existing = await db[PLEDGES].find_one({"user_id": user["_id"], "key": key})
            if existing is None:
                raise
        else:
            await audit.record(db, actor=user, action="donations.pledge_create", space_id=campaign["space_id"],
                               params={"pledge_id": pledge["_id"], "campaign_id": campaign["_id"], "amount": minor,
                                       "currency": campaign["currency"], "day": now.day})
            await charge(services, pledge, now)
            return await get(db, pledge["_id"]) or pledge
    if existing["amount"] != minor or existing["campaign_id"] != campaign["_id"] or \
            str(existing["card_id"]) != str(card_id):
        raise giving.GiftError(giving.KEY_REUSED)
    return existing


async def from_gift(services, user: Mapping[str, Any], donation: Mapping[str, Any], card: Mapping[str, Any]) -> dict:
    """The pledge a paid card gift asked for ("every month"): that gift is its first month (once per gift)."""
    db = services.db
    now = donation.get("confirmed_at") or utcnow()
    now = _aware(now)
    period = period_of(now)
    nxt, at = following(period, now.day, now)
    pledge = {
        "_id": ObjectId(), "space_id": donation["space_id"], "campaign_id": donation["campaign_id"],
        "user_id": user["_id"], "key": f"gift-{donation['_id']}", "card_id": card["_id"],
        "card_label": f"{card['brand'].upper()} {card['last4']}", "amount": donation["amount"],
        "currency": donation["currency"], "state": ACTIVE, "day": now.day, "period": nxt, "next_charge_at": at,
        "tries": 0, "failures": 0, "last_failure": "", "anonymous": bool(donation.get("anonymous")),
        "locale": donation["donor"].get("locale") or "en", "last_donation_id": donation["_id"],
        "created_at": now, "updated_at": now,
    }
    try:
        await db[PLEDGES].insert_one(pledge)
    except DuplicateKeyError:
        return await db[PLEDGES].find_one({"user_id": user["_id"], "key": pledge["key"]}) or pledge
    await db[giving.DONATIONS].update_one({"_id": donation["_id"]},
                                          {"$set": {"pledge_id": pledge["_id"], "period": period}})
    await audit.record(db, actor=user, action="donations.pledge_create", space_id=donation["space_id"],
                       params={"pledge_id": pledge["_id"], "campaign_id": donation["campaign_id"],
                               "amount": donation["amount"], "currency": donation["currency"], "day": now.day,
                               "donation_id": donation["_id"]})
    return pledge


async def get(db, pledge_id: Any) -> dict | None:
    oid = campaigns.as_id(pledge_id)
    return await db[PLEDGES].find_one({"_id": oid}) if oid else None


async def of_user(db, user_id: Any) -> list[dict]:
    return await db[PLEDGES].find({"user_id": user_id}).sort([("created_at", -1)]).to_list(100)


async def of_campaign(db, campaign_id: Any, limit: int = 500) -> list[dict]:
    """A campaign's pledges for its staff, newest first."""
    return await db[PLEDGES].find({"campaign_id": campaign_id}).sort([("created_at", -1)]).to_list(limit)


async def _own(db, user: Mapping[str, Any], pledge_id: Any) -> dict:
    oid = campaigns.as_id(pledge_id)
    found = await db[PLEDGES].find_one({"_id": oid, "user_id": user["_id"]}) if oid else None
    if found is None:
        raise PledgeError(NOT_FOUND)
    return found


async def change(services, user: Mapping[str, Any], pledge_id: Any, action: str,
                 now: datetime.datetime | None = None) -> dict:
    """The donor pauses, resumes or cancels their pledge; a move its state does not allow is refused."""
    db = services.db
    now = now or utcnow()
    pledge = await _own(db, user, pledge_id)
    moves = {"pause": ((ACTIVE,), PAUSED), "resume": ((PAUSED,), ACTIVE), "cancel": ((ACTIVE, PAUSED), CANCELLED)}
    if action not in moves:
        raise PledgeError(NOT_FOUND)
    sources, target = moves[action]
    fields: dict[str, Any] = {"state": target, "updated_at": now}
    if action == "resume":
        await saved_cards.own(services, user, pledge["card_id"])
        # Due again from now; a period whose tries ran out gets a new try, and missed months are not charged.
        fields.update(failures=0, last_failure="", tries=pledge["tries"] + 1 if pledge["failures"] else pledge["tries"],
                      next_charge_at=max(_aware(pledge["next_charge_at"]), now))
    moved = await db[PLEDGES].find_one_and_update({"_id": pledge["_id"], "state": {"$in": list(sources)}},
                                                  {"$set": fields}, return_document=True)
    if moved is None:
        raise PledgeError(CANNOT, state=STATE_LABELS.get(pledge["state"], pledge["state"]))
    await audit.record(db, actor=user, action=f"donations.pledge_{action}", space_id=pledge["space_id"],
                       params={"pledge_id": pledge["_id"], "campaign_id": pledge["campaign_id"]},
                       before={"state": pledge["state"]}, after={"state": target})
    return moved


async def card_gone(services, user: Mapping[str, Any], card_id: Any) -> None:
    """The card paying these pledges was removed: the active ones are paused (audited each)."""
    db = services.db
    async for pledge in db[PLEDGES].find({"user_id": user["_id"], "card_id": card_id, "state": ACTIVE}):
        moved = await db[PLEDGES].update_one({"_id": pledge["_id"], "state": ACTIVE},
                                             {"$set": {"state": PAUSED, "updated_at": utcnow(),
                                                       "last_failure": "card removed"}})
        if moved.modified_count:
            await audit.record(db, actor=user, action="donations.pledge_pause", space_id=pledge["space_id"],
                               params={"pledge_id": pledge["_id"], "why": "card removed"},
                               before={"state": ACTIVE}, after={"state": PAUSED})


# --- the sweep ----------------------------------------------------------------------------------

async def sweep(services, now: datetime.datetime | None = None) -> int:
    """Charge every pledge due at `now` for its period; how many were looked at."""
    now = now or utcnow()
    seen = 0
    async for pledge in services.db[PLEDGES].find({"state": ACTIVE, "next_charge_at": {"$lte": now}}).limit(500):
        seen += 1
        try:
            await charge(services, pledge, now)
        except Exception:
            log.exception("pledge charge failed", extra={"pledge_id": str(pledge["_id"])})
    return seen


async def charge(services, pledge: Mapping[str, Any], now: datetime.datetime) -> None:
    """Take one due pledge as far as it goes: its period's gift made (once), confirmed, or declined."""
    db = services.db
    campaign = await campaigns.get(db, pledge["campaign_id"])
    user = await db.users.find_one({"_id": pledge["user_id"]})
    guard = {"_id": pledge["_id"], "state": ACTIVE, "period": pledge["period"], "tries": pledge["tries"]}
    if campaign is None or user is None:
        await _pause(services, pledge, guard, "campaign or account gone", now, mail=False)
        return
    key = f"pledge-{pledge['_id']}-{pledge['period']}"
    existing = await db[giving.DONATIONS].find_one({"campaign_id": campaign["_id"], "key": key})
    try:
        if existing is not None and int(existing.get("try") or 0) < pledge["tries"]:
            donation = await giving.retry(services, campaign, existing, pledge["tries"])
        else:
            donation = await giving.give(
                services, campaign, amount=money.plain(pledge["amount"], pledge["currency"]),
                currency=pledge["currency"], key=key, method=giving.SAVED, user=user,
                locale=pledge.get("locale") or "en", anonymous=bool(pledge.get("anonymous")),
                card_id=str(pledge["card_id"]), pledge=pledge)
    except Refusal as exc:
        # The campaign closed, the card was removed: nothing was charged; the donor is told.
        await _pause(services, pledge, guard, exc.message, now)
        return
    if donation["state"] in (giving.CONFIRMED, giving.REFUNDED):
        nxt, at = following(pledge["period"], pledge["day"], now)
        await db[PLEDGES].update_one(guard, {"$set": {"period": nxt, "next_charge_at": at, "tries": 0,
                                                      "failures": 0, "last_failure": "",
                                                      "last_donation_id": donation["_id"], "updated_at": now}})
        return
    attempt = donation.get("attempt") or {}
    if attempt.get("state") not in FAILED_STATES:
        return   # paid at the provider or on its way: its notification confirms the gift
    failure = attempt.get("failure") or {}
    why = str(failure.get("message") or failure.get("code") or "declined")[:300]
    if pledge["failures"] + 1 >= MAX_TRIES:
        await _pause(services, pledge, guard, why, now, failures=pledge["failures"] + 1)
        return
    await db[PLEDGES].update_one(guard, {"$set": {
        "tries": pledge["tries"] + 1, "failures": pledge["failures"] + 1, "last_failure": why,
        "next_charge_at": now + datetime.timedelta(days=RETRY_DAYS), "updated_at": now}})


async def _pause(services, pledge: Mapping[str, Any], guard: Mapping[str, Any], why: str,
                 now: datetime.datetime, *, failures: int | None = None, mail: bool = True) -> None:
    fields: dict[str, Any] = {"state": PAUSED, "last_failure": why[:300], "updated_at": now}
    if failures is not None:
        fields["failures"] = failures
    moved = await services.db[PLEDGES].update_one(dict(guard), {"$set": fields})
    if not moved.modified_count:
        return
    await audit.record(services.db, actor=None, action="donations.pledge_pause", space_id=pledge["space_id"],
                       params={"pledge_id": pledge["_id"], "why": why[:300], "period": pledge["period"]},
                       before={"state": ACTIVE}, after={"state": PAUSED})
    if mail:
        await mail_paused(services, pledge)


async def mail_paused(services, pledge: Mapping[str, Any]) -> bool:
    """Tell the donor their pledge is paused, in their language; once per pledge and period."""
    db = services.db
    user = await db.users.find_one({"_id": pledge["user_id"]})
    campaign = await campaigns.get(db, pledge["campaign_id"])
    if user is None or campaign is None or not user.get("email"):
        return False
    locale = user.get("locale") if user.get("locale") in LOCALES else pledge.get("locale") or "en"
    s = services.settings
    try:
        subject, text, html = messages.render(
            services.i18n, locale, PAUSED_MAIL, person_name=user.get("name") or "",
            campaign_title=text_for(campaign["title"], locale, (campaign.get("default_locale") or "en",)),
            amount=money.format(int(pledge["amount"]), pledge["currency"], locale),
            manage_url=f"{s.public_url}/me/giving", site_url=s.public_url)
        await services.mailer.send(to=user["email"], subject=subject, text=text, html=html, kind=PAUSED_MAIL,
                                   key=f"pledge-paused-{pledge['_id']}-{pledge['period']}")
        return True
    except Exception:
        log.exception("pledge mail failed", extra={"pledge_id": str(pledge["_id"])})
        return False
