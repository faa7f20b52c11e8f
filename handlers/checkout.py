"""Buying tickets: the event's tickets, checkout, the payer's order, the holder's ticket.

- `/e/<space>/<event>/tickets`: the types on sale (public ones; hidden ones
  with `?code=`), live sold-out marks (`static/js/tickets.js` over
  `/ws?event=<id>&view=tickets`), and the choice of quantities (POST): a
  reservation holding them for `RESERVATION_MINUTES`.  Under the event's
  privacy, like registering (`handlers.registration.RegistrationPage`).
  Someone not signed in is asked to sign in, or to have a sign-in link
  mailed (an account is made for a new address; the answer is the same
  whatever the address).
- `/e/<space>/<event>/checkout/<reservation id>`: the buyer's details, the
  holders (now or later) and how they pay, with the reservation's
  countdown; POST places the order (`orders.checkout.place`), idempotently
  by the form's key.
- `/me/orders/<order id>`: the payer's order: its state, its tickets and
  their holders (assign, change, pass on), cancelling an unpaid order.
  Paying: a card order sends the payer to its payment page
  (`/pay/<attempt>`, `handlers.payments`) when placed, and `.../pay` again
  from the order; an invoice order asks for the organisation's details at
  `.../invoice`, then issues and mails the invoice (`orders.payments`).
- `/me/tickets/<order id>/<ticket id>`: the holder's ticket, printable, with
  a QR code of its signed check-in code (`.../qr.svg`).

Prices come from the server only: a form that sends one is refused.  A
reservation or an order of anyone else answers 404, as one that does not
exist.  See docs/http.md, "Tickets and orders".
"""
from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from tornado.web import Finish

from accounts import users
from attendees import registry
from core.clock import utcnow
from core.countries import names as country_names
from core.errors import Refusal
from core.i18n import N_
from events import model, view
from handlers.base import BaseHandler, PageError
from handlers.event import SLUG
from handlers.registration import RegistrationPage
from orders import actions, cabinet, checkout, holders, mails, promo_codes, shop, states, ticket_types, tickets
from orders import payments as order_payments
from orders.model import CARD, INVOICE, METHOD_LABELS
from payments import attempts, legal

EVENT = rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})"
ID = r"[0-9a-f]{24}"
TICKET_ID = r"t[0-9]{1,3}"
QTY = "qty."


def refuse_prices(handler: BaseHandler) -> None:
    """A form that names a price is refused: prices are the organiser's, read on the server."""
    if any(name.lower().startswith(("price", "unit_price", "total", "amount", "discount"))
           for name in handler.request.body_arguments):
        raise checkout.PriceSent()


class ShopPage(RegistrationPage):
    """The event (under its privacy), the buyer, and what the event sells."""

    async def open_shop(self, space_slug: str, event_slug: str) -> None:
        await self.open_event(space_slug, event_slug)
        if not self.event.get("ticketed"):
            # Nothing on sale: registration is as it always was.
            self.redirect(view.path(self.space, self.event) + "/register")
            raise Finish()

    @property
    def shop_path(self) -> str:
        return view.path(self.space, self.event) + "/tickets"

    def code(self) -> str:
        return self.form("code", max_length=64)

    def promo(self) -> str:
        return self.form("promo", max_length=64)

    async def show(self, status: int = 200, *, error: str | None = None, chosen: dict[str, str] | None = None,
                   sent: str | None = None) -> None:
        event, user = self.event, self.current_user
        code, promo = self.code(), self.promo()
        extra = await promo_codes.seats_for(self.db, event, promo, utcnow()) if promo else {}
        offer = await shop.offer(self.db, event, code=code, locale=self.locale_code, extra=extra)
        choices = ticket_types.currencies(row["type"] for row in offer)
        currency = self.form("currency", max_length=3).upper()
        currency = currency if currency in choices else (choices[0] if choices else "EUR")
        mine = None
        if user:
            mine = await self.db.reservations.find_one({"event_id": event["_id"], "buyer_id": user["_id"],
                                                        "state": checkout.HELD, "expires_at": {"$gt": utcnow()}})
        held = self.membership if self.membership and self.membership.get("ticket_type_id") \
            and self.membership.get("state", "registered") == "registered" else None
        held_name = ""
        if held:
            found = await self.db.ticket_types.find_one({"_id": held["ticket_type_id"]})
            held_name = ticket_types.name(found, self.locale_code, event) if found else ""
        self.render_page("public/tickets.html", status=status, offer=offer, currency=currency, currencies=choices,
                         code=code, promo=promo, error=error, chosen=chosen or {}, reservation=mine, held=held,
                         held_name=held_name,
                         sent=sent, shop_path=self.shop_path, event_id=str(event["_id"]),
                         event_path=view.path(self.space, event),
                         has_hidden=any(r["hidden"] for r in offer), **self.common())


