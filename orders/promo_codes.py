"""Promo codes: a lower price for some tickets, for a limited number of uses, counted atomically.

A code belongs to an event.  What it does to each ticket it applies to
(`discount`, integer minor units, computed on the server only):
- PERCENT off: the discount is `unit × percent`, rounded half up to a whole
  minor unit per ticket (12.5 % of 1999 cents is 249.875, so 250 off); the
  percent is kept in hundredths (1250 = 12.5 %), so no float is involved;
- AMOUNT off each ticket, per currency (`{"EUR": 500}`): never more than
  the ticket's price;
- a set PRICE per currency: the ticket costs that (a set price above the
  ticket's own price leaves it as it is).
A ticket never costs less than 0 nor more than its type's price.  A code
with an amount or a price for some currencies only is refused in the
others.

It applies to every type of the event (ALL), to chosen types (TYPES), or
to the types of one quota (QUOTA, read when it is used); to at least
`min_tickets` of them in one order; between `valid_from` and
`valid_until`; and to `max_uses` tickets in all (one use is one ticket, as
in most ticket shops).  A code is entered on the tickets page with the
choice of tickets; a wrong, expired, used-up or not applicable code is
refused with a translated message, and nothing is held.

**Uses are counted atomically** like quotas (`orders.quotas`): the code's
document is its own counter.  A reservation takes its `k` uses with one
conditional update, `used <= max_uses - k` (with `max_uses` as read), that
also records the reservation's key in `holds`; giving back removes the key
in the update that lowers `used`, guarded by its presence.  So two buyers
never spend the last use twice, taking or giving back twice counts once,
and a crash between steps leaves what the sweep can give back by key.  The
order keeps its reservation's key; an order that expires, is cancelled or
refunded in full gives its uses back (`orders.actions.after_ended`), and a
reservation that runs out too (`orders.checkout`).

**A code that reserves seats** (`reserve`, for codes of one quota) holds
`max_uses` seats of its quota under its own key from its creation on
(`orders.quotas`: nobody else can buy them), lends them to the buyers who
use it, takes back the seats of orders that end while it lives, and gives
its unspent seats back to the quota when it expires (the sweep) or is
deleted.  Its uses and scope are fixed at creation (delete it and make
another to change them).

Creating is two steps (the document, then its seats); a code is usable
only once `active`.  The sweep finishes what a stopped process left: a
code still `creating` (its seats given back, the code removed), a code
`deleting`, an expired code whose seats are still held.

Codes are made one at a time or in bulk (N random codes with a prefix,
exported as CSV).  A code used by a live order cannot be deleted (shorten
its validity to stop it).  Every change is audited.
"""
from __future__ import annotations

import csv
import datetime
import io
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from access import audit
from accounts.users import as_id
from core import money
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from core.pagination import Page
from core.text import strip_bidi
from events.model import EventDoc
from orders import quotas, ticket_types
from orders.model import LEASE, MAX_TICKETS_PER_ORDER, PROMO_CODES, QUOTAS, TICKET_TYPES

PERCENT, AMOUNT, PRICE = "percent", "amount", "price"
MODES = (PERCENT, AMOUNT, PRICE)
MODE_LABELS = {PERCENT: N_("A percentage off"), AMOUNT: N_("An amount off each ticket"),
               PRICE: N_("A set price for each ticket")}
ALL, TYPES, QUOTA = "all", "types", "quota"
SCOPES = (ALL, TYPES, QUOTA)
SCOPE_LABELS = {ALL: N_("Every ticket type"), TYPES: N_("The ticket types chosen below"),
                QUOTA: N_("The ticket types of the quota chosen below")}
CREATING, ACTIVE, DELETING = "creating", "active", "deleting"

FULL_PERCENT = 10_000           # hundredths of a percent
MAX_USES = 1_000_000
MAX_CODE = 40
MAX_PREFIX = 20
MAX_NOTE = 200
MAX_BULK = 1000
MAX_CODES = 100_000             # per event
PER_PAGE = 50
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O or 1/I: codes are read aloud and typed
RANDOM_LENGTH = 8
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]*$")
_PERCENT = re.compile(r"^(\d{1,3})(?:[.,](\d{1,2}))?$")
EXPORT_COLUMNS = ("code", "mode", "value", "max_uses", "used", "min_tickets", "valid_from", "valid_until",
                  "scope", "reserves_seats", "note")


