"""Stored chat: every room is an append-only stream with an epoch and offsets.

A message is stored before it is broadcast.  Each room document holds its
epoch (a random id fixed when the room is first used) and its last offset;
posting takes the next offset with one atomic `$inc`.  Deleting a message
appends a `delete` entry to the same stream, so a client resuming from an
offset learns about deletions it missed too.

A retried send carries the same client id; the unique index on
(room, user_id, client_id) makes it return the stored message instead of
posting twice.  A retry that loses that race has burnt an offset: streams
may have holes, and readers ask for "everything after N", never "N+1".

An entry's time is kept at the database's precision (milliseconds) from the
moment it is made, so the `at` a client gets live, in a resume and in
`history` is the same string.
"""
from __future__ import annotations

import datetime
import secrets
from typing import Any, NotRequired, TypedDict

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from accounts.users import AccountDoc
from core.clock import utcnow

TEXT, DELETE = "text", "delete"
MAX_TEXT = 2000
PAGE = 50


class MessageDoc(TypedDict):
    """One entry of a room's stream: a text (kind TEXT) or a deletion (kind DELETE).

    A text has `name`, `role`, `text` and `deleted` (and, once deleted,
    `deleted_by` and `deleted_at`); a deletion has `target`, the offset of
    the text it deletes.
    """
    _id: ObjectId
    room: str
    event_id: str
    epoch: str
    offset: int
    kind: str
    user_id: ObjectId
    client_id: str
    at: datetime.datetime
    name: NotRequired[str]
    role: NotRequired[str]
    text: NotRequired[str]
    deleted: NotRequired[bool]
    deleted_by: NotRequired[ObjectId]
    deleted_at: NotRequired[datetime.datetime]
    target: NotRequired[int]
    erased: NotRequired[bool]  # the author's account was deleted (accounts.erase)


def now() -> datetime.datetime:
    """The current time as the database stores it: UTC, whole milliseconds (BSON dates)."""
    at = utcnow()
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def iso(at: datetime.datetime) -> str:
    """The wire form of an entry's time: always `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=datetime.UTC)
    return at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def meta(db, room: str) -> dict:
    """The room's epoch and last offset, creating the room on first use."""
    doc = await db.rooms.find_one({"_id": room})
    if doc:
        return doc
    return await db.rooms.find_one_and_update(
        {"_id": room}, {"$setOnInsert": {"epoch": secrets.token_hex(4), "offset": 0,
                                         "created_at": utcnow()}},
        upsert=True, return_document=ReturnDocument.AFTER)


async def _next_offset(db, room: str) -> dict:
    return await db.rooms.find_one_and_update(
        {"_id": room}, {"$inc": {"offset": 1},
                        "$setOnInsert": {"epoch": secrets.token_hex(4), "created_at": utcnow()}},
        upsert=True, return_document=ReturnDocument.AFTER)


async def post(db, *, room: str, event_id: str, user: AccountDoc, role: str, text: str,
               client_id: str) -> tuple[MessageDoc, bool]:
    """Store a message; returns (message, created).  created is False for a retry."""
    existing = await db.messages.find_one({"room": room, "user_id": user["_id"], "client_id": client_id})
    if existing:
        return existing, False
    room_doc = await _next_offset(db, room)
    doc: MessageDoc = {
        "_id": ObjectId(), "room": room, "event_id": event_id, "epoch": room_doc["epoch"],
        "offset": room_doc["offset"], "kind": TEXT, "user_id": user["_id"],
        "name": user.get("name") or "", "role": role, "text": text, "client_id": client_id,
        "at": now(), "deleted": False,
    }
    try:
        await db.messages.insert_one(doc)
    except DuplicateKeyError:
        return await db.messages.find_one({"room": room, "user_id": user["_id"],
                                           "client_id": client_id}), False
    return doc, True


async def delete(db, *, room: str, offset: int, actor: AccountDoc) -> MessageDoc | None:
    """Mark a message deleted and append the deletion to the stream; None if unknown."""
    target = await db.messages.find_one_and_update(
        {"room": room, "offset": offset, "kind": TEXT, "deleted": False},
        {"$set": {"deleted": True, "deleted_by": actor["_id"], "deleted_at": utcnow()}},
        return_document=ReturnDocument.AFTER)
    if not target:
        return None
    room_doc = await _next_offset(db, room)
    doc: MessageDoc = {
        "_id": ObjectId(), "room": room, "event_id": target["event_id"], "epoch": room_doc["epoch"],
        "offset": room_doc["offset"], "kind": DELETE, "target": offset, "user_id": actor["_id"],
        "client_id": f"delete:{offset}", "at": now(),
    }
    await db.messages.insert_one(doc)
    return doc


async def since(db, room: str, offset: int, limit: int) -> list[MessageDoc]:
    """Stream entries after `offset`, oldest first, at most `limit`."""
    return await db.messages.find({"room": room, "offset": {"$gt": offset}}) \
        .sort("offset", 1).limit(limit).to_list(None)


async def history(db, room: str, before: int | None, limit: int = PAGE) -> list[MessageDoc]:
    """Text messages before an offset, newest first (deleted ones as tombstones)."""
    query: dict = {"room": room, "kind": TEXT}
    if before is not None:
        query["offset"] = {"$lt": before}
    return await db.messages.find(query).sort("offset", -1).limit(limit).to_list(None)


def wire(doc: MessageDoc) -> dict[str, Any]:
    """A stored entry as the `message` frame every client receives."""
    out: dict[str, Any] = {"type": "message", "room": doc["room"], "epoch": doc["epoch"], "offset": doc["offset"],
           "kind": doc["kind"], "at": iso(doc["at"])}
    if doc["kind"] == DELETE:
        out["target"] = doc["target"]
        return out
    # A deleted account's messages stay, by nobody: clients show "deleted user".
    author = {"id": "", "name": "", "role": doc["role"], "erased": True} if doc.get("erased") \
        else {"id": str(doc["user_id"]), "name": doc["name"], "role": doc["role"]}
    out.update(id=str(doc["_id"]), client_id=doc["client_id"], user=author,
               text=None if doc.get("deleted") else doc["text"], deleted=bool(doc.get("deleted")))
    return out
