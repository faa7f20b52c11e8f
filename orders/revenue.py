"""Revenue of an event's ticket sales: money kept, per ticket type, per promo code and per day.

The money counted is what orders were paid less what was refunded
(`paid_amount - refunded_amount`, integer minor units), whatever the
order's state now: an order never paid counts 0, one refunded in full 0, one
refunded in part what was kept, and one paid and then cancelled without a
refund what it was paid (the money was received and not paid back).  Each
currency is summed on its own; amounts of two currencies are never added,
compared or drawn on one scale.

- Per ticket type and per promo code (the order line's `voucher_id`; lines
  without one under "no code"), an order's money is shared between its
  lines in proportion to their totals, by whole minor units (largest
  remainder), so the rows of an order add up to exactly what it kept.
- Per day, on the event's calendar (its time zone): a payment counts on the
  day it was paid (`paid_at`), each refund on the day it was made, so a day
  can be negative.  Days between the first and the last with money are
  listed too (0), for the chart.

Every view adds up, per currency, to the same total.  `csv_text` gives the
same numbers as the page's tables.
"""
from __future__ import annotations

import csv
import datetime
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId

from access import audit
from attendees import registry
from core import money
from events.model import EventDoc
from orders.model import ORDERS, PROMO_CODES

NO_CODE = ""                       # the key of lines sold without a promo code
MAX_DAYS = 1000                    # the most days listed between the first and the last with money
CSV_COLUMNS = ("view", "key", "label", "currency", "amount_minor", "amount", "tickets")


@dataclass
class Row:
    key: str
    label: str
    amounts: dict[str, int] = field(default_factory=dict)    # currency -> minor units
    tickets: dict[str, int] = field(default_factory=dict)    # currency -> tickets of orders still valid


@dataclass
class Revenue:
    currencies: list[str]
    totals: dict[str, int]
    by_type: list[Row]
    by_code: list[Row]
    by_day: list[tuple[datetime.date, dict[str, int]]]


def split(amount: int, weights: Sequence[int]) -> list[int]:
    """`amount` in whole units shared in proportion to `weights` (largest remainder); sums to `amount`."""
    total = sum(weights)
    if not weights:
        return []
    if total <= 0:
        return [amount] + [0] * (len(weights) - 1)
    shares = [amount * w // total for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in order[:amount - sum(shares)]:
        shares[i] += 1
    return shares


async def voucher_labels(db, voucher_ids: Iterable[Any]) -> dict[str, str]:
    """What staff read for each promo code id: the code as typed, or the id of a code since deleted."""
    ids = list(voucher_ids)
    wanted = [ObjectId(v) if isinstance(v, str) and ObjectId.is_valid(v) else v for v in ids]
    found = {str(p["_id"]): p["code"] async for p in db[PROMO_CODES].find({"_id": {"$in": wanted}}, {"code": 1})}
    return {str(v): found.get(str(v), str(v)) for v in ids}


def _aware(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


async def of_event(db, event: EventDoc, type_names: Mapping[Any, str], no_code_label: str) -> Revenue:
    """The event's revenue, read from its orders (only their money fields)."""
    zone = ZoneInfo(event.get("timezone") or "UTC")
    totals: dict[str, int] = defaultdict(int)
    types: dict[str, Row] = {}
    codes: dict[str, Row] = {}
    days: dict[datetime.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    projection = {"currency": 1, "lines": 1, "paid_amount": 1, "refunded_amount": 1, "refunds": 1, "paid_at": 1,
                  "updated_at": 1, "state": 1}
    async for order in db[ORDERS].find({"event_id": event["_id"], "paid_amount": {"$gt": 0}}, projection):
        currency = order["currency"]
        kept = int(order["paid_amount"]) - int(order["refunded_amount"])
        totals[currency] += kept
        valid = order["state"] in ("paid", "partially_refunded")
        lines = order["lines"]
        for line, share in zip(lines, split(kept, [int(line["total"]) for line in lines]), strict=True):
            type_key = str(line["ticket_type_id"])
            code_key = str(line["voucher_id"]) if line.get("voucher_id") else NO_CODE
            for rows, key in ((types, type_key), (codes, code_key)):
                row = rows.setdefault(key, Row(key, ""))
                row.amounts[currency] = row.amounts.get(currency, 0) + share
                row.tickets[currency] = row.tickets.get(currency, 0) + (int(line["quantity"]) if valid else 0)
        paid_on = _aware(order.get("paid_at") or order["updated_at"]).astimezone(zone).date()
        days[paid_on][currency] += int(order["paid_amount"])
        for refund in order.get("refunds") or ():
            days[_aware(refund["at"]).astimezone(zone).date()][currency] -= int(refund["amount"])
    labels = await voucher_labels(db, [k for k in codes if k != NO_CODE])
    for key, row in types.items():
        row.label = next((name for tid, name in type_names.items() if str(tid) == key), key)
    for key, row in codes.items():
        row.label = no_code_label if key == NO_CODE else labels.get(key, key)
    order_of_types = [str(t) for t in type_names]
    by_type = sorted(types.values(), key=lambda r: (order_of_types.index(r.key) if r.key in order_of_types
                                                    else len(order_of_types), r.key))
    by_code = sorted(codes.values(), key=lambda r: (r.key != NO_CODE, r.label))
    return Revenue(currencies=sorted(totals), totals=dict(totals), by_type=by_type, by_code=by_code,
                   by_day=_every_day(days))


def _every_day(days: Mapping[datetime.date, Mapping[str, int]]) -> list[tuple[datetime.date, dict[str, int]]]:
    if not days:
        return []
    first, last = min(days), max(days)
    span = min((last - first).days + 1, MAX_DAYS)
    first = last - datetime.timedelta(days=span - 1)
    out = []
    for i in range(span):
        day = first + datetime.timedelta(days=i)
        out.append((day, dict(days.get(day, {}))))
    return out


def chart_series(revenue: Revenue, currency: str) -> dict[str, Any]:
    """One currency's days for the chart: Unix seconds of each local midnight (as UTC, so the browser
    draws the event's dates whatever its own zone) and the amounts in minor units."""
    xs = [int(datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC).timestamp())
          for day, _ in revenue.by_day]
    return {"currency": currency, "exponent": money.exponent(currency), "x": xs,
            "y": [amounts.get(currency, 0) for _, amounts in revenue.by_day]}


async def csv_text(db, event: EventDoc, revenue: Revenue, *, actor: Mapping[str, Any] | None) -> str:
    """The page's tables as one CSV: a row per view, key and currency (UTF-8 with a byte order mark)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for view, rows in (("ticket_type", revenue.by_type), ("promo_code", revenue.by_code)):
        for row in rows:
            for currency in revenue.currencies:
                if currency in row.amounts:
                    amount = row.amounts[currency]
                    # Labels are typed by people: a cell that looks like a formula stays text.
                    writer.writerow([registry._cell(v) for v in (
                        view, row.key, row.label, currency, amount, money.plain(amount, currency),
                        row.tickets.get(currency, 0))])
    for day, amounts in revenue.by_day:
        for currency in revenue.currencies:
            amount = amounts.get(currency, 0)
            writer.writerow(["day", day.isoformat(), day.isoformat(), currency, amount,
                             money.plain(amount, currency), ""])
    for currency in revenue.currencies:
        amount = revenue.totals[currency]
        writer.writerow(["total", "", "", currency, amount, money.plain(amount, currency), ""])
    await audit.record(db, actor=actor, action="orders.revenue_export", event=event,
                       params={"currencies": revenue.currencies})
    return out.getvalue()
