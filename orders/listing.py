"""The staff's list of an event's orders: search, filters, pages and the CSV export.

Search is by the buyer's or a holder's email (or a part of it) and by the
order code; filters by state and by ticket type.  The export is exactly the
list on the screen, one row per ticket, money in minor units with its
currency (and as typed amounts), UTF-8 with a byte order mark, cells that
look like formulas kept as text.  Exporting is audited.
"""
from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Mapping
from typing import Any

from access import audit
from accounts.users import as_id
from attendees import registry
from core import money
from core.pagination import Page
from events.model import EventDoc
from orders import states
from orders.model import ORDERS

PER_PAGE = 50
MAX_QUERY = 200
EXPORT_COLUMNS = ("code", "state", "created_at", "paid_at", "buyer_email", "buyer_name", "currency", "total_minor",
                  "total", "refunded_minor", "method", "ticket", "ticket_type", "holder_email", "holder_name",
                  "holder_locale", "issued")


def query(event: EventDoc, *, q: str = "", state: str = "", type_id: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"event_id": event["_id"]}
    text = (q or "").strip()[:MAX_QUERY]
    if text:
        pattern = {"$regex": re.escape(text.lower())}
        found["$or"] = [{"code": text.upper()}, {"buyer.email": pattern}, {"tickets.holder.email": pattern}]
    if state in states.STATES:
        found["state"] = state
    oid = as_id(type_id) if type_id else None
    if oid is not None:
        found["lines.ticket_type_id"] = oid
    return found


async def page(db, event: EventDoc, number: int, **filters: str) -> tuple[list[dict[str, Any]], Page]:
    found = query(event, **filters)
    total = await db[ORDERS].count_documents(found)
    shown = Page(number, PER_PAGE, total)
    if shown.number > shown.pages:
        shown = Page(shown.pages, PER_PAGE, total)
    items = await db[ORDERS].find(found, {"log": 0}).sort([("created_at", -1), ("_id", -1)]) \
        .skip(shown.skip).limit(PER_PAGE).to_list(None)
    return items, shown


async def counts(db, event: EventDoc) -> dict[str, int]:
    """Orders of the event in each state."""
    out = dict.fromkeys(states.STATES, 0)
    cursor = await db[ORDERS].aggregate([{"$match": {"event_id": event["_id"]}},
                                         {"$group": {"_id": "$state", "n": {"$sum": 1}}}])
    async for row in cursor:
        if row["_id"] in out:
            out[row["_id"]] = int(row["n"])
    return out


def _when(value: datetime.datetime | None) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


async def export_csv(db, event: EventDoc, names: Mapping[Any, str], *, actor: Mapping[str, Any] | None,
                     **filters: str) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    rows = 0
    async for o in db[ORDERS].find(query(event, **filters), {"log": 0}).sort([("created_at", 1), ("_id", 1)]):
        for t in o["tickets"]:
            holder = t.get("holder") or {}
            writer.writerow([registry._cell(v) for v in (
                o["code"], o["state"], _when(o["created_at"]), _when(o.get("paid_at")), o["buyer"]["email"],
                o["buyer"].get("name", ""), o["currency"], o["total"], money.plain(o["total"], o["currency"]),
                o["refunded_amount"], o["method"], t["id"], names.get(t["ticket_type_id"], ""),
                holder.get("email", ""), holder.get("name", ""), holder.get("locale", ""),
                "yes" if t.get("issued") else "no")])
            rows += 1
    await audit.record(db, actor=actor, action="orders.export", event=event,
                       params={"filtered_by": sorted(k for k, v in filters.items() if v), "rows": rows})
    return out.getvalue()