class TicketsHandler(ShopPage):
    async def get(self, space_slug, event_slug):
        await self.open_shop(space_slug, event_slug)
        await self.show()

    async def post(self, space_slug, event_slug):
        await self.open_shop(space_slug, event_slug)
        self.require_user()
        quantities = {name[len(QTY):]: self.form(name, max_length=10)
                      for name in self.request.body_arguments if name.startswith(QTY)}
        try:
            refuse_prices(self)
            reservation = await checkout.reserve(self.services, self.event, self.current_user, quantities,
                                                 code=self.code() or None, promo=self.promo() or None,
                                                 currency=self.form("currency", max_length=3).upper(),
                                                 locale=self.locale_code)
        except checkout.SoldOut as exc:
            # A short page of its own (`public/sold_out.html`), drawn from what this request has read
            # already: in a rush for the last tickets nearly every buyer gets it at the same moment.
            self.render_page("public/sold_out.html", status=409, error=self.refusal(exc), shop_path=self.shop_path,
                             **self.common())
            return
        except (checkout.CheckoutError, promo_codes.PromoRefused) as exc:
            await self.show(400, error=self.refusal(exc), chosen=quantities)
            return
        self.redirect(view.path(self.space, self.event) + f"/checkout/{reservation['_id']}")


class TicketsSigninHandler(ShopPage):
    """Someone not signed in asks for a sign-in link to buy: an account is made for a new address.

    The answer is the same whatever the address, and the link goes only to
    it, so nobody learns whether an address has an account or takes over one.
    """

    async def post(self, space_slug, event_slug):
        await self.open_shop(space_slug, event_slug)
        raw = self.form("email", max_length=254)
        email = users.normalize_email(raw)
        if not email:
            await self.show(400, error=self._("Enter a valid email address."))
            return
        self.services.spawn(mails.send_signin(self.services, self.event, email,
                                              model.locale_for(self.event, self.locale_code)))
        await self.show(sent=email)


