"""A ticket's check-in code and its QR image.

The code names the ticket (order id and ticket id) and carries an HMAC of
both and of the ticket's `nonce`, keyed with the installation's
`COOKIE_SECRET`: nobody can make a code for a ticket from its ids, and a
ticket passed to another holder gets a new nonce, so the code its previous
holder printed stops checking in.  `COOKIE_SECRET` must therefore be set
(and kept) in production, as it must for sessions.  Check-in at the door
(`orders.checkin`) reads codes through `read`, which also tells a code an
earlier holder was given from one nobody was.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
from collections.abc import Mapping
from typing import Any

import segno

from accounts.users import as_id
from orders.model import ORDERS

SIGNATURE_BYTES = 12


def _signature(secret: str, order_id: Any, ticket_id: str, nonce: int) -> str:
    mac = hmac.new(secret.encode(), f"checkin:{order_id}:{ticket_id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:SIGNATURE_BYTES]).decode().rstrip("=")


def check_in_code(secret: str, order: Mapping[str, Any], ticket: Mapping[str, Any]) -> str:
    return f"{order['_id']}.{ticket['id']}.{_signature(secret, order['_id'], ticket['id'], int(ticket['nonce']))}"


MAX_CODE = 100
CURRENT, SUPERSEDED = "current", "superseded"


async def read(db, secret: str, code: str) -> tuple[dict[str, Any], dict[str, Any], str] | None:
    """(order, ticket, CURRENT) for a genuine current code; (order, ticket, SUPERSEDED) for a genuine
    code of an earlier holder of the ticket (it was passed on since); None for anything else."""
    code = (code or "").strip()
    parts = code.split(".")
    if len(parts) != 3 or len(code) > MAX_CODE:
        return None
    oid = as_id(parts[0])
    order = await db[ORDERS].find_one({"_id": oid}) if oid else None
    ticket = next((t for t in (order or {}).get("tickets", ()) if t["id"] == parts[1]), None)
    if order is None or ticket is None:
        return None
    nonce = int(ticket["nonce"])
    if hmac.compare_digest(parts[2], _signature(secret, order["_id"], ticket["id"], nonce)):
        return order, ticket, CURRENT
    # Nonces count holders, so the earlier ones are few: each is checked like the current one.
    if any(hmac.compare_digest(parts[2], _signature(secret, order["_id"], ticket["id"], n)) for n in range(1, nonce)):
        return order, ticket, SUPERSEDED
    return None


async def verify(db, secret: str, code: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(order, ticket) a check-in code stands for, when it is genuine and current; else None."""
    found = await read(db, secret, code)
    if found is None or found[2] != CURRENT:
        return None
    return found[0], found[1]


def qr_svg(code: str) -> bytes:
    """The code as an SVG QR image (no scripts or styles: served as an image under the CSP)."""
    out = io.BytesIO()
    segno.make(code, error="m").save(out, kind="svg", scale=6, border=2, xmldecl=True, svgns=True)
    return out.getvalue()