class PromoCodeError(Refusal):
    """A refused change of a promo code (staff); `field`: the form field it is about."""

    def __init__(self, message: str, field: str | None = None, **params):
        super().__init__(message, **params)
        self.field = field


class UnknownPromoCode(PromoCodeError):
    def __init__(self):
        super().__init__(N_("This promo code does not exist."))


class PromoCodeConflict(PromoCodeError):
    def __init__(self):
        super().__init__(N_("Someone else changed this promo code meanwhile. It is shown as it is now; "
                            "make your change again."))


class PromoRefused(Refusal):
    """A code the buyer entered that cannot be used for this choice; nothing was held."""


class WrongCode(PromoRefused):
    def __init__(self):
        super().__init__(N_("This promo code is not valid. Check it for a typo."))


class NotYetValid(PromoRefused):
    def __init__(self):
        super().__init__(N_("This promo code is not valid yet."))


class Expired(PromoRefused):
    def __init__(self):
        super().__init__(N_("This promo code has expired."))


class UsedUp(PromoRefused):
    def __init__(self):
        super().__init__(N_("This promo code has been used up."))


class TooFewUsesLeft(PromoRefused):
    def __init__(self, count: int):
        super().__init__(N_("Uses left on this promo code: %(count)s. Choose fewer tickets for it."), count=count)


class NotApplicable(PromoRefused):
    def __init__(self):
        super().__init__(N_("This promo code does not apply to the tickets you chose."))


class NotInCurrency(PromoRefused):
    def __init__(self, currency: str):
        super().__init__(N_("This promo code is not valid for payments in %(currency)s."), currency=currency)


class TooFewTickets(PromoRefused):
    def __init__(self, count: int):
        super().__init__(N_("This promo code needs at least %(count)s tickets it applies to in one order."),
                         count=count)


# --- what a code does (pure) --------------------------------------------------------------------

def normalize(code: str | None) -> str:
    return strip_bidi(code or "").strip().upper()


