"""The browser-side defences every HTTP response carries, built in one place.

Pages, JSON answers, error pages, redirects, static files, the operations
endpoints and the refused `/ws` upgrades all send the same set, so a
response written anywhere cannot forget one.  Handlers call `apply`; code
that writes a response below Tornado's RequestHandler calls `for_response`.

The Content-Security-Policy is one policy for every page.  nav.js keeps the
broadcast playing by swapping a page's <main> into the current document, so
a document lives on under the policy of the page it was first loaded as:
per-page policies would be whatever page the visitor happened to start on.

What it allows, and why:
- scripts and styles from this site only: no inline script, no `style=`
  attribute, no eval.  Injected markup that escaped the templates' escaping
  still cannot run or restyle the page;
- frames: the hosts `events.broadcast` turns pasted links into (YouTube's
  privacy-enhanced player, VK Video, Rutube) and this site, whose pages are
  trusted as its scripts are (and refuse framing unless made for it);
- media and connections: this site (which covers the WebSocket on the same
  origin), `blob:` media and workers for hls.js (it feeds the <video>
  through MediaSource and parses segments in a worker made from a blob), and
  any https: host, because an HLS broadcast is a playlist on whatever CDN the
  organiser pastes (https only, `events.broadcast` refuses http), and staff
  can switch it while pages are open, under the policy they were loaded
  with;
- images from this site (slides come from /media);
- no plugins, <base> only to this site, forms post only to this site;
- the card payment page alone also allows the card provider's script
  origin (Stripe.js: its script, the frames it draws the card fields in,
  and its API), named by the handler's `payment_origin`; that page is a
  full page load of its own (it carries `data-reload`, which nav.js never
  swaps in), so no other page lives under this policy;
- framing: nobody (`frame-ancestors 'none'`, X-Frame-Options DENY for old
  browsers).  A handler meant to be embedded elsewhere (a widget) sets its
  own `frame_ancestors` source list; nothing else may be framed.  The
  campaign widget (`handlers.donation_widget`) is the one such page: its
  list is the campaign's opt-in (`donations.embedding`), set per request.

Other headers: nosniff; Referer with the origin only when leaving the site
(pages carrying a token set `no-referrer` themselves); HSTS only on
responses that came over TLS, as a browser ignores it over plain HTTP and a
test server on http must stay reachable; and no `Server` header, since the
version told an attacker which advisories apply.
"""
from __future__ import annotations

import functools

NONE = "'none'"
SELF = "'self'"

# Every host `events.broadcast.parse` makes an embed URL on (tests check the two agree).
EMBED_ORIGINS = (
    "https://www.youtube-nocookie.com",
    "https://vk.com", "https://vkvideo.ru", "https://vk.ru",
    "https://rutube.ru",
)

HSTS = "max-age=31536000; includeSubDomains"
REFERRER_POLICY = "strict-origin-when-cross-origin"


def content_security_policy(frame_ancestors: str = NONE, payment_origin: str = "") -> str:
    extra = f" {payment_origin}" if payment_origin else ""
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'" + extra,
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self' blob: https:",
        "connect-src 'self' https:" + extra,
        "worker-src 'self' blob:",
        "frame-src 'self' " + " ".join(EMBED_ORIGINS) + extra,
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        f"frame-ancestors {frame_ancestors}",
    ))


@functools.lru_cache(maxsize=32)
def for_response(over_tls: bool, frame_ancestors: str = NONE,
                 payment_origin: str = "") -> tuple[tuple[str, str], ...]:
    """(name, value) pairs for one response; `over_tls` as the request came to nginx."""
    headers = [
        ("Content-Security-Policy", content_security_policy(frame_ancestors, payment_origin)),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", REFERRER_POLICY),
    ]
    if frame_ancestors == NONE:
        headers.append(("X-Frame-Options", "DENY"))
    elif frame_ancestors == SELF:
        headers.append(("X-Frame-Options", "SAMEORIGIN"))
    # Any other list cannot be said in X-Frame-Options; browsers that know
    # only that header then allow framing, as the handler asked.
    if over_tls:
        headers.append(("Strict-Transport-Security", HSTS))
    return tuple(headers)


def apply(handler) -> None:
    """Set the headers on a Tornado RequestHandler (from its set_default_headers).

    The handler's `frame_ancestors` attribute, if it has one, says who may
    frame it.  `request.protocol` is https when the request came over TLS,
    directly or (with TRUST_PROXY) as nginx's X-Forwarded-Proto says.
    """
    handler.clear_header("Server")
    # Applied again by a handler that learns who may frame it only once it has read its page (the widget).
    handler.clear_header("X-Frame-Options")
    over_tls = handler.request.protocol == "https"
    for name, value in for_response(over_tls, getattr(handler, "frame_ancestors", NONE),
                                    getattr(handler, "payment_origin", "")):
        handler.set_header(name, value)
