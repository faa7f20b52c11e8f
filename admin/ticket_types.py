"""Staff pages of what an event sells: its ticket types and its quotas.

A ticket type's form sets its name and description per language, its
prices (one per line, "EUR 15.00"), or that it is free and given by
application (its application form is then built on its own page,
`admin.applications`), sale window, visibility (public, or
hidden behind a code), fewest and most per order, and what it grants:
channels, sessions, recordings and features.  A quota's form sets its
name, size and types.  Both are saved against the version the form was
shown at (the second of two staff saving is told).  The work is
`orders.ticket_types` and `orders.quotas`; the permission `event.tickets`.
"""
from __future__ import annotations

from typing import Any

from access import grants as G
from access.permissions import EVENT_TICKETS
from admin.staff_base import StaffHandler
from core.clock import utcnow
from core.i18n import N_
from events import sessions
from handlers.base import PageError
from orders import quotas, shop, ticket_types
from orders.model import VISIBILITY_LABELS

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
TYPE = r"(?P<ticket_type_id>[0-9a-f]{24})"
QUOTA = r"(?P<quota_id>[0-9a-f]{24})"
FEATURE_LABELS = {G.CHAT: N_("Chat"), G.QUESTIONS: N_("Questions to speakers"),
                  G.NETWORKING: N_("Networking (community discussions)")}


class TicketsPage(StaffHandler):
    permission = EVENT_TICKETS

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/tickets"

    async def show_list(self, status: int = 200, error: str | None = None) -> None:
        event = self.event
        types = await ticket_types.of_event(self.db, event["_id"])
        found = await quotas.of_event(self.db, event["_id"])
        left = await quotas.availability(self.db, event["_id"], [t["_id"] for t in types])
        names = {t["_id"]: ticket_types.name(t, self.locale_code, event) for t in types}
        rows = [{"type": t, "name": names[t["_id"]], "left": left[t["_id"]],
                 "status": shop.status(t, left[t["_id"]], utcnow())} for t in types]
        self.render_page("admin/ticket_types.html", status=status, active="tickets", rows=rows, quotas=found,
                         names=names, error=error, base=self.base, used=quotas.used,
                         is_channel=bool(event.get("parent_id")))

    async def show_type(self, values: dict[str, Any], *, ticket_type: dict | None = None, status: int = 200,
                        error: str | None = None, field: str | None = None) -> None:
        event = self.event
        self.render_page("admin/ticket_type.html", status=status, active="tickets", values=values,
                         ticket_type=ticket_type, error=error, field=field, base=self.base,
                         channels=await sessions.channels_of(self.db, event),
                         items=sorted(event["schedule"], key=lambda i: i["starts_at"]),
                         visibilities=VISIBILITY_LABELS, features=FEATURE_LABELS)

    def raw_type(self) -> dict[str, Any]:
        """The form's fields, as `orders.ticket_types.clean` reads them."""
        def texts(prefix: str, limit: int) -> dict[str, str]:
            return {code: self.form(f"{prefix}.{code}", max_length=limit) for code in self.event["locales"]}

        def many(name: str) -> list[str]:
            return [v.decode("utf-8", "replace").strip()[:64] for v in self.request.body_arguments.get(name, [])][:500]

        return {"name": texts("name", 400), "description": texts("description", 4000),
                "prices": self.form("prices", max_length=2000),
                "sale_starts": self.form("sale_starts", max_length=20),
                "sale_ends": self.form("sale_ends", max_length=20),
                "visibility": self.form("visibility", max_length=10), "code": self.form("code", max_length=200),
                "min_per_order": self.form("min_per_order", max_length=10),
                "max_per_order": self.form("max_per_order", max_length=10),
                "channels_all": self.form("channels_all", max_length=2) == "1", "channels": many("channels"),
                "sessions_all": self.form("sessions_all", max_length=2) == "1", "sessions": many("sessions"),
                "recordings": self.form("recordings", max_length=2) == "1", "features": many("features"),
                "by_application": self.form("by_application", max_length=2) == "1"}

    async def ticket_type(self, type_id: str) -> dict[str, Any]:
        try:
            return await ticket_types.get(self.db, self.event, type_id)
        except ticket_types.UnknownType as exc:
            raise PageError(404, self.refusal(exc)) from None

    async def quota(self, quota_id: str) -> dict[str, Any]:
        try:
            return await quotas.get(self.db, self.event, quota_id)
        except quotas.UnknownQuota as exc:
            raise PageError(404, self.refusal(exc)) from None

    async def show_quota(self, values: dict[str, Any], *, quota: dict | None = None, status: int = 200,
                         error: str | None = None) -> None:
        types = await ticket_types.of_event(self.db, self.event["_id"])
        self.render_page("admin/quota.html", status=status, active="tickets", values=values, quota=quota,
                         error=error, base=self.base,
                         types=[(str(t["_id"]), ticket_types.name(t, self.locale_code, self.event)) for t in types])

    def raw_quota(self) -> dict[str, Any]:
        return {"name": self.form("name", max_length=400), "size": self.form("size", max_length=20),
                "type_ids": [v.decode("utf-8", "replace").strip()[:64]
                             for v in self.request.body_arguments.get("types", [])][:100]}


