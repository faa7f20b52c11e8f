"""The embedded store's equality index answers exactly what a scan would.

The index only narrows candidates; these tests change indexed fields in every
way the platform does and compare with what mongomock's scan returns.
"""
import pytest
from pymongo.errors import DuplicateKeyError

from mongo_indexes import ensure_indexes
from storage.embedded import EmbeddedClient


async def make_users():
    db = EmbeddedClient()["index_test"]
    await ensure_indexes(db)
    return db.users


async def make_room():
    """A room of 1,000 messages from 7 people (the messages' compound unique key: room, user, client id)."""
    db = EmbeddedClient()["index_test"]
    await ensure_indexes(db)
    await db.messages.insert_many([{"room": "r1", "offset": i, "user_id": f"u{i % 7}", "client_id": f"c{i}"}
                                   for i in range(1, 1001)])
    return db.messages


def scanned(coll, filter):
    """What mongomock finds without the index."""
    return [d["_id"] for d in type(coll._c)._iter_documents(coll._c, filter)]


@pytest.mark.gen_test
async def test_lookups_follow_inserts_updates_and_deletes():
    users = await make_users()
    for i in range(300):
        await users.insert_one({"email": f"u{i}@example.org", "login": f"u{i}", "tags": ["a", f"t{i % 3}"]})
    one = await users.find_one({"email": "u7@example.org"})
    assert one["login"] == "u7"
    await users.update_one({"_id": one["_id"]}, {"$set": {"email": "new@example.org"}})
    assert await users.find_one({"email": "u7@example.org"}) is None
    assert (await users.find_one({"email": "new@example.org"}))["_id"] == one["_id"]
    await users.update_one({"login": "u8"}, {"$set": {"name": "Eight"}})   # not an indexed field
    assert (await users.find_one({"login": "u8"}))["name"] == "Eight"
    await users.delete_one({"login": "u9"})
    assert await users.find_one({"login": "u9"}) is None
    assert await users.count_documents({"login": "u10"}) == 1
    for f in ({"email": "new@example.org"}, {"login": "u11", "name": {"$exists": False}},
              {"_id": one["_id"]}, {"login": {"$in": ["u1", "u2"]}}, {"tags": "t1"}):
        assert [d["_id"] async for d in users.find(f)] == scanned(users, f)


@pytest.mark.gen_test
async def test_unique_fields_stay_unique_through_the_index():
    users = await make_users()
    await users.insert_one({"email": "a@example.org", "login": "a"})
    b = await users.insert_one({"email": "b@example.org", "login": "b"})
    with pytest.raises(DuplicateKeyError):
        await users.insert_one({"email": "a@example.org", "login": "c"})
    with pytest.raises(DuplicateKeyError):
        await users.update_one({"_id": b.inserted_id}, {"$set": {"email": "a@example.org"}})
    assert (await users.find_one({"_id": b.inserted_id}))["email"] == "b@example.org"
    assert await users.count_documents({}) == 2


@pytest.mark.gen_test
async def test_an_indexed_lookup_does_not_scan_the_collection():
    users = await make_users()
    await users.insert_many([{"email": f"u{i}@example.org", "login": f"u{i}"} for i in range(2000)])
    index = users._index
    assert [d["login"] for d in index.candidates({"login": "u1999"})] == ["u1999"]
    some = await users.find_one({"login": "u5"})
    assert index.candidates({"_id": some["_id"]}) == [some]
    assert index.candidates({"name": "nobody"}) is None          # not indexed: a scan
    # `$in` over indexed values is a union of lookups; other operators scan.
    assert sorted(d["login"] for d in index.candidates({"login": {"$in": ["u1", "u7", "nobody"]}})) == ["u1", "u7"]
    assert [d["login"] for d in index.candidates({"_id": {"$in": [some["_id"], some["_id"]]}})] == ["u5"]
    assert index.candidates({"login": {"$gt": "u1"}}) is None
    assert index.candidates({"login": {"$in": ["u1", None]}}) is None  # None also matches a missing field


