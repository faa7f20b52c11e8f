"""Personal invitations to an event: who holds one, for the "by invitation" privacy level."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


async def invited(db, event: Mapping[str, Any], user: Mapping[str, Any] | None, token: str | None) -> bool:
    """Whether this person (signed in or not) holds a valid invitation to the event.

    `token` is the invitation link's token, if the request carries one.
    """
    return False
