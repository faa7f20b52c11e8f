"""Staff pages for an event's attendees: the registrant list (search, filters, sort,
pages, counts per state that follow registrations live), register one, remove
one, import a CSV file through a preview, export the list as CSV, act on many
registrations at once.

The work is done in `attendees.registry`, `attendees.csv_import`,
`registration.filters` and `registration.bulk`; these handlers parse forms,
translate refusals and render.  An import preview is
only ever shown to, and committed by, the person who uploaded it.  Every
answer is the same whether or not an address already had an account
elsewhere on the installation.
"""
from __future__ import annotations

import asyncio
import json
import secrets
from urllib.parse import urlencode

from access.permissions import EVENT_ATTENDEES
from admin.staff_base import StaffHandler
from attendees import csv_import, registry
from core.i18n import N_
from core.pagination import Page, parse_page
from handlers.base import PageError
from orders import ticket_types
from registration import actions, bulk, counts, filters, forms, requests
from registration import model as M

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
PER_PAGE = 50
# Why a data request was not mailed to someone (`registration.requests.NotSent`).
REQUEST_REASONS = {
    requests.ANSWERED: N_("answered the request already"),
    requests.MAILED: N_("mailed by this send already"),
    requests.CLOSED: N_("the request is not active any more"),
}


class AttendeesBase(StaffHandler):
    permission = EVENT_ATTENDEES

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/attendees"


    async def answer_fields(self) -> list[filters.AnswerField]:
        """The registration form's fields, then every data request's (`registration.requests`)."""
        return (filters.answer_fields(await forms.load(self.db, self.event["_id"]), self.locale_code)
                + await requests.answer_fields(self.db, self.event, self.locale_code))

    def raw_filters(self, body: bool = False) -> dict[str, str]:
        """The filter arguments as sent (query string, or a form's body), each of bounded length."""
        limit = max(filters.MAX_QUERY_LENGTH, filters.MAX_VALUE_LENGTH) + 1
        get = self.get_body_argument if body else self.get_query_argument
        return {name: (get(name, "") or "").strip()[:limit] for name in filters.PARAMS}

    def sort_arg(self, body: bool = False) -> str:
        sort = (self.get_body_argument if body else self.get_query_argument)("sort", registry.DEFAULT_SORT)
        return sort if sort in registry.SORTS else registry.DEFAULT_SORT


class AttendeesHandler(AttendeesBase):
    async def get(self, event_id):
        raw = self.raw_filters()
        sort = self.sort_arg()
        fields = await self.answer_fields()
        error = None
        try:
            chosen = filters.parse(raw, fields)
        except filters.FilterError as exc:
            # Shown with no rows: an unfiltered list must not pass for the filtered one.
            chosen, error = None, self.refusal(exc)
        if chosen is None:
            rows, page = [], Page(1, registry.PER_PAGE, 0)
            args: dict[str, str] = {}
        else:
            rows, page = await registry.search(self.db, self.event, sort=sort, filters=chosen,
                                               page_number=parse_page(self.get_query_argument("page", "1")))
            args = chosen.params()
        without_state = {k: v for k, v in args.items() if k != "state"}
        request_columns = await requests.list_columns(self.db, self.event, self.locale_code)
        self.set_header("Cache-Control", "no-store")
        self.render_page(
            "admin/attendees.html", status=400 if error else 200, active="attendees", rows=rows, page=page,
            q=raw["q"], sort=sort, raw=raw, chosen=chosen, error=error, fields=fields,
            request_headers=requests.headers(request_columns),
            request_cells={row["id"]: requests.cells(request_columns, row["request_answers"], self.locale_code)
                           for row in rows},
            states=M.STATES, state_labels=M.STATE_LABELS,
            state_counts=await counts.by_state(self.db, self.event["_id"]),
            sources=filters.SOURCES, source_labels=filters.SOURCE_LABELS,
            actions=bulk.ACTIONS, action_labels=bulk.ACTION_LABELS, bulk_key=secrets.token_urlsafe(16),
            live=M.settings_of(self.event)["open"],
            registered=await registry.count(self.db, self.event["_id"]),
            page_url=f"{self.base}?{urlencode({**args, 'sort': sort})}",
            export_url=f"{self.base}/list.csv?{urlencode({**args, 'sort': sort})}",
            state_links={state: f"{self.base}?{urlencode({**args, 'state': state, 'sort': sort})}"
                         for state in M.STATES},
            all_states_link=f"{self.base}?{urlencode({**without_state, 'sort': sort})}",
            sort_links={key: f"{self.base}?{urlencode({**args, 'sort': key})}" for key in registry.SORTS})


