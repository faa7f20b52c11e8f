"""Server-side sessions behind a signed cookie.

The cookie holds a random token; the database holds its hash, the user and
the expiry.  Keeping sessions server-side lets a password change sign out
other devices, and lets the real-time layer find a user's devices.
"""
from __future__ import annotations

import datetime
import secrets

from accounts import users
from accounts.tokens import hash_token
from core.clock import utcnow

COOKIE = "lh_session"


async def create(db, user_id, ttl: datetime.timedelta, user_agent: str = "", ip: str = "") -> str:
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    await db.sessions.insert_one({
        "token_hash": hash_token(raw), "user_id": user_id, "created_at": now,
        "seen_at": now, "expires_at": now + ttl,
        "user_agent": user_agent[:300], "ip": ip,
    })
    return raw


async def sign_in(db, user_id, ttl: datetime.timedelta, user_agent: str = "", ip: str = "",
                  replacing: str | None = None) -> str:
    """A new session for an account that has just proved who it is; returns its raw token.

    `replacing` is the session this browser held before: it ends, so a
    browser never keeps a session of the account it signed in as earlier.
    """
    await revoke(db, replacing)
    raw = await create(db, user_id, ttl, user_agent, ip)
    await users.mark_signed_in(db, user_id)
    return raw


async def lookup(db, raw: str | None) -> dict | None:
    if not raw or len(raw) > 128:
        return None
    doc = await db.sessions.find_one({"token_hash": hash_token(raw)})
    if not doc or doc["expires_at"] <= utcnow():
        return None
    return doc


async def lookup_many(db, raws) -> dict:
    """`lookup` for several tokens in one query: {raw token: live session}."""
    hashes = {hash_token(raw): raw for raw in raws if raw and len(raw) <= 128}
    found, now = {}, utcnow()
    if hashes:
        async for doc in db.sessions.find({"token_hash": {"$in": list(hashes)}}):
            if doc["expires_at"] > now:
                found[hashes[doc["token_hash"]]] = doc
    return found


async def revoke(db, raw: str | None) -> None:
    if raw:
        await db.sessions.delete_one({"token_hash": hash_token(raw)})


async def revoke_others(db, user_id, keep_raw: str | None = None) -> int:
    query: dict = {"user_id": user_id}
    if keep_raw:
        query["token_hash"] = {"$ne": hash_token(keep_raw)}
    result = await db.sessions.delete_many(query)
    return result.deleted_count
