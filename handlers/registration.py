"""Registering oneself for an event: the form, one click, the confirmation link, accepting an offer, cancelling.

Every page of an event here is under its privacy (`access.rules.privacy_verdict`,
with an invitation from `?invite=`): a refused visitor is told why and what
to do.  The work is done by `registration.actions`; these handlers parse,
check and render.

- Nobody signed in: the form asks for a name and an address, and the answer
  is the same whatever the address ("check your mail"): whether it has an
  account, or is registered already, is told only to its owner, by mail.
  The mailed link (`/register/confirm?token=`) is used by POST only: mail
  scanners fetch every GET, and a GET that used it would burn it.
- Signed in: the address is verified already (a password or a mailed
  link), so the registration counts at once; "I'm going" registers with one
  click when the profile answers every required field.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from tornado.web import Finish

from access import roles as R
from access import rules
from attendees import registry
from core.i18n import N_
from events import model, privacy, view
from handlers.auth import TokenPageMixin
from handlers.base import BaseHandler, PageError
from handlers.event import REFUSALS, SLUG
from invitations import partners
from registration import actions, forms, invitations, states
from registration.model import (
    OFFERED,
    PENDING,
    REGISTERED,
    SOURCE_FORM,
    SOURCE_INVITATION,
    SOURCE_ONE_CLICK,
    STATE_LABELS,
    WAITING,
    settings_of,
    state_of,
)

EVENT = rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})/register"
MAX_FIELD = 10_000


class RegistrationPage(BaseHandler):
    """The event, its privacy verdict and the visitor's registration, shared by the pages below."""

    def set_default_headers(self):
        super().set_default_headers()
        # Personal: a registration's state and the form's answers are nobody else's.
        self.set_header("Cache-Control", "no-store")

    async def open_event(self, space_slug: str, event_slug: str) -> None:
        space, event = await model.get_event_by_slugs(self.db, space_slug, event_slug)
        if not event or not space:
            raise PageError(404, self._("This event does not exist."))
        if event.get("parent_id"):
            # A channel has no registration of its own: people register for its main event.
            await self.redirect_to_main(event, "/register")
            raise Finish()
        self.space, self.event = space, event
        self.invite = self.form("invite", max_length=200) or None
        user = self.current_user
        roles = await R.roles_in(self.db, user, space["_id"], event["_id"]) if user else {}
        verdict = await privacy.verdict(self.db, event, user, roles, self.invite)
        if verdict != rules.ADMITTED:
            # A link that admits nobody says why (unknown, withdrawn, another event's, taken).
            state = await invitations.token_state(self.db, event, user, self.invite) if self.invite else None
            message = (self._(invitations.TOKEN_MESSAGES[state])
                       if state is not None and state != invitations.VALID else None)
            self.render_page("public/register_step.html", status=403, step="refused",
                             reason=REFUSALS.get(verdict, "invitation"), message=message, **self.common())
            raise Finish()
        self.membership = await actions.find(self.db, event["_id"], user["_id"]) if user else None

    def common(self) -> dict[str, Any]:
        event = self.event
        return {"event": event, "space": self.space, "title": view.text(event, event["title"], self.locale_code),
                "base": view.path(self.space, event) + "/register",
                "invite": self.invite or "",
                "signin_url": "/signin?next=" + quote(self.request.uri, safe="")}

    def source(self, default: str) -> str:
        """Where a registration came from: an invitation link, else the way it was made."""
        return SOURCE_INVITATION if self.invite else default

    @property
    def base(self) -> str:
        return view.path(self.space, self.event) + "/register"

    def back(self, message: str, level: str = "success") -> None:
        self.flash(message, level)
        query = "?" + urlencode({"invite": self.invite}) if self.invite else ""
        self.redirect(self.base + query)

    def require_user(self) -> None:
        if not self.current_user:
            raise PageError(403, self._("Please sign in first."))

    def state_message(self, membership: dict[str, Any]) -> str:
        state = state_of(membership)
        if state == REGISTERED:
            return self._("You are registered for this event.")
        if state == WAITING:
            return self._("The event is full: you are on the waiting list. We will write to you when a place frees up.")
        if state == OFFERED:
            return self._("A place is offered to you. Accept it before the deadline.")
        return self._(STATE_LABELS.get(state, state))

    def raw_form(self) -> dict[str, list[str]]:
        try:
            return forms.raw_from_arguments(self.request.body_arguments)
        except UnicodeDecodeError:
            raise PageError(400, self._("The request was not understood.")) from None


    async def attribute(self, email: str) -> None:
        """Fix the registration to the partner whose link this browser followed last (`invitations.partners`)."""
        raw = self.get_signed_cookie(partners.cookie_name(self.event["_id"]), max_age_days=partners.COOKIE_DAYS)
        await partners.attribute(self.db, self.event, email, raw.decode() if raw else None)


