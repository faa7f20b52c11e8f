"""Two server processes behind real nginx on a real Redis Cluster, then a master killed.

The cross-process tests written for one Redis server run again here on the
cluster (slides, chat and deletion, a process killed mid-burst with resume,
takeover and presence).  Then the master serving the live event's slot is
killed with SIGKILL while attendees chat and watch slides: its replica takes
over, every client keeps receiving (a resync where something was missed,
then the stream), no acknowledged message is lost or delivered twice, and
the one-device rule and slow mode still hold.  How long until every client
receives again is reported in the run's summary.
"""
import asyncio
import json

import pytest
from tornado.httpclient import HTTPClientError
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from chat import room_names
from tests.cluster import Cluster, signed_in
from tests.support import Browser
from tests.test_nginx import (  # noqa: F401 (collected again here, on the cluster)
    connect,
    join,
    open_event,
    test_killed_process_mid_burst_loses_and_duplicates_nothing,
    test_live_state_chat_and_deletion_cross_processes,
    test_takeover_and_presence_cross_processes,
)

CLOSED = (ConnectionError, OSError, HTTPClientError, WebSocketClosedError, StreamClosedError, AssertionError)
RECOVERY_BOUND = 30.0  # seconds: generous; the figure itself goes to the summary


@pytest.fixture(scope="module")
def cluster(redis_cluster):
    """Two server processes behind nginx, on the session's Redis Cluster."""
    c = Cluster(redis_url=redis_cluster.url)
    yield c
    c.stop()


