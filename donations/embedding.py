"""Who may show a campaign's widget in a frame: the staff's opt-in, per campaign.

The widget (`handlers.donation_widget`) is the one page of the platform that
other sites may frame, and only when the campaign's staff say so.  A campaign's
`embed` setting is one of:
- `off` (the default, also for a campaign that never had the setting): nobody
  may frame it.  The widget still opens as a page of its own, which is how a
  streaming program's browser source shows it, but it answers with
  `frame-ancestors 'none'` and X-Frame-Options DENY, so a browser refuses to
  draw it inside another site's frame;
- `listed`: the https origins the staff typed (one a line, at most
  `MAX_ORIGINS`) may frame it: they become its `frame-ancestors` list;
- `any`: every site may frame it (`frame-ancestors *`), chosen on purpose.

An origin is `https://host` with an optional port and an optional leading
`*.` for every subdomain; no path, query, user or other scheme.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from access import audit
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from core.security_headers import NONE
from donations.campaigns import CAMPAIGNS

OFF, LISTED, ANY = "off", "listed", "any"
MODES = (OFF, LISTED, ANY)
MODE_LABELS = {OFF: N_("Off: no other site may show the widget"),
               LISTED: N_("Only the sites listed below"),
               ANY: N_("Any site")}
MAX_ORIGINS = 20
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
ORIGIN = re.compile(rf"^https://(?:\*\.)?{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?$")


class EmbedError(Refusal):
    """The embedding setting refused; nothing was stored."""


def setting(campaign: Mapping[str, Any]) -> dict[str, Any]:
    """The campaign's setting as stored, `off` when it has none."""
    found = campaign.get("embed") or {}
    mode = found.get("mode") if found.get("mode") in MODES else OFF
    return {"mode": mode, "origins": list(found.get("origins") or []) if mode == LISTED else []}


def clean_origins(lines: Iterable[str]) -> list[str]:
    """The origins typed one a line, lower-cased, without a trailing slash, each once; EmbedError on a bad one."""
    out: list[str] = []
    for raw in lines:
        text = raw.strip()
        if not text:
            continue
        origin = text.lower().rstrip("/")
        port = origin.rsplit(":", 1)[1] if origin.count(":") == 2 else ""
        if len(origin) > 260 or not ORIGIN.match(origin) or (port and not 0 < int(port) < 65536):
            raise EmbedError(N_("“%(origin)s” is not a site's address: write it as https://example.org "
                                "(https, no path)."), origin=text[:80])
        if origin not in out:
            out.append(origin)
    if len(out) > MAX_ORIGINS:
        raise EmbedError(N_("At most %(max)s sites may be listed."), max=MAX_ORIGINS)
    return out


def clean(mode: str, origins_text: str) -> dict[str, Any]:
    """The stored setting of the staff's form; EmbedError on a bad mode or origin."""
    if mode not in MODES:
        raise EmbedError(N_("Choose who may show the widget."))
    origins = clean_origins((origins_text or "").splitlines())
    if mode == LISTED and not origins:
        raise EmbedError(N_("List at least one site, or choose another option."))
    return {"mode": mode, "origins": origins if mode == LISTED else []}


async def save(db, actor: Mapping[str, Any], campaign: Mapping[str, Any], value: Mapping[str, Any]) -> dict:
    """Store the campaign's setting (audited); the campaign as it is now."""
    before = setting(campaign)
    await db[CAMPAIGNS].update_one({"_id": campaign["_id"], "space_id": campaign["space_id"]},
                                   {"$set": {"embed": dict(value), "updated_at": utcnow()}})
    await audit.record(db, actor=actor, action="donations.campaign_embed", space_id=campaign["space_id"],
                       params={"campaign_id": campaign["_id"]}, before=before, after=dict(value))
    return {**campaign, "embed": dict(value)}


def frame_ancestors(campaign: Mapping[str, Any]) -> str:
    """The CSP `frame-ancestors` source list of the campaign's widget."""
    found = setting(campaign)
    if found["mode"] == ANY:
        return "*"
    if found["mode"] == LISTED and found["origins"]:
        return " ".join(found["origins"])
    return NONE