class RegisterHandler(RegistrationPage):
    async def to_tickets(self) -> bool:
        """An event that sells tickets is registered for by getting one (`handlers.checkout`)."""
        if self.event.get("ticketed"):
            self.redirect(view.path(self.space, self.event) + "/tickets"
                          + ("?" + urlencode({"invite": self.invite}) if self.invite else ""))
            return True
        return False

    async def show(self, status: int = 200, *, values: dict[str, Any] | None = None,
                   errors: dict[str, str] | None = None, error: str | None = None) -> None:
        event, user = self.event, self.current_user
        settings = settings_of(event)
        form = await forms.load(self.db, event["_id"])
        membership = self.membership
        counted = membership is not None and state_of(membership) not in states.REOPENABLE
        one_click = bool(user and not counted and forms.from_profile(form, user) is not None)
        prefill = forms.prefill(form, user) if user else {}
        self.render_page(
            "public/register.html", status=status, settings=settings, form=form, membership=membership,
            counted=counted, state=state_of(membership) if membership else None,
            state_message=self.state_message(membership) if membership and counted else "",
            places_left=await actions.places_left(self.db, event), one_click=one_click,
            values=values if values is not None else {"prefill": prefill, "email": "", "name": ""},
            errors=errors or {}, error=error, **self.common())

    async def get(self, space_slug, event_slug):
        await self.open_event(space_slug, event_slug)
        if await self.to_tickets():
            return
        await self.show()

    async def post(self, space_slug, event_slug):
        await self.open_event(space_slug, event_slug)
        if await self.to_tickets():
            return
        event, user = self.event, self.current_user
        if user and self.membership is not None and state_of(self.membership) not in states.REOPENABLE:
            # A retried submission: the registration counts already.
            self.back(self.state_message(self.membership), "info")
            return
        if not settings_of(event)["open"]:
            await self.show(403, error=self.refusal(actions.Closed()))
            return
        raw = self.raw_form()
        values = {"prefill": raw, "email": self.form("email", max_length=254),
                  "name": self.form("name", max_length=MAX_FIELD)}
        person = None
        if not user:
            try:
                person = registry.clean(event, values["email"], values["name"], self.locale_code
                                        if self.locale_code in event["locales"] else "")
            except registry.AttendeeError as exc:
                await self.show(400, values=values, error=self.refusal(exc))
                return
        form = await forms.load(self.db, event["_id"])
        try:
            answers = await forms.accept(self.db, self.services, form, raw, self.request.files,
                                         submitted_version=self.form("form_version", max_length=20),
                                         owner_id=user["_id"] if user else None)
        except forms.FormErrors as exc:
            errors = {field: self._(message) % params if params else self._(message)
                      for field, (message, params) in exc.errors.items()}
            form_error = errors.pop("_form", None)
            await self.show(400, values=values, errors=errors,
                            error=form_error or self._("Please correct the answers marked below."))
            return
        try:
            if user:
                membership = await actions.register_signed_in(
                    self.services, event, user, source=self.source(SOURCE_FORM), answers=answers,
                    form_version=form.get("version"), locale=self.locale_code, invite=self.invite)
            else:
                assert person is not None
                email, name, _ = person
                await actions.submit_unconfirmed(self.services, event, email=email, name=name,
                                                 locale=self.locale_code, answers=answers,
                                                 form_version=form.get("version"),
                                                 source=self.source(SOURCE_FORM), invite=self.invite)
        except actions.RegistrationError as exc:
            await self.show(403, values=values, error=self.refusal(exc))
            return
        await self.attribute(user["email"] if user else person[0])
        if user:
            self.back(self.state_message(membership))
            return
        self.render_page("public/register_step.html", step="sent", email=person[0], **self.common())


