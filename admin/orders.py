"""Staff pages of an event's orders: the list (search, filters, pages, CSV), each order with its log, and
the revenue (per ticket type, promo code and day: `orders.revenue`) as a chart, tables and CSV.

On an order staff mark it paid by hand (a bank transfer), cancel it, or
record a refund in full or in part; each asks for confirmation first (a
form posted without `confirm=yes` shows the confirmation) and is one
transition of `orders.states`, logged on the order with the staff's reason.
A refund of an order paid by card (or by an invoice) goes through the
payments package, and the order records it when the provider reports it;
one paid by hand is recorded as it is.  The
permission is `event.orders`; an order of another event is unknown (404).
"""
from __future__ import annotations

import secrets
from typing import Any

from access.permissions import EVENT_ORDERS
from admin.staff_base import StaffHandler
from core import money
from core.errors import Refusal
from core.pagination import parse_page
from handlers.base import PageError
from orders import actions, listing, revenue, states, ticket_types
from orders import payments as order_payments
from orders.model import METHOD_LABELS

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
ORDER = r"(?P<order_id>[0-9a-f]{24})"
MAX_WHY = 500


class OrdersPage(StaffHandler):
    permission = EVENT_ORDERS

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/orders"

    def filters(self) -> dict[str, str]:
        return {"q": self.get_query_argument("q", "").strip()[:listing.MAX_QUERY],
                "state": self.get_query_argument("state", "").strip()[:30],
                "type_id": self.get_query_argument("type", "").strip()[:30]}

    async def names(self) -> dict[Any, str]:
        return await actions.type_names(self.db, self.event, self.locale_code)

    async def order(self, order_id: str) -> dict[str, Any]:
        try:
            return await actions.of_event(self.db, self.event, order_id)
        except actions.NotFound as exc:
            raise PageError(404, self.refusal(exc)) from None

    async def show_order(self, order: dict[str, Any], status: int = 200, *, error: str | None = None,
                         confirm: str | None = None, values: dict[str, str] | None = None) -> None:
        actors = {e["actor_id"] for e in order["log"] if e.get("actor_id")}
        people = {u["_id"]: u.get("email", "") for u in await self.db.users.find(
            {"_id": {"$in": list(actors)}}, {"email": 1}).to_list(None)} if actors else {}
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/order.html", status=status, active="orders", order=order, names=await self.names(),
                         base=self.base, labels=states.LABELS, method_label=METHOD_LABELS.get(order["method"], ""),
                         error=error, confirm=confirm, values=values or {}, people=people,
                         refundable=order["paid_amount"] - order["refunded_amount"],
                         can_pay=states.allowed(order["state"], states.PAID, states.STAFF),
                         can_cancel=states.allowed(order["state"], states.CANCELLED, states.STAFF),
                         can_refund=order["state"] in states.VALID and order["paid_amount"] > order["refunded_amount"],
                         through_provider=await order_payments.paid_attempt(self.db, order) is not None,
                         key=secrets.token_hex(12))


class OrdersHandler(OrdersPage):
    async def get(self, event_id):
        filters = self.filters()
        items, page = await listing.page(self.db, self.event, parse_page(self.get_query_argument("page", "1")),
                                         **filters)
        types = await ticket_types.of_event(self.db, self.event["_id"])
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/orders.html", active="orders", items=items, page=page, filters=filters,
                         counts=await listing.counts(self.db, self.event), labels=states.LABELS,
                         states=states.STATES, names=await self.names(), base=self.base,
                         types=[(str(t["_id"]), ticket_types.name(t, self.locale_code, self.event)) for t in types])


class OrdersCsvHandler(OrdersPage):
    async def get(self, event_id):
        body = await listing.export_csv(self.db, self.event, await self.names(), actor=self.current_user,
                                        **self.filters())
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="orders-{self.event["slug"]}.csv"')
        self.set_header("Cache-Control", "no-store")
        self.finish(body.encode("utf-8"))


class RevenuePage(OrdersPage):
    async def revenue(self) -> revenue.Revenue:
        return await revenue.of_event(self.db, self.event, await self.names(), self._("No code"))


class RevenueHandler(RevenuePage):
    async def get(self, event_id):
        found = await self.revenue()
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/revenue.html", active="orders", revenue=found, base=self.base,
                         charts=[revenue.chart_series(found, c) for c in found.currencies])


class RevenueCsvHandler(RevenuePage):
    async def get(self, event_id):
        body = await revenue.csv_text(self.db, self.event, await self.revenue(), actor=self.current_user)
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="revenue-{self.event["slug"]}.csv"')
        self.set_header("Cache-Control", "no-store")
        self.finish(body.encode("utf-8"))


class OrderHandler(OrdersPage):
    async def get(self, event_id, order_id):
        await self.show_order(await self.order(order_id))


class OrderActionPage(OrdersPage):
    """A staff action on one order, behind a confirmation step."""

    action = ""

    async def post(self, event_id, order_id):
        order = await self.order(order_id)
        why = self.form("why", max_length=MAX_WHY)
        values = {"why": why, "amount": self.form("amount", max_length=30), "key": self.form("key", max_length=64)}
        if self.form("confirm", max_length=10) != "yes":
            await self.show_order(order, confirm=self.action, values=values)
            return
        try:
            message = await self.act(order, why, values)
        except (states.OrderError, money.MoneyError, Refusal) as exc:
            await self.show_order(await self.order(order_id), 409 if isinstance(exc, states.Conflict) else 400,
                                  error=self.refusal(exc), values=values)
            return
        self.flash(message)
        self.redirect(f"{self.base}/{order['_id']}")

    async def act(self, order: dict[str, Any], why: str, values: dict[str, str]) -> str:
        raise NotImplementedError


class MarkPaidHandler(OrderActionPage):
    action = "mark-paid"

    async def act(self, order, why, values):
        await actions.mark_paid(self.services, order["_id"], payment_ref=None, actor=self.current_user,
                                why=why or "marked paid by hand", by=states.STAFF)
        return self._("The order is marked paid; its holders get their tickets.")


class CancelHandler(OrderActionPage):
    action = "cancel"

    async def act(self, order, why, values):
        await actions.cancel(self.services, self.event, order, by=states.STAFF, actor=self.current_user,
                             why=why or "cancelled by staff")
        return self._("The order is cancelled; its tickets are back on sale.")


class RefundHandler(OrderActionPage):
    """A refund in full or in part: through the provider that took the payment (keyed by the form's key, so
    a form sent twice refunds once), or recorded for an order paid by hand."""

    action = "refund"

    async def act(self, order, why, values):
        amount = money.parse(values["amount"], order["currency"]) if values["amount"] else \
            order["paid_amount"] - order["refunded_amount"]
        await order_payments.refund(self.services, order, amount=amount, actor=self.current_user,
                                    why=why or "refunded by staff", key=values["key"] or secrets.token_hex(12),
                                    locale=self.locale_code)
        return self._("The refund is recorded.")


ROUTES = [
    (EVENT + r"/orders", OrdersHandler),
    (EVENT + r"/orders\.csv", OrdersCsvHandler),
    (EVENT + r"/orders/revenue", RevenueHandler),
    (EVENT + r"/orders/revenue\.csv", RevenueCsvHandler),
    (EVENT + rf"/orders/{ORDER}", OrderHandler),
    (EVENT + rf"/orders/{ORDER}/mark-paid", MarkPaidHandler),
    (EVENT + rf"/orders/{ORDER}/cancel", CancelHandler),
    (EVENT + rf"/orders/{ORDER}/refund", RefundHandler),
]
