"""The storage contract: the subset of the MongoDB API the platform relies on, and the guarantees.

Runs on the embedded store by default, on the shared embedded store
(`test_storage_shared.py`) and on a real server when MONGODB_URI is set (a
replica set, a sharded cluster's mongos, or a single server), so every
backend is held to the same behaviour.  Each test's docstring names the
modules that rely on what it checks.

What the code assumes, and nothing more (`docs/storage.md`):

- one write to one document is atomic, and a condition in its filter is
  read by the same write that changes the document (conditional updates,
  guarded `$inc`, find-and-modify);
- unique indexes (also compound and sparse ones) refuse a duplicate on
  insert, upsert and update with DuplicateKeyError and change nothing;
- an unordered insert of many documents stores every one it can and says
  which were refused;
- `{"field": None}` also matches a document without the field;
- dates come back timezone-aware, at millisecond precision.

No multi-document transaction: no code path relies on one.  Where two
documents change together, the order of the two writes and a repair
(a sweep, a resumable step, a check after the write) keep the invariant.
"""
import asyncio
import datetime

import pytest
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from mongo_indexes import INDEXES, ensure_indexes

UTC = datetime.UTC


@pytest.mark.gen_test
async def test_insert_find_sort_skip_limit(db):
    """Lists and pages everywhere (`core.pagination`, registrant lists, chat history)."""
    await db.things.insert_many([{"n": i, "tag": "even" if i % 2 == 0 else "odd"} for i in range(10)])
    docs = await db.things.find({"tag": "even"}).sort("n", -1).skip(1).limit(2).to_list(None)
    assert [d["n"] for d in docs] == [6, 4]
    assert await db.things.count_documents({"tag": "odd"}) == 5
    seen = [d["n"] async for d in db.things.find({"n": {"$gte": 8}}).sort("n", 1)]
    assert seen == [8, 9]


@pytest.mark.gen_test
async def test_unique_index_refuses_duplicates(db):
    """One account per address and login (`accounts.users`, `attendees.registry`)."""
    await ensure_indexes(db)
    await db.users.insert_one({"email": "a@example.org", "login": "a"})
    with pytest.raises(DuplicateKeyError):
        await db.users.insert_one({"email": "a@example.org", "login": "b"})
    assert await db.users.count_documents({}) == 1


@pytest.mark.gen_test
async def test_ensure_indexes_is_idempotent_and_declares_ttl(db):
    """`mongo_indexes.ensure_indexes` at every start; expiry of tokens and sessions (`accounts.tokens`)."""
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
    """find-and-modify answers the document before or after its change: places (`registration.places`),
    chat offsets (`chat.store`), token use (`accounts.tokens.consume`), every state machine."""
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
    """Counters made on first use (`registration.places.ensure`, `chat.store`) and versioned changes
    (`events.control`): a stale guard matches nothing."""
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
    """Every stored time; `chat.store.now` keeps milliseconds so that an entry's time is the same
    string live, in a resume and in history."""
    when = datetime.datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    await db.c.insert_one({"_id": 1, "at": when, "list": [{"at": when}]})
    doc = await db.c.find_one({"_id": 1, "at": {"$lte": when}})
    assert doc["at"] == when and doc["at"].tzinfo is not None
    assert doc["list"][0]["at"].tzinfo is not None
    await db.c.insert_one({"_id": 2, "at": when.replace(microsecond=123456)})
    assert (await db.c.find_one({"_id": 2}))["at"] == when.replace(microsecond=123000)


@pytest.mark.gen_test
async def test_regex_in_and_delete(db):
    """Searches (registrant list, staff) and deletions by many (`accounts.erase`)."""
    await db.c.insert_many([{"email": "Anna@x.org"}, {"email": "bob@x.org"}, {"email": "cara@y.org"}])
    found = await db.c.find({"email": {"$regex": "x\\.org$", "$options": "i"}}).to_list(None)
    assert len(found) == 2
    assert await db.c.count_documents({"email": {"$in": ["bob@x.org", "cara@y.org"]}}) == 2
    res = await db.c.delete_many({"email": {"$regex": "^b"}})
    assert res.deleted_count == 1
    assert await db.c.count_documents({}) == 2


@pytest.mark.gen_test
async def test_aggregate_group(db):
    """Counts per state (`registration.counts.by_state`), analytics."""
    await db.c.insert_many([{"locale": "ru"}, {"locale": "ru"}, {"locale": "de"}])
    cursor = await db.c.aggregate([{"$group": {"_id": "$locale", "n": {"$sum": 1}}},
                                   {"$sort": {"_id": 1}}])
    rows = await cursor.to_list(None)
    assert rows == [{"_id": "de", "n": 1}, {"_id": "ru", "n": 2}]


