"""Donation analytics for a space's staff: gifts and amounts by time, campaign, category, source and donor.

What counts, on every view: a confirmed gift (state "confirmed", so not one
pending, nor one refunded in full), dated by its confirmation (UTC), for
what the donor gave less what was refunded of it (integer minor units).
Each currency is summed on its own: two currencies are never added.

Views (each a list of `Row`s: key, gifts and amount per currency):

- `hour` and `day`: every UTC hour (for a range of at most `MAX_HOURLY_DAYS`
  days) and every UTC day of the range, empty ones too (for the charts);
- `campaign`, `category`;
- `source`: the gift's `source` as stored (`donations.sources`: "direct",
  "qr", "qr-<tag>", "widget", "push", "assistant"...); a gift made before
  sources were recorded is "direct";
- `recurring`: "recurring" for a month of a monthly pledge (`pledge_id`,
  `donations.pledges`: its first gift too) or a gift marked `recurring`,
  otherwise "one_off";
- `donor`: "registered" (given while signed in) or "guest";
- `history`: "new" when it is the donor's first confirmed gift in the space
  (ever, not only in the range; the donor is an account or a guest's
  e-mail address), otherwise "returning".

Read with plain finds over indexed fields and summed here (the embedded
store uses its indexes for a find where an aggregation scans).  `csv_rows`
gives the same numbers as the charts.
"""
from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import Refusal
from core.i18n import N_
from donations import campaigns, sources
from donations.totals import CONFIRMED, DONATIONS, REFUNDED

VIEWS = ("hour", "day", "campaign", "category", "source", "recurring", "donor", "history")
DIRECT = sources.DIRECT
MAX_DAYS = 366
MAX_HOURLY_DAYS = 31
FIRSTS_CHUNK = 200   # donors asked about in one read (the index `donor_space_confirmed` answers each)
CSV_COLUMNS = ("view", "key", "label", "currency", "gifts", "amount_minor")

FIXED_LABELS = {
    "one_off": N_("One-off"), "recurring": N_("Recurring"), "registered": N_("Registered"), "guest": N_("Guest"),
    "new": N_("New donor"), "returning": N_("Returning donor"), DIRECT: N_("Direct"),
    "assistant": N_("Giving assistant"),
}
# The keys of the views whose keys are words of ours (a source may also be any tag a link carried).
VIEW_KEYS = {"source": (DIRECT, "assistant"), "recurring": ("one_off", "recurring"), "donor": ("registered", "guest"),
             "history": ("new", "returning")}


class RangeError(Refusal):
    """The date filter is not a range; nothing was read."""


@dataclass
class Row:
    key: str
    gifts: dict[str, int] = field(default_factory=dict)     # currency -> gifts
    amounts: dict[str, int] = field(default_factory=dict)   # currency -> minor units

    def add(self, currency: str, amount: int) -> None:
        self.gifts[currency] = self.gifts.get(currency, 0) + 1
        self.amounts[currency] = self.amounts.get(currency, 0) + amount


@dataclass
class Report:
    since: datetime.date
    until: datetime.date
    currencies: list[str]
    totals: Row
    views: dict[str, list[Row]]
    hourly: bool


