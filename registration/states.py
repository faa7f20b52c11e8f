"""The registration state machine: one transition table, one way to move along it.

Every change of a registration's state goes through `transition`: it checks
the move against `TRANSITIONS` (which also says who may make it: the
attendee, staff or the system), writes it as one conditional update guarded
by the state it was read in, and records it in the audit log.  Two staff
clicking at once, or staff and the attendee, read the same state; only the
first write matches it, the other gets `Conflict` and writes nothing.  An
illegal move raises `IllegalTransition` (a message marked for translation)
before anything is written.

The same table governs every document with a registration's states: an
event registration (a membership, `registration_scope`) and a seat in a
session (`registration.session_seats`, its own `Scope`): a `Scope` names the
collection, what pins a document to its owner, and how a move is audited.

Places are not this module's business: callers take a place before moving to
a state that holds one and give it back after leaving such a state
(`registration.places`, `registration.actions`).
"""
from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping
from typing import Any

from pymongo import ReturnDocument

from access import audit
from access.roles import ATTENDEE as ATTENDEE_ROLE
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from registration.model import (
    CANCELLED,
    EXPIRED,
    OFFERED,
    PENDING,
    REGISTERED,
    REJECTED,
    STATE_LABELS,
    UNCONFIRMED,
    WAITING,
    state_of,
)

# Who makes a move.
ATTENDEE, STAFF, SYSTEM = "attendee", "staff", "system"
ACTORS = (ATTENDEE, STAFF, SYSTEM)

_ANY = frozenset(ACTORS)
_SYS = frozenset({SYSTEM})
_STAFF = frozenset({STAFF})
_PERSON = frozenset({ATTENDEE, STAFF})
# The registration counts once the person acts (their confirmed address, an
# accepted offer) or the system places it; staff approve with their own moves.
_COUNTS = frozenset({ATTENDEE, SYSTEM})

# (from, to) -> who may make the move.  The diagram in `registration.model`,
# plus two moves it implies: staff may move someone from the waiting list
# straight to a place (an overbooking they choose), and staff may reject a
# holder.  A cancelled registration or an expired offer may register again
# (the one document per person and event is reused); a rejection is final
# for the person, and only staff may register them again (as staff register
# anyone, taking a place whatever the capacity: `attendees.registry`).
# The system also moves registrations for tickets (`orders.holders`): a
# ticket paid for admits its holder whatever their registration waited for,
# and a ticket that ends (passed to another holder, its order cancelled or
# refunded) cancels its holder's registration.
_TICKETED = frozenset({STAFF, SYSTEM})
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (UNCONFIRMED, PENDING): _COUNTS,
    (UNCONFIRMED, WAITING): _COUNTS,
    (UNCONFIRMED, REGISTERED): _COUNTS,
    (PENDING, REGISTERED): _TICKETED,
    (PENDING, WAITING): _STAFF,
    (PENDING, REJECTED): _STAFF,
    (PENDING, CANCELLED): _PERSON,
    (WAITING, OFFERED): frozenset({SYSTEM, STAFF}),
    (WAITING, REGISTERED): _TICKETED,
    (WAITING, CANCELLED): _PERSON,
    (WAITING, REJECTED): _STAFF,
    (OFFERED, REGISTERED): _ANY,
    (OFFERED, EXPIRED): _SYS,
    (OFFERED, CANCELLED): _PERSON,
    (OFFERED, REJECTED): _STAFF,
    (REGISTERED, CANCELLED): _ANY,
    (REGISTERED, REJECTED): _STAFF,
    (CANCELLED, PENDING): _COUNTS,
    (CANCELLED, WAITING): _COUNTS,
    (CANCELLED, REGISTERED): _ANY,
    (EXPIRED, PENDING): _COUNTS,
    (EXPIRED, WAITING): _COUNTS,
    (EXPIRED, REGISTERED): _ANY,
    (REJECTED, REGISTERED): _STAFF,
}

# Where a new registration may go, and from where a person may register again.
ENTRY_STATES = frozenset({PENDING, WAITING, REGISTERED})
REOPENABLE = frozenset({UNCONFIRMED, CANCELLED, EXPIRED})


class TransitionError(Refusal):
    """A refused move; `message` is marked for translation, `params` fill it."""


class IllegalTransition(TransitionError):
    def __init__(self, current: str, wanted: str):
        super().__init__(N_("A registration that is “%(current)s” cannot become “%(wanted)s”."),
                         current=STATE_LABELS.get(current, current), wanted=STATE_LABELS.get(wanted, wanted))
        self.current, self.wanted = current, wanted


