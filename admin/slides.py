"""Slide decks per event language: upload, reorder, remove, copy between languages.

The page lists every language's deck as thumbnails; each change POSTs to
/slides/<locale>/<upload|move|remove|copy> and goes through `events.decks`,
which persists, audits and announces.  An upload is checked as a whole:
when any file is refused the page lists each refused file with its reason
(400) and nothing is stored.  Which slide is *shown* is live control, not
this page (see admin/live_control.py).
"""
from __future__ import annotations

from access.permissions import EVENT_CONTROL, EVENT_SLIDES
from admin.staff_base import StaffHandler
from core.i18n import LOCALE_NAMES, Formatter
from events import decks, model
from handlers.base import PageError
from media import image_store

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
LOCALE = r"(?P<locale>[a-z]{2})"
MAX_FILES = 50
ACCEPT = "image/png,image/jpeg,image/webp,image/gif"


class SlidesBase(StaffHandler):
    permission = EVENT_SLIDES

    def refusal(self, exc: Exception) -> str:
        """A DeckError or MediaError in the reader's language, numbers formatted for it."""
        text = self._(exc.message)
        if not exc.params:
            return text
        fmt = Formatter(self.locale_code)
        return text % {k: fmt.number(v) if isinstance(v, (int, float)) else v
                       for k, v in exc.params.items()}

    async def render_slides(self, status: int = 200, error: str = "", error_locale: str = "",
                            failures: list | None = None):
        event = self.event
        own = event["slides"]["decks"]
        meta = await image_store.describe(self.db, [s["media_id"] for d in own.values() for s in d or []])
        index = event["slides"]["index"]
        view = []
        for locale in event["locales"]:
            slides = own.get(locale) or []
            view.append({
                "locale": locale, "name": LOCALE_NAMES[locale],
                "slides": [{"position": i, "media_id": s["media_id"], "name": s.get("name", ""),
                            "info": meta.get(s["media_id"]),
                            "current": i == min(index, len(slides) - 1)}
                           for i, s in enumerate(slides)],
                "sources": [c for c in event["locales"] if c != locale and own.get(c)],
            })
        self.set_header("Cache-Control", "no-store")
        self.render_page(
            "admin/slides.html", status=status, active="slides", decks=view,
            error=error, error_locale=error_locale, failures=failures or [],
            locale_names=LOCALE_NAMES, accept=ACCEPT, max_files=MAX_FILES,
            max_upload_mb=self.services.settings.max_upload_mb,
            default_locale=event["default_locale"], slide_count=model.slide_count(event),
            can_control=EVENT_CONTROL in self.grants,
        )

    def check_locale(self, locale: str) -> None:
        if locale not in self.event["locales"]:
            raise PageError(404, self._("This event has no such language."))

    def back(self, locale: str, message: str) -> None:
        self.flash(message)
        self.redirect(f"/admin/events/{self.event['_id']}/slides#deck-{locale}")

    def slide_params(self) -> tuple[int | None, str]:
        try:
            position = int(self.form("position", max_length=10))
        except ValueError:
            position = None
        return position, self.form("media_id", max_length=64)


class SlidesPage(SlidesBase):
    async def get(self, event_id):
        await self.render_slides()


class UploadSlides(SlidesBase):
    async def post(self, event_id, locale):
        self.check_locale(locale)
        files = [(f.get("filename") or "", f.get("body") or b"")
                 for f in self.request.files.get("images", [])]
        # A file input left empty still sends one part with no name and no bytes.
        files = [(name, body) for name, body in files if name or body]
        if len(files) > MAX_FILES:
            await self.render_slides(400, self._("Upload at most %(max)s images at a time.")
                                     % {"max": MAX_FILES}, locale)
            return
        max_bytes = self.services.settings.max_upload_mb * 1024 * 1024
        try:
            await decks.add_slides(self.db, self.services.notifier, self.event["_id"],
                                   self.current_user, locale, files, max_bytes)
        except decks.UploadRejected as exc:
            failures = [(name, self.refusal(err)) for name, err in exc.failures]
            await self.render_slides(400, self.refusal(exc), locale, failures)
            return
        except decks.DeckError as exc:
            await self.render_slides(400, self.refusal(exc), locale)
            return
        self.back(locale, self.ngettext("%(count)s slide added to %(language)s.",
                                        "%(count)s slides added to %(language)s.", len(files))
                  % {"count": len(files), "language": LOCALE_NAMES[locale]})


class MoveSlide(SlidesBase):
    async def post(self, event_id, locale):
        self.check_locale(locale)
        position, media_id = self.slide_params()
        direction = self.form("direction", max_length=10)
        try:
            await decks.move_slide(self.db, self.services.notifier, self.event["_id"],
                                   self.current_user, locale, position, media_id, direction)
        except decks.DeckError as exc:
            await self.render_slides(400, self.refusal(exc), locale)
            return
        self.back(locale, self._("The slide is moved."))


class RemoveSlide(SlidesBase):
    async def post(self, event_id, locale):
        self.check_locale(locale)
        position, media_id = self.slide_params()
        try:
            await decks.remove_slide(self.db, self.services.notifier, self.event["_id"],
                                     self.current_user, locale, position, media_id)
        except decks.DeckError as exc:
            await self.render_slides(400, self.refusal(exc), locale)
            return
        self.back(locale, self._("The slide is removed."))


class CopyDeck(SlidesBase):
    async def post(self, event_id, locale):
        self.check_locale(locale)
        source = self.form("source", max_length=10)
        try:
            await decks.copy_deck(self.db, self.services.notifier, self.event["_id"],
                                  self.current_user, source, locale)
        except decks.DeckError as exc:
            await self.render_slides(400, self.refusal(exc), locale)
            return
        self.back(locale, self._("The deck of %(source)s is copied to %(target)s.")
                  % {"source": LOCALE_NAMES[source], "target": LOCALE_NAMES[locale]})


ROUTES = [
    (EVENT + r"/slides", SlidesPage),
    (EVENT + r"/slides/" + LOCALE + r"/upload", UploadSlides),
    (EVENT + r"/slides/" + LOCALE + r"/move", MoveSlide),
    (EVENT + r"/slides/" + LOCALE + r"/remove", RemoveSlide),
    (EVENT + r"/slides/" + LOCALE + r"/copy", CopyDeck),
]
