"""The attendee's cabinet (/me): my events, registrations, tickets and orders, open data requests, programme,
materials, certificates, recommendations.

Signed-in people only; everything shown is the person's own
(`registration.cabinet.read`).  The page writes nothing: cancelling and
taking an offered place are forms posted to the event's registration
pages, cancelling behind a confirmation step that works without scripts.
"""
from __future__ import annotations

from urllib.parse import quote

from access import roles as R
from accounts.users import find_by_ids
from certificates import issuing
from core.clock import utcnow
from core.pagination import Page, parse_page
from handlers.base import BaseHandler, PageError
from handlers.catalogue import recommendation_cards
from orders import cabinet as orders_cabinet
from registration import cabinet, recommend, requests

PER_PAGE = 20


def _paged(items: list, raw: str) -> tuple[list, Page]:
    page = Page(parse_page(raw), PER_PAGE, len(items))
    if page.number > page.pages:
        page = Page(page.pages, PER_PAGE, len(items))
    return items[page.skip:page.skip + PER_PAGE], page


class CabinetHandler(BaseHandler):
    async def get(self):
        if not self.current_user:
            if self.wants_json():
                raise PageError(401, self._("Please sign in first."))
            self.redirect("/signin?next=" + quote(self.request.uri, safe=""))
            return
        now = utcnow()
        mine = await cabinet.read(self.db, self.current_user, self.locale_code, now)
        found = await recommend.for_person(self.db, self.current_user, now=now)
        spaces = await find_by_ids(self.db.spaces, {r.candidate.event["space_id"] for r in found})
        past, past_page = _paged(mine.past, self.get_query_argument("past", "1"))
        registrations, reg_page = _paged(mine.registrations, self.get_query_argument("registrations", "1"))
        self._staff_hint = any(set(e["roles"]) - {"attendee"} for e in mine.upcoming + mine.past)
        self.set_header("Cache-Control", "no-store")
        self.render_page("public/cabinet.html", upcoming=mine.upcoming, past=past, past_page=past_page,
                         registrations=registrations, registrations_page=reg_page, programme=mine.programme,
                         materials=mine.materials, role_labels=R.ROLE_LABELS,
                         data_requests=await requests.open_for(self.db, self.current_user, self.locale_code, now),
                         recommended=recommendation_cards(self, found, spaces),
                         certificates=await issuing.of_person(self.db, self.current_user["_id"]),
                         mine=await orders_cabinet.read(self.db, self.current_user, self.locale_code))


ROUTES = [
    (r"/me", CabinetHandler),
]
