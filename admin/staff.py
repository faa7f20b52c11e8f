"""The event's staff page: who works on the event, granting and revoking roles.

Attendees are not listed here (they have their own pages).  A role is
granted by email; an address with no account gets one, without a password.
The answer is the same whether or not the address had an account: that is
a fact about the installation, not about this event.
"""
from __future__ import annotations

from access import roles as R
from access.permissions import EVENT_STAFF
from admin import forms
from admin.staff_base import StaffHandler
from core.pagination import Page, parse_page
from events import staffing
from events.editing import EditError
from handlers.base import PageError

PER_PAGE = 50


class StaffPage(StaffHandler):
    permission = EVENT_STAFF

    async def show(self, status: int = 200, error: str | None = None, **values):
        number = parse_page(self.get_query_argument("page", "1"))
        members, total = await staffing.event_staff(self.db, self.event["_id"],
                                                    (number - 1) * PER_PAGE, PER_PAGE)
        form = {"email": "", "name": "", "role": "", "locales": []}
        form.update(values)
        self.render_page("admin/staff.html", status=status, active="staff", members=members,
                         page=Page(number, PER_PAGE, total), form=form, error=error,
                         roles=staffing.STAFF_ROLES, role_labels=R.ROLE_LABELS,
                         commentator=R.COMMENTATOR)


class EventStaffHandler(StaffPage):
    async def get(self, event_id):
        await self.show()

    async def post(self, event_id):
        values = {"email": forms.field(self, "email"), "name": forms.field(self, "name"),
                  "role": forms.field(self, "role"), "locales": forms.choices(self, "locales")}
        try:
            membership = await staffing.grant_event_role(self.db, self.current_user, self.event, **values)
        except EditError as exc:
            await self.show(400, self.refusal(exc), **values)
            return
        email = membership["email"]
        message = self._("%(email)s now has the role %(role)s.") \
            % {"email": email, "role": self._(R.ROLE_LABELS[values["role"]])}
        message += " " + self._("If %(email)s has no password yet, they can set one with "
                                "\u201cForgot your password?\u201d on the sign-in page.") % {"email": email}
        self.flash(message)
        self.redirect(f"/admin/events/{event_id}/staff")


class RevokeHandler(StaffPage):
    async def post(self, event_id):
        try:
            removed = await staffing.revoke_event_role(self.db, self.current_user, self.event,
                                                       forms.field(self, "membership_id"))
        except EditError as exc:
            raise PageError(400, self.refusal(exc)) from None
        self.flash(self._("%(email)s no longer has the role %(role)s.")
                   % {"email": removed["email"], "role": self._(R.ROLE_LABELS[removed["role"]])})
        self.redirect(f"/admin/events/{event_id}/staff")


_EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"

ROUTES = [
    (_EVENT + r"/staff", EventStaffHandler),
    (_EVENT + r"/staff/revoke", RevokeHandler),
]