def discount(promo: Mapping[str, Any], unit: int, currency: str) -> int | None:
    """Minor units off one ticket of price `unit`; None when the code has no value in `currency`."""
    unit = int(unit)
    if promo["mode"] == PERCENT:
        # Half up on the amount off: (unit * p + half) // whole, all in integers.
        off = (unit * int(promo["percent"]) + FULL_PERCENT // 2) // FULL_PERCENT
    else:
        value = (promo.get("amounts") or {}).get(currency)
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        off = value if promo["mode"] == AMOUNT else unit - value
    return max(0, min(unit, off))


async def applicable_types(db, promo: Mapping[str, Any]) -> set[Any] | None:
    """The type ids the code applies to (None: every type of its event)."""
    if promo["scope"] == TYPES:
        return set(promo.get("ticket_type_ids") or ())
    if promo["scope"] == QUOTA:
        found = await db[QUOTAS].find_one({"_id": promo.get("quota_id")}, {"ticket_type_ids": 1})
        return set((found or {}).get("ticket_type_ids") or ())
    return None


def hold_key(promo: Mapping[str, Any]) -> str:
    """The key under which a code that reserves seats holds them in its quota."""
    return f"promo:{promo['_id']}"


def uses_left(promo: Mapping[str, Any]) -> int:
    return max(0, int(promo["max_uses"]) - int(promo["used"]))


def live(promo: Mapping[str, Any], now: datetime.datetime) -> bool:
    return promo["state"] == ACTIVE and not (promo.get("valid_from") and now < promo["valid_from"]) \
        and not (promo.get("valid_until") and now >= promo["valid_until"])


# --- using a code (checkout) ----------------------------------------------------------------------

async def find(db, event: EventDoc, code: str) -> dict[str, Any] | None:
    text = normalize(code)
    if not text or len(text) > MAX_CODE:
        return None
    return await db[PROMO_CODES].find_one({"event_id": event["_id"], "code": text, "state": ACTIVE}, {"holds": 0})


async def apply(db, event: EventDoc, code: str, lines: Sequence[Mapping[str, Any]], *, currency: str,
                now: datetime.datetime) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The lines with the code's discount, and what the reservation records of it (`PromoUse`).

    Refuses (`PromoRefused`) a code that does not exist, is outside its
    validity, has too few uses left, applies to none of the chosen tickets or
    to fewer than its minimum, or has no value in `currency`.  Reads only:
    the uses are taken with the reservation (`take`).
    """
    promo = await find(db, event, code)
    if promo is None:
        raise WrongCode()
    if promo.get("valid_from") and now < promo["valid_from"]:
        raise NotYetValid()
    if promo.get("valid_until") and now >= promo["valid_until"]:
        raise Expired()
    types = await applicable_types(db, promo)
    out: list[dict[str, Any]] = []
    count = 0
    for line in lines:
        if types is None or line["ticket_type_id"] in types:
            off = discount(promo, line["unit_price"], currency)
            if off is None:
                raise NotInCurrency(currency)
            out.append({**line, "discount": off, "voucher_id": promo["_id"]})
            count += int(line["quantity"])
        else:
            out.append({**line, "discount": 0, "voucher_id": None})
    if count == 0:
        raise NotApplicable()
    if count < int(promo["min_tickets"]):
        raise TooFewTickets(int(promo["min_tickets"]))
    left = uses_left(promo)
    if left == 0:
        raise UsedUp()
    if count > left:
        raise TooFewUsesLeft(left)
    lend = {str(promo["quota_id"]): hold_key(promo)} \
        if promo.get("reserve") and promo.get("quota_id") and not promo.get("seats_released") else {}
    return out, {"id": promo["_id"], "code": promo["code"], "uses": count, "lend": lend}


async def take(db, use: Mapping[str, Any], key: str) -> bool:
    """Take the reservation's uses of its code under `key` if that many are left; True when held (now or
    by an earlier try).  One conditional update: of buyers racing for the last use, one wins."""
    n = int(use["uses"])
    hold = f"holds.{key}"
    for _ in range(5):
        promo = await db[PROMO_CODES].find_one({"_id": use["id"]}, {"max_uses": 1, "state": 1})
        if promo is None or promo["state"] != ACTIVE:
            return False
        limit = int(promo["max_uses"])
        taken = await db[PROMO_CODES].find_one_and_update(
            {"_id": use["id"], "state": ACTIVE, "max_uses": limit, "used": {"$lte": limit - n},
             hold: {"$exists": False}},
            {"$inc": {"used": n}, "$set": {hold: n}}, {"_id": 1})
        if taken is not None:
            return True
        again = await db[PROMO_CODES].find_one({"_id": use["id"]}, {"max_uses": 1, hold: 1})
        if again is None:
            return False
        if key in (again.get("holds") or {}):
            return True        # a retry: taken before
        if int(again["max_uses"]) == limit:
            return False       # no uses left
    return False


async def release(db, use: Mapping[str, Any] | None, key: str) -> bool:
    """Give back the uses `key` holds of the code, if it holds any (idempotent)."""
    if not use:
        return False
    hold = f"holds.{key}"
    before = await db[PROMO_CODES].find_one({"_id": use["id"], hold: {"$exists": True}}, {hold: 1})
    if before is None:
        return False
    n = int(before["holds"][key])
    done = await db[PROMO_CODES].find_one_and_update(
        {"_id": use["id"], hold: n}, {"$inc": {"used": -n}, "$unset": {hold: ""}}, {"_id": 1})
    return done is not None


async def seats_for(db, event: EventDoc, code: str, now: datetime.datetime) -> dict[Any, int]:
    """A live code that reserves seats: type id -> its unspent seats (what the tickets page adds for the
    buyer who has it); {} for any other code."""
    promo = await find(db, event, code)
    if promo is None or not promo.get("reserve") or not live(promo, now) or promo.get("seats_released"):
        return {}
    found = await db[QUOTAS].find_one({"_id": promo["quota_id"]}, {"ticket_type_ids": 1, f"holds.{hold_key(promo)}": 1})
    if found is None:
        return {}
    seats = int((found.get("holds") or {}).get(hold_key(promo), 0))
    return {t: seats for t in found.get("ticket_type_ids") or ()}


# --- staff: the form ------------------------------------------------------------------------------

def blank_form() -> dict[str, Any]:
    return {"code": "", "note": "", "mode": PERCENT, "value": "", "scope": ALL, "ticket_type_ids": [],
            "quota_id": "", "max_uses": "1", "min_tickets": "1", "valid_from": "", "valid_until": "",
            "reserve": False, "count": "10", "prefix": ""}


def form_values(event: EventDoc, promo: Mapping[str, Any]) -> dict[str, Any]:
    """The code as its form shows it."""
    if promo["mode"] == PERCENT:
        whole, part = divmod(int(promo["percent"]), 100)
        value = f"{whole}.{part:02d}".rstrip("0").rstrip(".")
    else:
        value = ticket_types.prices_text(promo.get("amounts") or {})
    zone = event.get("timezone") or "UTC"
    return {"code": promo["code"], "note": promo.get("note", ""), "mode": promo["mode"], "value": value,
            "scope": promo["scope"], "ticket_type_ids": [str(t) for t in promo.get("ticket_type_ids") or ()],
            "quota_id": str(promo.get("quota_id") or ""), "max_uses": str(promo["max_uses"]),
            "min_tickets": str(promo["min_tickets"]),
            "valid_from": ticket_types.local_value(promo.get("valid_from"), zone),
            "valid_until": ticket_types.local_value(promo.get("valid_until"), zone),
            "reserve": bool(promo.get("reserve")), "count": "", "prefix": ""}


def value_text(promo: Mapping[str, Any], locale: str) -> str:
    """What the code does, for lists and the CSV: "12.5 %", "EUR 5.00 off" style, per currency."""
    if promo["mode"] == PERCENT:
        whole, part = divmod(int(promo["percent"]), 100)
        return (f"{whole}.{part:02d}".rstrip("0").rstrip(".")) + " %"
    return ", ".join(money.format(v, c, locale) for c, v in (promo.get("amounts") or {}).items())


def _fail(exc: ticket_types.TicketTypeError, field: str) -> PromoCodeError:
    return PromoCodeError(exc.message, field, **exc.params)


def _count(raw: Any, field: str, low: int, high: int) -> int:
    try:
        return ticket_types._count(raw, field, low, high, low)
    except ticket_types.TicketTypeError as exc:
        raise _fail(exc, field) from None


def _moment(raw: str, event: EventDoc, field: str) -> datetime.datetime | None:
    try:
        return ticket_types._moment(raw, event.get("timezone") or "UTC", field)
    except ticket_types.TicketTypeError as exc:
        raise _fail(exc, field) from None


def clean_code(raw: str, field: str = "code", *, limit: int = MAX_CODE, empty_ok: bool = False) -> str:
    text = normalize(raw)
    if not text:
        if empty_ok:
            return ""
        raise PromoCodeError(N_("Enter the code."), field)
    if len(text) > limit:
        raise PromoCodeError(N_("A code has at most %(count)s characters."), field, count=limit)
    if not _CODE.match(text):
        raise PromoCodeError(N_("A code is made of Latin letters, digits, “-” and “_”."), field)
    return text


async def clean(db, event: EventDoc, raw: Mapping[str, Any], *, bulk: bool = False) -> dict[str, Any]:
    """A code's stored settings from its form (`blank_form`'s shape), or PromoCodeError; nothing is written.

    `bulk`: the code itself is not asked for (`count` and `prefix` are, by `create_bulk`).
    """
    out: dict[str, Any] = {"note": " ".join(strip_bidi(str(raw.get("note") or "")).split())[:MAX_NOTE]}
    if not bulk:
        out["code"] = clean_code(str(raw.get("code") or ""))
    mode = str(raw.get("mode") or "")
    if mode not in MODES:
        raise PromoCodeError(N_("Choose what the code does."), "mode")
    out["mode"] = mode
    value = str(raw.get("value") or "").strip()
    out["percent"], out["amounts"] = 0, {}
    if mode == PERCENT:
        m = _PERCENT.match(value)
        percent = int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0")) if m else 0
        if not 0 < percent <= FULL_PERCENT:
            raise PromoCodeError(N_("Enter a percentage above 0 and at most 100, such as 15 or 12.5."), "value")
        out["percent"] = percent
    else:
        try:
            out["amounts"] = ticket_types.parse_prices(value)
        except ticket_types.TicketTypeError as exc:
            raise _fail(exc, "value") from None
    scope = str(raw.get("scope") or "")
    if scope not in SCOPES:
        raise PromoCodeError(N_("Choose which tickets the code applies to."), "scope")
    out["scope"], out["ticket_type_ids"], out["quota_id"] = scope, [], None
    if scope == TYPES:
        for raw_id in raw.get("ticket_type_ids") or ():
            oid = as_id(raw_id)
            if oid is None or not await db[TICKET_TYPES].find_one({"_id": oid, "event_id": event["_id"]}, {"_id": 1}):
                raise PromoCodeError(N_("Choose ticket types of this event."), "ticket_type_ids")
            if oid not in out["ticket_type_ids"]:
                out["ticket_type_ids"].append(oid)
        if not out["ticket_type_ids"]:
            raise PromoCodeError(N_("Choose at least one ticket type."), "ticket_type_ids")
    elif scope == QUOTA:
        oid = as_id(str(raw.get("quota_id") or ""))
        if oid is None or not await db[QUOTAS].find_one({"_id": oid, "event_id": event["_id"]}, {"_id": 1}):
            raise PromoCodeError(N_("Choose a quota of this event."), "quota_id")
        out["quota_id"] = oid
    out["max_uses"] = _count(raw.get("max_uses"), "max_uses", 1, MAX_USES)
    out["min_tickets"] = _count(raw.get("min_tickets"), "min_tickets", 1, MAX_TICKETS_PER_ORDER)
    out["valid_from"] = _moment(str(raw.get("valid_from") or ""), event, "valid_from")
    out["valid_until"] = _moment(str(raw.get("valid_until") or ""), event, "valid_until")
    if out["valid_from"] and out["valid_until"] and out["valid_until"] <= out["valid_from"]:
        raise PromoCodeError(N_("The code must stop being valid after it starts."), "valid_until")
    out["reserve"] = bool(raw.get("reserve"))
    if out["reserve"] and scope != QUOTA:
        raise PromoCodeError(N_("A code that reserves seats applies to the types of one quota: choose it."),
                             "scope")
    return out


def _shown(values: Mapping[str, Any]) -> dict[str, Any]:
    """A code's settings as the audit log keeps them (ids and moments as text)."""
    def plain(k: str, v: Any) -> Any:
        if k == "ticket_type_ids":
            return [str(x) for x in v]
        if isinstance(v, ObjectId):
            return str(v)
        return _when(v) if isinstance(v, datetime.datetime) else v
    return {k: plain(k, v) for k, v in values.items()
            if k not in ("holds", "_id", "event_id", "created_at", "updated_at", "used", "version", "state")}