@pytest.mark.gen_test
async def test_ping(services):
    """`/healthz` (`handlers.ops`)."""
    assert await services.storage.ping() is True


# --- the guarantees the code's invariants stand on ------------------------------------------

@pytest.mark.gen_test
async def test_a_compound_unique_index_refuses_a_duplicate_on_insert_upsert_and_update(db):
    """Idempotent retries: a chat message per (room, user, client id) (`chat.store.post`), a question
    (`questions.store.ask`), one registration per person and event (`registration.actions.enter`), one
    seat (`registration.session_seats.take`), attempt and certificate (`quizzes.taking`,
    `certificates.issuing`), a payment per purpose and key (`payments.attempts.start`)."""
    await db.m.create_index([("room", 1), ("user_id", 1), ("client_id", 1)], unique=True)
    await db.m.insert_one({"room": "r", "user_id": 1, "client_id": "a", "text": "first"})
    with pytest.raises(DuplicateKeyError):
        await db.m.insert_one({"room": "r", "user_id": 1, "client_id": "a", "text": "again"})
    await db.m.insert_one({"room": "r", "user_id": 2, "client_id": "a"})   # another field differs: fine
    with pytest.raises(DuplicateKeyError):
        await db.m.update_one({"user_id": 2}, {"$set": {"user_id": 1}})
    with pytest.raises(DuplicateKeyError):
        await db.m.update_one({"room": "r", "user_id": 2, "client_id": "b", "x": 1},
                              {"$set": {"client_id": "a", "user_id": 1}}, upsert=True)
    assert sorted([(d["user_id"], d.get("text")) async for d in db.m.find({})]) == [(1, "first"), (2, None)]


@pytest.mark.gen_test
async def test_a_sparse_unique_index_ignores_documents_without_the_field(db):
    """Mail without a key is not indexed; mail with one is written once (`mailings.mailer`, the outbox's
    `key_unique`: reminders, invitation items)."""
    await db.o.create_index([("key", 1)], unique=True, sparse=True)
    await db.o.insert_many([{"to": "a"}, {"to": "b"}])
    await db.o.insert_one({"to": "c", "key": "job:1:c"})
    with pytest.raises(DuplicateKeyError):
        await db.o.insert_one({"to": "c", "key": "job:1:c"})
    assert await db.o.count_documents({}) == 3


@pytest.mark.gen_test
async def test_an_unordered_insert_many_stores_the_rest_and_names_each_refused_one(db):
    """`mailings.mailer.Mailer.send_many`: a round of reminders written at once, those already written
    by another process refused by the unique key and skipped (`reminders.runner`)."""
    await db.o.create_index([("key", 1)], unique=True, sparse=True)
    await db.o.insert_one({"key": "b"})
    batch = [{"key": "a"}, {"key": "b"}, {"key": "c"}, {"key": "a"}, {"key": "d"}]
    with pytest.raises(BulkWriteError) as raised:
        await db.o.insert_many(batch, ordered=False)
    errors = raised.value.details["writeErrors"]
    assert sorted(e["index"] for e in errors) == [1, 3] and {e["code"] for e in errors} == {11000}
    assert sorted([d["key"] async for d in db.o.find({})]) == ["a", "b", "c", "d"]


@pytest.mark.gen_test
async def test_a_conditional_update_changes_at_most_one_document(db):
    """State machines: a move is one update guarded by the state it was read in, so of two racing moves
    one matches (`registration.states.transition`, `payments.attempts`, `orders.states`), and claims
    take one item each (`registration.places.claim_check`, `invitations.campaigns`)."""
    await db.c.insert_many([{"n": i, "state": "waiting"} for i in range(3)])
    first = await db.c.update_one({"state": "waiting"}, {"$set": {"state": "offered"}})
    assert (first.matched_count, first.modified_count) == (1, 1)
    assert await db.c.count_documents({"state": "offered"}) == 1
    target = await db.c.find_one({"state": "waiting"})
    won = await db.c.update_one({"_id": target["_id"], "state": "waiting"}, {"$set": {"state": "cancelled"}})
    lost = await db.c.update_one({"_id": target["_id"], "state": "waiting"}, {"$set": {"state": "offered"}})
    assert won.modified_count == 1 and (lost.matched_count, lost.modified_count) == (0, 0)
    assert (await db.c.find_one({"_id": target["_id"]}))["state"] == "cancelled"


