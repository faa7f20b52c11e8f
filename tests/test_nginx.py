"""Two server processes behind real nginx with real Redis: everything live crosses
processes, and a process killed in the middle of a chat burst loses nothing."""
import asyncio
import gzip
import os
import re
import signal

import pytest
from tornado.httpclient import HTTPClientError
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from chat import room_names
from core import security_headers
from tests.cluster import PASSWORD, ROOT, Cluster, cluster, signed_in  # noqa: F401 (the fixture)
from tests.live_client import LiveClient
from tests.support import Browser


async def open_event(cluster):
    admin = await signed_in(cluster, "admin")
    page = (await admin.get("/e/demo/launch-2026")).text
    event_id = re.search(r'data-event-id="([0-9a-f]{24})"', page).group(1)
    r = await admin.post(f"/admin/events/{event_id}/control/gate_open")
    assert r.status_code == 302
    return admin, event_id


async def connect(cluster, browser, event_id, avoid_node=None, want_node=None):
    """Connect through nginx until the client lands on the wanted process."""
    for _ in range(20):
        client = await LiveClient.connect(cluster.url, browser, event_id)
        welcome = await client.expect("welcome")
        await client.expect("state")
        if (avoid_node and welcome["node"] == avoid_node) or (want_node and welcome["node"] != want_node):
            client.close()
            continue
        return client, welcome
    raise AssertionError("nginx never routed to the wanted process")


async def join(client, room, epoch=None, offset=None):
    msg = {"type": "join", "room": room}
    if epoch is not None:
        msg.update(epoch=epoch, offset=offset)
    await client.send(msg)
    return await client.expect("joined", room=room)


@pytest.mark.gen_test(timeout=120)
async def test_live_state_chat_and_deletion_cross_processes(cluster):
    admin, event_id = await open_event(cluster)
    ru_b, de_b, com_b, mod_b = [await signed_in(cluster, login) for login in
                                ("attendee-ru", "attendee-de", "commentator-ru", "moderator")]
    ru, ru_w = await connect(cluster, ru_b, event_id)
    com, com_w = await connect(cluster, com_b, event_id, avoid_node=ru_w["node"])
    de, de_w = await connect(cluster, de_b, event_id, avoid_node=ru_w["node"])
    mod, mod_w = await connect(cluster, mod_b, event_id, want_node=ru_w["node"])
    assert ru_w["node"] != com_w["node"] and de_w["node"] != ru_w["node"]

    # A slide flip made on whichever process nginx picks reaches both processes, per locale.
    r = await admin.post(f"/admin/events/{event_id}/control/slide_goto", {"number": "3"})
    assert r.status_code == 302
    for client, loc in ((ru, "ru"), (de, "de")):
        state = await client.expect("state", timeout=10)
        assert state["state"]["slides"]["number"] == 3 and state["state"]["slides"]["locale"] == loc

    room = room_names.public_room(event_id, "ru")
    for c in (ru, com, mod):
        await join(c, room)
    await ru.send({"type": "send", "room": room, "text": "cross-process hello", "client_id": "x-1"})
    got = await com.expect("message", room=room, timeout=10)
    assert got["text"] == "cross-process hello"
    await mod.expect("message", room=room)
    await mod.send({"type": "delete", "room": room, "offset": got["offset"]})
    gone = await com.expect("message", kind="delete", timeout=10)
    assert gone["target"] == got["offset"]
    for c in (ru, com, de, mod):
        c.close()


