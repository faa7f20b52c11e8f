"""The mails of orders: a holder's ticket (with a sign-in link), and the buyer's receipt.

Each in its reader's language (the holder's as the payer gave it, the
buyer's as they bought), through the mailer like every other mail.  The
receipt's text is the organiser's to edit (`mailings.templates`, kind
`order_receipt`), with its translated default.  A
holder's mail carries a sign-in link to their account, so the outbox keeps
a copy with the link hidden (`mailings.messages.render_for_staff`), as the
sign-in mailings do.  Neither raises: a mail that fails is logged, and its
flag on the order stays unset for the next try.
"""
from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

from accounts import tokens
from core import money
from core.i18n import text_for
from events import model
from events.model import EventDoc
from mailings import messages, templates

log = logging.getLogger(__name__)

TICKET = "order_ticket"
RECEIPT = "order_receipt"
SIGNIN = "order_signin"


async def _event_url(services, event: EventDoc) -> str:
    space = await model.get_space(services.db, event["space_id"])
    return f"{services.settings.public_url}/e/{space['slug'] if space else ''}/{event['slug']}"


def _locale(event: EventDoc, wanted: str | None) -> str:
    return model.locale_for(event, wanted or "")


async def send_ticket(services, event: EventDoc, order: Mapping[str, Any], ticket: Mapping[str, Any],
                      user: Mapping[str, Any], type_name: str) -> bool:
    """Mail the holder their ticket and a link that signs them in; True when it was handed to the mailer.

    The buyer is not named: the outbox keeps the mail, and it must not keep another person's name
    (`accounts.erase` leaves nobody in mails to others).
    """
    s = services.settings
    holder = ticket.get("holder") or {}
    locale = _locale(event, holder.get("locale"))
    try:
        raw = await tokens.issue(services.db, user["_id"], tokens.SIGNIN,
                                 datetime.timedelta(hours=s.signin_link_ttl_hours), event_id=event["_id"])
        common = {"person_name": holder.get("name", ""), "site_url": s.public_url,
                  "event_title": text_for(event["title"], locale, (event["default_locale"],)),
                  "ticket_type": type_name,
                  "ticket_url": f"{s.public_url}/me/tickets/{order['_id']}/{ticket['id']}",
                  "event_url": await _event_url(services, event), "hours": s.signin_link_ttl_hours}
        subject, text, html = messages.render(services.i18n, locale, TICKET,
                                              link=f"{s.public_url}/signin/link/{raw}", **common)
        await services.mailer.send(to=holder["email"], subject=subject, text=text, html=html,
                                   event_id=event["_id"], kind=TICKET,
                                   staff_copy=messages.render_for_staff(services.i18n, locale, TICKET, **common))
        return True
    except Exception:
        log.exception("ticket mail failed", extra={"order_id": str(order["_id"])})
        return False


def receipt_values(services, event: EventDoc, order: Mapping[str, Any], type_names: Mapping[Any, str],
                   locale: str) -> dict[str, str]:
    """The placeholders of the receipt (`mailings.templates` kind `order_receipt`), in `locale`."""
    s = services.settings
    currency = order["currency"]
    # One line per ticket type: what each ticket cost after a promo code's discount, and the line's total.
    lines = "\n".join(
        f"{line['quantity']} × {type_names.get(line['ticket_type_id'], '')}: "
        f"{money.format(int(line['unit_price']) - int(line.get('discount') or 0), currency, locale)} = "
        f"{money.format(int(line['total']), currency, locale)}" for line in order["lines"])
    unassigned = sum(1 for t in order["tickets"] if not t.get("holder"))
    note = services.i18n.translations(locale).ngettext(
        "%(num)s ticket has no holder yet: name its holder on your order page.",
        "%(num)s tickets have no holder yet: name their holders on your order page.", unassigned) \
        % {"num": unassigned} if unassigned else ""
    return {"person_name": order["buyer"].get("name", ""),
            "event_title": text_for(event["title"], locale, (event["default_locale"],)), "code": order["code"],
            "lines": lines, "total": money.format(int(order["total"]), currency, locale), "holders_note": note,
            "order_url": f"{s.public_url}/me/orders/{order['_id']}"}


async def send_receipt(services, event: EventDoc, order: Mapping[str, Any], type_names: Mapping[Any, str]) -> bool:
    """Mail the buyer what they paid for, in the organiser's text or the default (`order_receipt`); True when it
    was handed to the mailer."""
    buyer = order["buyer"]
    locale = _locale(event, buyer.get("locale"))
    try:
        subject, text, html = templates.render(
            services.i18n, event, templates.KINDS[RECEIPT], locale,
            receipt_values(services, event, order, type_names, locale), site_url=services.settings.public_url)
        await services.mailer.send(to=buyer["email"], subject=subject, text=text, html=html,
                                   event_id=event["_id"], kind=RECEIPT)
        return True
    except Exception:
        log.exception("receipt mail failed", extra={"order_id": str(order["_id"])})
        return False


async def send_signin(services, event: EventDoc, email: str, locale: str) -> None:
    """A sign-in link for someone who wants to buy tickets and is not signed in.

    An address without an account gets one (no password, as a registration
    makes it); an existing account is used as it is.  Only the address
    receives the link, so the page that asked learns nothing and gains
    nothing.  A few links per address per quarter hour at most.
    """
    from attendees import registry
    db = services.db
    try:
        throttle = services.account_throttle()
        key = "tickets:" + email
        if await throttle.blocked(key):
            return
        await throttle.fail(key)
        user = await db.users.find_one({"email": email}) or await registry._create_user(db, email, "", locale)
        s = services.settings
        raw = await tokens.issue(db, user["_id"], tokens.SIGNIN, datetime.timedelta(hours=s.signin_link_ttl_hours),
                                 event_id=event["_id"])
        common = {"event_title": text_for(event["title"], locale, (event["default_locale"],)),
                  "hours": s.signin_link_ttl_hours, "site_url": s.public_url}
        subject, text, html = messages.render(services.i18n, locale, SIGNIN,
                                              link=f"{s.public_url}/signin/link/{raw}", **common)
        staff = messages.render_for_staff(services.i18n, locale, SIGNIN, **common)
        await services.mailer.send(to=email, subject=subject, text=text, html=html, event_id=event["_id"],
                                   kind=SIGNIN, staff_copy=staff)
    except Exception:
        log.exception("sign-in link for tickets not sent")
