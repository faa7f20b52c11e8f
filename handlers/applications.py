"""Applying for a free ticket: /e/<space>/<event>/apply/<ticket type id>.

GET shows the type's application form (built by the organiser, see
`orders.applications`), or says why it takes no application now: the
type's places are all taken (the form closes itself), it is off its
window, or the signed-in visitor applied already (their application's
state is shown).  POST stores the application (`orders.applications.apply`)
and answers "received"; a retried submit (the same form key) answers the
same, and a second application for the address is refused with what
became of the first.  Under the event's privacy, like registering.

Anyone may apply, signed in or not: someone not signed in gives an
address, a name and a language; a signed-in applicant applies with their
account's address.  See docs/http.md, "Applications for free tickets".
"""
from __future__ import annotations

import secrets
from typing import Any

from attendees import registry
from core.clock import utcnow
from events import view
from handlers.base import PageError
from handlers.event import SLUG
from handlers.registration import MAX_FIELD, RegistrationPage
from orders import applications, ticket_types
from registration import forms

EVENT = rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})"


class ApplyHandler(RegistrationPage):
    async def open_type(self, space_slug: str, event_slug: str, type_id: str) -> dict[str, Any]:
        await self.open_event(space_slug, event_slug)
        try:
            found = await ticket_types.get(self.db, self.event, type_id)
        except ticket_types.UnknownType as exc:
            raise PageError(404, self.refusal(exc)) from None
        if not ticket_types.by_application(found):
            raise PageError(404, self.refusal(applications.NotByApplication()))
        return found

    def path(self, ticket_type: dict[str, Any]) -> str:
        return view.path(self.space, self.event) + f"/apply/{ticket_type['_id']}"

    async def show(self, ticket_type: dict[str, Any], status: int = 200, *, values: dict[str, Any] | None = None,
                   errors: dict[str, str] | None = None, error: str | None = None,
                   done: dict[str, Any] | None = None) -> None:
        event, user = self.event, self.current_user
        form = await applications.form_of(self.db, event, ticket_type)
        left = await applications.places_left(self.db, event, ticket_type)
        mine = done or (await applications.of_person(self.db, ticket_type, user["email"]) if user else None)
        locale = self.locale_code if self.locale_code in event["locales"] else event["default_locale"]
        self.render_page(
            "public/apply.html", status=status, form=form, ticket_type=ticket_type,
            type_name=ticket_types.name(ticket_type, self.locale_code, event),
            description=ticket_types.name({"name": ticket_type.get("description") or {}}, self.locale_code, event),
            closed=applications.closed(left),
            window=ticket_types.sale_state(ticket_type, utcnow()), mine=mine, received=done is not None,
            mine_state=applications.shown_state(mine) if mine else None, labels=applications.LABELS,
            values=values if values is not None else {
                "prefill": forms.prefill(form, user) if user else {}, "email": "",
                "name": (user or {}).get("name", ""), "locale": locale},
            errors=errors or {}, error=error, key=self.form("key", max_length=applications.MAX_KEY)
            or secrets.token_urlsafe(16), apply_path=self.path(ticket_type),
            tickets_path=view.path(self.space, event) + "/tickets", **self.common())

    async def get(self, space_slug, event_slug, ticket_type_id):
        ticket_type = await self.open_type(space_slug, event_slug, ticket_type_id)
        await self.show(ticket_type)

    async def post(self, space_slug, event_slug, ticket_type_id):
        ticket_type = await self.open_type(space_slug, event_slug, ticket_type_id)
        user = self.current_user
        raw = self.raw_form()
        values = {"prefill": raw, "email": self.form("email", max_length=254),
                  "name": self.form("name", max_length=MAX_FIELD), "locale": self.form("locale", max_length=10)}
        try:
            done = await applications.apply(
                self.services, self.event, ticket_type, email=values["email"], name=values["name"],
                locale=values["locale"], raw=raw, files=self.request.files,
                submitted_version=self.form("form_version", max_length=20), user=user,
                key=self.form("key", max_length=applications.MAX_KEY))
        except forms.FormErrors as exc:
            errors = {field: self._(message) % params if params else self._(message)
                      for field, (message, params) in exc.errors.items()}
            form_error = errors.pop("_form", None)
            await self.show(ticket_type, 400, values=values, errors=errors,
                            error=form_error or self._("Please correct the answers marked below."))
            return
        except (registry.AttendeeError, applications.NameNeeded) as exc:
            await self.show(ticket_type, 400, values=values, error=self.refusal(exc))
            return
        except applications.ApplicationError as exc:
            await self.show(ticket_type, 409, values=values, error=self.refusal(exc))
            return
        await self.show(ticket_type, done=done)


ROUTES = [
    (EVENT + r"/apply/(?P<ticket_type_id>[0-9a-f]{24})", ApplyHandler),
]
