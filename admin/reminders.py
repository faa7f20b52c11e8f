"""The staff page of an event's reminders: switch each off, write its subject and text per locale, preview it.

Saving validates every text first (`reminders.texts.parse`): an unknown
placeholder is refused with a translated error and nothing is saved.  The
preview renders the mail as the sample recipient would get it, from the
texts in the form, without saving them.
"""
from __future__ import annotations

from access.permissions import EVENT_EDIT
from admin.staff_base import StaffHandler
from core.clock import utcnow
from reminders import runner, schedule, texts

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
SAMPLE_NAME = "Alex Sample"


class RemindersHandler(StaffHandler):
    permission = EVENT_EDIT

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/reminders"

    async def show(self, status: int = 200, *, settings=None, error: str | None = None, preview=None) -> None:
        event = self.event
        jobs = [j async for j in self.db[schedule.COLLECTION].find({"event_id": event["_id"]}).sort("due_at", 1)]
        defaults = {kind: {loc: texts.texts_for({}, kind, loc, self.i18n.gettext(loc)) for loc in event["locales"]}
                    for kind in texts.KINDS}
        self.render_page("admin/reminders.html", status=status, active="reminders", error=error,
                         settings=settings or texts.settings_of(event), kinds=texts.KINDS, labels=texts.LABELS,
                         placeholders={k: texts.placeholders_for(k) for k in texts.KINDS}, defaults=defaults,
                         jobs=jobs, preview=preview, when=lambda m: runner.when(schedule.utc(m), event))

    def _form(self) -> dict[str, str]:
        names = [f"off_{k}" for k in texts.KINDS]
        for kind in texts.KINDS:
            for loc in self.event["locales"]:
                names += [f"subject_{kind}_{loc}", f"body_{kind}_{loc}"]
        return {n: self.form(n, max_length=texts.MAX_BODY + 100) for n in names}

    async def get(self, event_id):
        await self.show()

    async def post(self, event_id):
        raw = self._form()
        typed = {kind: {"off": bool(raw[f"off_{kind}"]),
                        "texts": {loc: {"subject": raw[f"subject_{kind}_{loc}"], "body": raw[f"body_{kind}_{loc}"]}
                                  for loc in self.event["locales"]}} for kind in texts.KINDS}
        try:
            settings = texts.parse(self.event, raw)
        except texts.TextError as exc:
            await self.show(400, settings=typed, error=self.refusal(exc))
            return
        wanted = self.form("preview", max_length=40)
        if wanted:
            kind, _, locale = wanted.partition(":")
            if kind not in texts.KINDS or locale not in self.event["locales"]:
                await self.show(400, settings=typed, error=self._(texts.UNKNOWN_KIND))
                return
            await self.show(settings=typed, preview=self._preview({**self.event, "reminders": settings}, kind, locale))
            return
        self.event = await texts.save(self.db, self.event, settings, self.current_user)
        self.flash(self._("The reminders are saved."))
        self.redirect(self.base)

    def _preview(self, event, kind: str, locale: str) -> dict[str, str]:
        item = next(iter(event["schedule"]), None)
        moment = schedule.event_start(event) if kind != texts.SESSION or item is None else item["starts_at"]
        job = {"kind": kind, "item_id": item["id"] if item and kind == texts.SESSION else None,
               "starts_at": moment or utcnow()}
        url = self.services.settings.public_url
        subject, text, _html = runner.compose(self.i18n, event, job, locale, name=SAMPLE_NAME,
                                              event_url=f"{url}/e/…/{event['slug']}",
                                              unsubscribe_url=f"{url}/unsubscribe?t=…", site_url=url)
        return {"kind": kind, "locale": locale, "subject": subject, "text": text}


ROUTES = [(EVENT + r"/reminders", RemindersHandler)]
