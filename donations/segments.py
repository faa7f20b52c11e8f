"""Donor segments: a space's saved queries over its confirmed donations.

A segment names the donors of a space who match every criterion it sets:

- `category`: gave to at least one campaign of that category;
- `min_amount` / `max_amount` (minor units of the segment's `currency`):
  their confirmed gifts in that currency, refunds taken off, add up to at
  least / at most that;
- `within_days`: their latest gift is at most that many days old;
- `locale`: the language of their latest gift;
- `kind`: `registered` (gave signed in) or `guest`;
- `history`: `first` (one gift) or `returning` (more than one).

A donor is a donation's `donor_key` ("u:<account>" or "e:<address>"), as
the totals count them.  Members are computed, never stored: one aggregation
over the space's confirmed donations (the index `space_state_donor` keeps
its first stage to those documents, in donor order), so the staff page's
preview and a send read the same thing.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from bson import ObjectId

from access import audit
from core import money
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import LOCALES, N_
from donations import campaigns
from donations.totals import CONFIRMED, DONATIONS

SEGMENTS = "donor_segments"
REGISTERED, GUEST = "registered", "guest"
KINDS = {REGISTERED: N_("Registered donors"), GUEST: N_("Guests")}
FIRST, RETURNING = "first", "returning"
HISTORIES = {FIRST: N_("First-time donors (one gift)"), RETURNING: N_("Returning donors (more than one gift)")}
MAX_NAME = 120
MAX_DAYS = 3650


class SegmentError(Refusal):
    """A segment's form refused; nothing was stored."""


NOT_FOUND = N_("This segment does not exist.")


def blank_form() -> dict[str, str]:
    return {"name": "", "category": "", "currency": "EUR", "min_amount": "", "max_amount": "", "within_days": "",
            "locale": "", "kind": "", "history": ""}


def form_of(segment: Mapping[str, Any]) -> dict[str, str]:
    """A stored segment as its staff form shows it."""
    c = segment["criteria"]

    def amount(value: int | None) -> str:
        return money.plain(int(value), c["currency"]) if value is not None else ""
    return {"name": segment["name"], "category": c["category"], "currency": c["currency"],
            "min_amount": amount(c["min_amount"]), "max_amount": amount(c["max_amount"]),
            "within_days": str(c["within_days"]) if c["within_days"] else "", "locale": c["locale"],
            "kind": c["kind"], "history": c["history"]}


def clean(raw: Mapping[str, Any], *, need_name: bool = True) -> dict[str, Any]:
    """{"name", "criteria"} of a staff form; SegmentError on the first bad field."""
    name = " ".join(str(raw.get("name") or "").split())
    if need_name and not name:
        raise SegmentError(N_("Give the segment a name."))
    if len(name) > MAX_NAME:
        raise SegmentError(N_("A name is at most %(max)s characters."), max=MAX_NAME)
    category = str(raw.get("category") or "")
    if category and category not in campaigns.CATEGORIES:
        raise SegmentError(N_("Choose a category."))
    currency = str(raw.get("currency") or "").strip().upper()
    if currency not in money.CURRENCIES:
        raise SegmentError(N_("Unknown currency “%(currency)s”."), currency=currency[:8])
    bounds: list[int | None] = []
    for field in ("min_amount", "max_amount"):
        text = str(raw.get(field) or "").strip()
        if not text:
            bounds.append(None)
            continue
        try:
            bounds.append(money.parse(text, currency))
        except money.MoneyError as exc:
            raise SegmentError(exc.message, **exc.params) from None
    low, high = bounds
    if low is not None and high is not None and low > high:
        raise SegmentError(N_("The smallest total is more than the largest."))
    days_text = str(raw.get("within_days") or "").strip()
    within_days = None
    if days_text:
        if not days_text.isdigit() or not 1 <= int(days_text) <= MAX_DAYS:
            raise SegmentError(N_("The number of days is a whole number from 1 to %(max)s."), max=MAX_DAYS)
        within_days = int(days_text)
    locale = str(raw.get("locale") or "")
    if locale and locale not in LOCALES:
        raise SegmentError(N_("Choose a language."))
    kind = str(raw.get("kind") or "")
    if kind and kind not in KINDS:
        raise SegmentError(N_("Choose registered donors or guests."))
    history = str(raw.get("history") or "")
    if history and history not in HISTORIES:
        raise SegmentError(N_("Choose first-time or returning donors."))
    return {"name": name, "criteria": {"category": category, "currency": currency, "min_amount": low,
                                       "max_amount": high, "within_days": within_days, "locale": locale,
                                       "kind": kind, "history": history}}


