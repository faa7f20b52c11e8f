"""Partner links: each partner of an event gets its own tracked link, and what it brought is counted.

A partner link is `/p/<code>`; following it counts a visit, remembers the
partner in the visitor's browser (a signed cookie per event, kept
`COOKIE_DAYS` days) and lands on the event page.

Attribution is last touch: a registration belongs to the partner whose link
the browser followed last before the registration was submitted (each
visit of a partner link of the event replaces the remembered one).  It is
fixed when the registration is submitted: links followed afterwards change
nothing, and a registration made without a remembered partner belongs to
none.  A partner's registrations are those attributed to it that admit
their holder (`attendees.registry.ADMITTING`); its attendance, those of them
that opened the event (`watched_at`).
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from access import audit
from access import roles as R
from accounts.users import as_id
from attendees import registry
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_

LINKS, ATTRIBUTIONS = "partner_links", "partner_attributions"
COOKIE_DAYS = 30
MAX_NAME = 120


class PartnerError(Refusal):
    """A refused change; `message` is marked for translation, `params` fill it."""


def cookie_name(event_id) -> str:
    return f"lh_partner_{event_id}"


async def add(db, actor: Mapping[str, Any], event: Mapping[str, Any], name: str) -> dict[str, Any]:
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        raise PartnerError(N_("Enter the partner's name (at most %(count)s characters)."), count=MAX_NAME)
    doc = {"_id": ObjectId(), "event_id": event["_id"], "space_id": event["space_id"], "name": name,
           "code": secrets.token_urlsafe(9), "visits": 0, "created_at": utcnow(), "created_by": actor["_id"]}
    await db[LINKS].insert_one(doc)
    await audit.record(db, actor=actor, action="partner.add", event=event, params={"name": name},
                       before=None, after={"code": doc["code"]})
    return doc


async def by_code(db, code: str) -> dict | None:
    if not code or len(code) > 40:
        return None
    return await db[LINKS].find_one({"code": code})


async def visit(db, link: Mapping[str, Any]) -> None:
    await db[LINKS].update_one({"_id": link["_id"]}, {"$inc": {"visits": 1}})


async def attribute(db, event: Mapping[str, Any], email: str, partner_id: str | None) -> None:
    """Fix the registration of `email` to the partner remembered now (the last touch), once."""
    oid = as_id(partner_id) if partner_id else None
    if oid is None or not email:
        return
    if await db[LINKS].find_one({"_id": oid, "event_id": event["_id"]}, {"_id": 1}) is None:
        return
    try:
        await db[ATTRIBUTIONS].update_one({"event_id": event["_id"], "email": email},
                                          {"$setOnInsert": {"partner_id": oid, "at": utcnow()}}, upsert=True)
    except DuplicateKeyError:
        pass  # two submissions at once: the first fixed it


async def counts(db, event_id) -> list[dict[str, Any]]:
    """Each partner link of the event with its visits, registrations and attendance."""
    links = await db[LINKS].find({"event_id": event_id}).sort("name", 1).to_list(None)
    by_partner: dict[Any, list[str]] = {link["_id"]: [] for link in links}
    async for a in db[ATTRIBUTIONS].find({"event_id": event_id}):
        by_partner.setdefault(a["partner_id"], []).append(a["email"])
    out = []
    for link in links:
        emails = by_partner[link["_id"]]
        regs = await db.memberships.find({"scope_id": event_id, "role": R.ATTENDEE, "email": {"$in": emails},
                                          **registry.ADMITTING}, {"watched_at": 1}).to_list(None)
        out.append({**link, "registrations": len(regs), "attended": sum(1 for m in regs if m.get("watched_at"))})
    return out
