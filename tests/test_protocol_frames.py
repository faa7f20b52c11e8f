"""Frame handling as docs/protocol.md states it: sizes in bytes, UTF-8, room names, refs, times."""
import json
import re

import pytest
from tornado.httpclient import HTTPClientError

from chat import room_names
from realtime import protocol
from realtime.tornado_internals import write_raw_text_frame
from tests.test_realtime import live, person, seeded, two_in_room

WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def frame_of_bytes(size: int, char: str = "я") -> str:
    """A `ping` frame of exactly `size` bytes of UTF-8, padded with a multi-byte character."""
    head = json.dumps({"type": "ping", "ref": "big", "pad": ""}, ensure_ascii=False)
    room = size - len(head.encode())
    width = len(char.encode())
    frame = head[:-2] + char * (room // width) + "a" * (room % width) + head[-2:]
    assert len(frame.encode()) == size
    return frame


def test_the_frame_limit_counts_bytes_of_utf8_not_characters():
    at_limit = frame_of_bytes(protocol.MAX_FRAME_BYTES)
    assert len(at_limit) < protocol.MAX_FRAME_BYTES // 2 + 100   # far fewer characters than bytes
    assert protocol.parse(at_limit)["type"] == "ping"
    for char in ("я", "€", "😀"):
        with pytest.raises(protocol.FrameError) as refused:
            protocol.parse(frame_of_bytes(protocol.MAX_FRAME_BYTES + 1, char))
        assert refused.value.code == protocol.TOO_LARGE


@pytest.mark.gen_test
async def test_a_frame_over_the_limit_in_bytes_but_not_in_characters_is_too_large(factory, browser, base_url):
    event = await seeded(factory)
    _, b = await person(factory, browser, event, locale="ru")
    client, _, _ = await live(base_url, b, event)
    await client.send(frame_of_bytes(protocol.MAX_FRAME_BYTES + 1))
    err = await client.expect("error")
    assert err["code"] == "too_large"
    await client.send(frame_of_bytes(protocol.MAX_FRAME_BYTES))
    await client.expect("pong", ref="big")
    # A chat message within 2000 characters always fits when sent as UTF-8.
    room = room_names.public_room(event["_id"], "ru")
    await client.send({"type": "join", "room": room})
    await client.expect("joined", room=room)
    await client.send(json.dumps({"type": "send", "room": room, "text": "😀" * protocol.MAX_TEXT,
                                  "client_id": "wide", "ref": "wide"}, ensure_ascii=False))
    assert (await client.expect("ack", ref="wide"))["duplicate"] is False


@pytest.mark.gen_test
async def test_a_text_frame_that_is_not_utf8_closes_with_1007(factory, browser, base_url):
    event = await seeded(factory)
    _, ab = await person(factory, browser, event, locale="ru")
    _, bb = await person(factory, browser, event, locale="ru")
    a, _, _ = await live(base_url, ab, event)
    b, _, _ = await live(base_url, bb, event)
    # Tornado's client encodes every str it sends; its frame writer takes raw bytes.
    write_raw_text_frame(a.conn, b'{"type": "ping", "ref": "\xff\xfe"}')
    assert await a.next(5) is None and a.conn.close_code == 1007
    await b.send({"type": "ping", "ref": "fine"})
    await b.expect("pong", ref="fine")


@pytest.mark.gen_test
async def test_a_room_of_a_language_the_event_does_not_have_is_unknown(factory, browser, base_url):
    event = await seeded(factory, locales=("ru", "en", "de"))
    user, b = await person(factory, browser, event, locale="ru")
    client, _, _ = await live(base_url, b, event)
    other_event = await seeded(factory)
    for n, room in enumerate([room_names.public_room(event["_id"], "fr"),
                              room_names.support_room(event["_id"], "fr", user["_id"])]):
        for kind in ("join", "send", "history"):
            await client.send({"type": kind, "room": room, "text": "x", "client_id": "x", "ref": n})
            assert (await client.expect("error", ref=n))["code"] == "unknown_room", (kind, room)
    # A room of this event in another of its languages, or of another event, is someone else's.
    for room in (room_names.public_room(event["_id"], "de"), room_names.public_room(other_event["_id"], "ru")):
        await client.send({"type": "join", "room": room, "ref": "theirs"})
        assert (await client.expect("error", ref="theirs"))["code"] == "forbidden", room


@pytest.mark.gen_test
async def test_bad_frame_errors_echo_a_valid_ref(factory, browser, base_url):
    event = await seeded(factory)
    _, b = await person(factory, browser, event, locale="ru")
    client, _, _ = await live(base_url, b, event)
    cases = [({"type": 5, "ref": "r-1"}, "r-1"), ({"ref": 7}, 7), ({"type": None, "ref": "x" * 64}, "x" * 64),
             ({"type": 5, "ref": True}, None), ({"type": 5, "ref": "x" * 65}, None),
             ({"type": 5, "ref": {"a": 1}}, None), ([{"ref": 1}], None)]
    for frame, ref in cases:
        await client.send(json.dumps(frame))
        err = await client.expect("error")
        assert err["code"] == "bad_frame", frame
        assert err.get("ref") == ref, (frame, err)
    # A frame that is fine but for its `ref` is refused, and the bad ref is not echoed.
    for bad in (True, 1.5, "x" * 65):
        await client.send({"type": "ping", "ref": bad})
        err = await client.expect("error")
        assert err["code"] == "invalid" and "ref" not in err, (bad, err)


@pytest.mark.gen_test
async def test_a_message_has_the_same_at_live_in_a_resume_and_in_history(factory, browser, base_url):
    event, room, (_, a), (bb, b), joined = await two_in_room(factory, browser, base_url)
    sent = []
    for i in range(5):
        await a.send({"type": "send", "room": room, "text": f"m{i}", "client_id": f"c{i}"})
        sent.append(await b.expect("message", room=room, text=f"m{i}"))
    await a.send({"type": "history", "room": room, "ref": "h"})
    history = (await a.expect("history", ref="h"))["messages"]
    c, _, _ = await live(base_url, bb, event)
    await c.send({"type": "join", "room": room, "epoch": joined["epoch"], "offset": joined["offset"]})
    assert (await c.expect("joined", room=room))["recovered"] is True
    resumed = [await c.expect("message", room=room) for _ in sent]
    for name, got in (("history", history), ("resume", resumed)):
        assert [m["at"] for m in got] == [m["at"] for m in sent], name
    assert all(WIRE_TIME.match(m["at"]) for m in sent), [m["at"] for m in sent]


@pytest.mark.gen_test
async def test_a_draining_process_closes_sockets_with_1001_and_refuses_new_ones(factory, browser, base_url,
                                                                               services):
    event = await seeded(factory)
    _, b = await person(factory, browser, event, locale="ru")
    client, _, _ = await live(base_url, b, event)
    assert await services.hub.drain(protocol.CLOSE_GOING_AWAY, "server shutting down", 5) == 1
    assert await client.next(5) is None and client.conn.close_code == 1001
    assert services.hub.connections() == 0
    with pytest.raises(HTTPClientError) as refused:
        await live(base_url, b, event)
    assert refused.value.code == 503
