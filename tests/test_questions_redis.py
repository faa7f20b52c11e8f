"""Questions across two server instances sharing one database and a real Redis."""
import asyncio

import pytest

from access import roles as R
from chat import room_names
from storage import redis_client
from tests.instances import other, redis_server, settings  # noqa: F401 (fixtures)
from tests.live_client import LiveClient
from tests.test_questions import ask, with_schedule
from tests.test_realtime import person


async def on(base_url, factory, browser, event, role=R.ATTENDEE, locale="ru"):
    _, b = await person(factory, browser, event, role=role, locale=locale)
    client = await LiveClient.connect(base_url, b, event["_id"], origin=base_url)
    await client.expect("state")
    return client


async def subscribed(redis, channel: str, processes: int) -> None:
    """Wait until `processes` instances listen on the channel (subscribing is asynchronous)."""
    # On a cluster, the master serving the channel is the one that knows.
    where = {"target_nodes": redis.get_node_from_key(channel)} if redis_client.is_cluster(redis) else {}
    for _ in range(100):
        _, count = await redis.execute_command("PUBSUB", "SHARDNUMSUB", channel, **where)
        if count >= processes:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{channel} has {count} subscribers, expected {processes}")


@pytest.mark.gen_test(timeout=30)
async def test_questions_cross_instances(factory, browser, base_url, other, services):
    event = await with_schedule(factory)
    asker_a = await on(base_url, factory, browser, event)
    moderator_a = await on(base_url, factory, browser, event, role=R.MODERATOR, locale="en")
    attendee_b = await on(other.url, factory, browser, event, locale="de")
    moderator_b = await on(other.url, factory, browser, event, role=R.MODERATOR, locale="de")
    await subscribed(services.redis, room_names.questions_room(event["_id"]), 2)
    await subscribed(services.redis, room_names.questions_mod_room(event["_id"]), 2)

    q = (await ask(asker_a, "Через Redis?"))["question"]
    # The pending question reaches the moderator on the other instance, not the attendee there.
    assert (await moderator_b.expect("question", id=q["id"]))["status"] == "pending"
    assert not [f for f in await attendee_b.quiet() if f.get("type") == "question"]

    # An approval made on instance A reaches a client on instance B.
    await moderator_a.send({"type": "moderate_question", "question": q["id"], "status": "approved",
                            "ref": "ok"})
    await moderator_a.expect("ack", ref="ok")
    got = await attendee_b.expect("question", id=q["id"])
    assert got["status"] == "approved" and got["text"] == "Через Redis?"

    # A vote on B is counted in the shared store and its count reaches A.
    await attendee_b.send({"type": "vote", "question": q["id"], "ref": "v"})
    assert (await attendee_b.expect("ack", ref="v"))["votes"] == 1
    counts = await asker_a.expect("question_votes")
    assert counts["votes"] == {q["id"]: 1}

    # Moderation on B reaches A.
    await moderator_b.send({"type": "moderate_question", "question": q["id"], "status": "answered",
                            "ref": "done"})
    await moderator_b.expect("ack", ref="done")
    assert (await asker_a.expect("question", id=q["id"]))["status"] == "answered"
