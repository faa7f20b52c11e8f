"""Reactions across two server processes with a real Redis: fifty people react within a second,
half on each process, and a viewer on either gets a handful of `reactions` frames with the right sums."""
import asyncio
import math

import pytest

from access import roles as R
from reactions import totals
from realtime.reaction_frames import WINDOW
from tests.instances import other, redis_server, settings  # noqa: F401 (fixtures)
from tests.live_client import LiveClient
from tests.test_realtime import person, seeded

SENDERS = 50


async def connect(factory, browser, event, url, role=R.ATTENDEE):
    _, b = await person(factory, browser, event, role=role)
    client = await LiveClient.connect(url, b, event["_id"], origin=url)
    await client.expect("state")
    return client


@pytest.mark.gen_test(timeout=90)
async def test_fifty_reactions_in_a_second_reach_viewers_as_a_handful_of_frames(
        factory, browser, base_url, other, services, db):
    event = await seeded(factory)
    urls = [base_url, other.url]
    senders = [await connect(factory, browser, event, urls[i % 2]) for i in range(SENDERS)]
    viewers = [await connect(factory, browser, event, url) for url in urls]
    staff = await connect(factory, browser, event, other.url, role=R.EVENT_ADMIN)
    names = [totals.NAMES[i % len(totals.NAMES)] for i in range(SENDERS)]
    expected = {n: names.count(n) for n in totals.NAMES}
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i, (client, name) in enumerate(zip(senders, names)):
        await client.send({"type": "react", "emoji": name, "ref": i})
        await asyncio.sleep(0.018)    # spread over about a second, as a room applauds
    spread = loop.time() - started
    assert spread < 1.5
    # At most one frame per window per viewer: notices arrive over the sending time plus the
    # senders' last window, and each window after the first frame lets one more through.
    limit = 2 + math.ceil(spread / WINDOW)
    got = []
    for viewer in viewers + [staff]:
        frames = [f for f in await viewer.quiet(1.5) if f["type"] == "reactions"]
        summed = {n: sum(f["counts"].get(n, 0) for f in frames) for n in totals.NAMES}
        assert summed == expected, frames
        assert 1 <= len(frames) <= limit, [f["counts"] for f in frames]
        got.append(len(frames))
        if viewer is staff:
            assert frames[-1]["totals"] == expected
        else:
            assert all("totals" not in f for f in frames)
    for client in senders:
        assert not [f for f in client.frames if f["type"] == "error"], client.frames[-3:]
    assert await totals.totals(db, event["_id"]) == expected
    # Each process published its own senders' windows, a few each, never one per reaction.
    published = [services.live.reactions.published, other.services.live.reactions.published]
    assert all(1 <= n <= limit for n in published), published
    print(f"\n{SENDERS} reactions over {spread:.2f} s: {got} frames to the viewers on A, on B and to staff on B, "
          f"{published} notices published by processes A and B")
