"""Stored questions to speakers and the rules for asking, voting and moderating.

A question belongs to one event and one schedule item (the session it was
asked in) and keeps that binding for good: nothing here deletes questions,
so a session's questions can still be read after the event, even if the
item is later taken off the schedule.

Life of a question: `pending` until a moderator sets it `approved`,
`rejected` or `answered`.  Moderators may then move it between those three
in any direction (to undo a mistake); a speaker may only mark an approved
question answered.  Until it is approved (or answered) only its author and
the moderators see it.

Votes: one per user, kept as the set of voters inside the question with a
count next to it, both changed by one conditional update, so the count can
never drift from the set however many processes take votes at once.  Only
approved questions take votes.  The author does not vote for their own
question: asking already says they want the answer, and a count of "other
people who want this too" is what moderators and speakers read.

Asking is idempotent: a retried `ask` carries the same client id, and the
unique index on (event_id, user_id, client_id) returns the stored question
instead of storing a second one.

`version` grows with every status change, so a client holding two copies of
a question (one from a list, one from a live update) keeps the newer one.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from accounts.users import AccountDoc
from core.clock import utcnow
from core.text import strip_bidi

PENDING, APPROVED, REJECTED, ANSWERED = "pending", "approved", "rejected", "answered"
STATUSES = (PENDING, APPROVED, REJECTED, ANSWERED)
MODERATED = (APPROVED, REJECTED, ANSWERED)   # what moderation may set
PUBLIC = (APPROVED, ANSWERED)                # what every member of the event sees
MAX_TEXT = 500
MAX_CLIENT_ID = 64
MAX_ITEM_ID = 64
# Questions of one user waiting for moderation in one event: beyond this a
# single account could bury the moderators' queue.
MAX_PENDING = 10
LIST_LIMIT = 300

# Error codes, the same strings as the live protocol's.
INVALID, NOT_FOUND, FORBIDDEN, TOO_MANY_PENDING = "invalid", "not_found", "forbidden", "too_many_pending"

_HEX_ID = re.compile(r"^[0-9a-f]{24}$")
_NO_VOTERS = {"voters": 0}


class QuestionError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# --- input ---------------------------------------------------------------------

def question_id(value) -> ObjectId:
    if not isinstance(value, str) or not _HEX_ID.match(value):
        raise QuestionError(INVALID, "`question` must be a question id (24 hex digits)")
    return ObjectId(value)


def item_id(value) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ITEM_ID:
        raise QuestionError(INVALID, f"`item` must be a schedule item id of at most {MAX_ITEM_ID} characters")
    return value


def clean_text(value) -> str:
    text = strip_bidi(value).strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_TEXT:
        raise QuestionError(INVALID, f"`text` must be 1 to {MAX_TEXT} characters")
    return text


def client_id(value) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_CLIENT_ID:
        raise QuestionError(INVALID, f"`client_id` must be a non-empty string of at most {MAX_CLIENT_ID} characters")
    return value


async def find_item(db, event_id: ObjectId, item: str, main_id: ObjectId | None = None) -> tuple[dict, dict] | None:
    """(the schedule item, the event holding it: `_id` and `privacy`), read fresh (staff edit it live); else None.

    A channel (`main_id`: its main event) has no schedule of its own: its
    items are the main event's sessions that run in it.
    """
    if main_id is None:
        query: dict[str, Any] = {"_id": event_id, "schedule.id": item}
    else:
        query = {"_id": main_id, "schedule": {"$elemMatch": {"id": item, "channel_id": str(event_id)}}}
    doc = await db.events.find_one(query, {"privacy": 1, "schedule": {"$elemMatch": {"id": item}}})
    if not doc or not doc.get("schedule"):
        return None
    return doc["schedule"][0], doc


# --- changes -------------------------------------------------------------------

# Whether the asker may see a session: (the item, the event holding it as `find_item` reads it) -> bool.
Admits = Callable[[dict, dict], Awaitable[bool]]


async def ask(db, *, event_id: ObjectId, item, user: AccountDoc, locale: str, text, client,
              main_id: ObjectId | None = None, admits: Admits | None = None) -> tuple[dict, bool]:
    """Store a pending question; returns (question, created).  created is False for a retry.

    `main_id`: the connection's event is a channel of that event.  `admits`:
    a session the asker may not see is refused as if it did not exist.
    """
    item = item_id(item)
    text = clean_text(text)
    client = client_id(client)
    key = {"event_id": event_id, "user_id": user["_id"], "client_id": client}
    existing = await db.questions.find_one(key, _NO_VOTERS)
    if existing:
        return existing, False
    found = await find_item(db, event_id, item, main_id)
    if found is None or (admits is not None and not await admits(*found)):
        raise QuestionError(NOT_FOUND, "no such schedule item in this event")
    waiting = await db.questions.count_documents({"event_id": event_id, "user_id": user["_id"],
                                                  "status": PENDING})
    if waiting >= MAX_PENDING:
        raise QuestionError(TOO_MANY_PENDING,
                            f"{MAX_PENDING} of your questions are waiting for moderation; wait for them")
    doc = {
        "_id": ObjectId(), "event_id": event_id, "item_id": item, "user_id": user["_id"],
        "name": user.get("name") or "", "locale": locale, "text": text, "client_id": client,
        "status": PENDING, "version": 1, "voters": [], "votes": 0, "created_at": utcnow(),
        "moderated_by": None, "moderated_at": None, "answered_at": None,
    }
    try:
        await db.questions.insert_one(doc)
    except DuplicateKeyError:
        return await db.questions.find_one(key, _NO_VOTERS), False
    del doc["voters"]
    return doc, True


async def vote(db, *, event_id: ObjectId, question, user_id: ObjectId,
               on: bool = True) -> tuple[dict, bool]:
    """Add (or with on=False withdraw) the user's vote; returns (question, changed).

    Voting twice, or withdrawing a vote never given, changes nothing and is
    not an error: a client retrying after a lost connection gets the same answer.
    """
    question = question_id(question)
    match: dict[str, Any]
    if on:
        match = {"voters": {"$ne": user_id}, "user_id": {"$ne": user_id}}
        update = {"$addToSet": {"voters": user_id}, "$inc": {"votes": 1}}
    else:
        match = {"voters": user_id}
        update = {"$pull": {"voters": user_id}, "$inc": {"votes": -1}}
    doc = await db.questions.find_one_and_update(
        {"_id": question, "event_id": event_id, "status": APPROVED, **match}, update,
        projection=_NO_VOTERS, return_document=ReturnDocument.AFTER)
    if doc:
        return doc, True
    doc = await _unchanged(db, question, event_id)
    if doc["status"] != APPROVED:
        raise QuestionError(FORBIDDEN, "only approved questions take votes")
    if on and doc["user_id"] == user_id:
        raise QuestionError(FORBIDDEN, "you cannot vote for your own question")
    return doc, False


async def _unchanged(db, question: ObjectId, event_id: ObjectId) -> dict:
    """The question a conditional update left alone, to say why; NOT_FOUND when it is not this event's."""
    doc = await db.questions.find_one({"_id": question, "event_id": event_id}, _NO_VOTERS)
    if doc is None:
        raise QuestionError(NOT_FOUND, "no such question")
    return doc


