"""Certificates for people: the public verification page and the owner's PDF download.

`/certificates/<code>` confirms a certificate to anyone holding its code
(name, event, date) and answers 404 to a code that was never issued.  The
PDF is given only to its owner, signed in; anyone else gets the same 404.
"""
from __future__ import annotations

from certificates import issuing
from handlers.base import BaseHandler, PageError

CODE = r"(?P<code>[A-Za-z0-9]{1,40})"


class VerifyHandler(BaseHandler):
    async def get(self, code):
        found = await issuing.by_code(self.db, code.upper())
        if found is None:
            raise PageError(404, self._("No certificate has this code. Check that you typed it as printed."))
        self.render_page("public/certificate.html", certificate=found)


class DownloadHandler(BaseHandler):
    async def get(self, code):
        found = None
        if self.current_user:
            found = await self.db.certificates.find_one({"code": code.upper(), "user_id": self.current_user["_id"]})
        if not found or not found.get("pdf"):
            raise PageError(404, self._("No certificate has this code. Check that you typed it as printed."))
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", f'attachment; filename="certificate-{found["code"]}.pdf"')
        self.set_header("Cache-Control", "private, no-store")
        self.finish(bytes(found["pdf"]))


ROUTES = [
    (r"/certificates/" + CODE, VerifyHandler),
    (r"/me/certificates/" + CODE + r"\.pdf", DownloadHandler),
]
