"""The staff page of an event's certificates: the layout per locale, the conditions, a preview
PDF with a sample name, and issuing (a job that goes on when the page is closed).

The work is `certificates.templates` and `certificates.issuing`; these
handlers parse, authorise (the event-editing permission) and render.
"""
from __future__ import annotations

from access.permissions import EVENT_EDIT
from admin.staff_base import StaffHandler
from certificates import issuing, templates
from core.i18n import N_
from handlers.base import PageError
from quizzes import authoring

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
SAMPLE_NAMES = {"he": "דוד כהן", "kk": "Әлия Нұрланқызы", "ru": "Анна Иванова", "de": "Jürgen Müller",
                "lv": "Jānis Bērziņš", "lt": "Jūratė Žukauskienė", "et": "Jüri Õunapuu"}
SAMPLE_NAME = N_("Sample Name")


class CertificatesBase(StaffHandler):
    permission = EVENT_EDIT

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/certificates"


class CertificatesHandler(CertificatesBase):
    async def get(self, event_id):
        await self.show()

    async def show(self, status: int = 200, *, layouts: dict | None = None, error: str | None = None,
                   values: dict | None = None):
        template = await templates.load(self.db, self.event)
        quizzes = await authoring.list_quizzes(self.db, self.event["_id"])
        self.render_page("admin/certificates.html", status=status, active="certificates",
                         layouts=layouts if layouts is not None else template.get("layouts") or {},
                         default_layout=templates.DEFAULT_LAYOUT, placeholders=templates.PLACEHOLDERS,
                         max_minutes=templates.MAX_MINUTES,
                         quizzes=quizzes, error=error, values=values or {
                             "quiz_id": str(template.get("quiz_id") or ""),
                             "min_percent": "" if template.get("min_percent") is None else template["min_percent"],
                             "min_minutes": template.get("min_minutes") or ""},
                         issued=await issuing.count(self.db, self.event["_id"]), job=template.get("job"))

    async def post(self, event_id):
        layouts = {code: self.form(f"layout_{code}", max_length=templates.MAX_LAYOUT + 1000)
                   for code in self.event["locales"]}
        values = {"quiz_id": self.form("quiz_id", max_length=40),
                  "min_percent": self.form("min_percent", max_length=10),
                  "min_minutes": self.form("min_minutes", max_length=10)}
        quizzes = await authoring.list_quizzes(self.db, self.event["_id"])
        try:
            cleaned = templates.clean(self.event, quizzes, layouts=layouts, **values)
        except templates.TemplateError as exc:
            await self.show(400, layouts=layouts, values=values, error=self.refusal(exc))
            return
        await templates.save(self.db, self.current_user, self.event, cleaned)
        self.flash(self._("The certificate settings are saved."))
        self.redirect(self.base)


class PreviewHandler(CertificatesBase):
    """The saved layout in one locale as PDF, with a sample name in that locale's script."""

    async def get(self, event_id):
        locale = self.get_query_argument("locale", "") or self.event["default_locale"]
        if locale not in self.event["locales"]:
            raise PageError(404, self._("This event has no such language."))
        template = await templates.load(self.db, self.event)
        name = SAMPLE_NAMES.get(locale) or self.i18n.gettext(locale)(SAMPLE_NAME)
        data = await issuing.sample_pdf(self.services, template, self.event, locale, name)
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", 'inline; filename="certificate-preview.pdf"')
        self.set_header("Cache-Control", "no-store")
        self.finish(data)


class IssueHandler(CertificatesBase):
    async def post(self, event_id):
        if await issuing.start_job(self.db, self.event):
            issuing.start(self.services, self.event["_id"])
            self.flash(self._("Issuing has started; it goes on if you close this page."))
        else:
            self.flash(self._("Issuing is already under way."))
        self.redirect(self.base)


ROUTES = [
    (EVENT + r"/certificates", CertificatesHandler),
    (EVENT + r"/certificates/preview\.pdf", PreviewHandler),
    (EVENT + r"/certificates/issue", IssueHandler),
]