async def moderate(db, *, event_id: ObjectId, question, status, actor: AccountDoc,
                   moderator: bool, speaker: bool) -> tuple[dict, bool]:
    """Set a question's status; returns (question, changed).

    Moderators set approved, rejected or answered from any status; speakers
    only mark approved questions answered.  Setting the status it already
    has changes nothing.
    """
    if not moderator and not speaker:
        raise QuestionError(FORBIDDEN, "only moderators moderate questions")
    if status not in MODERATED:
        raise QuestionError(INVALID, "`status` must be approved, rejected or answered")
    if not moderator and status != ANSWERED:
        raise QuestionError(FORBIDDEN, "speakers may only mark questions answered")
    question = question_id(question)
    now = utcnow()
    changes = {"status": status, "moderated_by": actor["_id"], "moderated_at": now,
               "answered_at": now if status == ANSWERED else None}
    # The status condition makes the change a compare-and-set: two
    # moderators clicking at once produce one change, not two.
    doc = await db.questions.find_one_and_update(
        {"_id": question, "event_id": event_id, "status": {"$ne": status} if moderator else APPROVED},
        {"$set": changes, "$inc": {"version": 1}},
        projection=_NO_VOTERS, return_document=ReturnDocument.AFTER)
    if doc:
        return doc, True
    doc = await _unchanged(db, question, event_id)
    if doc["status"] == status:
        return doc, False
    raise QuestionError(FORBIDDEN, "speakers may only mark approved questions answered")


