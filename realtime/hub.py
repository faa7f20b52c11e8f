"""The hub: this process's WebSocket connections and the rooms they are in.

Rooms live in memory; the process knows only its own connections.  A change
is stored first and published once through the broker; every process with
members in that room receives it once and writes the same framed bytes to
each local socket (`realtime.frames`), with no task per socket.

Backpressure: each write checks how many bytes the socket has not yet
accepted.  A client over `max_buffer` is disconnected (close code 4008) and
resumes later by offset; its backlog never grows the server's memory.

Order and bursts: offsets are taken from storage before publishing, so two
messages of one room can reach the broker out of order.  Each room's
messages pass through a sequencer (`RoomStream`) that delivers them in
offset order, holding a message behind a gap for at most `GAP_WAIT` (a
retry that lost its race leaves a hole that never fills).  An offset that
arrives after its gap was skipped (storage was slow, not a hole) is still
written to every member that was in the room when it was skipped, and goes
into the recent cache at its place.  When a room is
busy, what arrives within a window of the last write is written to each
socket at once (as one `messages` frame when the room has at least
`COMBINE_MEMBERS` local members, so that clients parse one frame, not one
per message): a socket costs one write per window,
not one per message, while a quiet room is written at once.  The window
grows with the room's local members (`WRITE_COST` each, at most
`BATCH_WINDOW`): a write to a socket costs about 9 µs of CPU (measured in a
reconnect storm, the kernel's loopback delivery included), so fan-out of a
busy room stays under a sixth of a core while small rooms keep low latency;
a room with 4,500 members in this process is written every 250 ms.  A
longer window trades latency for CPU, the server's and every client's; at
this length the bench's 200 messages a second into 9,000 viewers arrive
within about 0.3 s at p99, and a reconnect storm has the CPU it needs for
the handshakes.

Recovery: while a connection catches up on a room from storage it is marked
as recovering; live messages for that room are held for it and released
after the stored ones, skipping any offset it already received.  The last
messages of each room are kept per process, so a reconnect storm reads each
room from the database once, not once per client.
"""
from __future__ import annotations

import asyncio
import bisect
import collections
import itertools
import logging

import orjson
from tornado.iostream import IOStream

from chat import room_names
from realtime.compression import deflated_frame
from realtime.frames import combined_frame, messages_payload, payload_of, text_frame

log = logging.getLogger(__name__)

CLOSE_SLOW = 4008
RECENT_PER_ROOM = 1000
BATCH_WINDOW = 0.25  # seconds: the longest a busy room's message waits to be batched
WRITE_COST = 56e-6   # seconds of window per local member (see above)
MIN_WINDOW = 0.02
COMBINE_MEMBERS = 50  # local members from which a window's messages go out as one `messages` frame
SEGMENT = 32         # a compressed resume is cut at multiples of this many offsets
MAX_SEGMENTS = 512   # compressed runs kept per room
GAP_WAIT = 2.0       # seconds a message waits for an earlier offset before the gap is skipped
OWED_LIMIT = 10000   # skipped offsets remembered per room, to deliver if they come late


def encode(message: dict) -> bytes:
    """Compact UTF-8 JSON; orjson because every broadcast and reply passes here."""
    return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS)


