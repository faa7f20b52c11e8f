"""Operations endpoints: /healthz for load balancers, /metrics for Prometheus.

Neither needs a session or a locale, so both skip the base handler's set-up.
/healthz answers 503 when a configured dependency (database, Redis) is down.
"""
from __future__ import annotations

import asyncio
import json

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from handlers.base import BaseHandler

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
                await asyncio.wait_for(services.redis.ping(), CHECK_TIMEOUT)
                checks["redis"] = {"status": "ok"}
            except Exception as exc:
                checks["redis"] = {"status": "error", "error": type(exc).__name__}
                healthy = False
        self.set_status(200 if healthy else 503)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"status": "ok" if healthy else "error", **checks}))


class MetricsHandler(BaseHandler):
    async def prepare(self):
        pass

    def get(self):
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.services.registry))


ROUTES = [
    (r"/healthz", HealthHandler),
    (r"/metrics", MetricsHandler),
]
