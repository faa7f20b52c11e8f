"""The attendee side of community pages, and the support page between sessions.

- /e/<space>/<event>/community: the published pages of the event, in order;
- /e/<space>/<event>/community/<slug>: one page and its discussion (a chat
  room driven by static/js/chat.js over the event's live connection);
- /e/<space>/<event>/support: the attendee's private support room on its own,
  reachable whatever the broadcast and the days are doing.
Access is the event page's (handlers.event.EventViewer): members of the
event, after the gate opens unless they may enter early.  Unpublished pages
do not exist for anyone here; staff preview them from the admin.
"""
from __future__ import annotations

from community import pages
from community.render import body_html
from events import view
from handlers.base import PageError
from handlers.event import SLUG, EventViewer


class CommunityListHandler(EventViewer):
    async def get(self, space_slug, event_slug):
        opened = await self.open_event(space_slug, event_slug)
        if opened is None:
            return
        space, event, can = opened
        items = [{"slug": p["slug"], "title": view.text(event, p["title"], self.locale_code),
                  "body": view.text(event, p["body"], self.locale_code), "discussion": p["discussion"]}
                 for p in await pages.list_pages(self.db, event["_id"], published_only=True)]
        self.render_page("public/community.html", event=event, space=space, can=can, items=items,
                         event_title=view.text(event, event["title"], self.locale_code),
                         event_path=view.path(space, event))


class CommunityPageHandler(EventViewer):
    async def get(self, space_slug, event_slug, slug):
        opened = await self.open_event(space_slug, event_slug)
        if opened is None:
            return
        space, event, can = opened
        page = await pages.published_page(self.db, event["_id"], slug)
        if not page:
            raise PageError(404, self._("This page does not exist."))
        others = [{"slug": p["slug"], "title": view.text(event, p["title"], self.locale_code)}
                  for p in await pages.list_pages(self.db, event["_id"], published_only=True)]
        self.render_page("public/community_page.html", event=event, space=space, can=can,
                         event_title=view.text(event, event["title"], self.locale_code),
                         event_path=view.path(space, event), others=others, slug=page["slug"],
                         title=view.text(event, page["title"], self.locale_code),
                         body=body_html(view.text(event, page["body"], self.locale_code)),
                         discussion=page["discussion"],
                         room=pages.room(page) if page["discussion"] != pages.OFF else None)


class SupportHandler(EventViewer):
    async def get(self, space_slug, event_slug):
        opened = await self.open_event(space_slug, event_slug)
        if opened is None:
            return
        space, event, can = opened
        self.render_page("public/support.html", event=event, space=space, can=can,
                         event_title=view.text(event, event["title"], self.locale_code),
                         event_path=view.path(space, event),
                         has_community=await pages.has_published(self.db, event["_id"]))


EVENT = rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})"

ROUTES = [
    (EVENT + r"/community", CommunityListHandler),
    (EVENT + rf"/community/(?P<slug>{SLUG})", CommunityPageHandler),
    (EVENT + r"/support", SupportHandler),
]
