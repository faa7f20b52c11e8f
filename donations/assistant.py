"""The giving assistant: a small decision tree per space that leads an unsure visitor to a campaign.

Staff write it (`admin.donation_assistant`); visitors walk it with buttons,
never typing (`handlers.donation_assistant`).  A tree is one document per
space (`donation_assistants`): the languages it is written in, its default
language, and its questions (nodes).  A node has a question per language
and 2 to `MAX_BUTTONS` buttons; a button has a label per language and leads
either to another node or to an open campaign of the same space, whose
page then opens its gift dialog (`?give=1&src=assistant`, so the gift is
stored with the source "assistant").  The first node is where a walk starts.

`clean` refuses a tree that could strand a visitor: a button leading
nowhere, to a node that does not exist, to a campaign of another space or
one not taking gifts, a node with too few or too many buttons, a loop
(a node reached again from itself), a node no walk reaches, and a question
or label missing in the default language.  Text missing in another of the
tree's languages is shown in the default one (the editor lists where).

Its use is counted per space and UTC day (`donation_assistant_stats`, by
`$inc`): walks started, each node shown by a choice, walks completed (a
campaign reached), and per campaign reached.  Gifts that came from it are
the donations whose `source` is "assistant" (`donations.analytics`).
"""
from __future__ import annotations

import datetime
import secrets
from collections.abc import Mapping
from typing import Any

from access import audit
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import LOCALES, N_, text_for
from donations import campaigns

TREES = "donation_assistants"
STATS = "donation_assistant_stats"
SOURCE = "assistant"

MIN_BUTTONS, MAX_BUTTONS = 2, 6
MAX_NODES = 40
MAX_TEXT = 200
NODE_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789")
MAX_TRAIL = MAX_NODES


class TreeError(Refusal):
    """The tree is refused as written; nothing was stored."""


NOT_FOUND = N_("This space has no giving assistant.")


def new_node_key() -> str:
    return secrets.token_hex(4)


def valid_key(key: str) -> bool:
    return 1 <= len(key) <= 16 and set(key) <= NODE_KEY_CHARS


def blank() -> dict[str, Any]:
    return {"locales": ["en"], "default_locale": "en", "enabled": False, "nodes": []}


async def get(db, space_id: Any) -> dict | None:
    return await db[TREES].find_one({"space_id": space_id})


def node_text(tree: Mapping[str, Any], texts: Mapping[str, str] | None, locale: str) -> str:
    """The text in `locale`, else in the tree's default language."""
    return text_for(dict(texts or {}), locale, (tree.get("default_locale") or "en",))


def nodes_by_key(tree: Mapping[str, Any]) -> dict[str, dict]:
    return {n["key"]: n for n in tree.get("nodes") or ()}


def start(tree: Mapping[str, Any]) -> dict | None:
    nodes = tree.get("nodes") or []
    return nodes[0] if nodes else None


