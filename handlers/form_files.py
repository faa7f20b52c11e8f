"""GET /files/<id>: a file given with a form answer, for its owner and the event's staff.

Access decision: the person must be signed in and be the file's owner, or
hold a role granting EVENT_ATTENDEES in the file's event (the staff who see
registrants and their answers).  Anyone else is told the file does not
exist, so a file id reveals nothing.  An uploaded file is never shown
inline: it is sent as an attachment under the content type recognised from
its bytes, with nosniff, so a document cannot run as a page of the site.
"""
from __future__ import annotations

from urllib.parse import quote

from access import roles as R
from access.permissions import EVENT_ATTENDEES, granted
from events import model
from handlers.base import BaseHandler, PageError
from registration import form_files


class FormFileHandler(BaseHandler):
    async def get(self, file_id):
        if not self.current_user:
            self.redirect("/signin?next=" + quote(self.request.uri, safe=""))
            return
        doc = await form_files.describe(self.db, file_id)
        if not doc or not await self.may_read(doc):
            raise PageError(404, self._("This file does not exist."))
        name = doc["name"] or "file"
        self.set_header("Content-Type", doc["content_type"])
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(name, safe='')}")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "private, no-store")
        self.finish(await form_files.read(self.db, doc))

    async def may_read(self, doc: dict) -> bool:
        if doc.get("owner_id") == self.current_user["_id"]:
            return True
        event = await model.get_event(self.db, doc.get("event_id"))
        if not event:
            return False
        roles = await R.roles_in(self.db, self.current_user, event["space_id"], event["_id"])
        return EVENT_ATTENDEES in granted(roles)


ROUTES = [
    (r"/files/(?P<file_id>[0-9a-f]{24})", FormFileHandler),
]
