"""Campaigns: what a space raises money for, written by its staff, read by everyone.

A campaign belongs to one space and takes one currency: its goal is an
integer number of that currency's minor units.  Its title and story are
per locale (at least one title), its category one of `CATEGORIES`, its state
one of `STATES`: a draft is seen by staff only, an open campaign takes
gifts, a closed one is shown but takes none (nor does one past its
deadline).  A campaign may name an event of its space.

What a campaign has raised, and from how many donors, is not stored on
it: it is the campaign's counter (`donations.totals`), moved once by each
confirmed donation and each refund, so the total shown equals their sum.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from access import audit
from core import money
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import LOCALES, N_, text_for

CAMPAIGNS = "donation_campaigns"

DRAFT, OPEN, CLOSED = "draft", "open", "closed"
STATES = (DRAFT, OPEN, CLOSED)
STATE_LABELS = {DRAFT: N_("Draft"), OPEN: N_("Open"), CLOSED: N_("Closed")}
PUBLIC_STATES = (OPEN, CLOSED)

CATEGORIES: dict[str, str] = {
    "water": N_("Water"), "education": N_("Education"), "health": N_("Health"), "food": N_("Food"),
    "emergency": N_("Emergency relief"), "other": N_("Other"),
}

MAX_TITLE = 200
MAX_STORY = 20000


class CampaignError(Refusal):
    """A campaign's form or action refused; nothing was stored."""


NOT_FOUND = N_("This campaign does not exist.")


def as_id(value: Any) -> ObjectId | None:
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(str(value))
    except (InvalidId, TypeError):
        return None


def blank_form() -> dict[str, Any]:
    return {"title": {}, "story": {}, "category": "other", "state": DRAFT, "goal": "", "currency": "EUR",
            "deadline": "", "event_id": ""}


def form_of(campaign: Mapping[str, Any]) -> dict[str, Any]:
    """A stored campaign as its staff form shows it."""
    deadline = campaign.get("deadline")
    return {"title": dict(campaign.get("title") or {}), "story": dict(campaign.get("story") or {}),
            "category": campaign["category"], "state": campaign["state"],
            "goal": money.plain(int(campaign["goal"]), campaign["currency"]), "currency": campaign["currency"],
            "deadline": deadline.date().isoformat() if deadline else "",
            "event_id": str(campaign.get("event_id") or "")}


