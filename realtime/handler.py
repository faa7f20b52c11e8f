"""The WebSocket endpoint `/ws?event=<event id>`: authenticate, then hand over to Live.

Security decisions made here:
- the session cookie authenticates (before the upgrade: no session, no
  socket); the cookie is HttpOnly, so only this site's pages can use it;
- the Origin header must match this site (the Host the request came to, or
  BASE_URL's host): a browser on another site carries the cookie too, and
  would otherwise open a socket in the user's name (cross-site WebSocket
  hijacking);
- frames over the hard limit close the connection (Tornado's
  websocket_max_message_size); smaller oversize frames get an error frame.
Compression: permessage-deflate is accepted only without context takeover
(`realtime.compression`), so a busy room's frames are compressed once per
process and shared by every socket; there is no zlib state per socket.
"""
from __future__ import annotations

import logging
import zlib
from urllib.parse import urlparse

import tornado.web
import tornado.websocket

from accounts import sessions
from admin.permissions import EVENT_ENTER_EARLY, EVENT_WATCH, granted
from events import model
from i18n import LOCALES
from realtime import compression, corking, protocol

log = logging.getLogger(__name__)

CLOSE_INVALID_DATA = 1007         # RFC 6455: a message's data is not what was agreed
COMPRESSION_OPTIONS: dict = {}   # Tornado's defaults; one object shared by every socket


class LiveSocket(tornado.websocket.WebSocketHandler):
    def initialize(self, services):
        self.services = services
        self.live = services.live
        self.conn = None

    async def prepare(self):
        reads = self.live.reads
        raw = self.get_signed_cookie(sessions.COOKIE, max_age_days=366)
        session = await reads.session(raw.decode() if raw else None)
        user = await reads.user(session["user_id"]) if session else None
        if not user:
            raise tornado.web.HTTPError(401, reason="sign in first")
        event = await reads.event(self.get_query_argument("event", ""))
        if not event:
            raise tornado.web.HTTPError(404, reason="unknown event")
        roles = await reads.roles(user, event)
        grants = granted(roles)
        if EVENT_WATCH not in grants:
            raise tornado.web.HTTPError(403, reason="not a member of this event")
        if not model.gate_open(event) and EVENT_ENTER_EARLY not in grants:
            raise tornado.web.HTTPError(403, reason="the event has not started")
        self.user, self.event, self.roles, self.session = user, event, roles, session

    def check_origin(self, origin: str) -> bool:
        host = urlparse(origin).netloc.lower()
        allowed = {self.request.host.lower()}
        base = self.services.settings.base_url
        if base:
            allowed.add(urlparse(base).netloc.lower())
        return host in allowed

    def get_websocket_protocol(self):
        protocol = super().get_websocket_protocol()
        if protocol is not None:
            # The subclass only overrides methods: retyping the instance
            # builds no second protocol per socket.
            protocol.__class__ = NoContextTakeover
        return protocol

    def _offers(self) -> str:
        # Read again where needed rather than kept: one more attribute on
        # every handler grows its instance dict for the socket's lifetime.
        return self.request.headers.get("Sec-WebSocket-Extensions", "")

    def get_compression_options(self):
        # Tornado's own compressor is never used for sending (frames are
        # written by realtime.hub); it decompresses what clients send.
        return COMPRESSION_OPTIONS

    async def open(self):
        # Nagle's algorithm is off (realtime.corking): the hub already
        # gathers what goes out into as few writes as it can, and Nagle would
        # only hold each write back for the client's delayed ACK.
        locale = self.user.get("locale") if self.user.get("locale") in LOCALES else \
            self.services.settings.default_locale
        try:
            self.conn = await self.live.open(self, self.user, self.event, self.roles, locale,
                                             session=self.session["token_hash"])
        finally:
            # The 101 response, `welcome` and `state` leave as one segment.
            corking.release(self.ws_connection.stream)
        self.conn.deflate = compression.negotiate(self._offers())[1]
        # The connection holds what it needs; the handler's own references
        # would keep one more copy of these documents per socket.
        self.user = self.event = self.roles = self.session = None
        self._shed()

    def _shed(self) -> None:
        """Drop what the upgrade request needed and a socket open for hours does not.

        The request's headers and parsed cookies, the response headers
        already sent and the template helpers are a few kilobytes per socket;
        the handshake is over (and logged) by now.  Tornado's own coroutine
        still refers to the headers object, so it is emptied, not replaced.
        """
        for headers in (self.request.headers, self._headers):
            _empty(headers)
        self.request.__dict__.pop("_cookies", None)
        self.ui = None

    async def on_message(self, message):
        if self.conn is None or self.conn.closed:
            return
        try:
            await self.live.handle(self.conn, message)
        except Exception:
            # A bug in one frame's handling must not kill the process or
            # other connections; the client is told and may go on.
            log.exception("frame handling failed", extra={"user": self.conn.user_id})
            self.conn.send(protocol.error("internal", "the server could not handle this frame"))

    def on_pong(self, data):
        if self.conn is not None:
            self.conn.ponged = True

    def on_close(self):
        if self.conn is not None:
            conn, self.conn = self.conn, None
            self.services.spawn(self.live.close(conn))


class NoContextTakeover(tornado.websocket.WebSocketProtocol13):
    """Tornado's protocol, accepting permessage-deflate only as `realtime.compression` allows.

    Tornado accepts the first permessage-deflate offer it parses, and its
    parser drops parameters without a value (the no-context-takeover
    flags); here it parses the offer that is to be accepted instead.
    """

    # Without context takeover Tornado's compressor and decompressor keep no
    # state between messages: one pair per accepted offer serves every socket.
    shared: dict = {}

    async def _accept_connection(self, handler):
        # Corked from here (the request is valid) until the handler's `open`
        # has written its first frames; released here too if it never does.
        stream = handler.request.connection.stream
        corking.hold(stream)
        try:
            await super()._accept_connection(handler)
        finally:
            corking.release(stream)

    def _parse_extensions_header(self, headers):
        offer, _ = compression.negotiate(headers.get("Sec-WebSocket-Extensions", ""))
        return compression.parse_offers(offer) if offer else []

    def _handle_message(self, opcode, data):
        try:
            return super()._handle_message(opcode, data)
        except zlib.error:
            # A message that refers to an earlier one (the client ignored
            # client_no_context_takeover), or not deflate at all.
            log.info("undecodable compressed frame")
            self.close(CLOSE_INVALID_DATA, "cannot decompress: compress each message on its own")
            self._abort()
            return None

    def _create_compressors(self, side, agreed_parameters, compression_options=None):
        key = (side, self.params.max_message_size, tuple(sorted(agreed_parameters.items())))
        pair = self.shared.get(key)
        if pair is None:
            super()._create_compressors(side, agreed_parameters, compression_options)
            pair = self.shared[key] = (self._compressor, self._decompressor)
        self._compressor, self._decompressor = pair


def _empty(headers) -> None:
    """Empty an HTTPHeaders in place; its own clear() deletes one field at a time."""
    tables = [getattr(headers, name, None) for name in ("_as_list", "_combined_cache")]
    if all(isinstance(t, dict) for t in tables):
        for table in tables:
            table.clear()
    else:
        headers.clear()


ROUTES = [(r"/ws", LiveSocket)]
