"""Broadcast sources: turning what an organiser pastes into an embeddable URL.

Accepted: YouTube, VK Video and Rutube page or embed links, and HLS playlists
(.m3u8) over HTTPS.  Only known hosts become iframes, so a pasted URL can never
frame an arbitrary site inside the event page.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlparse

from core.errors import Refusal
from core.i18n import N_

KINDS = ("youtube", "vk", "rutube", "hls")
KIND_LABELS = {"youtube": "YouTube", "vk": "VK Video", "rutube": "Rutube", "hls": "HLS"}

_YT_ID = re.compile(r"^[A-Za-z0-9_-]{6,20}$")
_RUTUBE_ID = re.compile(r"^[a-f0-9]{20,40}$")


class SourceError(Refusal):
    """Carries a message marked for translation."""


def parse(kind: str, url: str) -> dict:
    url = (url or "").strip()
    if kind not in KINDS:
        raise SourceError(N_("Unknown broadcast type."))
    if not url or len(url) > 2000:
        raise SourceError(N_("Enter the broadcast link."))
    u = urlparse(url)
    if u.scheme != "https" or not u.hostname:
        raise SourceError(N_("The broadcast link must start with https://."))
    host = u.hostname.lower().removeprefix("www.").removeprefix("m.")
    if kind == "youtube":
        video = None
        if host == "youtu.be":
            video = u.path.strip("/")
        elif host in ("youtube.com", "youtube-nocookie.com"):
            parts = [p for p in u.path.split("/") if p]
            if parts[:1] == ["watch"]:
                video = parse_qs(u.query).get("v", [None])[0]
            elif len(parts) == 2 and parts[0] in ("embed", "live"):
                video = parts[1]
        if not video or not _YT_ID.match(video):
            raise SourceError(N_("This is not a YouTube video link."))
        return {"kind": kind, "url": url, "embed": f"https://www.youtube-nocookie.com/embed/{video}"}
    if kind == "vk":
        if host not in ("vk.com", "vkvideo.ru", "vk.ru") or not u.path.startswith("/video_ext.php"):
            raise SourceError(N_("Paste the VK Video embed link (video_ext.php)."))
        q = parse_qs(u.query)
        if not q.get("oid") or not q.get("id"):
            raise SourceError(N_("Paste the VK Video embed link (video_ext.php)."))
        keep = {k: q[k][0] for k in ("oid", "id", "hash", "hd") if q.get(k)}
        return {"kind": kind, "url": url, "embed": f"https://{host}/video_ext.php?{urlencode(keep)}"}
    if kind == "rutube":
        parts = [p for p in u.path.split("/") if p]
        video = None
        if host == "rutube.ru":
            if len(parts) >= 2 and parts[0] == "video":
                video = parts[1]
            elif len(parts) >= 3 and parts[:2] == ["play", "embed"]:
                video = parts[2]
        if not video or not _RUTUBE_ID.match(video):
            raise SourceError(N_("This is not a Rutube video link."))
        return {"kind": kind, "url": url, "embed": f"https://rutube.ru/play/embed/{video}"}
    if not u.path.endswith(".m3u8"):
        raise SourceError(N_("An HLS link must point to a .m3u8 playlist."))
    return {"kind": kind, "url": url, "embed": url}