class Sender:
    """A chat client that resends unacknowledged messages after reconnecting."""

    def __init__(self, cluster, browser, event_id, room):
        self.cluster, self.browser, self.event_id, self.room = cluster, browser, event_id, room
        self.acked: dict[str, int] = {}
        self.client = None

    async def connect(self):
        for _ in range(100):
            try:
                self.client, welcome = await connect(self.cluster, self.browser, self.event_id)
                await join(self.client, self.room)
                return welcome
            except Exception:
                await asyncio.sleep(0.2)
        raise AssertionError("could not reconnect")

    async def send_one(self, text):
        await self.client.send({"type": "send", "room": self.room, "text": text, "client_id": text,
                                "ref": text})

    async def send_all(self, texts):
        """Send until every text is acknowledged, backing off when rate limited."""
        for text in texts:
            if text not in self.acked:
                await self.send_one(text)
        while len([t for t in texts if t in self.acked]) < len(texts):
            frame = await self.client.next(10)
            if frame is None:
                raise ConnectionError("closed")
            if frame.get("type") == "ack":
                self.acked[frame["client_id"]] = frame["offset"]
            elif frame.get("type") == "error" and frame.get("code") == "rate_limited":
                await asyncio.sleep(0.25)
                await self.send_one(frame["ref"])


class Receiver:
    """A chat client that resumes by epoch and offset after every disconnect."""

    def __init__(self, cluster, browser, event_id, room, first_node=None):
        self.cluster, self.browser, self.event_id, self.room = cluster, browser, event_id, room
        self.first_node = first_node
        self.seen: list[tuple[int, str]] = []
        self.epoch = None
        self.offset = 0
        self.reconnects = 0

    async def run(self, want: int, deadline: float):
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            try:
                node = self.first_node if not self.reconnects else None
                client, _ = await connect(self.cluster, self.browser, self.event_id, want_node=node)
            except (AssertionError, ConnectionError, OSError, HTTPClientError, WebSocketClosedError,
                    StreamClosedError):
                await asyncio.sleep(0.2)
                continue
            joined = await join(client, self.room, self.epoch, self.offset if self.epoch else None)
            assert joined["recovered"] in (None, True), joined
            self.epoch = joined["epoch"]
            if self.offset == 0:
                self.offset = joined["offset"]
            try:
                while loop.time() < deadline:
                    frame = await client.next(max(0.1, deadline - loop.time()))
                    if frame is None:
                        break
                    if frame.get("type") == "message" and frame["kind"] == "text":
                        self.seen.append((frame["offset"], frame["text"]))
                        self.offset = frame["offset"]
                        if len(self.seen) >= want:
                            client.close()
                            return
            except (TimeoutError, ConnectionError, WebSocketClosedError, StreamClosedError):
                pass  # the process went away: reconnect and resume
            self.reconnects += 1


@pytest.mark.gen_test(timeout=60)
async def test_metrics_not_public_and_security_headers_through_nginx(cluster):
    visitor = Browser(cluster.url)
    r = await visitor.get("/metrics")
    assert r.status_code == 403 and "livehall_" not in r.text
    # The scraper reads every process on its own port, from the machine itself.
    for port in cluster.ports:
        direct = await Browser(f"http://127.0.0.1:{port}").get("/metrics")
        assert direct.status_code == 200 and "livehall_http_requests_total" in direct.text
    # Static files come from nginx's disk, pages from the processes: the same headers.
    for path in ("/static/css/app.css", "/signin"):
        r = await visitor.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-security-policy"] == security_headers.content_security_policy(), path
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in r.headers      # plain HTTP here
        assert r.headers["server"] == "nginx", r.headers["server"]


