"""What the staff's payments pages read: a space's attempts and ledger entries, filtered, and as CSV rows."""
from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from payments.model import METHODS, STATES, format_amount

CSV_HEADER = ["created_at", "attempt_id", "purpose", "ref", "method", "state", "amount", "currency", "refunded",
              "payer_email", "organisation", "invoice_number", "provider_ref", "paid_at"]
LEDGER_HEADER = ["at", "attempt_id", "purpose", "ref", "kind", "amount", "currency", "provider_ref"]


def attempt_query(space_id: Any, args: Mapping[str, str]) -> dict[str, Any]:
    """The filter of the payments page: state, method, purpose, a search (payer, invoice number, provider id)."""
    query: dict[str, Any] = {"space_id": space_id}
    if args.get("state") in STATES:
        query["state"] = args["state"]
    if args.get("method") in METHODS:
        query["method"] = args["method"]
    purpose = (args.get("purpose") or "").strip()
    if purpose:
        query["purpose"] = purpose[:64]
    q = (args.get("q") or "").strip()[:200]
    if q:
        pattern = {"$regex": re.escape(q), "$options": "i"}
        query["$or"] = [{"payer_email": pattern}, {"invoice.number": q}, {"provider_ref": q},
                        {"details.name": pattern}]
    since = _date(args.get("since"))
    until = _date(args.get("until"))
    if since or until:
        query["created_at"] = {}
        if since:
            query["created_at"]["$gte"] = since
        if until:
            query["created_at"]["$lt"] = until + datetime.timedelta(days=1)
    return query


def _date(raw: str | None) -> datetime.datetime | None:
    try:
        day = datetime.date.fromisoformat((raw or "").strip())
    except ValueError:
        return None
    return datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)


async def page(db, query: Mapping[str, Any], skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    total = await db.payment_attempts.count_documents(dict(query))
    items = await db.payment_attempts.find(dict(query), {"client_secret": 0}).sort("created_at", -1) \
        .skip(skip).limit(limit).to_list(None)
    return items, total


async def purposes(db, space_id: Any) -> list[str]:
    return sorted(await db.payment_attempts.distinct("purpose", {"space_id": space_id}))


async def all_attempts(db, query: Mapping[str, Any]):
    async for doc in db.payment_attempts.find(dict(query), {"client_secret": 0}).sort("created_at", -1):
        yield doc


def csv_row(doc: Mapping[str, Any]) -> list[str]:
    return [_iso(doc.get("created_at")), str(doc["_id"]), doc["purpose"], str(doc["ref"]), doc["method"],
            doc["state"], format_amount(doc["amount"], doc["currency"]).rsplit(" ", 1)[0].replace("\u202f", ""),
            doc["currency"], str(doc.get("refunded", 0)), doc.get("payer_email", ""),
            (doc.get("details") or {}).get("name", ""), (doc.get("invoice") or {}).get("number", ""),
            doc.get("provider_ref") or "", _iso(doc.get("paid_at"))]


def ledger_row(doc: Mapping[str, Any]) -> list[str]:
    return [_iso(doc.get("at")), str(doc["attempt_id"]), doc["purpose"], str(doc["ref"]), doc["kind"],
            str(doc["amount"]), doc["currency"], doc["provider_ref"]]


def _iso(value: Any) -> str:
    if not isinstance(value, datetime.datetime):
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