class TicketTypesHandler(TicketsPage):
    async def get(self, event_id):
        self.set_header("Cache-Control", "no-store")
        await self.show_list()


class TicketTypeNewHandler(TicketsPage):
    async def get(self, event_id):
        await self.show_type(ticket_types.blank_form())

    async def post(self, event_id):
        raw = self.raw_type()
        try:
            values = await ticket_types.clean(self.db, self.event, raw)
            await ticket_types.create(self.db, self.current_user, self.event, values)
        except ticket_types.TicketTypeError as exc:
            await self.show_type(raw, status=400, error=self.refusal(exc), field=exc.field)
            return
        self.flash(self._("The ticket type is saved. The event now sells tickets: people register by getting one."))
        self.redirect(self.base)


class TicketTypeEditHandler(TicketsPage):
    async def get(self, event_id, ticket_type_id):
        found = await self.ticket_type(ticket_type_id)
        await self.show_type(ticket_types.form_values(self.event, found), ticket_type=found)

    async def post(self, event_id, ticket_type_id):
        found = await self.ticket_type(ticket_type_id)
        raw = self.raw_type()
        try:
            values = await ticket_types.clean(self.db, self.event, raw)
            await ticket_types.update(self.db, self.current_user, self.event, found, values,
                                      self.form("version", max_length=20))
        except ticket_types.TicketTypeConflict as exc:
            fresh = await self.ticket_type(ticket_type_id)
            await self.show_type(ticket_types.form_values(self.event, fresh), ticket_type=fresh, status=409,
                                 error=self.refusal(exc))
            return
        except ticket_types.TicketTypeError as exc:
            await self.show_type(raw, ticket_type=found, status=400, error=self.refusal(exc), field=exc.field)
            return
        self.flash(self._("The ticket type is saved."))
        self.redirect(self.base)


class TicketTypeRemoveHandler(TicketsPage):
    async def post(self, event_id, ticket_type_id):
        found = await self.ticket_type(ticket_type_id)
        try:
            await ticket_types.remove(self.db, self.current_user, self.event, found)
        except ticket_types.TicketTypeError as exc:
            await self.show_list(409, error=self.refusal(exc))
            return
        self.flash(self._("The ticket type is removed."), "info")
        self.redirect(self.base)


class QuotaNewHandler(TicketsPage):
    async def get(self, event_id):
        await self.show_quota({"name": "", "size": "", "type_ids": []})

    async def post(self, event_id):
        raw = self.raw_quota()
        try:
            await quotas.create(self.db, self.current_user, self.event, name=raw["name"], size=raw["size"],
                                type_ids=raw["type_ids"])
        except quotas.QuotaError as exc:
            await self.show_quota(raw, status=400, error=self.refusal(exc))
            return
        self.flash(self._("The quota is saved."))
        self.redirect(self.base)


class QuotaEditHandler(TicketsPage):
    async def get(self, event_id, quota_id):
        found = await self.quota(quota_id)
        await self.show_quota({"name": found["name"], "size": str(found["size"]),
                               "type_ids": [str(t) for t in found["ticket_type_ids"]]}, quota=found)

    async def post(self, event_id, quota_id):
        found = await self.quota(quota_id)
        raw = self.raw_quota()
        try:
            await quotas.update(self.db, self.current_user, self.event, found, name=raw["name"], size=raw["size"],
                                type_ids=raw["type_ids"], version=self.form("version", max_length=20))
        except quotas.QuotaConflict as exc:
            fresh = await self.quota(quota_id)
            await self.show_quota({"name": fresh["name"], "size": str(fresh["size"]),
                                   "type_ids": [str(t) for t in fresh["ticket_type_ids"]]}, quota=fresh,
                                  status=409, error=self.refusal(exc))
            return
        except quotas.QuotaError as exc:
            await self.show_quota(raw, quota=found, status=400, error=self.refusal(exc))
            return
        self.flash(self._("The quota is saved."))
        self.redirect(self.base)


class QuotaRemoveHandler(TicketsPage):
    async def post(self, event_id, quota_id):
        found = await self.quota(quota_id)
        try:
            await quotas.remove(self.db, self.current_user, self.event, found)
        except quotas.QuotaError as exc:
            await self.show_list(409, error=self.refusal(exc))
            return
        self.flash(self._("The quota is removed."), "info")
        self.redirect(self.base)


ROUTES = [
    (EVENT + r"/tickets", TicketTypesHandler),
    (EVENT + r"/tickets/new", TicketTypeNewHandler),
    (EVENT + rf"/tickets/{TYPE}", TicketTypeEditHandler),
    (EVENT + rf"/tickets/{TYPE}/remove", TicketTypeRemoveHandler),
    (EVENT + r"/quotas/new", QuotaNewHandler),
    (EVENT + rf"/quotas/{QUOTA}", QuotaEditHandler),
    (EVENT + rf"/quotas/{QUOTA}/remove", QuotaRemoveHandler),
]