@pytest.mark.gen_test(timeout=60)
async def test_responses_through_nginx_are_compressed(cluster):
    """nginx gzips the static files it serves; pages and JSON come gzipped from the processes."""
    import httpx
    async with httpx.AsyncClient(base_url=cluster.url) as client:
        for path, kind in (("/static/css/app.css", "text/css"), ("/static/js/chat.js", "javascript"),
                           ("/signin", "text/html")):
            async with client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as r:
                raw = b"".join([chunk async for chunk in r.aiter_raw()])
            assert r.status_code == 200 and kind in r.headers["content-type"], (path, r.headers)
            assert r.headers.get("content-encoding") == "gzip", (path, r.headers)
            assert "Accept-Encoding" in r.headers.get("vary", ""), (path, r.headers)
            body = gzip.decompress(raw)
            assert len(raw) < len(body), path
            if path.startswith("/static/"):
                with open(os.path.join(ROOT, path.lstrip("/")), "rb") as f:
                    assert body == f.read(), path
        # Too small to gain anything: sent as it is.
        r = await client.get("/static/favicon.svg", headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-type"] == "image/svg+xml" and "content-encoding" not in r.headers
        # A client that does not accept gzip gets the plain bytes.
        r = await client.get("/static/css/app.css", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in r.headers and r.content.startswith(b"/*")


@pytest.mark.gen_test(timeout=180)
async def test_killed_process_mid_burst_loses_and_duplicates_nothing(cluster):
    _, event_id = await open_event(cluster)
    room = room_names.public_room(event_id, "ru")
    sender = Sender(cluster, await signed_in(cluster, "attendee-ru"), event_id, room)
    victim = (await sender.connect())["node"]
    survivor_receiver = Receiver(cluster, await signed_in(cluster, "commentator-ru"), event_id, room)
    victim_receiver = Receiver(cluster, await signed_in(cluster, "moderator"), event_id, room,
                               first_node=victim)
    texts = [f"burst-{i:03d}" for i in range(60)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    receivers = [asyncio.ensure_future(r.run(len(texts), deadline))
                 for r in (survivor_receiver, victim_receiver)]
    await asyncio.sleep(1.0)

    await sender.send_all(texts[:20])
    # Fire the rest without waiting, and kill the sender's process mid-burst.
    for text in texts[20:40]:
        await sender.send_one(text)
    os.kill(int(victim.rsplit(":", 1)[1]), signal.SIGKILL)
    unacked_at_kill = len([t for t in texts[:40] if t not in sender.acked])
    try:
        await sender.send_all(texts[:40])
    except (TimeoutError, ConnectionError, WebSocketClosedError, StreamClosedError):
        pass  # expected: its process is gone
    await sender.connect()
    await sender.send_all(texts)
    await asyncio.gather(*receivers)

    for r in (survivor_receiver, victim_receiver):
        offsets = [o for o, _ in r.seen]
        assert len(offsets) == len(set(offsets)), "a message was delivered twice"
        assert sorted(t for _, t in r.seen) == texts, "a message was lost"
    assert len(set(sender.acked.values())) == len(texts)
    # The scenario really happened: the killed process had clients to lose.
    assert victim_receiver.reconnects >= 1
    assert unacked_at_kill > 0


@pytest.mark.gen_test(timeout=120)
async def test_takeover_and_presence_cross_processes(cluster):
    _, event_id = await open_event(cluster)
    # Presence: staff on one process count attendees connected to both.
    mod, mod_w = await connect(cluster, await signed_in(cluster, "moderator"), event_id)
    lv, lv_w = await connect(cluster, await signed_in(cluster, "attendee-lv"), event_id,
                             want_node=mod_w["node"])
    et, et_w = await connect(cluster, await signed_in(cluster, "attendee-et"), event_id,
                             avoid_node=mod_w["node"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    seen = None
    while loop.time() < deadline:
        frame = await mod.next(max(0.1, deadline - loop.time()))
        if frame and frame.get("type") == "presence":
            seen = frame
            if frame["locales"].get("lv", 0) >= 1 and frame["locales"].get("et", 0) >= 1:
                break
    assert seen and seen["locales"]["lv"] >= 1 and seen["locales"]["et"] >= 1, seen

    # Takeover: the same account on two devices (two sessions). The newest
    # connection wins; repeat until the loser sat on the other process.
    devices = [await signed_in(cluster, "attendee-lt"), await signed_in(cluster, "attendee-lt")]
    old, old_w = await connect(cluster, devices[0], event_id)
    for attempt in range(20):
        new, new_w = await connect(cluster, devices[(attempt + 1) % 2], event_id)
        notice = await old.expect("takeover", timeout=10)
        assert notice["reason"] == "another_device"
        assert await old.next(10) is None and old.conn.close_code == 4001
        if new_w["node"] != old_w["node"]:
            break
        old, old_w = new, new_w
    else:
        raise AssertionError("the two devices never landed on different processes")
    second = new
    await second.send({"type": "ping", "ref": "alive"})
    await second.expect("pong", ref="alive")
    for c in (mod, lv, et, second):
        c.close()
