"""The storage contract: the subset of the MongoDB API the platform relies on.

Runs on the embedded store by default and on a real server when MONGODB_URI
is set, so both backends are held to the same behaviour.
"""
import datetime

import pytest
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from mongo_indexes import INDEXES, ensure_indexes

UTC = datetime.UTC


@pytest.mark.gen_test
async def test_insert_find_sort_skip_limit(db):
    await db.things.insert_many([{"n": i, "tag": "even" if i % 2 == 0 else "odd"} for i in range(10)])
    docs = await db.things.find({"tag": "even"}).sort("n", -1).skip(1).limit(2).to_list(None)
    assert [d["n"] for d in docs] == [6, 4]
    assert await db.things.count_documents({"tag": "odd"}) == 5
    seen = [d["n"] async for d in db.things.find({"n": {"$gte": 8}}).sort("n", 1)]
    assert seen == [8, 9]


@pytest.mark.gen_test
async def test_unique_index_refuses_duplicates(db):
    await ensure_indexes(db)
    await db.users.insert_one({"email": "a@example.org", "login": "a"})
    with pytest.raises(DuplicateKeyError):
        await db.users.insert_one({"email": "a@example.org", "login": "b"})
    assert await db.users.count_documents({}) == 1


@pytest.mark.gen_test
async def test_ensure_indexes_is_idempotent_and_declares_ttl(db):
    first = await ensure_indexes(db)
    second = await ensure_indexes(db)
    assert first == second
    info = await db.tokens.index_information()
    ttl = [v for v in info.values() if "expireAfterSeconds" in v]
    assert ttl and [tuple(k) for k in ttl[0]["key"]] == [("expires_at", 1)]
    for collection, specs in INDEXES.items():
        names = set((await db[collection].index_information()).keys())
        assert {opts["name"] for _, opts in specs} <= names


@pytest.mark.gen_test
async def test_update_operators_and_find_one_and_update(db):
    await db.c.insert_one({"_id": "x", "n": 1, "items": ["a"], "nested": {"on": False}})
    await db.c.update_one({"_id": "x"}, {"$inc": {"n": 2}, "$push": {"items": "b"},
                                         "$set": {"nested.on": True}})
    doc = await db.c.find_one({"_id": "x"})
    assert doc["n"] == 3 and doc["items"] == ["a", "b"] and doc["nested"]["on"] is True
    await db.c.update_one({"_id": "x"}, {"$pull": {"items": "a"}})
    after = await db.c.find_one_and_update({"_id": "x"}, {"$inc": {"n": 1}},
                                           return_document=ReturnDocument.AFTER)
    assert after["n"] == 4 and after["items"] == ["b"]
    before = await db.c.find_one_and_update({"_id": "x"}, {"$inc": {"n": 1}})
    assert before["n"] == 4


@pytest.mark.gen_test
async def test_upsert_and_conditional_update(db):
    doc = await db.c.find_one_and_update({"_id": "k"}, {"$inc": {"count": 1}, "$setOnInsert": {"x": 1}},
                                         upsert=True, return_document=ReturnDocument.AFTER)
    assert doc == {"_id": "k", "count": 1, "x": 1}
    # Optimistic concurrency as used by live control: a stale version matches nothing.
    res = await db.c.update_one({"_id": "k", "count": 0}, {"$inc": {"count": 1}})
    assert res.modified_count == 0
    res = await db.c.update_one({"_id": "k", "count": 1}, {"$inc": {"count": 1}})
    assert res.modified_count == 1


@pytest.mark.gen_test
async def test_datetimes_come_back_timezone_aware(db):
    when = datetime.datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    await db.c.insert_one({"_id": 1, "at": when, "list": [{"at": when}]})
    doc = await db.c.find_one({"_id": 1, "at": {"$lte": when}})
    assert doc["at"] == when and doc["at"].tzinfo is not None
    assert doc["list"][0]["at"].tzinfo is not None


@pytest.mark.gen_test
async def test_regex_in_and_delete(db):
    await db.c.insert_many([{"email": "Anna@x.org"}, {"email": "bob@x.org"}, {"email": "cara@y.org"}])
    found = await db.c.find({"email": {"$regex": "x\\.org$", "$options": "i"}}).to_list(None)
    assert len(found) == 2
    assert await db.c.count_documents({"email": {"$in": ["bob@x.org", "cara@y.org"]}}) == 2
    res = await db.c.delete_many({"email": {"$regex": "^b"}})
    assert res.deleted_count == 1
    assert await db.c.count_documents({}) == 2


@pytest.mark.gen_test
async def test_aggregate_group(db):
    await db.c.insert_many([{"locale": "ru"}, {"locale": "ru"}, {"locale": "de"}])
    cursor = await db.c.aggregate([{"$group": {"_id": "$locale", "n": {"$sum": 1}}},
                                   {"$sort": {"_id": 1}}])
    rows = await cursor.to_list(None)
    assert rows == [{"_id": "de", "n": 1}, {"_id": "ru", "n": 2}]


@pytest.mark.gen_test
async def test_ping(services):
    assert await services.storage.ping() is True
