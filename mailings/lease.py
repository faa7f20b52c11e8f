"""One runner at a time for a mailing: a claim with a lease, renewed while the runner works.

A mailing is a document with a `status`, a `runner` and a `lease_until`.
Whoever wants to work it claims it by one conditional update, which matches
only while it still waits or runs and nobody holds an unexpired lease; the
winner renews the lease while it works (`Lease.keep`), so a second process,
or a restart while the old lease is still valid, waits for the lease to
lapse before taking over (`acquire`).  A runner that stops on purpose gives
its lease back (`Lease.release`) so the next start resumes at once; one
that dies is taken over once its lease has run out.

Used by the sign-in mailings (`mailings.signin_mailing`) and the invitation
mailings (`invitations.campaigns`).
"""
from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence

from core.clock import utcnow

LEASE = datetime.timedelta(seconds=90)
RENEW_BELOW = datetime.timedelta(seconds=60)


async def claim(collection, doc_id, runner: str, *, waiting: Sequence[str], running: str,
                lease: datetime.timedelta = LEASE) -> dict | None:
    """Hold the document if it waits or runs and no live lease holds it; the document as it was, or None."""
    now = utcnow()
    return await collection.find_one_and_update(
        {"_id": doc_id, "status": {"$in": list(waiting)},
         "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]},
        {"$set": {"status": running, "runner": runner, "lease_until": now + lease}})


async def acquire(collection, doc_id, runner: str, *, waiting: Sequence[str], running: str,
                  lease: datetime.timedelta = LEASE) -> dict | None:
    """Claim the document, waiting while another runner's lease is valid; None once it no longer waits or runs."""
    while True:
        held = await claim(collection, doc_id, runner, waiting=waiting, running=running, lease=lease)
        if held:
            return held
        current = await collection.find_one({"_id": doc_id})
        if not current or current["status"] not in waiting:
            return None
        # Another runner holds it (or held it just before a restart): wait
        # for its lease to lapse; if it is alive it renews and we wait again.
        until = current.get("lease_until")
        left = (until - utcnow()).total_seconds() if until else 0
        await asyncio.sleep(min(max(left, 0) + 1, lease.total_seconds()))


class Lease:
    """The runner's hold on a document, renewed while it works."""

    def __init__(self, collection, doc_id, runner: str, lease: datetime.timedelta = LEASE,
                 renew_below: datetime.timedelta = RENEW_BELOW):
        self.collection, self.doc_id, self.runner = collection, doc_id, runner
        self.lease, self.renew_below = lease, renew_below
        self.until = utcnow() + lease
        self.lost = False

    async def keep(self) -> bool:
        """Renew the lease when it runs low; False once another runner took the document over."""
        if not self.lost and self.until - utcnow() < self.renew_below:
            until = utcnow() + self.lease
            result = await self.collection.update_one(
                {"_id": self.doc_id, "runner": self.runner}, {"$set": {"lease_until": until}})
            self.lost = result.matched_count == 0
            self.until = until
        return not self.lost

    async def release(self) -> None:
        """Give the lease back (stopping on purpose): the next start resumes at once."""
        await self.collection.update_one({"_id": self.doc_id, "runner": self.runner},
                                         {"$set": {"lease_until": None}})
