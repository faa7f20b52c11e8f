"""Staff pages of an event's promo codes: the list, one code, codes in bulk, CSV.

- `/admin/events/<event>/promo-codes`: the codes (search by the start of
  a code, filter by a bulk batch, pages), with their uses;
- `.../promo-codes/new`: one code; `.../promo-codes/bulk`: N random codes
  with a prefix and the same settings, then the batch's list and its CSV;
- `.../promo-codes.csv` (`?batch=`): the codes as CSV;
- `.../promo-codes/<code>`: change a code (against the version the form
  showed); `.../promo-codes/<code>/delete`: delete one no live order uses,
  after a confirmation.

The work is `orders.promo_codes`; the permission `event.promo_codes`.
"""
from __future__ import annotations

from typing import Any

from access.permissions import EVENT_PROMO_CODES
from admin.staff_base import StaffHandler
from core.pagination import parse_page
from handlers.base import PageError
from orders import promo_codes, quotas, ticket_types

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})"
CODE = r"(?P<promo_code_id>[0-9a-f]{24})"


class PromoCodesPage(StaffHandler):
    permission = EVENT_PROMO_CODES

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/promo-codes"

    def filters(self) -> dict[str, str]:
        return {"q": self.get_query_argument("q", "").strip()[:promo_codes.MAX_CODE],
                "batch": self.get_query_argument("batch", "").strip()[:80]}

    def raw(self) -> dict[str, Any]:
        """The form's fields, as `orders.promo_codes.clean` reads them."""
        return {"code": self.form("code", max_length=200), "note": self.form("note", max_length=1000),
                "mode": self.form("mode", max_length=20), "value": self.form("value", max_length=2000),
                "scope": self.form("scope", max_length=20),
                "ticket_type_ids": [v.decode("utf-8", "replace").strip()[:64]
                                    for v in self.request.body_arguments.get("ticket_type_ids", [])][:200],
                "quota_id": self.form("quota_id", max_length=64), "max_uses": self.form("max_uses", max_length=20),
                "min_tickets": self.form("min_tickets", max_length=20),
                "valid_from": self.form("valid_from", max_length=20),
                "valid_until": self.form("valid_until", max_length=20),
                "reserve": self.form("reserve", max_length=2) == "1",
                "count": self.form("count", max_length=20), "prefix": self.form("prefix", max_length=100)}

    async def promo_code(self, promo_code_id: str) -> dict[str, Any]:
        try:
            return await promo_codes.get(self.db, self.event, promo_code_id)
        except promo_codes.UnknownPromoCode as exc:
            raise PageError(404, self.refusal(exc)) from None

    async def show_form(self, values: dict[str, Any], *, promo: dict | None = None, bulk: bool = False,
                        status: int = 200, error: str | None = None, field: str | None = None) -> None:
        types = await ticket_types.of_event(self.db, self.event["_id"])
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/promo_code.html", status=status, active="promo_codes", values=values, promo=promo,
                         bulk=bulk, error=error, field=field, base=self.base, modes=promo_codes.MODE_LABELS,
                         scopes=promo_codes.SCOPE_LABELS,
                         types=[(str(t["_id"]), ticket_types.name(t, self.locale_code, self.event)) for t in types],
                         quotas=[(str(q["_id"]), q["name"]) for q in await quotas.of_event(self.db, self.event["_id"])],
                         max_bulk=promo_codes.MAX_BULK)

    async def show_list(self, status: int = 200, *, error: str | None = None, confirm: dict | None = None) -> None:
        filters = self.filters()
        items, page = await promo_codes.page(self.db, self.event, parse_page(self.get_query_argument("page", "1")),
                                             **filters)
        types = {t["_id"]: ticket_types.name(t, self.locale_code, self.event)
                 for t in await ticket_types.of_event(self.db, self.event["_id"])}
        found_quotas = {q["_id"]: q["name"] for q in await quotas.of_event(self.db, self.event["_id"])}
        self.set_header("Cache-Control", "no-store")
        self.render_page("admin/promo_codes.html", status=status, active="promo_codes", items=items, page=page,
                         filters=filters, batches=await promo_codes.batches(self.db, self.event), base=self.base,
                         value_text=lambda p: promo_codes.value_text(p, self.locale_code), types=types,
                         quotas=found_quotas, error=error, confirm=confirm)


