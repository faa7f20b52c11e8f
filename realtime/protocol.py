"""The WebSocket protocol, version 1: limits, error codes and frame validation.

docs/protocol.md is the contract for client authors; this module is where
the server enforces it.  Every client frame is a JSON object with a `type`;
anything else is answered with an `error` frame and changes nothing.
"""
from __future__ import annotations

from typing import Literal, overload

import orjson

VERSION = 1
# Frame sizes are bytes of UTF-8 as sent, what a client can measure and what
# the wire carries; text fields are limited in characters (code points).
MAX_FRAME_BYTES = 16 * 1024          # larger frames get error `too_large`
HARD_FRAME_BYTES = 1024 * 1024       # larger ones close the connection (1009)
MAX_TEXT = 2000                      # characters of a chat message
MAX_CLIENT_ID = 64
MAX_REF = 64                         # characters of a `ref` (a number: its digits)
HISTORY_LIMIT = 100
RECOVER_LIMIT = 1000                 # more missed entries than this: not_recovered

# error codes (stable; clients translate them)
BAD_JSON = "bad_json"
BAD_FRAME = "bad_frame"
BINARY = "binary_not_supported"
TOO_LARGE = "too_large"
UNKNOWN_TYPE = "unknown_type"
RATE_LIMITED = "rate_limited"
FORBIDDEN = "forbidden"
NOT_JOINED = "not_joined"
UNKNOWN_ROOM = "unknown_room"
NOT_FOUND = "not_found"
INVALID = "invalid"
TOO_MANY_PENDING = "too_many_pending"
MUTED = "muted"                      # the sender is muted in this event (error has `until`)
BANNED = "banned"                    # the sender is banned from this event's chat (`until`)
SLOW_MODE = "slow_mode"              # too soon in a slow-mode room (`retry_after` seconds)
READ_ONLY = "read_only"              # the room is a closed community discussion: read, not write
INTERNAL = "internal"                # the server failed on this frame
NOT_STARTED = "not_started"          # a connection waiting behind the closed gate sends only `ping`
TICKETS_ONLY = "tickets_only"        # a connection that follows the ticket sale sends only `ping`
DONATIONS_ONLY = "donations_only"    # a connection that follows a campaign's totals sends only `ping`

# close codes the server sends (see docs/protocol.md, "Close codes")
CLOSE_GOING_AWAY = 1001              # this server process is shutting down (or a ping went unanswered)
CLOSE_INVALID_DATA = 1007            # a text frame that is not UTF-8, or a message that cannot be decompressed
CLOSE_TOO_BIG = 1009                 # a frame over HARD_FRAME_BYTES (Tornado closes with it)
CLOSE_SIGNED_OUT = 4003              # the account was deleted: its sessions are gone
CLOSE_ACCESS_CHANGED = 4004          # the person's access to the event changed (a ticket passed on, a
                                     # registration ended): reload the page, which admits or refuses afresh


class FrameError(Exception):
    """A refused frame; `fields` are extra JSON members of the error frame (e.g. retry_after)."""

    def __init__(self, code: str, message: str, ref=None, **fields):
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.fields = fields


def error(code: str, message: str, ref=None, **fields) -> dict:
    out = {"type": "error", "code": code, "message": message, **fields}
    if ref is not None:
        out["ref"] = ref
    return out


def valid_ref(ref) -> bool:
    """Whether a client's `ref` may be echoed: a string or number of at most MAX_REF characters."""
    return isinstance(ref, (str, int)) and not isinstance(ref, bool) and len(str(ref)) <= MAX_REF


def too_large(raw: str) -> bool:
    """Whether a text frame is over MAX_FRAME_BYTES of UTF-8 (a character takes 1 to 4 bytes)."""
    n = len(raw)
    if n > MAX_FRAME_BYTES:
        return True
    if n * 4 <= MAX_FRAME_BYTES:
        return False      # within the limit whatever its characters: not worth encoding
    return len(raw.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES


def parse(raw) -> dict:
    if isinstance(raw, bytes):
        raise FrameError(BINARY, "binary frames are not part of this protocol")
    if too_large(raw):
        raise FrameError(TOO_LARGE, f"frames are limited to {MAX_FRAME_BYTES} bytes of UTF-8")
    try:
        msg = orjson.loads(raw)
    except ValueError:
        raise FrameError(BAD_JSON, "the frame is not valid JSON") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        # An object whose `type` is wrong still names itself by its `ref`.
        ref = msg.get("ref") if isinstance(msg, dict) else None
        raise FrameError(BAD_FRAME, "a frame is a JSON object with a string `type`",
                         ref if valid_ref(ref) else None)
    return msg


# A required field comes back as its type; only an optional one may be None.
@overload
def string(msg: dict, name: str, max_length: int, required: Literal[True] = True) -> str: ...
@overload
def string(msg: dict, name: str, max_length: int, required: bool) -> str | None: ...


def string(msg: dict, name: str, max_length: int, required: bool = True) -> str | None:
    value = msg.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise FrameError(INVALID, f"`{name}` must be a non-empty string of at most {max_length} characters",
                         msg.get("ref"))
    return value


@overload
def integer(msg: dict, name: str, minimum: int = 0, maximum: int = 2**53,
            required: Literal[True] = True) -> int: ...
@overload
def integer(msg: dict, name: str, minimum: int = 0, maximum: int = 2**53, *, required: bool) -> int | None: ...


def integer(msg: dict, name: str, minimum: int = 0, maximum: int = 2**53, required: bool = True) -> int | None:
    value = msg.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise FrameError(INVALID, f"`{name}` must be an integer from {minimum} to {maximum}", msg.get("ref"))
    return value


class TokenBucket:
    """Per-connection flood control: `rate` frames a second, bursts up to `burst`."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int, now: float):
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, float(burst), now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