class Conflict(TransitionError):
    """Someone else changed the registration first; nothing was written."""

    def __init__(self):
        super().__init__(N_("This registration was changed by someone else a moment ago. "
                            "Reload the page to see its state."))


@dataclasses.dataclass(frozen=True)
class Scope:
    """Where the documents moved along the table live, and how their moves are audited."""
    collection: str
    query: Mapping[str, Any]                          # pins a document to its owner (the event, a session)
    action: str                                       # audited as "<action>.<state>"
    describe: Callable[[Mapping[str, Any]], dict[str, Any]]   # the audit params naming the document


def _describe_registration(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"registration_id": str(doc["_id"]), "email": doc["email"]}


def registration_scope(event: Mapping[str, Any]) -> Scope:
    """The event's registrations: attendee memberships of the event."""
    return Scope("memberships", {"scope_id": event["_id"], "role": ATTENDEE_ROLE}, "registration",
                 _describe_registration)


def allowed(current: str, wanted: str, actor_kind: str) -> bool:
    return actor_kind in TRANSITIONS.get((current, wanted), frozenset())


def check(current: str, wanted: str, actor_kind: str) -> None:
    """Raise IllegalTransition unless `actor_kind` may move a registration from `current` to `wanted`."""
    if actor_kind not in ACTORS or not allowed(current, wanted, actor_kind):
        raise IllegalTransition(current, wanted)


def _state_guard(current: str) -> Any:
    # Staff registrations stored before states existed have no `state`; they are REGISTERED.
    return {"$in": [REGISTERED, None]} if current == REGISTERED else current


async def transition(db, event: Mapping[str, Any], membership: Mapping[str, Any], wanted: str, *,
                     actor_kind: str, actor: Mapping[str, Any] | None = None,
                     fields: Mapping[str, Any] | None = None, unset: tuple[str, ...] = (),
                     reason: str = "", now: datetime.datetime | None = None,
                     scope: Scope | None = None) -> dict[str, Any]:
    """Move `membership` (as read) to `wanted`; returns the registration as stored after the move.

    `fields` are set in the same write (an offer's deadline, a waiting
    position, answers), `unset` removed.  Raises IllegalTransition (nothing
    written) or Conflict (the registration is no longer in the state it was
    read in; nothing written).  `scope`: another kind of document moved
    along the same table (default: the event's registrations).
    """
    scope = scope or registration_scope(event)
    current = state_of(membership)
    check(current, wanted, actor_kind)
    now = now or utcnow()
    update: dict[str, Any] = {"$set": {**(fields or {}), "state": wanted, "state_at": now}}
    if unset:
        update["$unset"] = {name: "" for name in unset}
    after = await db[scope.collection].find_one_and_update(
        {**scope.query, "_id": membership["_id"], "state": _state_guard(current)},
        update, return_document=ReturnDocument.AFTER)
    if after is None:
        raise Conflict()
    await audit.record(db, actor=actor, action=f"{scope.action}.{wanted}", event=event,
                       params={**scope.describe(membership), "by": actor_kind,
                               **({"reason": reason} if reason else {})},
                       before={"state": current}, after={"state": wanted})
    return after


async def transition_first(db, event: Mapping[str, Any], query: Mapping[str, Any], wanted: str, *,
                           sort: list[tuple[str, int]], actor_kind: str, actor: Mapping[str, Any] | None = None,
                           fields: Mapping[str, Any] | None = None,
                           now: datetime.datetime | None = None,
                           scope: Scope | None = None) -> dict[str, Any] | None:
    """Move the first of the event's registrations matching `query` (in `sort` order) to `wanted`.

    `query` names the state moved from (`{"state": WAITING}`).  One
    conditional update finds and moves the person, so of several processes
    claiming "the first waiting person" at once each claims a different one.
    Returns the registration after the move, or None when nobody matches.
    """
    scope = scope or registration_scope(event)
    current = query["state"]
    check(current, wanted, actor_kind)
    now = now or utcnow()
    after = await db[scope.collection].find_one_and_update(
        {**query, **scope.query, "state": _state_guard(current)},
        {"$set": {**(fields or {}), "state": wanted, "state_at": now}},
        sort=sort, return_document=ReturnDocument.AFTER)
    if after is None:
        return None
    await audit.record(db, actor=actor, action=f"{scope.action}.{wanted}", event=event,
                       params={**scope.describe(after), "by": actor_kind},
                       before={"state": current}, after={"state": wanted})
    return after
