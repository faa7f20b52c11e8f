"""The one internal call every change to an event's live state makes after persisting it.

`StateChanges.announce` is where the real-time layer hooks in: listeners are
registered at start-up (the WebSocket hub, a Redis publisher) and each is
called with the event id and the change.  With no listener, pages show the new
state on their next load.

A change without a `kind` is a change of the event's live state (slides,
broadcast, days, gate).  A change with one concerns something else that pages
watch live (REGISTRATIONS: the registrations of the event changed; TICKETS:
what is left of its tickets may have changed; ACCESS: one person's access to
it changed, `user` naming them, so their open connections are closed and
re-admitted); each listener acts only on the kinds it knows.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

REGISTRATIONS = "registrations"
TICKETS = "tickets"
ACCESS = "access"

Listener = Callable[[object, dict], Awaitable[None]]


class StateChanges:
    def __init__(self):
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def announce(self, event_id, change: dict) -> None:
        for listener in list(self._listeners):
            try:
                await listener(event_id, change)
            except Exception:
                # The change is already persisted; a failing listener must not
                # turn a successful admin action into an error page.
                log.exception("state change listener failed", extra={"event_id": str(event_id)})
