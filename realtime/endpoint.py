"""The WebSocket endpoint `/ws?event=<event id>`: the handshake, then frames to Live.

`/ws?event=<event id>&view=tickets` is the narrow connection of a page that
sells the event's tickets (`realtime.ticket_frames`): it needs no session,
only the event's privacy, and receives nothing but the ticket statuses.
`/ws?campaign=<campaign id>` is the same for a campaign's page and its
fundraising screen (`realtime.donation_frames`): no session, and nothing
but the campaign's totals.

The upgrade is answered here, below Tornado's RequestHandler.  In a
reconnect storm thousands of sockets open each second, and a RequestHandler
per socket (response headers, cookie parsing, template namespace, its
finish and flush machinery) cost more CPU than the rest of a connect, and
stayed in memory for the socket's lifetime.  Tornado still parses the
request (HTTP1Connection) and reads the frames (WebSocketProtocol13, with
the changes in `realtime.tornado_internals`, the one module that touches
Tornado's private names); what an open socket keeps of its handshake is a
`LiveSocket` of a few slots.

Security decisions made here:
- the session cookie authenticates (before the upgrade: no session, no
  socket); the cookie is HttpOnly, so only this site's pages can use it;
- the Origin header must match this site (the Host the request came to, or
  BASE_URL's host): a browser on another site carries the cookie too, and
  would otherwise open a socket in the user's name (cross-site WebSocket
  hijacking);
- frames over the hard limit close the connection (1009); smaller oversize
  frames get an error frame; a text frame that is not UTF-8, or a message
  that cannot be decompressed, closes it with 1007 (RFC 6455 7.4.1).
Compression: permessage-deflate is accepted only without context takeover
(`realtime.compression`), so a busy room's frames are compressed once per
process and shared by every socket; there is no zlib state per socket.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import tornado.web
import tornado.websocket
from tornado import gen, httputil
from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError

from access import rules
from accounts import sessions
from core import logs, security_headers
from core.i18n import LOCALES
from events import model
from events.model import EventDoc
from realtime import compression, corking, protocol
from realtime.connection import Connection
from realtime.tornado_internals import FrameProtocol, websocket_params

if TYPE_CHECKING:
    from realtime.services import LiveServices

log = logging.getLogger(__name__)

COMPRESSION_OPTIONS: dict = {}   # Tornado's defaults; one object shared by every socket
TICKETS_VIEW = "tickets"          # `/ws?event=<id>&view=tickets`: follows the ticket sale only
CAMPAIGN_VIEW = "campaign"        # `/ws?campaign=<id>`: follows a campaign's totals only


class Refused(Exception):
    """An upgrade answered with an HTTP error instead of 101."""

    def __init__(self, status: int, reason: str, headers: dict | None = None):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


class LiveEndpoint(httputil.HTTPServerConnectionDelegate):
    """Answers `/ws` requests (routed here by the Application, as a delegate)."""

    def __init__(self, services: LiveServices):
        self.services = services
        if services.live is None:
            raise RuntimeError("the live side is built before its endpoint")
        self.live = services.live
        # One parameter object for every socket (Tornado builds one per handler).
        self.params = websocket_params(protocol.HARD_FRAME_BYTES, COMPRESSION_OPTIONS)

    def start_request(self, server_conn, request_conn) -> Upgrade:
        return Upgrade(self, request_conn)

    def run(self, up: Upgrade) -> None:
        # The task lives as long as its socket (it reads the frames); asyncio
        # keeps only weak references to tasks, Tornado's IOLoop holds them
        # (as it does for its own handlers).
        gen.convert_yielded(self.accept(up))

    async def accept(self, up: Upgrade) -> None:
        """Authenticate and upgrade, or refuse; then read the socket's frames until it closes."""
        started = time.monotonic()
        try:
            if self.live.hub.draining:
                # Shutting down: its sockets are being closed with 1001, and
                # one opened now would be cut again; the next try goes elsewhere.
                raise Refused(503, "Service Unavailable", {"Retry-After": "1"})
            target, view = self.check(up.start_line, up.headers)
            # Each kind of connection: who may open it, and how it is opened.
            kinds: dict[str, tuple[Callable[..., Awaitable[tuple]], Callable[..., Awaitable[Any]]]] = {
                CAMPAIGN_VIEW: (self.find_campaign, self.upgrade_campaign),
                TICKETS_VIEW: (self.authenticate_visitor, self.upgrade_visitor)}
            admit, upgrade = kinds.get(view, (self.authenticate, self.upgrade))
            who = await admit(up.headers, target)
        except Refused as no:
            self._finish(up, started, no.status)
            if not up.gone:
                _refuse(up.request, no, up.over_tls)
            return
        except Exception:
            log.exception("upgrade failed")
            self._finish(up, started, 500)
            if not up.gone:
                _refuse(up.request, Refused(500, "Internal Server Error"), up.over_tls)
            return
        if up.gone:     # left while its session was read: nothing to upgrade
            self._finish(up, started, 499)
            return
        self._finish(up, started, 101)
        ws = await upgrade(up, *who)
        # This coroutine reads the socket's frames for as long as it is open:
        # it must not keep the handshake alive with it (the request and its
        # headers, the whole account, session and membership documents).
        del up, who
        if ws is not None:
            await ws.read_frames()

    def check(self, start_line, headers) -> tuple[str, str]:
        """(event id, view) of the request, if it is a WebSocket upgrade this site may accept.

        `view=tickets` asks for a connection that only follows the event's
        ticket sale (`realtime.ticket_frames`); `campaign=<id>` (instead of
        `event`) one that only follows a campaign's totals
        (`realtime.donation_frames`); anything else is the event's live
        connection.
        """
        if start_line.method != "GET":
            raise Refused(405, "Method Not Allowed", {"Allow": "GET"})
        if headers.get("Upgrade", "").lower() != "websocket":
            raise Refused(400, 'Can "Upgrade" only to "WebSocket".')
        if "upgrade" not in (v.strip().lower() for v in headers.get("Connection", "").split(",")):
            raise Refused(400, '"Connection" must be "Upgrade".')
        if headers.get("Sec-WebSocket-Version") != "13":
            raise Refused(426, "Upgrade Required", {"Sec-WebSocket-Version": "13"})
        if not headers.get("Host") or not headers.get("Sec-WebSocket-Key"):
            raise Refused(400, "Missing/Invalid WebSocket headers")
        origin = headers.get("Origin")
        if origin is not None and not self.same_site(origin, headers["Host"]):
            raise Refused(403, "Cross origin websockets not allowed")
        query = parse_qs(urlsplit(start_line.path).query, keep_blank_values=True)
        if query.get("campaign"):
            return query["campaign"][-1].strip(), CAMPAIGN_VIEW
        values, view = query.get("event"), query.get("view")
        return (values[-1].strip() if values else ""), (view[-1].strip() if view else "")

    def same_site(self, origin: str, host: str) -> bool:
        allowed = {host.lower()}
        base = self.services.settings.base_url
        if base:
            allowed.add(urlsplit(base).netloc.lower())
        return urlsplit(origin).netloc.lower() in allowed

    async def authenticate(self, headers, event_id: str) -> tuple:
        """(user, event, roles, session, waiting) of a member of the event whom its privacy admits.

        `waiting`: the gate is closed to this member (no "enter early"): the
        socket is accepted to wait for the gate (`Live.open`), and sees
        nothing of the event but its gate, broadcast and day flags.  Decided
        by `access.rules.admission`, as the event page decides, from the
        reads every connect makes anyway: waiting adds none.
        """
        reads = self.live.reads
        raw = httputil.parse_cookie(headers.get("Cookie", "")).get(sessions.COOKIE)
        token = tornado.web.decode_signed_value(self.services.settings.cookie_secret, sessions.COOKIE,
                                                raw, max_age_days=366) if raw else None
        session = await reads.session(token.decode() if token else None)
        user = await reads.user(session["user_id"]) if session else None
        if not user:
            raise Refused(401, "sign in first")
        event = await reads.event(event_id)
        if not event:
            raise Refused(404, "unknown event")
        roles = await reads.roles(user, event)
        admission = rules.admission(roles, model.gate_open(event))
        if admission == rules.REFUSED:
            raise Refused(403, "not a member of this event")
        # Watching needs a registration (or a staff role), and privacy admits
        # every such person; asked all the same, so that the socket follows
        # the one rule if it changes.  No read: the event and roles are here,
        # and the closed list is not copied.
        privacy: dict[str, Any] = dict(event.get("privacy") or {})
        if rules.privacy_verdict(privacy.get("level") or model.DEFAULT_PRIVACY, privacy.get("emails") or (),
                                 roles, email=user.get("email"), invited=False) != rules.ADMITTED:
            raise Refused(403, "not admitted by the event's privacy")
        return user, event, roles, session, admission == rules.WAIT

    async def authenticate_visitor(self, headers, event_id: str) -> tuple:
        """(user or None, event) of someone the event's privacy shows its public page (and tickets) to.

        Signed in or not: the tickets block is on the public page.  The same
        verdict as that page (`access.rules.privacy_verdict`); an invitation
        link is not carried here, so an event by invitation only shows its
        sale live to those it already admits.  A channel has no sale of its own.
        """
        reads = self.live.reads
        if self.live.tickets is None:
            raise Refused(404, "no ticket sale here")
        raw = httputil.parse_cookie(headers.get("Cookie", "")).get(sessions.COOKIE)
        token = tornado.web.decode_signed_value(self.services.settings.cookie_secret, sessions.COOKIE,
                                                raw, max_age_days=366) if raw else None
        session = await reads.session(token.decode() if token else None)
        user = await reads.user(session["user_id"]) if session else None
        event = await reads.event(event_id)
        if not event or event.get("parent_id"):
            raise Refused(404, "unknown event")
        roles = await reads.roles(user, event) if user else {}
        privacy: dict[str, Any] = dict(event.get("privacy") or {})
        if rules.privacy_verdict(privacy.get("level") or model.DEFAULT_PRIVACY, privacy.get("emails") or (),
                                 roles, email=user.get("email") if user else None, invited=False) != rules.ADMITTED:
            raise Refused(403, "not admitted by the event's privacy")
        return user, event

    async def find_campaign(self, headers, campaign_id: str) -> tuple:
        """(campaign,) of a campaign whose totals are public: anyone may follow them, signed in or not."""
        if self.live.donations is None:
            raise Refused(404, "no campaigns here")
        campaign = await self.live.donations.find(campaign_id)
        if campaign is None:
            raise Refused(404, "unknown campaign")
        return (campaign,)

    async def upgrade_campaign(self, up: Upgrade, campaign: dict) -> FrameProtocol | None:
        assert self.live.donations is not None  # checked by find_campaign
        donations = self.live.donations
        return await self._upgrade(up, lambda sock: donations.open(sock, campaign))

    async def upgrade_visitor(self, up: Upgrade, user: dict | None, event: EventDoc) -> FrameProtocol | None:
        assert self.live.tickets is not None  # checked by authenticate_visitor
        tickets = self.live.tickets
        return await self._upgrade(up, lambda sock: tickets.open(sock, event, user))

    async def upgrade(self, up: Upgrade, user: dict, event: EventDoc, roles: dict,
                      session: dict, waiting: bool = False) -> FrameProtocol | None:
        """The 101 response and `Live.open`; the open socket's protocol, or None."""
        user_locale = user.get("locale")
        locale = user_locale if user_locale in LOCALES else self.services.settings.default_locale
        return await self._upgrade(up, lambda sock: self.live.open(sock, user, event, roles, locale,
                                                                    session=session["token_hash"], waiting=waiting))

    async def _upgrade(self, up: Upgrade, opener) -> FrameProtocol | None:
        """The 101 response, then `opener(socket)` opens the live connection; the open socket's protocol, or None."""
        offer, deflate = compression.negotiate(up.headers.get("Sec-WebSocket-Extensions", ""))
        stream = up.request.detach()
        # Corked until `open` has written its first frames: the 101 response,
        # `welcome` and `state` leave as one segment (realtime.corking).
        corking.hold(stream)
        sock = LiveSocket(self)
        ws = sock.ws_connection = FrameProtocol(sock, False, self.params)
        ws.stream = stream
        if offer:
            ws.create_compressors("server", compression.parse_offers(offer)[0][1], COMPRESSION_OPTIONS)
        key = tornado.websocket.WebSocketProtocol13.compute_accept_value(up.headers["Sec-WebSocket-Key"])
        response = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {key}\r\n"
                    + (f"Sec-WebSocket-Extensions: {offer}\r\n" if offer else "") + "\r\n")
        # The detached HTTP connection still refers to the request's headers.
        del up.request, up.headers, up.start_line
        try:
            stream.write(response.encode())
            conn = sock.conn = await opener(sock)
        except StreamClosedError:
            ws.abort()      # the client left at the last moment
            return None
        except Exception:
            log.exception("opening a live connection failed")
            ws.abort()
            return None
        finally:
            corking.release(stream)
        conn.deflate = deflate
        return ws

    @staticmethod
    def _finish(up: Upgrade, started: float, status: int) -> None:
        context = up.request.context
        logs.access(up.start_line.method, urlsplit(up.start_line.path).path, status,
                    time.monotonic() - started, getattr(context, "remote_ip", ""))


