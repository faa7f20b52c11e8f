"""Operations endpoints: /healthz for load balancers, /metrics for Prometheus.

Neither needs a session or a locale, so both skip the base handler's set-up.
/healthz answers 503 when a configured dependency (database, Redis) is down.

/metrics is not public: its figures (rooms, connections, request rates,
errors) tell an outsider how the platform is used and when it struggles.
With METRICS_TOKEN set it answers only `Authorization: Bearer <token>`,
from anywhere.  Without one it answers only requests from a loopback
address (a scraper on the same machine), not private networks: an nginx on
another machine of the same network, without TRUST_PROXY, would make every
visitor look internal.  Behind nginx with TRUST_PROXY the address is the
one nginx forwards, so a visitor is refused even though the connection
comes from nginx; the server's own port must then not be reachable from
outside, since X-Forwarded-For is believed (and nginx/livehall.conf refuses
/metrics itself).  Anyone else gets 403 and no figures.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json

import tornado.web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from handlers.base import BaseHandler
from storage import redis_client

CHECK_TIMEOUT = 2.0


class HealthHandler(BaseHandler):
    async def prepare(self):
        pass  # no session, no locale: a probe must not touch more than it checks

    async def get(self):
        services = self.services
        checks = {"database": {"backend": services.storage.kind}}
        healthy = True
        try:
            await asyncio.wait_for(services.storage.ping(), CHECK_TIMEOUT)
            checks["database"]["status"] = "ok"
        except Exception as exc:
            checks["database"].update(status="error", error=type(exc).__name__)
            healthy = False
        if services.redis is None:
            checks["redis"] = {"status": "disabled"}
        else:
            try:
                await asyncio.wait_for(redis_client.ping(services.redis), CHECK_TIMEOUT)
                checks["redis"] = {"status": "ok"}
            except Exception as exc:
                checks["redis"] = {"status": "error", "error": type(exc).__name__}
                healthy = False
        self.set_status(200 if healthy else 503)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"status": "ok" if healthy else "error", **checks}))


def loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)   # ::ffff:127.0.0.1 on a dual-stack socket
    return (mapped or ip).is_loopback


def bearer_matches(authorization: str, token: str) -> bool:
    scheme, _, given = authorization.strip().partition(" ")
    # compare_digest: the time taken says nothing about how much of the token was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class MetricsHandler(BaseHandler):
    async def prepare(self):
        pass

    def may_read(self) -> bool:
        token = self.services.settings.metrics_token
        if token:
            return bearer_matches(self.request.headers.get("Authorization", ""), token)
        return loopback(self.request.remote_ip or "")

    def get(self):
        if not self.may_read():
            raise tornado.web.HTTPError(403)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.set_header("Cache-Control", "no-store")
        self.finish(generate_latest(self.services.registry))


ROUTES = [
    (r"/healthz", HealthHandler),
    (r"/metrics", MetricsHandler),
]
