"""The base of every HTTP handler: session, locale, rendering and errors.

Handlers parse input, check access and call domain modules; they hold no
domain logic.  Errors shown to people are translated and never include a
stack trace.  Security decisions made here:
- the session cookie is signed, HttpOnly, SameSite=Lax, and Secure whenever
  the request came over TLS (behind nginx, TRUST_PROXY makes Tornado read
  X-Forwarded-Proto);
- every non-GET request must carry the XSRF token (Tornado's double-submit
  cookie); a failure is reported after the locale is known, in that language;
- every response, error pages and redirects included, carries the headers of
  `core.security_headers` (CSP, no framing, nosniff, HSTS over TLS); a
  handler that may be framed elsewhere says so in `frame_ancestors`.
"""
from __future__ import annotations

import datetime
import json
import logging
import time
from urllib.parse import urlparse

import tornado.web
from markupsafe import Markup

from accounts import sessions
from core import errors, security_headers
from core.i18n import LOCALES, direction, negotiate
from events import view

log = logging.getLogger(__name__)

LOCALE_COOKIE = "lh_locale"
FLASH_COOKIE = "lh_flash"


class PageError(tornado.web.HTTPError):
    """An error with a message already translated for the person reading it."""

    def __init__(self, status: int, message: str):
        super().__init__(status, reason=None)
        self.message = message


