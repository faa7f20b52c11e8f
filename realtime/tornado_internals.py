"""Every private Tornado API the live side relies on, and the Tornado versions it was tested with.

The live side goes below Tornado's public API where the public one costs
too much per socket: the upgrade is answered without a RequestHandler
(`realtime.endpoint`), and a broadcast writes the same bytes to thousands
of sockets without `write_message` (`realtime.connection`).  That needs
names Tornado does not promise to keep; any release may rename or change
them.  They are all here, each with the reason it is needed, and nothing
else in the tree touches a private Tornado name
(`tests/test_tornado_internals.py` checks that and the version check).

What is used, and why:

- `IOStream._write_buffer._size` (`unsent_bytes`): the bytes a socket has
  not yet taken.  The hub disconnects a client whose backlog passes its
  bound; there is no public accessor, and reading the size directly costs
  no more than `len()` of the buffer on every write of a broadcast.
- `IOStream._closed` (`stream_closed`): what `IOStream.closed()` returns,
  read without the method call on every write of a broadcast.
- `tornado.websocket._WebSocketParams` (`websocket_params`): the options
  of a frame protocol; one object serves every socket.
- `WebSocketProtocol13._receive_frame_loop` (`FrameProtocol.read_frames`):
  reads a socket's frames until it closes; Tornado runs it only from
  WebSocketHandler, which the endpoint does without.
- `WebSocketProtocol13._abort` (`FrameProtocol.abort`): closes the socket
  at once (a client gone during the upgrade, or one refused with 1007/1009).
- `WebSocketProtocol13._create_compressors`, `._compressor` and
  `._decompressor` (`FrameProtocol.create_compressors`): without context
  takeover a compressor pair keeps nothing between messages, so one pair
  per accepted offer is shared by every socket.
- `WebSocketProtocol13._handle_message`, `._frame_compressed`,
  `._message_bytes_in`, `._run_callback` and
  `tornado.websocket._DecompressTooLargeError`: Tornado's handling of a
  text message, repeated so that a text frame that is not UTF-8, or one
  that cannot be decompressed, is closed with 1007 instead of dropped
  without a close frame (a client cannot tell that from a network failure
  and would send it again).
- Tests act as misbehaving clients through Tornado's client protocol:
  `._decompressor` (to count compressed frames), `._send_pong` (to stop
  answering pings), `._write_frame` (to send bytes that are not UTF-8).

Behaviour relied on, with public names: `realtime.corking` replaces a held
stream's `set_nodelay`, because Tornado's HTTP/1 connection turns Nagle
off when it finishes a response, which would push out a corked segment;
`realtime.connection` sends on `IOStream.socket` itself when nothing is
queued, which keeps order because the stream sends its buffer in order
behind it.

Moving to another Tornado: run the realtime tests (tests/test_realtime.py,
test_upgrade.py, test_compression.py, test_corking.py, test_backpressure.py,
test_hub_order.py, test_keepalive.py, test_protocol_frames.py, test_drain.py,
test_bench_smoke.py) against it,
check each name above in its tornado/websocket.py and tornado/iostream.py,
then add the version to TESTED and change the pin in requirements.txt.
"""
from __future__ import annotations

import logging
import operator
import zlib

import tornado
import tornado.websocket

from realtime import protocol

log = logging.getLogger(__name__)

# Versions the names above were checked against and the realtime tests passed
# with; requirements.txt pins one of them.
TESTED = frozenset({"6.6.1"})


def check(version: str) -> None:
    """Refuse a Tornado whose private APIs were never checked against this module."""
    if version not in TESTED:
        tested = sorted(TESTED, key=lambda v: tuple(int(p) if p.isdigit() else 0 for p in v.split(".")))
        raise ImportError(
            f"Tornado {version} is installed, but realtime/tornado_internals.py uses private Tornado APIs "
            f"checked only with Tornado {', '.join(tested)}. Install a tested version "
            f"(pip install tornado=={tested[-1]}, as requirements.txt pins), or run the realtime tests "
            f"against Tornado {version} and, when they pass, add \"{version}\" to TESTED in "
            f"realtime/tornado_internals.py.")


check(tornado.version)

# A C-level accessor, not a wrapper: it runs on every write of every broadcast.
unsent_bytes = operator.attrgetter("_write_buffer._size")
stream_closed = operator.attrgetter("_closed")


def websocket_params(max_message_size: int, compression_options: dict):
    """The options object a frame protocol takes (Tornado builds one per handler)."""
    return tornado.websocket._WebSocketParams(max_message_size=max_message_size,
                                              compression_options=compression_options)


class FrameProtocol(tornado.websocket.WebSocketProtocol13):
    """Tornado's frame protocol with compressors shared by every socket, and 1007 for bad text."""

    # Without context takeover Tornado's compressor and decompressor keep no
    # state between messages: one pair per accepted offer serves every socket.
    shared: dict = {}

    # Public names for what the endpoint calls: the same functions, no wrapper.
    read_frames = tornado.websocket.WebSocketProtocol13._receive_frame_loop
    abort = tornado.websocket.WebSocketProtocol13._abort

    def _handle_message(self, opcode, data):
        try:
            if opcode == 0x1 and not self.client_terminated:
                return self._handle_text(data)
            return super()._handle_message(opcode, data)
        except zlib.error:
            # A message that refers to an earlier one (the client ignored
            # client_no_context_takeover), or not deflate at all.
            log.info("undecodable compressed frame")
            return self._refuse_data("cannot decompress: compress each message on its own")

    def _handle_text(self, data: bytes):
        """A text message: Tornado's steps, except that bad UTF-8 gets its close code (1007)."""
        if self._frame_compressed:
            assert self._decompressor is not None  # as in Tornado: set whenever frames may be compressed
            try:
                data = self._decompressor.decompress(data)
            except tornado.websocket._DecompressTooLargeError:
                self.close(protocol.CLOSE_TOO_BIG, "message too big after decompression")
                self._abort()
                return None
        self._message_bytes_in += len(data)
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            log.info("text frame not UTF-8")
            return self._refuse_data("text frames must be UTF-8")
        return self._run_callback(self.handler.on_message, decoded)

    def _refuse_data(self, reason: str) -> None:
        self.close(protocol.CLOSE_INVALID_DATA, reason)
        self._abort()
        return None

    def _create_compressors(self, side, agreed_parameters, compression_options=None):
        key = (side, self.params.max_message_size, tuple(sorted(agreed_parameters.items())))
        pair = self.shared.get(key)
        if pair is None:
            super()._create_compressors(side, agreed_parameters, compression_options)
            pair = self.shared[key] = (self._compressor, self._decompressor)
        self._compressor, self._decompressor = pair

    create_compressors = _create_compressors


# --- Tornado's client, as the tests drive it -------------------------------------


def client_decompressor(ws):
    """The decompressor of a client connection (`websocket_connect`), or None."""
    return ws.protocol._decompressor


def stop_answering_pings(ws) -> None:
    """The client stops answering pings (a peer that vanished without closing)."""
    ws.protocol._send_pong = lambda data: None


def write_raw_text_frame(ws, data: bytes):
    """Send `data` as one text frame as it is (Tornado's client encodes every str it sends)."""
    return ws.protocol._write_frame(True, 0x1, data)