# --- staff: creating, changing, deleting ----------------------------------------------------------

def random_code(prefix: str) -> str:
    return prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(RANDOM_LENGTH))


async def _reserve_seats(db, promo: Mapping[str, Any]) -> bool:
    return await quotas.take(db, str(promo["quota_id"]), hold_key(promo), int(promo["max_uses"]))


async def _make(services, actor, event: EventDoc, values: Mapping[str, Any], codes: Sequence[str],
                batch: str | None) -> list[dict[str, Any]]:
    """Store the codes (CREATING), reserve their seats if asked, then make them usable (ACTIVE)."""
    db = services.db
    if await db[PROMO_CODES].count_documents({"event_id": event["_id"]}) + len(codes) > MAX_CODES:
        raise PromoCodeError(N_("An event has at most %(count)s promo codes."), count=MAX_CODES)
    now = utcnow()
    docs = [{"_id": ObjectId(), "event_id": event["_id"], **{k: v for k, v in values.items() if k != "code"},
             "code": code, "batch": batch, "used": 0, "holds": {}, "seats_released": False, "state": CREATING,
             "version": 1, "created_at": now, "updated_at": now} for code in codes]
    made: list[dict[str, Any]] = []
    try:
        for doc in docs:
            try:
                await db[PROMO_CODES].insert_one(doc)
            except DuplicateKeyError:
                raise PromoCodeError(N_("The code %(code)s exists already in this event."), "code",
                                     code=doc["code"]) from None
            made.append(doc)
            if doc["reserve"] and not await _reserve_seats(db, doc):
                raise PromoCodeError(N_("The quota has not enough tickets left to reserve %(count)s for each "
                                        "code."), "max_uses", count=doc["max_uses"])
    except BaseException:
        for doc in made:
            await _discard(db, doc)
        raise
    await db[PROMO_CODES].update_many({"_id": {"$in": [d["_id"] for d in docs]}, "state": CREATING},
                                      {"$set": {"state": ACTIVE}})
    await audit.record(db, actor=actor, action="promo_code.create", event=event,
                       params={"codes": len(docs), "batch": batch or "", **({"code": codes[0]} if len(codes) == 1
                                                                             else {})},
                       before=None, after=_shown(values))
    if any(d["reserve"] for d in docs):
        from orders import checkout
        await checkout.announce(services, event)
    return [{**d, "state": ACTIVE} for d in docs]


