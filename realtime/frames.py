"""WebSocket frames built once and written to many sockets.

Tornado's `write_message` frames the payload again for every socket and
wraps each write in a task; a broadcast to thousands of viewers pays that
thousands of times.  A server-to-client frame is never masked (RFC 6455
5.1), so the same bytes are valid on every connection: build them once.
Compression has no per-socket state either (`realtime.compression`).
"""
from __future__ import annotations

import json
import struct

FIN_TEXT = 0x81
FIN_PING = 0x89


def text_frame(payload: bytes) -> bytes:
    return frame(FIN_TEXT, payload)


def frame(first_byte: int, payload: bytes) -> bytes:
    """A single unmasked frame: `first_byte` is FIN, the RSV bits and the opcode."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first_byte, n)
    elif n <= 0xFFFF:
        header = struct.pack("!BBH", first_byte, 126, n)
    else:
        header = struct.pack("!BBQ", first_byte, 127, n)
    return header + payload


# An empty ping: the keepalive writes these bytes to every socket in turn.
PING = frame(FIN_PING, b"")


def payload_of(frame: bytes) -> bytes:
    """The payload of a frame built by `text_frame`."""
    n = frame[1] & 0x7F
    return frame[2 + (2 if n == 126 else 8 if n == 127 else 0):]


def combined_frame(room: str, frames: list) -> bytes:
    """One `messages` frame carrying several `message` frames of a room, in order.

    The items are the messages' own JSON, spliced without decoding: a busy
    room costs each client one frame per window instead of one per message.
    """
    return combined_items(room, b",".join(payload_of(f) for f in frames))


def combined_items(room: str, items: bytes) -> bytes:
    """A `messages` frame around message payloads already joined with commas."""
    return text_frame(messages_payload(room, items))


def messages_payload(room: str, items: bytes) -> bytes:
    """The JSON of a `messages` frame around payloads already joined with commas."""
    return b'{"type":"messages","room":' + json.dumps(room).encode() + b',"items":[' + items + b"]}"
