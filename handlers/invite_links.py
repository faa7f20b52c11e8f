"""The tracked links of invitations and partners.

`/i/o/<token>.gif` is the open pixel of an invitation, `/i/c/<token>` its
link to the event (counted, then redirected), `/p/<code>` a partner's link
(`invitations.partners`: the visit is counted and the partner remembered
for the attribution of a registration made from this browser).  None of them
signs anyone in or reveals anything: an unknown token gets the same pixel,
or the same "not found" page.
"""
from __future__ import annotations

import base64

from core.i18n import N_
from events import model
from handlers.base import BaseHandler, PageError
from invitations import campaigns, partners

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NOT_FOUND = N_("This link is not valid. Check that you copied the whole address from the email.")
TOKEN = r"(?P<token>[A-Za-z0-9_-]{1,128})"


class OpenPixelHandler(BaseHandler):
    async def get(self, token):
        await campaigns.record_open(self.db, token, self.request.remote_ip or "",
                                    self.request.headers.get("User-Agent", "")[:500])
        self.set_header("Content-Type", "image/gif")
        self.set_header("Cache-Control", "no-store, private")
        self.finish(PIXEL)


class ClickHandler(BaseHandler):
    async def get(self, token):
        target = await campaigns.record_click(self.db, token)
        if target is None:
            raise PageError(404, self._(NOT_FOUND))
        self.set_header("Cache-Control", "no-store")
        self.redirect(target)


class PartnerLinkHandler(BaseHandler):
    async def get(self, code):
        link = await partners.by_code(self.db, code)
        event = await model.get_event(self.db, link["event_id"]) if link else None
        space = await model.get_space(self.db, event["space_id"]) if event else None
        if link is None or event is None or space is None:
            raise PageError(404, self._(NOT_FOUND))
        await partners.visit(self.db, link)
        # Each partner link followed replaces the remembered one: the last touch wins.
        self.set_signed_cookie(partners.cookie_name(event["_id"]), str(link["_id"]),
                               expires_days=partners.COOKIE_DAYS, httponly=True, samesite="Lax",
                               secure=self.over_tls)
        self.set_header("Cache-Control", "no-store")
        self.redirect(f"/e/{space['slug']}/{event['slug']}/about")


ROUTES = [
    (r"/i/o/" + TOKEN + r"\.gif", OpenPixelHandler),
    (r"/i/c/" + TOKEN, ClickHandler),
    (r"/p/(?P<code>[A-Za-z0-9_-]{1,40})", PartnerLinkHandler),
]
