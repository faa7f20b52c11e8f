"""SIGTERM to one of two server processes behind nginx: its sockets get 1001, and
every client reconnects through nginx, resumes by offset and sees each message once."""
import asyncio
import os
import re
import signal

import pytest
from tornado.httpclient import HTTPClientError
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from chat import room_names
from realtime import protocol
from tests.cluster import PASSWORD, Cluster, cluster, signed_in  # noqa: F401 (the fixture)
from tests.live_client import LiveClient

CLIENTS = 30
SEND_EVERY = 0.5        # seconds between one client's messages (the rate limit allows 5 a second)
GONE = (ConnectionError, OSError, HTTPClientError, WebSocketClosedError, StreamClosedError,
        asyncio.TimeoutError)


class Shared:
    """What every chatter posted (client id -> offset) and until when they post."""

    def __init__(self, chatters_until: float):
        self.acked: dict[str, int] = {}
        self.stop_sending_at = chatters_until
        self.chatters: list[Chatter] = []

    def pending(self) -> int:
        return sum(len(c.unacked) for c in self.chatters)


class Chatter:
    """A tab that chats, and on a close reconnects, resumes by epoch/offset and resends what was not acked."""

    def __init__(self, n, cluster, browser, event_id, room, shared):
        self.n, self.cluster, self.browser, self.event_id, self.room = n, cluster, browser, event_id, room
        self.shared = shared
        self.client = None
        self.nodes: list[str] = []
        self.closes: list = []
        self.resumes: list[dict] = []
        self.seen: dict[int, str] = {}
        self.duplicates: list[int] = []
        self.unacked: dict[str, str] = {}
        self.epoch = None
        self.offset = 0
        self.sent = 0

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            try:
                client = await LiveClient.connect(self.cluster.url, self.browser, self.event_id)
                welcome = await client.expect("welcome")
                await client.expect("state")
                msg = {"type": "join", "room": self.room}
                if self.epoch is not None:
                    msg.update(epoch=self.epoch, offset=self.offset)
                await client.send(msg)
                joined = await client.expect("joined", room=self.room)
                break
            except (AssertionError, *GONE):
                # 503 from a process that is draining, or nginx finding it gone: try again.
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.1)
        self.client = client
        self.nodes.append(welcome["node"])
        if self.epoch is None:
            self.epoch, self.offset = joined["epoch"], joined["offset"]
        else:
            self.resumes.append(joined)
        for client_id, text in self.unacked.items():
            await self.send(client_id, text)

    async def send(self, client_id: str, text: str) -> None:
        self.unacked[client_id] = text
        await self.client.send({"type": "send", "room": self.room, "text": text, "client_id": client_id,
                                "ref": client_id})

    def finished(self, now: float) -> bool:
        return (now > self.shared.stop_sending_at and not self.shared.pending()
                and set(self.shared.acked.values()) <= set(self.seen))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_send = loop.time() + SEND_EVERY * self.n / CLIENTS
        while True:
            now = loop.time()
            if self.finished(now):
                self.client.close()
                return
            if now >= next_send and now < self.shared.stop_sending_at:
                self.sent += 1
                try:
                    await self.send(f"t{self.n}-{self.sent}", f"from {self.n}: {self.sent}")
                except GONE:
                    pass    # the close frame is on its way; the message stays unacked and is resent
                next_send += SEND_EVERY
            try:
                frame = await self.client.next(max(0.05, min(next_send - loop.time(), 0.25)))
            except TimeoutError:
                continue
            if frame is None:
                self.closes.append(self.client.conn.close_code)
                await self.connect()
                continue
            kind = frame.get("type")
            if kind == "message" and frame.get("kind") == "text":
                if frame["offset"] in self.seen:
                    self.duplicates.append(frame["offset"])
                self.seen[frame["offset"]] = frame["text"]
                self.offset = max(self.offset, frame["offset"])
            elif kind == "ack":
                self.unacked.pop(frame["client_id"], None)
                self.shared.acked[frame["client_id"]] = frame["offset"]
            elif kind == "error" and frame.get("code") == "rate_limited" and frame.get("ref") in self.unacked:
                await asyncio.sleep(0.2)
                await self.send(frame["ref"], self.unacked[frame["ref"]])


@pytest.mark.gen_test(timeout=240)
async def test_sigterm_closes_sockets_with_1001_and_clients_resume_elsewhere_without_gaps(cluster):
    admin = await signed_in(cluster, "admin")
    page = (await admin.get("/e/demo/launch-2026")).text
    event_id = re.search(r'data-event-id="([0-9a-f]{24})"', page).group(1)
    assert (await admin.post(f"/admin/events/{event_id}/control/gate_open")).status_code == 302
    room = room_names.public_room(event_id, "ru")
    # Tabs of three browsers: an attendee's tabs share its session (one device), staff are exempt.
    browsers = [await signed_in(cluster, login) for login in ("attendee-ru", "commentator-ru", "moderator")]
    loop = asyncio.get_running_loop()
    shared = Shared(loop.time() + 3600)
    chatters = shared.chatters
    for n in range(CLIENTS):
        chatters.append(Chatter(n, cluster, browsers[n % 3], event_id, room, shared))
        await chatters[-1].connect()
    victim = chatters[0].nodes[0]
    on_victim = [c for c in chatters if c.nodes[0] == victim]
    assert 3 <= len(on_victim) <= CLIENTS - 3, "nginx did not spread the clients over both processes"

    tasks = [asyncio.ensure_future(c.run()) for c in chatters]
    await asyncio.sleep(2.0)
    before = len(shared.acked)
    os.kill(int(victim.rsplit(":", 1)[1]), signal.SIGTERM)
    shared.stop_sending_at = loop.time() + 4.0
    await asyncio.wait_for(asyncio.gather(*tasks), 120)

    assert before > 0 and len(shared.acked) > before, "chat went on before and after the SIGTERM"
    offsets = sorted(shared.acked.values())
    assert len(offsets) == len(set(offsets)), "a message was posted twice"
    for c in chatters:
        if c in on_victim:
            assert c.closes == [protocol.CLOSE_GOING_AWAY], (c.n, c.closes)
            assert c.nodes[-1] != victim
            assert [r["recovered"] for r in c.resumes] == [True]
        else:
            assert c.closes == [] and len(c.nodes) == 1, (c.n, c.closes, c.nodes)
        assert not c.duplicates, (c.n, c.duplicates)
        assert sorted(c.seen) == offsets, (c.n, set(offsets) - set(c.seen))
