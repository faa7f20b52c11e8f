"""Channel and room naming, and sharding: small pure functions.

A channel is what the broker carries between processes; a room is what a
client joins.  Every room has one channel.  The questions channels are not
rooms: connections are put in them on connecting and cannot join or post
there.  Names are built and parsed only here so that the hub, the broker and
the chat store agree on them.

    ev:<event_id>:state              live event state (slides, broadcast, day, gate)
    ev:<event_id>:pub:<locale>       the public chat room of one language
    ev:<event_id>:sup:<locale>:<uid> an attendee's private support room
    ev:<event_id>:com:<page_id>      the discussion of one community page (every language)
    ev:<event_id>:q                  questions to speakers, as every member sees them
    ev:<event_id>:qmod               questions to speakers, as moderators see them
    ev:<event_id>:user:<uid>         one account's connections to one event (sanctions)
    ev:<event_id>:reg                registration counts, for the staff who manage registrations
    ev:<event_id>:tix                what is left of the event's tickets, for pages that sell them
    user:<uid>                       per-account control (device takeover)
    accounts                         account changes (display names), joined once per process

Redis Cluster routes sharded pub/sub by hash slot; the `{...}` hash tag keeps
all channels of one event in one slot, so one event's traffic stays on one
shard connection.
"""
from __future__ import annotations

import re
import zlib
from typing import TypedDict

PUBLIC, SUPPORT, QUESTIONS, QUESTIONS_MOD, STATE = "pub", "sup", "q", "qmod", "state"
COMMUNITY = "com"
REGISTRATIONS = "reg"
TICKETS = "tix"
ACCOUNTS = "accounts"
_ROOM = re.compile(r"^ev:\{([0-9a-f]{24})\}:(pub:[a-z]{2}|sup:[a-z]{2}:[0-9a-f]{24}|com:[0-9a-f]{24})$")


def state_channel(event_id) -> str:
    return f"ev:{{{event_id}}}:{STATE}"


def registrations_channel(event_id) -> str:
    return f"ev:{{{event_id}}}:{REGISTRATIONS}"


def tickets_channel(event_id) -> str:
    return f"ev:{{{event_id}}}:{TICKETS}"


def public_room(event_id, locale: str) -> str:
    return f"ev:{{{event_id}}}:{PUBLIC}:{locale}"


def support_room(event_id, locale: str, user_id) -> str:
    return f"ev:{{{event_id}}}:{SUPPORT}:{locale}:{user_id}"


def community_room(event_id, page_id) -> str:
    return f"ev:{{{event_id}}}:{COMMUNITY}:{page_id}"


def questions_room(event_id) -> str:
    return f"ev:{{{event_id}}}:{QUESTIONS}"


def questions_session_room(event_id, item_id) -> str:
    """The questions of one session with a privacy of its own: only those who may see it join."""
    return f"ev:{{{event_id}}}:{QUESTIONS}:{item_id}"


def questions_mod_room(event_id) -> str:
    return f"ev:{{{event_id}}}:{QUESTIONS_MOD}"


class RoomInfo(TypedDict):
    """What a room name says; the fields a kind of room lacks are None."""
    event_id: str
    kind: str  # PUBLIC, SUPPORT or COMMUNITY
    locale: str | None  # public and support rooms
    user_id: str | None  # support rooms: the attendee the room belongs to
    page_id: str | None  # community rooms


def parse_room(name: str) -> RoomInfo | None:
    """{'event_id', 'kind', 'locale', 'user_id', 'page_id'} for a valid room name, else None."""
    if not isinstance(name, str) or len(name) > 120:
        return None
    m = _ROOM.match(name)
    if not m:
        return None
    parts = m.group(2).split(":")
    out: RoomInfo = {"event_id": m.group(1), "kind": parts[0], "locale": None, "user_id": None, "page_id": None}
    if parts[0] in (PUBLIC, SUPPORT):
        out["locale"] = parts[1]
    if parts[0] == SUPPORT:
        out["user_id"] = parts[2]
    if parts[0] == COMMUNITY:
        out["page_id"] = parts[1]
    return out


def hash_tag(channel: str) -> str:
    start = channel.find("{")
    end = channel.find("}", start + 1)
    return channel[start + 1:end] if start != -1 and end > start + 1 else channel


def shard(channel: str, shards: int) -> int:
    """Which of `shards` broker connections carries this channel (stable across processes)."""
    return zlib.crc32(hash_tag(channel).encode()) % shards if shards > 1 else 0
