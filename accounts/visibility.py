"""Who sees which part of a person's profile: everyone, attendees of their events, or nobody.

A profile card is the person's name plus their reusable profile values
(`account["profile"]`, {key: value}, filled by registration forms).  Each
item has a level, stored as `profile_visibility: {key: level}` on the
account.  An item without a stored level uses the default: the name is
shown to the attendees of the person's events, everything else to nobody,
so a value a form collected is never published until its owner says so.

"Attendees of my events" are the people who hold a role in an event the
person holds one in (`access.roles.share_event`): fellow attendees and the
event's staff.  A card with nothing the viewer may see does not exist for
them (the handler answers 404, as for an unknown id).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from access import roles
from accounts.users import AccountDoc
from core.errors import Refusal
from core.i18n import N_

EVERYONE, ATTENDEES, NOBODY = "everyone", "attendees", "nobody"
LEVELS = (EVERYONE, ATTENDEES, NOBODY)
LEVEL_LABELS = {
    EVERYONE: N_("Everyone"),
    ATTENDEES: N_("Attendees of my events"),
    NOBODY: N_("Nobody"),
}
NAME = "name"
# Labels of the profile keys the platform knows; any other key is shown by its key.
FIELD_LABELS = {
    NAME: N_("Name"),
    "company": N_("Company"),
    "position": N_("Position"),
    "city": N_("City"),
    "country": N_("Country"),
    "phone": N_("Phone"),
    "about": N_("About me"),
}
MAX_KEYS = 200
MAX_VALUE = 2000
INVALID_LEVEL = N_("Choose who may see each item: everyone, attendees of your events or nobody.")


class VisibilityError(Refusal):
    """Refused input; the message is marked for translation."""


def default_level(key: str) -> str:
    return ATTENDEES if key == NAME else NOBODY


def _text(value: Any) -> str:
    """A stored profile value as one line of text (lists joined, nothing markup)."""
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value if _text(v))
    return str(value)[:MAX_VALUE]


def _order(key: str) -> tuple[int, str]:
    known = list(FIELD_LABELS)
    return (known.index(key), key) if key in FIELD_LABELS else (len(known), key)


def items(account: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every profile item with its level: [{key, label (msgid or None), value, level}], name first.

    Empty values are left out: there is nothing to show.  `label` is None
    for a key the platform has no label for; pages show the key itself.
    """
    stored = account.get("profile_visibility") or {}
    values: dict[str, Any] = {NAME: account.get("name") or ""}
    profile = account.get("profile") or {}
    if isinstance(profile, Mapping):
        for key in list(profile)[:MAX_KEYS]:
            if isinstance(key, str) and key != NAME:
                values[key] = profile[key]
    out = []
    for key in sorted(values, key=_order):
        text = _text(values[key]).strip()
        if not text:
            continue
        level = stored.get(key)
        out.append({"key": key, "label": FIELD_LABELS.get(key), "value": text,
                    "level": level if level in LEVELS else default_level(key)})
    return out


def levels(account: Mapping[str, Any]) -> dict[str, str]:
    """The level of every item the account has, defaults filled in."""
    return {item["key"]: item["level"] for item in items(account)}


def clean(account: Mapping[str, Any], raw: Mapping[str, str]) -> dict[str, str]:
    """The stored levels after applying `raw` ({key: level}); VisibilityError, nothing written.

    Keys the account has no item for are ignored (a form opened before a
    value was removed); stored levels of such keys are kept, so a value
    that comes back keeps its owner's choice.
    """
    stored = {k: v for k, v in (account.get("profile_visibility") or {}).items() if v in LEVELS}
    known = {item["key"] for item in items(account)}
    for key, level in raw.items():
        if key not in known:
            continue
        if level not in LEVELS:
            raise VisibilityError(INVALID_LEVEL)
        stored[key] = level
    return stored


async def update(db, user: AccountDoc, raw: Mapping[str, str]) -> dict[str, str]:
    """Store the person's choices; returns the stored levels."""
    chosen = clean(user, raw)
    await db.users.update_one({"_id": user["_id"]}, {"$set": {"profile_visibility": chosen}})
    return chosen


def _visible(level: str, *, viewer_is_owner: bool, shares: bool) -> bool:
    if level == EVERYONE:
        return True
    return level == ATTENDEES and (viewer_is_owner or shares)


async def card(db, person: Mapping[str, Any] | None, viewer: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The items of `person` that `viewer` (None: a visitor) may see; [] when none.

    The owner sees what attendees of their events see: the card as it
    reaches the people they meet.
    """
    if not person or person.get("erasing_at"):
        return []
    shown = items(person)
    if not shown:
        return []
    owner = viewer is not None and viewer["_id"] == person["_id"]
    needs_sharing = any(i["level"] == ATTENDEES for i in shown)
    shares = False
    if viewer is not None and not owner and needs_sharing:
        shares = await roles.share_event(db, person["_id"], viewer["_id"])
    return [i for i in shown if _visible(i["level"], viewer_is_owner=owner, shares=shares)]
