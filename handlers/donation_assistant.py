"""The giving assistant's public page: a visitor answers questions with buttons and reaches a gift dialog.

- `GET /spaces/<space>/assistant`: the first question (a walk started, counted
  once per browser session); with `?trail=<key>.<key>...` the question at the end of that
  walk (the page after a choice; not counted again).
- `POST /spaces/<space>/assistant`: a choice (`choice=<n>`, counted: the
  question it leads to, or the campaign reached) or `back=1`; answered with
  a redirect, so a reload never counts twice.  A choice that reaches a
  campaign leads to its page with the gift dialog open (`?give=1&src=assistant`).

A space without an assistant, or whose assistant is not shown, answers 404.
"""
from __future__ import annotations

from urllib.parse import urlencode

from donations import assistant
from handlers.base import BaseHandler, PageError

SLUG = r"[a-z0-9][a-z0-9-]{0,62}"
# The session cookie (this page's path only, no personal data) that says a walk was counted as started.
STARTED = "lh_assistant_walk"


class AssistantPage(BaseHandler):
    async def tree(self, space_slug: str) -> tuple[dict, dict]:
        space = await self.db.spaces.find_one({"slug": space_slug})
        tree = await assistant.get(self.db, space["_id"]) if space else None
        if space is None or tree is None or not tree.get("enabled") or not tree.get("nodes"):
            raise PageError(404, self._(assistant.NOT_FOUND))
        return space, tree

    def here(self, space: dict, trail: list[str]) -> str:
        return f"/spaces/{space['slug']}/assistant?{urlencode({'trail': '.'.join(trail)})}"

    async def get(self, space_slug):
        space, tree = await self.tree(space_slug)
        raw = self.get_query_argument("trail", "")[:assistant.MAX_TRAIL * 17]
        trail = assistant.trail_of(tree, raw)
        if not raw and not self.get_cookie(STARTED):
            # A walk is counted once per browser session: a reload of the first question is not another.
            await assistant.count(self.db, space["_id"], started=True, node=trail[0])
            self.set_cookie(STARTED, "1", path=f"/spaces/{space['slug']}/assistant", httponly=True,
                            samesite="Lax", secure=self.over_tls)
        node = assistant.nodes_by_key(tree)[trail[-1]]
        locale = self.locale_code
        self.set_header("Cache-Control", "no-store")
        self.render_page("public/assistant.html", space=space, trail=".".join(trail), depth=len(trail),
                         question=assistant.node_text(tree, node["question"], locale),
                         answers=[assistant.node_text(tree, b["label"], locale) for b in node["buttons"]],
                         action=f"/spaces/{space['slug']}/assistant")

    async def post(self, space_slug):
        space, tree = await self.tree(space_slug)
        trail = assistant.trail_of(tree, self.form("trail", max_length=assistant.MAX_TRAIL * 17))
        if self.form("back", max_length=2) == "1":
            self.redirect(self.here(space, trail[:-1] or trail))
            return
        try:
            choice = int(self.form("choice", max_length=3))
        except ValueError:
            choice = -1
        button = assistant.choose(tree, trail, choice)
        if button is None:
            raise PageError(400, self._("Choose one of the answers."))
        if button.get("campaign_id") is not None:
            await assistant.count(self.db, space["_id"], campaign_id=button["campaign_id"])
            self.redirect(assistant.gift_path(button["campaign_id"]))
            return
        await assistant.count(self.db, space["_id"], node=button["node"])
        self.redirect(self.here(space, [*trail, button["node"]]))


ROUTES = [
    (rf"/spaces/(?P<space_slug>{SLUG})/assistant", AssistantPage),
]
