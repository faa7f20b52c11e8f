"""The staff's queue of an event's applications: filters, search, pages and the CSV export.

Filters by state (pending, approved, rejected; an approval under way counts
as pending) and by ticket type; search by a part of the applicant's
address or name.  The oldest pending application comes first, so the
queue is worked through in the order people applied.  The export is the
list on the screen, one row per application, with a column per field of
each type's application form (read with the wording it was answered in),
UTF-8 with a byte order mark, cells that look like formulas kept as text.
Exporting is audited.
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
from core.pagination import Page
from events.model import EventDoc
from orders import applications as A
from orders import ticket_types
from orders.model import APPLICATIONS, ORDERS
from registration import forms

PER_PAGE = 50
MAX_QUERY = 200
EXPORT_COLUMNS = ("applied_at", "state", "ticket_type", "email", "name", "locale", "reason", "decided_at",
                  "order_code")


def query(event: EventDoc, *, q: str = "", state: str = "", type_id: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"event_id": event["_id"]}
    text = (q or "").strip()[:MAX_QUERY]
    if text:
        pattern = {"$regex": re.escape(text), "$options": "i"}
        found["$or"] = [{"email": pattern}, {"name": pattern}]
    if state == A.PENDING:
        found["state"] = {"$in": [A.PENDING, A.APPROVING]}
    elif state in A.STATES:
        found["state"] = state
    oid = as_id(type_id) if type_id else None
    if oid is not None:
        found["ticket_type_id"] = oid
    return found


async def page(db, event: EventDoc, number: int, **filters: str) -> tuple[list[dict[str, Any]], Page]:
    found = query(event, **filters)
    total = await db[APPLICATIONS].count_documents(found)
    shown = Page(number, PER_PAGE, total)
    if shown.number > shown.pages:
        shown = Page(shown.pages, PER_PAGE, total)
    items = await db[APPLICATIONS].find(found, {"answers": 0}).sort([("created_at", 1), ("_id", 1)]) \
        .skip(shown.skip).limit(PER_PAGE).to_list(None)
    return items, shown


async def counts(db, event: EventDoc) -> dict[str, int]:
    """Applications of the event in each state staff filter by."""
    out = dict.fromkeys(A.STATES, 0)
    cursor = await db[APPLICATIONS].aggregate([{"$match": {"event_id": event["_id"]}},
                                               {"$group": {"_id": "$state", "n": {"$sum": 1}}}])
    async for row in cursor:
        state = A.PENDING if row["_id"] == A.APPROVING else row["_id"]
        if state in out:
            out[state] += int(row["n"])
    return out


async def types_of(db, event: EventDoc, locale: str) -> list[tuple[dict[str, Any], str]]:
    """The event's types given by application, with their names in `locale`."""
    return [(t, ticket_types.name(t, locale, event)) for t in await ticket_types.of_event(db, event["_id"])
            if ticket_types.by_application(t)]


def _when(value: datetime.datetime | None) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


async def export_csv(db, event: EventDoc, *, actor: Mapping[str, Any] | None, locale: str, **filters: str) -> str:
    types = await types_of(db, event, locale)
    names = {t["_id"]: name for t, name in types}
    # Each type's form, and its columns: "<type>: <field label>".
    columns: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []
    for t, name in types:
        form = await forms.load(db, event["_id"], A.form_kind(t["_id"]))
        columns += [(t["_id"], form, {**col, "label": f"{name}: {col['label']}"})
                    for col in forms.columns(form, locale)]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([*EXPORT_COLUMNS, *(registry._cell(col["label"]) for _, _, col in columns)])
    rows = 0
    async for a in db[APPLICATIONS].find(query(event, **filters)).sort([("created_at", 1), ("_id", 1)]):
        code = ""
        if a.get("order_id"):
            order = await db[ORDERS].find_one({"_id": a["order_id"]}, {"code": 1})
            code = order["code"] if order else ""
        answers = []
        for type_id, form, col in columns:
            answers += forms.row(form, [col], a.get("answers"), locale) if type_id == a["ticket_type_id"] else [""]
        writer.writerow([registry._cell(v) for v in (
            _when(a["created_at"]), A.shown_state(a), names.get(a["ticket_type_id"], ""), a["email"], a["name"],
            a["locale"], a.get("reason", ""), _when(a.get("decided_at")), code, *answers)])
        rows += 1
    await audit.record(db, actor=actor, action="applications.export", event=event,
                       params={"filtered_by": sorted(k for k, v in filters.items() if v), "rows": rows})
    return out.getvalue()
