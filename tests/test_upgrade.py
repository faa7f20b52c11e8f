"""The `/ws` handshake answered below Tornado's RequestHandler: refusals, the 101, a client that leaves."""
import asyncio
import socket
from urllib.parse import urlparse

import pytest

from chat import room_names
from tests.test_realtime import person, seeded

KEY = "dGhlIHNhbXBsZSBub25jZQ=="          # RFC 6455 section 1.3's example
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="   # ... and its answer


def _request(base_url, target, cookie="", method="GET", **overrides) -> bytes:
    host = urlparse(base_url).netloc
    headers = {"Host": host, "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": KEY,
               "Sec-WebSocket-Version": "13", "Origin": base_url, "Cookie": cookie}
    headers.update({k.replace("_", "-"): v for k, v in overrides.items()})
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Raw:
    """One TCP connection to the server, written and read by hand."""

    def __init__(self, base_url):
        url = urlparse(base_url)
        self.sock = socket.create_connection((url.hostname, url.port))
        self.sock.setblocking(False)
        self.loop = asyncio.get_running_loop()
        self.buffer = b""

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def response(self) -> tuple[int, dict, bytes]:
        """The next response: status, headers (lower-case names), body (by Content-Length)."""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += await self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", 0))
        while len(self.buffer) < length:
            self.buffer += await self._recv()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    async def _recv(self) -> bytes:
        chunk = await asyncio.wait_for(self.loop.sock_recv(self.sock, 65536), 5)
        assert chunk, "the server closed the connection"
        return chunk

    def close(self):
        self.sock.close()


def _cookie(b) -> str:
    return "; ".join(f"{k}={v}" for k, v in b.client.cookies.items())


@pytest.mark.gen_test
@pytest.mark.parametrize("change, status, reason, header", [
    ({"Upgrade": None}, 400, 'Can "Upgrade" only to "WebSocket".', None),
    ({"Connection": "keep-alive"}, 400, '"Connection" must be "Upgrade".', None),
    ({"Sec_WebSocket_Key": None}, 400, "Missing/Invalid WebSocket headers", None),
    ({"Sec_WebSocket_Version": "8"}, 426, "Upgrade Required", ("sec-websocket-version", "13")),
    ({"method": "POST"}, 405, "Method Not Allowed", ("allow", "GET")),
    ({"Origin": "https://evil.example"}, 403, "Cross origin websockets not allowed", None),
])
async def test_a_malformed_upgrade_is_refused_with_its_reason(factory, browser, base_url, services,
                                                              change, status, reason, header):
    event = await seeded(factory)
    user, b = await person(factory, browser, event)
    raw = Raw(base_url)
    await raw.send(_request(base_url, f"/ws?event={event['_id']}", _cookie(b), **change))
    got, headers, body = await raw.response()
    assert (got, body.decode().strip()) == (status, reason)
    if header:
        assert headers[header[0]] == header[1]
    assert str(user["_id"]) not in services.hub.by_user
    raw.close()


@pytest.mark.gen_test
async def test_a_refused_upgrade_keeps_the_connection_for_the_next_request(factory, browser, base_url):
    event = await seeded(factory)
    _, b = await person(factory, browser, event)
    raw = Raw(base_url)
    await raw.send(_request(base_url, "/ws?event=000000000000000000000000", _cookie(b)))
    status, _, body = await raw.response()
    assert (status, body) == (404, b"unknown event\n")
    await raw.send(_request(base_url, "/ws?event=" + str(event["_id"]), ""))
    status, _, body = await raw.response()
    assert (status, body) == (401, b"sign in first\n")
    await raw.send(_request(base_url, "/ws?event=" + str(event["_id"]), _cookie(b)))
    status, headers, _ = await raw.response()
    assert status == 101 and headers["sec-websocket-accept"] == ACCEPT
    assert headers["upgrade"] == "websocket" and "sec-websocket-extensions" not in headers
    raw.close()


@pytest.mark.gen_test
async def test_a_client_that_leaves_during_the_handshake_leaves_nothing_behind(factory, browser, base_url,
                                                                               services):
    event = await seeded(factory)
    user, b = await person(factory, browser, event)
    raw = Raw(base_url)
    await raw.send(_request(base_url, f"/ws?event={event['_id']}", _cookie(b)))
    raw.close()        # before the session could be read
    await asyncio.sleep(0.3)
    assert str(user["_id"]) not in services.hub.by_user
    # ... and one that stays is connected, through the same code.
    raw = Raw(base_url)
    await raw.send(_request(base_url, f"/ws?event={event['_id']}", _cookie(b)))
    assert (await raw.response())[0] == 101
    for _ in range(50):
        if str(user["_id"]) in services.hub.by_user:
            break
        await asyncio.sleep(0.02)
    [conn] = services.hub.by_user[str(user["_id"])]
    assert not hasattr(conn.handler, "request") and not hasattr(conn.handler, "__dict__")
    raw.close()
    for _ in range(100):
        if str(user["_id"]) not in services.hub.by_user:
            break
        await asyncio.sleep(0.02)
    assert str(user["_id"]) not in services.hub.by_user


@pytest.mark.gen_test
async def test_a_connection_that_fails_to_open_is_undone(factory, browser, base_url, services, monkeypatch):
    from tests.live_client import LiveClient
    event = await seeded(factory)
    user, b = await person(factory, browser, event)
    reads = services.live.reads
    original, calls = reads.event, []

    async def failing_second_read(event_id):
        calls.append(event_id)
        if len(calls) == 2:     # the read `open` makes after the handshake's
            raise ConnectionError("the database is unreachable")
        return await original(event_id)

    monkeypatch.setattr(reads, "event", failing_second_read)
    client = await LiveClient.connect(base_url, b, event["_id"])
    frames = []
    while (frame := await client.next()) is not None:     # aborted ...
        frames.append(frame["type"])
    assert "state" not in frames                           # ... before its `state`
    assert len(calls) == 2
    assert str(user["_id"]) not in services.hub.by_user
    # Nothing of it is left in any channel (the accounts channel is the process's own).
    assert not any(members for channel, members in services.hub.channels.items() if channel != room_names.ACCOUNTS)
    monkeypatch.setattr(reads, "event", original)
    client = await LiveClient.connect(base_url, b, event["_id"])   # the next try works
    assert (await client.next())["type"] == "welcome"
    client.conn.close()


@pytest.mark.gen_test
async def test_an_open_socket_keeps_nothing_of_its_handshake(factory, browser, base_url, services, monkeypatch):
    import gc
    import weakref

    from realtime.endpoint import LiveEndpoint
    from tests.live_client import LiveClient
    event = await seeded(factory)
    _, b = await person(factory, browser, event)
    requests = []
    start_request = LiveEndpoint.start_request

    def recording(self, server_conn, request_conn):
        requests.append(weakref.ref(request_conn))
        return start_request(self, server_conn, request_conn)

    monkeypatch.setattr(LiveEndpoint, "start_request", recording)
    client = await LiveClient.connect(base_url, b, event["_id"])
    await client.expect("state")
    gc.collect()
    # The HTTP connection (and the request headers it holds) is gone while the socket stays open.
    assert len(requests) == 1 and requests[0]() is None
    await client.send({"type": "ping", "ref": 1})
    assert (await client.expect("pong"))["ref"] == 1
    client.conn.close()