class Upgrade(httputil.HTTPMessageDelegate):
    """One `/ws` request while it is read: handed to the endpoint once complete."""

    __slots__ = ("endpoint", "request", "start_line", "headers", "gone", "over_tls")
    # Set once the headers are read (the endpoint runs an upgrade only after
    # that), and deleted once the socket is upgraded.
    start_line: httputil.RequestStartLine
    headers: httputil.HTTPHeaders

    def __init__(self, endpoint: LiveEndpoint, request: HTTP1Connection):
        self.endpoint, self.request = endpoint, request
        self.gone = self.over_tls = False

    def headers_received(self, start_line, headers):
        self.start_line, self.headers = start_line, headers
        # Read now: with TRUST_PROXY the context says X-Forwarded-Proto's
        # scheme only until the request is complete, before `accept` runs.
        # Tornado types the context as `object`; HTTPServer's context has `protocol`.
        self.over_tls = self.request.context.protocol == "https"  # type: ignore[attr-defined]

    def data_received(self, chunk):
        pass  # an upgrade has no body; one sent anyway is read and dropped

    def finish(self):
        self.endpoint.run(self)

    def on_connection_close(self):
        self.gone = True


class LiveSocket:
    """One open socket: what Tornado's WebSocketProtocol13 calls back, in a few slots."""

    __slots__ = ("endpoint", "ws_connection", "conn", "close_code", "close_reason", "ended")

    def __init__(self, endpoint: LiveEndpoint):
        self.endpoint = endpoint
        self.ws_connection: FrameProtocol | None = None
        self.conn: Connection | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.ended = False

    def on_message(self, message):
        conn = self.conn
        if conn is None or conn.closed:
            return None
        return self._handle(conn, message)

    async def _handle(self, conn, message) -> None:
        try:
            await self.endpoint.live.handle(conn, message)
        except Exception:
            # A bug in one frame's handling must not kill the process or
            # other connections; the client is told and may go on.
            log.exception("frame handling failed", extra={"user": conn.user_id})
            conn.send(protocol.error(protocol.INTERNAL, "the server could not handle this frame"))

    def on_ping(self, data) -> None:
        pass  # Tornado's protocol answers pings itself

    def on_pong(self, data) -> None:
        if self.conn is not None:
            self.conn.ponged = True

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        ws, self.ws_connection = self.ws_connection, None
        if ws is not None:
            ws.close(code, reason)

    def on_ws_connection_close(self, code: int | None = None, reason: str | None = None) -> None:
        self.close_code, self.close_reason = code, reason
        self.ws_connection = None
        if not self.ended:
            self.ended = True
            conn, self.conn = self.conn, None
            if conn is not None:
                self.endpoint.services.spawn(self.endpoint.live.close(conn))

    def log_exception(self, typ, value, tb) -> None:
        log.error("websocket callback failed", exc_info=(typ, value, tb))


def _refuse(request, no: Refused, over_tls: bool) -> None:
    body = f"{no.reason}\n".encode()
    # The same defences as every other response (HSTS when the request came over TLS).
    headers = httputil.HTTPHeaders({"Content-Type": "text/plain; charset=UTF-8",
                                    "Content-Length": str(len(body)),
                                    **dict(security_headers.for_response(over_tls)), **no.headers})
    request.write_headers(httputil.ResponseStartLine("HTTP/1.1", no.status, no.reason), headers, body)
    request.finish()


ROUTES = [(r"/ws", LiveEndpoint)]
