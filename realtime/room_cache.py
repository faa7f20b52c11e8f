"""The recent entries of a room, kept per process, so that resumes rarely reach the database.

Recovery: a client that reconnects says where it stopped and gets what it
missed (`realtime.resume`).  The last messages of each room are kept per
process, so a reconnect storm reads each room from the database once, not
once per client; offsets that arrive late (after their gap was skipped)
go into the cache at their place.

A resume is cheap because the cache keeps, built once per change, every
entry's payload joined with commas and where each one starts: a resume is a
bisect and one slice.  For sockets that take compressed frames, runs of
entries cut at multiples of `SEGMENT` offsets are compressed once and
shared by every resume that passes through them.
"""
from __future__ import annotations

import bisect
import collections
import itertools

from realtime.compression import deflated_frame
from realtime.frames import messages_payload, payload_of

RECENT_PER_ROOM = 1000
SEGMENT = 32         # a compressed resume is cut at multiples of this many offsets
MAX_SEGMENTS = 512   # compressed runs kept per room


class RoomCache:
    """The recent frames of one room, in offset order, for cheap resumes.

    `last` is the newest offset this process holds for the room.  Until
    `merge` runs with what storage returned, the cache only collects live
    entries (`loaded` is False) and is not used to answer resumes.
    """

    __slots__ = ("epoch", "frames", "last", "loaded", "size", "counter", "_offsets", "_starts", "_blob",
                 "_segments")

    def __init__(self, epoch: str, size: int = RECENT_PER_ROOM):
        self.epoch = epoch
        self.size = size
        self.frames: collections.deque = collections.deque(maxlen=size)
        self.last = 0
        self.counter = 0   # the room's offset counter when storage was read
        self.loaded = False
        # Built on first use after a change: the offsets in order, and every
        # entry's payload joined with commas, with where each one starts.
        # A resume is then a bisect and one slice, not a loop over entries.
        self._offsets: list[int] | None = None
        self._starts: list[int] = []
        self._blob = b""
        # (first, last offset) -> that run of entries as one compressed
        # `messages` frame: resumes in a storm start and end at a few dozen
        # offsets, so each run is compressed once for all of them.
        self._segments: dict[tuple[int, int], bytes] = {}

    def add(self, offset: int, frame: bytes) -> None:
        self._offsets = None
        if not self.frames or offset > self.frames[-1][0]:
            self.frames.append((offset, frame))
        elif offset > self.frames[0][0]:
            # A late offset: into its place, unless it is there already.
            offsets = [o for o, _ in self.frames]
            i = bisect.bisect_left(offsets, offset)
            if offsets[i] != offset:
                if len(self.frames) == self.frames.maxlen:
                    self.frames.popleft()
                    i -= 1
                self.frames.insert(i, (offset, frame))
        self.last = max(self.last, offset)

    def merge(self, stored: list, counter: int = 0) -> None:
        """Storage's recent entries joined with the live ones that came meanwhile.

        `last` becomes the newest offset actually held.  The room's counter
        may be ahead of it: entries whose offset was taken but which were not
        yet stored when storage answered.  Those are still on their way and
        arrive as live messages, in their order, after `last`.
        """
        self._offsets = None
        self._segments.clear()
        entries = dict(stored)
        entries.update(dict(self.frames))
        self.frames = collections.deque(sorted(entries.items())[-self.size:], maxlen=self.size)
        self.last = max(self.last, self.frames[-1][0] if self.frames else 0)
        self.counter = max(self.counter, counter)
        self.loaded = True

    def mentions(self, user_id: str) -> bool:
        """Whether an entry held here was written by this account (its id as the author's)."""
        needle = b'"id":"' + user_id.encode() + b'"'
        return any(needle in frame for _, frame in self.frames)

    def known(self) -> int:
        """The newest offset the room is known to have taken (held here or not)."""
        return max(self.last, self.counter)

    def since(self, offset: int) -> list | None:
        """Frames after `offset`, or None when the cache does not reach back that far.

        Offsets may have holes, so "reaches back" means the cache holds
        every entry the room had after `offset`: either its oldest frame is
        at or before offset+1, or the cache still holds the room's whole
        stream (fewer entries than its size).
        """
        if not self.reaches(offset):
            return None
        if offset >= self.last:
            return []
        return [(o, f) for o, f in self.frames if o > offset]

    def reaches(self, offset: int) -> bool:
        """Whether the cache holds every entry the room had after `offset`."""
        if offset >= self.last:
            return True
        if not self.frames:
            return False
        return not (self.frames[0][0] > offset + 1 and len(self.frames) >= self.size)

    def after(self, offset: int) -> tuple[int, int, int, bytes]:
        """(first offset, last offset, count, payloads joined with commas) of the
        entries after `offset`; only meaningful when the cache `reaches` it."""
        offsets = self._index()
        i = bisect.bisect_right(offsets, offset)
        count = len(offsets) - i
        if not count:
            return 0, 0, 0, b""
        return offsets[i], offsets[-1], count, self._blob[self._starts[i]:]

    def _index(self) -> list[int]:
        """Build, once per change, the offsets and the payloads joined with commas; the offsets."""
        offsets = self._offsets
        if offsets is None:
            offsets = self._offsets = [o for o, _ in self.frames]
            payloads = [payload_of(f) for _, f in self.frames]
            self._starts = list(itertools.accumulate((len(p) + 1 for p in payloads), initial=0))
            self._blob = b",".join(payloads)
        return offsets

    def deflated_after(self, room: str, offset: int) -> bytes:
        """The entries after `offset` as compressed `messages` frames, for a
        resume on a socket that takes shared compressed frames.

        The run is cut at multiples of `SEGMENT` offsets, so that resumes
        from different positions share the compressed middle, and the
        pieces before and after it are shared by every resume that starts
        or ends at the same offset.  Only meaningful when the entries after
        `offset` are contiguous (what `after` reports), which also means
        no late entry can change a run once it is compressed.
        """
        offsets = self._index()
        starts, blob = self._starts, self._blob
        if len(self._segments) > MAX_SEGMENTS:
            oldest = offsets[0] if offsets else 0
            self._segments = {k: v for k, v in self._segments.items() if k[0] >= oldest}
            if len(self._segments) > MAX_SEGMENTS // 2:
                self._segments.clear()
        out = []
        lo, end = offset + 1, offsets[-1] if offsets else offset
        while lo <= end:
            hi = min(end, (lo - 1) // SEGMENT * SEGMENT + SEGMENT)
            frame = self._segments.get((lo, hi))
            if frame is None:
                i = bisect.bisect_left(offsets, lo)
                j = bisect.bisect_right(offsets, hi)
                frame = deflated_frame(messages_payload(room, blob[starts[i]:starts[j] - 1]))
                self._segments[(lo, hi)] = frame
            out.append(frame)
            lo = hi + 1
        return b"".join(out)
