"""The mails of an application's decision: approved, or rejected with the staff's reason.

Sent in the language the applicant chose on the form (one of the event's),
in the background, with the event's mail templates (`mailings.templates`,
kinds `application_approved` and `application_rejected`).  Neither carries
a secret: the ticket and its sign-in link come in the ticket's own mail
(`orders.mails.send_ticket`), as for any ticket.  A failure is logged,
never raised.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from core.i18n import text_for
from events import model, view
from events.model import EventDoc
from mailings import templates
from orders import ticket_types

log = logging.getLogger(__name__)

KINDS = {"approved": "application_approved", "rejected": "application_rejected"}


async def send(services, event: EventDoc, application: Mapping[str, Any], ticket_type: Mapping[str, Any],
               decision: str) -> None:
    """Tell the applicant the decision (`decision`: "approved" or "rejected")."""
    try:
        kind = KINDS[decision]
        locale = model.locale_for(event, application.get("locale") or "")
        path = await view.path_by_id(services.db, event["_id"]) or ""
        values = {"person_name": application.get("name", ""),
                  "event_title": text_for(event["title"], locale, (event["default_locale"],)),
                  "ticket_type": ticket_types.name(ticket_type, locale, event) if ticket_type.get("name") else "",
                  "reason": application.get("reason", ""),
                  "event_url": f"{services.settings.public_url}{path}"}
        subject, text, html = templates.render(services.i18n, event, templates.KINDS[kind], locale, values,
                                               site_url=services.settings.public_url)
        await services.mailer.send(to=application["email"], subject=subject, text=text, html=html,
                                   event_id=event["_id"], kind=kind)
    except Exception:
        log.exception("application mail failed", extra={"application_id": str(application.get("_id"))})
