"""A space's legal details as a seller: what heads its invoices.

One document per space in `payment_sellers` (by the space's id): the
organisation's details, checked per country as a payer's are
(`payments.legal`), the bank's name, an optional prefix for invoice
numbers, and payment terms printed under the total.  Saving is audited;
an invoice keeps a copy of the details it was issued with, so a later
change never rewrites an issued invoice.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from access import audit
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from payments import legal

PREFIX_SHAPE = N_("An invoice number prefix is at most 12 letters, digits or dashes.")
TERMS_TOO_LONG = N_("The payment terms are at most 1000 characters.")
EXTRA = ("bank_name", "invoice_prefix", "terms")


class SellerError(Refusal):
    """Some fields are wrong; `fields` maps each to its (message, params), the first is the message."""

    def __init__(self, fields: dict[str, tuple[str, dict[str, Any]]]):
        message, params = next(iter(fields.values()))
        super().__init__(message, **params)
        self.fields = fields


async def load(db, space_id: Any) -> dict[str, Any] | None:
    return await db.payment_sellers.find_one({"_id": space_id})


def clean(values: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, tuple[str, dict[str, Any]]] = {}
    try:
        out: dict[str, Any] = legal.clean(values)
    except legal.InvalidDetails as exc:
        errors.update(exc.fields)
        out = {}
    prefix = str(values.get("invoice_prefix") or "").strip()
    if prefix and not re.fullmatch(r"[A-Za-z0-9\-]{1,12}", prefix):
        errors["invoice_prefix"] = (PREFIX_SHAPE, {})
    terms = str(values.get("terms") or "").strip()
    if len(terms) > 1000:
        errors["terms"] = (TERMS_TOO_LONG, {})
    bank = " ".join(str(values.get("bank_name") or "").split())
    if len(bank) > legal.MAX_TEXT:
        errors["bank_name"] = (legal.TOO_LONG, {})
    if errors:
        raise SellerError(errors)
    out.update(bank_name=bank, invoice_prefix=prefix, terms=terms)
    return out


async def save(db, actor: Mapping[str, Any], space: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Check and store the space's seller details; a refusal stores nothing."""
    details = clean(values)
    before = await load(db, space["_id"])
    doc = {**details, "updated_at": utcnow(), "updated_by": actor["_id"]}
    await db.payment_sellers.update_one({"_id": space["_id"]}, {"$set": doc}, upsert=True)
    await audit.record(db, actor=actor, action="payments.seller", space_id=space["_id"],
                       before={k: (before or {}).get(k) for k in details}, after=details)
    return {"_id": space["_id"], **doc}
