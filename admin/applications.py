"""Staff pages of applications for free tickets: the queue, each application, and each type's form.

- `/admin/events/<id>/applications`: the queue (filters by state and type,
  search by address or name, pages, CSV export of the list on the screen),
  pending ones first in the order people applied, each with a box for
  approving several at once.
- `/admin/events/<id>/applications/<application id>`: the applicant, their
  answers (files linked), the order of an approved one; approve (with an
  optional note) or reject (with a reason, after a confirmation step).
- `/admin/events/<id>/tickets/<type id>/form`: the type's application form,
  on the registration form builder's page (`admin.registration_form`).

The queue's permission is `event.applications`; the form is part of the
type (`event.tickets`).  An application or type of another event is
unknown (404).  The work is `orders.applications`.
"""
from __future__ import annotations

from typing import Any

from access.permissions import EVENT_APPLICATIONS, EVENT_TICKETS
from admin.registration_form import FormBuilderHandler
from admin.staff_base import StaffHandler
from core.pagination import parse_page
from handlers.base import PageError
from orders import application_list, applications, ticket_types
from registration import forms

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
APPLICATION = r"(?P<application_id>[0-9a-f]{24})"
TYPE = r"(?P<ticket_type_id>[0-9a-f]{24})"
MAX_CHOSEN = 500


class ApplicationsPage(StaffHandler):
    permission = EVENT_APPLICATIONS

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/applications"

    def filters(self) -> dict[str, str]:
        return {"q": self.get_query_argument("q", "").strip()[:application_list.MAX_QUERY],
                "state": self.get_query_argument("state", "").strip()[:30],
                "type_id": self.get_query_argument("type", "").strip()[:30]}

    async def load_application(self, application_id: str) -> dict[str, Any]:
        try:
            return await applications.get(self.db, self.event, application_id)
        except applications.NotFound as exc:
            raise PageError(404, self.refusal(exc)) from None

    async def show_list(self, status: int = 200, *, error: str | None = None,
                        refused: list[str] | None = None) -> None:
        filters = self.filters()
        items, page = await application_list.page(self.db, self.event,
                                                  parse_page(self.get_query_argument("page", "1")), **filters)
        types = await application_list.types_of(self.db, self.event, self.locale_code)
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/applications.html", status=status, active="applications", items=items, page=page,
                         filters=filters, counts=await application_list.counts(self.db, self.event),
                         labels=applications.LABELS, states=applications.STATES, base=self.base,
                         names={t["_id"]: name for t, name in types},
                         types=[(str(t["_id"]), name) for t, name in types], shown=applications.shown_state,
                         error=error, refused=refused or [])

    async def show_one(self, application: dict[str, Any], status: int = 200, *, error: str | None = None,
                       confirm: bool = False, values: dict[str, str] | None = None) -> None:
        db, event = self.db, self.event
        ticket_type = await db.ticket_types.find_one({"_id": application["ticket_type_id"]}) or {}
        form = await forms.load(db, event["_id"], applications.form_kind(application["ticket_type_id"]))
        order = await db.orders.find_one({"_id": application["order_id"]}, {"code": 1, "state": 1}) \
            if application.get("order_id") else None
        decider = await db.users.find_one({"_id": application["decided_by"]}, {"email": 1}) \
            if application.get("decided_by") else None
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/application.html", status=status, active="applications", application=application,
                         state=applications.shown_state(application), labels=applications.LABELS,
                         type_name=ticket_types.name(ticket_type, self.locale_code, event) if ticket_type else "",
                         answers=answer_rows(form, application.get("answers"), self.locale_code),
                         order=order, decider=decider, base=self.base, error=error, confirm=confirm,
                         values=values or {}, max_reason=applications.MAX_REASON)


def answer_rows(form: dict[str, Any], answers: dict[str, Any] | None, locale: str) -> list[tuple[str, str, str]]:
    """(label, text, file id or "") of every answer, as `registration.forms.readable` orders them."""
    answers = answers or {}
    order = [f["id"] for f in form.get("fields") or []]
    rows = []
    for fid in order + sorted(k for k in answers if k not in order):
        answer = answers.get(fid)
        field = forms.definition(form, fid, answer.get("v")) if answer else None
        if not answer or not field:
            continue
        value = answer.get("value")
        file_id = str(value.get("file") or "") if isinstance(value, dict) else ""
        rows.append((forms.text(field.get("label"), locale, form), forms.answer_text(field, value, locale, form),
                     file_id))
    return rows


class ApplicationsHandler(ApplicationsPage):
    async def get(self, event_id):
        await self.show_list()


class ApplicationsCsvHandler(ApplicationsPage):
    async def get(self, event_id):
        body = await application_list.export_csv(self.db, self.event, actor=self.current_user,
                                                 locale=self.locale_code, **self.filters())
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="applications-{self.event["slug"]}.csv"')
        self.set_header("Cache-Control", "no-store")
        self.finish(body.encode("utf-8"))


