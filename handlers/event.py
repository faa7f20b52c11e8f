"""The event page an attendee watches, and the countdown in front of it.

Access: a membership in the event or its space, or platform admin.  Before
the gate opens, people without the "enter early" permission see the
countdown; staff pass with a banner saying attendees do not see the page
yet.  What the page shows comes from `events.view`.
"""
from __future__ import annotations

from urllib.parse import quote

import roles as R
from events import model, view
from handlers.base import BaseHandler, PageError

SLUG = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"


class EventPageHandler(BaseHandler):
    async def get(self, space_slug, event_slug):
        if not self.current_user:
            self.redirect("/signin?next=" + quote(self.request.uri, safe=""))
            return
        space, event = await model.get_event_by_slugs(self.db, space_slug, event_slug)
        if not event:
            raise PageError(404, self._("This event does not exist."))
        roles = await R.roles_in(self.db, self.current_user, space["_id"], event["_id"])
        can = view.access(roles)
        if not can["watch"]:
            raise PageError(403, self._("You are not registered for this event."))
        self._staff_hint = can["manage"]
        self.set_header("Cache-Control", "no-store")
        gate_open = model.gate_open(event)
        if not gate_open and not can["early"]:
            self.render_page("public/countdown.html", event=event, space=space,
                             countdown=view.countdown(event, self.locale_code))
            return
        self.render_page("public/event.html", event=event, space=space, can=can,
                         page=view.page(event, self.locale_code), staff_preview=not gate_open)


ROUTES = [
    (rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})", EventPageHandler),
]
