"""Moderation frames: mute, ban, unmute, unban, slow mode; staff consoles' rooms and reads.

Who may do what (the rules themselves are in access.rules):
- moderating roles (rules.is_moderator) act on every room and every
  non-staff member of the event;
- commentators act on rooms of their languages and on members whose chat
  language is one of theirs;
- nobody sanctions staff; everyone else gets `forbidden`.

Support conversations: every new entry of a support room is announced once
on the event's state channel; each process writes a `support` frame to its
staff connections that may answer it (moderators, commentators of the
room's language), so consoles list new conversations and count unread
entries without asking again.

A sanction is stored, then published once on the event's state channel,
addressed to the account (`Hub.publish_to`): every process writes the
`sanction` frame to that account's local connections, and for a ban takes
them out of the event's chat rooms.  Sends and joins are checked
against the stored sanctions and the room's slow mode through the hooks
`live.send_checks` and `live.join_checks`.
"""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from access import roles as R
from access import rules
from accounts import users
from accounts.users import AccountDoc
from chat import access, moderation, room_names
from community import pages as community_pages
from realtime import protocol
from realtime.connection import Connection, encode
from realtime.frames import text_frame
from realtime.protocol import FrameError
from storage import batching

if TYPE_CHECKING:
    from realtime.live import Live

_USER_ID = re.compile(r"^[0-9a-f]{24}$")
SETTINGS_TTL = 2.0   # seconds a process trusts its copy of a room's slow mode while not told of changes
SANCTIONS_TTL = 10.0  # seconds the sanctions read on connecting answer joins (notices clear them sooner)
SUPPORT_POSTED = "support_posted"  # state channel notice; staff get a `support` frame instead


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


