"""The hub delivers a room's messages in offset order, once, and batches bursts.

Offsets come from storage before publishing, so the broker may hand a
process offset 6 before offset 5; a client must still get 5 then 6.
"""
import asyncio
import json

import pytest

from realtime.broker import InProcessBroker
from realtime.connection import Connection
from realtime.hub import Hub

ROOM = "chat:{ev}:ru"


class EmptyBuffer:
    """What the connection reads of a stream's unsent bytes (realtime.tornado_internals.unsent_bytes)."""
    _size = 0


class FakeStream:
    """What the connection reads of a Tornado stream (realtime.tornado_internals.stream_closed too)."""

    def __init__(self):
        self._write_buffer = EmptyBuffer()   # everything written is taken at once
        self._closed = False
        self.writes = []

    def write(self, data):
        self.writes.append(bytes(data))


class FakeWs:
    """The flags `WebSocketProtocol.is_closing()` reads, as the connection reads them."""

    def __init__(self):
        self.stream = FakeStream()
        self.client_terminated = self.server_terminated = False


class FakeHandler:
    def __init__(self):
        self.ws_connection = FakeWs()

    def close(self, code, reason):
        pass


def payload(offset):
    return json.dumps({"type": "message", "room": ROOM, "epoch": "e1", "offset": offset,
                       "text": f"m{offset}"}).encode()


def frames_seen(conn):
    """The JSON frames a fake socket received, in order."""
    data = b"".join(conn.handler.ws_connection.stream.writes)
    out = []
    while data:
        n = data[1] & 0x7F
        head = 2
        if n == 126:
            n, head = int.from_bytes(data[2:4], "big"), 4
        out.append(json.loads(data[head:head + n]))
        data = data[head + n:]
    return out


def offsets_seen(conn):
    return [frame["offset"] for frame in frames_seen(conn)]


async def make_hub(members=3, **kw):
    hub = Hub(InProcessBroker(), **kw)
    conns = []
    for i in range(members):
        conn = Connection(FakeHandler(), f"u{i}", "ev", "ru", max_buffer=1 << 20)
        hub.add(conn)
        await hub.join(conn, ROOM)
        conns.append(conn)
    return hub, conns


@pytest.mark.gen_test
async def test_out_of_order_offsets_reach_every_socket_in_order_once():
    hub, conns = await make_hub(batch_window=0.05, gap_wait=0.5)
    for offset in (1, 3, 2, 2, 5, 4, 6):
        hub._on_message(ROOM, payload(offset))
    await asyncio.sleep(0.15)
    for conn in conns:
        assert offsets_seen(conn) == [1, 2, 3, 4, 5, 6]


@pytest.mark.gen_test
async def test_a_gap_that_never_fills_is_skipped_after_the_wait():
    hub, conns = await make_hub(batch_window=0.01, gap_wait=0.2)
    hub._on_message(ROOM, payload(1))
    hub._on_message(ROOM, payload(3))   # offset 2 was burnt by a lost retry
    await asyncio.sleep(0.05)
    assert offsets_seen(conns[0]) == [1]
    await asyncio.sleep(0.3)
    assert offsets_seen(conns[0]) == [1, 3]
    hub._on_message(ROOM, payload(4))
    await asyncio.sleep(0.05)
    assert offsets_seen(conns[0]) == [1, 3, 4]


@pytest.mark.gen_test
async def test_a_burst_costs_one_write_per_socket_per_window():
    hub, conns = await make_hub(batch_window=0.2)
    hub._on_message(ROOM, payload(1))            # a quiet room is written at once
    assert len(conns[0].handler.ws_connection.stream.writes) == 1
    for offset in range(2, 52):
        hub._on_message(ROOM, payload(offset))
    assert len(conns[0].handler.ws_connection.stream.writes) == 1   # held for the window
    await asyncio.sleep(0.3)
    for conn in conns:
        assert len(conn.handler.ws_connection.stream.writes) == 2
        assert offsets_seen(conn) == list(range(1, 52))
    assert hub.delivered == 3 * 51


@pytest.mark.gen_test
async def test_a_notice_is_written_after_the_pending_messages():
    hub, conns = await make_hub(batch_window=0.5)
    hub._on_message(ROOM, payload(1))
    hub._on_message(ROOM, payload(2))            # pending in the window
    hub._on_message(ROOM, json.dumps({"type": "room_settings", "room": ROOM}).encode())
    writes = conns[0].handler.ws_connection.stream.writes
    assert len(writes) == 3
    assert b'"offset":2' in writes[1].replace(b" ", b"") and b"room_settings" in writes[2]


@pytest.mark.gen_test
async def test_an_offset_later_than_the_gap_wait_still_reaches_the_members_it_skipped():
    hub, conns = await make_hub(members=2, batch_window=0.01, gap_wait=0.1)
    hub._on_message(ROOM, payload(1))
    hub._on_message(ROOM, payload(3))            # 2 is slow in storage, not lost
    await asyncio.sleep(0.2)                     # the gap is skipped: 3 goes out
    late_joiner = Connection(FakeHandler(), "late", "ev", "ru", max_buffer=1 << 20)
    hub.add(late_joiner)
    await hub.join(late_joiner, ROOM)
    late_joiner.rooms[ROOM] = 3                  # joined after the skip, at offset 3
    hub._on_message(ROOM, payload(2))            # ...and here it is
    hub._on_message(ROOM, payload(2))            # a duplicate publish is not written again
    for conn in conns:
        assert offsets_seen(conn) == [1, 3, 2]
    assert offsets_seen(late_joiner) == []


