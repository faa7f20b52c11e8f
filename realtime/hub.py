"""The hub: this process's WebSocket connections and the rooms they are in.

Rooms live in memory; the process knows only its own connections.  A change
is stored first and published once through the broker; every process with
members in that room receives it once, encodes it once and writes the same
framed bytes to each local socket (`realtime.connection`), with no task per
socket.  A `state` message becomes one frame per locale present in the
process; notices go to every member (or to one account's members) after
the room's pending messages, so order holds.

A room's chat messages pass through its `RoomStream` (`realtime.room_stream`:
offset order, gap skipping, batching windows) and into its `RoomCache`
(`realtime.room_cache`: the recent entries that answer resumes,
`realtime.resume`).  When the broker reconnects it may have dropped
messages: the members of the channels concerned (every client, after a
single Redis server comes back) are told to re-sync.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection

import orjson

from realtime.broker import Broker
from realtime.compression import deflated_frame
from realtime.connection import Connection, encode
from realtime.frames import combined_frame, payload_of, text_frame
from realtime.room_cache import RECENT_PER_ROOM, RoomCache
from realtime.room_stream import BATCH_WINDOW, GAP_WAIT, RoomStream

log = logging.getLogger(__name__)

COMBINE_MEMBERS = 50  # local members from which a window's messages go out as one `messages` frame

# (channel, message, members): a notice listener or a control (see Hub.__init__).
NoticeCallback = Callable[[str, dict, Collection[Connection]], None]


class Hub:
    """This process's connections, its rooms and their members; the broker's receiver."""

    def __init__(self, broker: Broker, recent_per_room: int = RECENT_PER_ROOM,
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
        self._subscribing: dict[str, asyncio.Future[None]] = {}
        self.notice_listeners: list[NoticeCallback] = []  # run after a notice is forwarded
        # Control message type -> callable(channel, message, members): a
        # feature's internal notice (a device takeover) that the feature acts
        # on itself; such messages are never forwarded to clients as they are.
        self.controls: dict[str, NoticeCallback] = {}
        self.delivered = 0
        # Channels whose lost messages concern every connection of the
        # process, not only the channel's members (see _on_reconnect).
        self.whole_process: set[str] = set()
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
        members: Collection[Connection] | None = self.channels.get(channel)
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
            owed, lacking = stream.settle(offset)
            for conn in list(self.channels.get(channel, ())):
                if channel not in conn.recovering and (
                        conn in lacking or (owed is not None and conn.joined.get(channel, owed + 1) <= owed)):
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
        """Move every offset that no longer waits on a gap into the batch; write it
        now, or when the room's window ends."""
        if not stream.release(cache) or stream.flush_timer is not None:
            return
        loop = asyncio.get_running_loop()
        due = stream.due(len(self.channels.get(channel, ())), self.batch_window)
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
            stream.skip_gap()
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
        started = time.perf_counter()
        for conn in list(members):
            conn.deliver_batch(channel, batch, blob, combine, deflated)
        stream.wrote(len(members), time.perf_counter() - started)
        self.delivered += len(members) * len(batch)

    async def _on_reconnect(self, channels: Collection[str] | None = None) -> None:
        """The broker may have dropped messages of `channels` (None: of every channel):
        their members re-sync, each connection once.

        A channel in `whole_process` concerns every connection of the process
        (account changes), so losing it re-syncs them all.
        """
        if channels is None or not self.whole_process.isdisjoint(channels):
            channels = list(self.channels)
        lost = [c for c in channels if c in self.channels or c in self.streams]
        for channel in lost:
            stream = self.streams.get(channel)
            if stream is not None:
                # What waits behind a gap is not written: the gap may be what
                # was lost, and a client given what lies past it would resume
                # from past it.  The resync's resume sends it all, in order.
                stream.held.clear()
                self._flush(channel)
                self.streams.pop(channel).cancel()
            self.caches.pop(channel, None)
        told: set[Connection] = set()
        for channel in lost:
            for conn in list(self.channels.get(channel, ())):
                if conn not in told:
                    told.add(conn)
                    conn.send({"type": "resync", "reason": "broker_reconnected"})

    # --- recovery cache -------------------------------------------------------

    def owe(self, conn: Connection, channel: str, offsets) -> None:
        """Offsets a resume went past without having them (stored, not yet
        published): written to `conn` when they arrive, whatever its position."""
        stream = self.streams.get(channel)
        if stream is not None:
            stream.owe(conn, offsets)

    def cache(self, channel: str, epoch: str) -> RoomCache:
        cache = self.caches.get(channel)
        if cache is None or cache.epoch != epoch:
            cache = self.caches[channel] = RoomCache(epoch, self.recent_per_room)
        return cache
