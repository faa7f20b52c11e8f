"""Prometheus metrics for /metrics, kept in a registry owned by the app."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self.requests = Counter("livehall_http_requests_total", "HTTP requests served",
                                ["handler", "method", "status"], registry=registry)
        self.latency = Histogram("livehall_http_request_seconds", "HTTP request duration",
                                 ["handler"], registry=registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.mail = Counter("livehall_mail_total", "Mail handed to SMTP or the outbox",
                            ["result"], registry=registry)
        self.signins = Counter("livehall_signins_total", "Sign-in attempts",
                               ["method", "result"], registry=registry)
        # Reads of a chat room's stored stream because this process's recent-entry
        # cache could not answer: `load` fills a room's cache (once per room and
        # process), `resume` is a resume reaching further back than the cache.
        # A reconnect storm should add a few per room, not one per client.
        self.history_reads = Counter("livehall_history_reads_total",
                                     "Chat stream reads from storage on a recent-entry cache miss",
                                     ["reason"], registry=registry)

        self.gc_pause = Histogram("livehall_gc_pause_seconds", "Cyclic garbage collector pauses",
                                  ["generation"], registry=registry,
                                  buckets=(.001, .005, .01, .025, .05, .1, .25, .5, 1))

    def observe_request(self, handler: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(handler, method, str(status)).inc()
        self.latency.labels(handler).observe(seconds)
