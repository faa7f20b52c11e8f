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
clients parse one frame, not one per message): a socket costs one write per
window, not one per message, while a quiet room is written at once.  The
window is the room's last writes' measured cost times `DUTY` (at least
`MIN_WINDOW`, at most `BATCH_WINDOW`, long enough for a machine whose sends
cost several times the build machine's): the time one window's writes took,
divided by its members, averaged over the room's recent writes
(`write_cost`), times the room's local members now.  Fan-out of a busy room
so stays near a `DUTY`-th of a core whatever the machine: where a write is
cheap the window is short and messages arrive sooner; where writes are dear
(a slower machine, a loaded one, a kernel with costlier sends) the window
grows, the CPU stays bounded, and a reconnect storm keeps the CPU it needs
for the handshakes.  A room starts at `WRITE_COST`, a write's cost measured
on the build machine (about 9 µs with the kernel's loopback delivery).

The hub owns the timers and the writes; a stream holds the state and its
steps.
"""
from __future__ import annotations

import asyncio

BATCH_WINDOW = 1.0   # seconds: the longest a busy room's message waits to be batched
WRITE_COST = 9e-6    # seconds one socket's write costs, until the room has measured its own
DUTY = 5.0           # a window is this many times what writing it costs: fan-out takes about 1/DUTY of a core
MIN_WINDOW = 0.02
MEASURE_FROM = 50    # members from which a window's writes are timed (fewer: too short to time)
SMOOTHING = 0.25     # weight of the newest measurement in `write_cost`
GAP_WAIT = 2.0       # seconds a message waits for an earlier offset before the gap is skipped
OWED_LIMIT = 10000   # skipped offsets remembered per room, to deliver if they come late


class RoomStream:
    """Per room and process: puts messages back in offset order and batches bursts."""

    __slots__ = ("expected", "held", "gap_timer", "batch", "flush_timer", "last_write", "joins", "owed",
                 "lacking", "write_cost")

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
        self.write_cost = WRITE_COST        # seconds per member write, averaged over recent windows

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
        """When the batch may be written: a window after the last write, as long as
        `DUTY` times what writing it to `members` costs."""
        return self.last_write + min(batch_window, max(MIN_WINDOW, members * self.write_cost * DUTY))

    def wrote(self, members: int, seconds: float) -> None:
        """A window's writes to `members` sockets took `seconds`: the room's cost per write follows."""
        if members >= MEASURE_FROM:
            self.write_cost += SMOOTHING * (seconds / members - self.write_cost)

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
