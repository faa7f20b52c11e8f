"""Invoices for legal entities: numbered per space, printed as PDF, mailed, marked paid by staff.

An invoice attempt is prepared (`InvoiceProvider.prepare`) by taking the
next number of its space from one atomic counter (`payment_counters`,
`$inc` on the space's document), so two invoices issued at once never
share a number; the seller's details (`payments.seller`) and the payer's
(`payments.legal`) are copied onto the attempt as they were at issue.  A
number taken by a process that died before storing it is skipped, never
given twice.

The PDF is drawn from `templates/pdf/invoice.html` by WeasyPrint (Pango
shapes Cyrillic, Kazakh and Hebrew text), in the payer's language, from
the copy on the attempt: the same invoice every time it is downloaded.  It
is mailed once as a link (`mail`) to the payer, who downloads it with the
payment page's token; staff download it from the space's payments page.

Staff mark an invoice paid when the transfer arrives (`mark_paid`, after a
confirmation, audited); that is the fact that moves the attempt to
succeeded and calls the purpose's `on_paid`, once.  Refunds of an invoice
are made by bank transfer and recorded the same way as card refunds.
"""
from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

from pymongo import ReturnDocument

from access import audit
from core.clock import utcnow
from core.countries import name as country_name
from core.errors import Refusal
from core.i18n import N_, direction
from mailings import messages
from payments import attempts, legal, providers, seller
from payments.model import INVOICE, SUCCEEDED, AttemptDoc, format_amount
from payments.providers import Fact

log = logging.getLogger(__name__)

MAIL = "payment_invoice"
NOT_INVOICE = N_("This payment is not an invoice.")
NOT_CONFIRMED = N_("Tick the box to confirm that the money has arrived.")
ALREADY_PAID = N_("This invoice is already marked paid.")
CANNOT_PAY = N_("This invoice cannot be marked paid any more (it is %(state)s).")
# How long a payer has to pay, printed on the invoice.
DUE_DAYS = 10


class InvoiceError(Refusal):
    pass


class InvoiceProvider:
    name = "invoice"
    account = None
    configured = True

    async def prepare(self, attempt: Mapping[str, Any], *, services) -> dict[str, Any]:
        db = services.db
        details = await seller.load(db, attempt["space_id"])
        if details is None:
            raise attempts.PaymentError(attempts.NO_SELLER)
        counter = await db.payment_counters.find_one_and_update(
            {"_id": f"invoice:{attempt['space_id']}"}, {"$inc": {"seq": 1}}, upsert=True,
            return_document=ReturnDocument.AFTER)
        seq = int(counter["seq"])
        prefix = details.get("invoice_prefix") or ""
        issued = utcnow()
        return {"invoice": {
            "seq": seq, "number": f"{prefix}-{seq}" if prefix else str(seq), "issued_at": issued,
            "due_at": issued + datetime.timedelta(days=DUE_DAYS), "mailed_at": None,
            "seller": {k: v for k, v in details.items() if k not in ("_id", "updated_at", "updated_by")},
        }}

    async def retrieve(self, attempt: Mapping[str, Any]) -> list[Fact]:
        return []  # nobody to ask: staff say when a transfer arrived

    async def refund(self, attempt: Mapping[str, Any], amount: int, key: str, reason: str) -> Fact:
        # Given back by bank transfer, outside the platform: recorded as made.
        return Fact(providers.REFUND, amount=amount, currency=attempt["currency"],
                    refund_ref=f"invoice-refund-{attempt['_id']}-{key}", refund_key=key, refund_status="succeeded",
                    message=reason)


# --- the document ------------------------------------------------------------------------------

def _rows(details: Mapping[str, Any], locale: str) -> list[tuple[str, str]]:
    """(label, value) lines of an organisation, in the order of its country's form."""
    out = []
    for field in legal.fields_for(details.get("country", "")):
        if field != "name" and details.get(field):
            out.append((field, str(details[field])))
    out.append(("country", country_name(details.get("country", ""), locale)))
    return out


