"""A person's own settings: display name and language.

Memberships carry a copy of the name so staff lists need no join; changing
the name here keeps those copies in step.
"""
from __future__ import annotations

from accounts.users import MAX_NAME_LENGTH
from core.text import strip_bidi
from i18n import LOCALES, N_


class ProfileError(ValueError):
    """Refused input; the message is marked for translation."""


def clean(name: str, locale: str) -> tuple[str, str]:
    """Validated (name, locale) or ProfileError; nothing is written."""
    name = " ".join(strip_bidi(name or "").split())
    if len(name) > MAX_NAME_LENGTH:
        raise ProfileError(N_("The name is too long."))
    if locale not in LOCALES:
        raise ProfileError(N_("This language is not available."))
    return name, locale


async def update(db, user: dict, name: str, locale: str) -> None:
    name, locale = clean(name, locale)
    await db.users.update_one({"_id": user["_id"]}, {"$set": {"name": name, "locale": locale}})
    if name != user.get("name", ""):
        await db.memberships.update_many({"user_id": user["_id"]}, {"$set": {"name": name}})
