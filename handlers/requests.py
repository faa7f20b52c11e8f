"""Answering an extra data request: /e/<space>/<event>/requests/<request_id>.

For the signed-in person the request is for (a registration in one of its
states); anyone else is told the request does not exist, so an id reveals
nothing.  The mailed link is a plain link, never a sign-in link: a visitor
who is not signed in is sent to sign in first and comes back here.  Being
targeted is the admission: staff and registrants pass the event's privacy
anyway, so the privacy verdict is not asked again.

While the request is active the form (`form_fields`) takes new answers or
replaces earlier ones; after answering the request's success screen is
shown, with a way to change the answers until the end.  Before its start
or after its end the page says so, with the answers given.  The work is
`registration.requests.answer`.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from events import model, view
from handlers.base import BaseHandler, PageError
from handlers.event import SLUG
from registration import forms, requests

PATH = rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})/requests/(?P<request_id>[0-9a-f]{{24}})"


class RequestAnswerHandler(BaseHandler):
    def set_default_headers(self):
        super().set_default_headers()
        # Personal: the answers are nobody else's.
        self.set_header("Cache-Control", "no-store")

    async def open(self, space_slug: str, event_slug: str, request_id: str) -> bool:
        """Load the event, the request and the person's registration; False when sent to sign in."""
        space, event = await model.get_event_by_slugs(self.db, space_slug, event_slug)
        found = await requests.get(self.db, event, request_id) if event and space else None
        if found is None or event is None or space is None:
            raise PageError(404, self._(requests.NOT_FOUND))
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                self.redirect("/signin?next=" + quote(self.request.uri, safe=""))
                return False
            raise PageError(403, self._("Please sign in first."))
        membership = await requests.registration_for(self.db, event, found, self.current_user)
        if membership is None:
            raise PageError(404, self._(requests.NOT_FOUND))
        self.space, self.event, self.data_request, self.membership = space, event, found, membership
        return True

    @property
    def path(self) -> str:
        return f"{view.path(self.space, self.event)}/requests/{self.data_request['_id']}"

    def given(self) -> dict[str, Any] | None:
        return (self.membership.get("request_answers") or {}).get(str(self.data_request["_id"]))

    async def show(self, *, status: int = 200, values: dict[str, list[str]] | None = None,
                   errors: dict[str, str] | None = None, error: str | None = None) -> None:
        event, request, locale = self.event, self.data_request, self.locale_code
        form = await forms.load(self.db, event["_id"], requests.form_kind(request))
        given = self.given()
        why = requests.refusal(request, event)
        editing = self.get_query_argument("edit", "") == "1" or errors is not None or error is not None
        if why is not None:
            step = "closed"
        elif given is not None and not editing:
            step = "done"
        else:
            step = "form"
        if values is None:
            values = {**forms.prefill(form, self.current_user), **requests.prefill(form, given)}
        self.render_page(
            "public/data_request.html", status=status, step=step, form=form, values=values, errors=errors or {},
            error=error, closed=(self._(why[0]) % why[1]) if why else "", path=self.path,
            request_title=requests.text(event, request["title"], locale),
            event_title=view.text(event, event["title"], locale), event_path=view.path(self.space, event),
            readable=forms.readable(form, given, locale) if given else [],
            success_title=requests.text(event, request.get("success_title"), locale)
            or self._(requests.DEFAULT_SUCCESS_TITLE),
            success_text=requests.text(event, request.get("success_text"), locale)
            or self._(requests.DEFAULT_SUCCESS_TEXT),
            ends_at=request["ends_at"], event=event)

    async def get(self, space_slug, event_slug, request_id):
        if await self.open(space_slug, event_slug, request_id):
            await self.show()

    async def post(self, space_slug, event_slug, request_id):
        await self.open(space_slug, event_slug, request_id)
        raw = forms.raw_from_arguments(self.request.body_arguments)
        try:
            await requests.answer(self.services, self.event, self.data_request, self.current_user, raw,
                                  self.request.files, submitted_version=self.form("form_version", max_length=20))
        except forms.FormErrors as exc:
            errors = {field: self._(message) % params if params else self._(message)
                      for field, (message, params) in exc.errors.items()}
            form_error = errors.pop("_form", None)
            await self.show(status=400, values=raw, errors=errors,
                            error=form_error or self._("Please correct the answers marked below."))
            return
        except requests.RequestError as exc:
            message = self.refusal(exc)
            status = 404 if exc.message == requests.NOT_FOUND else 403
            if status == 404:
                raise PageError(404, message) from None
            await self.show(status=status, error=message)
            return
        self.redirect(self.path)


ROUTES = [
    (PATH, RequestAnswerHandler),
]