async def _discard(db, promo: Mapping[str, Any]) -> None:
    """Give back a code's seats and remove it (one never made usable, or one being deleted)."""
    if promo.get("reserve") and promo.get("quota_id"):
        await quotas.release(db, str(promo["quota_id"]), hold_key(promo))
    await db[PROMO_CODES].delete_one({"_id": promo["_id"], "state": {"$in": [CREATING, DELETING]}})


async def create(services, actor, event: EventDoc, values: Mapping[str, Any]) -> dict[str, Any]:
    return (await _make(services, actor, event, values, [values["code"]], None))[0]


async def create_bulk(services, actor, event: EventDoc, values: Mapping[str, Any], *, count: str,
                      prefix: str) -> tuple[str, list[dict[str, Any]]]:
    """`count` random codes starting with `prefix`, with the same settings: (their batch, the codes)."""
    n = _count(count, "count", 1, MAX_BULK)
    head = clean_code(prefix, "prefix", limit=MAX_PREFIX, empty_ok=True)
    db = services.db
    batch = f"{head or 'BULK'}-{utcnow().strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(2)}"
    codes: set[str] = set()
    while len(codes) < n:
        wanted = {random_code(head) for _ in range(n - len(codes))}
        taken = {d["code"] async for d in db[PROMO_CODES].find(
            {"event_id": event["_id"], "code": {"$in": list(wanted)}}, {"code": 1})}
        codes |= wanted - taken
    return batch, await _make(services, actor, event, values, sorted(codes), batch)


