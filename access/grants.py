"""What a ticket grants its holder: the one pure description every access rule reads.

A ticket type (`orders.ticket_types`) says what a registration of that type
grants; `access.roles.roles_in` reads the type of an attendee's registration
and hands its grants to the rules with the attendee role (`HeldRole`), so
the rules never read storage:

- `channels`: the main event's channels (child events) the holder enters,
  by id; None is every channel, including ones added later.  The main event
  itself is always granted: the ticket is for it.
- `sessions`: the programme items the holder may enter (see, save, take a
  seat in, ask about), by id; None is every session.
- `recordings`: whether the recordings of the granted sessions are shown
  once they are published.
- `features`: the interactive features open to the holder: CHAT (the
  language rooms), QUESTIONS (asking and voting) and NETWORKING (the
  discussions with other attendees on community pages).

Staff roles are never limited by a ticket; neither is an attendee without
one in an event that sells none (`EVERYTHING`).  A registration whose type
no longer exists grants `NOTHING`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

CHAT, QUESTIONS, NETWORKING = "chat", "questions", "networking"
FEATURES = (CHAT, QUESTIONS, NETWORKING)


@dataclasses.dataclass(frozen=True)
class Grants:
    """Hashable, so the live side shares one copy per distinct set of roles."""
    channels: frozenset[str] | None
    sessions: frozenset[str] | None
    recordings: bool
    features: frozenset[str]

    def admits_channel(self, channel_id: Any) -> bool:
        return self.channels is None or str(channel_id) in self.channels

    def admits_session(self, item_id: Any) -> bool:
        return self.sessions is None or str(item_id) in self.sessions

    def admits_recording(self, item_id: Any) -> bool:
        return self.recordings and self.admits_session(item_id)

    def allows(self, feature: str) -> bool:
        return feature in self.features


EVERYTHING = Grants(None, None, True, frozenset(FEATURES))
NOTHING = Grants(frozenset(), frozenset(), False, frozenset())


def _ids(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset(str(v) for v in value) if isinstance(value, Iterable) and not isinstance(value, str) \
        else frozenset()


def of(doc: Mapping[str, Any] | None) -> Grants:
    """A ticket type's stored `grants` as Grants; a missing type grants nothing."""
    if doc is None:
        return NOTHING
    features = doc.get("features")
    return Grants(channels=_ids(doc.get("channels")), sessions=_ids(doc.get("sessions")),
                  recordings=bool(doc.get("recordings")),
                  features=frozenset(f for f in (features or ()) if f in FEATURES))


def stored(grants: Grants) -> dict[str, Any]:
    """Grants as a ticket type stores them (lists sorted, so equal grants store equal)."""
    return {"channels": None if grants.channels is None else sorted(grants.channels),
            "sessions": None if grants.sessions is None else sorted(grants.sessions),
            "recordings": grants.recordings, "features": sorted(grants.features)}
