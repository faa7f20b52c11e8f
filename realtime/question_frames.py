"""Question frames: ask, vote, unvote, moderate_question, questions.

Every connection is put in one questions channel when it opens: moderators
(moderators, event managers, admins) in the event's moderators' channel,
which carries every question, pending ones included; everyone else in the
public channel, which carries approved and answered questions and the
removal of rejected ones.  So a pending question reaches the moderators and,
in the answer to its `ask`, its author, and nobody else.  A change is stored
first (questions.store), then published once to each channel concerned.

Vote counts change as fast as people click.  Publishing each vote would send
every viewer one frame per click of every other viewer, so votes are stored
at once but their counts are published in batches: at most one
`question_votes` frame per VOTE_FLUSH seconds per process, carrying the
counts read from storage at that moment (the database, shared by every
process, is where votes are counted).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from access import grants as G
from access import rules
from chat import room_names
from events import model, privacy
from events.model import EventDoc
from questions import store
from questions.store import QuestionError
from realtime import protocol
from realtime.connection import Connection
from realtime.protocol import FrameError
from registration import invitations

if TYPE_CHECKING:
    from realtime.live import Live

log = logging.getLogger(__name__)

VOTE_FLUSH = 0.5


def _refused(exc: QuestionError, msg: dict) -> FrameError:
    return FrameError(exc.code, exc.message, msg.get("ref"))


class QuestionFrames:
    def __init__(self, live: Live, vote_flush: float = VOTE_FLUSH):
        self.live = live
        self.vote_flush = vote_flush
        self._dirty: dict[str, set[ObjectId]] = {}   # event id -> questions whose votes changed
        self._flush: asyncio.Future | None = None
        self._private: dict[str, frozenset[str]] = {}   # event id -> sessions with a questions room of their own

    async def on_open(self, conn: Connection) -> None:
        event = conn.info["event"]
        if event.get("parent_id"):
            # A channel's sessions, and their privacy, are its main event's: read once, at join (the
            # reads of connections joining together are one query), shared like the event itself.
            main = await self.live.reads.event(event["parent_id"])
            if main is not None:
                conn.info["main"] = self.live._shared(main)
        if rules.is_moderator(conn.info["roles"]):
            await self.live.hub.join(conn, room_names.questions_mod_room(conn.event_id))
            return
        await self.live.hub.join(conn, room_names.questions_room(conn.event_id))
        # Sessions with a privacy of their own publish their questions in a room of their own,
        # joined by those who may see the session (as it is when they connect).
        main = self._main(conn)
        private = self._private_items(conn.event_id, main)
        own = [i for i in main["schedule"] if i.get("id") in private]
        for item, seen in zip(own, await self._verdicts(conn, own, main), strict=True):
            if seen:
                await self.live.hub.join(conn, room_names.questions_session_room(conn.event_id, item["id"]))

    # --- sessions the person may see (`events.privacy.session_admits`, as the pages) -------------

    def _main(self, conn: Connection) -> EventDoc:
        """The event holding this connection's sessions: a channel's main event, else its own."""
        return conn.info.get("main") or conn.info["event"]

    async def _invited(self, conn: Connection, main: EventDoc) -> bool:
        """Whether the person holds an invitation to the event: read at most once per connection."""
        held = conn.info.get("invited")
        if held is None:
            held = conn.info["invited"] = await invitations.invited(self.live.db, main, conn.info["user"], None)
        return held

    async def _verdicts(self, conn: Connection, items: Sequence[Mapping[str, Any]],
                        holder: Mapping[str, Any]) -> list[bool]:
        """For each of `items` (sessions of `holder`, as stored): may the person see it?"""
        roles, email = conn.info["roles"], conn.info["user"].get("email")
        settings = model.privacy_of(holder)  # type: ignore[arg-type]
        invited = (privacy.invitation_matters(items, settings, roles, email=email)
                   and await self._invited(conn, self._main(conn)))
        # A session the person's ticket does not grant is as closed to them as one privacy keeps out.
        return [privacy.session_admits(i, settings, roles, email=email, invited=invited)
                and rules.may_enter_session(roles, i.get("id")) for i in items]

    async def _admits(self, conn: Connection, item: dict, holder: dict) -> bool:
        return (await self._verdicts(conn, [item], holder))[0]

    async def _hidden(self, conn: Connection) -> list[str]:
        """The sessions of the event known to the connection that the person may not see."""
        main = self._main(conn)
        items = [i for i in main["schedule"] if i.get("id")]
        return [i["id"] for i, seen in zip(items, await self._verdicts(conn, items, main), strict=True) if not seen]

    # --- frames ---------------------------------------------------------------------

    async def ask(self, conn: Connection, msg: dict) -> None:
        if not rules.is_member(conn.info["roles"]):
            raise FrameError(protocol.FORBIDDEN, "only members of the event ask questions", msg.get("ref"))
        if not rules.may_use(conn.info["roles"], G.QUESTIONS):
            raise FrameError(protocol.FORBIDDEN, "your ticket does not include questions", msg.get("ref"))
        main = conn.info.get("main")
        try:
            doc, created = await store.ask(
                self.live.db, event_id=ObjectId(conn.event_id), item=msg.get("item"),
                user=conn.info["user"], locale=conn.locale, text=msg.get("text"),
                client=msg.get("client_id"), main_id=main["_id"] if main else None,
                admits=lambda item, holder: self._admits(conn, item, holder))
        except QuestionError as exc:
            raise _refused(exc, msg) from None
        if created:
            await self._publish(doc, self._main(conn))
        conn.send({"type": "ack", "ref": msg.get("ref"), "client_id": doc["client_id"],
                   "question": store.fields(doc), "duplicate": not created})

    async def vote(self, conn: Connection, msg: dict, on: bool = True) -> None:
        if not rules.may_use(conn.info["roles"], G.QUESTIONS):
            raise FrameError(protocol.FORBIDDEN, "your ticket does not include questions", msg.get("ref"))
        try:
            doc, changed = await store.vote(self.live.db, event_id=ObjectId(conn.event_id),
                                            question=msg.get("question"),
                                            user_id=conn.info["user"]["_id"], on=on)
        except QuestionError as exc:
            raise _refused(exc, msg) from None
        if changed:
            self._votes_changed(conn.event_id, doc["_id"])
        conn.send({"type": "ack", "ref": msg.get("ref"), "question": str(doc["_id"]), "voted": on,
                   "votes": doc["votes"], "changed": changed})

    async def unvote(self, conn: Connection, msg: dict) -> None:
        await self.vote(conn, msg, on=False)

    async def moderate(self, conn: Connection, msg: dict) -> None:
        roles = conn.info["roles"]
        try:
            doc, changed = await store.moderate(
                self.live.db, event_id=ObjectId(conn.event_id), question=msg.get("question"),
                status=msg.get("status"), actor=conn.info["user"],
                moderator=rules.is_moderator(roles), speaker=rules.is_speaker(roles))
        except QuestionError as exc:
            raise _refused(exc, msg) from None
        if changed:
            await self._publish(doc, self._main(conn))
        conn.send({"type": "ack", "ref": msg.get("ref"), "question": store.fields(doc), "changed": changed})

    async def listing(self, conn: Connection, msg: dict) -> None:
        item = msg.get("item")
        try:
            item = store.item_id(item) if item is not None else None
        except QuestionError as exc:
            raise _refused(exc, msg) from None
        docs, voted, complete = await store.listing(
            self.live.db, event_id=ObjectId(conn.event_id), item=item,
            user_id=conn.info["user"]["_id"], moderator=rules.is_moderator(conn.info["roles"]),
            hidden=await self._hidden(conn))
        conn.send({"type": "questions", "ref": msg.get("ref"), "item": item, "complete": complete,
                   "questions": [{**store.fields(d), "voted": d["_id"] in voted} for d in docs]})

    # --- publishing --------------------------------------------------------------------

    def _private_items(self, event_id: str, main: Mapping[str, Any] | None = None) -> frozenset[str]:
        """Sessions of the event (a channel: of its main event) whose questions have a room of their own.

        Learnt from the event document a connection holds (`main`), and remembered per event for
        the vote counts, which are published with no connection at hand.
        """
        if main is not None:
            self._private[event_id] = _own_level(main)
        return self._private.get(event_id, frozenset())

    def _room_of(self, event_id: str, item_id: str, private: frozenset[str]) -> str:
        return (room_names.questions_session_room(event_id, item_id) if item_id in private
                else room_names.questions_room(event_id))

    async def _publish(self, doc: dict, main: Mapping[str, Any]) -> None:
        event_id = str(doc["event_id"])
        frame = store.wire(doc)
        await self.live.hub.publish(room_names.questions_mod_room(event_id), frame)
        if doc["status"] not in store.PUBLIC and doc["status"] != store.REJECTED:
            return
        room = self._room_of(event_id, doc.get("item_id") or "", self._private_items(event_id, main))
        if doc["status"] in store.PUBLIC:
            await self.live.hub.publish(room, frame)
        else:
            # Also for a question that was only pending: its author holds it
            # (from the ack) and learns the outcome; others ignore unknown ids.
            await self.live.hub.publish(room, store.removal(doc))

    def _votes_changed(self, event_id: str, question: ObjectId) -> None:
        self._dirty.setdefault(event_id, set()).add(question)
        if self._flush is None:
            self._flush = self.live.services.spawn(self._flush_votes())

    async def _flush_votes(self) -> None:
        try:
            await asyncio.sleep(self.vote_flush)
        finally:
            self._flush = None
        dirty, self._dirty = self._dirty, {}
        for event_id, ids in dirty.items():
            try:
                by_item = await store.vote_counts(self.live.db, ObjectId(event_id), ids)
                if not by_item:
                    continue
                everything = {q: n for counts in by_item.values() for q, n in counts.items()}
                await self.live.hub.publish(room_names.questions_mod_room(event_id),
                                            {"type": "question_votes", "event": event_id, "votes": everything})
                private = self._private_items(event_id)
                rooms: dict[str, dict[str, int]] = {}
                for item_id, counts in by_item.items():
                    rooms.setdefault(self._room_of(event_id, item_id, private), {}).update(counts)
                for room, counts in rooms.items():
                    await self.live.hub.publish(room, {"type": "question_votes", "event": event_id,
                                                       "votes": counts})
            except Exception:
                # The votes are stored; the next change or a `questions` list
                # brings the counts.  Other events' counts still go out.
                log.exception("publishing vote counts failed", extra={"event": event_id})


def _own_level(event: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(i["id"] for i in event.get("schedule") or () if i.get("id") and privacy.session_privacy(i))


def install(live: Live) -> QuestionFrames:
    frames = QuestionFrames(live)
    live.frames.update(ask=frames.ask, vote=frames.vote, unvote=frames.unvote,
                       moderate_question=frames.moderate, questions=frames.listing)
    live.on_open.append(frames.on_open)
    return frames
