"""The storage contract again, on the embedded store shared over a socket
(what several processes use when there is no MongoDB)."""
import pytest

from storage.shared import SharedClient, StoreServer
from tests.test_storage import *  # noqa: F403  (the same contract tests)


@pytest.fixture
def db(io_loop):
    store = StoreServer()
    port = io_loop.run_sync(lambda: store.start("127.0.0.1", 0))
    client = SharedClient(f"127.0.0.1:{port}")
    yield client["contract"]
    io_loop.run_sync(client.close)
    io_loop.run_sync(store.close)


@pytest.mark.gen_test
async def test_errors_cross_the_socket_as_pymongo_errors(db):
    """Every caller that catches DuplicateKeyError (idempotent retries) and reads a write's counts."""
    from pymongo.errors import DuplicateKeyError
    await db.u.create_index([("email", 1)], unique=True)
    await db.u.insert_one({"email": "a@x.org"})
    with pytest.raises(DuplicateKeyError):
        await db.u.insert_one({"email": "a@x.org"})
    res = await db.u.update_one({"email": "a@x.org"}, {"$set": {"n": 1}})
    assert res.matched_count == 1 and res.modified_count == 1


@pytest.mark.gen_test
async def test_insert_gives_the_callers_document_its_id_as_pymongo_does():
    """Callers that use a document's `_id` after inserting it (registrations, chat entries, audit)."""
    store = StoreServer()
    port = await store.start()
    client = SharedClient(f"127.0.0.1:{port}")
    try:
        doc = {"name": "a"}
        result = await client["t"].things.insert_one(doc)
        assert doc["_id"] == result.inserted_id
        docs = [{"n": 1}, {"n": 2}]
        many = await client["t"].things.insert_many(docs)
        assert [d["_id"] for d in docs] == many.inserted_ids
    finally:
        await client.close()
        await store.close()


@pytest.mark.gen_test
async def test_guarded_updates_from_several_processes_connections_admit_exactly_the_room_there_is():
    """Each server process has its own connection to the store; a guarded `$inc` stays one operation
    across them (`registration.places.take` with PROCESSES > 1 and no MongoDB)."""
    import asyncio
    store = StoreServer()
    port = await store.start()
    clients = [SharedClient(f"127.0.0.1:{port}") for _ in range(4)]
    try:
        await clients[0]["t"].counters.insert_one({"_id": "event:1", "taken": 0})

        async def take(client):
            return await client["t"].counters.find_one_and_update(
                {"_id": "event:1", "taken": {"$lt": 5}}, {"$inc": {"taken": 1}}) is not None

        results = await asyncio.gather(*(take(clients[i % 4]) for i in range(24)))
        assert sum(results) == 5
        assert (await clients[1]["t"].counters.find_one({"_id": "event:1"}))["taken"] == 5
    finally:
        for client in clients:
            await client.close()
        await store.close()


@pytest.mark.gen_test
async def test_the_calls_of_one_turn_cross_as_one_write_each_way(db, monkeypatch):
    """A busy process's calls in one loop turn leave as one send, and their replies come back as one:
    a loopback send costs far more than joining the bytes."""
    import asyncio
    await db.c.insert_one({"_id": 1, "n": 1})
    writes = []
    real = asyncio.StreamWriter.write

    def counted(self, data):
        writes.append(len(data))
        return real(self, data)
    monkeypatch.setattr(asyncio.StreamWriter, "write", counted)
    found = await asyncio.gather(*(db.c.find_one({"_id": 1}) for _ in range(50)))
    assert found == [{"_id": 1, "n": 1}] * 50
    # One write of the 50 requests, and the replies in as few as the requests arrived in (one, on loopback).
    assert 2 <= len(writes) <= 4, writes
