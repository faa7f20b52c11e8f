"""Operations endpoints: /healthz and /metrics."""
import json

import pytest


@pytest.mark.gen_test
async def test_healthz_reports_database_and_redis(browser, services):
    b = browser()
    r = await b.get("/healthz")
    assert r.status_code == 200
    body = json.loads(r.text)
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["redis"]["status"] in ("ok", "disabled")


@pytest.mark.gen_test
async def test_healthz_503_when_database_down(browser, services):
    async def broken():
        raise ConnectionError("down")
    services.storage.ping = broken
    r = await browser().get("/healthz")
    assert r.status_code == 503
    assert json.loads(r.text)["database"]["status"] == "error"


@pytest.mark.gen_test
async def test_metrics_in_prometheus_format(browser):
    b = browser()
    await b.get("/healthz")
    r = await b.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "livehall_http_requests_total" in r.text
    assert 'handler="HealthHandler"' in r.text


@pytest.mark.gen_test
async def test_unknown_page_is_translated_404(browser):
    r = await browser(locale="de").get("/no/such/page")
    assert r.status_code == 404
    assert 'lang="de"' in r.text


@pytest.fixture
def redis_server():
    from tests.servers import RedisServer
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def settings(redis_server):
    import secrets

    from core import config
    return config.from_env(mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1,
                           argon2_memory_kib=1024, log_format="text", redis_url=redis_server.url)


@pytest.mark.gen_test
async def test_healthz_with_real_redis_then_redis_down(browser, redis_server):
    b = browser()
    r = await b.get("/healthz")
    assert r.status_code == 200
    assert json.loads(r.text)["redis"]["status"] == "ok"
    redis_server.stop()
    r = await b.get("/healthz")
    assert r.status_code == 503
    body = json.loads(r.text)
    assert body["redis"]["status"] == "error" and body["database"]["status"] == "ok"