def bounds(since: datetime.date, until: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The UTC instants [start of `since`, end of `until`)."""
    start = datetime.datetime.combine(since, datetime.time(), tzinfo=datetime.UTC)
    return start, datetime.datetime.combine(until, datetime.time(), tzinfo=datetime.UTC) + datetime.timedelta(days=1)


def parse_range(since: str, until: str, today: datetime.date, default_days: int = 30
                ) -> tuple[datetime.date, datetime.date]:
    """The range from the filter's two dates (either may be empty); RangeError when it is not one."""
    try:
        end = datetime.date.fromisoformat(until) if until else today
        begin = datetime.date.fromisoformat(since) if since else end - datetime.timedelta(days=default_days - 1)
    except ValueError:
        raise RangeError(N_("A date is not a date (YYYY-MM-DD).")) from None
    if begin > end:
        raise RangeError(N_("The range ends before it starts."))
    if (end - begin).days + 1 > MAX_DAYS:
        raise RangeError(N_("Choose a range of at most %(max)s days."), max=MAX_DAYS)
    return begin, end


def _aware(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


async def report(db, space_id: Any, since: datetime.date, until: datetime.date,
                 campaign_id: Any = None) -> Report:
    """Every view for the space's confirmed gifts in the range (one campaign's, given `campaign_id`)."""
    start, end = bounds(since, until)
    hourly = (until - since).days + 1 <= MAX_HOURLY_DAYS
    query: dict[str, Any] = {"space_id": space_id, "state": CONFIRMED, "confirmed_at": {"$gte": start, "$lt": end}}
    if campaign_id is not None:
        query["campaign_id"] = campaign_id
    projection = {"_id": 1, "campaign_id": 1, "amount": 1, "refunded": 1, "currency": 1, "confirmed_at": 1,
                  "source": 1, "recurring": 1, "pledge_id": 1, "monthly": 1, "donor.user_id": 1,
                  "donor_key": 1}
    # Two reads: the range's donors (to find each one's first gift in the space), then its gifts; only the
    # donors and the rows are held, never the gifts.
    donors = {g["donor_key"] async for g in db[DONATIONS].find(query, {"_id": 0, "donor_key": 1})}
    firsts = await _first_gifts(db, space_id, donors, end)
    categories = {c["_id"]: c["category"] for c in await campaigns.listing(db, space_id)}
    views: dict[str, dict[str, Row]] = {v: {} for v in VIEWS}
    totals = Row("total")
    async for g in db[DONATIONS].find(query, projection):
        at = _aware(g["confirmed_at"])
        amount = int(g["amount"]) - int(g.get("refunded") or 0)
        currency = g["currency"]
        donor = g["donor_key"]
        keys = {
            "day": at.date().isoformat(),
            "campaign": str(g["campaign_id"]),
            "category": categories.get(g["campaign_id"], "other"),
            "source": sources.of(g),
            "recurring": "recurring" if g.get("pledge_id") or g.get("monthly") or g.get("recurring") else "one_off",
            "donor": "registered" if (g.get("donor") or {}).get("user_id") else "guest",
            "history": "new" if firsts.get(donor) == g["_id"] else "returning",
        }
        if hourly:
            keys["hour"] = at.replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:00Z")
        totals.add(currency, amount)
        for view, key in keys.items():
            views[view].setdefault(key, Row(key)).add(currency, amount)
    out = {view: sorted(rows.values(), key=lambda r: r.key) for view, rows in views.items()}
    out["day"] = _every(views["day"], [(since + datetime.timedelta(days=i)).isoformat()
                                       for i in range((until - since).days + 1)])
    if hourly:
        out["hour"] = _every(views["hour"], [(start + datetime.timedelta(hours=i)).strftime("%Y-%m-%dT%H:00Z")
                                             for i in range(int((end - start).total_seconds()) // 3600)])
    # Biggest first where the order means nothing else.
    for view in ("campaign", "category", "source"):
        out[view].sort(key=lambda r: (-sum(r.gifts.values()), r.key))
    return Report(since=since, until=until, currencies=sorted(totals.amounts), totals=totals, views=out,
                  hourly=hourly)


def _every(rows: Mapping[str, Row], keys: list[str]) -> list[Row]:
    return [rows.get(k) or Row(k) for k in keys]


async def _first_gifts(db, space_id: Any, donor_keys: Iterable[str], before: datetime.datetime) -> dict[str, Any]:
    """Donor key -> the id of that donor's first confirmed gift in the space (refunded ones too) before
    `before`: a gift is a new donor's when it is that one, whichever campaign the view is filtered to."""
    keys = list(donor_keys)
    first: dict[str, tuple[datetime.datetime, Any]] = {}
    for i in range(0, len(keys), FIRSTS_CHUNK):
        chunk = keys[i:i + FIRSTS_CHUNK]
        async for g in db[DONATIONS].find({"space_id": space_id, "donor_key": {"$in": chunk},
                                           "state": {"$in": [CONFIRMED, REFUNDED]}, "confirmed_at": {"$lt": before}},
                                          {"_id": 1, "donor_key": 1, "confirmed_at": 1}):
            mark = (_aware(g["confirmed_at"]), g["_id"])
            if g["donor_key"] not in first or mark < first[g["donor_key"]]:
                first[g["donor_key"]] = mark
    return {k: v[1] for k, v in first.items()}


def chart(report: Report, view: str, currency: str, what: str = "amounts") -> dict[str, Any]:
    """One view's numbers for the browser's chart: keys and values (minor units, or gifts) of one currency."""
    rows = report.views[view]
    return {"view": view, "currency": currency, "keys": [r.key for r in rows],
            "y": [getattr(r, what).get(currency, 0) for r in rows]}


def csv_rows(report: Report, view: str, labels: Mapping[str, str]) -> Iterable[list[Any]]:
    """The view's rows as CSV (`CSV_COLUMNS`), one per key and currency; every key of a time view, per
    currency, with its zeros."""
    for row in report.views[view]:
        for currency in report.currencies:
            if currency in row.gifts or view in ("hour", "day"):
                yield [view, row.key, labels.get(row.key, row.key), currency, row.gifts.get(currency, 0),
                       row.amounts.get(currency, 0)]


async def from_source(db, space_id: Any, source: str, since: datetime.date, until: datetime.date) -> Row:
    """Confirmed gifts in the range that came from `source`: count and amount per currency."""
    start, end = bounds(since, until)
    row = Row(source)
    async for g in db[DONATIONS].find({"space_id": space_id, "state": CONFIRMED, "source": source,
                                       "confirmed_at": {"$gte": start, "$lt": end}},
                                      {"_id": 0, "amount": 1, "refunded": 1, "currency": 1}):
        row.add(g["currency"], int(g["amount"]) - int(g.get("refunded") or 0))
    return row
