"""The live service: what happens when a client connects, sends a frame or leaves.

The WebSocket handler only authenticates and passes frames here; this
module validates them (realtime.protocol), checks access (access.rules,
through chat.access for room names),
stores (chat.store) and publishes through the hub.  It also turns every
persisted event state change (core.changes) into one published `state`
message carrying each language's view.

Waiting: a member whose gate is still closed connects too (the countdown
page), in a reduced mode: `welcome`, then a `state` with the gate,
broadcast and day flags only, from the event's state channel and nothing
else; every frame but `ping` is refused with `not_started`.  The page goes
to the event once a state says the gate is open.  A waiting connection is
in the state channel under the pseudo-locale WAITING, so the hub's state
fan-out (one frame per locale per process) sends it the reduced view with
no extra work per socket.

Accounts: a display-name change is published once on the process-wide
accounts channel; each process updates its connections of that account
(their next messages carry the new name) and sends them a `profile` frame.
A deleted account is announced the same way, and every process closes its
connections of that account (close code `CLOSE_SIGNED_OUT`) and forgets
the rooms' recent entries it wrote (read again from storage).

Access: when one person's access to an event changes (a ticket passed to
another holder, an order cancelled or refunded, a registration ended:
`core.changes.ACCESS`), this process publishes it once on the accounts
channel, and every process closes that person's connections to the event
and its channels (close code `CLOSE_ACCESS_CHANGED`).  The page reloads,
and its next connection is admitted, or refused, by what is stored now.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from access import rules
from chat import access, room_names
from core.changes import ACCESS
from events import model, view
from events.model import EventDoc
from realtime import protocol
from realtime.connection import Connection, encode
from realtime.frames import text_frame
from realtime.hub import Hub
from realtime.protocol import FrameError
from realtime.reads import ConnectReads

if TYPE_CHECKING:
    # The features import nothing of this module at run time; these names are types only.
    from realtime.device_frames import Devices
    from realtime.discussion_frames import CommunityRooms
    from realtime.donation_frames import DonationTotals
    from realtime.keepalive import Keepalive
    from realtime.presence import Presence
    from realtime.reaction_frames import Reactions
    from realtime.registration_frames import RegistrationCounts
    from realtime.services import LiveServices
    from realtime.ticket_frames import TicketAvailability
    from realtime.watch_frames import WatchFrames

log = logging.getLogger(__name__)

USER_FIELDS = ("_id", "email", "login", "name", "locale", "platform_admin")
WAITING = "waiting"   # the state channel's view for connections behind the closed gate (not a language)
PROFILE = "profile_changed"  # accounts channel notice; clients get a `profile` frame instead
ERASED = "account_erased"    # accounts channel notice: the account's connections close
ACCESS_CHANGED = "access_changed"  # accounts channel notice: the account's connections to one event close

FrameHandler = Callable[[Connection, dict], Awaitable[None]]   # (conn, msg)
ConnectionHook = Callable[[Connection], Awaitable[None]]       # (conn)
RoomHook = Callable[[Connection, str, Any], Awaitable[None]]  # (conn, room, the frame or the stored MessageDoc)


class ProcessMember(Connection):
    """This process's own membership of a channel no socket joins (the accounts channel).

    The hub delivers a channel's notices to a process only while it has a
    member there; this one holds the subscription and receives nothing itself:
    a connection without a socket, whose writes all go nowhere.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(None, "", "", "", 0)

    def write_frame(self, frame: bytes) -> bool:
        return False