class Connection:
    """One client socket as the hub sees it; the handler owns its lifetime."""

    __slots__ = ("handler", "user_id", "event_id", "locale", "rooms", "recovering",
                 "closed", "max_buffer", "info", "joined", "ping_slot", "ponged", "deflate")

    def __init__(self, handler, user_id: str, event_id: str, locale: str, max_buffer: int):
        self.handler = handler
        self.user_id = user_id
        self.event_id = event_id
        self.locale = locale
        self.rooms: dict[str, int] = {}          # room -> last offset sent
        self.recovering: dict[str, list] = {}    # room -> held (offset, frame)
        self.joined: dict[str, int] = {}         # room -> the room stream's join count when joined
        self.closed = False
        self.max_buffer = max_buffer
        self.info: dict = {}
        self.ping_slot = 0     # realtime.keepalive: the tick on which this socket is pinged
        self.ponged = True     # whether the last ping was answered
        self.deflate = False   # takes shared compressed frames (realtime.compression)

    def write_frame(self, frame: bytes) -> bool:
        if self.closed:
            return False
        ws = self.handler.ws_connection
        if ws is None or ws.is_closing():
            return False
        stream = ws.stream
        if stream.closed():
            return False
        # Tornado keeps unsent bytes in stream._write_buffer; there is no
        # public accessor, and this check is what bounds memory per client.
        pending = len(stream._write_buffer)
        if pending + len(frame) > self.max_buffer:
            log.info("slow client disconnected", extra={"user": self.user_id})
            self.close(CLOSE_SLOW, "too slow: reconnect and resume")
            return False
        if not pending and type(stream) is IOStream:
            # Nothing queued: hand the bytes to the kernel directly.
            # IOStream.write makes a future and schedules a callback for
            # every write, which costs more than the send itself when one
            # broadcast goes to thousands of sockets.  Only what the kernel
            # does not take goes through the stream, behind nothing else,
            # so order holds.  (TLS streams always take the stream's path.)
            try:
                sent = stream.socket.send(frame)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # the stream's own write meets the error and closes
            if sent == len(frame):
                return True
            frame = memoryview(frame)[sent:]
        stream.write(frame)
        return True

    def send(self, message: dict) -> bool:
        return self.write_frame(text_frame(encode(message)))

    def deliver(self, room: str, offset: int, frame: bytes) -> None:
        held = self.recovering.get(room)
        if held is not None:
            held.append((offset, frame))
            return
        if offset <= self.rooms.get(room, 0):
            return  # already sent (from recovery or a duplicate delivery)
        self.rooms[room] = offset
        self.write_frame(frame)

    def deliver_batch(self, room: str, batch: list, blob: bytes, combine: bool = False,
                      deflated: bytes | None = None) -> None:
        """Offset-ordered (offset, frame) pairs; `blob` is what goes out for all of them:
        their frames joined, or one combined `messages` frame when `combine`;
        `deflated` is that frame compressed, for sockets that take it."""
        held = self.recovering.get(room)
        if held is not None:
            held.extend(batch)
            return
        last = self.rooms.get(room, 0)
        if batch[0][0] <= last:
            fresh = [frame for offset, frame in batch if offset > last]
            if not fresh:
                return
            blob = combined_frame(room, fresh) if combine and len(fresh) > 1 else b"".join(fresh)
            deflated = None
        self.rooms[room] = max(last, batch[-1][0])
        self.write_frame(deflated if deflated is not None and self.deflate else blob)

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.handler.close(code, reason)


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
        self._offsets: list | None = None
        self._starts: list = []
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
        self._index()
        i = bisect.bisect_right(self._offsets, offset)
        count = len(self._offsets) - i
        if not count:
            return 0, 0, 0, b""
        return self._offsets[i], self._offsets[-1], count, self._blob[self._starts[i]:]

    def _index(self) -> None:
        """Build, once per change, the offsets and the payloads joined with commas."""
        if self._offsets is None:
            self._offsets = [o for o, _ in self.frames]
            payloads = [payload_of(f) for _, f in self.frames]
            self._starts = list(itertools.accumulate((len(p) + 1 for p in payloads), initial=0))
            self._blob = b",".join(payloads)

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
        self._index()
        offsets, starts, blob = self._offsets, self._starts, self._blob
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


class RoomStream:
    """Per room and process: puts messages back in offset order and batches bursts."""

    __slots__ = ("expected", "held", "gap_timer", "batch", "flush_timer", "last_write", "joins", "owed",
                 "lacking")

    def __init__(self):
        self.expected: int | None = None    # the next offset to deliver
        self.held: dict[int, bytes] = {}    # offsets that arrived ahead of a gap
        self.gap_timer = None
        self.batch: list = []               # (offset, frame) waiting for the window
        self.flush_timer = None
        self.last_write = float("-inf")
        self.joins = 0                      # members that joined so far, numbering them
        self.owed: dict[int, int] = {}      # skipped offset -> joins when it was skipped
        # offset -> connections whose resume went past it before it arrived
        self.lacking: dict[int, set] = {}

    def cancel(self) -> None:
        for timer in (self.gap_timer, self.flush_timer):
            if timer is not None:
                timer.cancel()


