"""Signing in and out: password form, mailed links, forgotten passwords.

The logic (throttling, tokens, hashing) lives in `accounts.signin`; these
handlers parse forms, translate refusals and start or end sessions.
Security decisions made here:
- a sign-in link is consumed only by POST: mail scanners fetch every GET,
  and a GET that signed in would burn the link before its owner clicks;
- after sign-in we only redirect to same-site paths (`safe_next`);
- pages whose URL holds a token send no Referer and are not cached;
- the forgot-password answer is the same whether or not the address has an
  account, and its mail is sent in the background so the time taken does
  not tell either.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
from urllib.parse import quote

from accounts import signin, tokens, users
from accounts.passwords import MIN_PASSWORD_LENGTH
from attendees import registry
from events import view
from handlers.base import BaseHandler, PageError
from mailings import messages

log = logging.getLogger(__name__)

TOKEN = r"(?P<token>[A-Za-z0-9_-]{1,128})"


def password_field(handler: BaseHandler, name: str) -> str:
    """A password exactly as typed: spaces are part of it, so nothing is stripped."""
    value = handler.get_body_argument(name, "", strip=False) or ""
    if len(value) > 1024:
        raise PageError(400, handler._("A field is too long."))
    return value


def throttled_message(handler: BaseHandler, minutes: int) -> str:
    """The translated refusal for a throttled request; also tells clients when to retry."""
    handler.set_header("Retry-After", str(minutes * 60))
    return handler.ngettext("Too many attempts, try again in %(count)s minute.",
                            "Too many attempts, try again in %(count)s minutes.",
                            minutes) % {"count": minutes}


def count_signin(handler: BaseHandler, method: str, result: str) -> None:
    metrics = handler.services.metrics
    if metrics:
        metrics.signins.labels(method, result).inc()


class TokenPageMixin:
    """Shared by link and reset pages: no caching, no Referer leaking the token."""

    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")

    def render_refused(self, state: str, purpose: str) -> None:
        # A used or expired link existed and is gone for good (410); anything
        # else is simply not a link we know (400).
        status = 410 if state in ("used", "expired") else 400
        self.render_page("public/link_refused.html", status=status, state=state, purpose=purpose)


class SigninHandler(BaseHandler):
    def get(self):
        self.render_page("public/signin.html", next=self.safe_next(self.form("next", max_length=2000), ""),
                         identifier="", error=None)

    async def post(self):
        next_path = self.safe_next(self.form("next", max_length=2000), "")
        identifier = self.form("identifier", max_length=254)
        password = password_field(self, "password")
        svc = self.services
        try:
            user = await signin.by_password(self.db, svc.hasher, svc.account_throttle(), svc.ip_throttle(),
                                            identifier, password, self.request.remote_ip or "")
        except signin.Throttled as exc:
            count_signin(self, "password", "throttled")
            self.render_page("public/signin.html", status=429, next=next_path, identifier=identifier,
                             error=throttled_message(self, exc.minutes))
            return
        except signin.SigninError as exc:
            count_signin(self, "password", "refused")
            self.render_page("public/signin.html", status=400, next=next_path, identifier=identifier,
                             error=self.refusal(exc))
            return
        count_signin(self, "password", "ok")
        await self.start_session(user)
        self.redirect(next_path or "/")


class SigninLinkHandler(TokenPageMixin, BaseHandler):
    async def get(self, token):
        try:
            _, user = await signin.link_user(self.db, token, tokens.SIGNIN)
        except signin.TokenRefused as exc:
            self.render_refused(exc.state, tokens.SIGNIN)
            return
        self.render_page("public/signin_link.html", email=user["email"],
                         signed_in_as=(self.current_user or {}).get("email"))

    async def post(self, token):
        try:
            link, user = await signin.consume_link(self.db, token, tokens.SIGNIN)
        except signin.TokenRefused as exc:
            count_signin(self, "link", "refused")
            self.render_refused(exc.state, tokens.SIGNIN)
            return
        count_signin(self, "link", "ok")
        await self.start_session(user)
        if link.get("event_id"):
            # What the event's staff see of sign-ins: this event's link, not the account's last login.
            await registry.note_link_used(self.db, link["event_id"], user["_id"])
        target = await view.path_by_id(self.db, link.get("event_id")) if link.get("event_id") else None
        self.redirect(target or "/")


class SignoutHandler(BaseHandler):
    async def post(self):
        await self.end_session()
        self.flash(self._("You have signed out."), "info")
        # "Sign in with another account" comes back to the page it was asked on.
        next_path = self.safe_next(self.form("next", max_length=2000), "")
        self.redirect("/signin" + ("?next=" + quote(next_path, safe="") if next_path else ""))


class ForgotPasswordHandler(BaseHandler):
    def get(self):
        self.render_page("public/password_forgot.html", email="", error=None, sent=False)

    async def post(self):
        raw = self.form("email", max_length=254)
        email = users.normalize_email(raw)
        if not email:
            self.render_page("public/password_forgot.html", status=400, email=raw, sent=False,
                             error=self._("Enter a valid email address."))
            return
        ip_throttle = self.services.ip_throttle()
        ip_key = "reset:" + (self.request.remote_ip or "")
        minutes = await signin.minutes_blocked(ip_throttle, ip_key)
        if minutes:
            self.render_page("public/password_forgot.html", status=429, email=raw, sent=False,
                             error=throttled_message(self, minutes))
            return
        await ip_throttle.fail(ip_key)
        background = self.services.background
        task = asyncio.create_task(send_reset(self.services, email))
        background.add(task)
        task.add_done_callback(background.discard)
        self.render_page("public/password_forgot.html", email="", error=None, sent=True)


async def send_reset(svc, email: str) -> None:
    """Mail a reset link to the account with this address, if there is one."""
    try:
        ttl = datetime.timedelta(minutes=svc.settings.reset_link_ttl_minutes)
        found = await signin.start_reset(svc.db, svc.account_throttle(), email, ttl)
        if not found:
            return
        user, raw = found
        locale = user.get("locale") or svc.settings.default_locale
        common = {"person_name": user.get("name", ""), "minutes": svc.settings.reset_link_ttl_minutes,
                  "site_url": svc.settings.public_url}
        subject, text, html = messages.render(
            svc.i18n, locale, "password_reset", link=f"{svc.settings.public_url}/password/reset/{raw}",
            **common)
        # The outbox keeps the link only where it is the destination (no SMTP), and
        # then only the platform outbox shows it (`mailings.mailer`).
        await svc.mailer.send(to=user["email"], subject=subject, text=text, html=html,
                              kind="password_reset",
                              staff_copy=messages.render_for_staff(svc.i18n, locale, "password_reset", **common))
    except Exception:
        log.exception("password reset mail failed")


class ResetPasswordHandler(TokenPageMixin, BaseHandler):
    async def get(self, token):
        state = await tokens.state(self.db, token, tokens.RESET)
        if state != "valid":
            self.render_refused(state, tokens.RESET)
            return
        self.render_page("public/password_reset.html", error=None, min_length=MIN_PASSWORD_LENGTH)

    async def post(self, token):
        new = password_field(self, "password")
        confirm = password_field(self, "confirm")
        svc = self.services
        try:
            user = await signin.finish_reset(self.db, svc.hasher, svc.account_throttle(), token, new, confirm)
        except signin.TokenRefused as exc:
            self.render_refused(exc.state, tokens.RESET)
            return
        except signin.SigninError as exc:
            self.render_page("public/password_reset.html", status=400, min_length=MIN_PASSWORD_LENGTH,
                             error=self.refusal(exc))
            return
        await self.start_session(user)
        self.flash(self._("Your password has been changed. Every other device was signed out."))
        self.redirect("/")


ROUTES = [
    (r"/signin", SigninHandler),
    (r"/signin/link/" + TOKEN, SigninLinkHandler),
    (r"/signout", SignoutHandler),
    (r"/password/forgot", ForgotPasswordHandler),
    (r"/password/reset/" + TOKEN, ResetPasswordHandler),
]
