"""A client that stops reading is cut off at a bounded buffer, and the others go on."""
import asyncio
import base64
import os
import socket

import pytest

from chat import room_names
from realtime.tornado_internals import unsent_bytes
from tests.test_realtime import live, person, seeded


async def lazy_client(base_url: str, cookie: str, event_id):
    """Open a WebSocket by hand, read the handshake, then never read again.

    asyncio stops reading from a socket whose buffer passes twice its limit,
    and the receive buffer is tiny, so the server soon cannot write to it.
    """
    host, port = base_url.replace("http://", "").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /ws?event={event_id} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Origin: {base_url}\r\nCookie: {cookie}\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 101 " in head.split(b"\r\n")[0], head
    return writer


@pytest.mark.gen_test(timeout=60)
async def test_slow_reader_is_disconnected_and_memory_stays_bounded(factory, browser, base_url, services):
    services.live.max_buffer = 256 * 1024
    event = await seeded(factory)
    slow_user, slow_b = await person(factory, browser, event, locale="ru")
    _, fast_b = await person(factory, browser, event, locale="ru")
    cookie = "; ".join(f"{k}={v}" for k, v in slow_b.client.cookies.items())
    slow = await lazy_client(base_url, cookie, event["_id"])
    fast, _, _ = await live(base_url, fast_b, event)
    state = room_names.state_channel(event["_id"])
    for _ in range(100):  # both are members of the state channel once connected
        if len(services.hub.channels.get(state, ())) == 2:
            break
        await asyncio.sleep(0.05)
    members = services.hub.channels[state]
    slow_conn = next(c for c in members if c.user_id == str(slow_user["_id"]))
    fast_conn = next(c for c in members if c is not slow_conn)
    message = {"type": "state", "event": str(event["_id"]), "state_version": 10**6,
               "locales": {"ru": {"padding": "x" * 60000}}}
    peak = 0
    received = []

    async def drain():
        while True:
            frame = await fast.next(30)
            if frame is None:
                return
            received.append(frame)
            if frame.get("type") == "pong":
                return

    reader = asyncio.ensure_future(drain())
    for _ in range(200):  # 12 MB: far beyond the kernel's buffers and the 256 KiB bound
        await services.hub.publish(state, message)
        await asyncio.sleep(0.01)  # a pace a reader that reads can follow
        ws = slow_conn.handler.ws_connection
        if ws is not None and not ws.stream.closed():
            peak = max(peak, unsent_bytes(ws.stream))
    for _ in range(100):
        if slow_conn.closed:
            break
        await asyncio.sleep(0.05)
    assert slow_conn.closed, "the slow reader was never cut off"
    assert not fast_conn.closed
    # Never more than the bound plus the one frame that would have crossed it.
    assert peak <= services.live.max_buffer
    # The reader that reads got every frame and still works.
    await fast.send({"type": "ping", "ref": "ok"})
    await asyncio.wait_for(reader, 30)
    assert sum(1 for f in received if f.get("state_version") == 10**6) == 200
    assert received[-1] == {"type": "pong", "ref": "ok"}
    slow.close()