class Moderation:
    def __init__(self, live: Live):
        self.live = live
        self.db = live.db
        self.gate = moderation.SlowGate(live.services.redis)
        # room -> (slow mode seconds, monotonic expiry).  Changes published
        # to a room reach this copy at once while the process has members
        # there; the expiry covers the time it had none.
        self._slow: dict[str, tuple[int, float]] = {}
        # Connecting viewers' sanctions, one query per event per loop turn.
        self._on_connect = batching.TickBatch(self._read_sanctions)
        # event id -> this process's staff connections (moderators, commentators)
        self.staff: dict[str, set[Connection]] = {}

    # --- connection life ---------------------------------------------------------

    async def on_open(self, conn: Connection) -> None:
        # Sanctions reach the account through the event's state channel,
        # joined before this hook runs: one stored in between arrives as a frame.
        if rules.is_chat_staff(conn.info["roles"]):
            self.staff.setdefault(conn.event_id, set()).add(conn)
            if conn.closed:
                await self.on_close(conn)
            return
        found = await self._on_connect.submit((conn.event_id, conn.user_id))
        # Kept for the joins that follow at once (a client joins its rooms
        # right after connecting); a sanction notice for the account drops it.
        conn.info["sanctions"] = (time.monotonic() + SANCTIONS_TTL, found)
        for kind, doc in sorted(found.items()):
            conn.send(self._sanction_frame(conn.event_id, conn.user_id, kind, doc["until"]))

    async def on_close(self, conn: Connection) -> None:
        conns = self.staff.get(conn.event_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.staff[conn.event_id]

    async def _read_sanctions(self, keys: list) -> list:
        by_event: dict = {}
        for event_id, user_id in keys:
            by_event.setdefault(event_id, set()).add(user_id)
        found = {}
        for event_id, user_ids in by_event.items():
            for user_id, sanctions in (await moderation.active_many(self.db, event_id, user_ids)).items():
                found[(event_id, user_id)] = sanctions
        return [found[key] for key in keys]

    async def _active(self, conn: Connection) -> dict:
        """The account's running sanctions: as read on connecting if that was just now."""
        kept = conn.info.get("sanctions")
        if kept is not None and kept[0] > time.monotonic():
            now = moderation.utcnow()
            return {kind: doc for kind, doc in kept[1].items() if doc["until"] > now}
        return await moderation.active(self.db, conn.event_id, conn.user_id)

    def on_broadcast(self, channel: str, message: dict, members) -> None:
        """Hub listener: apply a published ban or a room's new settings in this process."""
        kind = message.get("type")
        if kind == "room_settings":
            self._slow[channel] = (int(message.get("slow_mode") or 0), time.monotonic() + SETTINGS_TTL)
        elif kind == "sanction" and channel == room_names.state_channel(message.get("event")):
            for conn in members:
                if conn.user_id == message.get("user"):
                    conn.info.pop("sanctions", None)
            if message.get("kind") == moderation.BAN and message.get("active"):
                for conn in list(members):
                    if conn.user_id == message.get("user"):
                        self.live.services.spawn(self._leave_chat(conn))

    async def _leave_chat(self, conn: Connection) -> None:
        for room in list(conn.rooms) + [r for r in conn.recovering if r not in conn.rooms]:
            info = room_names.parse_room(room)
            if info and info["kind"] in moderation.CHAT_KINDS:
                await self.live.hub.leave(conn, room)
                conn.send({"type": "left", "room": room, "reason": "banned"})

    # --- checks before joining and sending --------------------------------------------

    async def check_join(self, conn: Connection, room: str, msg: dict) -> None:
        if not self._chat_room(room):
            return
        await self._support_room_exists(conn, room, msg)
        if rules.held_to_sanctions(conn.info["roles"]):
            found = await self._active(conn)
            if moderation.BAN in found:
                raise FrameError(protocol.BANNED, "you are banned from this chat", msg.get("ref"),
                                 until=_iso(found[moderation.BAN]["until"]))
        seconds = await self._slow_mode(room)
        if seconds:
            conn.send({"type": "room_settings", "room": room, "slow_mode": seconds})

    async def check_send(self, conn: Connection, room: str, msg: dict) -> None:
        if not rules.held_to_sanctions(conn.info["roles"]):
            return
        found = await moderation.active(self.db, conn.event_id, conn.user_id)
        for kind, code, text in ((moderation.BAN, protocol.BANNED, "you are banned from this chat"),
                                 (moderation.MUTE, protocol.MUTED, "you are muted")):
            if kind in found:
                raise FrameError(code, text, msg.get("ref"), until=_iso(found[kind]["until"]))
        seconds = await self._slow_mode(room)
        if not seconds:
            return
        wait = await self.gate.take(room, conn.user_id, seconds)
        if wait:
            # A retry of a message already stored is answered as a duplicate, not refused.
            if await self.db.messages.find_one({"room": room, "user_id": conn.info["user"]["_id"],
                                                "client_id": msg.get("client_id")}, {"_id": 1}):
                return
            raise FrameError(protocol.SLOW_MODE, f"slow mode: one message per {seconds} s in this room",
                             msg.get("ref"), retry_after=wait)

    async def _slow_mode(self, room: str) -> int:
        cached = self._slow.get(room)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        seconds = await moderation.slow_mode(self.db, room)
        self._slow[room] = (seconds, now + SETTINGS_TTL)
        if len(self._slow) > 10000:
            self._slow = {r: v for r, v in self._slow.items() if v[1] > now}
        return seconds

    async def _support_room_exists(self, conn: Connection, room: str, msg: dict) -> None:
        """Someone else's support room must be that of a member of the event (chat.access)."""
        info = room_names.parse_room(room)
        if info and info["kind"] == room_names.SUPPORT and info["user_id"] != conn.user_id \
                and not await access.support_room_exists(self.db, conn.info["event"], room):
            raise FrameError(protocol.UNKNOWN_ROOM, "no such room", msg.get("ref"))

    @staticmethod
    def _chat_room(room: str) -> bool:
        info = room_names.parse_room(room)
        return bool(info and info["kind"] in moderation.CHAT_KINDS)

    # --- support conversations ------------------------------------------------------

    async def after_send(self, conn: Connection, room: str, doc: dict) -> None:
        info = room_names.parse_room(room)
        if info is None or info["kind"] != room_names.SUPPORT:
            return
        attendee = info["user_id"]
        await self.live.hub.publish(room_names.state_channel(conn.event_id), {
            "type": SUPPORT_POSTED, "event": conn.event_id, "room": room, "locale": info["locale"],
            "user": attendee,
            # The attendee's name as they write; a staff reply does not know it.
            "name": conn.info["user"].get("name", "") if conn.user_id == attendee else None,
            "epoch": doc["epoch"], "offset": doc["offset"]})

    def on_support(self, channel: str, message: dict, members) -> None:
        """Hub control: the `support` frame to this process's staff who may answer the room."""
        staff = self.staff.get(str(message.get("event")))
        if not staff:
            return
        locale = message.get("locale")
        user = {"id": message.get("user")}
        if message.get("name") is not None:
            user["name"] = message["name"]
        frame = text_frame(encode({"type": "support", "event": message.get("event"), "room": message.get("room"),
                                   "locale": locale, "user": user, "epoch": message.get("epoch"),
                                   "offset": message.get("offset")}))
        for conn in list(staff):
            if rules.may_moderate(conn.info["roles"], locale):
                conn.write_frame(frame)

    # --- sanctions ----------------------------------------------------------------

    def _staff_only(self, conn: Connection, msg: dict) -> None:
        if not rules.is_chat_staff(conn.info["roles"]):
            raise FrameError(protocol.FORBIDDEN, "only moderators and commentators moderate", msg.get("ref"))

    async def _target(self, conn: Connection, msg: dict) -> AccountDoc:
        """The frame's `user`: a non-staff member of the event this connection may act on."""
        self._staff_only(conn, msg)
        raw = msg.get("user")
        if not isinstance(raw, str) or not _USER_ID.match(raw):
            raise FrameError(protocol.INVALID, "`user` must be a user id", msg.get("ref"))
        target = await users.by_id(self.db, raw)
        event = conn.info["event"]
        target_roles = await R.roles_in(self.db, target, **R.event_scopes(event)) if target else {}
        if target is None or not target_roles:
            raise FrameError(protocol.NOT_FOUND, "no such member of this event", msg.get("ref"))
        if not rules.held_to_sanctions(target_roles):
            raise FrameError(protocol.FORBIDDEN, "staff cannot be muted or banned", msg.get("ref"))
        locale = moderation.chat_locale(event, target, self.live.services.settings.default_locale)
        if not rules.may_moderate(conn.info["roles"], locale):
            raise FrameError(protocol.FORBIDDEN, "this member chats in a language you do not serve",
                             msg.get("ref"))
        return target

    def _sanction_frame(self, event_id: str, user_id: str, kind: str, until) -> dict:
        return {"type": "sanction", "event": event_id, "user": user_id, "kind": kind,
                "active": until is not None, "until": _iso(until)}

    async def _impose(self, conn: Connection, msg: dict, kind: str) -> None:
        target = await self._target(conn, msg)
        minutes = protocol.integer(msg, "minutes", moderation.MIN_MINUTES, moderation.MAX_MINUTES)
        doc = await moderation.sanction(self.db, event=conn.info["event"], user_id=target["_id"], kind=kind,
                                        minutes=minutes, actor=conn.info["user"])
        user_id = str(target["_id"])
        await self.live.hub.publish_to(room_names.state_channel(conn.event_id), user_id,
                                       self._sanction_frame(conn.event_id, user_id, kind, doc["until"]))
        conn.send({"type": "ack", "ref": msg.get("ref"), "user": user_id, "kind": kind,
                   "active": True, "until": _iso(doc["until"])})

    async def _lift(self, conn: Connection, msg: dict, kind: str) -> None:
        target = await self._target(conn, msg)
        lifted = await moderation.lift(self.db, event=conn.info["event"], user_id=target["_id"], kind=kind,
                                       actor=conn.info["user"])
        user_id = str(target["_id"])
        if lifted:
            await self.live.hub.publish_to(room_names.state_channel(conn.event_id), user_id,
                                           self._sanction_frame(conn.event_id, user_id, kind, None))
        conn.send({"type": "ack", "ref": msg.get("ref"), "user": user_id, "kind": kind,
                   "active": False, "lifted": lifted})

    async def mute(self, conn: Connection, msg: dict) -> None:
        await self._impose(conn, msg, moderation.MUTE)

    async def ban(self, conn: Connection, msg: dict) -> None:
        await self._impose(conn, msg, moderation.BAN)

    async def unmute(self, conn: Connection, msg: dict) -> None:
        await self._lift(conn, msg, moderation.MUTE)

    async def unban(self, conn: Connection, msg: dict) -> None:
        await self._lift(conn, msg, moderation.BAN)

    # --- slow mode ------------------------------------------------------------------

    async def _staff_room(self, conn: Connection, msg: dict) -> str:
        self._staff_only(conn, msg)
        room = self.live.room_for(conn, msg, joined=False)
        info = room_names.parse_room(room)
        if info is None or info["kind"] not in moderation.CHAT_KINDS:
            raise FrameError(protocol.INVALID, "only chat rooms have these settings", msg.get("ref"))
        if not rules.may_moderate(conn.info["roles"], info["locale"]):
            raise FrameError(protocol.FORBIDDEN, "this room is not in a language you serve", msg.get("ref"))
        # These frames store settings and read positions under the room's
        # name without joining it: the room must exist as a join requires.
        await self._support_room_exists(conn, room, msg)
        if info["kind"] == room_names.COMMUNITY \
                and await community_pages.discussion_state(self.db, conn.event_id, info["page_id"]) is None:
            raise FrameError(protocol.UNKNOWN_ROOM, "this page has no discussion", msg.get("ref"))
        return room

    async def slow_mode(self, conn: Connection, msg: dict) -> None:
        room = await self._staff_room(conn, msg)
        seconds = protocol.integer(msg, "seconds", 0, moderation.MAX_SLOW)
        previous = await moderation.set_slow_mode(self.db, event=conn.info["event"], room=room,
                                                  seconds=seconds, actor=conn.info["user"])
        self._slow[room] = (seconds, time.monotonic() + SETTINGS_TTL)
        if previous != seconds:
            await self.live.hub.publish(room, {"type": "room_settings", "room": room, "slow_mode": seconds})
        conn.send({"type": "ack", "ref": msg.get("ref"), "room": room, "slow_mode": seconds})

    # --- staff consoles ------------------------------------------------------------------

    async def read(self, conn: Connection, msg: dict) -> None:
        room = await self._staff_room(conn, msg)
        offset = protocol.integer(msg, "offset", 0)
        if offset > await moderation.room_offset(self.db, room):
            raise FrameError(protocol.INVALID, "`offset` is beyond the room's last entry", msg.get("ref"))
        stored = await moderation.mark_read(self.db, conn.info["user"]["_id"], room, offset)
        conn.send({"type": "ack", "ref": msg.get("ref"), "room": room, "offset": stored})

    async def rooms(self, conn: Connection, msg: dict) -> None:
        self._staff_only(conn, msg)
        after = protocol.string(msg, "after", 120, required=False)
        limit = protocol.integer(msg, "limit", 1, moderation.ROOMS_PAGE, required=False) or moderation.ROOMS_PAGE
        items, cursor = await moderation.console_rooms(
            self.db, conn.info["event"], conn.info["user"]["_id"], conn.info["roles"], after, limit)
        conn.send({"type": "rooms", "ref": msg.get("ref"), "rooms": items, "next": cursor})


def install(live: Live) -> Moderation:
    mod = Moderation(live)
    live.frames.update(mute=mod.mute, ban=mod.ban, unmute=mod.unmute, unban=mod.unban,
                       slow_mode=mod.slow_mode, read=mod.read, rooms=mod.rooms)
    live.on_open.append(mod.on_open)
    live.on_close.append(mod.on_close)
    live.after_send.append(mod.after_send)
    live.hub.controls[SUPPORT_POSTED] = mod.on_support
    live.join_checks.append(mod.check_join)
    live.send_checks.append(mod.check_send)
    live.hub.notice_listeners.append(mod.on_broadcast)
    return mod