@pytest.mark.gen_test
async def test_find_one_and_update_takes_the_first_in_sort_order_or_answers_none(db):
    """The waiting list's first person (`registration.states.transition_first` sorted by position);
    queues claimed in order (`mailings.signin_mailing`, `invitations.campaigns`)."""
    await db.q.insert_many([{"_id": i, "position": p, "state": "waiting"} for i, p in ((1, 3), (2, 1), (3, 2))])
    order = []
    while (doc := await db.q.find_one_and_update(
            {"state": "waiting"}, {"$set": {"state": "offered"}}, sort=[("position", 1), ("_id", 1)],
            projection={"position": 1}, return_document=ReturnDocument.AFTER)) is not None:
        assert set(doc) == {"_id", "position"}
        order.append(doc["_id"])
    assert order == [2, 3, 1]


@pytest.mark.gen_test
async def test_a_field_asked_to_be_none_also_matches_when_it_is_missing(db):
    """Guards on fields older documents lack: a registration stored before states had none and counts as
    registered (`registration.states._state_guard`), an account not being erased (`accounts.erase`), an
    invoice not mailed yet (`payments.invoices.mail`)."""
    await db.c.insert_many([{"_id": 1}, {"_id": 2, "state": None}, {"_id": 3, "state": "x"},
                            {"_id": 4, "invoice": {"n": 1}}])
    assert sorted([d["_id"] async for d in db.c.find({"state": None})]) == [1, 2, 4]
    done = await db.c.update_one({"_id": 4, "invoice.mailed_at": None}, {"$set": {"invoice.mailed_at": 1}})
    again = await db.c.update_one({"_id": 4, "invoice.mailed_at": None}, {"$set": {"invoice.mailed_at": 2}})
    assert (done.modified_count, again.modified_count) == (1, 0)


@pytest.mark.gen_test
async def test_a_guarded_inc_admits_exactly_as_many_as_there_is_room_under_concurrency(db):
    """No overbooking however many registrations race for the last places (`registration.places.take`,
    session seats, ticket quotas `orders.quotas`): the guard is read by the update that increments."""
    await db.counters.insert_one({"_id": "event:1", "taken": 0})
    capacity = 7

    async def take():
        return await db.counters.find_one_and_update(
            {"_id": "event:1", "taken": {"$lt": capacity}}, {"$inc": {"taken": 1}}, {"_id": 1}) is not None

    results = await asyncio.gather(*(take() for _ in range(40)))
    assert sum(results) == capacity
    assert (await db.counters.find_one({"_id": "event:1"}))["taken"] == capacity


@pytest.mark.gen_test
async def test_racing_incs_hand_out_distinct_numbers_and_racing_upserts_make_one_document(db):
    """Chat offsets: each message of a room gets its own offset, the room made by whichever message comes
    first (`chat.store._next_offset`); invoice numbers per space (`payments.invoices`); waiting-list
    positions (`registration.places.join_queue`)."""

    async def next_offset():
        doc = await db.rooms.find_one_and_update(
            {"_id": "room"}, {"$inc": {"offset": 1}, "$setOnInsert": {"epoch": "e"}},
            upsert=True, return_document=ReturnDocument.AFTER)
        return doc["offset"]

    offsets = await asyncio.gather(*(next_offset() for _ in range(30)))
    assert sorted(offsets) == list(range(1, 31))
    assert await db.rooms.count_documents({}) == 1


@pytest.mark.gen_test
async def test_a_set_and_its_count_change_together_in_one_guarded_update(db):
    """Votes: the voters and the count are one document's fields changed by one update guarded by the
    voter's absence, so the count never drifts from the set, however often a vote is retried
    (`questions.store.vote`)."""
    await db.q.insert_one({"_id": 1, "voters": [], "votes": 0})

    async def vote(user):
        return await db.q.find_one_and_update(
            {"_id": 1, "voters": {"$ne": user}}, {"$addToSet": {"voters": user}, "$inc": {"votes": 1}},
            return_document=ReturnDocument.AFTER)

    results = await asyncio.gather(*(vote(u) for u in (1, 2, 1, 3, 2, 1)))
    assert sum(r is not None for r in results) == 3
    doc = await db.q.find_one({"_id": 1})
    assert doc["votes"] == 3 and sorted(doc["voters"]) == [1, 2, 3]
