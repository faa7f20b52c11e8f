"""Chat moderation: time-limited mutes and bans, slow mode, and staff read positions.

Rules (enforced by the live side; who may act on whom is `access.rules`):
- a *mute* stops a user from sending in every chat room of the event; they
  still read;
- a *ban* also takes them out of the event's chat rooms (public and
  support) and keeps them out until it ends; slides and event state go on;
- both last 1 minute to 7 days and may be lifted early; a new sanction of
  the same kind replaces the running one (the latest decision wins);
- chat staff (moderating roles and commentators) cannot be sanctioned and
  are exempt from slow mode (`rules.held_to_sanctions`); moderating roles
  act on anyone, commentators on users whose chat language is one of
  theirs (`rules.may_moderate`);
- *slow mode* lets each user send one message per N seconds in a room.

Sanctions are documents `{event_id, user_id, kind, until, by, created_at}`;
a TTL index removes them after `until`, but reads always compare `until`
with the clock too.  Slow mode is the `slow_mode` field of the room's
document in `rooms`; the per-user "last sent" moments live in Redis when
there is one (shared by every process), else in this process's memory
(`SlowGate`).  Staff consoles keep per-room read offsets in `reads`.
"""
from __future__ import annotations

import datetime
import math
import re
import secrets
import time

from bson import ObjectId
from pymongo import ReturnDocument

from access import audit, rules
from accounts.users import AccountDoc
from chat import room_names
from community import pages as community_pages
from core.clock import utcnow
from core.i18n import LOCALES
from events import model
from events.model import EventDoc

MUTE, BAN = "mute", "ban"
KINDS = (MUTE, BAN)
MIN_MINUTES, MAX_MINUTES = 1, 7 * 24 * 60
MAX_SLOW = 3600
ROOMS_PAGE = 100
CHAT_KINDS = (room_names.PUBLIC, room_names.SUPPORT, room_names.COMMUNITY)


# --- whom staff act on ------------------------------------------------------------

def chat_locale(event: EventDoc, user: AccountDoc, fallback: str) -> str:
    """The chat language the live endpoint gives this user on connecting.

    The same rule as the WebSocket handler: the profile language if the
    platform knows it (else the installation default), then the event's
    language for it.
    """
    wanted = user.get("locale") if user.get("locale") in LOCALES else fallback
    return model.locale_for(event, wanted)


# --- sanctions ------------------------------------------------------------------

def _oid(value) -> ObjectId:
    return value if isinstance(value, ObjectId) else ObjectId(str(value))


async def sanction(db, *, event: EventDoc, user_id, kind: str, minutes: int, actor: AccountDoc,
                   now: datetime.datetime | None = None) -> dict:
    """Mute or ban a user in an event until now + minutes; replaces a running one of that kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown sanction {kind!r}")
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise ValueError("minutes out of range")
    now = now or utcnow()
    key = {"event_id": event["_id"], "user_id": _oid(user_id), "kind": kind}
    before = await db.sanctions.find_one(key)
    if before and before["until"] <= now:
        before = None
    doc = await db.sanctions.find_one_and_update(
        key, {"$set": {"until": now + datetime.timedelta(minutes=minutes), "by": actor["_id"],
                       "created_at": now}},
        upsert=True, return_document=ReturnDocument.AFTER)
    await audit.record(db, actor=actor, action=f"chat_{kind}", event=event,
                       params={"user_id": str(key["user_id"]), "minutes": minutes},
                       before={"until": before["until"]} if before else None,
                       after={"until": doc["until"]})
    return doc


async def lift(db, *, event: EventDoc, user_id, kind: str, actor: AccountDoc,
               now: datetime.datetime | None = None) -> bool:
    """End a running sanction early; False when there was none."""
    if kind not in KINDS:
        raise ValueError(f"unknown sanction {kind!r}")
    now = now or utcnow()
    doc = await db.sanctions.find_one_and_delete(
        {"event_id": event["_id"], "user_id": _oid(user_id), "kind": kind})
    if not doc or doc["until"] <= now:
        return False
    await audit.record(db, actor=actor, action=f"chat_un{kind}", event=event,
                       params={"user_id": str(doc["user_id"])},
                       before={"until": doc["until"]}, after=None)
    return True


async def active(db, event_id, user_id, now: datetime.datetime | None = None) -> dict[str, dict]:
    """The user's running sanctions in the event: kind -> document."""
    now = now or utcnow()
    docs = await db.sanctions.find({"event_id": _oid(event_id), "user_id": _oid(user_id),
                                    "until": {"$gt": now}}).to_list(None)
    return {d["kind"]: d for d in docs}