class ApplicationHandler(ApplicationsPage):
    async def get(self, event_id, application_id):
        await self.show_one(await self.load_application(application_id))


class ApproveHandler(ApplicationsPage):
    async def post(self, event_id, application_id):
        found = await self.load_application(application_id)
        note = self.form("note", max_length=applications.MAX_REASON * 2)
        try:
            after = await applications.approve(self.services, self.event, found, actor=self.current_user,
                                               note=note, locale=self.locale_code)
        except applications.ApplicationError as exc:
            await self.show_one(await self.load_application(application_id), 409, error=self.refusal(exc),
                                values={"note": note})
            return
        if after["state"] == applications.APPROVED:
            self.flash(self._("The application is approved: the ticket is on its way to %(email)s.")
                       % {"email": after["email"]})
        else:
            self.flash(self._("The application is being approved right now."), "info")
        self.redirect(f"{self.base}/{found['_id']}")


class RejectHandler(ApplicationsPage):
    """Reject with a reason, after a confirmation step (a form posted without `confirm=yes` shows it)."""

    async def post(self, event_id, application_id):
        found = await self.load_application(application_id)
        reason = self.form("reason", max_length=applications.MAX_REASON * 2)
        values = {"reason": reason}
        try:
            applications.clean_reason(reason, required=True)
            if found["state"] != applications.PENDING and found["state"] != applications.REJECTED:
                raise applications.CannotReject()
        except applications.ApplicationError as exc:
            await self.show_one(found, 409 if isinstance(exc, applications.CannotReject) else 400,
                                error=self.refusal(exc), values=values)
            return
        if self.form("confirm", max_length=10) != "yes":
            await self.show_one(found, confirm=True, values=values)
            return
        try:
            await applications.reject(self.services, self.event, found, actor=self.current_user, reason=reason)
        except applications.ApplicationError as exc:
            await self.show_one(await self.load_application(application_id), 409, error=self.refusal(exc),
                                values=values)
            return
        self.flash(self._("The application is rejected; %(email)s gets your reason by email.")
                   % {"email": found["email"]}, "info")
        self.redirect(f"{self.base}/{found['_id']}")


class BulkApproveHandler(ApplicationsPage):
    """Approve the applications ticked in the queue, one after another."""

    async def post(self, event_id):
        chosen = [v.strip()[:30] for v in self.get_body_arguments("chosen")][:MAX_CHOSEN]
        try:
            approved, refused = await applications.approve_many(
                self.services, self.event, chosen, actor=self.current_user, locale=self.locale_code)
        except applications.ApplicationError as exc:
            await self.show_list(400, error=self.refusal(exc))
            return
        if refused:
            lines = [f"{email}: {self.refusal(exc)}" if email else self.refusal(exc) for email, exc in refused]
            await self.show_list(409, error=self.ngettext(
                "%(num)s application approved; the others were not:", "%(num)s applications approved; the others "
                "were not:", approved) % {"num": approved}, refused=lines)
            return
        self.flash(self.ngettext("%(num)s application approved.", "%(num)s applications approved.", approved)
                   % {"num": approved})
        self.redirect(self.base)


class ApplicationFormHandler(FormBuilderHandler):
    """A type's application form, on the form builder's page."""

    permission = EVENT_TICKETS
    active = "tickets"

    async def prepare(self):
        await super().prepare()
        if not self.admitted:
            return
        try:
            self.ticket_type = await ticket_types.get(self.db, self.event, self.path_kwargs["ticket_type_id"])
        except ticket_types.UnknownType as exc:
            raise PageError(404, self.refusal(exc)) from None

    @property
    def kind(self) -> str:
        return applications.form_kind(self.ticket_type["_id"])

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/tickets/{self.ticket_type['_id']}/form"

    def headings(self) -> dict[str, str]:
        name = ticket_types.name(self.ticket_type, self.locale_code, self.event)
        return {"heading": self._("Application form of “%(name)s”") % {"name": name},
                "intro": self._("What people applying for this free ticket are asked, besides their name and "
                                "address. Answers already given stay readable with the wording they were given "
                                "for, whatever you change later."),
                "empty": self._("The form has no fields yet: people apply with their name and address only."),
                "back_url": f"/admin/events/{self.event['_id']}/tickets/{self.ticket_type['_id']}",
                "back_label": self._("Back to the ticket type")}


ROUTES = [
    (EVENT + r"/applications", ApplicationsHandler),
    (EVENT + r"/applications\.csv", ApplicationsCsvHandler),
    (EVENT + r"/applications/approve", BulkApproveHandler),
    (EVENT + rf"/applications/{APPLICATION}", ApplicationHandler),
    (EVENT + rf"/applications/{APPLICATION}/approve", ApproveHandler),
    (EVENT + rf"/applications/{APPLICATION}/reject", RejectHandler),
    (EVENT + rf"/tickets/{TYPE}/form", ApplicationFormHandler),
]
