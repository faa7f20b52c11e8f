"""The staff start page (/admin) and the pages of organiser spaces.

/admin lists the spaces and events the signed-in person works on; a space's
page renames it, lists its events and manages its admins.  Access is
declared per handler and enforced by `StaffHandler`.
"""
from __future__ import annotations

from access.permissions import PLATFORM_SPACES, SPACE_EDIT, STAFF_ANY
from admin import forms, slides
from admin.staff_base import StaffHandler
from core.pagination import Page, parse_page
from events import branding, spaces, staffing
from events.editing import EditError
from handlers.base import PageError
from media import image_store

PER_PAGE = 50


class DashboardHandler(StaffHandler):
    permission = STAFF_ANY

    async def get(self):
        number = parse_page(self.get_query_argument("page", "1"))
        entries, total = await staffing.dashboard(self.db, self.current_user,
                                                  (number - 1) * PER_PAGE, PER_PAGE)
        self.render_page("admin/dashboard.html", active="dashboard", entries=entries,
                         page=Page(number, PER_PAGE, total))


class SpaceNewHandler(StaffHandler):
    permission = PLATFORM_SPACES

    def show(self, status: int = 200, error: str | None = None, **values):
        form = {"slug": "", "name": ""}
        form.update(values)
        self.render_page("admin/space_new.html", status=status, active="dashboard",
                         form=form, error=error)

    def get(self):
        self.show()

    async def post(self):
        slug, name = forms.field(self, "slug"), forms.field(self, "name")
        try:
            space = await spaces.create_space(self.db, self.current_user, slug=slug, name=name)
        except EditError as exc:
            self.show(400, self.refusal(exc), slug=slug, name=name)
            return
        self.flash(self._("The space has been created."))
        self.redirect(f"/admin/spaces/{space['_id']}")


class SpacePage(StaffHandler):
    """The space page, shown again with a message when one of its forms is refused."""

    permission = SPACE_EDIT

    async def show(self, status: int = 200, name_error: str | None = None,
                   admin_error: str | None = None, brand_error: str | None = None, **values):
        number = parse_page(self.get_query_argument("page", "1"))
        events, total = await spaces.events_of(self.db, self.space["_id"],
                                               (number - 1) * PER_PAGE, PER_PAGE)
        look = branding.of(self.space)
        form = {"name": self.space["name"], "email": "", "person_name": "",
                "accent": look["accent"], "accent_text": look["accent_text"]}
        form.update(values)
        self.render_page("admin/space.html", status=status, active="space", events=events,
                         page=Page(number, PER_PAGE, total), form=form,
                         admins=await staffing.space_admins(self.db, self.space["_id"]),
                         name_error=name_error, admin_error=admin_error, brand_error=brand_error,
                         logo=look["logo"], logo_size=branding.logo_size(look["logo"]) if look["logo"] else None,
                         accept=slides.ACCEPT)


class SpaceHandler(SpacePage):
    async def get(self, space_id):
        await self.show()

    async def post(self, space_id):
        name = forms.field(self, "name")
        try:
            await spaces.rename_space(self.db, self.current_user, self.space, name)
        except EditError as exc:
            await self.show(400, name_error=self.refusal(exc), name=name)
            return
        self.flash(self._("The space has been saved."))
        self.redirect(f"/admin/spaces/{space_id}")


class SpaceBrandingHandler(SpacePage):
    """The space's logo and colours on its event pages (`events.branding`): one form, all or nothing."""

    async def post(self, space_id):
        accent, accent_text = forms.field(self, "accent"), forms.field(self, "accent_text")
        upload = [f for f in self.request.files.get("logo", []) if f.get("filename") or f.get("body")]
        try:
            logo = (upload[0].get("body") or b"", upload[0].get("filename") or "") if upload else None
            await branding.save(self.db, self.current_user, self.space, accent=accent, accent_text=accent_text,
                                logo=logo,
                                remove_logo=forms.field(self, "remove_logo") == "1",
                                max_bytes=self.services.settings.max_upload_mb * 1024 * 1024)
        except (EditError, image_store.MediaError) as exc:
            await self.show(400, brand_error=self.refusal(exc), accent=accent, accent_text=accent_text)
            return
        self.flash(self._("The look of the event pages has been saved."))
        self.redirect(f"/admin/spaces/{space_id}#space-look-title")


class SpaceAdminAddHandler(SpacePage):
    async def post(self, space_id):
        email, name = forms.field(self, "email"), forms.field(self, "name")
        try:
            membership = await staffing.add_space_admin(self.db, self.current_user, self.space,
                                                        email=email, name=name,
                                                        locale=self.locale_code)
        except EditError as exc:
            await self.show(400, admin_error=self.refusal(exc), email=email, person_name=name)
            return
        email = membership["email"]
        message = self._("%(email)s is now an admin of this space.") % {"email": email}
        # The same sentence whether or not the address had an account: a
        # space admin must not learn that from the answer.
        message += " " + self._("If %(email)s has no password yet, they can set one with "
                                "\u201cForgot your password?\u201d on the sign-in page.") % {"email": email}
        self.flash(message)
        self.redirect(f"/admin/spaces/{space_id}")


class SpaceAdminRemoveHandler(SpacePage):
    async def post(self, space_id):
        try:
            removed = await staffing.remove_space_admin(self.db, self.current_user, self.space,
                                                        forms.field(self, "membership_id"))
        except EditError as exc:
            raise PageError(400, self.refusal(exc)) from None
        self.flash(self._("%(email)s is no longer an admin of this space.") % {"email": removed["email"]})
        self.redirect(f"/admin/spaces/{space_id}")


_SPACE = r"/admin/spaces/(?P<space_id>[0-9a-f]{24})"

ROUTES = [
    (r"/admin", DashboardHandler),
    (r"/admin/spaces/new", SpaceNewHandler),
    (_SPACE, SpaceHandler),
    (_SPACE + r"/admins", SpaceAdminAddHandler),
    (_SPACE + r"/branding", SpaceBrandingHandler),
    (_SPACE + r"/admins/remove", SpaceAdminRemoveHandler),
]
