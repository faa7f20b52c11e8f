"""Helpers for the donations tests: a space with a campaign made through the real actions, a live follower."""
from __future__ import annotations

import json
import re

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from access import roles as R
from donations import campaigns


async def campaign(services, factory, *, space=None, currency="EUR", goal="1000", state=campaigns.OPEN,
                   title=None, category="water", **extra) -> dict:
    space = space or await factory.space()
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    raw = {**campaigns.blank_form(), "title": title or {"en": "Clean water", "ru": "Чистая вода"},
           "story": {"en": "Wells for villages."}, "category": category, "state": state, "goal": goal,
           "currency": currency, **extra}
    values = await campaigns.clean(services.db, space, raw)
    return await campaigns.create(services.db, admin, space, values)


def key_of(html: str) -> str:
    return re.search(r'name="key" value="([^"]+)"', html).group(1)


class Totals:
    """A page's live connection to a campaign's totals (`/ws?campaign=<id>`)."""

    def __init__(self, conn):
        self.conn = conn
        self.frames: list[dict] = []

    @classmethod
    async def follow(cls, base_url: str, campaign_id) -> Totals:
        url = base_url.replace("http://", "ws://") + f"/ws?campaign={campaign_id}"
        return cls(await websocket_connect(HTTPRequest(url, headers={"Origin": base_url})))

    async def next(self, timeout: float = 5.0) -> dict:
        import asyncio
        raw = await asyncio.wait_for(self.conn.read_message(), timeout)
        assert raw is not None, "closed"
        frame = json.loads(raw)
        self.frames.append(frame)
        return frame

    async def until(self, probe, timeout: float = 10.0) -> dict:
        import asyncio
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            frame = await self.next(max(0.01, deadline - asyncio.get_running_loop().time()))
            if probe(frame):
                return frame

    def close(self):
        self.conn.close()
