"""A space's payments for its staff: attempts and ledger with filters and CSV, invoices, seller details.

- `/admin/spaces/<space>/payments` lists the space's payment attempts
  (filter by state, method, purpose, dates, and a search over payer address,
  organisation, invoice number and provider id) and its ledger entries,
  with the ledger's sums per currency; both download as CSV.
- `/admin/spaces/<space>/payments/<attempt>` shows one attempt: its
  history, refunds, ledger entries and, for an invoice, the PDF and the
  "mark paid" form, which asks for a ticked confirmation (the action is
  audited and tells the purpose once).
- `/admin/spaces/<space>/seller` holds the space's legal details for its
  invoices, checked per country (`payments.seller`).

An attempt of another space is "not found", as if it did not exist.
The client secret of a card attempt is never read into these pages.
"""
from __future__ import annotations

import csv
import io

from access.permissions import SPACE_EDIT, SPACE_PAYMENTS
from admin import forms
from admin.staff_base import StaffHandler
from core.countries import names as country_names
from core.pagination import Page, parse_page
from handlers.base import PageError
from payments import attempts, invoices, ledger, legal, reads, seller
from payments.model import METHOD_LABELS, METHODS, STATE_LABELS, STATES, format_amount

PER_PAGE = 50
FILTERS = ("state", "method", "purpose", "q", "since", "until")


class PaymentsPage(StaffHandler):
    permission = SPACE_PAYMENTS

    def filters(self) -> dict[str, str]:
        return {name: self.get_query_argument(name, "").strip()[:200] for name in FILTERS}

    async def attempt(self, attempt_id: str) -> dict:
        found = await attempts.get(self.db, attempt_id)
        if found is None or found.get("space_id") != self.space["_id"]:
            raise PageError(404, self._("This payment does not exist."))
        found.pop("client_secret", None)
        return found


class PaymentsHandler(PaymentsPage):
    async def get(self, space_id):
        args = self.filters()
        query = reads.attempt_query(self.space["_id"], args)
        number = parse_page(self.get_query_argument("page", None))
        total = await self.db.payment_attempts.count_documents(query)
        page = Page(number, PER_PAGE, total)
        items, _ = await reads.page(self.db, query, page.skip, PER_PAGE)
        entries = await ledger.entries(self.db, {"space_id": self.space["_id"]}, 0, PER_PAGE)
        sums = await ledger.balance(self.db, {"space_id": self.space["_id"]})
        self.render_page("admin/payments.html", active="space", items=items, page=page, args=args,
                         entries=entries, sums={c: format_amount(v, c) for c, v in sorted(sums.items())},
                         states=STATES, methods=METHODS, state_labels=STATE_LABELS, method_labels=METHOD_LABELS,
                         purposes=await reads.purposes(self.db, self.space["_id"]), fmt=format_amount,
                         has_seller=await seller.load(self.db, self.space["_id"]) is not None)


class PaymentsCsvHandler(PaymentsPage):
    async def get(self, space_id):
        query = reads.attempt_query(self.space["_id"], self.filters())
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(reads.CSV_HEADER)
        async for doc in reads.all_attempts(self.db, query):
            writer.writerow(reads.csv_row(doc))
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="payments-{self.space["slug"]}.csv"')
        self.finish(buffer.getvalue())


class LedgerCsvHandler(PaymentsPage):
    async def get(self, space_id):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(reads.LEDGER_HEADER)
        for doc in await ledger.entries(self.db, {"space_id": self.space["_id"]}):
            writer.writerow(reads.ledger_row(doc))
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="ledger-{self.space["slug"]}.csv"')
        self.finish(buffer.getvalue())


class AttemptPage(PaymentsPage):
    async def show(self, attempt: dict, status: int = 200, error: str | None = None) -> None:
        entries = await ledger.entries(self.db, {"attempt_id": attempt["_id"]})
        self.render_page("admin/payment.html", status=status, active="space", attempt=attempt, entries=entries,
                         error=error, state_labels=STATE_LABELS, method_labels=METHOD_LABELS, fmt=format_amount,
                         labels=legal.LABELS)


class AttemptHandler(AttemptPage):
    async def get(self, space_id, attempt_id):
        await self.show(await self.attempt(attempt_id))


class MarkPaidHandler(AttemptPage):
    async def post(self, space_id, attempt_id):
        attempt = await self.attempt(attempt_id)
        try:
            await invoices.mark_paid(self.services, attempt["_id"], actor=self.current_user,
                                     confirmed=self.get_body_argument("confirm", "") == "1",
                                     space_id=self.space["_id"])
        except invoices.InvoiceError as exc:
            await self.show(attempt, 409 if exc.message == invoices.ALREADY_PAID else 400, error=self.refusal(exc))
            return
        self.flash(self._("The invoice is marked paid."))
        self.redirect(f"/admin/spaces/{self.space['_id']}/payments/{attempt['_id']}")


class InvoicePdfHandler(PaymentsPage):
    async def get(self, space_id, attempt_id):
        attempt = await self.attempt(attempt_id)
        if not attempt.get("invoice"):
            raise PageError(404, self._("This payment does not exist."))
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", f'attachment; filename="invoice-{attempt["invoice"]["number"]}.pdf"')
        self.finish(invoices.pdf(self.services, attempt))


class SellerHandler(StaffHandler):
    permission = SPACE_EDIT

    async def show(self, values: dict, status: int = 200, errors: dict | None = None, error: str | None = None):
        country = (values.get("country") or "").upper()
        self.render_page("admin/payment_seller.html", status=status, active="space", form=values, errors=errors or {},
                         error=error, labels=legal.LABELS, shown=legal.fields_for(country) if country else (),
                         all_fields=legal.ALL_FIELDS, ru=legal.FIELDS[legal.RU], kz=legal.FIELDS[legal.KZ],
                         other=legal.OTHER_FIELDS, countries=country_names(self.locale_code))

    async def get(self, space_id):
        await self.show(await seller.load(self.db, self.space["_id"]) or {"country": "RU"})

    async def post(self, space_id):
        names = ("country", *legal.ALL_FIELDS, *seller.EXTRA)
        values = {name: forms.field(self, name) for name in names}
        try:
            await seller.save(self.db, self.current_user, self.space, values)
        except seller.SellerError as exc:
            errors = {name: self._(message) % params if params else self._(message)
                      for name, (message, params) in exc.fields.items()}
            await self.show(values, 400, errors=errors, error=self.refusal(exc))
            return
        self.flash(self._("The legal details have been saved."))
        self.redirect(f"/admin/spaces/{self.space['_id']}/seller")


_SPACE = r"/admin/spaces/(?P<space_id>[0-9a-f]{24})"
_ATTEMPT = _SPACE + r"/payments/(?P<attempt_id>[0-9a-f]{24})"

ROUTES = [
    (_SPACE + r"/payments", PaymentsHandler),
    (_SPACE + r"/payments\.csv", PaymentsCsvHandler),
    (_SPACE + r"/payments/ledger\.csv", LedgerCsvHandler),
    (_ATTEMPT, AttemptHandler),
    (_ATTEMPT + r"/mark-paid", MarkPaidHandler),
    (_ATTEMPT + r"/invoice\.pdf", InvoicePdfHandler),
    (_SPACE + r"/seller", SellerHandler),
]
