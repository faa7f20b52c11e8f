"""permessage-deflate (RFC 7692) for broadcasts: compressed once, shared by every socket.

Compressing per socket would cost each of thousands of viewers its own
zlib state and its own compression of the same bytes.  Here the server
accepts a client's permessage-deflate offer only *without context takeover*
in both directions (RFC 7692 7.1.1: a server may require it even when the
client did not ask), so every compressed message stands alone: a busy room's
`messages` frame is deflated once per process and the same bytes are valid
on every socket that negotiated the extension.  Messages may also go
uncompressed (RSV1 clear) on such a socket, so everything else the server
sends stays plain and costs nothing extra.

A connection whose client limited the server's window
(`server_max_window_bits` below 15) still gets the extension for what the
client sends, but receives shared frames uncompressed: they are compressed
with the full window.
"""
from __future__ import annotations

import zlib

from realtime.frames import frame

FIN_TEXT_DEFLATED = 0xC1      # FIN, RSV1 (compressed), opcode text
LEVEL = 6                     # once per window per process: ratio matters more than speed
ALLOWED = {"server_no_context_takeover", "client_no_context_takeover",
           "server_max_window_bits", "client_max_window_bits"}
ACCEPT = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


def parse_offers(header: str) -> list[tuple[str, dict]]:
    """`Sec-WebSocket-Extensions` as (name, {param: value or None}) in the client's order."""
    offers = []
    for item in header.split(","):
        name, *params = [p.strip() for p in item.split(";")]
        if not name:
            continue
        values: dict = {}
        for param in params:
            key, eq, value = param.partition("=")
            values[key.strip().lower()] = value.strip().strip('"') if eq else None
        offers.append((name.lower(), values))
    return offers


def negotiate(header: str) -> tuple[str | None, bool]:
    """What to accept from a client's extension offers.

    Returns the offer Tornado should accept (None: no compression) and
    whether this socket may receive the shared compressed frames.
    """
    for name, params in parse_offers(header or ""):
        if name != "permessage-deflate" or not set(params) <= ALLOWED:
            continue
        bits = params.get("server_max_window_bits")
        if bits is not None and not (bits.isdigit() and 8 <= int(bits) <= 15):
            continue
        client_bits = params.get("client_max_window_bits")
        if client_bits is not None and not (client_bits.isdigit() and 8 <= int(client_bits) <= 15):
            continue
        accept = ACCEPT + (f"; server_max_window_bits={bits}" if bits is not None else "")
        return accept, bits is None or int(bits) == 15
    return None, False


def deflated_frame(payload: bytes, level: int = LEVEL) -> bytes:
    """A compressed text frame of `payload` that any no-context-takeover socket accepts."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    # Without the trailing empty block (00 00 ff ff): the receiver appends it back.
    return frame(FIN_TEXT_DEFLATED, data[:-4])