class Watcher:
    """A client as static/js/live.js behaves: in a chat room and watching slides; on `resync`
    (or a lost socket) it reconnects and resumes the room from its epoch and offset.  Its first
    connection lands on the process `want` names, or on any other than `avoid`."""

    def __init__(self, cluster, browser, event_id, room, want=None, avoid=None):
        self.cluster, self.browser, self.event_id, self.room = cluster, browser, event_id, room
        self.want, self.avoid = want, avoid
        self.first_node = None
        self.seen: list[tuple[int, str, float]] = []   # (offset, text, when)
        self.states: list[tuple[int, float]] = []      # (slide number, when)
        self.resyncs: list[float] = []
        self.epoch = None
        self.offset = None
        self.done = False

    async def run(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while not self.done and loop.time() < deadline:
            try:
                if self.first_node is None:
                    client, welcome = await connect(self.cluster, self.browser, self.event_id,
                                                    want_node=self.want, avoid_node=self.avoid)
                else:
                    client, welcome = await connect(self.cluster, self.browser, self.event_id)
                joined = await join(client, self.room, self.epoch, self.offset if self.epoch else None)
            except CLOSED:
                await asyncio.sleep(0.2)
                continue
            self.first_node = self.first_node or welcome["node"]
            assert joined["recovered"] in (None, True), joined
            self.epoch = joined["epoch"]
            if self.offset is None:
                self.offset = joined["offset"]
            self._state(client.frames)
            try:
                while not self.done and loop.time() < deadline:
                    try:
                        frame = await client.next(0.5)
                    except TimeoutError:
                        continue
                    if frame is None:
                        break
                    kind = frame.get("type")
                    if kind == "message" and frame["kind"] == "text":
                        self.seen.append((frame["offset"], frame["text"], loop.time()))
                        self.offset = max(self.offset, frame["offset"])
                    elif kind == "state":
                        self._state([frame])
                    elif kind == "resync":
                        self.resyncs.append(loop.time())
                        break
            except CLOSED:
                pass
            client.close()

    def _state(self, frames) -> None:
        loop = asyncio.get_running_loop()
        for frame in frames:
            if frame.get("type") == "state" and "slides" in frame["state"]:
                self.states.append((frame["state"]["slides"]["number"], loop.time()))


class Talker:
    """An attendee sending numbered messages at a steady pace, each with its own client_id; what
    is not acknowledged is sent again (on a new connection if need be) until it is."""

    def __init__(self, cluster, browser, event_id, room):
        self.cluster, self.browser, self.event_id, self.room = cluster, browser, event_id, room
        self.sent_at: dict[str, float] = {}
        self.acked: dict[str, int] = {}
        self.errors: list[dict] = []
        self.resent: list[str] = []
        self.client = None
        self.reader: asyncio.Future | None = None

    async def open(self) -> None:
        while True:
            try:
                self.client, _ = await connect(self.cluster, self.browser, self.event_id)
                await join(self.client, self.room)
                break
            except CLOSED:
                await asyncio.sleep(0.2)
        self.reader = asyncio.ensure_future(self._read(self.client))

    async def _read(self, client) -> None:
        try:
            while True:
                frame = await client.next(3600)
                if frame is None:
                    return
                if frame.get("type") == "ack" and frame.get("client_id"):
                    self.acked[frame["client_id"]] = frame["offset"]
                elif frame.get("type") == "error":
                    self.errors.append(frame)
        except CLOSED:
            return

    async def send(self, text: str) -> None:
        loop = asyncio.get_running_loop()
        self.sent_at.setdefault(text, loop.time())
        try:
            await self.client.send({"type": "send", "room": self.room, "text": text, "client_id": text})
        except CLOSED:
            pass  # sent again by settle()

    async def settle(self, texts, deadline: float) -> None:
        """Until every text is acknowledged: wait, then resend the rest on a fresh connection."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            wait_until = loop.time() + 12
            while loop.time() < min(wait_until, deadline) and any(t not in self.acked for t in texts):
                await asyncio.sleep(0.1)
            missing = [t for t in texts if t not in self.acked]
            if not missing:
                return
            self.resent.extend(missing)
            self.client.close()
            await self.open()
            for text in missing:
                await self.send(text)
                await asyncio.sleep(0.25)
        raise AssertionError(f"never acknowledged: {[t for t in texts if t not in self.acked]}")


@pytest.mark.gen_test(timeout=240)
async def test_a_killed_master_fails_over_and_every_client_keeps_receiving(cluster, redis_cluster,
                                                                         report_figure):
    admin, event_id = await open_event(cluster)
    room = room_names.public_room(event_id, "ru")
    talker = Talker(cluster, await signed_in(cluster, "attendee-ru"), event_id, room)
    await talker.open()
    probe, welcome = await connect(cluster, await signed_in(cluster, "admin"), event_id)
    probe.close()
    here = welcome["node"]
    # On both processes: staff in the Russian room (they get the talker's messages), and
    # attendees of other languages in their own rooms (they get the slides).
    chat = [Watcher(cluster, await signed_in(cluster, "commentator-ru"), event_id, room, want=here),
            Watcher(cluster, await signed_in(cluster, "moderator"), event_id, room, avoid=here)]
    viewers = [Watcher(cluster, await signed_in(cluster, f"attendee-{loc}"), event_id,
                       room_names.public_room(event_id, loc), **where)
               for loc, where in (("de", {"want": here}), ("kk", {"avoid": here}))]
    watchers = chat + viewers
    loop = asyncio.get_running_loop()
    runs = [asyncio.ensure_future(w.run(loop.time() + 150)) for w in watchers]
    ready_by = loop.time() + 30
    while loop.time() < ready_by and not all(w.epoch for w in watchers):
        await asyncio.sleep(0.1)
    assert all(w.epoch for w in watchers), "a watcher never joined"
    assert len({w.first_node for w in watchers}) == 2

    texts = [f"failover-{i:03d}" for i in range(40)]
    for text in texts[:10]:
        await talker.send(text)
        await asyncio.sleep(0.25)
    slide_before = viewers[0].states[-1][0]

    # The master serving the event's slot (its channels, device records, slow mode
    # stamps, presence) dies without a word; its replica has to take over.
    victim = redis_cluster.master_of(room_names.state_channel(event_id))
    killed_at = loop.time()
    victim.kill()
    try:
        flip = asyncio.ensure_future(admin.post(f"/admin/events/{event_id}/control/slide_next"))
        for text in texts[10:]:
            await talker.send(text)
            await asyncio.sleep(0.25)
        assert (await flip).status_code == 302
        await talker.settle(texts, loop.time() + 90)
        # Every chat watcher ends with every acknowledged message, once each.
        while loop.time() < killed_at + 120 and not all({t for _, t, _ in w.seen} >= set(texts) for w in chat):
            await asyncio.sleep(0.1)
        for w in watchers:
            w.done = True
        await asyncio.gather(*runs)

        assert len(set(talker.acked.values())) == len(texts), "a message was stored twice"
        # Sends made while the slot had no master waited for the replica: none was refused.
        assert not talker.errors and not talker.resent, (talker.errors, talker.resent)
        for w in chat:
            got = sorted(t for _, t, _ in w.seen if t in texts)
            assert got == texts, f"lost: {sorted(set(texts) - set(got))}; {len(got)} received"
            offsets = [o for o, _, _ in w.seen]
            assert len(offsets) == len(set(offsets)), "a message was delivered twice"
        for w in watchers:
            assert w.resyncs, "the killed master did not touch this client: the scenario did not happen"
            assert w.states[-1][0] == slide_before + 1, w.states[-3:]

        # How long until every client received again: per client, the first arrival of a
        # message sent after the kill (the slide flip, for those not in the chat room).
        late = {t for t, at in talker.sent_at.items() if at > killed_at}
        chat_back = [min(when for _, t, when in w.seen if t in late) - killed_at for w in chat]
        slide_back = [min(when for n, when in w.states if n == slide_before + 1) - killed_at for w in watchers]
        report_figure(f"Redis Cluster failover (a master killed, cluster-node-timeout {victim.node_timeout_ms} "
                      f"ms): every client received again within {max(chat_back + slide_back):.1f} s "
                      f"(chat {max(chat_back):.1f} s, the slide flip {max(slide_back):.1f} s; "
                      f"resync sent {max(min(w.resyncs) for w in watchers) - killed_at:.1f} s after the kill)")
        assert max(chat_back + slide_back) < RECOVERY_BOUND
        # With the replica promoted every slot is served again: both processes say so,
        # though the dead node is still down.
        for port in cluster.ports:
            health = json.loads((await Browser(f"http://127.0.0.1:{port}").get("/healthz")).text)
            assert health["redis"] == {"status": "ok"}, health

        await _one_device_and_slow_mode_hold(cluster, event_id, room)
    finally:
        for run in runs:
            run.cancel()
        talker.client.close()
        redis_cluster.restart(victim)


async def _one_device_and_slow_mode_hold(cluster, event_id, room) -> None:
    """On the promoted replica: a second device takes over the first across processes,
    and slow mode refuses a second message from either process."""
    devices = [await signed_in(cluster, "attendee-lt"), await signed_in(cluster, "attendee-lt")]
    old, old_w = await connect(cluster, devices[0], event_id)
    for attempt in range(20):
        new, new_w = await connect(cluster, devices[(attempt + 1) % 2], event_id)
        assert (await old.expect("takeover", timeout=10))["reason"] == "another_device"
        if new_w["node"] != old_w["node"]:
            break
        old, old_w = new, new_w
    else:
        raise AssertionError("the two devices never landed on different processes")
    new.close()

    commentator, _ = await connect(cluster, await signed_in(cluster, "commentator-ru"), event_id)
    await join(commentator, room)
    await commentator.send({"type": "slow_mode", "room": room, "seconds": 60, "ref": "slow"})
    await commentator.expect("ack", ref="slow")
    attendee = await signed_in(cluster, "attendee-ru")
    tabs = [await connect(cluster, attendee, event_id)]
    # A second tab of the same browser (one device), on the other process.
    tabs.append(await connect(cluster, attendee, event_id, avoid_node=tabs[0][1]["node"]))
    for tab, _ in tabs:
        await join(tab, room)
    await tabs[0][0].send({"type": "send", "room": room, "text": "slow one", "client_id": "slow-1", "ref": 1})
    await tabs[0][0].expect("ack", ref=1)
    await tabs[1][0].send({"type": "send", "room": room, "text": "slow two", "client_id": "slow-2", "ref": 2})
    refused = await tabs[1][0].expect("error", ref=2)
    assert refused["code"] == "slow_mode" and refused["retry_after"] > 50
    await commentator.send({"type": "slow_mode", "room": room, "seconds": 0, "ref": "off"})
    await commentator.expect("ack", ref="off")
    for c in (commentator, *(t for t, _ in tabs)):
        c.close()
