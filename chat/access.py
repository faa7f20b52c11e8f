"""Which chat room a name is, for the rules of who may enter it (access.rules).

The rules themselves (who enters, writes in and moderates which room) are
decided by `access.rules` from a room's language and owner; this module
parses a room name (`chat.room_names`), checks that it is a room of this
event in one of its languages, and asks them:
- attendees (and speakers) chat in the public room of their language and in
  their own private support room;
- commentators serve the public rooms of their languages and every support
  room of those languages;
- moderators, event managers and admins see every room of every language,
  and moderate (delete, mute, ban, slow mode);
- a community page's discussion is one room for every language: every
  member of the event may enter it, moderators moderate it.  Whether the
  page exists, is published and has its discussion open, closed or off is
  stored state, checked when joining and sending (realtime.discussion_frames).

Names alone are not enough for support rooms either: a room name can carry
any account id, and a support room is the room of an attendee of this
event.  `support_room_exists` is the stored-state half of that rule; the
live side asks it whenever staff open someone else's support room.
"""
from __future__ import annotations

from bson import ObjectId

from access import grants as G
from access import rules
from chat import room_names
from events.model import EventDoc


def is_unknown(room: str, event: EventDoc) -> bool:
    """Whether `room` names no room at all: not a room name, or a language room of this
    event in a language the event does not have (`unknown_room`).

    A room of another event exists and is someone else's (`forbidden`).
    """
    info = room_names.parse_room(room)
    return not info or (info["event_id"] == str(event["_id"]) and not _has_language(info, event))


def _has_language(info: room_names.RoomInfo, event: EventDoc) -> bool:
    return info["kind"] not in (room_names.PUBLIC, room_names.SUPPORT) or info["locale"] in event["locales"]


def can_enter(room: str, event: EventDoc, user_id: str, roles: dict, chat_locale: str) -> bool:
    info = room_names.parse_room(room)
    if not info or info["event_id"] != str(event["_id"]) or not _has_language(info, event):
        return False
    return rules.may_enter_room(roles, user_id, chat_locale, locale=info["locale"], owner=info["user_id"])


def may_moderate(room: str, roles: dict) -> bool:
    """Whether these roles moderate the room (a name `can_enter` allows): by its language."""
    info = room_names.parse_room(room)
    return info is not None and rules.may_moderate(roles, info["locale"])


async def support_room_exists(db, event: EventDoc, room: str) -> bool:
    """Whether a support room (a name `can_enter` allows) belongs to someone of this event.

    It does while its owner holds a role in the event or its space, and
    once it has entries (the history of someone whose registration ended
    stays readable to staff, as the staff console lists it).  Otherwise the
    name only carries an account id: staff of one space could open rooms
    named after people of another space, write there, and read those
    people's names back from the console's room list.
    """
    info = room_names.parse_room(room)
    if not info or info["kind"] != room_names.SUPPORT or info["event_id"] != str(event["_id"]):
        return False
    owner = ObjectId(info["user_id"])
    # A channel's people hold their roles in its main event (`roles.roles_in`).
    scopes = [s for s in (event.get("space_id"), event.get("parent_id"), event["_id"]) if s is not None]
    if await db.memberships.find_one({"user_id": owner, "scope_id": {"$in": scopes}}, {"_id": 1}):
        return True
    return await db.rooms.find_one({"_id": room, "offset": {"$gt": 0}}, {"_id": 1}) is not None


def default_rooms(event: EventDoc, user_id: str, roles: dict, chat_locale: str) -> list[str]:
    """The rooms a client joins on connecting; staff open the others from their console.

    A ticket without the chat keeps its holder out of the language room (`access.rules.may_enter_room`).
    """
    event_id = str(event["_id"])
    rooms = [room_names.public_room(event_id, chat_locale)] if rules.may_use(roles, G.CHAT) else []
    if not rules.is_chat_staff(roles):
        rooms.append(room_names.support_room(event_id, chat_locale, user_id))
    for locale in sorted(rules.commentator_locales(roles) & set(event["locales"])):
        room = room_names.public_room(event_id, locale)
        if room not in rooms:
            rooms.append(room)
    return rooms