async def pipeline(db, space_id: Any, criteria: Mapping[str, Any],
                   now: datetime.datetime | None = None) -> list[dict]:
    """The aggregation whose output is one document per member donor."""
    cur = criteria["currency"]
    in_category: Any = 1
    if criteria["category"]:
        ids = await db[campaigns.CAMPAIGNS].distinct("_id", {"space_id": space_id,
                                                              "category": criteria["category"]})
        in_category = {"$cond": [{"$in": ["$campaign_id", ids]}, 1, 0]}
    group = {
        "_id": "$donor_key",
        "gifts": {"$sum": 1},
        "total": {"$sum": {"$cond": [{"$eq": ["$currency", cur]}, {"$subtract": ["$amount", "$refunded"]}, 0]}},
        "last": {"$max": "$confirmed_at"},
        "in_category": {"$max": in_category},
        # Sorted by time below: the latest gift's language, account and address.
        "locale": {"$last": "$donor.locale"},
        "user_id": {"$last": "$donor.user_id"},
        "email": {"$last": "$donor.email"},
        "name": {"$last": "$donor.name"},
    }
    keep: dict[str, Any] = {}
    if criteria["category"]:
        keep["in_category"] = 1
    if criteria["min_amount"] is not None or criteria["max_amount"] is not None:
        keep["total"] = {}
        if criteria["min_amount"] is not None:
            keep["total"]["$gte"] = criteria["min_amount"]
        if criteria["max_amount"] is not None:
            keep["total"]["$lte"] = criteria["max_amount"]
    if criteria["within_days"]:
        keep["last"] = {"$gte": (now or utcnow()) - datetime.timedelta(days=criteria["within_days"])}
    if criteria["locale"]:
        keep["locale"] = criteria["locale"]
    if criteria["kind"] == REGISTERED:
        keep["user_id"] = {"$ne": None}
    elif criteria["kind"] == GUEST:
        keep["user_id"] = None
    if criteria["history"] == FIRST:
        keep["gifts"] = 1
    elif criteria["history"] == RETURNING:
        keep["gifts"] = {"$gt": 1}
    return [{"$match": {"space_id": space_id, "state": CONFIRMED}},
            {"$sort": {"donor_key": 1, "confirmed_at": 1}},
            {"$group": group},
            {"$match": keep}]


async def count(db, space_id: Any, criteria: Mapping[str, Any]) -> int:
    """How many donors the criteria name now (the staff page's preview)."""
    cursor = await db[DONATIONS].aggregate([*await pipeline(db, space_id, criteria), {"$count": "n"}])
    found = await cursor.to_list(1)
    return int(found[0]["n"]) if found else 0


async def members(db, space_id: Any, criteria: Mapping[str, Any]) -> list[dict]:
    """The member donors: {_id: donor_key, user_id, email, locale, name, ...}, by donor key."""
    cursor = await db[DONATIONS].aggregate([*await pipeline(db, space_id, criteria), {"$sort": {"_id": 1}}])
    return await cursor.to_list(None)


async def create(db, actor: Mapping[str, Any], space: Mapping[str, Any], values: Mapping[str, Any]) -> dict:
    now = utcnow()
    segment = {"_id": ObjectId(), "space_id": space["_id"], **values, "created_at": now, "updated_at": now}
    await db[SEGMENTS].insert_one(segment)
    await audit.record(db, actor=actor, action="donations.segment_create", space_id=space["_id"],
                       params={"segment_id": segment["_id"]}, after=dict(values))
    return segment


async def update(db, actor: Mapping[str, Any], segment: Mapping[str, Any], values: Mapping[str, Any]) -> dict:
    await db[SEGMENTS].update_one({"_id": segment["_id"], "space_id": segment["space_id"]},
                                  {"$set": {**values, "updated_at": utcnow()}})
    await audit.record(db, actor=actor, action="donations.segment_update", space_id=segment["space_id"],
                       params={"segment_id": segment["_id"]},
                       before={k: segment.get(k) for k in values}, after=dict(values))
    return {**segment, **values}


async def get(db, segment_id: Any, space_id: Any) -> dict | None:
    """The segment, if it exists in that space."""
    oid = campaigns.as_id(segment_id)
    return await db[SEGMENTS].find_one({"_id": oid, "space_id": space_id}) if oid else None


async def listing(db, space_id: Any) -> list[dict]:
    return await db[SEGMENTS].find({"space_id": space_id}).sort([("name", 1)]).to_list(500)
