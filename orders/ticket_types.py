"""Ticket types: what an event sells, for how much, when, to whom, and what a ticket grants.

A type has a name and a description per event language, a price per
currency in integer minor units (`{"EUR": 1500, "RUB": 150000}`; 0 is
free), a sale window, a visibility (public, or hidden and shown only with
its code), the fewest and most tickets of it one order may hold, and its
grants (`access.grants`): the channels and sessions a holder enters, whether
they see the recordings, and which features (chat, questions, networking)
they use.

A type may be *given by application* (`by_application`): it is free and
never sold (it has no price, so checkout refuses it and the shop shows a
link to its application form instead); people apply with the type's own
form and staff approve or reject each application (`orders.applications`).
Its quotas count the approved applications.

An event with ticket types is *ticketed*: registering for it is buying (or
getting) a ticket, and only a registration carrying a ticket type admits
(`access.roles.with_ticket`).  The flag is kept on the event and on each of
its channels (`ticketed`), set when its first type is created and removed
with its last, so every access check reads it from the event it has
anyway.  Events without types behave as before.

Validation raises `TicketTypeError` with a translated message; nothing is
written then.  Writes are audited.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from pymongo import ReturnDocument

from access import audit
from access import grants as G
from accounts.users import as_id
from core import money
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_, text_for
from core.text import strip_bidi
from events import sessions
from events.model import EventDoc
from orders.model import (
    APPLICATIONS,
    HIDDEN,
    MAX_CODE,
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_PER_ORDER,
    MAX_TYPES,
    ORDERS,
    PUBLIC,
    QUOTAS,
    RESERVATIONS,
    TICKET_TYPES,
    VISIBILITIES,
)

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")
_CURRENCY_LINE = re.compile(r"^([A-Za-z]{3})\s+(\S+)$")

# Where a type is in its sale window.
NOT_YET, ON_SALE, ENDED = "not_yet", "on_sale", "ended"
SALE_LABELS = {NOT_YET: N_("Not on sale yet"), ON_SALE: N_("On sale"), ENDED: N_("Sale ended")}


class TicketTypeError(Refusal):
    """A refused change of a ticket type; `field`: the form field it is about."""

    def __init__(self, message: str, field: str | None = None, **params):
        super().__init__(message, **params)
        self.field = field


class TicketTypeConflict(TicketTypeError):
    def __init__(self):
        super().__init__(N_("Someone else changed this ticket type meanwhile. It is shown as it is now; "
                            "make your change again."))


class UnknownType(TicketTypeError):
    def __init__(self):
        super().__init__(N_("This ticket type does not exist."))


# --- reads ------------------------------------------------------------------------------------

async def of_event(db, event_id) -> list[dict[str, Any]]:
    return await db[TICKET_TYPES].find({"event_id": event_id}).sort([("position", 1), ("_id", 1)]) \
        .to_list(MAX_TYPES)


async def get(db, event: EventDoc, type_id) -> dict[str, Any]:
    """The event's type with this id; UnknownType for any other (another event's type is unknown here)."""
    oid = as_id(type_id)
    found = await db[TICKET_TYPES].find_one({"_id": oid, "event_id": event["_id"]}) if oid else None
    if found is None:
        raise UnknownType()
    return found


def name(ticket_type: Mapping[str, Any], locale: str, event: Mapping[str, Any]) -> str:
    return text_for(ticket_type.get("name"), locale, (event["default_locale"],))


def sale_state(ticket_type: Mapping[str, Any], now: datetime.datetime) -> str:
    starts, ends = ticket_type.get("sale_starts_at"), ticket_type.get("sale_ends_at")
    if starts and now < starts:
        return NOT_YET
    if ends and now >= ends:
        return ENDED
    return ON_SALE


def code_matches(ticket_type: Mapping[str, Any], code: str | None) -> bool:
    wanted = ticket_type.get("code") or ""
    return bool(wanted) and (code or "").strip().casefold() == wanted.casefold()


def visible(ticket_type: Mapping[str, Any], code: str | None) -> bool:
    """Whether a buyer sees the type: a public one always, a hidden one with its code."""
    return ticket_type.get("visibility", PUBLIC) == PUBLIC or code_matches(ticket_type, code)


def by_application(ticket_type: Mapping[str, Any]) -> bool:
    """Whether the type is given to approved applications only (free, never sold)."""
    return bool(ticket_type.get("by_application"))


def price(ticket_type: Mapping[str, Any], currency: str) -> int | None:
    """The type's price in minor units of `currency`, or None when it is not sold in it (a type given by
    application is sold in none)."""
    if by_application(ticket_type):
        return None
    value = (ticket_type.get("prices") or {}).get(currency)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def currencies(types: Iterable[Mapping[str, Any]]) -> list[str]:
    """The currencies the types are sold in, in the order they first appear."""
    out: list[str] = []
    for t in types:
        for cur in t.get("prices") or {}:
            if cur not in out:
                out.append(cur)
    return out


def grants_of(ticket_type: Mapping[str, Any]) -> G.Grants:
    return G.of(ticket_type.get("grants"))


# --- the form ---------------------------------------------------------------------------------

def _texts(values: Mapping[str, Any] | None, event: EventDoc, max_length: int, field: str,
           required: bool) -> dict[str, str]:
    out = {}
    for code in event["locales"]:
        text = strip_bidi(str((values or {}).get(code) or "")).strip()
        if len(text) > max_length:
            raise TicketTypeError(N_("A text is too long (at most %(count)s characters)."), field, count=max_length)
        if text:
            out[code] = text
    if required and not out.get(event["default_locale"]):
        raise TicketTypeError(N_("Enter the name in the event's default language."), field)
    return out


def parse_prices(text: str) -> dict[str, int]:
    """Prices typed one per line, a currency code and an amount ("EUR 15.00"): currency -> minor units."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        m = _CURRENCY_LINE.match(line)
        if not m:
            raise TicketTypeError(N_("Write each price on its own line as a currency code and an amount, "
                                     "for example “EUR 15.00”."), "prices")
        currency = m.group(1).upper()
        try:
            amount = money.parse(m.group(2), currency)
        except money.MoneyError as exc:
            raise TicketTypeError(exc.message, "prices", **exc.params) from None
        if currency in out:
            raise TicketTypeError(N_("%(currency)s is priced twice."), "prices", currency=currency)
        out[currency] = amount
    if not out:
        raise TicketTypeError(N_("Give at least one price (0 for a free ticket)."), "prices")
    return out


