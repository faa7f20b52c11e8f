"""Fixtures for cross-process tests; import all three into a test module.

A test that asks for `other` runs two server instances (the test's
`services` and `other.services`: each its own hub, Redis broker and timers)
sharing one database, cookie secret and a real redis-server.  Tests of the
same module that do not ask for it run on one instance without Redis, so
one module covers both paths.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets

import pytest
import tornado.httpserver

import server
from core import config
from tests.servers import RedisServer, free_port


@pytest.fixture
def redis_server():
    srv = RedisServer()
    yield srv
    srv.stop()


@pytest.fixture
def settings(request):
    redis_url = os.environ.get("TEST_REDIS_URL", "")
    if "other" in request.fixturenames:
        redis_url = request.getfixturevalue("redis_server").url
    return config.from_env(mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1,
                           argon2_memory_kib=1024, log_format="text", redis_url=redis_url,
                           redis_shards=2, smtp_host="")


@dataclasses.dataclass
class Instance:
    url: str
    services: object


@pytest.fixture
def other(io_loop, services, settings):
    svc = io_loop.run_sync(lambda: server.make_services(settings, storage=services.storage))
    port = free_port()
    http = tornado.httpserver.HTTPServer(server.make_app(svc))
    http.listen(port, "127.0.0.1")
    yield Instance(f"http://127.0.0.1:{port}", svc)
    http.stop()

    async def close():
        for task in list(svc.background):
            task.cancel()
        await asyncio.gather(*svc.background, return_exceptions=True)
        await svc.broker.close()
        await svc.redis.aclose()
    io_loop.run_sync(close)