class Live:
    def __init__(self, services: LiveServices, hub: Hub, max_buffer: int = 1024 * 1024,
                 rate: float = 5.0, burst: int = 20):
        self.services = services
        self.db = services.db
        self.hub = hub
        self.max_buffer = max_buffer
        self.rate, self.burst = rate, burst
        # Which server process a client talks to: shown to operators and
        # used by tests to prove that clients landed on different processes.
        self.node = f"{socket.gethostname()}:{os.getpid()}"
        # Frame type -> coroutine(conn, msg).  Feature modules (chat,
        # questions, moderation, presence, devices) register theirs through
        # `install(live)`; this module only knows ping.
        self.frames: dict[str, FrameHandler] = {"ping": self.do_ping}
        self.on_open: list[ConnectionHook] = []    # run after welcome and state
        self.on_close: list[ConnectionHook] = []   # run when a connection ends
        # Run by the chat frames before a join or a send is carried out; one
        # raises FrameError to refuse it (moderation).
        self.join_checks: list[RoomHook] = []
        self.send_checks: list[RoomHook] = []
        # Run with the stored document after a chat message is stored and
        # published (moderation: staff hear of support conversations).
        self.after_send: list[RoomHook] = []
        # The features other parts of the process call, set by their
        # `install(live)`; None where a feature is not installed.
        self.keepalive: Keepalive | None = None
        self.presence: Presence | None = None
        self.devices: Devices | None = None
        self.community: CommunityRooms | None = None
        self.registrations: RegistrationCounts | None = None
        self.tickets: TicketAvailability | None = None
        self.donations: DonationTotals | None = None
        self.watching: WatchFrames | None = None
        self.reactions: Reactions | None = None
        self._events: dict[str, EventDoc] = {}
        self._roles: dict[tuple, dict] = {}
        self.reads = ConnectReads(self.db)
        self._accounts: asyncio.Task[None] | None = None  # the join of the accounts channel, once started

    def start(self) -> None:
        self.services.notifier.subscribe(self.on_state_change)
        self.hub.controls[PROFILE] = self._on_profile
        self.hub.controls[ERASED] = self._on_erased
        self.hub.controls[ACCESS_CHANGED] = self._on_access
        self.services.notifier.subscribe(self.on_access_change)
        # Account changes concern every connection here: losing some re-syncs them all.
        self.hub.whole_process.add(room_names.ACCOUNTS)
        self._accounts = self.services.spawn(self.hub.join(ProcessMember(), room_names.ACCOUNTS))

    # --- event state ------------------------------------------------------------

    def state_message(self, event: EventDoc) -> dict:
        locales = {loc: view.live_state(event, loc) for loc in event["locales"]}
        locales[WAITING] = view.waiting_state(event)
        return {"type": "state", "event": str(event["_id"]), "state_version": event.get("state_version", 0),
                "default_locale": event["default_locale"], "locales": locales}

    async def on_state_change(self, event_id, change: dict) -> None:
        if change.get("kind"):
            return  # not the live state (core.changes): its own feature listens
        event = await model.get_event(self.db, event_id)
        if event:
            await self.hub.publish(room_names.state_channel(event_id), self.state_message(event))

    # --- connections ----------------------------------------------------------

    async def open(self, handler, user: dict, event: EventDoc, roles: dict, viewer_locale: str,
                   session: str = "", waiting: bool = False) -> Connection:
        """`session` identifies the browser session (its token hash): one device.

        `waiting`: the gate is closed to this member; the connection waits
        for it (see the module's docstring).
        """
        chat_locale = model.locale_for(event, viewer_locale)
        conn = Connection(handler, str(user["_id"]), str(event["_id"]), WAITING if waiting else chat_locale,
                          self.max_buffer)
        # Only what frames need of the account (a connection lives for hours;
        # the password hash and history of the document need not live with it).
        user = {k: user[k] for k in USER_FIELDS if k in user}
        roles = self._shared_roles(roles)
        conn.info.update(conn_id=secrets.token_hex(8), user=user, event=event, roles=roles,
                         session=session, role=rules.main_role(roles),
                         bucket=protocol.TokenBucket(self.rate, self.burst, time.monotonic()))
        if waiting:
            # Set only when true: ten thousand viewers' `info` stay as small as they were.
            # A waiting socket is not a device watching the event: it has no
            # session for the one-device rule to claim or take over.
            conn.info.update(waiting=True, session="")
        self.hub.add(conn)
        try:
            if waiting:
                await self._wait(conn, user, chat_locale)
            else:
                await self._start(conn, user, event, roles, chat_locale)
        except Exception:
            # Half-opened (the database failed, or a hook did): undone, so
            # the hub keeps no connection whose socket is about to be aborted.
            await self.close(conn)
            raise
        return conn

    async def _start(self, conn: Connection, user: dict, event: EventDoc, roles: dict, chat_locale: str) -> None:
        """What a new connection gets: its ping slot, the state channel, `welcome`, `state`, the features' hooks."""
        if self.keepalive is not None:
            self.keepalive.assign(conn)
        # Join first, then read: a change landing in between arrives as a
        # newer state_version, and clients apply only newer states.
        await self.hub.join(conn, room_names.state_channel(conn.event_id))
        self._welcome(conn, user, chat_locale, rooms=access.default_rooms(event, conn.user_id, roles, chat_locale),
                      moderator=rules.is_moderator(roles))
        fresh = await self._fresh(conn)
        self._state(conn, fresh, view.live_state(fresh, chat_locale))
        for hook in self.on_open:
            await hook(conn)

    async def _wait(self, conn: Connection, user: dict, chat_locale: str) -> None:
        """A waiting connection: its ping slot, the state channel, `welcome`, the reduced `state`; no hooks."""
        if self.keepalive is not None:
            self.keepalive.assign(conn)
        await self.hub.join(conn, room_names.state_channel(conn.event_id))
        self._welcome(conn, user, chat_locale, rooms=[], moderator=False, waiting=True)
        fresh = await self._fresh(conn)
        self._state(conn, fresh, view.waiting_state(fresh))

    def _welcome(self, conn: Connection, user: dict, chat_locale: str, **fields) -> None:
        conn.send({"type": "welcome", "protocol": protocol.VERSION, "conn_id": conn.info["conn_id"],
                   "node": self.node,
                   "user": {"id": conn.user_id, "name": user.get("name", ""), "role": conn.info["role"]},
                   "event": conn.event_id, "locale": chat_locale, **fields})

    async def _fresh(self, conn: Connection) -> EventDoc:
        """The event as read after joining its state channel (shared by its connections)."""
        event = conn.info["event"]
        fresh = self._shared(await self.reads.event(event["_id"]) or event)
        conn.info["event"] = fresh
        return fresh

    @staticmethod
    def _state(conn: Connection, event: EventDoc, state: dict) -> None:
        conn.write_frame(text_frame(encode({
            "type": "state", "event": conn.event_id, "state_version": event.get("state_version", 0),
            "state": state})))

    def _shared(self, event: EventDoc) -> EventDoc:
        """One copy of an unchanged event document for all of its connections.

        Ten thousand viewers of one event would otherwise each keep their own
        copy (texts, schedule, decks) for the access checks of their frames.
        """
        key = str(event["_id"])
        cached = self._events.get(key)
        if cached is event or cached == event:
            return cached
        self._events[key] = event
        return event

    def _shared_roles(self, roles: dict) -> dict:
        """One read-only copy per distinct set of roles, holding what frames check.

        Frames look at role names, a commentator's languages and a ticket's
        grants only; ten thousand attendees share one `{"attendee": ...}`
        instead of each keeping its membership documents.
        """
        key = tuple(sorted((role, tuple(m.get("locales") or ()), m.get("grants")) for role, m in roles.items()))
        shared = self._roles.get(key)
        if shared is None:
            # A ticket's grants (`access.grants`) are shared as they are: one frozen copy per type.
            shared = self._roles[key] = {role: {"role": role, "locales": list(locales),
                                                **({"grants": grants} if grants is not None else {})}
                                         for role, locales, grants in key}
        return shared

    async def close(self, conn: Connection) -> None:
        conn.closed = True
        await self.hub.remove(conn)
        for hook in self.on_close:
            try:
                await hook(conn)
            except Exception:
                log.exception("close hook failed")

    # --- frames -------------------------------------------------------------------

    async def handle(self, conn: Connection, raw) -> None:
        # Every frame, well-formed or not, spends a token; the refusal is sent
        # after parsing so that it names the frame (its `ref`) it refuses.
        allowed = conn.info["bucket"].take(time.monotonic())
        ref = None
        try:
            msg = protocol.parse(raw)
            ref = msg.get("ref")
            if ref is not None and not protocol.valid_ref(ref):
                ref = None
                raise FrameError(protocol.INVALID, "`ref` must be a short string or number")
            if not allowed:
                raise FrameError(protocol.RATE_LIMITED, "too many frames; slow down", ref)
            if conn.info.get("waiting") and msg["type"] != "ping":
                raise FrameError(protocol.NOT_STARTED,
                                 "the event has not started: this connection only waits for the gate", ref)
            if conn.info.get("tickets_only") and msg["type"] != "ping":
                raise FrameError(protocol.TICKETS_ONLY, "this connection only follows the ticket sale", ref)
            if conn.info.get("donations_only") and msg["type"] != "ping":
                raise FrameError(protocol.DONATIONS_ONLY, "this connection only follows a campaign's totals", ref)
            handler = self.frames.get(msg["type"])
            if handler is None:
                raise FrameError(protocol.UNKNOWN_TYPE, f"unknown frame type {msg['type'][:40]!r}", ref)
            await handler(conn, msg)
        except FrameError as exc:
            if not allowed and exc.code != protocol.RATE_LIMITED:
                return  # a flood of malformed frames gets no answers to amplify it
            conn.send(protocol.error(exc.code, exc.message, exc.ref if exc.ref is not None else ref,
                                     **exc.fields))

    async def do_ping(self, conn: Connection, msg: dict) -> None:
        conn.send({"type": "pong", "ref": msg.get("ref")})

    def room_for(self, conn: Connection, msg: dict, joined: bool = True) -> str:
        """The frame's `room`, checked: valid, this connection may enter it (and has joined)."""
        room = protocol.string(msg, "room", 120)
        info = conn.info
        if not access.can_enter(room, info["event"], conn.user_id, info["roles"], conn.locale):
            if access.is_unknown(room, info["event"]):
                raise FrameError(protocol.UNKNOWN_ROOM, "no such room in this event", msg.get("ref"))
            raise FrameError(protocol.FORBIDDEN, "this room is not yours", msg.get("ref"))
        if joined and room not in conn.rooms and room not in conn.recovering:
            raise FrameError(protocol.NOT_JOINED, "join the room first", msg.get("ref"))
        return room


    # --- accounts -------------------------------------------------------------------

    async def profile_changed(self, user_id, name: str) -> None:
        """Announce a stored display-name change to every process (accounts.preferences calls this)."""
        if self._accounts is not None and not self._accounts.done():
            await self._accounts
        await self.hub.publish(room_names.ACCOUNTS, {"type": PROFILE, "user": str(user_id), "name": name})

    async def account_erased(self, user_id) -> None:
        """Announce that an account is being deleted (accounts.erase calls this): its sockets close."""
        if self._accounts is not None and not self._accounts.done():
            await self._accounts
        await self.hub.publish(room_names.ACCOUNTS, {"type": ERASED, "user": str(user_id)})

    async def on_access_change(self, event_id, change: dict) -> None:
        """Change bus listener: a person's access to an event changed (`core.changes.ACCESS`)."""
        if change.get("kind") != ACCESS or not isinstance(change.get("user"), str):
            return
        if self._accounts is not None and not self._accounts.done():
            await self._accounts
        await self.hub.publish(room_names.ACCOUNTS, {"type": ACCESS_CHANGED, "user": change["user"],
                                                     "event": str(event_id)})

    def _on_access(self, channel: str, message: dict, members) -> None:
        """Hub control: close this process's connections of the account to the event and its channels."""
        user_id, event_id = message.get("user"), message.get("event")
        if not isinstance(user_id, str) or not isinstance(event_id, str):
            log.error("malformed access notice", extra={"channel": channel})
            return
        for conn in list(self.hub.by_user.get(user_id, ())):
            event = conn.info.get("event") or {}
            if conn.event_id == event_id or str(event.get("parent_id") or "") == event_id:
                conn.close(protocol.CLOSE_ACCESS_CHANGED, "access changed")

    def _on_erased(self, channel: str, message: dict, members) -> None:
        user_id = message.get("user")
        if not isinstance(user_id, str):
            log.error("malformed account notice", extra={"channel": channel})
            return
        for conn in list(self.hub.by_user.get(user_id, ())):
            conn.close(protocol.CLOSE_SIGNED_OUT, "signed out")
        if self.watching is not None:
            # Unwritten watch time would otherwise be written after the deletion removed it.
            self.watching.ledger.forget(user_id)
        # The rooms this process keeps recent entries of would hand a resuming client the person's
        # messages under their name: forgotten, they are read again from storage, where the deletion
        # leaves them by "deleted user" (announced once before it and once after, so a room read
        # again in between is forgotten again).
        for room in [room for room, cache in self.hub.caches.items() if cache.mentions(user_id)]:
            self.hub.caches.pop(room, None)

    def _on_profile(self, channel: str, message: dict, members) -> None:
        """Hub control: this process's connections of the account take the new name."""
        user_id, name = message.get("user"), message.get("name")
        if not isinstance(user_id, str) or not isinstance(name, str):
            log.error("malformed profile notice", extra={"channel": channel})
            return
        frame = text_frame(encode({"type": "profile", "user": {"id": user_id, "name": name}}))
        for conn in list(self.hub.by_user.get(user_id, ())):
            conn.info["user"]["name"] = name
            conn.write_frame(frame)