async def get(db, event: EventDoc, promo_id) -> dict[str, Any]:
    oid = as_id(promo_id)
    found = await db[PROMO_CODES].find_one({"_id": oid, "event_id": event["_id"], "state": ACTIVE}, {"holds": 0}) \
        if oid else None
    if found is None:
        raise UnknownPromoCode()
    return found


async def update(db, actor, event: EventDoc, promo: Mapping[str, Any], values: Mapping[str, Any],
                 version: str) -> dict[str, Any]:
    """Save a code as edited on a form shown at `version`.  A code that reserves seats keeps its uses,
    scope and reservation; any code keeps at least the uses it has now."""
    if str(promo.get("version")) != (version or "").strip():
        raise PromoCodeConflict()
    changes = {k: v for k, v in values.items() if k != "code"}
    if promo.get("reserve") or values.get("reserve"):
        fixed = ("max_uses", "scope", "quota_id", "ticket_type_ids", "reserve")
        if any(changes.get(k) != promo.get(k) for k in fixed):
            raise PromoCodeError(N_("A code that reserves seats keeps its uses and its quota: delete it and make "
                                    "another to change them."), "max_uses")
    if values["code"] != promo["code"]:
        raise PromoCodeError(N_("A code cannot be renamed: make another one."), "code")
    try:
        after = await db[PROMO_CODES].find_one_and_update(
            {"_id": promo["_id"], "event_id": event["_id"], "version": promo["version"], "state": ACTIVE,
             "used": {"$lte": changes["max_uses"]}},
            {"$set": {**changes, "updated_at": utcnow()}, "$inc": {"version": 1}}, {"holds": 0},
            return_document=ReturnDocument.AFTER)
    except DuplicateKeyError:
        raise PromoCodeConflict() from None
    if after is None:
        now = await db[PROMO_CODES].find_one({"_id": promo["_id"]}, {"used": 1, "version": 1})
        if now is not None and now["version"] == promo["version"] and now["used"] > changes["max_uses"]:
            raise PromoCodeError(N_("This code is used for %(count)s tickets already: allow at least that many "
                                    "uses."), "max_uses", count=now["used"])
        raise PromoCodeConflict()
    await audit.record(db, actor=actor, action="promo_code.update", event=event,
                       params={"promo_code_id": str(promo["_id"]), "code": promo["code"]},
                       before=_shown(promo), after=_shown(changes))
    return after


