"""The payer's pages of one payment attempt: pay by card, see the state, download the invoice.

`/pay/<attempt id>?t=<token>` is where a purpose (the checkout) sends the
payer (`payments.attempts.pay_url`).  The token, an HMAC of the attempt's
id with the cookie secret, is what admits the payer: a payer need not have
an account, and the id alone opens nothing.  A signed-in person whose
address is the attempt's payer address is admitted without it.

The card page mounts Stripe.js (`static/js/card_payment.js`) with the
attempt's client secret and the publishable key; the browser confirms the
payment with Stripe directly.  The page then polls `/pay/<id>/status`,
which answers the state the server knows: that state moves only on the
provider's signed notification (or the reconciliation sweep), never on
what the browser reports.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from core import security_headers
from handlers.base import BaseHandler, PageError
from payments import attempts, invoices
from payments.model import CARD, INVOICE, PAID, STATE_LABELS, format_amount


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


class PaymentPage(BaseHandler):
    async def attempt(self, attempt_id: str) -> dict:
        attempt = await attempts.get(self.db, attempt_id)
        token = self.get_query_argument("t", "")
        if attempt is not None and not attempts.token_ok(self.services.settings.cookie_secret, attempt["_id"], token):
            user = self.current_user
            if not (user and attempt.get("payer_email") and user.get("email", "").lower() == attempt["payer_email"]):
                attempt = None
        if attempt is None:
            raise PageError(404, self._("This payment does not exist."))
        return attempt


class PayHandler(PaymentPage):
    async def get(self, attempt_id):
        attempt = await self.attempt(attempt_id)
        card = self.services.payments.provider(attempt) if attempt["method"] == CARD else None
        if card is not None and card.configured:
            # Stripe.js's origin may load its script, frames and API on this card page only.
            self.payment_origin = _origin(card.js_url)
            security_headers.apply(self)
        self.set_header("Referrer-Policy", "no-referrer")  # the address carries the page's token
        self.set_header("Cache-Control", "no-store")
        self.render_page(
            "public/pay.html", attempt=attempt, amount=format_amount(attempt["amount"], attempt["currency"]),
            state_label=self._(STATE_LABELS.get(attempt["state"], attempt["state"])), paid=attempt["state"] in PAID,
            card=card, token=self.get_query_argument("t", ""), is_invoice=attempt["method"] == INVOICE,
            payable=attempt["state"] in ("created", "requires_action", "failed"))


class PayStatusHandler(PaymentPage):
    async def get(self, attempt_id):
        attempt = await self.attempt(attempt_id)
        self.set_header("Cache-Control", "no-store")
        self.finish({"state": attempt["state"], "label": self._(STATE_LABELS.get(attempt["state"], attempt["state"])),
                     "paid": attempt["state"] in PAID})


class InvoicePdfHandler(PaymentPage):
    async def get(self, attempt_id):
        attempt = await self.attempt(attempt_id)
        if attempt["method"] != INVOICE or not attempt.get("invoice"):
            raise PageError(404, self._("This payment does not exist."))
        body = invoices.pdf(self.services, attempt)
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", f'attachment; filename="invoice-{attempt["invoice"]["number"]}.pdf"')
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


_ID = r"(?P<attempt_id>[0-9a-f]{24})"
ROUTES = [
    (rf"/pay/{_ID}", PayHandler),
    (rf"/pay/{_ID}/status", PayStatusHandler),
    (rf"/pay/{_ID}/invoice\.pdf", InvoicePdfHandler),
]
