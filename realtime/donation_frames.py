"""Live totals for the pages that show a campaign: raised and donors, pushed as gifts are confirmed.

A campaign page (and the fundraising screen) opens `/ws?campaign=<id>`,
signed in or not: the campaign's totals are public once it is open or
closed (a draft is not found).  Such a connection joins the campaign's
channel and nothing else, gets a `donations` frame with the totals at
once, and sends nothing but `ping`.

When a donation is confirmed or refunded (`donations.giving`, through the
change bus with kind `donations.totals.CHANGE`, once the gift is counted),
this process reads the campaign's counter (one document, however many gifts)
and publishes it on that channel; every process with pages open there writes the same frame to each.
Bursts are coalesced per campaign (`realtime.coalesce`): the first change
after a quiet `window` is pushed at once, the rest of the window's changes
become one push at its end, so a hundred gifts a second cost each page a
few frames a second, and the last frame carries the final totals.  Each
process takes gifts and coalesces its own; a push first claims the window
on the campaign's counter (`donations.totals.claim_push`), so all the
processes together push a campaign at most once a window, and a process
refused pushes at the window's end.

The frame also names the latest confirmed gift (`latest`: its amount and
the donor's name, empty for an anonymous gift), which the widget shows.
"""
from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from donations import campaigns, totals
from realtime import protocol
from realtime.coalesce import Coalescer
from realtime.connection import Connection

if TYPE_CHECKING:
    from realtime.live import Live

log = logging.getLogger(__name__)

# Seconds between two pushes for one campaign, at least.  A push is a write to every open page
# (10,000 pages: about a tenth of a CPU-second on the build machine, a quarter on a slower one), so
# two a second keep the totals within a second of a gift and leave the cores to the gifts themselves.
WINDOW = 0.5


def channel(campaign_id) -> str:
    """The broker channel of one campaign's totals (the hash tag keeps it in one cluster slot)."""
    return f"cp:{{{campaign_id}}}:don"


class DonationTotals:
    def __init__(self, live: Live, window: float = WINDOW):
        self.live = live
        self.window = window
        self.coalescer = Coalescer(live.services.spawn, self._push, window, "donation totals")

    async def find(self, campaign_id: str) -> dict | None:
        """The campaign a page may follow: one that exists and is not a draft."""
        found = await campaigns.get(self.live.db, campaign_id)
        return found if found is not None and found["state"] in campaigns.PUBLIC_STATES else None

    async def open(self, handler: Any, campaign: dict) -> Connection:
        """A connection that follows the campaign's totals (see the module's docstring)."""
        live = self.live
        conn_id = secrets.token_hex(8)
        conn = Connection(handler, f"visitor:{conn_id}", str(campaign["_id"]), "", live.max_buffer)
        conn.info.update(conn_id=conn_id, user={}, event=None, roles={}, session="", role="",
                         donations_only=True, bucket=protocol.TokenBucket(live.rate, live.burst, time.monotonic()))
        live.hub.add(conn)
        try:
            if live.keepalive is not None:
                live.keepalive.assign(conn)
            await live.hub.join(conn, channel(campaign["_id"]))
            conn.send(await self.frame(campaign))
        except Exception:
            await live.close(conn)
            raise
        return conn

    async def on_change(self, campaign_id, change: dict) -> None:
        if change.get("kind") == totals.CHANGE:
            self.coalescer.changed(campaign_id)

    async def _push(self, campaign_id) -> None:
        campaign = await campaigns.get(self.live.db, campaign_id)
        if campaign is None:
            return
        found = await totals.claim_push(self.live.db, campaign["_id"], self.window)
        if found is None:
            # Another process pushed this campaign within the window: push again once it is over.
            self.coalescer.changed(campaign_id)
            return
        await self.live.hub.publish(channel(campaign["_id"]), await self.frame(campaign, found))

    async def frame(self, campaign: dict, found: dict | None = None) -> dict:
        """The campaign's `donations` frame: its totals and latest gift (`found`, else read now: one read
        of the campaign's counter either way)."""
        if found is None:
            found = await totals.shown(self.live.db, campaign["_id"])
        out = totals.frame(campaign, found)
        out["latest"] = found["latest"]
        return out


def install(live: Live) -> DonationTotals:
    feature = DonationTotals(live)
    live.services.notifier.subscribe(feature.on_change)
    live.donations = feature
    return feature