@pytest.mark.gen_test
async def test_compound_indexes_answer_full_key_lookups_and_unique_checks():
    messages = await make_room()
    index = messages._index
    found = index.candidates({"room": "r1", "user_id": "u3", "client_id": "c10"})
    assert [d["offset"] for d in found] == [10]
    with pytest.raises(DuplicateKeyError):
        await messages.insert_one({"room": "r1", "offset": 5, "user_id": "x", "client_id": "new"})
    with pytest.raises(DuplicateKeyError):
        await messages.insert_one({"room": "r1", "offset": 2000, "user_id": "u3", "client_id": "c10"})
    await messages.update_one({"room": "r1", "offset": 7}, {"$set": {"client_id": "renamed"}})
    assert (await messages.find_one({"room": "r1", "user_id": "u0", "client_id": "renamed"}))["offset"] == 7
    assert await messages.find_one({"room": "r1", "user_id": "u0", "client_id": "c7"}) is None
    assert await messages.count_documents({"room": "r1"}) == 1000


class Unlisted(dict):
    """An index entry that may be weighed (its size) but must not be listed."""

    def __iter__(self):
        raise AssertionError("a larger index entry was listed when a smaller one answers")


@pytest.mark.gen_test
async def test_only_the_smallest_index_entry_is_listed():
    # A unique check names a room (every message of it) and a client id (one message):
    # listing the room's entry would cost as much as scanning the room.
    messages = await make_room()
    index = messages._index
    index.candidates({"room": "r1"})          # built
    index.by_field["room"]["r1"] = Unlisted(index.by_field["room"]["r1"])
    found = index.candidates({"room": "r1", "user_id": "u3", "client_id": "c10"})
    assert [d["offset"] for d in found] == [10]
    assert (await messages.find_one({"room": "r1", "user_id": "u3", "client_id": "c10"}))["offset"] == 10


@pytest.mark.gen_test
async def test_ttl_expiry_sweeps_now_and_then_not_on_every_insert(monkeypatch):
    import asyncio
    import datetime

    import mongomock.store

    from core.clock import utcnow
    from storage import embedded

    monkeypatch.setattr(embedded, "TTL_SWEEP", 0.2)
    sweeps = []
    original = mongomock.store.CollectionStore._expire_documents
    monkeypatch.setattr(mongomock.store.CollectionStore, "_expire_documents",
                        lambda self, index: (sweeps.append(1), original(self, index)))
    db = EmbeddedClient()["ttl_test"]
    await ensure_indexes(db)   # sessions expire at `expires_at`
    past, future = utcnow() - datetime.timedelta(seconds=5), utcnow() + datetime.timedelta(hours=1)
    await db.sessions.insert_one({"token_hash": "old", "user_id": "u", "expires_at": past})
    await asyncio.sleep(0.25)
    sweeps.clear()
    for i in range(200):
        await db.sessions.insert_one({"token_hash": f"t{i}", "user_id": "u", "expires_at": future})
    assert len(sweeps) <= 2            # mongomock alone swept the collection 200 times
    await asyncio.sleep(0.25)
    assert await db.sessions.find_one({"token_hash": "old"}) is None     # expired documents still go
    assert await db.sessions.count_documents({}) == 200


@pytest.mark.gen_test
async def test_an_update_found_by_the_index_keeps_it_current_without_a_rebuild():
    """A registration changes its indexed `state` many times: each update is re-entered in the index
    (no scan, no rebuild), and every lookup still answers what a scan answers."""
    db = EmbeddedClient()["index_test"]
    await ensure_indexes(db)
    memberships = db.memberships
    event = "e1"
    for i in range(200):
        await memberships.insert_one({"user_id": f"u{i}", "scope_id": event, "role": "attendee",
                                      "email": f"u{i}@example.org", "state": "waiting", "position": i})
    index = memberships._index
    await memberships.find_one({"scope_id": event})          # the index is built
    assert not index.dirty
    for i in range(0, 200, 2):
        await memberships.update_one({"user_id": f"u{i}", "scope_id": event, "role": "attendee",
                                      "state": "waiting"}, {"$set": {"state": "registered"}})
    first = await memberships.find_one_and_update({"scope_id": event, "role": "attendee", "state": "waiting"},
                                                  {"$set": {"state": "offered"}}, sort=[("position", 1)])
    assert first["user_id"] == "u1"
    await memberships.update_many({"scope_id": event, "state": "registered", "position": {"$lt": 10}},
                                  {"$set": {"scope_id": "e2"}})
    assert not index.dirty                                     # never rebuilt from a scan
    for f in ({"scope_id": event}, {"scope_id": "e2"}, {"scope_id": event, "role": "attendee", "state": "waiting"},
              {"user_id": "u4"}, {"user_id": "u4", "scope_id": "e2", "role": "attendee"}):
        found = [d["_id"] async for d in memberships.find(f)]
        assert found and sorted(found) == sorted(scanned(memberships, f)), f
    # A unique clash found through the index is refused and the index keeps the old values.
    with pytest.raises(DuplicateKeyError):
        await memberships.update_one({"user_id": "u3", "scope_id": event, "role": "attendee"},
                                     {"$set": {"user_id": "u5"}})
    assert (await memberships.find_one({"user_id": "u3", "scope_id": event}))["state"] == "waiting"
    assert await memberships.count_documents({"user_id": "u5", "scope_id": event, "role": "attendee"}) == 1
    await memberships.delete_one({"user_id": "u7", "scope_id": event, "role": "attendee"})
    assert await memberships.find_one({"user_id": "u7"}) is None and "u7" not in index.by_field["user_id"]