class CheckoutHandler(ShopPage):
    async def reservation(self, reservation_id: str) -> dict[str, Any]:
        self.require_user()
        try:
            found = await checkout.get(self.db, self.event, self.current_user, reservation_id)
        except checkout.NotFound as exc:
            raise PageError(404, self.refusal(exc)) from None
        order = await self.db.orders.find_one({"reservation_id": found["_id"]}, {"_id": 1})
        if order is not None:
            self.redirect(f"/me/orders/{order['_id']}")
            raise Finish()
        if not checkout.live(found, utcnow()):
            self.flash(self.refusal(checkout.ReservationGone()), "error")
            self.redirect(self.shop_path)
            raise Finish()
        return found

    async def render_checkout(self, reservation: dict[str, Any], status: int = 200, *, error: str | None = None,
                              values: dict[str, Any] | None = None) -> None:
        event, user = self.event, self.current_user
        names = await actions.type_names(self.db, event, self.locale_code)
        lines = [{"name": names.get(line["ticket_type_id"], ""), "quantity": line["quantity"],
                  "unit": line["unit_price"], "discount": int(line.get("discount") or 0),
                  "total": checkout.line_total(line)} for line in reservation["lines"]]
        seats = [names.get(line["ticket_type_id"], "") for line in reservation["lines"]
                 for _ in range(line["quantity"])]
        total = checkout.total(reservation["lines"])
        values = values or {"buyer_name": user.get("name", ""), "method": CARD, "key": secrets.token_hex(16),
                            "holders": [{"email": user["email"], "name": user.get("name", ""),
                                         "locale": model.locale_for(event, self.locale_code)}]}
        self.render_page("public/checkout.html", status=status, reservation=reservation, lines=lines, seats=seats,
                         promo=(reservation.get("promo") or {}).get("code"),
                         total=total, currency=reservation["currency"], values=values, error=error,
                         methods=[(m, METHOD_LABELS[m]) for m in (CARD, INVOICE)],
                         expires_iso=reservation["expires_at"].isoformat().replace("+00:00", "Z"),
                         action=view.path(self.space, event) + f"/checkout/{reservation['_id']}",
                         event_path=view.path(self.space, event),
                         shop_path=self.shop_path, **self.common())

    async def get(self, space_slug, event_slug, reservation_id):
        await self.open_shop(space_slug, event_slug)
        await self.render_checkout(await self.reservation(reservation_id))

    async def post(self, space_slug, event_slug, reservation_id):
        await self.open_shop(space_slug, event_slug)
        self.require_user()
        try:
            reservation = await checkout.get(self.db, self.event, self.current_user, reservation_id)
        except checkout.NotFound as exc:
            raise PageError(404, self.refusal(exc)) from None
        count = sum(line["quantity"] for line in reservation["lines"])
        given = [{"email": self.form(f"holder_email.{i}", max_length=254),
                  "name": self.form(f"holder_name.{i}", max_length=500),
                  "locale": self.form(f"holder_locale.{i}", max_length=5)} for i in range(count)]
        values = {"buyer_name": self.form("buyer_name", max_length=500), "method": self.form("method", max_length=10),
                  "key": self.form("idempotency_key", max_length=checkout.MAX_KEY), "holders": given}
        try:
            refuse_prices(self)
            holders_ = [checkout.clean_holder(self.event, h["email"], h["name"], h["locale"]) for h in given]
            order = await checkout.place(self.services, self.event, self.current_user, reservation["_id"],
                                         buyer_name=values["buyer_name"], method=values["method"], holders=holders_,
                                         idempotency_key=values["key"], locale=self.locale_code)
        except checkout.ReservationGone as exc:
            self.flash(self.refusal(exc), "error")
            self.redirect(self.shop_path)
            return
        except (checkout.CheckoutError, registry.AttendeeError, states.OrderError) as exc:
            await self.render_checkout(reservation, 400, error=self.refusal(exc), values=values)
            return
        if order["state"] in states.VALID:
            self.flash(self._(N_("Your order is paid: your tickets are on their way.")))
            self.redirect(f"/me/orders/{order['_id']}")
            return
        if order["method"] == INVOICE:
            # The organisation's details come next; the invoice is issued from them.
            self.redirect(f"/me/orders/{order['_id']}/invoice")
            return
        attempt = await order_payments.attempt_of(self.db, order)
        if attempt is not None:
            self.redirect(attempts.pay_url(self.services, attempt))
            return
        self.flash(self._(N_("Your order is placed and waits for its payment.")))
        self.redirect(f"/me/orders/{order['_id']}")


# --- the payer's order -------------------------------------------------------------------------

