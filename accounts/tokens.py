"""Single-use, expiring tokens for sign-in links and password resets.

Only a SHA-256 of the token is stored, so a database leak does not hand out
working links.  Consuming a token is one atomic find-and-update that also
checks expiry and prior use: two clicks racing on one link sign in once.
"""
from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from core.clock import utcnow

SIGNIN = "signin"
RESET = "reset"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


async def issue(db, user_id, purpose: str, ttl: datetime.timedelta, event_id=None,
                data: Mapping[str, Any] | None = None) -> str:
    """A new token; `data` travels with it (what using the link applies), returned by `peek`/`consume`."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    await db.tokens.insert_one({
        "token_hash": hash_token(raw), "user_id": user_id, "purpose": purpose,
        "event_id": event_id, "created_at": now, "expires_at": now + ttl, "used_at": None,
        **({"data": dict(data)} if data is not None else {}),
    })
    return raw


async def peek(db, raw: str, purpose: str) -> dict | None:
    """The token if it is usable now, without consuming it."""
    if not raw or len(raw) > 128:
        return None
    doc = await db.tokens.find_one({"token_hash": hash_token(raw), "purpose": purpose})
    if not doc or doc.get("used_at") or doc["expires_at"] <= utcnow():
        return None
    return doc


async def consume(db, raw: str, purpose: str) -> dict | None:
    """Mark the token used and return it, or None if unknown, used or expired."""
    if not raw or len(raw) > 128:
        return None
    now = utcnow()
    return await db.tokens.find_one_and_update(
        {"token_hash": hash_token(raw), "purpose": purpose, "used_at": None,
         "expires_at": {"$gt": now}},
        {"$set": {"used_at": now}},
    )


async def state(db, raw: str, purpose: str) -> str:
    """'valid', 'used', 'expired' or 'unknown': lets pages say exactly why."""
    if not raw or len(raw) > 128:
        return "unknown"
    doc = await db.tokens.find_one({"token_hash": hash_token(raw), "purpose": purpose})
    if not doc:
        return "unknown"
    if doc.get("used_at"):
        return "used"
    if doc["expires_at"] <= utcnow():
        return "expired"
    return "valid"
