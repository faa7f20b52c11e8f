"""The mails a registrant gets: the address confirmation, and each change of state that matters to them.

Sent in the registrant's language (`attendees.registry.attendee_locale`),
through the mailer like every other mail, in the background: a page never
waits for a mail server, and the time a page takes does not tell whether an
address had an account.  The confirmation carries a link that signs its
holder in, so the outbox keeps a copy with the link hidden
(`mailings.mailer`), rendered from what the registrant typed.

The texts are the event's mail templates (`mailings.templates`): kind
"registration_confirm", "registration_<state>" for each mailed state, and
"session_seat_offered".  The confirmation's staff copy is the same template
with its link replaced by the hidden marker.
"""
from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

from attendees import registry
from core.i18n import text_for
from events import model, view
from events.model import EventDoc
from mailings import templates
from registration.model import CANCELLED, OFFERED, REGISTERED, REJECTED, WAITING

log = logging.getLogger(__name__)

CONFIRM = "registration_confirm"
STATE = "registration"  # each mailed state is the kind "registration_<state>"
SEAT_OFFER = "session_seat_offered"
# The states whose arrival is mailed to the person.  A cancellation is
# mailed only when staff made it: the attendee knows what they did.
MAILED_STATES = frozenset({REGISTERED, WAITING, OFFERED, REJECTED, CANCELLED})


def _common(event: EventDoc, locale: str, name: str) -> dict[str, str]:
    return {"person_name": name, "event_title": text_for(event["title"], locale, (event["default_locale"],))}


def _render(services, event: EventDoc, key: str, locale: str, values: Mapping[str, str], staff: bool = False):
    return templates.render(services.i18n, event, templates.KINDS[key], locale, values,
                            site_url=services.settings.public_url, staff=staff)


async def _event_url(services, event: EventDoc) -> str:
    space = await model.get_space(services.db, event["space_id"])
    slug = space["slug"] if space else ""
    return f"{services.settings.public_url}/e/{slug}/{event['slug']}"


def confirmation_locale(event: EventDoc, wanted: str) -> str:
    return model.locale_for(event, wanted)


async def send_confirmation(services, event: EventDoc, *, email: str, name: str, locale: str, raw_token: str,
                            hours: int) -> None:
    """The link that confirms the address (and signs its owner in)."""
    try:
        values = {**_common(event, locale, name),
                  "link_valid_for": templates.link_valid_for(services.i18n, locale, hours)}
        link = f"{services.settings.public_url}/register/confirm?token={raw_token}"
        subject, text, html = _render(services, event, CONFIRM, locale, {**values, "confirm_url": link})
        await services.mailer.send(
            to=email, subject=subject, text=text, html=html, event_id=event["_id"], kind=CONFIRM,
            staff_copy=_render(services, event, CONFIRM, locale, values, staff=True))
    except Exception:
        log.exception("registration confirmation mail failed")


async def send_state(services, event: EventDoc, membership: Mapping[str, Any], state: str) -> None:
    """Tell the person their registration is now `state` (and, for an offer, until when)."""
    if state not in MAILED_STATES:
        return
    try:
        user = await services.db.users.find_one({"_id": membership["user_id"]}, {"locale": 1})
        locale = registry.attendee_locale(event, user, membership)  # type: ignore[arg-type]
        deadline = membership.get("offer_expires_at")
        values = {**_common(event, locale, membership.get("name", "")), "deadline": _when(deadline, event),
                  "event_url": await _event_url(services, event) + "/register"}
        subject, text, html = _render(services, event, f"{STATE}_{state}", locale, values)
        await services.mailer.send(to=membership["email"], subject=subject, text=text, html=html,
                                   event_id=event["_id"], kind=f"{STATE}_{state}")
    except Exception:
        log.exception("registration state mail failed", extra={"state": state})


async def send_seat_offer(services, event: EventDoc, item: Mapping[str, Any], seat: Mapping[str, Any]) -> None:
    """Tell the person a seat in a session is offered to them, and until when (`registration.session_seats`)."""
    try:
        membership = await services.db.memberships.find_one(
            {"user_id": seat["user_id"], "scope_id": event["_id"], "role": "attendee"})
        if not membership or not membership.get("email"):
            return
        user = await services.db.users.find_one({"_id": seat["user_id"]}, {"locale": 1})
        locale = registry.attendee_locale(event, user, membership)
        values = {**_common(event, locale, membership.get("name", "")),
                  "deadline": _when(seat.get("offer_expires_at"), event),
                  "session_title": text_for(item.get("title") or {}, locale, (event["default_locale"],)),
                  "event_url": await _event_url(services, event) + f"#item-{item['id']}"}
        subject, text, html = _render(services, event, SEAT_OFFER, locale, values)
        await services.mailer.send(to=membership["email"], subject=subject, text=text, html=html,
                                   event_id=event["_id"], kind=SEAT_OFFER)
    except Exception:
        log.exception("session seat offer mail failed")


def _when(moment: datetime.datetime | None, event: EventDoc) -> str:
    """A deadline as people read it: the event's local time, with its zone named."""
    if moment is None:
        return ""
    shown = view.local(moment, event.get("timezone") or "UTC") or moment
    return f"{shown:%Y-%m-%d %H:%M} ({event.get('timezone') or 'UTC'})"