async def clean(db, space: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """The stored values of a staff form; CampaignError (naming the field) on the first bad one."""
    title = {c: str(v).strip() for c, v in (raw.get("title") or {}).items() if c in LOCALES and str(v).strip()}
    if not title:
        raise CampaignError(N_("Give the campaign a title in at least one language."))
    if any(len(t) > MAX_TITLE for t in title.values()):
        raise CampaignError(N_("A title is at most %(max)s characters."), max=MAX_TITLE)
    story = {c: str(v).strip() for c, v in (raw.get("story") or {}).items() if c in LOCALES and str(v).strip()}
    if any(len(t) > MAX_STORY for t in story.values()):
        raise CampaignError(N_("A story is at most %(max)s characters."), max=MAX_STORY)
    category = str(raw.get("category") or "")
    if category not in CATEGORIES:
        raise CampaignError(N_("Choose a category."))
    state = str(raw.get("state") or "")
    if state not in STATES:
        raise CampaignError(N_("Choose a state."))
    currency = str(raw.get("currency") or "").upper()
    if currency not in money.CURRENCIES:
        raise CampaignError(N_("Unknown currency “%(currency)s”."), currency=currency[:8])
    goal = money.parse(str(raw.get("goal") or ""), currency)
    if goal <= 0:
        raise CampaignError(N_("The goal must be more than zero."))
    deadline = None
    text = str(raw.get("deadline") or "").strip()
    if text:
        try:
            day = datetime.date.fromisoformat(text)
        except ValueError:
            raise CampaignError(N_("The deadline is not a date.")) from None
        # The whole day counts: gifts are taken until its end (UTC).
        deadline = datetime.datetime.combine(day, datetime.time(23, 59, 59), tzinfo=datetime.UTC)
    event_id = None
    if str(raw.get("event_id") or "").strip():
        event = await db.events.find_one({"_id": as_id(raw["event_id"]), "space_id": space["_id"]}, {"_id": 1})
        if event is None:
            raise CampaignError(N_("This event does not exist."))
        event_id = event["_id"]
    default_locale = next(c for c in LOCALES if c in title)
    return {"title": title, "story": story, "category": category, "state": state, "goal": goal,
            "currency": currency, "deadline": deadline, "event_id": event_id, "default_locale": default_locale}


async def create(db, actor: Mapping[str, Any], space: Mapping[str, Any], values: Mapping[str, Any]) -> dict:
    now = utcnow()
    campaign = {"_id": ObjectId(), "space_id": space["_id"], **values, "created_at": now, "updated_at": now}
    await db[CAMPAIGNS].insert_one(campaign)
    await audit.record(db, actor=actor, action="donations.campaign_create", space_id=space["_id"],
                       params={"campaign_id": campaign["_id"]}, after=values)
    return campaign


async def update(db, actor: Mapping[str, Any], campaign: Mapping[str, Any], values: Mapping[str, Any]) -> dict:
    """Change a campaign's form.  Its currency is fixed once it has a donation (its totals are in it)."""
    if values["currency"] != campaign["currency"] and \
            await db.donations.find_one({"campaign_id": campaign["_id"]}, {"_id": 1}):
        raise CampaignError(N_("The currency cannot change once the campaign has donations."))
    await db[CAMPAIGNS].update_one({"_id": campaign["_id"], "space_id": campaign["space_id"]},
                                   {"$set": {**values, "updated_at": utcnow()}})
    await audit.record(db, actor=actor, action="donations.campaign_update", space_id=campaign["space_id"],
                       params={"campaign_id": campaign["_id"]},
                       before={k: campaign.get(k) for k in values}, after=dict(values))
    return {**campaign, **values}


async def get(db, campaign_id: Any, space_id: Any = None) -> dict | None:
    """The campaign, if it exists (and, given `space_id`, belongs to that space)."""
    oid = as_id(campaign_id)
    if oid is None:
        return None
    query: dict[str, Any] = {"_id": oid}
    if space_id is not None:
        query["space_id"] = space_id
    return await db[CAMPAIGNS].find_one(query)


async def listing(db, space_id: Any, *, states: tuple[str, ...] = STATES, category: str = "") -> list[dict]:
    query: dict[str, Any] = {"space_id": space_id, "state": {"$in": list(states)}}
    if category:
        query["category"] = category
    return await db[CAMPAIGNS].find(query).sort([("created_at", -1)]).to_list(500)


async def of_event(db, event_id: Any) -> list[dict]:
    """The open campaigns tied to an event, shown with their live totals on its page."""
    return await db[CAMPAIGNS].find({"event_id": event_id, "state": OPEN}).sort([("created_at", 1)]).to_list(10)


def title(campaign: Mapping[str, Any], locale: str) -> str:
    return text_for(campaign["title"], locale, (campaign.get("default_locale") or "en",))


def story(campaign: Mapping[str, Any], locale: str) -> str:
    return text_for(campaign.get("story") or {}, locale, (campaign.get("default_locale") or "en",)) \
        if campaign.get("story") else ""


def taking(campaign: Mapping[str, Any], now: datetime.datetime | None = None) -> bool:
    """Whether the campaign takes gifts now: open, and its deadline not passed."""
    if campaign["state"] != OPEN:
        return False
    deadline = campaign.get("deadline")
    if deadline is not None:
        if deadline.tzinfo is None:
            deadline = deadline.replace(tzinfo=datetime.UTC)
        return (now or utcnow()) <= deadline
    return True
