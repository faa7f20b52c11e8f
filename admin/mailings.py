"""Staff pages for sign-in mailings: choose the recipients, confirm, follow the progress.

Choosing happens with GET (the page then asks "Send sign-in emails to N
attendees?"), sending with a POST that carries `confirm=yes`, so nothing is
ever sent by a stray click or a crawler.  The sending itself runs in the
background (`attendees.mailings.start`); the progress page reloads itself
every two seconds while it runs.
"""
from __future__ import annotations

from admin.base import StaffHandler
from admin.permissions import EVENT_MAILINGS
from attendees import mailings, registry
from handlers.base import PageError
from pagination import parse_page

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"


class MailingsBase(StaffHandler):
    permission = EVENT_MAILINGS

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/mailings"


class MailingsHandler(MailingsBase):
    async def get(self, event_id):
        audience = self.form("audience", max_length=20)
        locale = self.form("locale", max_length=10)
        confirm = None
        error = None
        if audience:
            try:
                audience, chosen = mailings.clean_audience(self.event, audience, locale)
                people = await mailings.recipients(self.db, self.event, audience, chosen)
                confirm = {"audience": audience, "locale": chosen or "", "count": len(people)}
            except mailings.MailingError as exc:
                error = self._(exc.message) % exc.params
        await self.show(audience=audience or mailings.ALL, locale=locale, confirm=confirm, error=error,
                        status=400 if error else 200)

    async def show(self, *, audience: str, locale: str, confirm=None, error=None, status: int = 200):
        items, page = await mailings.history(self.db, self.event["_id"],
                                             parse_page(self.get_query_argument("page", "1")))
        self.render_page("admin/mailings.html", status=status, active="mailings", items=items, page=page,
                         audience=audience, locale=locale, confirm=confirm, error=error,
                         running=await mailings.active(self.db, self.event["_id"]),
                         attendee_count=await registry.count(self.db, self.event["_id"]),
                         ttl_hours=self.services.settings.signin_link_ttl_hours,
                         smtp=bool(self.services.settings.smtp_host))

    async def post(self, event_id):
        audience = self.form("audience", max_length=20)
        locale = self.form("locale", max_length=10)
        if self.form("confirm", max_length=10) != "yes":
            await self.show(audience=audience or mailings.ALL, locale=locale, status=400,
                            error=self._("Choose the recipients and confirm before sending."))
            return
        try:
            mailing = await mailings.create(self.db, self.event, audience=audience, locale=locale,
                                            actor=self.current_user)
        except mailings.MailingError as exc:
            await self.show(audience=audience or mailings.ALL, locale=locale, status=400,
                            error=self._(exc.message) % exc.params)
            return
        mailings.start(self.services, mailing["_id"])
        n = mailing["total"]
        self.flash(self.ngettext("Sending sign-in emails to %(count)s attendee.",
                                 "Sending sign-in emails to %(count)s attendees.", n) % {"count": n})
        self.redirect(f"{self.base}/{mailing['_id']}")


class MailingHandler(MailingsBase):
    async def get(self, event_id, mailing_id):
        mailing = await mailings.get(self.db, self.event["_id"], mailing_id)
        if not mailing:
            raise PageError(404, self._("This mailing does not exist."))
        failed, page = await mailings.failures(self.db, mailing["_id"],
                                               parse_page(self.get_query_argument("page", "1")))
        self.render_page("admin/mailing.html", active="mailings", mailing=mailing,
                         progress=mailings.progress(mailing), failed=failed, page=page,
                         page_url=f"{self.base}/{mailing['_id']}")


ROUTES = [
    (EVENT + r"/mailings", MailingsHandler),
    (EVENT + r"/mailings/(?P<mailing_id>[0-9a-f]{24})", MailingHandler),
]
