"""Shared fixtures: settings -> services -> app -> signed-in browser clients.

Every test gets a fresh database: the embedded store by default, or a
uniquely named database on a real server when MONGODB_URI is set (dropped
afterwards).  With CI=true a skipped test fails, so a missing component can
never pass unnoticed.  The embedded store checks single-document writes to
sharded collections as a sharded cluster's router would (`storage.targeting`).
"""
from __future__ import annotations

import os
import secrets

import pytest
import tornado.httpserver

import server
import storage.embedded
from core import config
from mongo_indexes.sharding import SHARD_KEYS
from tests.servers import RedisClusterServers
from tests.support import Browser, Factory

CI = os.environ.get("CI", "").lower() == "true"
storage.embedded.SHARD_KEYS = SHARD_KEYS
FIGURES: list[str] = []  # measured along the way; printed at the end of the run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under CI=true, which is a failure here: {reason}"


@pytest.fixture
def settings():
    return config.from_env(
        mongodb_db=f"livehall_test_{secrets.token_hex(4)}",
        argon2_time_cost=1, argon2_memory_kib=1024,
        log_format="text", redis_url=os.environ.get("TEST_REDIS_URL", ""),
        smtp_host="",
    )


@pytest.fixture
def services(io_loop, settings):
    svc = io_loop.run_sync(lambda: server.make_services(settings))
    yield svc

    async def teardown():
        if svc.storage.kind == "mongodb":
            await svc.storage.client.drop_database(settings.mongodb_db)
        await server.close_services(svc)

    io_loop.run_sync(teardown)


@pytest.fixture
def db(services):
    return services.db


@pytest.fixture
def app(services):
    return server.make_app(services)


@pytest.fixture
def http_server(request, io_loop, _unused_port, app, settings):
    """The test server as `server.serve` builds it: X-Forwarded-* believed only with TRUST_PROXY."""
    server = tornado.httpserver.HTTPServer(app, xheaders=settings.trust_proxy)
    server.add_socket(_unused_port[0])
    yield server
    server.stop()
    io_loop.run_sync(server.close_all_connections)


@pytest.fixture
def factory(services):
    return Factory(services)


@pytest.fixture
def browser(http_server, base_url):
    """A fresh cookie jar; call browser() again for a second person or device."""
    made = []

    def make(**kwargs):
        b = Browser(base_url, **kwargs)
        made.append(b)
        return b

    yield make


@pytest.fixture(scope="session")
def redis_cluster():
    """A real six-node Redis Cluster (three masters, three replicas) for the session's cluster
    tests: started once, when a test first asks for it, and stopped at the end.  A test that
    kills a master starts it again (`restart`) before it ends."""
    servers = RedisClusterServers()
    yield servers
    servers.stop()


@pytest.fixture
def report_figure():
    """`report_figure(line)`: a figure a test measured, shown in the run's summary."""
    return FIGURES.append


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures measured")
        for line in FIGURES:
            terminalreporter.write_line(line)
