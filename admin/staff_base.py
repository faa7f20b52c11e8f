"""The one place staff permissions are enforced.

Every staff handler subclasses `StaffHandler` and names the permission it
needs.  `prepare` signs the visitor in (or sends them to the sign-in page),
loads the space and event named in the URL (404 when unknown), collects the
visitor's roles in that scope and refuses with 403 when the permission is
not granted.  Handlers can then trust `self.space`, `self.event`,
`self.roles` and `self.grants`.
"""
from __future__ import annotations

from urllib.parse import quote

from access import roles as R
from access.permissions import granted_on_page
from events import editing, model
from handlers.base import BaseHandler, PageError


class StaffHandler(BaseHandler):
    permission: str = ""
    # Set once `prepare` let the request through; a subclass's own `prepare` reads further only then
    # (a visitor was sent to sign in, and the answer is already given).
    admitted: bool = False

    async def prepare(self):
        await super().prepare()
        self.admitted = False
        if not self.permission:
            raise RuntimeError(f"{type(self).__name__} declares no permission")
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                self.redirect("/signin?next=" + quote(self.request.uri, safe=""))
                return
            raise PageError(403, self._("Please sign in first."))
        self.space = self.event = None
        kwargs = self.path_kwargs
        if "event_id" in kwargs:
            self.event = await model.get_event(self.db, kwargs["event_id"])
            if not self.event:
                raise PageError(404, self._("This event does not exist."))
            self.space = await model.get_space(self.db, self.event["space_id"])
        elif "space_id" in kwargs:
            self.space = await model.get_space(self.db, kwargs["space_id"])
            if not self.space:
                raise PageError(404, self._("This space does not exist."))
        self.roles = await R.roles_in(self.db, self.current_user,
                                      self.space["_id"] if self.space else None,
                                      self.event["_id"] if self.event else None,
                                      self.event.get("parent_id") if self.event else None)
        scoped = self.space is not None or self.event is not None
        self.grants = granted_on_page(
            self.roles, scoped=scoped,
            staff_anywhere=not scoped and await R.holds_staff_role(self.db, self.current_user))
        self._staff_hint = True
        if self.permission not in self.grants:
            raise PageError(403, self._("You do not have permission for this action."))
        self.admitted = True

    def item(self) -> dict:
        """The event's schedule item named in the query string (`?item=`, on a page and its form); else 404."""
        item_id = self.get_query_argument("item", "").strip()[:32]
        item = editing.find_item(self.event, item_id)
        if not item:
            raise PageError(404, self._("This schedule item does not exist."))
        return item

    def template_context(self) -> dict:
        ctx = super().template_context()
        ctx.update(space=getattr(self, "space", None), event=getattr(self, "event", None),
                   grants=getattr(self, "grants", frozenset()))
        return ctx
