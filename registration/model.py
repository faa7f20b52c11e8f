"""A registration's states and the event's registration settings, as stored.

A registration for an event is the attendee's membership (`access.roles`)
with a `state`; only REGISTERED admits to the event (`access.roles.holds`).
Every change of state goes through `registration.states` (one transition
table, every transition audited).

    UNCONFIRMED -> (email confirmed) -> PENDING | WAITING | REGISTERED
    PENDING     -> REGISTERED | WAITING (full) | REJECTED | CANCELLED
    WAITING     -> OFFERED | CANCELLED | REJECTED
    OFFERED     -> REGISTERED (accepted) | EXPIRED (time ran out; the place passes on) | CANCELLED
    REGISTERED  -> CANCELLED (by the attendee or by staff)

States holding a place: REGISTERED and OFFERED (a place offered from the
waiting list is kept for the person until the offer expires).
"""
from __future__ import annotations

from typing import Any, TypedDict

from core.i18n import N_
from events.model import EventDoc

UNCONFIRMED = "unconfirmed"
PENDING = "pending"
WAITING = "waiting"
OFFERED = "offered"
REGISTERED = "registered"
CANCELLED = "cancelled"
REJECTED = "rejected"
EXPIRED = "expired"

STATES = (UNCONFIRMED, PENDING, WAITING, OFFERED, REGISTERED, CANCELLED, REJECTED, EXPIRED)
HOLDS_PLACE = frozenset({REGISTERED, OFFERED})

STATE_LABELS = {
    UNCONFIRMED: N_("Email not confirmed"),
    PENDING: N_("Awaiting approval"),
    WAITING: N_("On the waiting list"),
    OFFERED: N_("Place offered"),
    REGISTERED: N_("Registered"),
    CANCELLED: N_("Cancelled"),
    REJECTED: N_("Rejected"),
    EXPIRED: N_("Offer expired"),
}

# Where a registration came from (the registrant list filters by it).
SOURCE_STAFF, SOURCE_IMPORT, SOURCE_FORM, SOURCE_ONE_CLICK, SOURCE_INVITATION = (
    "staff", "import", "form", "one_click", "invitation")

DEFAULT_OFFER_HOURS = 48


class Settings(TypedDict):
    open: bool
    capacity: int | None
    approval: bool
    offer_hours: int


def settings_of(event: EventDoc) -> Settings:
    """The event's registration settings, with defaults for events stored before them."""
    found: dict[str, Any] = dict(event.get("registration") or {})
    capacity = found.get("capacity")
    return {
        "open": bool(found.get("open", False)),
        "capacity": capacity if isinstance(capacity, int) and capacity >= 0 else None,
        "approval": bool(found.get("approval", False)),
        "offer_hours": int(found.get("offer_hours") or DEFAULT_OFFER_HOURS),
    }


def state_of(membership) -> str:
    """A registration's state; staff registrations stored before states existed are REGISTERED."""
    return membership.get("state") or REGISTERED
