"""What a campaign has raised and from how many donors: read from its confirmed donations.

The counting rule, the same on every page and in every live frame: a
donation counts once its payment is confirmed (by the provider's signed
notification, or from the donor's wallet); a pledge or a payment still
pending does not; what is counted is the amount the donor gave, before the
payment provider's fees; a refund takes its amount off again.  Donors are
distinct people: an account, or a guest's e-mail address.

Nothing keeps a separate counter, so the total shown is the sum of the
donations by construction; a campaign's totals are read at most a few times
a second however many gifts arrive (`realtime.donation_frames`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DONATIONS = "donations"
CONFIRMED, REFUNDED = "confirmed", "refunded"
CHANGE = "donations"   # the change bus's kind: a campaign's totals may have changed (id: the campaign's)


async def of(db, campaign_ids: Iterable[Any]) -> dict[Any, dict[str, int]]:
    """Campaign id -> {"raised": minor units, "donors": people}, zero for one without donations.

    Read with a plain find of the fields one index holds (`campaign_state_donor_amounts`: covered on
    MongoDB, no document fetched) and summed here; on the embedded store a find uses its indexes where
    an aggregation scans.
    """
    ids = list(campaign_ids)
    out: dict[Any, dict[str, int]] = {cid: {"raised": 0, "donors": 0} for cid in ids}
    net: dict[Any, dict[str, int]] = {cid: {} for cid in ids}
    cursor = db[DONATIONS].find({"campaign_id": {"$in": ids}, "state": {"$in": [CONFIRMED, REFUNDED]}},
                                {"_id": 0, "campaign_id": 1, "donor_key": 1, "amount": 1, "refunded": 1})
    async for row in cursor:
        given = int(row["amount"]) - int(row.get("refunded") or 0)
        per = net.setdefault(row["campaign_id"], {})
        per[row["donor_key"]] = per.get(row["donor_key"], 0) + given
        cell = out.setdefault(row["campaign_id"], {"raised": 0, "donors": 0})
        cell["raised"] += given
    for cid, per in net.items():
        out[cid]["donors"] = sum(1 for v in per.values() if v > 0)
    return out


async def one(db, campaign_id: Any) -> dict[str, int]:
    return (await of(db, [campaign_id]))[campaign_id]


def percent(raised: int, goal: int) -> int:
    """How much of the goal is reached, 0..100 (the bar stops full when a campaign raises more)."""
    return max(0, min(100, (raised * 100) // goal)) if goal > 0 else 0


def frame(campaign: Mapping[str, Any], found: Mapping[str, int]) -> dict[str, Any]:
    """The `donations` message open campaign pages receive (docs/protocol.md)."""
    return {"type": "donations", "campaign": str(campaign["_id"]), "raised": int(found["raised"]),
            "donors": int(found["donors"]), "goal": int(campaign["goal"]), "currency": campaign["currency"]}
