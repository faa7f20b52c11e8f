"""Staff pages of an event's extra data requests: /admin/events/<event_id>/requests.

The list shows every request with its state (scheduled, active, ended) and
how many of the registrations it is for answered it.  A request's page
changes its settings (title, period, mail, success screen, the states it is
for, automatic sending), sends it now to everyone it is for who has not
answered (a bulk job whose progress page is the registrant list's), and ends
it early.  Its fields are built on the form builder's page
(`admin.registration_form`), for the form of kind "request:<id>".

One permission for all of it, EVENT_ATTENDEES: a request is work on the
registrants (what they are asked, when, by which mail), done by whoever
works on the registrant list; the answers appear there.  The work is done by
`registration.requests`.
"""
from __future__ import annotations

import asyncio
import secrets
from typing import Any

from access.permissions import EVENT_ATTENDEES
from admin.registration_form import FormBuilderHandler
from admin.staff_base import StaffHandler
from handlers.base import PageError
from registration import bulk, forms, requests
from registration import model as M

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
REQUEST = EVENT + r"/requests/(?P<request_id>[0-9a-f]{24})"
TEXTS = ("title", "subject", "text", "success_title", "success_text")
# The names the stored texts go by on the page.
STORED = {"title": "title", "subject": "mail_subject", "text": "mail_text", "success_title": "success_title",
          "success_text": "success_text"}


class RequestsBase(StaffHandler):
    permission = EVENT_ATTENDEES

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/requests"

    async def load_request(self, request_id: str) -> dict[str, Any]:
        found = await requests.get(self.db, self.event, request_id)
        if found is None:
            raise PageError(404, self._(requests.NOT_FOUND))
        return found

    def raw(self) -> dict[str, Any]:
        """What the settings form sent (checked by `requests.clean`)."""
        out: dict[str, Any] = {name: {code: self.form(f"{name}_{code}", max_length=requests.MAX_TEXT + 1)
                                      for code in self.event["locales"]} for name in TEXTS}
        out["starts"] = self.form("starts", max_length=40)
        out["ends"] = self.form("ends", max_length=40)
        out["states"] = [s[:20] for s in self.get_body_arguments("states")[:len(M.STATES)]]
        out["auto"] = self.form("auto", max_length=2) == "1"
        return out

    def values(self, request: dict[str, Any]) -> dict[str, Any]:
        """A stored request as the settings form shows it."""
        timezone = self.event.get("timezone") or "UTC"
        out: dict[str, Any] = {name: dict(request.get(STORED[name]) or {}) for name in TEXTS}
        out.update(starts=requests.local_value(request["starts_at"], timezone),
                   ends=requests.local_value(request["ends_at"], timezone),
                   states=list(request["states"]), auto=bool(request["auto"]))
        return out

    def render_settings(self, template: str, values: dict[str, Any], *, status: int = 200,
                        error: str | None = None, **extra: Any) -> None:
        self.render_page(template, status=status, active="requests", values=values, error=error,
                         targetable=requests.TARGETABLE, state_labels=M.STATE_LABELS,
                         timezone=self.event.get("timezone") or "UTC", base=self.base,
                         default_locale=self.event["default_locale"], locales=list(self.event["locales"]),
                         mail_placeholders=requests.MAIL_KIND.placeholders, **extra)


class RequestsHandler(RequestsBase):
    """Every request of the event, with its state and answers."""

    async def get(self, event_id):
        rows = []
        for request in await requests.of_event(self.db, self.event["_id"]):
            rows.append({"request": request, "status": requests.status(request),
                         "title": requests.text(self.event, request["title"], self.locale_code),
                         **await requests.numbers(self.db, self.event, request)})
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/requests.html", active="requests", rows=rows, base=self.base,
                         status_labels=requests.STATUS_LABELS)


class RequestNewHandler(RequestsBase):
    def get(self, event_id):
        self.render_settings("admin/request.html", self.values(requests.blank(self.event)), request=None)

    async def post(self, event_id):
        raw = self.raw()
        try:
            created = await requests.create(self.db, self.current_user, self.event,
                                            requests.clean(self.event, raw))
        except requests.RequestError as exc:
            self.render_settings("admin/request.html", raw, status=400, error=self.refusal(exc), request=None)
            return
        self.flash(self._("The request is saved. Now add the fields it asks for."))
        self.redirect(f"{self.base}/{created['_id']}/form")


