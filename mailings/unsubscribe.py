"""Opting out of a kind of mail: signed one-click links and the stored choice.

A person opts out of a *topic* ("reminders", later "invitations"), for
their account as a whole: one document per (user_id, topic) in
`mail_optouts`.  Every mail of an optional topic carries a link made by
`url` and the `List-Unsubscribe` headers of RFC 2369 and RFC 8058 (`headers`),
and the sender asks `opted_out` before writing the mail.  Transactional mail
(sign-in links, registration states) has no topic and is never suppressed.

The link's token is an HMAC of (user id, topic) under the cookie secret,
so it needs no stored state, never expires, and cannot be forged to opt
someone else out.  Opening the link shows a page with one button; the
opt-out itself is a POST, so a mail scanner that follows links does not
unsubscribe anyone, while a mail client's one-click POST (RFC 8058) does.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError

from core.clock import utcnow

COLLECTION = "mail_optouts"
MAX_TOKEN = 200


def _mac(secret: str, user_id: str, topic: str) -> str:
    digest = hmac.new(secret.encode(), f"unsubscribe\n{user_id}\n{topic}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def token(secret: str, user_id, topic: str) -> str:
    return f"{user_id}.{topic}.{_mac(secret, str(user_id), topic)}"


def read_token(secret: str, raw: str) -> tuple[ObjectId, str] | None:
    """(user id, topic) of a genuine token; None for anything else."""
    if not isinstance(raw, str) or len(raw) > MAX_TOKEN or raw.count(".") != 2:
        return None
    user_id, topic, mac = raw.split(".")
    if not topic or not hmac.compare_digest(mac, _mac(secret, user_id, topic)):
        return None
    try:
        return ObjectId(user_id), topic
    except InvalidId:
        return None


def url(public_url: str, secret: str, user_id, topic: str) -> str:
    return f"{public_url}/unsubscribe?t={token(secret, user_id, topic)}"


def headers(link: str) -> dict[str, str]:
    """The headers that let a mail client offer its own one-click "unsubscribe" (RFC 2369, RFC 8058)."""
    return {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


async def opt_out(db, user_id: ObjectId, topic: str) -> None:
    """Record the choice; doing it twice changes nothing."""
    try:
        await db[COLLECTION].update_one({"user_id": user_id, "topic": topic},
                                        {"$setOnInsert": {"at": utcnow()}}, upsert=True)
    except DuplicateKeyError:
        pass  # two clicks at once: the unique index kept one


async def opt_in(db, user_id: ObjectId, topic: str) -> None:
    await db[COLLECTION].delete_one({"user_id": user_id, "topic": topic})


async def opted_out(db, user_ids: Iterable[ObjectId], topic: str) -> set[ObjectId]:
    """Those of `user_ids` who opted out of `topic`."""
    ids = list(user_ids)
    found: set[ObjectId] = set()
    # In slices, so that a list of ten thousand stays a reasonable query.
    for i in range(0, len(ids), 1000):
        cursor = db[COLLECTION].find({"topic": topic, "user_id": {"$in": ids[i:i + 1000]}}, {"user_id": 1})
        found.update([d["user_id"] async for d in cursor])
    return found