async def clean(db, space: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a tree staff sent; TreeError naming the first problem.

    `raw`: {"locales": [...], "default_locale": str, "enabled": bool, "nodes": [{"key", "question":
    {locale: text}, "buttons": [{"label": {locale: text}, "to": "node:<key>" | "campaign:<id>" | "",
    "position": int}]}]}.  A node with no question and no button in any language is left out (that
    is how staff delete one); a button with no label and no target likewise.
    """
    locales = [c for c in LOCALES if c in (raw.get("locales") or ())]
    default = str(raw.get("default_locale") or "")
    if default not in LOCALES:
        raise TreeError(N_("Choose the assistant's default language."))
    if default not in locales:
        locales.append(default)
        locales = [c for c in LOCALES if c in locales]
    nodes: list[dict[str, Any]] = []
    for raw_node in raw.get("nodes") or ():
        key = str(raw_node.get("key") or "")
        if not valid_key(key):
            raise TreeError(N_("This form has expired: please open it again."))
        question = _texts(raw_node.get("question"), locales)
        buttons = []
        for raw_button in sorted(raw_node.get("buttons") or (), key=lambda b: int(b.get("position") or 0)):
            label = _texts(raw_button.get("label"), locales)
            to = str(raw_button.get("to") or "").strip()
            if not label and not to:
                continue
            buttons.append({"label": label, "to": to})
        if not question and not buttons:
            continue
        nodes.append({"key": key, "question": question, "buttons": buttons})
    if len(nodes) > MAX_NODES:
        raise TreeError(N_("An assistant has at most %(max)s questions."), max=MAX_NODES)
    keys = [n["key"] for n in nodes]
    if len(set(keys)) != len(keys):
        raise TreeError(N_("This form has expired: please open it again."))
    known = set(keys)
    space_campaigns = {c["_id"]: c for c in await campaigns.listing(db, space["_id"])}
    for number, node in enumerate(nodes, 1):
        if not node["question"].get(default):
            raise TreeError(N_("Question %(n)s has no text in the default language."), n=number)
        if not MIN_BUTTONS <= len(node["buttons"]) <= MAX_BUTTONS:
            raise TreeError(N_("Question %(n)s needs from %(min)s to %(max)s answers."), n=number,
                            min=MIN_BUTTONS, max=MAX_BUTTONS)
        for place, button in enumerate(node["buttons"], 1):
            if not button["label"].get(default):
                raise TreeError(N_("Answer %(b)s of question %(n)s has no text in the default language."),
                                n=number, b=place)
            kind, _, target = button.pop("to").partition(":")
            if kind == "node" and target in known:
                if target == node["key"]:
                    raise TreeError(N_("Answer %(b)s of question %(n)s leads back to a question already asked."),
                                    n=number, b=place)
                button["node"] = target
            elif kind == "campaign":
                found = space_campaigns.get(campaigns.as_id(target))
                if found is None:
                    raise TreeError(N_("Answer %(b)s of question %(n)s leads to a campaign of another space or "
                                       "one that does not exist."), n=number, b=place)
                if not campaigns.taking(found):
                    raise TreeError(N_("Answer %(b)s of question %(n)s leads to a campaign that does not take "
                                       "gifts now."), n=number, b=place)
                button["campaign_id"] = found["_id"]
            else:
                raise TreeError(N_("Answer %(b)s of question %(n)s leads nowhere: choose a question or a "
                                   "campaign."), n=number, b=place)
    _check_shape(nodes)
    return {"locales": locales, "default_locale": default, "enabled": bool(raw.get("enabled")), "nodes": nodes}


def _texts(raw: Any, locales: list[str]) -> dict[str, str]:
    out = {}
    for code, value in dict(raw or {}).items():
        text = str(value or "").strip()
        if code in locales and text:
            if len(text) > MAX_TEXT:
                raise TreeError(N_("A question or an answer is at most %(max)s characters."), max=MAX_TEXT)
            out[code] = text
    return out


def _check_shape(nodes: list[dict[str, Any]]) -> None:
    """No loop, and every node reached from the first: so every walk ends on a campaign."""
    if not nodes:
        return
    number = {n["key"]: i for i, n in enumerate(nodes, 1)}
    by_key = {n["key"]: n for n in nodes}
    seen: set[str] = set()
    on_path: list[str] = []

    def visit(key: str) -> None:
        # Depth-first; a node met again while it is still on the current path closes a loop.
        on_path.append(key)
        seen.add(key)
        for place, button in enumerate(by_key[key]["buttons"], 1):
            nxt = button.get("node")
            if nxt is None:
                continue
            if nxt in on_path:
                raise TreeError(N_("Answer %(b)s of question %(n)s leads back to a question already asked."),
                                n=number[key], b=place)
            if nxt not in seen:
                visit(nxt)
        on_path.pop()

    visit(nodes[0]["key"])
    for node in nodes:
        if node["key"] not in seen:
            raise TreeError(N_("No answer leads to question %(n)s."), n=number[node["key"]])


def as_raw(tree: Mapping[str, Any]) -> dict[str, Any]:
    """A stored tree in the shape `clean` takes (and the editor shows)."""
    return {"locales": list(tree.get("locales") or []), "default_locale": tree.get("default_locale") or "en",
            "enabled": bool(tree.get("enabled")),
            "nodes": [{"key": n["key"], "question": dict(n["question"]),
                       "buttons": [{"label": dict(b["label"]), "position": i,
                                    "to": f"node:{b['node']}" if b.get("node") else f"campaign:{b.get('campaign_id')}"}
                                   for i, b in enumerate(n["buttons"])]} for n in tree.get("nodes") or ()]}


async def problem(db, space: Mapping[str, Any], tree: Mapping[str, Any]) -> TreeError | None:
    """What makes a saved tree one that would be refused now (a campaign closed since, say), or None."""
    try:
        await clean(db, space, as_raw(tree))
    except TreeError as exc:
        return exc
    return None


def missing_texts(tree: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(question number, language) where a question or one of its answers is shown in the default language."""
    out = []
    for number, node in enumerate(tree.get("nodes") or (), 1):
        for code in tree.get("locales") or ():
            if code == tree.get("default_locale"):
                continue
            if not node["question"].get(code) or any(not b["label"].get(code) for b in node["buttons"]):
                out.append((number, code))
    return out


async def save(db, actor: Mapping[str, Any], space: Mapping[str, Any], values: Mapping[str, Any]) -> dict:
    before = await get(db, space["_id"])
    now = utcnow()
    await db[TREES].update_one({"space_id": space["_id"]},
                               {"$set": {**values, "updated_at": now},
                                "$setOnInsert": {"space_id": space["_id"], "created_at": now}}, upsert=True)
    await audit.record(db, actor=actor, action="donations.assistant_save", space_id=space["_id"],
                       params={"nodes": len(values["nodes"]), "enabled": values["enabled"]},
                       before={"nodes": len(before["nodes"])} if before else None)
    return await get(db, space["_id"]) or dict(values)


# --- the walk --------------------------------------------------------------------------------------

def trail_of(tree: Mapping[str, Any], text: str) -> list[str]:
    """The keys of the nodes walked so far (the Back button's way), from the page's `trail`; only ones
    that exist, and each node leading to the next."""
    by_key = nodes_by_key(tree)
    first = start(tree)
    out: list[str] = []
    for key in (text or "").split(".")[:MAX_TRAIL]:
        if key not in by_key:
            break
        if not out:
            if first is None or key != first["key"]:
                break
        elif not any(b.get("node") == key for b in by_key[out[-1]]["buttons"]):
            break
        out.append(key)
    if not out and first is not None:
        out = [first["key"]]
    return out


def choose(tree: Mapping[str, Any], trail: list[str], choice: int) -> dict[str, Any] | None:
    """The button `choice` of the node at the end of `trail`, or None when there is no such button."""
    node = nodes_by_key(tree).get(trail[-1]) if trail else None
    if node is None or not 0 <= choice < len(node["buttons"]):
        return None
    return node["buttons"][choice]


def gift_path(campaign_id: Any) -> str:
    """Where a completed walk goes: the campaign's page with its gift dialog open, the gift marked as ours."""
    return f"/campaigns/{campaign_id}?give=1&src={SOURCE}"


def _day(now: datetime.datetime | None = None) -> str:
    return (now or utcnow()).astimezone(datetime.UTC).date().isoformat()


async def count(db, space_id: Any, *, started: bool = False, node: str | None = None,
                campaign_id: Any = None) -> None:
    """Count one step of a walk in today's figures (UTC): a start, a node shown, or a campaign reached."""
    inc: dict[str, int] = {}
    if started:
        inc["starts"] = 1
    if node is not None:
        inc[f"nodes.{node}"] = 1
    if campaign_id is not None:
        inc["completions"] = 1
        inc[f"campaigns.{campaign_id}"] = 1
    if not inc:
        return
    day = _day()
    await db[STATS].update_one({"_id": f"{space_id}:{day}"},
                               {"$inc": inc, "$setOnInsert": {"space_id": space_id, "day": day}}, upsert=True)


async def stats(db, space_id: Any, since: datetime.date, until: datetime.date) -> dict[str, Any]:
    """The counts from day `since` to day `until` (both included): starts, completions, per node, per campaign."""
    out: dict[str, Any] = {"starts": 0, "completions": 0, "nodes": {}, "campaigns": {}}
    async for doc in db[STATS].find({"space_id": space_id, "day": {"$gte": since.isoformat(),
                                                                   "$lte": until.isoformat()}}):
        out["starts"] += int(doc.get("starts", 0))
        out["completions"] += int(doc.get("completions", 0))
        for name in ("nodes", "campaigns"):
            for key, n in (doc.get(name) or {}).items():
                out[name][key] = out[name].get(key, 0) + int(n)
    return out
