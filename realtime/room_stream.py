"""A room's messages in this process: put back in offset order, and batched when the room is busy.

Order: offsets are taken from storage before publishing, so two messages of
one room can reach the broker out of order.  Each room's messages pass
through its stream, which delivers them in offset order, holding a message
behind a gap for at most `GAP_WAIT` (a retry that lost its race leaves a
hole that never fills).  An offset that arrives after its gap was skipped
(storage was slow, not a hole) is still written to every member that was in
the room when it was skipped (`owed`), and to every connection whose resume
went past it before it arrived (`lacking`).

Batching windows: when a room is busy, what arrives within a window of the
last write is written to each socket at once (as one `messages` frame when
the room has at least the hub's `combine_members` local members, so that
clients parse one frame, not one per message): a socket costs one write per window, not one per
message, while a quiet room is written at once.  The window grows with the
room's local members (`WRITE_COST` each, at most `BATCH_WINDOW`): a write
to a socket costs about 9 µs of CPU (measured in a reconnect storm, the
kernel's loopback delivery included), so fan-out of a busy room stays
under a sixth of a core while small rooms keep low latency; a room with
4,500 members in this process is written every 250 ms.  A longer window
trades latency for CPU, the server's and every client's; at this length
the bench's 200 messages a second into 9,000 viewers arrive within about
0.3 s at p99, and a reconnect storm has the CPU it needs for the handshakes.

The hub owns the timers and the writes; a stream holds the state and its
steps.
"""
from __future__ import annotations

import asyncio

BATCH_WINDOW = 0.25  # seconds: the longest a busy room's message waits to be batched
WRITE_COST = 56e-6   # seconds of window per local member (see above)
MIN_WINDOW = 0.02
GAP_WAIT = 2.0       # seconds a message waits for an earlier offset before the gap is skipped
OWED_LIMIT = 10000   # skipped offsets remembered per room, to deliver if they come late


class RoomStream:
    """Per room and process: puts messages back in offset order and batches bursts."""

    __slots__ = ("expected", "held", "gap_timer", "batch", "flush_timer", "last_write", "joins", "owed",
                 "lacking")

    def __init__(self):
        self.expected: int | None = None    # the next offset to deliver
        self.held: dict[int, bytes] = {}    # offsets that arrived ahead of a gap
        self.gap_timer: asyncio.TimerHandle | None = None
        self.batch: list[tuple[int, bytes]] = []   # (offset, frame) waiting for the window
        self.flush_timer: asyncio.TimerHandle | None = None
        self.last_write = float("-inf")
        self.joins = 0                      # members that joined so far, numbering them
        self.owed: dict[int, int] = {}      # skipped offset -> joins when it was skipped
        # offset -> connections whose resume went past it before it arrived
        self.lacking: dict[int, set] = {}

    def release(self, cache) -> bool:
        """Move every held offset that no longer waits on a gap into the batch
        (and into `cache`, when given); whether any moved."""
        released = False
        while self.expected in self.held:
            offset = self.expected
            frame = self.held.pop(offset)
            if cache is not None:
                cache.add(offset, frame)
            self.batch.append((offset, frame))
            self.expected = offset + 1
            released = True
        return released

    def due(self, members: int, batch_window: float) -> float:
        """When the batch may be written: a window after the last write, longer for more members."""
        return self.last_write + min(batch_window, max(MIN_WINDOW, members * WRITE_COST))

    def skip_gap(self) -> None:
        """Stop waiting for the offsets before the first held one; the members
        in the room now are owed them, should they come late."""
        first = min(self.held)
        assert self.expected is not None  # offsets are held only once the expected one is known
        for skipped in range(max(self.expected, first - OWED_LIMIT), first):
            self.owed[skipped] = self.joins
        while len(self.owed) > OWED_LIMIT:
            self.owed.pop(next(iter(self.owed)))
        self.expected = first

    def settle(self, offset: int) -> tuple[int | None, set | tuple]:
        """For an offset that came after its place: the join count when it was
        skipped (None if it was not) and the connections whose resume lacks it."""
        return self.owed.pop(offset, None), self.lacking.pop(offset, ())

    def owe(self, conn, offsets) -> None:
        """Offsets a resume of `conn` went past without having them."""
        for offset in offsets:
            self.lacking.setdefault(offset, set()).add(conn)
        # Offsets that never arrive (a write that failed after taking its
        # offset) must not pin connections forever.
        while len(self.lacking) > OWED_LIMIT:
            self.lacking.pop(next(iter(self.lacking)))

    def cancel(self) -> None:
        for timer in (self.gap_timer, self.flush_timer):
            if timer is not None:
                timer.cancel()
