"""The staff page of an event's mail templates: every kind of mail, its subject and text per locale, a preview.

The kinds are listed in their groups (sign-in, registration, invitations,
reminders, data requests, certificates); `?kind=<key>` opens one kind.  Saving validates every text first
(`mailings.templates.parse`): an unknown placeholder is refused with a
translated error and nothing is saved.  The preview renders the mail, both
its plain-text and its HTML part, for the sample recipient from the texts in
the form, without saving them.
"""
from __future__ import annotations

from access.permissions import EVENT_EDIT
from admin.staff_base import StaffHandler
from handlers.base import PageError
from mailings import templates

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"


class MailTemplatesHandler(StaffHandler):
    permission = EVENT_EDIT

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/mail-templates"

    def _kind(self) -> templates.Kind | None:
        key = self.form("kind", max_length=60)
        if not key:
            return None
        try:
            return templates.kind_of(key)
        except templates.TextError as exc:
            raise PageError(404, self.refusal(exc)) from None

    def show(self, kind: templates.Kind | None, status: int = 200, *, typed=None, error: str | None = None,
             preview=None) -> None:
        event = self.event
        defaults = {}
        if kind is not None:
            defaults = {loc: templates.texts_for({}, kind, loc, self.i18n.gettext(loc)) for loc in event["locales"]}
        self.render_page("admin/mail_templates.html", status=status, active="mail_templates", error=error,
                         groups=templates.grouped(), kind=kind, defaults=defaults, preview=preview,
                         own={k.key: templates.stored(event, k) for k in templates.KINDS.values()},
                         typed=typed if typed is not None else (templates.stored(event, kind) if kind else {}))

    async def get(self, event_id):
        self.show(self._kind())

    async def post(self, event_id):
        kind = self._kind()
        if kind is None:
            raise PageError(404, self._(templates.UNKNOWN_KIND))
        raw = {}
        for loc in self.event["locales"]:
            for name in (f"subject_{loc}", f"body_{loc}"):
                raw[name] = self.form(name, max_length=templates.MAX_BODY + 100)
        typed = {loc: {"subject": raw[f"subject_{loc}"], "body": raw[f"body_{loc}"]} for loc in self.event["locales"]}
        try:
            texts = templates.parse(self.event, kind, raw)
        except templates.TextError as exc:
            self.show(kind, 400, typed=typed, error=self.refusal(exc))
            return
        locale = self.form("preview", max_length=10)
        if locale:
            if locale not in self.event["locales"]:
                raise PageError(400, self._(templates.UNKNOWN_KIND))
            event = templates.with_texts(self.event, kind, texts)
            self.show(kind, typed=typed, preview=templates.preview(self.i18n, event, kind, locale,
                                                                  site_url=self.services.settings.public_url))
            return
        self.event = await templates.save(self.db, self.event, kind, texts, self.current_user)
        self.flash(self._("The mail template is saved."))
        self.redirect(f"{self.base}?kind={kind.key}")


ROUTES = [(EVENT + r"/mail-templates", MailTemplatesHandler)]
