"""Staff pages of the seats in sessions with a capacity: every such session with its seats taken,
capacity and waiting count, each session's list of seat holders, offers and waiting people, and
that list as CSV.

The session is named in the query string (`?item=`), like the schedule item
editor; an item of another event is unknown here (404).  Reads only: the
numbers and lists come from `registration.session_seats`.
"""
from __future__ import annotations

from access.permissions import EVENT_ATTENDEES
from admin.staff_base import StaffHandler
from events import editing, sessions
from handlers.base import PageError
from registration import session_seats
from registration.model import STATE_LABELS


class SeatsPage(StaffHandler):
    permission = EVENT_ATTENDEES

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/sessions/seats"

    def item(self) -> dict | None:
        """The session named by `?item=` (None when none is named); 404 for one this event does not have."""
        item_id = self.get_query_argument("item", "").strip()[:64]
        if not item_id:
            return None
        item = editing.find_item(self.event, item_id)
        if item is None or sessions.capacity_of(item) is None:
            raise PageError(404, self._("This session has no seats to list."))
        return item


class SeatsHandler(SeatsPage):
    async def get(self, event_id):
        item = self.item()
        limited = session_seats.seat_sessions(self.event)
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/session_seats.html", active="seats", base=self.base, sessions_list=limited,
                         counts=await session_seats.counts(self.db, self.event, limited), item=item,
                         rows=await session_seats.holders(self.db, self.event, item["id"]) if item else [],
                         state_labels=STATE_LABELS)


class SeatsCsvHandler(SeatsPage):
    async def get(self, event_id):
        item = self.item()
        if item is None:
            raise PageError(404, self._("This session has no seats to list."))
        body = await session_seats.export_csv(self.db, self.event, item["id"], self.locale_code,
                                              actor=self.current_user)
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="seats-{self.event["slug"]}-{item["id"]}.csv"')
        self.set_header("Cache-Control", "no-store")
        self.finish(body.encode("utf-8"))


_EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"

ROUTES = [
    (_EVENT + r"/sessions/seats", SeatsHandler),
    (_EVENT + r"/sessions/seats\.csv", SeatsCsvHandler),
]
