"""A person's reusable profile: answers kept on the account to fill the next form.

A form field may name a profile key; when the person registers, the values of
those fields are kept here (`profile: {key: value}` on the account), and the
next form that asks for the same keys is filled in from them, or answered by
one click when they cover every required field.  "name" and "email" are read
from the account itself and never stored here.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ACCOUNT_KEYS = frozenset({"name", "email"})
MAX_KEYS = 200
MAX_TEXT = 5000


def _storable(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    if isinstance(value, list):
        return len(value) <= 200 and all(isinstance(v, str) and len(v) <= 64 for v in value)
    return False


def values(account: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict((account or {}).get("profile") or {})


async def save_values(db, user_id, new_values: Mapping[str, Any]) -> dict[str, Any]:
    """Keep these profile values on the account; returns what was written.
    Keys that are not profile keys, the account's own name and email, and
    values that are not plain answers are skipped."""
    changes = {f"profile.{k}": v for k, v in list(new_values.items())[:MAX_KEYS]
               if isinstance(k, str) and KEY_RE.match(k) and k not in ACCOUNT_KEYS and _storable(v)}
    if changes:
        await db.users.update_one({"_id": user_id}, {"$set": changes})
    return {k.split(".", 1)[1]: v for k, v in changes.items()}
