"""/metrics answers only a configured token, or without one only loopback, never the public."""
import os
import secrets

import pytest

from core import config
from handlers.ops import bearer_matches, loopback

TOKEN = "s3cret-scrape-token"
VISITOR = "203.0.113.9"


def make_settings(**overrides):
    return config.from_env(mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1,
                           argon2_memory_kib=1024, log_format="text", smtp_host="",
                           redis_url=os.environ.get("TEST_REDIS_URL", ""), **overrides)


def refused(r) -> bool:
    return r.status_code == 403 and "livehall_" not in r.text and "# HELP" not in r.text


def test_loopback_addresses():
    assert loopback("127.0.0.1") and loopback("127.8.0.1") and loopback("::1") and loopback("::ffff:127.0.0.1")
    assert not loopback("10.0.0.5") and not loopback("192.168.1.2") and not loopback(VISITOR)
    assert not loopback("") and not loopback("nonsense")


def test_bearer_token():
    assert bearer_matches(f"Bearer {TOKEN}", TOKEN) and bearer_matches(f"bearer  {TOKEN} ", TOKEN)
    assert not bearer_matches(f"Basic {TOKEN}", TOKEN) and not bearer_matches(TOKEN, TOKEN)
    assert not bearer_matches(f"Bearer {TOKEN}x", TOKEN) and not bearer_matches("Bearer ", TOKEN)


class TestBehindNginx:
    @pytest.fixture
    def settings(self):
        return make_settings(trust_proxy=True)

    @pytest.mark.gen_test
    async def test_a_visitor_forwarded_by_nginx_is_refused(self, browser):
        b = browser()
        assert refused(await b.get("/metrics", headers={"X-Forwarded-For": VISITOR}))
        assert refused(await b.get("/metrics", headers={"X-Real-IP": VISITOR}))
        # A visitor's own X-Forwarded-For comes first; nginx appends the address it saw.
        assert refused(await b.get("/metrics", headers={"X-Forwarded-For": f"127.0.0.1, {VISITOR}"}))
        # A scraper on the machine itself, not through nginx.
        r = await b.get("/metrics")
        assert r.status_code == 200 and "livehall_http_requests_total" in r.text


class TestDirect:
    @pytest.mark.gen_test
    async def test_without_trust_proxy_forwarded_addresses_are_ignored(self, browser):
        r = await browser().get("/metrics", headers={"X-Forwarded-For": VISITOR})
        assert r.status_code == 200 and "livehall_http_requests_total" in r.text


class TestWithToken:
    @pytest.fixture
    def settings(self):
        return make_settings(metrics_token=TOKEN, trust_proxy=True)

    @pytest.mark.gen_test
    async def test_only_the_token_is_served(self, browser):
        b = browser()
        assert refused(await b.get("/metrics"))     # loopback is not enough once a token is set
        assert refused(await b.get("/metrics", headers={"Authorization": "Bearer wrong"}))
        assert refused(await b.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}))
        r = await b.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": VISITOR})
        assert r.status_code == 200 and "livehall_http_requests_total" in r.text
        assert r.headers["cache-control"] == "no-store"

    def test_the_token_comes_from_the_environment(self):
        assert config.from_env({"METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
        assert config.from_env({}).metrics_token == ""
