"""A connect's 101 response, `welcome` and `state` leave the server as one segment."""
import asyncio
import base64
import os
import select
import socket
import sys
from urllib.parse import urlparse

import pytest
from tornado.iostream import IOStream

from realtime import corking
from tests.test_realtime import person, seeded

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_CORK is Linux's")


def _pair():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return server, client


def _arrived(sock, wait=0.05) -> bytes:
    ready, _, _ = select.select([sock], [], [], wait)
    return sock.recv(65536) if ready else b""


@linux_only
@pytest.mark.gen_test
async def test_held_writes_wait_for_the_release_even_when_nodelay_is_set():
    server, client = _pair()
    stream = IOStream(server)
    assert corking.hold(stream)
    await stream.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    stream.set_nodelay(True)   # what Tornado does after a response; must not flush
    server.send(b"welcome")
    assert _arrived(client) == b""
    corking.release(stream)
    assert _arrived(client, 1.0) == b"HTTP/1.1 101 Switching Protocols\r\n\r\nwelcome"
    # Released: writes go out at once, Nagle off.
    assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    server.send(b"next")
    assert _arrived(client, 1.0) == b"next"
    stream.close()
    client.close()


def test_a_socket_that_cannot_be_corked_is_left_as_it_is():
    a, b = socket.socketpair()   # AF_UNIX: no TCP options
    stream = IOStream(a)
    assert corking.hold(stream) is False
    corking.release(stream)      # harmless
    stream.close()
    b.close()


@linux_only
@pytest.mark.gen_test
async def test_a_connect_answers_in_one_read(factory, browser, base_url):
    event = await seeded(factory)
    _, b = await person(factory, browser, event, locale="ru")
    url = urlparse(base_url)
    cookie = "; ".join(f"{k}={v}" for k, v in b.client.cookies.items())
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /ws?event={event['_id']} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Origin: {base_url}\r\nCookie: {cookie}\r\n\r\n").encode()
    sock = socket.create_connection((url.hostname, url.port))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, request)
    first = await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), 5)
    sock.close()
    assert first.startswith(b"HTTP/1.1 101")
    assert b'"type":"welcome"' in first and b'"type":"state"' in first


@linux_only
@pytest.mark.gen_test
async def test_an_open_socket_is_uncorked_with_nagle_off(factory, browser, base_url, services):
    from tests.live_client import LiveClient
    event = await seeded(factory)
    user, b = await person(factory, browser, event, locale="ru")
    client = await LiveClient.connect(base_url, b, event["_id"])
    await client.expect("welcome")
    [conn] = services.hub.by_user[str(user["_id"])]
    stream = conn.handler.ws_connection.stream
    assert "set_nodelay" not in stream.__dict__      # Tornado's own method again
    sock = stream.socket
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert not sock.getsockopt(socket.IPPROTO_TCP, corking.CORK)
    client.conn.close()


def test_without_a_cork_the_release_still_turns_nagle_off(monkeypatch):
    monkeypatch.setattr(corking, "CORK", None)   # as on a system without TCP_CORK
    server, client = _pair()
    stream = IOStream(server)
    assert corking.hold(stream) is False
    assert not server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    corking.release(stream)
    assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    stream.close()
    client.close()