# --- reading ---------------------------------------------------------------------

_OLDEST = [("created_at", 1), ("_id", 1)]
_MOST_VOTED = [("votes", -1), ("created_at", 1), ("_id", 1)]
_LATEST_ANSWERED = [("answered_at", -1), ("_id", -1)]
_LATEST_MODERATED = [("moderated_at", -1), ("_id", -1)]


async def listing(db, *, event_id: ObjectId, item: str | None, user_id: ObjectId, moderator: bool,
                  limit: int = LIST_LIMIT, hidden: Collection[str] = ()) -> tuple[list[dict], set[ObjectId], bool]:
    """What one member sees: (questions, ids they voted for, complete).

    `hidden`: sessions this member may not see; their questions are left out.

    Moderators: every question, pending first (oldest first: a queue), then
    approved (most voted first), answered, rejected.  Everyone else: their own
    pending questions, then approved, answered, and their own rejected ones.
    At most `limit`; complete is False when more exist.
    """
    base: dict = {"event_id": event_id}
    if item is not None and item in hidden:
        return [], set(), True
    if item is not None:
        base["item_id"] = item
    elif hidden:
        base["item_id"] = {"$nin": sorted(hidden)}
    mine: dict[str, Any] = {} if moderator else {"user_id": user_id}
    groups = [({"status": PENDING, **mine}, _OLDEST),
              ({"status": APPROVED}, _MOST_VOTED),
              ({"status": ANSWERED}, _LATEST_ANSWERED),
              ({"status": REJECTED, **mine}, _LATEST_MODERATED)]
    found: list[dict] = []
    complete = True
    for extra, order in groups:
        room = limit - len(found)
        docs = await db.questions.find({**base, **extra}, _NO_VOTERS).sort(order) \
            .limit(room + 1).to_list(None)
        if len(docs) > room:
            found.extend(docs[:room])
            complete = False
            break
        found.extend(docs)
    voted = set()
    if found:
        voted = {d["_id"] for d in await db.questions.find(
            {"_id": {"$in": [d["_id"] for d in found]}, "voters": user_id}, {"_id": 1}).to_list(None)}
    return found, voted, complete


async def vote_counts(db, event_id: ObjectId, ids) -> dict[str, dict[str, int]]:
    """Current vote counts of the visible questions among `ids`, by session: {item id: {question id: votes}}."""
    docs = await db.questions.find({"_id": {"$in": list(ids)}, "event_id": event_id,
                                    "status": {"$in": list(PUBLIC)}},
                                   {"_id": 1, "votes": 1, "item_id": 1}).to_list(None)
    out: dict[str, dict[str, int]] = {}
    for d in docs:
        out.setdefault(d.get("item_id") or "", {})[str(d["_id"])] = d["votes"]
    return out


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def fields(doc: dict) -> dict:
    """A question as clients see it (never the list of voters)."""
    return {"id": str(doc["_id"]), "event": str(doc["event_id"]), "item": doc["item_id"],
            "status": doc["status"], "version": doc["version"], "text": doc["text"],
            "author": ({"id": "", "name": "", "erased": True} if doc.get("erased")
                       else {"id": str(doc["user_id"]), "name": doc["name"]}), "locale": doc["locale"],
            "votes": doc["votes"], "created_at": _iso(doc["created_at"]),
            "answered_at": _iso(doc.get("answered_at"))}


def wire(doc: dict) -> dict:
    """The `question` frame published when a question is asked or changes status."""
    return {"type": "question", **fields(doc)}


def removal(doc: dict) -> dict:
    """A rejection as the public sees it: which question to drop, not what it said."""
    return {"type": "question", "id": str(doc["_id"]), "event": str(doc["event_id"]),
            "item": doc["item_id"], "status": doc["status"], "version": doc["version"]}