class OrderPage(BaseHandler):
    """The payer's own order (anyone else's is unknown: 404)."""

    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")

    async def load(self, order_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        if not self.current_user:
            if self.request.method == "GET":
                self.redirect("/signin?next=" + quote(self.request.uri, safe=""))
                raise Finish()
            raise PageError(403, self._("Please sign in first."))
        try:
            order = await actions.of_buyer(self.db, self.current_user, order_id)
        except actions.NotFound as exc:
            raise PageError(404, self.refusal(exc)) from None
        event = await model.get_event(self.db, order["event_id"])
        space = await model.get_space(self.db, event["space_id"]) if event else None
        if not event or not space:
            raise PageError(404, self._("This event does not exist."))
        return order, event, space

    async def show(self, order: dict, event: dict, space: dict, status: int = 200, *, error: str | None = None,
                   ticket_error: tuple[str, str] | None = None, confirm: bool = False) -> None:
        names = await actions.type_names(self.db, event, self.locale_code)
        attempt = await order_payments.attempt_of(self.db, order) if order["state"] == states.PENDING else None
        self.render_page("public/order.html", status=status, order=order, event=event, space=space,
                         title=view.text(event, event["title"], self.locale_code), names=names,
                         event_path=view.path(space, event), state_label=states.LABELS.get(order["state"], ""),
                         method_label=METHOD_LABELS.get(order["method"], ""), error=error, ticket_error=ticket_error,
                         live=order["state"] in states.LIVE, valid=order["state"] in states.VALID,
                         pending=order["state"] == states.PENDING, confirm=confirm,
                         pay_url=attempts.pay_url(self.services, attempt) if attempt else None,
                         invoice_issued=bool(attempt and attempt.get("invoice")), card=CARD, invoice=INVOICE)


class OrderHandler(OrderPage):
    async def get(self, order_id):
        order, event, space = await self.load(order_id)
        await self.show(order, event, space)


class OrderHolderHandler(OrderPage):
    """The payer names a ticket's holder, or passes the ticket to someone else."""

    async def post(self, order_id):
        order, event, space = await self.load(order_id)
        ticket_id = self.form("ticket", max_length=8)
        try:
            await actions.assign_holder(self.services, order, ticket_id, email=self.form("email", max_length=254),
                                        name=self.form("name", max_length=500),
                                        locale=self.form("locale", max_length=5), actor=self.current_user)
        except (states.OrderError, checkout.CheckoutError) as exc:
            await self.show(order, event, space, 400, ticket_error=(ticket_id, self.refusal(exc)))
            return
        self.flash(self._("The ticket's holder is saved."))
        self.redirect(f"/me/orders/{order['_id']}#ticket-{ticket_id}")


class OrderCancelHandler(OrderPage):
    """The payer cancels an unpaid order, after a confirmation step (`confirm=yes`)."""

    async def post(self, order_id):
        order, event, space = await self.load(order_id)
        if self.form("confirm", max_length=10) != "yes":
            await self.show(order, event, space, confirm=True)
            return
        try:
            await actions.cancel(self.services, event, order, by=states.PAYER, actor=self.current_user,
                                 why="cancelled by the payer")
        except states.OrderError as exc:
            await self.show(order, event, space, 409, error=self.refusal(exc))
            return
        self.flash(self._("Your order is cancelled."), "info")
        self.redirect(f"/me/orders/{order['_id']}")


class OrderPayHandler(OrderPage):
    """The payer pays a pending card order: the payment starts once (or is found again), and the payer goes
    to its page; after a declined card, the same page takes another."""

    async def post(self, order_id):
        order, event, space = await self.load(order_id)
        try:
            attempt = await order_payments.start(self.services, event, order)
        except Refusal as exc:
            await self.show(order, event, space, 409 if isinstance(exc, order_payments.NotPayable) else 400,
                            error=self.refusal(exc))
            return
        self.redirect(attempts.pay_url(self.services, attempt))


class OrderInvoiceHandler(OrderPage):
    """A pending invoice order: the paying organisation's details (checked for its country), then the
    invoice, numbered by the organiser's space, mailed to the payer and downloadable from its page."""

    FIELDS = ("country", *legal.ALL_FIELDS)

    async def form_page(self, order: dict, event: dict, space: dict, values: dict, status: int = 200, *,
                        errors: dict | None = None, error: str | None = None) -> None:
        self.set_header("Cache-Control", "no-store")
        self.render_page("public/order_invoice.html", status=status, order=order, event=event,
                         title=view.text(event, event["title"], self.locale_code), event_path=view.path(space, event),
                         form=values, errors=errors or {}, error=error, labels=legal.LABELS,
                         ru=legal.FIELDS[legal.RU], kz=legal.FIELDS[legal.KZ],
                         countries=country_names(self.locale_code))

    async def usable(self, order_id: str) -> tuple[dict, dict, dict]:
        order, event, space = await self.load(order_id)
        if order["method"] != INVOICE or order["state"] != states.PENDING:
            raise PageError(409, self.refusal(order_payments.NotPayable()))
        attempt = await order_payments.attempt_of(self.db, order)
        if attempt is not None and attempt.get("invoice"):
            # Issued already: its page has the invoice.
            self.redirect(attempts.pay_url(self.services, attempt))
            raise Finish()
        return order, event, space

    async def get(self, order_id):
        order, event, space = await self.usable(order_id)
        await self.form_page(order, event, space, {"country": "RU", "name": order["buyer"].get("name", "")})

    async def post(self, order_id):
        order, event, space = await self.usable(order_id)
        values = {name: self.form(name, max_length=legal.MAX_TEXT) for name in self.FIELDS}
        try:
            attempt = await order_payments.start(self.services, event, order, details=values)
        except legal.InvalidDetails as exc:
            errors = {name: self._(message) % params if params else self._(message)
                      for name, (message, params) in exc.fields.items()}
            await self.form_page(order, event, space, values, 400, errors=errors, error=self.refusal(exc))
            return
        except Refusal as exc:
            await self.form_page(order, event, space, values, 400, error=self.refusal(exc))
            return
        self.flash(self._("The invoice is issued and mailed to you. The order waits for the transfer."))
        self.redirect(attempts.pay_url(self.services, attempt))


# --- the holder's ticket ------------------------------------------------------------------------

class TicketPage(BaseHandler):
    async def load(self, order_id: str, ticket_id: str) -> tuple[dict, dict]:
        if not self.current_user:
            self.redirect("/signin?next=" + quote(self.request.uri, safe=""))
            raise Finish()
        found = await cabinet.ticket_of_holder(self.db, self.current_user, order_id, ticket_id)
        if found is None:
            raise PageError(404, self.refusal(holders.NoSuchTicket()))
        self.set_header("Cache-Control", "no-store")
        return found


class TicketHandler(TicketPage):
    async def get(self, order_id, ticket_id):
        order, ticket = await self.load(order_id, ticket_id)
        event = await model.get_event(self.db, order["event_id"])
        space = await model.get_space(self.db, event["space_id"]) if event else None
        if not event or not space:
            raise PageError(404, self._("This event does not exist."))
        names = await actions.type_names(self.db, event, self.locale_code)
        self.render_page("public/ticket.html", order=order, ticket=ticket, event=event, space=space,
                         title=view.text(event, event["title"], self.locale_code),
                         type_name=names.get(ticket["ticket_type_id"], ""), event_path=view.path(space, event),
                         code=tickets.check_in_code(self.services.settings.cookie_secret, order, ticket),
                         qr_url=f"/me/tickets/{order['_id']}/{ticket['id']}/qr.svg")


class TicketQrHandler(TicketPage):
    async def get(self, order_id, ticket_id):
        order, ticket = await self.load(order_id, ticket_id)
        self.set_header("Content-Type", "image/svg+xml")
        self.finish(tickets.qr_svg(tickets.check_in_code(self.services.settings.cookie_secret, order, ticket)))


ROUTES = [
    (EVENT + r"/tickets", TicketsHandler),
    (EVENT + r"/tickets/signin", TicketsSigninHandler),
    (EVENT + rf"/checkout/(?P<reservation_id>{ID})", CheckoutHandler),
    (rf"/me/orders/(?P<order_id>{ID})", OrderHandler),
    (rf"/me/orders/(?P<order_id>{ID})/holders", OrderHolderHandler),
    (rf"/me/orders/(?P<order_id>{ID})/cancel", OrderCancelHandler),
    (rf"/me/orders/(?P<order_id>{ID})/pay", OrderPayHandler),
    (rf"/me/orders/(?P<order_id>{ID})/invoice", OrderInvoiceHandler),
    (rf"/me/tickets/(?P<order_id>{ID})/(?P<ticket_id>{TICKET_ID})", TicketHandler),
    (rf"/me/tickets/(?P<order_id>{ID})/(?P<ticket_id>{TICKET_ID})/qr\.svg", TicketQrHandler),
]
