"""The donation ledger of a space for accounting, as CSV (docs/donations-ledger.md describes the columns).

One row per movement dated in the range (UTC days, both included), oldest
first, with columns that never change (`COLUMNS`):

- `donation`: a confirmed gift (card or wallet), on its confirmation, for the
  amount given (a gift refunded later keeps its row; the refund has its own);
- `refund`: money given back on a gift by card, on the day the provider made
  it (the payments ledger's refund entry), negative;
- `wallet_gift`: the debit of a donor's wallet for a gift to one of the
  space's campaigns, negative (the same money as that gift's `donation` row,
  seen from the wallet).

So, per campaign and currency, the `donation` rows plus the `refund` rows add
up to what the campaign raised (`donations.totals`).  Wallet top-ups belong to
no space (a donor tops up once and gives to any campaign), so they are not in
a space's export.

`stream` yields the CSV in pieces, reading the three sources through sorted
cursors merged by date: a range of any length is never held in memory.
"""
from __future__ import annotations

import csv
import datetime
import heapq
import io
from collections.abc import AsyncIterator, Mapping
from typing import Any

from access import audit
from donations import campaigns, sources, wallet
from donations.analytics import bounds
from donations.totals import CONFIRMED, DONATIONS, REFUNDED

COLUMNS = ("date_utc", "kind", "id", "campaign_id", "amount_minor", "currency", "donor_id", "payment_id", "source")
DONATION, REFUND, WALLET_GIFT = "donation", "refund", "wallet_gift"
GUEST = "guest"
BATCH = 500


def _aware(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _stamp(value: datetime.datetime) -> str:
    return _aware(value).astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _donor(donation: Mapping[str, Any]) -> str:
    user_id = (donation.get("donor") or {}).get("user_id")
    return str(user_id) if user_id else GUEST


async def _donations(db, space_id: Any, start, end) -> AsyncIterator[tuple]:
    cursor = db[DONATIONS].find(
        {"space_id": space_id, "state": {"$in": [CONFIRMED, REFUNDED]}, "confirmed_at": {"$gte": start, "$lt": end}},
        {"_id": 1, "campaign_id": 1, "amount": 1, "currency": 1, "donor.user_id": 1, "payment_ref": 1,
         "source": 1, "confirmed_at": 1}).sort([("confirmed_at", 1), ("_id", 1)])
    async for d in cursor:
        yield (_aware(d["confirmed_at"]), 0, str(d["_id"]),
               [DONATION, str(d["_id"]), str(d["campaign_id"]), int(d["amount"]), d["currency"], _donor(d),
                str(d.get("payment_ref") or ""), sources.of(d)])


async def _refunds(db, space_id: Any, start, end) -> AsyncIterator[tuple]:
    cursor = db.payments_ledger.find(
        {"space_id": space_id, "purpose": "donation", "kind": "refund", "at": {"$gte": start, "$lt": end}},
        {"_id": 1, "ref": 1, "amount": 1, "currency": 1, "attempt_id": 1, "provider_ref": 1, "at": 1}
    ).sort([("at", 1), ("_id", 1)])
    batch: list[dict] = []

    async def rows(entries: list[dict]):
        gifts = {d["_id"]: d async for d in db[DONATIONS].find(
            {"_id": {"$in": [campaigns.as_id(e["ref"]) for e in entries]}},
            {"campaign_id": 1, "donor.user_id": 1, "source": 1})}
        out = []
        for e in entries:
            gift = gifts.get(campaigns.as_id(e["ref"])) or {}
            out.append((_aware(e["at"]), 1, str(e["_id"]),
                        [REFUND, str(e.get("provider_ref") or e["_id"]), str(gift.get("campaign_id") or ""),
                         int(e["amount"]), e["currency"], _donor(gift), str(e.get("attempt_id") or ""),
                         sources.of(gift) if gift else ""]))
        return out

    async for entry in cursor:
        batch.append(entry)
        if len(batch) == BATCH:
            for row in await rows(batch):
                yield row
            batch = []
    if batch:
        for row in await rows(batch):
            yield row


async def _wallet_gifts(db, campaign_ids: list[Any], start, end) -> AsyncIterator[tuple]:
    cursor = db[wallet.ENTRIES].find(
        {"campaign_id": {"$in": campaign_ids}, "kind": wallet.GIFT, "state": wallet.APPLIED,
         "applied_at": {"$gte": start, "$lt": end}},
        {"_id": 1, "key": 1, "user_id": 1, "amount": 1, "currency": 1, "campaign_id": 1, "donation_id": 1,
         "applied_at": 1}).sort([("applied_at", 1), ("_id", 1)])
    async for e in cursor:
        yield (_aware(e["applied_at"]), 2, str(e["_id"]),
               [WALLET_GIFT, e["key"], str(e["campaign_id"]), int(e["amount"]), e["currency"], str(e["user_id"]),
                f"wallet:{e['key']}", ""])


async def _merge(*sources: AsyncIterator[tuple]) -> AsyncIterator[tuple]:
    """The rows of sorted sources, in one order (date, then kind, then id), holding one row per source."""
    heads: list[tuple] = []
    for i, src in enumerate(sources):
        row = await anext(src, None)
        if row is not None:
            heapq.heappush(heads, (row[:3], i, row))
    while heads:
        _, i, row = heapq.heappop(heads)
        yield row
        nxt = await anext(sources[i], None)
        if nxt is not None:
            heapq.heappush(heads, (nxt[:3], i, nxt))


async def stream(db, space: Mapping[str, Any], since: datetime.date, until: datetime.date, *,
                 actor: Mapping[str, Any] | None) -> AsyncIterator[str]:
    """The space's ledger for the range as CSV text in pieces (UTF-8 with a byte order mark first)."""
    start, end = bounds(since, until)
    campaign_ids = [c["_id"] for c in await campaigns.listing(db, space["_id"])]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow(COLUMNS)
    n = 0
    async for at, _, _, cells in _merge(_donations(db, space["_id"], start, end),
                                        _refunds(db, space["_id"], start, end),
                                        _wallet_gifts(db, campaign_ids, start, end)):
        writer.writerow([_stamp(at), *cells])
        n += 1
        if n % BATCH == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    await audit.record(db, actor=actor, action="donations.ledger_export", space_id=space["_id"],
                       params={"since": since.isoformat(), "until": until.isoformat(), "rows": n})
    yield out.getvalue()
