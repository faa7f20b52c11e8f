"""The reactions viewers may send, and each event's running totals per reaction.

A reaction is named on the wire and in storage by a short name (`clap`),
never by its emoji: the set is fixed here, and a name is one plain key in a
MongoDB document and in a JSON object whatever the client's emoji support.
The pages draw the emoji (`EMOJI`) and label each with a translated name.

Totals are one document per event in `reaction_totals`, found by the
event's id and changed only by `$inc`: each server process adds what its
own viewers sent in one window (`realtime.reaction_frames`), so a second
of applause costs the database one write per process, not one per click.
"""
from __future__ import annotations

from typing import Any, TypeGuard

from pymongo import ReturnDocument

from core.i18n import N_

# name -> (emoji, accessible name marked for translation), in the order the page shows them.
REACTIONS: dict[str, tuple[str, str]] = {
    "clap": ("\N{CLAPPING HANDS SIGN}", N_("Applause")),
    "heart": ("\N{HEAVY BLACK HEART}\N{VARIATION SELECTOR-16}", N_("Love it")),
    "laugh": ("\N{FACE WITH TEARS OF JOY}", N_("Funny")),
    "wow": ("\N{FACE WITH OPEN MOUTH}", N_("Surprising")),
    "party": ("\N{PARTY POPPER}", N_("Celebrate")),
    "thumbs_up": ("\N{THUMBS UP SIGN}", N_("Agree")),
}
NAMES = tuple(REACTIONS)
MAX_NAME = max(len(n) for n in NAMES)
EVERY = 1   # seconds: one reaction per person per event per second, over every server process


def valid(name: Any) -> TypeGuard[str]:
    return isinstance(name, str) and name in REACTIONS


def empty() -> dict[str, int]:
    return dict.fromkeys(NAMES, 0)


def clean(counts: Any) -> dict[str, int]:
    """Counts as stored or published, keeping only known names with non-negative integers."""
    out: dict[str, int] = {}
    if isinstance(counts, dict):
        for name, n in counts.items():
            if name in REACTIONS and isinstance(n, int) and not isinstance(n, bool) and n > 0:
                out[name] = n
    return out


async def add(db, event_id, counts: dict[str, int]) -> dict[str, int]:
    """Add a window's `counts` to the event's totals; returns the totals after the addition."""
    counts = clean(counts)
    if not counts:
        return await totals(db, event_id)
    doc = await db.reaction_totals.find_one_and_update(
        {"_id": event_id}, {"$inc": {f"counts.{name}": n for name, n in counts.items()}},
        upsert=True, return_document=ReturnDocument.AFTER)
    return {**empty(), **clean((doc or {}).get("counts"))}


async def totals(db, event_id) -> dict[str, int]:
    """Every reaction's running total for the event (0 for those never sent)."""
    doc = await db.reaction_totals.find_one({"_id": event_id})
    return {**empty(), **clean((doc or {}).get("counts"))}


async def enabled(db, event_id) -> bool:
    """Whether the event takes reactions now (`events.model.reactions_on`, read fresh)."""
    doc = await db.events.find_one({"_id": event_id}, {"reactions_off": 1})
    return doc is not None and not doc.get("reactions_off")


def limit_key(event_id) -> str:
    """The per-person limit's key (`chat.moderation.SlowGate` adds the person).  The event's
    {hash tag} keeps it in the event's Redis Cluster slot, as the chat rooms' limits are."""
    return f"ev:{{{event_id}}}:react"
