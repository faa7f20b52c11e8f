"""permessage-deflate: negotiated without context takeover, big frames compressed once for all sockets."""
import asyncio
import functools
import json
import operator
import zlib

import pytest

from chat import room_names
from realtime.compression import ACCEPT, deflated_frame, negotiate, parse_offers
from realtime.tornado_internals import client_decompressor
from tests.live_client import LiveClient
from tests.test_hub_order import ROOM, make_hub, payload
from tests.test_realtime import person, seeded


def read_frames(data: bytes) -> list[tuple[bool, bytes]]:
    """(compressed, payload as the application sees it) of each unmasked frame in `data`."""
    out = []
    while data:
        first, n = data[0], data[1] & 0x7F
        head = 2
        if n == 126:
            n, head = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            n, head = int.from_bytes(data[2:10], "big"), 10
        body = data[head:head + n]
        compressed = bool(first & 0x40)
        if compressed:
            body = zlib.decompressobj(-15).decompress(body + b"\x00\x00\xff\xff")
        out.append((compressed, body))
        data = data[head + n:]
    return out


@pytest.mark.parametrize("offer, accepted, shared", [
    ("permessage-deflate; client_max_window_bits", ACCEPT, True),                      # Chrome, Firefox
    ("permessage-deflate", ACCEPT, True),
    ("permessage-deflate; server_no_context_takeover; client_no_context_takeover", ACCEPT, True),
    ("permessage-deflate; server_max_window_bits=10", ACCEPT + "; server_max_window_bits=10", False),
    ("permessage-deflate; server_max_window_bits=15", ACCEPT + "; server_max_window_bits=15", True),
    ("permessage-deflate; server_max_window_bits=99, permessage-deflate", ACCEPT, True),  # first valid offer
    ("permessage-deflate; x-unknown=1", None, False),
    ("permessage-deflate; client_max_window_bits=abc", None, False),
    ("x-webkit-deflate-frame", None, False),
    ("", None, False),
])
def test_an_offer_is_accepted_only_without_context_takeover(offer, accepted, shared):
    assert negotiate(offer) == (accepted, shared)


