"""Community discussions on the live side: which pages have a room, and read-only rooms.

A community page's discussion is an ordinary chat room (chat frames store,
resume, delete and moderate it); this module adds what depends on the page:
- `join` is refused with `unknown_room` unless the page exists, is published
  and its discussion is "open" or "closed"; joining a closed one is answered
  with a `room_settings` frame carrying `read_only: true` first;
- `send` is refused with `read_only` in a closed discussion (staff too: a
  closed discussion is an archive) and with `unknown_room` once it is off.
The state is read from storage on every join and send, so a change made in
the admin holds at once on every server process.  `announce` tells the
people in the room when staff change it: new `room_settings`, or a `left`
frame with reason `discussion_off`, after which each process takes its
local connections out of the room.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from chat import moderation, room_names
from community import pages
from realtime import protocol
from realtime.connection import Connection
from realtime.protocol import FrameError

if TYPE_CHECKING:
    from realtime.live import Live

OFF_REASON = "discussion_off"


class CommunityRooms:
    def __init__(self, live: Live):
        self.live = live
        self.db = live.db

    async def _state(self, conn: Connection, room: str, msg: dict) -> str | None:
        info = room_names.parse_room(room)
        if not info or info["kind"] != room_names.COMMUNITY:
            return None
        state = await pages.discussion_state(self.db, conn.event_id, info["page_id"])
        if state is None:
            raise FrameError(protocol.UNKNOWN_ROOM, "this page has no discussion", msg.get("ref"))
        return state

    async def check_join(self, conn: Connection, room: str, msg: dict) -> None:
        if await self._state(conn, room, msg) == pages.CLOSED:
            conn.send(await self.settings(room, closed=True))

    async def check_send(self, conn: Connection, room: str, msg: dict) -> None:
        if await self._state(conn, room, msg) == pages.CLOSED:
            raise FrameError(protocol.READ_ONLY, "this discussion is closed; it can be read, not written to",
                             msg.get("ref"))

    async def settings(self, room: str, closed: bool) -> dict:
        # The whole of the room's settings: processes keep their copy of the
        # slow mode from these frames too (realtime.moderation).
        return {"type": "room_settings", "room": room, "slow_mode": await moderation.slow_mode(self.db, room),
                "read_only": closed}

    async def announce(self, before: dict | None, after: dict | None) -> None:
        """Tell the room what a staff change to its page means for it."""
        page = after or before
        if not page:
            return
        room = pages.room(page)
        if after is not None and pages.live(after):
            closed = after["discussion"] == pages.CLOSED
            if before is None or not pages.live(before) or before["discussion"] != after["discussion"]:
                await self.live.hub.publish(room, await self.settings(room, closed))
        elif pages.live(before):
            await self.live.hub.publish(room, {"type": "left", "room": room, "reason": OFF_REASON})

    def on_broadcast(self, channel: str, message: dict, members) -> None:
        """Hub listener: a discussion switched off takes this process's members out of its room."""
        if message.get("type") != "left" or message.get("reason") != OFF_REASON:
            return
        info = room_names.parse_room(channel)
        if info and info["kind"] == room_names.COMMUNITY:
            for conn in list(members):
                self.live.services.spawn(self.live.hub.leave(conn, channel))


def install(live: Live) -> CommunityRooms:
    rooms = CommunityRooms(live)
    # First in line: a refused send must not use up the sender's slow-mode turn.
    live.join_checks.insert(0, rooms.check_join)
    live.send_checks.insert(0, rooms.check_send)
    live.hub.notice_listeners.append(rooms.on_broadcast)
    live.community = rooms
    return rooms