class PromoCodesHandler(PromoCodesPage):
    async def get(self, event_id):
        await self.show_list()


class PromoCodesCsvHandler(PromoCodesPage):
    async def get(self, event_id):
        filters = self.filters()
        body = await promo_codes.export_csv(self.db, self.event, actor=self.current_user, locale=self.locale_code,
                                            batch=filters["batch"])
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        name = f"promo-codes-{self.event['slug']}" + (f"-{filters['batch']}" if filters["batch"] else "")
        self.set_header("Content-Disposition", f'attachment; filename="{name}.csv"')
        self.set_header("Cache-Control", "no-store")
        self.finish(body.encode("utf-8"))


class PromoCodeNewHandler(PromoCodesPage):
    async def get(self, event_id):
        await self.show_form(promo_codes.blank_form())

    async def post(self, event_id):
        raw = self.raw()
        try:
            values = await promo_codes.clean(self.db, self.event, raw)
            await promo_codes.create(self.services, self.current_user, self.event, values)
        except promo_codes.PromoCodeError as exc:
            await self.show_form(raw, status=400, error=self.refusal(exc), field=exc.field)
            return
        self.flash(self._("The promo code is saved."))
        self.redirect(self.base)


class PromoCodeBulkHandler(PromoCodesPage):
    async def get(self, event_id):
        await self.show_form(promo_codes.blank_form(), bulk=True)

    async def post(self, event_id):
        raw = self.raw()
        try:
            values = await promo_codes.clean(self.db, self.event, raw, bulk=True)
            batch, made = await promo_codes.create_bulk(self.services, self.current_user, self.event, values,
                                                        count=raw["count"], prefix=raw["prefix"])
        except promo_codes.PromoCodeError as exc:
            await self.show_form(raw, bulk=True, status=400, error=self.refusal(exc), field=exc.field)
            return
        self.flash(self.ngettext("%(num)s promo code is made.", "%(num)s promo codes are made.", len(made))
                   % {"num": len(made)})
        self.redirect(f"{self.base}?batch={batch}")


class PromoCodeEditHandler(PromoCodesPage):
    async def get(self, event_id, promo_code_id):
        found = await self.promo_code(promo_code_id)
        await self.show_form(promo_codes.form_values(self.event, found), promo=found)

    async def post(self, event_id, promo_code_id):
        found = await self.promo_code(promo_code_id)
        raw = self.raw()
        try:
            values = await promo_codes.clean(self.db, self.event, raw)
            await promo_codes.update(self.db, self.current_user, self.event, found, values,
                                     self.form("version", max_length=20))
        except promo_codes.PromoCodeConflict as exc:
            fresh = await self.promo_code(promo_code_id)
            await self.show_form(promo_codes.form_values(self.event, fresh), promo=fresh, status=409,
                                 error=self.refusal(exc))
            return
        except promo_codes.PromoCodeError as exc:
            await self.show_form(raw, promo=found, status=400, error=self.refusal(exc), field=exc.field)
            return
        self.flash(self._("The promo code is saved."))
        self.redirect(self.base)


class PromoCodeDeleteHandler(PromoCodesPage):
    async def post(self, event_id, promo_code_id):
        found = await self.promo_code(promo_code_id)
        if self.form("confirm", max_length=10) != "yes":
            await self.show_list(confirm=found)
            return
        try:
            await promo_codes.remove(self.services, self.current_user, self.event, found)
        except promo_codes.PromoCodeError as exc:
            await self.show_list(409, error=self.refusal(exc))
            return
        self.flash(self._("The promo code is deleted."), "info")
        self.redirect(self.base)


ROUTES = [
    (EVENT + r"/promo-codes", PromoCodesHandler),
    (EVENT + r"/promo-codes\.csv", PromoCodesCsvHandler),
    (EVENT + r"/promo-codes/new", PromoCodeNewHandler),
    (EVENT + r"/promo-codes/bulk", PromoCodeBulkHandler),
    (EVENT + rf"/promo-codes/{CODE}", PromoCodeEditHandler),
    (EVENT + rf"/promo-codes/{CODE}/delete", PromoCodeDeleteHandler),
]