class OneClickHandler(RegistrationPage):
    """"I'm going": the profile answers the form, so one click registers."""

    async def post(self, space_slug, event_slug):
        await self.open_event(space_slug, event_slug)
        self.require_user()
        event, user = self.event, self.current_user
        if event.get("ticketed"):
            # Registering for an event that sells tickets is getting one.
            self.redirect(view.path(self.space, event) + "/tickets")
            return
        if self.membership is not None and state_of(self.membership) not in states.REOPENABLE:
            self.back(self.state_message(self.membership), "info")
            return
        if not settings_of(event)["open"]:
            raise PageError(403, self.refusal(actions.Closed()))
        form = await forms.load(self.db, event["_id"])
        raw = forms.from_profile(form, user)
        if raw is None:
            # The profile leaves a required field open: the form opens, filled in with what it has.
            self.back(self._("Please fill in the registration form."), "info")
            return
        try:
            answers = await forms.accept(self.db, self.services, form, raw, {},
                                         submitted_version=str(form.get("version", "")), owner_id=user["_id"])
            membership = await actions.register_signed_in(
                self.services, event, user, source=self.source(SOURCE_ONE_CLICK), answers=answers,
                form_version=form.get("version"), locale=self.locale_code, invite=self.invite)
        except forms.FormErrors:
            self.back(self._("Please fill in the registration form."), "info")
            return
        except actions.RegistrationError as exc:
            raise PageError(403, self.refusal(exc)) from None
        await self.attribute(user["email"])
        self.back(self.state_message(membership))


class CancelHandler(RegistrationPage):
    """Cancel one's own registration, after a confirmation step (`confirm=yes`)."""

    async def post(self, space_slug, event_slug):
        await self.open_event(space_slug, event_slug)
        self.require_user()
        if self.membership is None:
            raise PageError(404, self.refusal(actions.NotFound()))
        if self.form("confirm", max_length=10) != "yes":
            self.render_page("public/register_step.html", step="cancel", membership=self.membership,
                             **self.common())
            return
        try:
            await actions.cancel(self.services, self.event, self.membership, actor_kind=states.ATTENDEE,
                                 actor=self.current_user)
        except (states.TransitionError, actions.HoldsTicket) as exc:
            raise PageError(409, self.refusal(exc)) from None
        self.back(self._("Your registration is cancelled."), "info")


class AcceptHandler(RegistrationPage):
    """Take the place offered from the waiting list."""

    async def post(self, space_slug, event_slug):
        await self.open_event(space_slug, event_slug)
        self.require_user()
        if self.membership is None:
            raise PageError(404, self.refusal(actions.NotFound()))
        try:
            membership = await actions.accept_offer(self.services, self.event, self.membership,
                                                    self.current_user)
        except (states.TransitionError, actions.RegistrationError) as exc:
            raise PageError(409, self.refusal(exc)) from None
        self.back(self.state_message(membership))


class RegistrationConfirmHandler(TokenPageMixin, BaseHandler):
    """The mailed link: GET shows a button, POST confirms the address, signs in and makes the registration count."""

    def token(self) -> str:
        token = self.get_query_argument("token", "")
        return token if len(token) <= 128 else ""

    async def get(self):
        raw = self.token()
        try:
            _, event = await actions.peek_confirmation(self.db, raw)
        except actions.ConfirmRefused as exc:
            if await self.already_done(raw):
                return
            self.render_refused(exc.state, "register")
            return
        self.render_page("public/register_step.html", step="confirm", token=raw,
                         title=view.text(event, event["title"], self.locale_code), event=event)

    async def already_done(self, raw: str) -> bool:
        """A second click by the person the link was for: their registration page, nothing written."""
        user = self.current_user
        event_id = await actions.used_link_event(self.db, raw, user["_id"]) if user else None
        target = await view.path_by_id(self.db, event_id) if event_id else None
        if target:
            self.redirect(target + "/register")
            return True
        return False

    async def post(self):
        raw = self.token()
        try:
            user, event, membership = await actions.confirm(self.services, raw)
        except actions.ConfirmRefused as exc:
            if await self.already_done(raw):
                return
            self.render_refused(exc.state, "register")
            return
        await self.start_session(user)
        target = await view.path_by_id(self.db, event["_id"]) or ""
        state = state_of(membership)
        messages = {REGISTERED: N_("Your address is confirmed and you are registered."),
                    WAITING: N_("Your address is confirmed. The event is full: you are on the waiting list."),
                    PENDING: N_("Your address is confirmed. Your registration awaits the organisers' approval.")}
        self.flash(self._(messages.get(state, N_("Your address is confirmed."))))
        self.redirect(target + "/register")


ROUTES = [
    (EVENT, RegisterHandler),
    (EVENT + r"/one-click", OneClickHandler),
    (EVENT + r"/cancel", CancelHandler),
    (EVENT + r"/accept", AcceptHandler),
    (r"/register/confirm", RegistrationConfirmHandler),
]
