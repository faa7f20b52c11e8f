"""Staff pages for an event's community pages: list and order, write, publish, discussion, delete.

Handlers read the form and call `community.pages`, which validates in full
before writing, records every change in the audit log and announces what
affects a page's discussion room through the live side's hook handed to it
here.  Deleting a page deletes its discussion with it (see community.pages).
"""
from __future__ import annotations

from access.permissions import EVENT_COMMUNITY
from admin import forms
from admin.staff_base import StaffHandler
from community import pages
from events import view
from events.editing import EditError
from handlers.base import PageError

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})/community"
PAGE = EVENT + r"/(?P<page_id>[0-9a-f]{24})"


class CommunityHandler(StaffHandler):
    permission = EVENT_COMMUNITY

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/community"

    async def page_or_404(self, page_id) -> dict:
        page = await pages.get_page(self.db, self.event["_id"], page_id)
        if not page:
            raise PageError(404, self._("This page does not exist."))
        return page

    @property
    def announce(self):
        """The live side's hook for discussion rooms, when the live side runs here."""
        live = self.services.live
        rooms = live.community if live is not None else None
        return rooms.announce if rooms is not None else None

    def values(self) -> dict:
        locales = self.event["locales"]
        return {"slug": forms.field(self, "slug"),
                "title": forms.locale_texts(self, "title", locales),
                "body": forms.locale_texts(self, "body", locales),
                "discussion": forms.field(self, "discussion")}

    def show_form(self, page: dict | None, status: int = 200, error: str | None = None, **values):
        form = {"slug": "", "title": {}, "body": {}, "discussion": pages.OPEN, "published": False}
        if page:
            form.update({k: page[k] for k in ("slug", "title", "body", "discussion", "published")})
        form.update(values)
        self.render_page("admin/community_form.html", status=status, active="community", page=page,
                         form=form, error=error, discussions=pages.DISCUSSIONS,
                         public_base=view.path(self.space, self.event) + "/community/")


class ListHandler(CommunityHandler):
    async def get(self, event_id):
        items = await pages.list_pages(self.db, self.event["_id"])
        counts = {}
        for page in items:
            counts[page["_id"]] = await self.db.messages.count_documents(
                {"room": pages.room(page), "kind": "text", "deleted": False})
        self.render_page("admin/community.html", active="community", items=items, counts=counts,
                         discussions=pages.DISCUSSIONS, max_pages=pages.MAX_PAGES,
                         public_base=view.path(self.space, self.event) + "/community/")


class NewHandler(CommunityHandler):
    def get(self, event_id):
        self.show_form(None)

    async def post(self, event_id):
        values = self.values()
        published = self.get_body_argument("published", "") == "1"
        try:
            await pages.create(self.db, self.current_user, self.event, published=published,
                               announce=self.announce, **values)
        except EditError as exc:
            self.show_form(None, 400, self.refusal(exc), published=published, **values)
            return
        self.flash(self._("The page has been created."))
        self.redirect(self.base)


class EditHandler(CommunityHandler):
    async def get(self, event_id, page_id):
        self.show_form(await self.page_or_404(page_id))

    async def post(self, event_id, page_id):
        page = await self.page_or_404(page_id)
        values = self.values()
        try:
            await pages.update(self.db, self.current_user, self.event, page, announce=self.announce, **values)
        except EditError as exc:
            self.show_form(page, 400, self.refusal(exc), **values)
            return
        self.flash(self._("The page has been saved."))
        self.redirect(self.base)


class PublishHandler(CommunityHandler):
    async def post(self, event_id, page_id):
        page = await self.page_or_404(page_id)
        wanted = self.get_body_argument("published", "")
        if wanted not in ("0", "1"):
            raise PageError(400, self._("The request was not understood."))
        await pages.set_published(self.db, self.current_user, self.event, page, wanted == "1",
                                  announce=self.announce)
        self.flash(self._("The page is published.") if wanted == "1" else
                   self._("The page is hidden from attendees."))
        self.redirect(self.base)


class DiscussionHandler(CommunityHandler):
    async def post(self, event_id, page_id):
        page = await self.page_or_404(page_id)
        try:
            after = await pages.set_discussion(self.db, self.current_user, self.event, page,
                                               forms.field(self, "discussion"), announce=self.announce)
        except EditError as exc:
            raise PageError(400, self.refusal(exc)) from None
        self.flash({pages.OPEN: self._("The discussion is open."),
                    pages.CLOSED: self._("The discussion is closed: attendees can read it but not write."),
                    pages.OFF: self._("The page has no discussion now.")}[after["discussion"]])
        self.redirect(self.base)


class MoveHandler(CommunityHandler):
    async def post(self, event_id, page_id):
        page = await self.page_or_404(page_id)
        try:
            await pages.move(self.db, self.current_user, self.event, page, forms.field(self, "direction"))
        except EditError as exc:
            raise PageError(400, self.refusal(exc)) from None
        self.redirect(self.base + "#page-" + str(page["_id"]))


class DeleteHandler(CommunityHandler):
    async def post(self, event_id, page_id):
        page = await self.page_or_404(page_id)
        try:
            removed = await pages.delete(self.db, self.current_user, self.event, page, announce=self.announce)
        except EditError as exc:
            raise PageError(404, self.refusal(exc)) from None
        self.flash(self.ngettext("The page and its discussion (%(count)s message) have been deleted.",
                                 "The page and its discussion (%(count)s messages) have been deleted.",
                                 removed) % {"count": removed})
        self.redirect(self.base)


ROUTES = [
    (EVENT, ListHandler),
    (EVENT + r"/new", NewHandler),
    (PAGE + r"/edit", EditHandler),
    (PAGE + r"/publish", PublishHandler),
    (PAGE + r"/discussion", DiscussionHandler),
    (PAGE + r"/move", MoveHandler),
    (PAGE + r"/delete", DeleteHandler),
]