class AttendeeNewHandler(AttendeesBase):
    async def get(self, event_id):
        await self.show_form({"email": "", "name": "", "locale": self.event["default_locale"], "ticket_type": ""})

    async def show_form(self, values: dict, error: str | None = None, status: int = 200) -> None:
        # An event that sells tickets admits only ticket holders: staff give the person one.
        types = [(str(t["_id"]), ticket_types.name(t, self.locale_code, self.event))
                 for t in await ticket_types.of_event(self.db, self.event["_id"])]
        self.render_page("admin/attendees_new.html", status=status, active="attendees",
                         values=values, error=error, ticket_types=types)

    async def post(self, event_id):
        values = {"email": self.form("email", max_length=254), "name": self.form("name", max_length=500),
                  "locale": self.form("locale", max_length=20)}
        chosen = self.form("ticket_type", max_length=30)
        try:
            ticket_type_id = None
            if self.event.get("ticketed"):
                if not chosen:
                    raise registry.AttendeeError(N_("Choose a ticket type: this event admits only ticket holders."))
                ticket_type_id = (await ticket_types.get(self.db, self.event, chosen))["_id"]
            membership = await registry.register(self.db, self.event, actor=self.current_user,
                                                 services=self.services, ticket_type_id=ticket_type_id, **values)
        except (registry.AttendeeError, ticket_types.TicketTypeError) as exc:
            await self.show_form({**values, "ticket_type": chosen}, self.refusal(exc), 400)
            return
        self.flash(self._("%(email)s is registered.") % {"email": membership["email"]})
        self.redirect(self.base)


class AttendeeRemoveHandler(AttendeesBase):
    async def post(self, event_id, membership_id):
        try:
            membership = await actions.remove_by_staff(self.services, self.event, membership_id,
                                                       self.current_user)
        except registry.NotAttendee as exc:
            raise PageError(404, self.refusal(exc)) from None
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


class ListExportHandler(AttendeesBase):
    """The registrant list as the page shows it (same filters, same order), every answer a column."""

    async def get(self, event_id):
        try:
            chosen = filters.parse(self.raw_filters(), await self.answer_fields())
        except filters.FilterError as exc:
            raise PageError(400, self.refusal(exc)) from None
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="registrants-{self.event["slug"]}.csv"')
        self.set_header("Cache-Control", "no-store")
        async for piece in registry.stream_csv(self.db, self.event, chosen, self.sort_arg(), self.locale_code,
                                               actor=self.current_user):
            self.write(piece.encode("utf-8"))
            await self.flush()
        self.finish()


class BulkHandler(AttendeesBase):
    """Many registrations at once: ask again where it is destructive, compose a message, start the job."""

    async def post(self, event_id):
        action = self.form("action", max_length=20)
        if action not in bulk.ACTIONS:
            raise PageError(400, self._("Choose what to do with the selected registrations."))
        everyone = self.form("all", max_length=1) == "1"
        raw = self.raw_filters(body=True)
        ids = [i.strip()[:24] for i in self.get_body_arguments("id")[:bulk.MAX_SELECTION + 1]]
        try:
            chosen_filters = filters.parse(raw, await self.answer_fields()) if everyone else None
            chosen = await bulk.select(self.db, self.event, ids=ids, filters=chosen_filters)
        except (filters.FilterError, bulk.BulkError) as exc:
            raise PageError(400, self.refusal(exc)) from None
        subject = self.form("subject", max_length=bulk.MAX_SUBJECT * 2)
        text = self.form("text", max_length=bulk.MAX_TEXT * 2)
        context = {"action": action, "everyone": everyone, "raw": raw, "ids": [] if everyone else chosen,
                   "count": len(chosen), "key": self.form("key", max_length=64) or secrets.token_urlsafe(16),
                   "sort": self.sort_arg(body=True), "subject": subject, "text": text,
                   "action_label": self._(bulk.ACTION_LABELS[action]), "error": None}
        if action in bulk.DESTRUCTIVE and self.form("confirmed", max_length=1) != "1":
            self.render_page("admin/attendees_bulk_confirm.html", active="attendees", **context)
            return
        if action == bulk.MESSAGE and self.form("compose", max_length=1) != "1":
            self.render_page("admin/attendees_bulk_message.html", active="attendees", **context)
            return
        try:
            job = await bulk.create(self.db, self.event, action=action, chosen=chosen, key=context["key"],
                                    actor=self.current_user, subject=subject, text=text)
        except bulk.BulkError as exc:
            context["error"] = self.refusal(exc)
            self.render_page("admin/attendees_bulk_message.html", status=400, active="attendees", **context)
            return
        if job["status"] == bulk.RUNNING:
            # A small selection is done before the page is: the report shows at once.
            # A large one goes on after this request; its page follows its progress.
            await asyncio.wait([bulk.start(self.services, job["_id"])], timeout=2.0)
        self.redirect(f"{self.base}/bulk/{job['_id']}")