async def remove(services, actor, event: EventDoc, promo: Mapping[str, Any]) -> None:
    """Delete a code no live reservation or order uses; a code that reserves seats gives them back."""
    db = services.db
    claimed = await db[PROMO_CODES].find_one_and_update(
        {"_id": promo["_id"], "event_id": event["_id"], "state": ACTIVE, "used": 0},
        {"$set": {"state": DELETING, "updated_at": utcnow()}})
    if claimed is None:
        raise PromoCodeError(N_("This code is used by live orders or reservations and cannot be deleted. "
                                "Shorten its validity to stop it instead."))
    await _discard(db, claimed)
    await audit.record(db, actor=actor, action="promo_code.remove", event=event,
                       params={"promo_code_id": str(promo["_id"]), "code": promo["code"]},
                       before=_shown(promo), after=None)
    if claimed.get("reserve"):
        from orders import checkout
        await checkout.announce(services, event)


# --- staff: reading -------------------------------------------------------------------------------

def query(event: EventDoc, *, q: str = "", batch: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"event_id": event["_id"], "state": ACTIVE}
    text = normalize(q)[:MAX_CODE]
    if text:
        found["code"] = {"$regex": "^" + re.escape(text)}
    if batch:
        found["batch"] = batch[:80]
    return found


async def page(db, event: EventDoc, number: int, **filters: str) -> tuple[list[dict[str, Any]], Page]:
    found = query(event, **filters)
    total = await db[PROMO_CODES].count_documents(found)
    shown = Page(number, PER_PAGE, total)
    if shown.number > shown.pages:
        shown = Page(shown.pages, PER_PAGE, total)
    items = await db[PROMO_CODES].find(found, {"holds": 0}).sort([("created_at", -1), ("code", 1)]) \
        .skip(shown.skip).limit(PER_PAGE).to_list(None)
    return items, shown


async def batches(db, event: EventDoc) -> list[str]:
    return sorted(b for b in await db[PROMO_CODES].distinct("batch", {"event_id": event["_id"]}) if b)


def _when(value: datetime.datetime | None) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


async def export_csv(db, event: EventDoc, *, actor: Mapping[str, Any] | None, locale: str, **filters: str) -> str:
    """The event's codes (or one batch's) as CSV, one row per code; audited."""
    from attendees.registry import _cell  # the CSV cell that a spreadsheet never reads as a formula
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    rows = 0
    async for p in db[PROMO_CODES].find(query(event, **filters), {"holds": 0}).sort([("created_at", 1), ("code", 1)]):
        writer.writerow([_cell(v) for v in (
            p["code"], p["mode"], value_text(p, locale), p["max_uses"], p["used"], p["min_tickets"],
            _when(p.get("valid_from")), _when(p.get("valid_until")), p["scope"], "yes" if p.get("reserve") else "no",
            p.get("note", ""))])
        rows += 1
    await audit.record(db, actor=actor, action="promo_codes.export", event=event,
                       params={"batch": filters.get("batch", ""), "rows": rows})
    return out.getvalue()


# --- the sweep ------------------------------------------------------------------------------------

async def sweep(services, now: datetime.datetime | None = None, limit: int = 200) -> int:
    """Finish what stopped processes left and give back the seats of expired codes; returns how many."""
    db = services.db
    now = now or utcnow()
    done = 0
    stale = await db[PROMO_CODES].find({"$or": [
        {"state": CREATING, "created_at": {"$lte": now - LEASE}},
        {"state": DELETING, "updated_at": {"$lte": now - LEASE}},
    ]}, {"holds": 0}).limit(limit).to_list(None)
    for promo in stale:
        # Claimed first: a creation that was only slow cannot make it usable after its seats went back.
        if promo["state"] == CREATING and await db[PROMO_CODES].find_one_and_update(
                {"_id": promo["_id"], "state": CREATING}, {"$set": {"state": DELETING}}) is None:
            continue
        await _discard(db, promo)
        done += 1
    expired = await db[PROMO_CODES].find({"reserve": True, "seats_released": False, "state": ACTIVE,
                                          "valid_until": {"$lte": now}}, {"holds": 0}).limit(limit).to_list(None)
    events: set[Any] = set()
    for promo in expired:
        await quotas.release(db, str(promo["quota_id"]), hold_key(promo))
        await db[PROMO_CODES].update_one({"_id": promo["_id"]}, {"$set": {"seats_released": True}})
        events.add(promo["event_id"])
        done += 1
    if events:
        from events import model
        from orders import checkout
        for event_id in events:
            event = await model.get_event(db, event_id)
            if event is not None:
                await checkout.announce(services, event)
    return done

