"""One client socket as the hub sees it: the frames it was sent, and what it can still take.

A broadcast is framed once (`realtime.frames`) and the same bytes are
written to each socket, with no task per socket: when nothing is queued
they go to the kernel directly, and only what it does not take is queued
on the stream.

Backpressure: each write checks how many bytes the socket has not yet
accepted.  A client over `max_buffer` is disconnected (close code 4008) and
resumes later by offset; its backlog never grows the server's memory.

A connection remembers, per room, the last offset it was sent, so a message
that reaches it twice (from a resume and live) is written once.  While it
catches up on a room (`realtime.resume`) the room's live messages are held
for it and released after the stored ones.
"""
from __future__ import annotations

import logging

import orjson
from tornado.iostream import IOStream

from realtime.frames import combined_frame, text_frame
from realtime.tornado_internals import stream_closed, unsent_bytes

log = logging.getLogger(__name__)

CLOSE_SLOW = 4008


def encode(message: dict) -> bytes:
    """Compact UTF-8 JSON; orjson because every broadcast and reply passes here."""
    return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS)


class Connection:
    """One client socket as the hub sees it; the handler owns its lifetime."""

    __slots__ = ("handler", "user_id", "event_id", "locale", "rooms", "recovering",
                 "closed", "max_buffer", "info", "joined", "ping_slot", "ponged", "deflate", "heard_at")

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
        # realtime.watch_frames: when the player's previous heartbeat came (or the socket opened), wall time.
        self.heard_at = 0.0

    def write_frame(self, frame: bytes) -> bool:
        # Every delivered frame of every broadcast passes here, thousands per
        # flip: the checks read attributes (what `ws.is_closing()` and
        # `stream.closed()` would return) rather than call methods.
        ws = self.handler.ws_connection
        if ws is None or self.closed or ws.client_terminated or ws.server_terminated:
            return False
        stream = ws.stream
        if stream_closed(stream):
            return False
        # What bounds memory per client; Tornado has no public accessor for it.
        pending = unsent_bytes(stream)
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
            stream.write(memoryview(frame)[sent:])
            return True
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