class BulkJobHandler(AttendeesBase):
    """A bulk job's progress and report (JSON for the page's script)."""

    async def get(self, event_id, job_id):
        job = await bulk.load(self.db, self.event["_id"], job_id)
        if not job:
            raise PageError(404, self._("This bulk action does not exist."))
        reasons = [(self.reason_text(r), n) for r, n in bulk.reasons(job)]
        self.set_header("Cache-Control", "no-store")
        if self.wants_json():
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps({"status": job["status"], "total": job["total"], "done": job["done"],
                                    "skipped": job["skipped"], "position": job["position"],
                                    "summary": self.summary(job),
                                    "reasons": [self.reason_line(t, n) for t, n in reasons]}))
            return
        label = bulk.ACTION_LABELS[job["action"]]
        self.render_page("admin/attendees_bulk_job.html", active="attendees", job=job, reasons=reasons,
                         summary=self.summary(job), action_label=self._(label))

    def summary(self, job: dict) -> str:
        done = self.ngettext("%(count)s done", "%(count)s done", job["done"]) % {"count": job["done"]}
        skipped = self.ngettext("%(count)s skipped", "%(count)s skipped", job["skipped"]) % {"count": job["skipped"]}
        return f"{done}, {skipped}"

    def reason_line(self, text: str, count: int) -> str:
        return self.ngettext("%(num)s skipped: %(reason)s", "%(num)s skipped: %(reason)s", count) % {
            "num": count, "reason": text}

    def reason_text(self, reason: str) -> str:
        state = bulk.reason_state(reason)
        if reason in REQUEST_REASONS:
            return self._(REQUEST_REASONS[reason])
        if state is None:
            return self._("no longer registered for this event")
        return self._("in the state “%(state)s”, which this action does not apply to") % {
            "state": self._(M.STATE_LABELS.get(state, state))}


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
            self.show_form(self.refusal(exc), 400)
            return
        self.redirect(f"{self.base}/import/{doc['_id']}")


class ImportPreviewHandler(AttendeesBase):
    async def load(self, import_id) -> dict:
        doc = await csv_import.load(self.db, import_id, event_id=self.event["_id"],
                                    owner_id=self.current_user["_id"])
        if not doc:
            raise PageError(404, self.refusal(csv_import.ImportGone()))
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
            result = await csv_import.commit(self.db, self.event, import_id, owner=self.current_user,
                                             services=self.services)
        except csv_import.ImportGone as exc:
            raise PageError(404, self.refusal(exc)) from None
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
    (EVENT + r"/attendees/list\.csv", ListExportHandler),
    (EVENT + r"/attendees/bulk", BulkHandler),
    (EVENT + r"/attendees/bulk/" + ID.format("job_id"), BulkJobHandler),
    (EVENT + r"/attendees/import", ImportHandler),
    (EVENT + r"/attendees/import/" + ID.format("import_id"), ImportPreviewHandler),
    (EVENT + r"/attendees/" + ID.format("membership_id") + r"/remove", AttendeeRemoveHandler),
]