@pytest.mark.gen_test
async def test_an_update_by_id_changing_an_indexed_field_never_scans(monkeypatch):
    """Mail statuses are updated by `_id` (the outbox indexes `status`): before the index is first
    built, as after, such an update reads only its document."""
    import mongomock.collection
    db = EmbeddedClient()["index_test"]
    await ensure_indexes(db)
    outbox = db.outbox
    ids = [(await outbox.insert_one({"status": "queued", "n": i})).inserted_id for i in range(500)]
    scanned_docs = []
    real = mongomock.collection.filter_applies

    def counting(filter, doc, *args, **kwargs):
        scanned_docs.append(doc.get("_id"))
        return real(filter, doc, *args, **kwargs)
    monkeypatch.setattr(mongomock.collection, "filter_applies", counting)
    for _id in ids[:50]:
        await outbox.update_one({"_id": _id}, {"$set": {"status": "sent"}})
    assert len(scanned_docs) < 500          # a scan would read all 500 documents at least once
    monkeypatch.setattr(mongomock.collection, "filter_applies", real)
    assert await outbox.count_documents({"status": "sent"}) == 50
    assert await outbox.count_documents({"status": "queued"}) == 450


@pytest.mark.gen_test
async def test_a_dotted_path_into_arrays_is_indexed_as_mongodb_indexes_it():
    """`tickets.holder.email` (an index of orders): every ticket's holder, through the array, kept current
    by positional updates and holders passed on; lookups answer what a scan finds, without one."""
    db = EmbeddedClient()["index_test"]
    await ensure_indexes(db)
    orders = db.orders
    await orders.insert_many([{"event_id": "e", "code": f"C{i}", "reservation_id": f"r{i}", "buyer_id": f"b{i}",
                               "idempotency_key": f"k{i}",
                               "tickets": [{"id": "t1", "holder": {"email": f"h{i}@example.org"}},
                                           {"id": "t2", "holder": None},
                                           {"id": "t3", "holder": {"email": f"x{i % 3}@example.org"}}]}
                              for i in range(300)])
    index = orders._index
    assert [d["code"] for d in index.candidates({"tickets.holder.email": "h42@example.org"})] == ["C42"]
    assert len(index.candidates({"tickets.holder.email": "x1@example.org"})) == 100
    one = await orders.find_one({"code": "C7"})
    await orders.update_one({"_id": one["_id"]}, {"$set": {"tickets.1.holder": {"email": "new@example.org"},
                                                           "tickets.0.holder": {"email": "other@example.org"}}})
    await orders.update_one({"code": "C8"}, {"$set": {"tickets.2.holder": None}})   # not narrowed by the index
    for f in ({"tickets.holder.email": "new@example.org"}, {"tickets.holder.email": "h7@example.org"},
              {"tickets.holder.email": "other@example.org"}, {"tickets.holder.email": "x2@example.org"},
              {"event_id": "e", "tickets.holder.email": {"$in": ["h9@example.org", "x0@example.org"]}}):
        assert sorted([d["_id"] async for d in orders.find(f)]) == sorted(scanned(orders, f)), f
    assert [d["code"] for d in index.candidates({"tickets.holder.email": "new@example.org"})] == ["C7"]
    assert index.candidates({"tickets.holder.email": "h7@example.org"}) == []
