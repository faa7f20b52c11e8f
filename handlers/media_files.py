"""GET /media/<sha256>: images stored in the database (slides), served to anyone.

Access decision: no session is needed.  An id is the SHA-256 of the image's
bytes, so it cannot be guessed or enumerated; only people shown a page that
links to it learn it.  Slides are shown to a whole audience anyway, and
skipping the session lookup keeps a slide flip seen by thousands of viewers
at one database read per viewer, which the long cache lifetime then removes
for every later view.

Privacy (`access.rules.privacy_verdict`) is enforced where an id is
handed out, not here: the event page, its live state over the socket and
the staff pages are the only places that name a slide's id, and each of
them refuses whoever the event's privacy (and the registration it needs
for watching) does not admit.  A check here would need the session, the
roles and the events holding the image on every view of every slide.

Because the content behind an id never changes, responses are cacheable
forever (`immutable`), the ETag is the id itself and a matching
If-None-Match is answered 304 without touching the database.  The content
type is the one Pillow detected at upload, and `nosniff` stops a browser
from second-guessing it.
"""
from __future__ import annotations

from handlers.base import BaseHandler, PageError
from media import image_store


class MediaHandler(BaseHandler):
    async def prepare(self):
        # Only the language is needed (for a translated 404); no session.
        self.locale_code = self.choose_locale()

    def compute_etag(self):
        # Tornado would hash the body on every response; the id already is one.
        return None

    async def get(self, media_id):
        self.set_header("ETag", f'"{media_id}"')
        if self.check_etag_header():
            self.set_status(304)
            self._cache_headers()
            self.finish()
            return
        doc = await image_store.get(self.db, media_id)
        if doc is None:
            self.clear_header("ETag")
            raise PageError(404, self._("This image does not exist."))
        self._cache_headers()
        self.set_header("Content-Type", doc["content_type"])
        self.finish(bytes(doc["data"]))

    def _cache_headers(self):
        self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        self.set_header("X-Content-Type-Options", "nosniff")


ROUTES = [
    (r"/media/(?P<media_id>[0-9a-f]{64})", MediaHandler),
]