async def active_many(db, event_id, user_ids, now: datetime.datetime | None = None) -> dict[str, dict]:
    """`active` for several accounts of one event in one query: {user id as given: kind -> document}."""
    now = now or utcnow()
    given = {_oid(u): u for u in user_ids}
    found: dict = {u: {} for u in user_ids}
    async for d in db.sanctions.find({"event_id": _oid(event_id), "user_id": {"$in": list(given)},
                                      "until": {"$gt": now}}):
        found[given[d["user_id"]]][d["kind"]] = d
    return found


# --- slow mode ----------------------------------------------------------------------

async def slow_mode(db, room: str) -> int:
    doc = await db.rooms.find_one({"_id": room}, {"slow_mode": 1})
    return int((doc or {}).get("slow_mode") or 0)


async def set_slow_mode(db, *, event: EventDoc, room: str, seconds: int, actor: AccountDoc) -> int:
    """Set a room's slow mode (0 turns it off); returns the previous value."""
    if not 0 <= seconds <= MAX_SLOW:
        raise ValueError("seconds out of range")
    before = await db.rooms.find_one_and_update(
        {"_id": room}, {"$set": {"slow_mode": seconds},
                        "$setOnInsert": {"epoch": secrets.token_hex(4), "offset": 0, "created_at": utcnow()}},
        upsert=True, return_document=ReturnDocument.BEFORE)
    previous = int((before or {}).get("slow_mode") or 0)
    if previous != seconds:
        await audit.record(db, actor=actor, action="chat_slow_mode", event=event, params={"room": room},
                           before={"slow_mode": previous}, after={"slow_mode": seconds})
    return previous


_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]))
if last and now - last < window then
  return window - (now - last)
end
redis.call('SET', KEYS[1], now, 'PX', window)
return 0
"""


def slow_key(room: str, user_id) -> str:
    """The stamp of a user's last send in a room.  The room name carries the event's
    {hash tag}, so the stamp sits in the event's Redis Cluster slot."""
    return f"slow:{room}:{user_id}"


class SlowGate:
    """One message per window per (room, user), atomically across processes.

    With Redis, a small script compares the user's last send in the room
    (Redis's clock, so every process agrees) with the room's current window
    and records the new send in the same step.  Without Redis there is one
    process, and a dict does the same.  A refused send records nothing.
    """

    PRUNE_EVERY = 1000

    def __init__(self, redis=None, clock=time.monotonic):
        self.redis = redis
        self.clock = clock
        self._script = redis.register_script(_TAKE) if redis is not None else None
        self._last: dict[tuple[str, str], float] = {}
        self._calls = 0

    async def take(self, room: str, user_id: str, seconds: int) -> int:
        """0 when the user may send now (and the send is recorded), else whole seconds to wait."""
        if seconds <= 0:
            return 0
        if self._script is not None:
            wait_ms = int(await self._script(keys=[slow_key(room, user_id)], args=[seconds * 1000]))
            return max(1, math.ceil(wait_ms / 1000)) if wait_ms > 0 else 0
        now = self.clock()
        self._calls += 1
        if self._calls % self.PRUNE_EVERY == 0:
            self._last = {k: v for k, v in self._last.items() if now - v < MAX_SLOW}
        last = self._last.get((room, user_id))
        if last is not None and now - last < seconds:
            return max(1, math.ceil(seconds - (now - last)))
        self._last[(room, user_id)] = now
        return 0


