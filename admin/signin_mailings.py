"""Staff pages for sign-in mailings: choose the recipients, confirm, follow the progress.

Choosing happens with GET (the page then asks "Send sign-in emails to N
attendees?"), sending with a POST that carries `confirm=yes`, so nothing is
ever sent by a stray click or a crawler.  The sending itself runs in the
background (`mailings.signin_mailing.start`); the progress page reloads itself
every two seconds while it runs.
"""
from __future__ import annotations

from access.permissions import EVENT_MAILINGS
from admin.staff_base import StaffHandler
from attendees import registry
from core.pagination import parse_page
from handlers.base import PageError
from mailings import signin_mailing

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
                audience, chosen = signin_mailing.clean_audience(self.event, audience, locale)
                people = await signin_mailing.recipients(self.db, self.event, audience, chosen)
                confirm = {"audience": audience, "locale": chosen or "", "count": len(people)}
            except signin_mailing.MailingError as exc:
                error = self.refusal(exc)
        await self.show(audience=audience or signin_mailing.ALL, locale=locale, confirm=confirm, error=error,
                        status=400 if error else 200)

    async def show(self, *, audience: str, locale: str, confirm=None, error=None, status: int = 200):
        items, page = await signin_mailing.history(self.db, self.event["_id"],
                                             parse_page(self.get_query_argument("page", "1")))
        self.render_page("admin/mailings.html", status=status, active="mailings", items=items, page=page,
                         audience=audience, locale=locale, confirm=confirm, error=error,
                         running=await signin_mailing.active(self.db, self.event["_id"]),
                         attendee_count=await registry.count(self.db, self.event["_id"]),
                         ttl_hours=self.services.settings.signin_link_ttl_hours,
                         smtp=bool(self.services.settings.smtp_host))

    async def post(self, event_id):
        audience = self.form("audience", max_length=20)
        locale = self.form("locale", max_length=10)
        if self.form("confirm", max_length=10) != "yes":
            await self.show(audience=audience or signin_mailing.ALL, locale=locale, status=400,
                            error=self._("Choose the recipients and confirm before sending."))
            return
        try:
            mailing = await signin_mailing.create(self.db, self.event, audience=audience, locale=locale,
                                            actor=self.current_user)
        except signin_mailing.MailingError as exc:
            await self.show(audience=audience or signin_mailing.ALL, locale=locale, status=400,
                            error=self.refusal(exc))
            return
        signin_mailing.start(self.services, mailing["_id"])
        n = mailing["total"]
        self.flash(self.ngettext("Sending sign-in emails to %(count)s attendee.",
                                 "Sending sign-in emails to %(count)s attendees.", n) % {"count": n})
        self.redirect(f"{self.base}/{mailing['_id']}")


class MailingHandler(MailingsBase):
    async def get(self, event_id, mailing_id):
        mailing = await signin_mailing.get(self.db, self.event["_id"], mailing_id)
        if not mailing:
            raise PageError(404, self._("This mailing does not exist."))
        failed, page = await signin_mailing.failures(self.db, mailing["_id"],
                                               parse_page(self.get_query_argument("page", "1")))
        self.render_page("admin/mailing.html", active="mailings", mailing=mailing,
                         progress=signin_mailing.progress(mailing), failed=failed, page=page,
                         page_url=f"{self.base}/{mailing['_id']}")


ROUTES = [
    (EVENT + r"/mailings", MailingsHandler),
    (EVENT + r"/mailings/(?P<mailing_id>[0-9a-f]{24})", MailingHandler),
]
