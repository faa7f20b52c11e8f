"""Calls made in one loop turn are carried out together, each caller gets its own answer."""
import asyncio

import pytest

from storage import batching
from tests.instances import redis_server  # noqa: F401 (fixture)


@pytest.mark.gen_test
async def test_one_turn_is_one_call_and_every_caller_gets_its_own_answer():
    runs = []

    async def run(items):
        runs.append(list(items))
        return [ValueError(item) if item == "bad" else item.upper() for item in items]

    batch = batching.TickBatch(run)
    results = await asyncio.gather(*(batch.submit(x) for x in ("a", "bad", "c")), return_exceptions=True)
    assert runs == [["a", "bad", "c"]]
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], ValueError)
    # The next turn is a call of its own.
    assert await batch.submit("d") == "D"
    assert runs[-1] == ["d"]


@pytest.mark.gen_test
async def test_the_shared_call_starts_after_every_question_it_answers():
    events = []

    async def run(items):
        events.append(("run", tuple(items)))
        return items

    batch = batching.TickBatch(run)

    async def ask(x):
        events.append(("ask", x))
        return await batch.submit(x)

    await asyncio.gather(ask(1), ask(2))
    assert events == [("ask", 1), ("ask", 2), ("run", (1, 2))]


@pytest.mark.gen_test
async def test_a_failed_call_reaches_every_caller_of_its_turn_and_the_limit_splits_turns():
    calls = []

    async def run(items):
        calls.append(len(items))
        raise ConnectionError("down")

    batch = batching.TickBatch(run, limit=2)
    results = await asyncio.gather(*(batch.submit(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert calls == [2, 2, 1]


@pytest.mark.gen_test
async def test_keyed_reads_ask_for_each_key_once():
    asked = []

    async def read_many(keys):
        asked.append(keys)
        return {k: k * 10 for k in keys if k != 3}

    batch = batching.keyed_reads(read_many)
    assert await asyncio.gather(*(batch.submit(k) for k in (1, 2, 1, 3))) == [10, 20, 10, None]
    assert asked == [[1, 2, 3]]


@pytest.mark.gen_test
async def test_redis_commands_of_one_turn_go_as_one_pipeline(redis_server):
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_server.url)
    try:
        batch = batching.redis_pipeline(client)
        await client.set("k1", "old")
        got = await asyncio.gather(
            batch.submit(lambda pipe: pipe.set("k1", "new", ex=60, get=True)),
            batch.submit(lambda pipe: pipe.get("k1")),
            batch.submit(lambda pipe: pipe.incr("k1")),  # not a number: this one fails alone
            batch.submit(lambda pipe: pipe.get("missing")),
            return_exceptions=True)
        assert got[0] == b"old" and got[1] == b"new" and got[3] is None
        assert isinstance(got[2], Exception)
    finally:
        await client.aclose()


@pytest.mark.gen_test
async def test_connect_reads_answer_each_socket_with_its_own_live_session_and_account(db, services):
    import datetime

    from accounts.tokens import hash_token
    from core.clock import utcnow
    from realtime.reads import ConnectReads

    now = utcnow()
    users = [{"login": f"r{i}", "email": f"r{i}@example.org"} for i in range(3)]
    await db.users.insert_many(users)
    await db.sessions.insert_many([
        {"token_hash": hash_token("live-0"), "user_id": users[0]["_id"], "expires_at": now + datetime.timedelta(hours=1)},
        {"token_hash": hash_token("live-1"), "user_id": users[1]["_id"], "expires_at": now + datetime.timedelta(hours=1)},
        {"token_hash": hash_token("gone"), "user_id": users[2]["_id"], "expires_at": now - datetime.timedelta(seconds=1)},
    ])
    reads = ConnectReads(db)
    got = await asyncio.gather(reads.session("live-1"), reads.session("gone"), reads.session("live-0"),
                               reads.session("x" * 200), reads.session(None), reads.session("unknown"))
    assert [s and s["user_id"] for s in got] == [users[1]["_id"], None, users[0]["_id"], None, None, None]
    found = await asyncio.gather(reads.user(users[2]["_id"]), reads.user(str(users[0]["_id"])), reads.user("bad id"))
    assert [u and u["login"] for u in found] == ["r2", "r0", None]


@pytest.mark.gen_test
async def test_roles_and_sanctions_read_together_equal_the_single_reads(db):
    import datetime

    from bson import ObjectId

    from access import roles as R
    from chat import moderation
    from core.clock import utcnow

    space, event, other_event = ObjectId(), ObjectId(), ObjectId()
    admin = {"_id": ObjectId(), "platform_admin": True}
    both = {"_id": ObjectId()}
    plain = {"_id": ObjectId()}
    nobody = {"_id": ObjectId()}
    await db.memberships.insert_many([
        {"user_id": both["_id"], "scope_id": space, "role": R.COMMENTATOR, "locales": ["ru"]},
        {"user_id": both["_id"], "scope_id": event, "role": R.COMMENTATOR, "locales": ["en"]},
        {"user_id": both["_id"], "scope_id": other_event, "role": R.MODERATOR},
        {"user_id": plain["_id"], "scope_id": event, "role": R.ATTENDEE},
        {"user_id": admin["_id"], "scope_id": other_event, "role": R.ATTENDEE},
    ])
    users = (admin, both, plain, nobody)
    keys = [(u["_id"], bool(u.get("platform_admin")), space, event) for u in users]
    many = await R.roles_in_many(db, keys)
    for user, key in zip(users, keys):
        assert many[key] == await R.roles_in(db, user, space, event)
    assert many[keys[1]][R.COMMENTATOR]["locales"] == ["en"]   # the event's, created last
    assert set(many[keys[0]]) == {R.PLATFORM_ADMIN} and many[keys[3]] == {}

    now = utcnow()
    await db.sanctions.insert_many([
        {"event_id": event, "user_id": plain["_id"], "kind": "mute", "until": now + datetime.timedelta(minutes=5)},
        {"event_id": event, "user_id": plain["_id"], "kind": "ban", "until": now - datetime.timedelta(minutes=1)},
        {"event_id": event, "user_id": both["_id"], "kind": "ban", "until": now + datetime.timedelta(minutes=5)},
        {"event_id": other_event, "user_id": nobody["_id"], "kind": "ban", "until": now + datetime.timedelta(minutes=5)},
    ])
    ids = [str(u["_id"]) for u in users]
    found = await moderation.active_many(db, str(event), ids)
    for uid in ids:
        assert found[uid] == await moderation.active(db, str(event), uid)
    assert set(found[str(plain["_id"])]) == {"mute"} and found[str(nobody["_id"])] == {}


@pytest.mark.gen_test
async def test_on_a_cluster_commands_a_failing_over_master_answered_with_errors_are_sent_again():
    from redis.exceptions import ClusterDownError, ConnectionError

    from storage import redis_client

    sent = []

    class Pipe:
        """A cluster pipeline whose first round finds one master failing over."""

        def __init__(self):
            self.staged = []

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return False

        def get(self, key):
            self.staged.append(key)

        async def execute(self, raise_on_error=True):
            sent.append(list(self.staged))
            if len(sent) == 1:
                return [ClusterDownError("CLUSTERDOWN") if k == "b" else (ConnectionError("gone") if k == "c"
                        else f"v-{k}") for k in self.staged]
            return [f"v-{k}" for k in self.staged]

    client = redis_client.FailoverCluster(host="127.0.0.1", port=1)   # never connects here
    client.pipeline = lambda transaction=False: Pipe()
    batch = batching.redis_pipeline(client)
    got = await asyncio.gather(*(batch.submit(lambda pipe, k=k: pipe.get(k)) for k in "abcd"))
    assert got == ["v-a", "v-b", "v-c", "v-d"]
    assert sent == [["a", "b", "c", "d"], ["b", "c"]]   # only the failed ones, once more
