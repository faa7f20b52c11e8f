"""A person's own settings (/profile), their data, their card, and the language switcher (/locale).

The profile page holds three forms posted to the same URL, told apart by the
hidden `form` field: name and language, who sees each profile item, and
the password change.  `/profile/data.json` downloads everything the
platform holds about the person; `/profile/delete` deletes the account
after a confirmation (the email address or the password typed again).
`/people/<user_id>` is a person's card, with only what the viewer may see
(`accounts.visibility`); a card with nothing to show answers 404, exactly
as an unknown id does.  The language switcher on every page posts to
/locale; it works signed out (a cookie) and signed in (the profile too, so
mails follow the choice).
"""
from __future__ import annotations

import json
from urllib.parse import quote

from accounts import erase, my_data, preferences, sessions, signin, users, visibility
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
               "details_error": None, "password_error": None, "min_length": MIN_PASSWORD_LENGTH,
               "visibility_error": None, "profile_items": visibility.items(user),
               "level_labels": visibility.LEVEL_LABELS}
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
        elif which == "visibility":
            await self.change_visibility()
        else:
            raise PageError(400, self._("The request was not understood."))

    async def change_details(self):
        name = self.form("name", max_length=1000)
        locale = self.form("locale", max_length=10)
        try:
            preferences.clean(name, locale)
        except preferences.ProfileError as exc:
            self.show(status=400, name=name, locale=locale, details_error=self.refusal(exc))
            return
        live = self.services.live
        await preferences.update(self.db, self.current_user, name, locale,
                             announce=live.profile_changed if live is not None else None)
        # Say it in the language just chosen: that is what the next page uses.
        self.locale_code = locale
        self.flash(self._("Your profile has been saved."))
        self.redirect("/profile")

    async def change_visibility(self):
        prefix = "level."
        raw = {name[len(prefix):]: self.form(name, max_length=20)
               for name in list(self.request.body_arguments)[:visibility.MAX_KEYS + 10] if name.startswith(prefix)}
        try:
            await visibility.update(self.db, self.current_user, raw)
        except visibility.VisibilityError as exc:
            self.show(status=400, visibility_error=self.refusal(exc))
            return
        self.flash(self._("Your choices of who sees your profile have been saved."))
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
            self.show(status=400, password_error=self.refusal(exc))
            return
        message = self._("Your password has been changed.")
        if ended:
            message += " " + self.ngettext("%(count)s other device was signed out.",
                                           "%(count)s other devices were signed out.", ended) % {"count": ended}
        self.flash(message)
        self.redirect("/profile")


class MyDataHandler(ProfileHandler):
    """Everything about the signed-in person, as one JSON download (their own data only)."""

    async def get(self):
        data = await my_data.collect(self.db, self.current_user)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Content-Disposition", 'attachment; filename="livehall-my-data.json"')
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(data, ensure_ascii=False, indent=1))


class DeleteAccountHandler(ProfileHandler):
    """Deleting one's own account: a page that asks for the email or password, then the deletion."""

    def get(self):
        self.render_page("public/profile_delete.html", error=None)

    async def post(self):
        confirmation = password_field(self, "confirm")
        svc = self.services
        live = svc.live
        try:
            await erase.erase(self.db, svc.hasher, svc.account_throttle(), self.current_user, confirmation,
                              announce=live.account_erased if live is not None else None)
        except erase.EraseError as exc:
            self.render_page("public/profile_delete.html", status=400, error=self.refusal(exc))
            return
        self.clear_cookie(sessions.COOKIE)
        self.current_user = None
        self.flash(self._("Your account has been deleted, and your personal data with it."))
        self.redirect("/")


class PersonHandler(BaseHandler):
    """A person's card: only the items the viewer may see."""

    async def get(self, user_id: str):
        person = await users.by_id(self.db, user_id)
        shown = await visibility.card(self.db, person, self.current_user)
        if not person or not shown:
            raise PageError(404, self._("This page does not exist."))
        own = bool(self.current_user) and self.current_user["_id"] == person["_id"]
        self.set_header("Cache-Control", "private, no-store")
        self.render_page("public/person.html", items=shown, own=own)


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
    (r"/profile/data\.json", MyDataHandler),
    (r"/profile/delete", DeleteAccountHandler),
    (r"/people/(?P<user_id>[0-9a-f]{24})", PersonHandler),
    (r"/locale", LocaleHandler),
]
