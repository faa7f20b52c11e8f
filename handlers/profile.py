"""A person's own settings (/profile) and the language switcher (/locale).

The profile page holds two forms posted to the same URL, told apart by the
hidden `form` field: name and language, and the password change.  The
language switcher on every page posts to /locale; it works signed out (a
cookie) and signed in (the profile too, so mails follow the choice).
"""
from __future__ import annotations

from urllib.parse import quote

from accounts import preferences, signin, users
from accounts.passwords import MIN_PASSWORD_LENGTH
from core.i18n import LOCALES
from handlers.auth import password_field, throttled_message
from handlers.base import LOCALE_COOKIE, BaseHandler, PageError

LOCALE_COOKIE_DAYS = 365


class ProfileHandler(BaseHandler):
    async def prepare(self):
        await super().prepare()
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                self.redirect("/signin?next=" + quote(self.request.uri, safe=""))
                return
            raise PageError(403, self._("Please sign in first."))

    def show(self, status: int = 200, **kwargs) -> None:
        user = self.current_user
        ctx = {"name": user.get("name", ""), "locale": user.get("locale") or self.locale_code,
               "details_error": None, "password_error": None, "min_length": MIN_PASSWORD_LENGTH}
        ctx.update(kwargs)
        self.render_page("public/profile.html", status=status, **ctx)

    def get(self):
        self.show()

    async def post(self):
        which = self.form("form", max_length=20)
        if which == "password":
            await self.change_password()
        elif which == "details":
            await self.change_details()
        else:
            raise PageError(400, self._("The request was not understood."))

    async def change_details(self):
        name = self.form("name", max_length=1000)
        locale = self.form("locale", max_length=10)
        try:
            preferences.clean(name, locale)
        except preferences.ProfileError as exc:
            self.show(status=400, name=name, locale=locale, details_error=self._(str(exc)))
            return
        live = self.services.live
        await preferences.update(self.db, self.current_user, name, locale,
                             announce=live.profile_changed if live is not None else None)
        # Say it in the language just chosen: that is what the next page uses.
        self.locale_code = locale
        self.flash(self._("Your profile has been saved."))
        self.redirect("/profile")

    async def change_password(self):
        current = password_field(self, "current")
        new = password_field(self, "password")
        confirm = password_field(self, "confirm")
        svc = self.services
        try:
            ended = await signin.change_password(self.db, svc.hasher, svc.account_throttle(),
                                                 self.current_user, current, new, confirm,
                                                 keep_session=self._session_raw)
        except signin.Throttled as exc:
            self.show(status=429, password_error=throttled_message(self, exc.minutes))
            return
        except signin.SigninError as exc:
            self.show(status=400, password_error=self._(exc.message) % exc.params)
            return
        message = self._("Your password has been changed.")
        if ended:
            message += " " + self.ngettext("%(count)s other device was signed out.",
                                           "%(count)s other devices were signed out.", ended) % {"count": ended}
        self.flash(message)
        self.redirect("/profile")


class LocaleHandler(BaseHandler):
    async def post(self):
        code = self.form("locale", max_length=10)
        target = self.safe_next(self.form("next", max_length=2000))
        if code not in LOCALES:
            raise PageError(400, self._("This language is not available."))
        self.set_cookie(LOCALE_COOKIE, code, expires_days=LOCALE_COOKIE_DAYS, samesite="Lax",
                        httponly=True, secure=self.over_tls)
        if self.current_user:
            await users.set_locale(self.db, self.current_user["_id"], code)
        self.redirect(target)


ROUTES = [
    (r"/profile", ProfileHandler),
    (r"/locale", LocaleHandler),
]