def test_the_recent_cache_takes_a_late_offset_at_its_place():
    from realtime.room_cache import RoomCache
    cache = RoomCache("e1", size=4)
    for offset in (1, 3, 4, 5):
        cache.add(offset, b"%d" % offset)
    cache.add(2, b"2")          # older than the cache's reach (it holds 1..5 minus 2, size 4): kept in order
    cache.add(4, b"x")          # already there: unchanged
    assert [o for o, _ in cache.frames] == [2, 3, 4, 5]
    assert dict(cache.frames)[4] == b"4"
    assert [o for o, _ in cache.since(2)] == [3, 4, 5]


def test_the_recent_cache_answers_a_resume_with_one_slice_that_follows_changes():
    from realtime.frames import text_frame
    from realtime.room_cache import RoomCache

    cache = RoomCache("e1", size=5)
    for offset in (1, 2, 3, 5):
        cache.add(offset, text_frame(payload(offset)))
    first, last, count, items = cache.after(1)
    assert (first, last, count) == (2, 5, 3)
    assert [m["offset"] for m in json.loads(b"[" + items + b"]")] == [2, 3, 5]
    assert cache.after(5) == (0, 0, 0, b"")
    cache.add(4, text_frame(payload(4)))            # late: the joined payloads are rebuilt
    cache.add(6, text_frame(payload(6)))            # the oldest (1) falls out of a full cache
    first, last, count, items = cache.after(2)
    assert (first, last, count) == (3, 6, 4)
    assert [m["offset"] for m in json.loads(b"[" + items + b"]")] == [3, 4, 5, 6]
    assert cache.reaches(1) and not cache.reaches(0)


def unpacked_offsets(conn):
    """(type, offsets) of each frame a fake socket received, `messages` frames unpacked."""
    return [(f["type"], [i["offset"] for i in f["items"]] if f["type"] == "messages" else [f["offset"]])
            for f in frames_seen(conn)]


@pytest.mark.gen_test
async def test_a_busy_big_room_gets_one_messages_frame_per_window():
    hub, conns = await make_hub(members=3, batch_window=0.2, combine_members=3)
    hub._on_message(ROOM, payload(1))
    for offset in range(2, 7):
        hub._on_message(ROOM, payload(offset))
    await asyncio.sleep(0.3)
    assert unpacked_offsets(conns[0]) == [("message", [1]), ("messages", [2, 3, 4, 5, 6])]
    hub._on_message(ROOM, payload(7))            # the room was quiet for a window: at once
    for offset in range(8, 11):
        hub._on_message(ROOM, payload(offset))
    conns[1].rooms[ROOM] = 8                     # already had 8 (say, from a resume)
    conns[2].rooms[ROOM] = 9
    await asyncio.sleep(0.3)
    assert unpacked_offsets(conns[0])[-2:] == [("message", [7]), ("messages", [8, 9, 10])]
    assert unpacked_offsets(conns[1])[-1] == ("messages", [9, 10])
    assert unpacked_offsets(conns[2])[-1] == ("message", [10])
    small, _ = await make_hub(members=2, batch_window=0.2, combine_members=3)
    for offset in range(1, 4):
        small._on_message(ROOM, payload(offset))
    await asyncio.sleep(0.3)
    assert [kind for kind, _ in unpacked_offsets(_[0])] == ["message"] * 3


@pytest.mark.gen_test
async def test_removing_a_connection_leaves_exactly_its_channels():
    hub, conns = await make_hub(members=2)
    other = "ev:{ev}:dev:u0"
    await hub.join(conns[0], other)
    await hub.remove(conns[0])
    assert conns[0] not in hub.channels[ROOM] and other not in hub.channels
    assert conns[0].joined == {} and conns[1] in hub.channels[ROOM]
    await hub.remove(conns[1])
    assert hub.channels == {} and hub.streams == {}


@pytest.mark.gen_test
async def test_a_broker_reconnect_resyncs_the_members_of_the_lost_channels_once_without_what_is_held():
    hub, conns = await make_hub(members=2, batch_window=0.01, gap_wait=5)
    other_room = "chat:{other}:ru"
    elsewhere = Connection(FakeHandler(), "u9", "other", "ru", max_buffer=1 << 20)
    hub.add(elsewhere)
    await hub.join(elsewhere, other_room)
    await hub.join(conns[0], "state:{ev}")  # a member of two lost channels hears it once
    hub._on_message(ROOM, payload(1))
    hub._on_message(ROOM, payload(3))            # 2 was published while the broker was away
    await asyncio.sleep(0.05)
    await hub._on_reconnect([ROOM, "state:{ev}"])
    for conn in conns:
        # 3 is not written: a client given it would resume from past the hole.
        assert [(f["type"], f.get("offset")) for f in frames_seen(conn)] == [("message", 1), ("resync", None)]
    assert frames_seen(elsewhere) == []
    # Losing a channel that concerns the whole process resyncs every connection.
    hub.whole_process.add("accounts")
    await hub._on_reconnect(["accounts"])
    assert frames_seen(elsewhere) == [{"type": "resync", "reason": "broker_reconnected"}]
