"""Staff pages of invitation mailings and partner links: choose recipients, send, read the funnel.

The work is done in `invitations.campaigns` and `invitations.partners`; these
handlers parse the form, translate refusals and render.  A CSV with broken
rows is shown back with every broken row and nothing is stored.
"""
from __future__ import annotations

import csv
import io
import logging

from access.permissions import EVENT_MAILINGS
from admin.staff_base import StaffHandler
from core.i18n import N_, text_for
from events import model, spaces
from handlers.base import PageError
from invitations import campaigns, partners
from registration import filters, forms

log = logging.getLogger(__name__)
EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
MAILING = r"/invitations/(?P<mailing_id>[0-9a-f]{24})"
SOURCES = {"registrants": N_("Registrants of an event, with the list's filters"),
           "attendees": N_("Attendees of a past event"), "csv": N_("A CSV file: email, name, language")}
NOT_FOUND = N_("This mailing does not exist.")


class InvitationsBase(StaffHandler):
    permission = EVENT_MAILINGS

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/invitations"

    async def mailing(self, mailing_id) -> dict:
        found = await campaigns.get(self.db, self.event["_id"], mailing_id)
        if found is None:
            raise PageError(404, self._(NOT_FOUND))
        return found


class InvitationsHandler(InvitationsBase):
    async def show(self, status: int = 200, error: str | None = None, broken=None, chosen: str = "registrants"):
        events, _ = await spaces.events_of(self.db, self.event["space_id"], 0, 200)
        mailings = await campaigns.listing(self.db, self.event["_id"])
        self.render_page("admin/invitations.html", status=status, active="invitations", error=error,
                         broken=broken or [], sources=SOURCES, chosen=chosen, mailings=mailings,
                         events=[(e["_id"], text_for(e["title"], self.locale_code, (e["default_locale"],)))
                                 for e in events])

    async def get(self, event_id):
        await self.show()

    async def people(self, source: str) -> list[dict]:
        if source == "csv":
            uploads = self.request.files.get("file") or []
            if not uploads or not uploads[0]["body"]:
                raise campaigns.InviteError(N_("Choose a CSV file."))
            return campaigns.from_csv(uploads[0]["body"], self.event["locales"])
        other = await model.get_event(self.db, self.form("from_event", max_length=24))
        if source == "attendees":
            return await campaigns.from_attendees(self.db, self.event, other)
        if other is None or other["space_id"] != self.event["space_id"]:
            raise campaigns.InviteError(N_("Choose an event of this space."))
        form = await forms.load(self.db, other["_id"])
        args = {name: self.form(name, max_length=filters.MAX_QUERY_LENGTH) for name in filters.PARAMS}
        chosen = filters.parse(args, filters.answer_fields(form, self.locale_code))
        return await campaigns.from_registrants(self.db, self.event, other, filters.query(other, chosen))

    async def post(self, event_id):
        source = self.form("recipients", max_length=20)
        if source not in SOURCES:
            await self.show(400, error=self._("Choose who gets the invitations."))
            return
        try:
            people = await self.people(source)
            mailing = await campaigns.create(self.db, self.current_user, self.event, people, source)
        except campaigns.CsvErrors as exc:
            broken = [(line, self._(message) % params if params else self._(message))
                      for line, message, params in exc.rows]
            await self.show(400, error=self.refusal(exc), broken=broken, chosen=source)
            return
        except (campaigns.InviteError, filters.FilterError) as exc:
            await self.show(400, error=self.refusal(exc), chosen=source)
            return
        campaigns.start(self.services, mailing["_id"])
        self.flash(self._("The invitations are being sent."))
        self.redirect(f"{self.base}/{mailing['_id']}")


class MailingHandler(InvitationsBase):
    async def get(self, event_id, mailing_id):
        mailing = await self.mailing(mailing_id)
        people = await campaigns.rows(self.db, mailing)
        self.render_page("admin/invitation_mailing.html", active="invitations", mailing=mailing, people=people,
                         totals=campaigns.totals(people), stages=campaigns.STAGES, labels=STAGE_LABELS)


STAGE_LABELS = {"recipients": N_("Recipients"), "sent": N_("Sent"), "delivered": N_("Delivered"),
                "opened": N_("Opened"), "prefetched": N_("Prefetched by a machine"), "clicked": N_("Clicked"),
                "registered": N_("Registered"), "attended": N_("Attended"), "unsubscribed": N_("Unsubscribed")}


def _csv(header: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        # A cell starting with = + - @ would run as a formula in a spreadsheet.
        writer.writerow(["'" + c if isinstance(c, str) and c[:1] in "=+-@" else c for c in row])
    return out.getvalue().encode("utf-8")


class MailingExportHandler(InvitationsBase):
    async def get(self, event_id, mailing_id):
        mailing = await self.mailing(mailing_id)
        people = await campaigns.rows(self.db, mailing)
        flags = ["unsubscribed", *campaigns.STAGES[1:]]
        body = _csv(["email", "name", "locale", *flags, "opens", "prefetches"],
                    [[p["email"], p["name"], p["locale"], *(int(p[f]) for f in flags), p["opens"], p["prefetches"]]
                     for p in people])
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="invitations-{mailing["_id"]}.csv"')
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


class PartnersHandler(InvitationsBase):
    async def show(self, status: int = 200, error: str | None = None):
        rows = await partners.counts(self.db, self.event["_id"])
        self.render_page("admin/partners.html", status=status, active="partners", error=error, rows=rows,
                         public_url=self.services.settings.public_url)

    async def get(self, event_id):
        await self.show()

    async def post(self, event_id):
        try:
            await partners.add(self.db, self.current_user, self.event, self.form("name", max_length=500))
        except partners.PartnerError as exc:
            await self.show(400, error=self.refusal(exc))
            return
        self.redirect(f"/admin/events/{self.event['_id']}/partners")


class PartnersExportHandler(InvitationsBase):
    async def get(self, event_id):
        rows = await partners.counts(self.db, self.event["_id"])
        url = self.services.settings.public_url
        body = _csv(["partner", "link", "visits", "registrations", "attended"],
                    [[r["name"], f"{url}/p/{r['code']}", r["visits"], r["registrations"], r["attended"]]
                     for r in rows])
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="partners-{self.event["slug"]}.csv"')
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


ROUTES = [
    (EVENT + r"/invitations", InvitationsHandler),
    (EVENT + MAILING, MailingHandler),
    (EVENT + MAILING + r"\.csv", MailingExportHandler),
    (EVENT + r"/partners", PartnersHandler),
    (EVENT + r"/partners\.csv", PartnersExportHandler),
]
