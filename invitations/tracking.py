"""Telling a person's open of an invitation from a machine's prefetch.

The open pixel is fetched both by people reading the mail and by machines
that fetch every image of every message on arrival.  An open counts as a
prefetch (kept in `prefetches`, never in `opens`) when any of these holds:

1. it came from Apple's network 17.0.0.0/8, where Apple Mail Privacy
   Protection's proxies fetch images for every message delivered;
2. its user agent is the bare one those proxies send
   (`Mozilla/5.0` with no browser or mail client named after it), or names a
   known mail scanner;
3. it came before the message could have been read: before the server
   accepted it, or within `PREFETCH_SECONDS` of that.

Anything else is a person's open.  A click is always a person's.
"""
from __future__ import annotations

import datetime
import ipaddress
import re

PREFETCH_SECONDS = 10
APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")
# Apple's proxies: "Mozilla/5.0" alone, or with the platform in brackets and nothing naming a client.
_BARE_MOZILLA = re.compile(r"^Mozilla/5\.0( \([^)]*\))?( AppleWebKit/[\d.]+ \(KHTML, like Gecko\))?$")
_SCANNERS = ("barracuda", "mimecast", "proofpoint", "symantec", "bot", "crawler", "preview")


def is_prefetch(ip: str, user_agent: str, delivered_at: datetime.datetime | None,
                now: datetime.datetime) -> bool:
    """Whether an open of the pixel is a machine's (see the module docstring for the rule)."""
    try:
        if ipaddress.ip_address(ip) in APPLE_NETWORK:
            return True
    except ValueError:
        pass
    agent = (user_agent or "").strip()
    if not agent or _BARE_MOZILLA.match(agent) or any(word in agent.lower() for word in _SCANNERS):
        return True
    if delivered_at is None:
        return True  # not yet accepted by any server: nobody can have read it
    return (now - delivered_at).total_seconds() < PREFETCH_SECONDS