@pytest.mark.parametrize("size", [10, 300, 70000])
def test_a_deflated_frame_stands_alone(size):
    text = json.dumps({"type": "messages", "items": ["x" * (size // 2), "y" * (size // 2)]}).encode()
    frame = deflated_frame(text)
    assert frame[0] == 0xC1                      # FIN, RSV1, text
    [(compressed, body)] = read_frames(frame)
    assert compressed and body == text
    assert len(frame) < len(text) or size == 10


@pytest.mark.gen_test
async def test_a_busy_room_sends_one_compressed_copy_to_sockets_that_take_it():
    hub, conns = await make_hub(members=3, batch_window=0.2, combine_members=3)
    conns[0].deflate = True
    hub._on_message(ROOM, payload(1))
    for offset in range(2, 7):
        hub._on_message(ROOM, payload(offset))
    await asyncio.sleep(0.3)
    seen = [read_frames(b"".join(c.handler.ws_connection.stream.writes)) for c in conns]
    # The single message goes plain; the window's combined frame compressed, to the deflate socket only.
    assert [compressed for compressed, _ in seen[0]] == [False, True]
    assert [compressed for compressed, _ in seen[1]] == [False, False]
    assert seen[0][1][1] == seen[1][1][1] == seen[2][1][1]
    assert [i["offset"] for i in json.loads(seen[0][1][1])["items"]] == [2, 3, 4, 5, 6]
    # A socket that already had some of the window gets its own plain frame.
    hub._on_message(ROOM, payload(7))
    for offset in range(8, 11):
        hub._on_message(ROOM, payload(offset))
    conns[0].rooms[ROOM] = 8
    await asyncio.sleep(0.3)
    compressed, body = read_frames(b"".join(conns[0].handler.ws_connection.stream.writes))[-1]
    assert not compressed and [i["offset"] for i in json.loads(body)["items"]] == [9, 10]


@pytest.mark.gen_test
async def test_a_browser_like_client_negotiates_and_reads_compressed_frames(factory, browser, base_url, services):
    services.hub.combine_members = 2    # a small room, combined as a big one would be
    event = await seeded(factory)
    room = room_names.public_room(event["_id"], "ru")
    clients, users = [], []
    for compress in (True, False):
        user, b = await person(factory, browser, event, locale="ru")
        users.append(str(user["_id"]))
        client = await LiveClient.connect(base_url, b, event["_id"], compress=compress)
        await client.expect("welcome")
        await client.send({"type": "join", "room": room})   # compressed when negotiated
        await client.expect("joined", room=room)
        clients.append(client)
    packed, plain = clients
    packed_user = users[0]
    extensions = packed.conn.headers.get("Sec-WebSocket-Extensions")
    assert parse_offers(extensions) == parse_offers(ACCEPT) and "Sec-WebSocket-Extensions" not in plain.conn.headers
    assert services.hub.channels[room] and all(c.deflate == (c.user_id == packed_user) for c in services.hub.channels[room])
    inflated = []
    decompressor = client_decompressor(packed.conn)
    decompress = decompressor.decompress
    decompressor.decompress = lambda data: inflated.append(len(data)) or decompress(data)
    for i in range(6):
        await plain.send({"type": "send", "room": room, "text": f"сжатие {i}", "client_id": f"z{i}"})
    for client in clients:
        got = [(await client.expect("message", room=room))["text"] for _ in range(6)]
        assert got == [f"сжатие {i}" for i in range(6)]
    assert getattr(packed, "combined", 0) >= 1 and inflated   # a combined frame arrived compressed
    assert getattr(plain, "combined", 0) >= 1


@pytest.mark.gen_test
async def test_a_client_that_keeps_its_compression_context_is_closed_with_a_reason(factory, browser, base_url):
    # Tornado's client ignores client_no_context_takeover: its second
    # identical message is a back-reference into the first.
    event = await seeded(factory)
    _, b = await person(factory, browser, event, locale="ru")
    client = await LiveClient.connect(base_url, b, event["_id"], compress=True)
    await client.expect("welcome")
    frame = {"type": "ping", "ref": "same words, same words, same words"}
    await client.send(frame)
    await client.expect("pong")
    await client.send(frame)
    assert await client.next() is None
    assert client.conn.close_code == 1007 and "compress" in client.conn.close_reason


def test_a_resume_comes_as_compressed_runs_shared_between_resumes(monkeypatch):
    from realtime import room_cache
    from realtime.frames import text_frame
    compressions = []
    real = room_cache.deflated_frame
    monkeypatch.setattr(room_cache, "deflated_frame", lambda data: compressions.append(data) or real(data))
    cache = room_cache.RoomCache("e1", size=200)
    cache.merge([(o, text_frame(payload(o))) for o in range(1, 101)])
    for offset, runs in [(5, 4), (20, 1), (5, 0), (64, 0), (70, 1), (99, 1), (0, 1)]:
        before = len(compressions)
        frames = read_frames(cache.deflated_after(ROOM, offset))
        assert all(compressed for compressed, _ in frames)
        items = [[item["offset"] for item in json.loads(body)["items"]] for _, body in frames]
        assert functools.reduce(operator.iadd, items, []) == list(range(offset + 1, 101))
        # Cut at multiples of 32: a run never spans two segments.
        assert all(len({(o - 1) // room_cache.SEGMENT for o in run}) == 1 for run in items)
        assert all(json.loads(body)["room"] == ROOM for _, body in frames)
        # Only the runs no earlier resume needed are compressed now.
        assert len(compressions) - before == runs, offset


@pytest.mark.gen_test
async def test_a_compressed_socket_resumes_with_compressed_runs(factory, browser, base_url, monkeypatch):
    from realtime import room_cache
    monkeypatch.setattr(room_cache, "SEGMENT", 8)   # runs cut within a sender's burst allowance
    event = await seeded(factory)
    room = room_names.public_room(event["_id"], "ru")
    _, ab = await person(factory, browser, event, locale="ru")
    _, bb = await person(factory, browser, event, locale="ru")
    clients = []
    for b, compress in ((ab, True), (bb, False)):
        client = await LiveClient.connect(base_url, b, event["_id"], compress=compress)
        await client.expect("welcome")
        await client.send({"type": "join", "room": room})
        clients.append((client, await client.expect("joined", room=room)))
    (a, joined), (b, _) = clients
    await b.send({"type": "send", "room": room, "text": "m0", "client_id": "c0"})
    await a.expect("message", offset=1)
    a.close()
    for i in range(1, 16):
        await b.send({"type": "send", "room": room, "text": f"m{i}", "client_id": f"c{i}"})
        await b.expect("ack", offset=i + 1)
    a2 = await LiveClient.connect(base_url, ab, event["_id"], compress=True)
    await a2.expect("welcome")
    inflated = []
    decompressor = client_decompressor(a2.conn)
    decompress = decompressor.decompress
    decompressor.decompress = lambda data: inflated.append(len(data)) or decompress(data)
    await a2.send({"type": "join", "room": room, "epoch": joined["epoch"], "offset": 1})
    resumed = await a2.expect("joined", room=room)
    assert resumed["recovered"] is True and resumed["missed"] == 15
    missed = [await a2.expect("message", room=room) for _ in range(15)]
    assert [m["offset"] for m in missed] == list(range(2, 17))
    assert [m["text"] for m in missed] == [f"m{i}" for i in range(1, 16)]
    assert len(inflated) == 2     # offsets 2-8 and 9-16, each compressed
    assert not [f for f in await a2.quiet() if f.get("type") == "message"]
