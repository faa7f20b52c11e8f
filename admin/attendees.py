"""Staff pages for an event's attendees: list and search, register one, remove one,
import a CSV file through a preview, export everyone as CSV.

The work is done in `attendees.registry` and `attendees.csv_import`; these
handlers parse forms, translate refusals and render.  An import preview is
only ever shown to, and committed by, the person who uploaded it.  Every
answer is the same whether or not an address already had an account
elsewhere on the installation.
"""
from __future__ import annotations

from urllib.parse import urlencode

from access.permissions import EVENT_ATTENDEES
from admin.staff_base import StaffHandler
from attendees import csv_import, registry
from core.pagination import Page, parse_page
from handlers.base import PageError

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
PER_PAGE = 50


class AttendeesBase(StaffHandler):
    permission = EVENT_ATTENDEES

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/attendees"

    def translate(self, exc) -> str:
        return self._(exc.message) % exc.params


class AttendeesHandler(AttendeesBase):
    async def get(self, event_id):
        q = self.form("q", max_length=registry.MAX_QUERY_LENGTH)
        sort = self.get_query_argument("sort", registry.DEFAULT_SORT)
        if sort not in registry.SORTS:
            sort = registry.DEFAULT_SORT
        rows, page = await registry.search(self.db, self.event, q, sort,
                                           parse_page(self.get_query_argument("page", "1")))
        self.render_page("admin/attendees.html", active="attendees", rows=rows, page=page, q=q, sort=sort,
                         registered=await registry.count(self.db, self.event["_id"]),
                         page_url=f"{self.base}?{urlencode({'q': q, 'sort': sort})}",
                         sort_links={key: f"{self.base}?{urlencode({'q': q, 'sort': key} if q else {'sort': key})}"
                                     for key in registry.SORTS})


class AttendeeNewHandler(AttendeesBase):
    def get(self, event_id):
        self.show_form({"email": "", "name": "", "locale": self.event["default_locale"]})

    def show_form(self, values: dict, error: str | None = None, status: int = 200) -> None:
        self.render_page("admin/attendees_new.html", status=status, active="attendees",
                         values=values, error=error)

    async def post(self, event_id):
        values = {"email": self.form("email", max_length=254), "name": self.form("name", max_length=500),
                  "locale": self.form("locale", max_length=20)}
        try:
            membership = await registry.register(self.db, self.event, actor=self.current_user, **values)
        except registry.AttendeeError as exc:
            self.show_form(values, self.translate(exc), 400)
            return
        self.flash(self._("%(email)s is registered.") % {"email": membership["email"]})
        self.redirect(self.base)


class AttendeeRemoveHandler(AttendeesBase):
    async def post(self, event_id, membership_id):
        try:
            membership = await registry.remove(self.db, self.event, membership_id, actor=self.current_user)
        except registry.NotAttendee as exc:
            raise PageError(404, self.translate(exc)) from None
        self.flash(self._("%(email)s is no longer registered for this event. The account itself stays.")
                   % {"email": membership["email"]})
        self.redirect(self.base)


class AttendeesExportHandler(AttendeesBase):
    async def get(self, event_id):
        body = await registry.export_csv(self.db, self.event, actor=self.current_user)
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="attendees-{self.event["slug"]}.csv"')
        self.set_header("Cache-Control", "no-store")
        self.finish(body.encode("utf-8"))


class ImportHandler(AttendeesBase):
    def get(self, event_id):
        self.show_form()

    def show_form(self, error: str | None = None, status: int = 200) -> None:
        s = self.services.settings
        self.render_page("admin/attendees_import.html", status=status, active="attendees", error=error,
                         max_kb=s.max_csv_kb, max_rows=s.max_csv_rows)

    async def post(self, event_id):
        uploads = self.request.files.get("file") or []
        if not uploads or not uploads[0]["body"]:
            self.show_form(self._("Choose a CSV file to upload."), 400)
            return
        upload = uploads[0]
        s = self.services.settings
        try:
            doc = await csv_import.preview(self.db, self.event, upload["body"], owner=self.current_user,
                                           filename=upload.get("filename", ""),
                                           max_kb=s.max_csv_kb, max_rows=s.max_csv_rows)
        except csv_import.ImportFileError as exc:
            self.show_form(self.translate(exc), 400)
            return
        self.redirect(f"{self.base}/import/{doc['_id']}")


class ImportPreviewHandler(AttendeesBase):
    async def load(self, import_id) -> dict:
        doc = await csv_import.load(self.db, import_id, event_id=self.event["_id"],
                                    owner_id=self.current_user["_id"])
        if not doc:
            raise PageError(404, self.translate(csv_import.ImportGone()))
        return doc

    async def get(self, event_id, import_id):
        doc = await self.load(import_id)
        show = self.get_query_argument("show", "errors" if doc["invalid"] else "all")
        show = show if show in ("errors", "all") else "all"
        number = parse_page(self.get_query_argument("page", "1"))
        rows, total = csv_import.rows_page(doc, show == "errors", (number - 1) * PER_PAGE, PER_PAGE)
        self.render_page("admin/attendees_import_preview.html", active="attendees", doc=doc, rows=rows,
                         show=show, page=Page(number, PER_PAGE, total),
                         page_url=f"{self.base}/import/{doc['_id']}?show={show}",
                         preview_url=f"{self.base}/import/{doc['_id']}")

    async def post(self, event_id, import_id):
        await self.load(import_id)
        action = self.form("action", max_length=20)
        if action == "discard":
            await csv_import.discard(self.db, import_id, event_id=self.event["_id"],
                                     owner_id=self.current_user["_id"])
            self.flash(self._("The import was discarded; nobody was registered."), "info")
            self.redirect(f"{self.base}/import")
            return
        if action != "commit":
            raise PageError(400, self._("Choose whether to import the rows or discard the file."))
        try:
            result = await csv_import.commit(self.db, self.event, import_id, owner=self.current_user)
        except csv_import.ImportGone as exc:
            raise PageError(404, self.translate(exc)) from None
        n, k = result["imported"], result["skipped"]
        message = self.ngettext("Imported %(count)s attendee.", "Imported %(count)s attendees.", n) % {"count": n}
        if k:
            # One flash: a second one in the same response would replace the first.
            message += " " + self.ngettext(
                "%(count)s row was skipped: registered by someone else meanwhile.",
                "%(count)s rows were skipped: registered by someone else meanwhile.", k) % {"count": k}
        self.flash(message)
        self.redirect(self.base)


ID = r"(?P<{}>[0-9a-f]{{24}})"

ROUTES = [
    (EVENT + r"/attendees", AttendeesHandler),
    (EVENT + r"/attendees/new", AttendeeNewHandler),
    (EVENT + r"/attendees/export\.csv", AttendeesExportHandler),
    (EVENT + r"/attendees/import", ImportHandler),
    (EVENT + r"/attendees/import/" + ID.format("import_id"), ImportPreviewHandler),
    (EVENT + r"/attendees/" + ID.format("membership_id") + r"/remove", AttendeeRemoveHandler),
]
