"""Reading the outbox: what an event's staff may see, and what the platform admin may see.

The mailer stores each entry's staff-visible copy as `subject`, `text` and
`html`, and keeps a message with secrets in full (`full`) only where no
mail server delivers it.  The reads here are the only way the admin pages
reach the outbox:

- an event's reads never load `full`, and withhold the body of an entry
  written before messages were redacted (no `redacted` field), since such
  an entry may hold a working sign-in link or password;
- the platform reads show `full` of a message kept in the outbox (no mail
  server delivers it), where the outbox is the only place it exists; a
  message still waiting for its server keeps `full` only to send it.
"""
from __future__ import annotations

from accounts.users import as_id
from core.pagination import Page

PER_PAGE = 50
_LIST_FIELDS = {"text": 0, "html": 0, "full": 0}


async def page(db, event_id, page_number: int) -> tuple[list[dict], Page]:
    """Entries newest first, without bodies: one event's, or all of them when event_id is None."""
    query = {} if event_id is None else {"event_id": event_id}
    found = Page(page_number, PER_PAGE, await db.outbox.count_documents(query))
    items = await db.outbox.find(query, _LIST_FIELDS) \
        .sort([("created_at", -1), ("_id", -1)]).skip(found.skip).limit(PER_PAGE).to_list(None)
    return items, found


async def event_entry(db, entry_id, event_id) -> dict | None:
    """One entry of the event as its staff may read it; `withheld` when its body is not shown."""
    oid = as_id(entry_id)
    if not oid:
        return None
    entry = await db.outbox.find_one({"_id": oid, "event_id": event_id}, {"full": 0})
    if entry and "redacted" not in entry:
        entry.update(text="", html=None, withheld=True)
    return entry


async def platform_entry(db, entry_id) -> dict | None:
    """One entry of any event, with the full message when the outbox holds it (`complete`)."""
    oid = as_id(entry_id)
    if not oid:
        return None
    entry = await db.outbox.find_one({"_id": oid})
    # Only a message that no server will deliver is shown whole: one still on its way to the
    # recipient keeps its working link to itself.
    full = entry.pop("full", None) if entry else None
    if full and entry and entry.get("status") == "stored":
        entry.update(subject=full["subject"], text=full["text"], html=full["html"], complete=True)
    return entry