class RequestHandler(RequestsBase):
    """One request: its numbers, its settings, sending it and ending it."""

    async def show(self, request: dict[str, Any], values: dict[str, Any] | None = None, *, status: int = 200,
                   error: str | None = None) -> None:
        form = await forms.load(self.db, self.event["_id"], requests.form_kind(request))
        self.set_header("Cache-Control", "no-store")
        self.render_settings("admin/request.html", values or self.values(request), status=status, error=error,
                             request=request, state=requests.status(request),
                             status_labels=requests.STATUS_LABELS, fields=len(form.get("fields") or []),
                             numbers=await requests.numbers(self.db, self.event, request),
                             send_key=secrets.token_urlsafe(16),
                             public_url=await requests.answer_url(self.services, self.event, request))

    async def get(self, event_id, request_id):
        await self.show(await self.load_request(request_id))

    async def post(self, event_id, request_id):
        request = await self.load_request(request_id)
        raw = self.raw()
        try:
            await requests.update(self.db, self.current_user, self.event, request, requests.clean(self.event, raw),
                                  expected_version=self.form("version", max_length=12))
        except requests.RequestError as exc:
            stale = exc.message == requests.CHANGED
            # On a stale page show the request as it is now; otherwise keep what was typed.
            current = await self.load_request(request_id) if stale else request
            await self.show(current, None if stale else raw, status=409 if stale else 400,
                            error=self.refusal(exc))
            return
        self.flash(self._("The request is saved."))
        self.redirect(f"{self.base}/{request['_id']}")


class RequestSendHandler(RequestsBase):
    """Send now: a job mailing everyone the request is for who has not answered."""

    async def post(self, event_id, request_id):
        request = await self.load_request(request_id)
        try:
            job = await requests.send_now(self.services, self.event, request, self.current_user,
                                          self.form("key", max_length=64))
        except requests.RequestError as exc:
            raise PageError(409, self.refusal(exc)) from None
        if job["status"] == bulk.RUNNING:
            # A small list is mailed before the page is; a large one goes on after this request.
            await asyncio.wait([bulk.start(self.services, job["_id"])], timeout=2.0)
        self.redirect(f"/admin/events/{self.event['_id']}/attendees/bulk/{job['_id']}")


class RequestEndHandler(RequestsBase):
    """End now: nobody answers or is mailed the request from now on."""

    async def post(self, event_id, request_id):
        request = await self.load_request(request_id)
        try:
            await requests.end_now(self.db, self.current_user, self.event, request)
        except requests.RequestError as exc:
            raise PageError(409, self.refusal(exc)) from None
        self.flash(self._("The request has ended."), "info")
        self.redirect(f"{self.base}/{request['_id']}")


class RequestFormHandler(FormBuilderHandler):
    """The request's fields, on the form builder's page."""

    permission = EVENT_ATTENDEES
    active = "requests"

    async def prepare(self):
        await super().prepare()
        if not self.admitted:
            return
        self.data_request = await requests.get(self.db, self.event, self.path_kwargs["request_id"])
        if self.data_request is None:
            raise PageError(404, self._(requests.NOT_FOUND))

    @property
    def kind(self) -> str:
        return requests.form_kind(self.data_request)

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/requests/{self.data_request['_id']}/form"

    def headings(self) -> dict[str, str]:
        title = requests.text(self.event, self.data_request["title"], self.locale_code)
        return {"heading": self._("Fields of the request “%(title)s”") % {"title": title},
                "intro": self._("What the people this request is for are asked. Answers already given stay "
                                "readable with the wording they were given for, whatever you change later."),
                "empty": self._("The request has no fields yet: add what you want to ask."),
                "back_url": f"/admin/events/{self.event['_id']}/requests/{self.data_request['_id']}",
                "back_label": self._("Back to the request")}


ROUTES = [
    (EVENT + r"/requests", RequestsHandler),
    (EVENT + r"/requests/new", RequestNewHandler),
    (REQUEST, RequestHandler),
    (REQUEST + r"/send", RequestSendHandler),
    (REQUEST + r"/end", RequestEndHandler),
    (REQUEST + r"/form", RequestFormHandler),
]
