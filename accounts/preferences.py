"""A person's own settings: display name and language.

Memberships carry a copy of the name so staff lists need no join; changing
the name here keeps those copies in step.  A changed name is then announced
(`announce(user_id, name)`, the live side's hook), so open event pages and
the person's next chat messages carry it without a reload.
"""
from __future__ import annotations

import logging

from accounts.users import MAX_NAME_LENGTH, AccountDoc
from core.errors import Refusal
from core.i18n import LOCALES, N_
from core.text import strip_bidi

log = logging.getLogger(__name__)


class ProfileError(Refusal):
    """Refused input; the message is marked for translation."""


def clean(name: str, locale: str) -> tuple[str, str]:
    """Validated (name, locale) or ProfileError; nothing is written."""
    name = " ".join(strip_bidi(name or "").split())
    if len(name) > MAX_NAME_LENGTH:
        raise ProfileError(N_("The name is too long."))
    if locale not in LOCALES:
        raise ProfileError(N_("This language is not available."))
    return name, locale


async def update(db, user: AccountDoc, name: str, locale: str, announce=None) -> None:
    name, locale = clean(name, locale)
    await db.users.update_one({"_id": user["_id"]}, {"$set": {"name": name, "locale": locale}})
    if name != user.get("name", ""):
        await db.memberships.update_many({"user_id": user["_id"]}, {"$set": {"name": name}})
        if announce is not None:
            try:
                await announce(user["_id"], name)
            except Exception:
                # Stored already: pages show the new name on their next load.
                log.exception("name change not announced", extra={"user": str(user["_id"])})
