"""livehall_history_reads_total counts chat stream reads from storage, the figure the reconnect storm reports.

A room's recent entries are read once per process when the first member
joins; resumes are answered from that cache while it reaches back far
enough, and read from storage (counted as `resume`) only when it does not.
"""
import pytest

from chat import room_names
from tests.test_realtime import live, person, seeded


def reads(services, reason):
    return services.registry.get_sample_value("livehall_history_reads_total", {"reason": reason}) or 0.0


@pytest.mark.gen_test
async def test_history_reads_are_counted_per_room_not_per_client(factory, browser, base_url, services):
    services.hub.recent_per_room = 2   # a tiny cache, so that an old resume has to read storage
    event = await seeded(factory)
    room = room_names.public_room(event["_id"], "ru")
    _, ab = await person(factory, browser, event, locale="ru")
    _, bb = await person(factory, browser, event, locale="ru")
    a, _, _ = await live(base_url, ab, event)
    b, _, _ = await live(base_url, bb, event)
    await a.send({"type": "join", "room": room})
    joined = await a.expect("joined", room=room)
    await b.send({"type": "join", "room": room})
    await b.expect("joined", room=room)
    assert reads(services, "load") == 1 and reads(services, "resume") == 0

    for i in range(5):
        await b.send({"type": "send", "room": room, "text": f"m{i}", "client_id": f"c{i}"})
        await b.expect("ack", offset=i + 1)
    # Resuming within the cache (offset 4 of 5) reads nothing.
    a.close()
    a2, _, _ = await live(base_url, ab, event)
    await a2.send({"type": "join", "room": room, "epoch": joined["epoch"], "offset": 4})
    assert (await a2.expect("joined", room=room))["recovered"] is True
    assert (await a2.expect("message"))["offset"] == 5
    assert reads(services, "load") == 1 and reads(services, "resume") == 0

    # Further back than the cache holds: one read, counted as a resume.
    a2.close()
    a3, _, _ = await live(base_url, ab, event)
    await a3.send({"type": "join", "room": room, "epoch": joined["epoch"], "offset": 1})
    assert (await a3.expect("joined", room=room))["missed"] == 4
    assert [(await a3.expect("message"))["offset"] for _ in range(4)] == [2, 3, 4, 5]
    assert reads(services, "load") == 1 and reads(services, "resume") == 1
