"""A WebSocket test client speaking the live protocol, signed in through the real pages."""
from __future__ import annotations

import asyncio
import json

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from accounts import sessions


class LiveClient:
    def __init__(self, conn):
        self.conn = conn
        self.frames: list[dict] = []
        self.closed = False
        self._unpacked: list[dict] = []   # the rest of a `messages` frame, one `message` each

    @classmethod
    async def connect(cls, base_url: str, browser, event_id, origin: str | None = None, path: str = "/ws",
                      compress: bool = False):
        """`compress`: offer permessage-deflate, as browsers do."""
        ws_url = base_url.replace("http://", "ws://") + f"{path}?event={event_id}"
        cookie = "; ".join(f"{k}={v}" for k, v in browser.client.cookies.items())
        request = HTTPRequest(ws_url, headers={"Cookie": cookie, "Origin": origin or base_url})
        return cls(await websocket_connect(request, compression_options={} if compress else None))

    async def send(self, message) -> None:
        await self.conn.write_message(message if isinstance(message, (str, bytes)) else json.dumps(message),
                                      binary=isinstance(message, bytes))

    async def next(self, timeout: float = 5.0) -> dict | None:
        """The next frame; a combined `messages` frame comes out as its `message` frames."""
        if self._unpacked:
            frame = self._unpacked.pop(0)
        else:
            raw = await asyncio.wait_for(self.conn.read_message(), timeout)
            if raw is None:
                self.closed = True
                return None
            frame = json.loads(raw)
            if frame.get("type") == "messages":
                self.combined = getattr(self, "combined", 0) + 1
                frame, self._unpacked = frame["items"][0], frame["items"][1:]
        self.frames.append(frame)
        return frame

    async def expect(self, type_: str, timeout: float = 5.0, **fields) -> dict:
        """The next frame of this type (and these field values), skipping others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no {type_} {fields} frame; got {self.frames[-5:]}")
            frame = await self.next(left)
            if frame is None:
                raise AssertionError(f"closed while waiting for {type_}; close={self.conn.close_code}")
            if frame.get("type") == type_ and all(frame.get(k) == v for k, v in fields.items()):
                return frame

    async def quiet(self, seconds: float = 0.3) -> list[dict]:
        """Frames that arrive within `seconds` (to assert that nothing else came)."""
        got = []
        try:
            while True:
                frame = await self.next(seconds)
                if frame is None:
                    break
                got.append(frame)
        except TimeoutError:
            pass
        return got

    def close(self):
        self.conn.close()


def session_cookie_name() -> str:
    return sessions.COOKIE