class Hub:
    def __init__(self, broker, recent_per_room: int = RECENT_PER_ROOM,
                 batch_window: float = BATCH_WINDOW, gap_wait: float = GAP_WAIT,
                 combine_members: int = COMBINE_MEMBERS):
        self.broker = broker
        self.recent_per_room = recent_per_room
        self.batch_window = batch_window
        self.gap_wait = gap_wait
        self.combine_members = combine_members
        self.streams: dict[str, RoomStream] = {}
        broker.on_message = self._on_message
        broker.on_reconnect = self._on_reconnect
        self.channels: dict[str, set[Connection]] = {}
        # user id -> that account's connections here (usually one: a list is
        # the smallest container, and ten thousand of them add up).
        self.by_user: dict[str, list[Connection]] = {}
        self.caches: dict[str, RoomCache] = {}
        self._subscribing: dict[str, asyncio.Future] = {}
        self.notice_listeners = []  # callables(channel, message, members) after a notice is forwarded
        # Control message type -> callable(channel, message, members): a
        # feature's internal notice (a device takeover) that the feature acts
        # on itself; such messages are never forwarded to clients as they are.
        self.controls: dict = {}
        self.delivered = 0
        # Set when the process is shutting down: the endpoint refuses new
        # sockets (503) while the open ones are closed with 1001.
        self.draining = False

    # --- membership -------------------------------------------------------

    async def join(self, conn: Connection, channel: str) -> None:
        """Add a member; returns once the broker delivers the channel to this process."""
        members = self.channels.get(channel)
        if members is None:
            members = self.channels[channel] = set()
            self._subscribing[channel] = pending = asyncio.ensure_future(self.broker.subscribe(channel))
            try:
                await asyncio.shield(pending)
            finally:
                self._subscribing.pop(channel, None)
        elif channel in self._subscribing:
            # Another member is subscribing this channel right now: wait for
            # it too, or this member could miss what is published meanwhile.
            await asyncio.shield(self._subscribing[channel])
        members.add(conn)
        stream = self.streams.get(channel)
        if stream is None:
            stream = self.streams[channel] = RoomStream()
        stream.joins += 1
        conn.joined[channel] = stream.joins

    async def leave(self, conn: Connection, channel: str) -> None:
        members = self.channels.get(channel)
        if members is None:
            return
        members.discard(conn)
        conn.rooms.pop(channel, None)
        conn.recovering.pop(channel, None)
        conn.joined.pop(channel, None)
        if not members:
            del self.channels[channel]
            self.caches.pop(channel, None)
            stream = self.streams.pop(channel, None)
            if stream is not None:
                stream.cancel()
            await self.broker.unsubscribe(channel)

    def add(self, conn: Connection) -> None:
        self.by_user.setdefault(conn.user_id, []).append(conn)

    async def remove(self, conn: Connection) -> None:
        # The connection knows its channels; scanning every channel of the
        # process per close made a reconnect storm quadratic.
        for channel in list(conn.joined):
            await self.leave(conn, channel)
        users = self.by_user.get(conn.user_id)
        if users is not None:
            if conn in users:
                users.remove(conn)
            if not users:
                del self.by_user[conn.user_id]

    def connections(self) -> int:
        return sum(len(s) for s in self.by_user.values())

    async def drain(self, code: int, reason: str, timeout: float) -> int:
        """Close every socket of this process with `code` and wait, at most `timeout`
        seconds, until each is gone; returns how many there were.

        A socket is gone once its last frame has been handled and it has left
        its rooms (Tornado reads a socket's frames one after another), so an
        acknowledged message was stored and published before this returns.
        Clients reconnect to another process and resume by offset.
        """
        self.draining = True
        conns = [conn for group in self.by_user.values() for conn in group]
        for conn in conns:
            conn.close(code, reason)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.by_user and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.by_user:
            log.warning("sockets still open after the drain", extra={"open": self.connections()})
        return len(conns)

    # --- publishing ---------------------------------------------------------

    async def publish(self, channel: str, message: dict) -> None:
        await self.broker.publish(channel, encode(message))

    async def publish_to(self, channel: str, user_id: str, message: dict) -> None:
        """A notice for one account's connections among the channel's members.

        Per-account notices ride a channel the connections are in anyway
        (their event's state channel) instead of a channel per account:
        one subscription per process rather than one per viewer, and
        nothing to subscribe or unsubscribe when a viewer comes or goes.
        """
        await self.publish(channel, {**message, "to": str(user_id)})

    def _on_message(self, channel: str, payload: bytes) -> None:
        members = self.channels.get(channel)
        if not members:
            return
        try:
            message = orjson.loads(payload)
        except ValueError:
            log.error("undecodable broker payload", extra={"channel": channel})
            return
        kind = message.get("type")
        if kind == "state":
            self._fan_out_state(members, message)
        elif kind == "message":
            self._sequence(channel, message["offset"], message.get("epoch"), text_frame(payload))
        elif kind in self.controls:
            self.controls[kind](channel, message, members)
        else:
            # Notices (sanctions, room settings, questions) go to every member
            # as they are, after the room's pending messages so order holds;
            # listeners may also act on them in this process.  One addressed
            # `to` an account goes only to that account's members.
            to = message.pop("to", None)
            if to is not None:
                members = [conn for conn in self.by_user.get(to, ()) if conn in members]
                payload = encode(message)  # the address is not part of the frame
            self._flush(channel)
            frame = text_frame(payload)
            for conn in list(members):
                conn.write_frame(frame)
            for listener in self.notice_listeners:
                listener(channel, message, members)

    def _fan_out_state(self, members, message: dict) -> None:
        """One frame per locale present in this process, the same bytes to each viewer."""
        per_locale = message.get("locales", {})
        frames: dict[str, bytes] = {}
        for conn in list(members):
            frame = frames.get(conn.locale)
            if frame is None:
                state = per_locale.get(conn.locale) or per_locale.get(message.get("default_locale"))
                if state is None:
                    continue
                frame = frames[conn.locale] = text_frame(encode({
                    "type": "state", "event": message["event"],
                    "state_version": message["state_version"], "state": state}))
            conn.write_frame(frame)
        self.delivered += len(members)

    # --- ordered, batched delivery of room messages --------------------------

    def _sequence(self, channel: str, offset: int, epoch, frame: bytes) -> None:
        stream = self.streams.get(channel)
        if stream is None:
            stream = self.streams[channel] = RoomStream()
        cache = self.caches.get(channel)
        if cache is not None and cache.epoch != epoch:
            cache = None
        if stream.expected is None:
            stream.expected = cache.last + 1 if cache is not None and cache.loaded else offset
        if offset < stream.expected:
            # A duplicate, or late after its gap was skipped: then every
            # member that was in the room at the skip is owed it.
            self._flush(channel)
            if cache is not None:
                cache.add(offset, frame)
            owed = stream.owed.pop(offset, None)
            lacking = stream.lacking.pop(offset, ())
            for conn in list(self.channels.get(channel, ())):
                if channel not in conn.recovering and (
                        conn in lacking or owed is not None and conn.joined.get(channel, owed + 1) <= owed):
                    conn.write_frame(frame)
                else:
                    conn.deliver(channel, offset, frame)
            return
        stream.held[offset] = frame
        self._release(channel, stream, cache)
        if stream.held and stream.gap_timer is None:
            loop = asyncio.get_running_loop()
            stream.gap_timer = loop.call_later(self.gap_wait, self._skip_gap, channel, epoch)

    def _release(self, channel: str, stream: RoomStream, cache) -> None:
        """Move every offset that no longer waits on a gap into the batch."""
        released = False
        while stream.expected in stream.held:
            offset = stream.expected
            frame = stream.held.pop(offset)
            if cache is not None:
                cache.add(offset, frame)
            stream.batch.append((offset, frame))
            stream.expected = offset + 1
            released = True
        if not released or stream.flush_timer is not None:
            return
        loop = asyncio.get_running_loop()
        members = len(self.channels.get(channel, ()))
        due = stream.last_write + min(self.batch_window, max(MIN_WINDOW, members * WRITE_COST))
        if loop.time() >= due:
            self._flush(channel)
        else:
            stream.flush_timer = loop.call_at(due, self._flush, channel)

    def _skip_gap(self, channel: str, epoch) -> None:
        stream = self.streams.get(channel)
        if stream is None:
            return
        stream.gap_timer = None
        if stream.held:
            first = min(stream.held)
            for skipped in range(max(stream.expected, first - OWED_LIMIT), first):
                stream.owed[skipped] = stream.joins
            while len(stream.owed) > OWED_LIMIT:
                stream.owed.pop(next(iter(stream.owed)))
            stream.expected = first
            cache = self.caches.get(channel)
            self._release(channel, stream, cache if cache is not None and cache.epoch == epoch else None)
        if stream.held:
            stream.gap_timer = asyncio.get_running_loop().call_later(
                self.gap_wait, self._skip_gap, channel, epoch)

    def _flush(self, channel: str) -> None:
        stream = self.streams.get(channel)
        if stream is None:
            return
        if stream.flush_timer is not None:
            stream.flush_timer.cancel()
            stream.flush_timer = None
        batch, stream.batch = stream.batch, []
        if not batch:
            return
        stream.last_write = asyncio.get_running_loop().time()
        members = self.channels.get(channel)
        if not members:
            return
        combine = len(batch) > 1 and len(members) >= self.combine_members
        deflated = None
        if len(batch) == 1:
            blob = batch[0][1]
        elif combine:
            blob = combined_frame(channel, [frame for _, frame in batch])
            # Compressed once here, for every socket that negotiated it.
            deflated = deflated_frame(payload_of(blob))
        else:
            blob = b"".join(frame for _, frame in batch)
        for conn in list(members):
            conn.deliver_batch(channel, batch, blob, combine, deflated)
        self.delivered += len(members) * len(batch)

    async def _on_reconnect(self) -> None:
        """The broker may have dropped messages: every client re-syncs."""
        for channel in list(self.streams):
            stream = self.streams[channel]
            while stream.held:  # nothing more is coming for these gaps
                stream.expected = min(stream.held)
                self._release(channel, stream, None)
            self._flush(channel)
            self.streams.pop(channel).cancel()
        self.caches.clear()
        for members in list(self.channels.values()):
            for conn in list(members):
                conn.send({"type": "resync", "reason": "broker_reconnected"})

    # --- recovery cache -------------------------------------------------------

    def owe(self, conn: Connection, channel: str, offsets) -> None:
        """Offsets a resume went past without having them (stored, not yet
        published): written to `conn` when they arrive, whatever its position."""
        stream = self.streams.get(channel)
        if stream is None:
            return
        for offset in offsets:
            stream.lacking.setdefault(offset, set()).add(conn)
        # Offsets that never arrive (a write that failed after taking its
        # offset) must not pin connections forever.
        while len(stream.lacking) > OWED_LIMIT:
            stream.lacking.pop(next(iter(stream.lacking)))

    def cache(self, channel: str, epoch: str) -> RoomCache:
        cache = self.caches.get(channel)
        if cache is None or cache.epoch != epoch:
            cache = self.caches[channel] = RoomCache(epoch, self.recent_per_room)
        return cache


def room_of(channel: str) -> dict | None:
    return room_names.parse_room(channel)
