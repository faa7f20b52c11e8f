"""Reactions on one server: the `react` frame is checked, limited per person, counted and passed on."""
import json

import pytest

from access import roles as R
from events import control
from reactions import totals
from tests.test_realtime import live, person, seeded


async def reactions_of(client, seconds=1.2) -> list[dict]:
    return [f for f in await client.quiet(seconds) if f["type"] == "reactions"]


@pytest.mark.gen_test(timeout=30)
async def test_a_bad_react_frame_gets_a_clear_error_and_counts_nothing(factory, browser, base_url, db):
    event = await seeded(factory)
    _, ab = await person(factory, browser, event)
    _, bb = await person(factory, browser, event)
    sender, _, _ = await live(base_url, ab, event)
    viewer, _, _ = await live(base_url, bb, event)
    cases = [
        ({"type": "react", "emoji": "poop", "ref": "unknown"}, "invalid"),
        ({"type": "react", "emoji": "\N{CLAPPING HANDS SIGN}", "ref": "the-emoji-itself"}, "invalid"),
        ({"type": "react", "emoji": "clap" * 1000, "ref": "long"}, "invalid"),
        ({"type": "react", "emoji": 5, "ref": "number"}, "invalid"),
        ({"type": "react", "emoji": ["clap"], "ref": "list"}, "invalid"),
        ({"type": "react", "ref": "missing"}, "invalid"),
        ({"type": "react", "emoji": "clap", "pad": "x" * 20000, "ref": "oversize"}, "too_large"),
    ]
    for frame, code in cases:
        await sender.send(json.dumps(frame))
        err = await sender.expect("error")
        # A frame too large to read is refused unread: it has no `ref` to echo.
        assert err["code"] == code and err.get("ref") == (frame["ref"] if code == "invalid" else None), \
            (frame["ref"], err)
        if code == "invalid":
            assert "clap" in err["message"] and "thumbs_up" in err["message"]
    assert await reactions_of(viewer) == []
    assert await db.reaction_totals.count_documents({}) == 0
    # Nothing was spent on the refusals: the person may react at once.
    await sender.send({"type": "react", "emoji": "clap"})
    got = await viewer.expect("reactions")
    assert got["counts"] == {"clap": 1} and "totals" not in got


@pytest.mark.gen_test(timeout=30)
async def test_one_reaction_per_person_per_second_on_every_connection(factory, browser, base_url, db):
    event = await seeded(factory)
    user, ab = await person(factory, browser, event)
    second_device = browser()
    await second_device.sign_in(user["login"], factory.PASSWORD)
    _, vb = await person(factory, browser, event)
    a, _, _ = await live(base_url, ab, event)
    viewer, _, _ = await live(base_url, vb, event)
    await a.send({"type": "react", "emoji": "clap", "ref": 1})
    await a.send({"type": "react", "emoji": "heart", "ref": 2})
    err = await a.expect("error")
    assert err["code"] == "rate_limited" and err["ref"] == 2 and err["retry_after"] == 1
    # The same person on another device (which takes the broadcast over) is the same person.
    a2, _, _ = await live(base_url, second_device, event)
    await a2.send({"type": "react", "emoji": "party", "ref": 3})
    err = await a2.expect("error")
    assert err["code"] == "rate_limited" and err["ref"] == 3
    frames = await reactions_of(viewer)
    assert [f["counts"] for f in frames] == [{"clap": 1}]
    assert await totals.totals(db, event["_id"]) == {**totals.empty(), "clap": 1}
    # A second later the person may react again.
    await a2.send({"type": "react", "emoji": "party", "ref": 4})
    got = await viewer.expect("reactions")
    assert got["counts"] == {"party": 1}


@pytest.mark.gen_test(timeout=30)
async def test_a_burst_reaches_each_viewer_as_one_frame_per_window_and_staff_get_totals(
        factory, browser, base_url, db, services):
    event = await seeded(factory)
    senders = []
    for _ in range(12):
        _, b = await person(factory, browser, event)
        senders.append((await live(base_url, b, event))[0])
    _, vb = await person(factory, browser, event)
    viewer, _, _ = await live(base_url, vb, event)
    _, sb = await person(factory, browser, event, role=R.EVENT_ADMIN)
    staff, _, _ = await live(base_url, sb, event)
    names = ["clap", "clap", "heart", "laugh", "clap", "wow", "party", "thumbs_up", "clap", "heart", "clap", "wow"]
    for client, name in zip(senders, names):
        await client.send({"type": "react", "emoji": name})
    frames = await reactions_of(viewer)
    staff_frames = await reactions_of(staff, 0.2)
    # The first reaction at once, the rest at the window's end (a third if sending took over a window).
    assert 1 <= len(frames) <= 3, frames
    summed: dict[str, int] = {}
    for f in frames:
        for name, n in f["counts"].items():
            summed[name] = summed.get(name, 0) + n
    expected = {n: names.count(n) for n in set(names)}
    assert summed == expected
    assert staff_frames[-1]["totals"] == {**totals.empty(), **expected}
    assert await totals.totals(db, event["_id"]) == {**totals.empty(), **expected}
    assert services.live.reactions.published == len(frames)


@pytest.mark.gen_test(timeout=30)
async def test_staff_switch_reactions_off_and_on(factory, browser, base_url, db, services):
    event = await seeded(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    _, ab = await person(factory, browser, event)
    a, _, state = await live(base_url, ab, event)
    assert state["state"]["reactions"] == {"on": True}
    await control.apply(services.db, services.notifier, event["_id"], admin, "reactions_off")
    state = await a.expect("state")
    assert state["state"]["reactions"] == {"on": False}
    await a.send({"type": "react", "emoji": "clap", "ref": "off"})
    err = await a.expect("error")
    assert err["code"] == "forbidden" and err["ref"] == "off"
    assert await db.reaction_totals.count_documents({}) == 0
    assert await db.audit.count_documents({"action": "reactions_off"}) == 1


@pytest.mark.gen_test(timeout=30)
async def test_the_control_page_shows_the_running_totals(factory, browser, base_url, db):
    event = await seeded(factory)
    await totals.add(db, event["_id"], {"clap": 41, "wow": 2})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    page = await b.get(f"/admin/events/{event['_id']}/control")
    body = page.text
    assert 'data-reaction-total="clap">41<' in body and 'data-reaction-total="wow">2<' in body
    assert 'data-reaction-total="heart">0<' in body
