"""A local Web Push service for tests: a real HTTP server that checks what a real push service checks.

Each request to `/push/<token>` must carry a VAPID authorization (RFC 8292:
`Authorization: vapid t=<jwt>,k=<key>`, or the older `WebPush <jwt>` with
`Crypto-Key: p256ecdsa=<key>`) whose ES256 signature verifies against that
public key, whose `aud` is this server's origin and whose `exp` is in the
future (at most a day ahead); its body must be an aes128gcm record
(RFC 8188) that decrypts (RFC 8291) with the private key and auth secret of
the browser the test made for that token (`Browser`).  Then it answers 201
and records the decrypted payload; otherwise 400/401 with the reason, and
records the refusal.  A token marked `gone` answers 410, as a push service
does for a subscription the browser dropped; one marked `busy` answers 503
that many times first.

Nothing of the platform is used here: the checks are written against the
RFCs with the cryptography package and http_ece.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass, field

import http_ece
import tornado.httpserver
import tornado.web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tornado.testing import bind_unused_port


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A browser's side of a subscription: an ECDH P-256 key pair and a 16-byte auth secret."""
    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self) -> dict:
        """What `PushSubscription.toJSON()` gives the page."""
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": b64(point), "auth": b64(self.auth)}}

    @property
    def token(self) -> str:
        return self.endpoint.rsplit("/", 1)[1]


class Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def verify_vapid(headers, audience: str, now: float | None = None) -> dict:
    """The JWT's claims if the VAPID authorization is genuine and for `audience`; Refused otherwise."""
    auth = headers.get("Authorization", "")
    if auth.lower().startswith("vapid "):
        fields = dict(part.strip().split("=", 1) for part in auth[6:].split(",") if "=" in part)
        token, key = fields.get("t", ""), fields.get("k", "")
    elif auth.startswith("WebPush "):
        token = auth[8:].strip()
        crypto = dict(part.strip().split("=", 1) for part in headers.get("Crypto-Key", "").split(";") if "=" in part)
        key = crypto.get("p256ecdsa", "")
    else:
        raise Refused(401, "no VAPID authorization")
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
        head, body, signature = token.split(".")
        raw = unb64(signature)
        if len(raw) != 64:
            raise Refused(401, "the signature is not 64 bytes (r || s)")
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
        header, claims = json.loads(unb64(head)), json.loads(unb64(body))
    except InvalidSignature:
        raise Refused(401, "the JWT's signature does not verify") from None
    except (ValueError, TypeError):
        raise Refused(401, "malformed VAPID token or key") from None
    if header.get("alg") != "ES256":
        raise Refused(401, f"alg {header.get('alg')!r}")
    if claims.get("aud") != audience:
        raise Refused(401, f"aud {claims.get('aud')!r} is not {audience!r}")
    moment = now or time.time()
    if not isinstance(claims.get("exp"), int) or not moment < claims["exp"] <= moment + 24 * 3600:
        raise Refused(401, f"exp {claims.get('exp')!r} is not within the next day")
    claims["_key"] = key
    return claims


class PushService:
    """The server, its browsers (by token) and what it received."""

    def __init__(self):
        self.browsers: dict[str, Browser] = {}
        self.gone: set[str] = set()
        # token -> how many more requests answer 503 (a push service busy for now)
        self.busy: dict[str, int] = {}
        self.received: list[dict] = []
        self.refused: list[dict] = []
        sock, self.port = bind_unused_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        app = tornado.web.Application([(r"/push/([A-Za-z0-9_-]+)", _Endpoint, {"service": self})])
        self.server = tornado.httpserver.HTTPServer(app)
        self.server.add_sockets([sock])

    def browser(self) -> Browser:
        made = Browser(f"{self.origin}/push/{secrets.token_urlsafe(12)}")
        self.browsers[made.token] = made
        return made

    def to(self, browser: Browser) -> list[dict]:
        return [r for r in self.received if r["token"] == browser.token]

    def stop(self):
        self.server.stop()


class _Endpoint(tornado.web.RequestHandler):
    def initialize(self, service: PushService):
        self.service = service

    def post(self, token):
        service = self.service
        try:
            browser = service.browsers.get(token)
            if browser is None:
                raise Refused(404, "no such subscription")
            if token in service.gone:
                raise Refused(410, "the browser dropped this subscription")
            if service.busy.get(token):
                service.busy[token] -= 1
                raise Refused(503, "busy: try again later")
            claims = verify_vapid(self.request.headers, service.origin)
            if self.request.headers.get("Content-Encoding") != "aes128gcm":
                raise Refused(400, "Content-Encoding is not aes128gcm")
            if not self.request.headers.get("TTL", "").isdigit():
                raise Refused(400, "no TTL")
            try:
                plain = http_ece.decrypt(self.request.body, private_key=browser.key, auth_secret=browser.auth,
                                         version="aes128gcm")
            except Exception as exc:
                raise Refused(400, f"the payload does not decrypt: {exc!r}") from None
            service.received.append({"token": token, "claims": claims, "payload": json.loads(plain),
                                     "headers": dict(self.request.headers)})
            self.set_status(201)
            self.set_header("Location", f"/messages/{secrets.token_hex(8)}")
        except Refused as exc:
            service.refused.append({"token": token, "status": exc.status, "reason": exc.reason})
            self.set_status(exc.status)
            self.write(exc.reason)