class BaseHandler(tornado.web.RequestHandler):
    # Who may show this page in a frame: a CSP source list.  Only a page made
    # to be embedded (a stream widget) opens this up.
    frame_ancestors = security_headers.NONE

    def initialize(self, services):
        self.services = services
        self.db = services.db
        self.i18n = services.i18n
        self.locale_code = services.settings.default_locale
        self.session = None
        self._xsrf_error = False
        self._started = time.monotonic()

    def set_default_headers(self):
        # Also run again by send_error's clear(), so error pages have them.
        security_headers.apply(self)

    # --- request set-up -------------------------------------------------

    def check_xsrf_cookie(self):
        try:
            super().check_xsrf_cookie()
        except tornado.web.HTTPError:
            self._xsrf_error = True

    async def prepare(self):
        raw = self.get_signed_cookie(sessions.COOKIE, max_age_days=366)
        self._session_raw = raw.decode() if raw else None
        reads = self.services.account_reads
        self.session = await reads.session(self.db, self._session_raw)
        if self.session:
            user = await reads.user(self.db, self.session["user_id"])
            # An account being deleted is signed out, whatever session survived the start.
            if user is not None and not user.get("erasing_at"):
                self.current_user = user
        self.locale_code = self.choose_locale()
        if self._xsrf_error:
            raise PageError(403, self._("This form has expired or did not come from this site. "
                                        "Reload the page and try again."))

    def choose_locale(self) -> str:
        user = self.current_user
        if user and user.get("locale") in LOCALES:
            return user["locale"]
        cookie = self.get_cookie(LOCALE_COOKIE)
        if cookie in LOCALES:
            return cookie
        return negotiate(self.request.headers.get("Accept-Language")) or \
            self.services.settings.default_locale

    def _(self, message: str) -> str:
        return self.i18n.gettext(self.locale_code)(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.i18n.translations(self.locale_code).ngettext(singular, plural, n)

    def refusal(self, exc: Exception) -> str:
        """A domain refusal (`core.errors.Refusal`) in the reader's language."""
        return errors.translated(self._, exc)

    async def redirect_to_main(self, channel: dict, page: str) -> None:
        """Send a channel's visitor to the same page of its main event (query kept).

        A channel is a room of its main event: people read about and register for that one.
        """
        main = await view.path_by_id(self.db, channel["parent_id"])
        if main is None:
            raise PageError(404, self._("This event does not exist."))
        self.redirect(main + page + ("?" + self.request.query if self.request.query else ""))

    # --- cookies and sessions -------------------------------------------

    @property
    def over_tls(self) -> bool:
        return self.request.protocol == "https"

    def set_session_cookie(self, raw: str) -> None:
        self.set_signed_cookie(sessions.COOKIE, raw, expires_days=self.services.settings.session_ttl_days,
                               httponly=True, samesite="Lax", secure=self.over_tls)

    async def start_session(self, user: dict) -> None:
        ttl = datetime.timedelta(days=self.services.settings.session_ttl_days)
        raw = await sessions.sign_in(self.db, user["_id"], ttl, self.request.headers.get("User-Agent", ""),
                                     self.request.remote_ip, replacing=self._session_raw)
        self._session_raw = raw
        self.set_session_cookie(raw)
        self.current_user = user

    async def end_session(self) -> None:
        await sessions.revoke(self.db, self._session_raw)
        self.clear_cookie(sessions.COOKIE)
        self.current_user = None

    def flash(self, message: str, level: str = "success") -> None:
        items = self._read_flash()
        items.append([level, message])
        self.set_signed_cookie(FLASH_COOKIE, json.dumps(items), expires_days=None,
                               httponly=True, samesite="Lax", secure=self.over_tls)

    def _read_flash(self) -> list:
        raw = self.get_signed_cookie(FLASH_COOKIE, max_age_days=1)
        try:
            return json.loads(raw) if raw else []
        except ValueError:
            return []

    def safe_next(self, target: str | None, default: str = "/") -> str:
        """Only same-site paths: an open redirect would turn sign-in links into phishing."""
        if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
            return default
        if urlparse(target).netloc:
            return default
        return target

    # --- input ------------------------------------------------------------

    def form(self, name: str, default: str = "", max_length: int = 10000) -> str:
        value = self.get_body_argument(name, default) if self.request.method == "POST" \
            else self.get_query_argument(name, default)
        value = (value or "").strip()
        if len(value) > max_length:
            raise PageError(400, self._("A field is too long."))
        return value

    # --- output -----------------------------------------------------------

    def template_context(self) -> dict:
        flashes = self._read_flash()
        if flashes:
            self.clear_cookie(FLASH_COOKIE)
        return {
            "user": self.current_user, "request": self.request,
            "xsrf_form_html": Markup(self.xsrf_form_html()),
            "xsrf_token": self.xsrf_token.decode() if isinstance(self.xsrf_token, bytes) else self.xsrf_token,
            "static_url": self.static_url, "flashes": flashes,
            "locale_code": self.locale_code, "direction": direction(self.locale_code),
            "settings": self.services.settings, "current_path": self.request.uri,
            "is_staff": bool(self.current_user and self._is_staff_hint()),
        }

    def _is_staff_hint(self) -> bool:
        return bool(getattr(self, "_staff_hint", False) or self.current_user.get("platform_admin"))

    def render_page(self, template: str, status: int = 200, **kwargs) -> None:
        ctx = self.template_context()
        ctx.update(kwargs)
        html = self.i18n.env(self.locale_code).get_template(template).render(**ctx)
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(html)

    def write_error(self, status_code: int, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, PageError):
            message = exc.message
        else:
            message = {
                400: self._("The request was not understood."),
                403: self._("You do not have access to this page."),
                404: self._("This page does not exist."),
                405: self._("This action is not allowed here."),
                413: self._("The upload is too large."),
            }.get(status_code, self._("Something went wrong on our side. Please try again later."))
        if self.wants_json():
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"error": status_code, "message": message}))
            return
        try:
            self.render_page("error.html", status=status_code, status_code=status_code, message=message)
        except Exception:
            log.exception("error page failed")
            self.finish(message)

    def wants_json(self) -> bool:
        return "application/json" in self.request.headers.get("Accept", "")

    def on_finish(self):
        metrics = self.services.metrics
        if metrics:
            metrics.observe_request(type(self).__name__, self.request.method, self.get_status(),
                                    time.monotonic() - self._started)


class StaticFileHandler(tornado.web.StaticFileHandler):
    """/static/ as Tornado serves it, with the headers of every other response."""

    def set_default_headers(self):
        security_headers.apply(self)


class NotFoundHandler(BaseHandler):
    async def prepare(self):
        await super().prepare()
        raise PageError(404, self._("This page does not exist."))
