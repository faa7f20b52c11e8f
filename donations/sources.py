"""Where a gift came from: the `source` a donation records, and the counts staff read per source.

The campaign page takes it from its address (`?src=`), and its gift form
carries it into the donation:
- `qr` or `qr-<tag>`: the page was opened from a printed QR code
  (`donations.qr`, the tag typed by staff);
- `widget`: from the widget's link (`handlers.donation_widget`);
- `push`: from a Web Push notification;
- `direct` when the address named none.
Any other short name of lower-case letters, digits and hyphens is kept as
it is (a mailing's own tag, say); an address with a malformed one counts as
`direct`, since a visitor's link is not theirs to fix.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from donations.totals import CONFIRMED, DONATIONS, REFUNDED

DIRECT, WIDGET, PUSH, QR = "direct", "widget", "push", "qr"
MAX = 40
SOURCE = re.compile(rf"^[a-z0-9][a-z0-9-]{{0,{MAX - 1}}}$")


def valid(value: str) -> bool:
    return bool(SOURCE.match(value or ""))


def from_address(value: str | None) -> str:
    """The source named by a page's `?src=`: itself when well formed, else `direct`."""
    text = (value or "").strip()
    return text if valid(text) else DIRECT


def of(donation: Mapping[str, Any]) -> str:
    """A stored donation's source (gifts made before sources were recorded are `direct`)."""
    return str(donation.get("source") or DIRECT)


async def counts(db, campaign_id: Any) -> list[dict[str, Any]]:
    """[{source, donations, raised}] of the campaign's counted gifts (as `donations.totals` counts them:
    confirmed, refunds taken off, a wholly refunded gift not at all), most given first."""
    found: dict[str, dict[str, Any]] = {}
    cursor = db[DONATIONS].find({"campaign_id": campaign_id, "state": {"$in": [CONFIRMED, REFUNDED]}},
                                {"_id": 0, "source": 1, "amount": 1, "refunded": 1})
    async for row in cursor:
        given = int(row["amount"]) - int(row.get("refunded") or 0)
        if given <= 0:
            continue
        cell = found.setdefault(of(row), {"source": of(row), "donations": 0, "raised": 0})
        cell["donations"] += 1
        cell["raised"] += given
    return sorted(found.values(), key=lambda c: (-c["raised"], c["source"]))