def html(services, attempt: Mapping[str, Any]) -> str:
    locale = attempt.get("locale") or "en"
    invoice = attempt["invoice"]
    env = services.i18n.env(locale)
    gettext = services.i18n.gettext(locale)
    return env.get_template("pdf/invoice.html").render(
        locale_code=locale, direction=direction(locale), attempt=attempt, invoice=invoice,
        seller=invoice["seller"], buyer=attempt.get("details") or {},
        seller_rows=[(gettext(legal.LABELS[f]), v) for f, v in _rows(invoice["seller"], locale)],
        buyer_rows=[(gettext(legal.LABELS[f]), v) for f, v in _rows(attempt.get("details") or {}, locale)],
        total=format_amount(attempt["amount"], attempt["currency"]),
        issued=invoice["issued_at"].date().isoformat(), due=invoice["due_at"].date().isoformat())


def pdf(services, attempt: Mapping[str, Any]) -> bytes:
    """The invoice as PDF bytes; nothing but the page itself is loaded (no file or network address)."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher
    return HTML(string=html(services, attempt), url_fetcher=URLFetcher(allowed_protocols={"data"})).write_pdf()


async def mail(services, attempt_id: Any) -> None:
    """Mail the payer the link to their invoice, once (the first process to mark it sends it)."""
    db = services.db
    try:
        attempt = await db.payment_attempts.find_one_and_update(
            {"_id": attempt_id, "method": INVOICE, "invoice.mailed_at": None},
            {"$set": {"invoice.mailed_at": utcnow()}}, return_document=ReturnDocument.AFTER)
        if attempt is None or not attempt.get("payer_email"):
            return
        locale = attempt.get("locale") or "en"
        base = services.settings.public_url
        link = f"{base}/pay/{attempt['_id']}/invoice.pdf?t=" \
               f"{attempts.page_token(services.settings.cookie_secret, attempt['_id'])}"
        common = {"number": attempt["invoice"]["number"], "seller_name": attempt["invoice"]["seller"].get("name", ""),
                  "buyer_name": (attempt.get("details") or {}).get("name", ""), "site_url": base,
                  "total": format_amount(attempt["amount"], attempt["currency"]),
                  "description": attempt.get("description", ""),
                  "due": attempt["invoice"]["due_at"].date().isoformat()}
        subject, text, body = messages.render(services.i18n, locale, MAIL, link=link, **common)
        await services.mailer.send(to=attempt["payer_email"], subject=subject, text=text, html=body, kind=MAIL,
                                   staff_copy=messages.render_for_staff(services.i18n, locale, MAIL, **common))
    except Exception:
        log.exception("invoice mail failed", extra={"attempt": str(attempt_id)})


async def mark_paid(services, attempt_id: Any, *, actor: Mapping[str, Any], confirmed: bool,
                    space_id: Any = None) -> AttemptDoc:
    """Staff say the transfer arrived: the attempt succeeds and its purpose is told, once."""
    db = services.db
    attempt = await attempts.get(db, attempt_id)
    if attempt is None or (space_id is not None and attempt.get("space_id") != space_id):
        raise InvoiceError(attempts.NOT_FOUND)
    if attempt["method"] != INVOICE or not attempt.get("invoice"):
        raise InvoiceError(NOT_INVOICE)
    if not confirmed:
        raise InvoiceError(NOT_CONFIRMED)
    if attempt["state"] in (SUCCEEDED, "partially_refunded", "refunded"):
        raise InvoiceError(ALREADY_PAID)
    number = (attempt.get("invoice") or {})["number"]
    fact = Fact(providers.SUCCEEDED, amount=attempt["amount"], currency=attempt["currency"],
                charge_ref=f"invoice-{attempt['space_id']}-{number}", message="marked paid")
    after, moved = await attempts.apply_moved(services, InvoiceProvider.name, fact, by=f"staff:{actor['_id']}",
                                              attempt=attempt)
    if after is None or not moved:
        current = after or attempt
        if current["state"] in (SUCCEEDED, "partially_refunded", "refunded"):
            raise InvoiceError(ALREADY_PAID)
        from payments.model import STATE_LABELS
        raise InvoiceError(CANNOT_PAY, state=STATE_LABELS.get(current["state"], current["state"]))
    await audit.record(db, actor=actor, action="payment.invoice_paid", space_id=attempt.get("space_id"),
                       params={"attempt_id": attempt["_id"], "number": number, "amount": attempt["amount"],
                               "currency": attempt["currency"]})
    return after