def prices_text(prices: Mapping[str, int]) -> str:
    return "\n".join(f"{cur} {money.plain(amount, cur)}" for cur, amount in prices.items())


def _moment(raw: str, timezone: str, field: str) -> datetime.datetime | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        if not _DATETIME.match(raw):
            raise ValueError(raw)
        naive = datetime.datetime.fromisoformat(raw)
        zone = ZoneInfo(timezone or "UTC")
    except (ValueError, KeyError):
        raise TicketTypeError(N_("Enter a date and time."), field) from None
    if not 2000 <= naive.year <= 2100:
        raise TicketTypeError(N_("Enter a date and time."), field)
    return naive.replace(tzinfo=zone).astimezone(datetime.UTC)


def local_value(moment: datetime.datetime | None, timezone: str) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(timezone or "UTC")).strftime("%Y-%m-%dT%H:%M")


def _count(raw: Any, field: str, low: int, high: int, default: int) -> int:
    text = str(raw if raw is not None else "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise TicketTypeError(N_("Enter a whole number."), field) from None
    if not low <= value <= high:
        raise TicketTypeError(N_("Enter a number between %(low)s and %(high)s."), field, low=low, high=high)
    return value


def _chosen(raw: Any) -> list[str]:
    values = raw if isinstance(raw, list | tuple) else ([raw] if raw else [])
    return [str(v).strip() for v in values if str(v).strip()]


async def clean(db, event: EventDoc, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A type's stored fields from its form (`form_values`' shape), or TicketTypeError; nothing is written.

    Channels and sessions must be the event's own; `channels_all` /
    `sessions_all` grant every one, including those added later.
    """
    names = _texts(raw.get("name"), event, MAX_NAME, "name", required=True)
    descriptions = _texts(raw.get("description"), event, MAX_DESCRIPTION, "description", required=False)
    applied = bool(raw.get("by_application"))
    # A type given by application is free and never sold: it has no price at all.
    prices = {} if applied else parse_prices(str(raw.get("prices") or ""))
    starts = _moment(str(raw.get("sale_starts") or ""), event["timezone"], "sale_starts")
    ends = _moment(str(raw.get("sale_ends") or ""), event["timezone"], "sale_ends")
    if starts and ends and ends <= starts:
        raise TicketTypeError(N_("The sale must end after it starts."), "sale_ends")
    visibility = str(raw.get("visibility") or PUBLIC)
    if visibility not in VISIBILITIES:
        raise TicketTypeError(N_("Choose who sees this ticket type."), "visibility")
    code = " ".join(str(raw.get("code") or "").split()) or None
    if code and len(code) > MAX_CODE:
        raise TicketTypeError(N_("A text is too long (at most %(count)s characters)."), "code", count=MAX_CODE)
    if visibility == HIDDEN and not code:
        raise TicketTypeError(N_("A hidden ticket type needs a code: buyers see it only with the code."), "code")
    low = 1 if applied else _count(raw.get("min_per_order"), "min_per_order", 1, MAX_PER_ORDER, 1)
    high = 1 if applied else _count(raw.get("max_per_order"), "max_per_order", 1, MAX_PER_ORDER, 10)
    if high < low:
        raise TicketTypeError(N_("The most tickets per order cannot be fewer than the fewest."), "max_per_order")
    channel_ids = {str(c["_id"]) for c in await sessions.channels_of(db, event)}
    channels = None if raw.get("channels_all") else _chosen(raw.get("channels"))
    if channels is not None and not set(channels) <= channel_ids:
        raise TicketTypeError(N_("Choose channels of this event."), "channels")
    item_ids = {i.get("id") for i in event["schedule"]}
    chosen_sessions = None if raw.get("sessions_all") else _chosen(raw.get("sessions"))
    if chosen_sessions is not None and not set(chosen_sessions) <= item_ids:
        raise TicketTypeError(N_("Choose sessions of this event."), "sessions")
    features = _chosen(raw.get("features"))
    if not set(features) <= set(G.FEATURES):
        raise TicketTypeError(N_("Choose features from the list."), "features")
    grants = G.Grants(channels=None if channels is None else frozenset(channels),
                      sessions=None if chosen_sessions is None else frozenset(chosen_sessions),
                      recordings=bool(raw.get("recordings")), features=frozenset(features))
    return {"name": names, "description": descriptions, "prices": prices, "sale_starts_at": starts,
            "sale_ends_at": ends, "visibility": visibility, "code": code if visibility == HIDDEN else None,
            "min_per_order": low, "max_per_order": high, "grants": G.stored(grants), "by_application": applied}


def blank_form() -> dict[str, Any]:
    """What the "new ticket type" form starts from: free, public, every channel, session and feature."""
    return {"name": {}, "description": {}, "prices": "EUR 0.00", "sale_starts": "", "sale_ends": "",
            "visibility": PUBLIC, "code": "", "min_per_order": "1", "max_per_order": "10",
            "channels_all": True, "channels": [], "sessions_all": True, "sessions": [], "recordings": True,
            "features": list(G.FEATURES), "by_application": False}


def form_values(event: EventDoc, ticket_type: Mapping[str, Any]) -> dict[str, Any]:
    grants = grants_of(ticket_type)
    return {"name": dict(ticket_type.get("name") or {}), "description": dict(ticket_type.get("description") or {}),
            "prices": prices_text(ticket_type.get("prices") or {}),
            "sale_starts": local_value(ticket_type.get("sale_starts_at"), event["timezone"]),
            "sale_ends": local_value(ticket_type.get("sale_ends_at"), event["timezone"]),
            "visibility": ticket_type.get("visibility", PUBLIC), "code": ticket_type.get("code") or "",
            "min_per_order": str(ticket_type.get("min_per_order", 1)),
            "max_per_order": str(ticket_type.get("max_per_order", 10)),
            "channels_all": grants.channels is None, "channels": sorted(grants.channels or ()),
            "sessions_all": grants.sessions is None, "sessions": sorted(grants.sessions or ()),
            "recordings": grants.recordings, "features": sorted(grants.features),
            "by_application": by_application(ticket_type)}


# --- writes -----------------------------------------------------------------------------------

async def _mark_ticketed(db, event: EventDoc, on: bool) -> None:
    """The event and its channels sell tickets (or no longer do): what every access check reads."""
    main_id = event.get("parent_id") or event["_id"]
    change = {"$set": {"ticketed": True}} if on else {"$unset": {"ticketed": ""}}
    await db.events.update_many({"$or": [{"_id": main_id}, {"parent_id": main_id}]}, change)


async def create(db, actor, event: EventDoc, values: Mapping[str, Any]) -> dict[str, Any]:
    """Store a new type (`values` from `clean`); the event now sells tickets."""
    if event.get("parent_id"):
        raise TicketTypeError(N_("A channel sells no tickets of its own: its main event's tickets grant it."))
    if await db[TICKET_TYPES].count_documents({"event_id": event["_id"]}) >= MAX_TYPES:
        raise TicketTypeError(N_("An event has at most %(count)s ticket types."), count=MAX_TYPES)
    now = utcnow()
    last = await db[TICKET_TYPES].find({"event_id": event["_id"]}, {"position": 1}).sort("position", -1) \
        .limit(1).to_list(1)
    doc = {"_id": ObjectId(), "event_id": event["_id"], **values,
           "position": (last[0]["position"] + 1) if last else 1, "version": 1, "created_at": now,
           "updated_at": now}
    await db[TICKET_TYPES].insert_one(doc)
    await _mark_ticketed(db, event, True)
    await audit.record(db, actor=actor, action="ticket_type.create", event=event,
                       params={"ticket_type_id": str(doc["_id"])}, before=None, after=_shown(values))
    return doc


async def update(db, actor, event: EventDoc, ticket_type: Mapping[str, Any], values: Mapping[str, Any],
                 version: str) -> dict[str, Any]:
    """Save a type as edited on a form shown at `version`.

    Tickets already bought keep their price; their holders get the new
    grants on their next page load or connection.
    """
    if str(ticket_type.get("version")) != (version or "").strip():
        raise TicketTypeConflict()
    after = await db[TICKET_TYPES].find_one_and_update(
        {"_id": ticket_type["_id"], "event_id": event["_id"], "version": ticket_type["version"]},
        {"$set": {**values, "updated_at": utcnow()}, "$inc": {"version": 1}}, return_document=ReturnDocument.AFTER)
    if after is None:
        raise TicketTypeConflict()
    await audit.record(db, actor=actor, action="ticket_type.update", event=event,
                       params={"ticket_type_id": str(ticket_type["_id"])}, before=_shown(ticket_type),
                       after=_shown(values))
    return after


async def remove(db, actor, event: EventDoc, ticket_type: Mapping[str, Any]) -> None:
    """Remove a type nobody has bought or holds in checkout; with the event's last type it sells none."""
    tid = ticket_type["_id"]
    if await db[ORDERS].find_one({"event_id": event["_id"], "lines.ticket_type_id": tid}, {"_id": 1}) \
            or await db[RESERVATIONS].find_one({"event_id": event["_id"], "lines.ticket_type_id": tid,
                                                "released": False}, {"_id": 1}) \
            or await db.memberships.find_one({"scope_id": event["_id"], "ticket_type_id": tid}, {"_id": 1}):
        raise TicketTypeError(N_("Tickets of this type were ordered; it cannot be removed. End its sale instead."))
    if await db[APPLICATIONS].find_one({"event_id": event["_id"], "ticket_type_id": tid}, {"_id": 1}):
        raise TicketTypeError(N_("People applied for this ticket type; it cannot be removed. End its sale "
                                 "instead."))
    await db[TICKET_TYPES].delete_one({"_id": tid, "event_id": event["_id"]})
    await db[QUOTAS].update_many({"event_id": event["_id"]}, {"$pull": {"ticket_type_ids": tid}})
    if not await db[TICKET_TYPES].find_one({"event_id": event["_id"]}, {"_id": 1}):
        await _mark_ticketed(db, event, False)
    await audit.record(db, actor=actor, action="ticket_type.remove", event=event,
                       params={"ticket_type_id": str(tid)}, before=_shown(ticket_type), after=None)


def _shown(values: Mapping[str, Any]) -> dict[str, Any]:
    """A type as the audit log keeps it."""
    return {"name": dict(values.get("name") or {}), "prices": dict(values.get("prices") or {}),
            "visibility": values.get("visibility"), "min_per_order": values.get("min_per_order"),
            "max_per_order": values.get("max_per_order"), "grants": values.get("grants"),
            "sale_starts_at": values.get("sale_starts_at"), "sale_ends_at": values.get("sale_ends_at"),
            "by_application": bool(values.get("by_application"))}
