"""Structured logging: one JSON object per line (or plain text for a terminal).

Tornado's access log goes through `log_request`, so every request line carries
the same fields: method, path, status, duration, remote address.
"""
from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter


def setup(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"levelname": "level", "asctime": "time"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def log_request(handler) -> None:
    request = handler.request
    access(request.method, request.path, handler.get_status(), request.request_time(), request.remote_ip)


ACCESS = logging.getLogger("livehall.access")


def access(method: str, path: str, status: int, seconds: float, remote_ip: str) -> None:
    """One access-log line (also for what is answered below Tornado's handlers: `/ws`)."""
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    ACCESS.log(level, "request", extra={
        "method": method, "path": path, "status": status,
        "duration_ms": round(seconds * 1000, 2), "remote_ip": remote_ip,
    })