# --- staff consoles: rooms with unread counts ---------------------------------------

async def room_offset(db, room: str) -> int:
    doc = await db.rooms.find_one({"_id": room}, {"offset": 1})
    return int((doc or {}).get("offset") or 0)


async def mark_read(db, user_id, room: str, offset: int) -> int:
    """Remember that this staff member has read the room up to `offset` (never goes back)."""
    doc = await db.reads.find_one_and_update(
        {"user_id": _oid(user_id), "room": room},
        {"$max": {"offset": offset}, "$set": {"at": utcnow()}},
        upsert=True, return_document=ReturnDocument.AFTER)
    return doc["offset"]


async def console_rooms(db, event: EventDoc, reader_id, roles: dict, after: str | None = None,
                        limit: int = ROOMS_PAGE) -> tuple[list[dict], str | None]:
    """One page of the chat rooms a staff member (`roles`) serves, in room-name order.

    Every public room of the languages they moderate is listed (even before
    its first message); support rooms only once they have an entry; for
    moderators also the discussion of every published community page whose
    discussion is not off.  A support room names its owner as far as the
    reader may see them (`rules.may_see_attendee`).  Returns (rooms, next
    cursor or None).  `unread` counts stream entries after the reader's read
    offset, deletions included: an upper bound of unread texts.
    """
    event_id = str(event["_id"])
    locs = sorted(rules.staff_locales(roles, event["locales"]))
    if not locs:
        return [], None
    publics = [room_names.public_room(event_id, loc) for loc in locs]
    if rules.may_moderate(roles, None):
        publics += await community_pages.discussion_rooms(db, event["_id"])
    publics = [r for r in publics if after is None or r > after]
    support_prefix = "^" + re.escape(f"ev:{{{event_id}}}:{room_names.SUPPORT}:") + "(?:" + "|".join(locs) + "):"
    name_filter: dict = {"$regex": support_prefix}
    if after is not None:
        name_filter["$gt"] = after
    support = await db.rooms.find({"_id": name_filter, "offset": {"$gt": 0}}) \
        .sort("_id", 1).limit(limit + 1).to_list(None)
    public_docs = {d["_id"]: d for d in await db.rooms.find({"_id": {"$in": publics}}).to_list(None)} \
        if publics else {}
    entries = sorted([(r, public_docs.get(r)) for r in publics] + [(d["_id"], d) for d in support],
                     key=lambda e: e[0])
    more = len(entries) > limit
    entries = entries[:limit]
    names = [name for name, _ in entries]
    reads = {r["room"]: r["offset"] for r in await db.reads.find(
        {"user_id": _oid(reader_id), "room": {"$in": names}}).to_list(None)} if names else {}
    # Every name here was made by room_names (a language room, a support room, a
    # discussion), so every one parses.
    parsed = {name: info for name in names if (info := room_names.parse_room(name)) is not None}
    user_ids = [ObjectId(p["user_id"]) for p in parsed.values()
                if p["user_id"] and rules.may_see_attendee(roles, reader_id, p["user_id"], p["locale"])]
    people = {u["_id"]: u.get("name") or "" for u in await db.users.find(
        {"_id": {"$in": user_ids}}, {"name": 1}).to_list(None)} if user_ids else {}
    out = []
    for name, doc in entries:
        info = parsed[name]
        last = int((doc or {}).get("offset") or 0)
        out.append({
            "room": name, "kind": info["kind"], "locale": info["locale"],
            "user": ({"id": info["user_id"], "name": people.get(ObjectId(info["user_id"]), "")}
                     if info["user_id"] else None),
            "epoch": (doc or {}).get("epoch"), "offset": last,
            "unread": max(0, last - reads.get(name, 0)),
            "slow_mode": int((doc or {}).get("slow_mode") or 0),
        })
    return out, (names[-1] if more and names else None)
