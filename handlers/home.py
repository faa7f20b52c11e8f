"""The start page: the signed-in person's events (all of them for platform admins)."""
from __future__ import annotations

from core.pagination import Page, parse_page
from events import view
from handlers.base import BaseHandler

PER_PAGE = 50


class HomeHandler(BaseHandler):
    async def get(self):
        if not self.current_user:
            self.redirect("/signin")
            return
        number = parse_page(self.get_query_argument("page", "1"))
        items, total = await view.visible_events(self.db, self.current_user,
                                                 (number - 1) * PER_PAGE, PER_PAGE)
        for item in items:
            item.update(view.summary(item["event"], self.locale_code))
        if any(item["access"]["manage"] for item in items):
            self._staff_hint = True
        self.render_page("public/home.html", items=items, page=Page(number, PER_PAGE, total))


ROUTES = [
    (r"/", HomeHandler),
]
