"""Seats in sessions with a capacity, from the event page's schedule (POST item, action).

`action` is `take` (a seat, or the waiting list when none is free),
`accept` (a seat offered from the waiting list) or `give_up` (a seat, an
offer or a waiting place).  Giving up asks first: without `confirm=yes` a
plain form post gets a confirmation page; the page's script
(static/js/seats.js) asks in the browser and posts with `confirm=yes`,
asking for JSON, and updates the session in place.  The same access rule
as the event page (`EventViewer.open_event`), then only sessions the page
shows the viewer; the work is `registration.session_seats`.
"""
from __future__ import annotations

import json

from events import programme, sessions, view
from handlers.base import PageError
from handlers.event import SLUG, EventViewer, seat_button
from registration import session_seats, states
from registration.model import OFFERED, REGISTERED, WAITING

ACTIONS = ("take", "accept", "give_up")


class SeatHandler(EventViewer):
    async def post(self, space_slug, event_slug):
        opened = await self.open_event(space_slug, event_slug)
        if opened is None:
            return
        space, event, _ = opened
        main = self.main_event
        item_id = self.form("item", max_length=programme.MAX_ITEM_ID)
        action = self.form("action", max_length=16)
        if action not in ACTIONS:
            raise PageError(400, self._("The request was not understood."))
        item = programme.visible_items(main, self.may_see_session).get(item_id)
        if item is None:
            raise PageError(404, self._("This session is not on the schedule."))
        if sessions.capacity_of(item) is None:
            raise PageError(400, self.refusal(session_seats.NoSeats()))
        user = self.current_user
        seat = await session_seats.find(self.db, main["_id"], item_id, user["_id"])
        title = view.text(main, item.get("title"), self.locale_code)
        if action == "give_up" and self.form("confirm", max_length=10) != "yes":
            if seat is None or seat["state"] not in session_seats.ACTIVE:
                raise PageError(404, self.refusal(session_seats.NoSeat()))
            self.render_page("public/seat_step.html", space=space, event=event, item_id=item_id,
                             session_title=title, waiting=seat["state"] == WAITING,
                             back=view.path(space, event) + f"#item-{item_id}")
            return
        try:
            if action == "take":
                seat = await session_seats.take(self.services, main, item_id, user)
            elif seat is None or seat["state"] not in session_seats.ACTIVE:
                raise session_seats.NoSeat()
            elif action == "accept":
                seat = await session_seats.accept(self.services, main, seat, user)
            else:
                seat = await session_seats.give_up(self.services, main, seat, actor=user)
        except session_seats.NotAttendee as exc:
            raise PageError(403, self.refusal(exc)) from None
        except session_seats.NoSeat as exc:
            raise PageError(404, self.refusal(exc)) from None
        except (session_seats.SeatError, states.TransitionError) as exc:
            raise PageError(409, self.refusal(exc)) from None
        message = self.seat_message(seat["state"], title)
        if self.wants_json():
            entry = (await session_seats.view_for(self.db, main, user["_id"], [item]))[item_id]
            button_action, label = seat_button(self._, entry)
            seated = await session_seats.seated_ids(self.db, main["_id"], user["_id"])
            shown = await programme.saved_items(self.db, user["_id"], main, self.may_see_session, seated=seated)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"item": item_id, "state": entry["state"], "left": entry["left"],
                                    "action": button_action, "label": label, "message": message,
                                    "count": self.count_text(entry),
                                    "items": [i["id"] for i in shown]}))
            return
        self.flash(message)
        self.redirect(view.path(space, event) + f"#item-{item_id}")

    def count_text(self, entry: dict) -> str:
        text = self._("Seats: %(taken)s of %(capacity)s taken") % entry
        if entry["waiting"]:
            text += " · " + self._("%(count)s waiting") % {"count": entry["waiting"]}
        return text

    def seat_message(self, state: str, title: str) -> str:
        if state == REGISTERED:
            return self._("You have a seat at %(session)s.") % {"session": title}
        if state == WAITING:
            return self._("%(session)s is full: you are on its waiting list. We will write to you when a seat "
                          "frees up.") % {"session": title}
        if state == OFFERED:
            return self._("A seat at %(session)s is offered to you. Accept it before the deadline.") % {
                "session": title}
        return self._("You gave up your place at %(session)s.") % {"session": title}


ROUTES = [
    (rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})/seat", SeatHandler),
]
