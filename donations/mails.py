"""The donor's receipt: what they gave, to which campaign, in their language.

Sent once per donation through the mailer like every other mail; the
outbox's unique key (`donation-receipt-<id>`) keeps a second call (a
callback repeated after a process stopped) from sending it twice.  Never
raises: a mail that fails is logged, and the donation's `receipt` stays
unset.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from core import money
from core.i18n import text_for
from mailings import messages

log = logging.getLogger(__name__)

RECEIPT = "donation_receipt"


async def send_receipt(services, campaign: Mapping[str, Any], donation: Mapping[str, Any]) -> bool:
    donor = donation["donor"]
    locale = donor.get("locale") or "en"
    s = services.settings
    try:
        confirmed = donation.get("confirmed_at")
        subject, text, html = messages.render(
            services.i18n, locale, RECEIPT, person_name=donor.get("name") or "",
            campaign_title=text_for(campaign["title"], locale, (campaign.get("default_locale") or "en",)),
            amount=money.format(int(donation["amount"]), donation["currency"], locale),
            reference=str(donation["_id"]), date=confirmed.date().isoformat() if confirmed else "",
            anonymous=bool(donation.get("anonymous")), campaign_url=f"{s.public_url}/campaigns/{campaign['_id']}",
            site_url=s.public_url)
        await services.mailer.send(to=donor["email"], subject=subject, text=text, html=html, kind=RECEIPT,
                                   key=f"donation-receipt-{donation['_id']}")
        return True
    except Exception:
        log.exception("donation receipt failed", extra={"donation_id": str(donation["_id"])})
        return False
