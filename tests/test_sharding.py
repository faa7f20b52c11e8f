"""Shard keys: MongoDB's rules over the declarations, the router's rule over the writes, and `apply`.

A sharded cluster enforces a unique index only when it starts with the
shard key, and sends a single-document write to one shard only when its
filter names the key.  The first is checked here over the declarations
(`mongo_indexes.sharding`), the second on every write the suite makes
(`storage.targeting`, turned on in `tests/conftest.py`).
"""
import bson
import pytest
from pymongo.errors import OperationFailure

import server
import storage.embedded
from core import config
from mongo_indexes import INDEXES
from mongo_indexes.sharding import HASHED, SHARD_KEYS, UNSHARDED, apply, key_problems, unique_conflicts
from storage import targeting
from tests.test_my_data import collections_in_code


def test_every_collection_is_sharded_on_a_declared_key_or_named_as_staying_whole():
    used = collections_in_code() | set(INDEXES)
    assert {"messages", "audit", "memberships"} <= used  # the reading works
    decided = set(SHARD_KEYS) | set(UNSHARDED)
    assert used <= decided, f"add to mongo_indexes.sharding SHARD_KEYS or UNSHARDED: {sorted(used - decided)}"
    assert not set(SHARD_KEYS) & set(UNSHARDED)
    assert set(SHARD_KEYS) <= set(INDEXES), "a sharded collection declares its indexes"
    assert all(reason.strip() for reason in UNSHARDED.values())


def test_every_unique_index_of_a_sharded_collection_starts_with_its_shard_key():
    assert unique_conflicts(SHARD_KEYS, INDEXES) == []
    assert key_problems(SHARD_KEYS, INDEXES) == []


def test_the_rules_catch_what_mongodb_would_refuse():
    indexes = {"c": [([("a", 1), ("b", 1)], {"unique": True, "name": "a_b_unique"}),
                     ([("_id", 1), ("z", 1)], {"unique": True, "name": "id_first"}),
                     ([("b", 1)], {"name": "b"})]}
    assert unique_conflicts({"c": {"a": 1}}, indexes) == []
    assert unique_conflicts({"c": {"a": HASHED}}, indexes) == []
    assert unique_conflicts({"c": {"b": 1}}, indexes) == [
        "c.a_b_unique ['a', 'b'] does not start with the shard key ['b']"]
    assert len(unique_conflicts({"c": {"a": 1, "z": 1}}, indexes)) == 1
    assert key_problems({"c": {"b": 1}}, indexes) == []
    assert key_problems({"c": {"q": 1}}, indexes) == ["c: no declared index starts with the shard key ['q']"]
    assert key_problems({"c": {"q": HASHED}}, indexes) == []
    assert len(key_problems({"c": {"a": HASHED, "b": HASHED}}, indexes)) == 1
    assert len(key_problems({"c": {"a": -1}}, indexes)) == 1


def test_a_single_document_write_to_a_sharded_collection_must_name_its_shard():
    keys = {"messages": {"room": HASHED}}
    oid = bson.ObjectId()
    fine = [("find_one_and_update", {"room": "r", "offset": 3}, False),
            ("find_one_and_update", {"room": {"$eq": "r"}}, True),
            ("update_one", {"_id": oid, "user_id": 1}, False),
            ("delete_one", {"room": "r", "offset": 1}, False),
            ("update_one", {"room": "r", "x": 1}, True),
            ("update_many", {"user_id": 1}, False),
            ("insert_one", {}, False)]
    for op, filter, upsert in fine:
        targeting.check(keys, "messages", op, filter, upsert)
    targeting.check(keys, "memberships", "find_one_and_update", {"state": "waiting"})
    refused = [("find_one_and_update", {"_id": oid}, False),
               ("find_one_and_delete", {"room": {"$in": ["r"]}}, False),
               ("update_one", {"_id": oid}, True),
               ("update_one", {"user_id": 1}, False),
               ("replace_one", {"offset": 1}, False),
               ("delete_one", {"room": {"$gt": "a"}}, False)]
    for op, filter, upsert in refused:
        with pytest.raises(OperationFailure) as raised:
            targeting.check(keys, "messages", op, filter, upsert)
        assert raised.value.code == targeting.SHARD_KEY_NOT_FOUND, (op, filter)


@pytest.mark.gen_test
async def test_the_suites_embedded_store_refuses_what_a_router_would():
    assert storage.embedded.SHARD_KEYS is SHARD_KEYS
    db = storage.embedded.EmbeddedClient()["targeting"]
    await db.messages.insert_one({"room": "r", "offset": 1, "user_id": 1, "client_id": "a"})
    with pytest.raises(OperationFailure):
        await db.messages.find_one_and_update({"offset": 1}, {"$set": {"deleted": True}})
    with pytest.raises(OperationFailure):
        await db.audit.delete_one({"action": "x"})
    assert await db.messages.find_one_and_update({"room": "r", "offset": 1}, {"$set": {"deleted": True}})
    # Unsharded collections are written as before.
    await db.memberships.find_one_and_update({"state": "waiting"}, {"$set": {"state": "offered"}})


class _Admin:
    def __init__(self, calls):
        self.calls = calls

    async def command(self, name, *args, **kwargs):
        self.calls.append(("admin", name, args, kwargs))
        return {"ok": 1}


class _Collection:
    def __init__(self, calls, db, name, sharded):
        self.calls, self.db, self.name, self.sharded = calls, db, name, sharded

    async def create_index(self, keys, **options):
        self.calls.append(("index", f"{self.db}.{self.name}", keys, options))

    async def find_one(self, filter):
        key = self.sharded.get(filter["_id"])
        return {"_id": filter["_id"], "key": key} if key else None


class _Client:
    """What `apply` uses of a client connected to a mongos, recording each call."""

    def __init__(self, sharded=None):
        self.calls = []
        self.sharded = sharded or {}
        self.admin = _Admin(self.calls)

    def __getitem__(self, db):
        outer = self

        class _Db:
            def __getitem__(self, name):
                return _Collection(outer.calls, db, name, outer.sharded)
        return _Db()


@pytest.mark.gen_test
async def test_apply_creates_each_hashed_index_then_shards_and_leaves_sharded_ones_alone():
    client = _Client(sharded={"livehall.audit": {"event_id": HASHED}})
    done = await apply(client, "livehall")
    assert client.calls[0] == ("admin", "enableSharding", ("livehall",), {})
    sharded = [c for c in client.calls if c[1] == "shardCollection"]
    assert [(c[2][0], c[3]["key"]) for c in sharded] == [
        (f"livehall.{name}", key) for name, key in SHARD_KEYS.items() if name != "audit"]
    for name, key in SHARD_KEYS.items():
        if name == "audit":
            continue
        index = client.calls.index(("index", f"livehall.{name}", list(key.items()),
                                    {"name": f"{next(iter(key))}_hashed"}))
        assert index < client.calls.index(next(c for c in sharded if c[2][0] == f"livehall.{name}"))
    assert "livehall.audit: already sharded on {'event_id': 'hashed'}" in done
    assert not any(c[0] == "index" and c[1] == "livehall.audit" for c in client.calls)


@pytest.mark.gen_test
async def test_shard_collections_wants_a_mongodb():
    assert await server.cmd_shard_collections(config.from_env({})) == 2
