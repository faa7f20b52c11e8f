"""Responses are gzip-compressed by Tornado (`compress_response`): pages, styles, scripts, JSON.

The live socket is not among them: it has its own permessage-deflate
(tests/test_compression.py).  Through nginx the shipped config compresses
the static files it serves itself (tests/test_nginx.py).
"""
import gzip
import json

import httpx
import pytest

import server
from handlers.base import BaseHandler


class Listing(BaseHandler):
    async def get(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"items": [{"n": n, "name": f"item {n}"} for n in range(200)]}))


@pytest.fixture
def app(services):
    application = server.make_app(services)
    application.add_handlers(r".*", [(r"/test/listing", Listing, {"services": services})])
    return application


async def fetch(base_url: str, path: str, encoding: str | None) -> httpx.Response:
    headers = {"Accept-Encoding": encoding} if encoding else {"Accept-Encoding": "identity"}
    # Read the raw bytes: httpx would otherwise decode them.
    async with httpx.AsyncClient(base_url=base_url) as client, client.stream("GET", path, headers=headers) as r:
        r.raw = b"".join([chunk async for chunk in r.aiter_raw()])
        return r


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("path, kind", [("/signin", "text/html"), ("/static/css/app.css", "text/css"),
                                        ("/static/js/chat.js", "javascript"),
                                        ("/test/listing", "application/json")])
async def test_text_responses_are_gzipped_for_clients_that_accept_it(base_url, http_server, path, kind):
    plain = await fetch(base_url, path, None)
    assert plain.status_code == 200 and kind in plain.headers["Content-Type"]
    assert "Content-Encoding" not in plain.headers
    packed = await fetch(base_url, path, "gzip, deflate, br")
    assert packed.status_code == 200
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers.get("Vary", "")
    body = gzip.decompress(packed.raw)
    assert len(packed.raw) < len(body) / 2
    if path.startswith("/static/"):
        assert body == plain.raw
    else:
        assert body.decode().startswith(plain.raw.decode()[:15])
