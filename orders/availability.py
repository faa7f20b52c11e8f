"""What an event sells and what is left of it, read once for every buyer of this process asking at once.

A checkout decides from the event's ticket types and its quotas (without
their holds) whether the choice is valid and whether it still has room
(`orders.checkout.reserve`).  In a rush for the last tickets a thousand
buyers ask at the same moment and almost all are refused: read by each of
them, that would be a thousand reads queued up in the store.

`Availability.read` shares one read among concurrent requests (single
flight) without ever answering older news than a request's own read would:
a request joins only a read that *began after it asked*.  While a read is
under way, everyone who asks meanwhile waits for the next one, which starts
as soon as it ends and serves them all.  So each process has at most one
such read in flight per event, a buyer waits for at most two, and every
answer is as fresh as reading it oneself: a ticket given back (a refund, an
expiry) is seen by the very next buyer who asks, in every process.

The answer is only ever used to refuse or to check the choice: a sale is
decided by the conditional take in the store (`orders.quotas.take`).

A read that shows room for 10 is shared by hundreds of buyers, and each
would write a reservation, try the take and be refused: hundreds of
writes for ten tickets.  So this process also counts the tickets its own
buyers are trying to take from each quota (`Availability.attempt`): a
buyer whose quotas, as read, have no room beyond what this process's
attempts under way may take waits until one of them ends, then reads
again.  Nobody is refused on a guess: a buyer waits (for a few store calls
of the attempts under way) and is refused only by a read that shows no
room, or by the take itself.  Other processes' attempts are not counted,
so each process may try for as many tickets as are left, and the take
decides between them.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from orders import quotas, ticket_types


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """An event's ticket types and quotas (without holds), read together."""

    types: list[dict[str, Any]]
    quotas: list[dict[str, Any]]

    def types_by_id(self) -> dict[str, dict[str, Any]]:
        return {str(t["_id"]): t for t in self.types}

    def by_type(self, type_ids: Iterable[Any]) -> dict[Any, list[dict[str, Any]]]:
        """Each type's quotas, as `orders.quotas.of_types` answers."""
        out: dict[Any, list[dict[str, Any]]] = {t: [] for t in type_ids}
        for q in self.quotas:
            for t in q["ticket_type_ids"]:
                if t in out:
                    out[t].append(q)
        return out

    def left(self, type_ids: Iterable[Any]) -> dict[Any, int | None]:
        """Type id -> tickets left (None: no limit), as `orders.quotas.availability` answers."""
        return {t: quotas.left_for(qs) for t, qs in self.by_type(type_ids).items()}


async def read_now(db, event_id) -> Snapshot:
    """The event's types and quotas as they are now (two reads, sent together)."""
    types, found = await asyncio.gather(ticket_types.of_event(db, event_id), quotas.of_event(db, event_id))
    return Snapshot(types, found)


class _Flight:
    """One event's reads in this process: the one under way, and the next one its latecomers wait for."""

    def __init__(self):
        self.running: asyncio.Future[Snapshot] | None = None
        self.next: asyncio.Future[Snapshot] | None = None


class Availability:
    """`await availability.read(db, event_id)`: a `Snapshot` read after the call, shared (see the module)."""

    def __init__(self):
        self._flights: dict[str, _Flight] = {}
        self._trying: dict[str, dict[str, int]] = {}     # event -> quota id -> tickets being taken here
        self._ended: dict[str, asyncio.Event] = {}       # event -> set when one of its attempts ends
        self.reads = 0   # reads sent to the store (tests count them)

    async def read(self, db, event_id) -> Snapshot:
        key = str(event_id)
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = _Flight()
        wanted: asyncio.Future[Snapshot]
        if flight.running is None:
            # Nothing under way: this read begins now, after the caller asked; others may join it.
            flight.running = asyncio.ensure_future(self._run(db, event_id, key, flight))
            wanted = flight.running
        else:
            # The read under way began before this caller asked: wait for the next one.
            if flight.next is None:
                flight.next = asyncio.get_running_loop().create_future()
            wanted = flight.next
        # Shielded: a request that gives up does not cancel the read the others wait for.
        return await asyncio.shield(wanted)

    def room_for(self, event_id, seen: Snapshot, wanted: Mapping[str, int]) -> bool:
        """Whether the quotas, as `seen`, have room for `wanted` beyond what this process is taking."""
        trying = self._trying.get(str(event_id), {})
        left = {str(q["_id"]): int(q.get("left", 0)) for q in seen.quotas}
        return all(trying.get(qid, 0) + n <= left.get(qid, n) for qid, n in wanted.items())

    async def ended(self, event_id) -> None:
        """Wait until one of this process's attempts at the event's quotas ends."""
        key = str(event_id)
        if not self._trying.get(key):
            return
        await self._ended.setdefault(key, asyncio.Event()).wait()

    @contextlib.asynccontextmanager
    async def attempt(self, event_id, wanted: Mapping[str, int]) -> AsyncIterator[None]:
        """Count `wanted` (quota id -> tickets) as being taken here while the block runs."""
        key = str(event_id)
        trying = self._trying.setdefault(key, {})
        for qid, n in wanted.items():
            trying[qid] = trying.get(qid, 0) + n
        try:
            yield
        finally:
            for qid, n in wanted.items():
                trying[qid] -= n
                if not trying[qid]:
                    del trying[qid]
            if not trying:
                del self._trying[key]
            ended = self._ended.pop(key, None)
            if ended is not None:
                ended.set()

    async def _run(self, db, event_id, key: str, flight: _Flight) -> Snapshot:
        try:
            self.reads += 1
            return await read_now(db, event_id)
        finally:
            waiting, flight.next = flight.next, None
            if waiting is None:
                flight.running = None
                if self._flights.get(key) is flight:
                    del self._flights[key]
            else:
                # Those who asked during this read get the next one, which begins now.
                flight.running = asyncio.ensure_future(self._run(db, event_id, key, flight))
                flight.running.add_done_callback(lambda done: _settle(waiting, done))


def _settle(target: asyncio.Future[Snapshot], done: asyncio.Future[Snapshot]) -> None:
    if target.done():
        return
    if done.cancelled():
        target.cancel()
    elif done.exception() is not None:
        target.set_exception(done.exception())  # type: ignore[arg-type]
    else:
        target.set_result(done.result())
