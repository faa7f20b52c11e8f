"""Page requests of one loop turn share one read of their sessions and one of their accounts."""
import asyncio
import datetime

import pytest

from accounts.shared_reads import AccountReads
from accounts.tokens import hash_token
from core.clock import utcnow


class Counted:
    """The database with every `find` and `find_one` on sessions and users counted."""

    def __init__(self, db):
        self.db, self.calls = db, []

    def __getattr__(self, name):
        collection, calls = getattr(self.db, name), self.calls

        class Wrapped:
            def __getattr__(self, op):
                if op in ("find", "find_one"):
                    calls.append(f"{name}.{op}")
                return getattr(collection, op)
        return Wrapped()


async def people(db, n: int):
    now = utcnow()
    users = [{"login": f"p{i}", "email": f"p{i}@example.org", "name": f"P {i}"} for i in range(n)]
    await db.users.insert_many(users)
    await db.sessions.insert_many([{"token_hash": hash_token(f"t{i}"), "user_id": u["_id"],
                                    "expires_at": now + datetime.timedelta(hours=1)} for i, u in enumerate(users)])
    await db.sessions.insert_one({"token_hash": hash_token("gone"), "user_id": users[0]["_id"],
                                  "expires_at": now - datetime.timedelta(seconds=1)})
    return users


@pytest.mark.gen_test
async def test_many_requests_at_once_cost_one_query_each_and_get_their_own_answers(db):
    users = await people(db, 50)
    counted, reads = Counted(db), AccountReads()
    sessions = await asyncio.gather(*(reads.session(counted, f"t{i}") for i in range(50)),
                                    reads.session(counted, "gone"), reads.session(counted, "x" * 200),
                                    reads.session(counted, None), reads.session(counted, "unknown"))
    assert [s["user_id"] for s in sessions[:50]] == [u["_id"] for u in users]
    assert sessions[50:] == [None, None, None, None]
    accounts = await asyncio.gather(*(reads.user(counted, s["user_id"]) for s in sessions[:50]),
                                    reads.user(counted, "not an id"))
    assert [a["login"] for a in accounts[:50]] == [u["login"] for u in users] and accounts[50] is None
    assert counted.calls == ["sessions.find", "users.find"]


@pytest.mark.gen_test
async def test_two_requests_of_one_person_do_not_share_a_document(db):
    users = await people(db, 1)
    await db.users.update_one({"_id": users[0]["_id"]}, {"$set": {"profile": {"links": [{"url": "a"}]}}})
    reads = AccountReads()
    a, b = await asyncio.gather(reads.user(db, users[0]["_id"]), reads.user(db, users[0]["_id"]))
    a["name"] = "changed in one request"
    a["profile"]["links"][0]["url"] = "changed deep inside"
    a["profile"]["links"].append({"url": "added"})
    assert b["name"] == "P 0"
    assert b["profile"] == {"links": [{"url": "a"}]}


@pytest.mark.gen_test
async def test_a_read_is_as_fresh_as_the_request(db):
    users = await people(db, 1)
    reads = AccountReads()
    assert (await reads.user(db, users[0]["_id"]))["name"] == "P 0"
    await db.users.update_one({"_id": users[0]["_id"]}, {"$set": {"name": "Renamed"}})
    assert (await reads.user(db, users[0]["_id"]))["name"] == "Renamed"
    await db.sessions.delete_one({"token_hash": hash_token("t0")})
    assert await reads.session(db, "t0") is None
