"""Files attached to form answers: stored in the database, read back only by whom they concern.

A file is one document in `registration_files` (who gave it, for which event,
form and field, its name, sniffed content type and size) and its bytes in
`registration_file_chunks`, one document per megabyte: a form may allow up to
20 MB, above MongoDB's 16 MB document limit.  The chunks are written first
and the description last, so a file that is described is complete.  Who may
download a file is decided by the download handler through `access`: its
owner, and the event's staff who see attendees.
"""
from __future__ import annotations

from bson import Binary, ObjectId
from bson.errors import InvalidId

from core.clock import utcnow

CHUNK = 1024 * 1024


async def store(db, *, owner_id, event_id, form_kind: str, field_id: str, field_version: int, name: str,
                content_type: str, data: bytes) -> dict:
    """Store bytes already checked by the form; returns the description (without bytes)."""
    file_id = ObjectId()
    chunks = [{"file_id": file_id, "n": i, "data": Binary(data[at:at + CHUNK])}
              for i, at in enumerate(range(0, len(data), CHUNK))]
    if chunks:
        await db.registration_file_chunks.insert_many(chunks)
    doc = {"_id": file_id, "owner_id": owner_id, "event_id": event_id, "form_kind": form_kind,
           "field_id": field_id, "field_version": field_version, "name": name,
           "content_type": content_type, "size": len(data), "created_at": utcnow()}
    await db.registration_files.insert_one(doc)
    return doc


def named_in(answers) -> list[ObjectId]:
    """Ids of the files these answers (`{field id: {"v", "value"}}`) give."""
    out = []
    for answer in (answers or {}).values():
        value = answer.get("value") if isinstance(answer, dict) else None
        if isinstance(value, dict) and value.get("file"):
            try:
                out.append(ObjectId(str(value["file"])))
            except (InvalidId, TypeError):
                continue
    return out


async def adopt(db, owner_id, answers) -> None:
    """Files sent before their sender had a verified address (a registration without an account,
    owner None) become the account's once the address is confirmed, so its owner can read them."""
    ids = named_in(answers)
    if ids:
        await db.registration_files.update_many({"_id": {"$in": ids}, "owner_id": None},
                                                {"$set": {"owner_id": owner_id}})


async def remove(db, answers) -> None:
    """Delete the files these answers give (a submission refused after its files were stored);
    chunks first, so a file that is described is still complete."""
    for file_id in named_in(answers):
        await db.registration_file_chunks.delete_many({"file_id": file_id})
        await db.registration_files.delete_one({"_id": file_id})


async def describe(db, file_id) -> dict | None:
    try:
        oid = ObjectId(str(file_id))
    except (InvalidId, TypeError):
        return None
    return await db.registration_files.find_one({"_id": oid})


async def read(db, doc: dict) -> bytes:
    chunks = await db.registration_file_chunks.find({"file_id": doc["_id"]}).sort("n", 1).to_list(None)
    return b"".join(bytes(c["data"]) for c in chunks)
