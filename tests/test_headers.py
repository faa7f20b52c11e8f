"""Every response carries the browser-side defences of `core.security_headers`.

The list of URLs is not written by hand: it is every route of `routes.MODULES`
with its path parameters filled in, fetched by an anonymous visitor and by a
signed-in platform admin, so a new page is covered the day it is added.
Pages, errors, redirects, JSON, static files, slide images, the operations
endpoints and refused WebSocket upgrades are all checked the same way.

Framing: every response refuses it (frame-ancestors 'none', X-Frame-Options
DENY) except a campaign's widget whose staff opted in, which names exactly
the origins they listed (or `*` for "any site") and no X-Frame-Options.  The
walk fills `campaign_id` with such an opted-in campaign, so each other page
of that very campaign is seen refusing.
"""
import re
import secrets

import httpx
import pytest

from access import roles as R
from admin.outbox_pages import HTML_POLICY
from app import routes
from community import pages
from core import config, security_headers
from donations import embedding
from events import broadcast
from handlers.base import BaseHandler
from tests.donations_support import campaign as make_campaign
from tests.test_quizzes import make_quiz

TOKEN_PAGES = ("SigninLinkHandler", "ResetPasswordHandler", "RegistrationConfirmHandler")
NO_REFERRER = TOKEN_PAGES + ("EventOutboxHandler", "EventOutboxEntryHandler", "EventOutboxHtmlHandler",
                             "PlatformOutboxHandler", "PlatformOutboxEntryHandler", "PlatformOutboxHtmlHandler")
WIDGET_ORIGIN = "https://stream.example.org"
OTHER_ORIGIN = "https://*.partner.example:8443"


class Broken(BaseHandler):
    async def get(self):
        raise RuntimeError("a bug")


class Widget(BaseHandler):
    frame_ancestors = WIDGET_ORIGIN

    async def get(self):
        self.finish("a widget")


@pytest.fixture
def app(app):
    app.add_handlers(r".*", [(r"/test/broken", Broken, {"services": app.settings["services"]}),
                             (r"/test/widget", Widget, {"services": app.settings["services"]})])
    return app


# --- the check ---------------------------------------------------------------------

def directives(policy: str) -> dict:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def check(r: httpx.Response, where: str, handler: str = "", tls: bool = False, framed_by: list | None = None) -> None:
    """The headers every response carries; `framed_by`: the frame-ancestors this one (a widget) names instead."""
    h = r.headers
    where = f"{where} -> {r.status_code}"
    policy = h.get("content-security-policy")
    assert policy, where
    if handler.endswith("OutboxHtmlHandler") and r.status_code == 200:
        assert policy == HTML_POLICY, where      # the mail's own, stricter sandbox
    else:
        csp = directives(policy)
        assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"], where
        assert csp["style-src"] == ["'self'"], where
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'self'"], where
        assert csp["form-action"] == ["'self'"], where
        assert csp["frame-ancestors"] == (framed_by or ["'none'"]), where
        assert "unsafe" not in policy, where
    if framed_by:
        assert "x-frame-options" not in h, where    # DENY would contradict the list
    else:
        assert h.get("x-frame-options") == "DENY", where
    assert h.get("x-content-type-options") == "nosniff", where
    wanted = "no-referrer" if handler in NO_REFERRER else "strict-origin-when-cross-origin"
    assert h.get("referrer-policy") == wanted, where
    if tls:
        assert h.get("strict-transport-security") == "max-age=31536000; includeSubDomains", where
    else:
        assert "strict-transport-security" not in h, where
    assert "server" not in h, (where, h.get("server"))


# --- every route ---------------------------------------------------------------------

def fill(pattern: str, values: dict) -> str:
    """The pattern with each named group replaced (groups may nest, as the slug's do)."""
    out, i = [], 0
    while i < len(pattern):
        m = re.match(r"\(\?P<(\w+)>", pattern[i:])
        if not m:
            out.append(pattern[i + 1] if pattern[i] == "\\" else pattern[i])
            i += 2 if pattern[i] == "\\" else 1
            continue
        depth, j = 1, i + m.end()
        while depth:
            if pattern[j] == "\\":
                j += 1
            elif pattern[j] == "(":
                depth += 1
            elif pattern[j] == ")":
                depth -= 1
            j += 1
        out.append(values[m.group(1)])
        i = j
    return "".join(out).rstrip("$")


def every_route():
    for module in routes.MODULES:
        for pattern, handler, *_ in module.ROUTES:
            yield pattern, handler.__name__


async def seeded(factory, services):
    db = services.db
    space = await factory.space()
    event = await factory.event(space, locales=("ru", "en"))
    admin = await factory.member(R.PLATFORM_ADMIN)
    quiz = await make_quiz(db, admin, event)
    page = await pages.create(db, admin, event, slug="hello", discussion="open", published=True,
                              title={"ru": "Привет", "en": "Hello"}, body={"en": "Text"})
    entry = await services.mailer.send(to="a@example.org", subject="Hi", text="Hi", html="<p>Hi</p>",
                                       event_id=event["_id"])
    # A campaign whose widget two sites may frame: its every other page must still refuse framing.
    campaign = await make_campaign(services, factory, space=space)
    await embedding.save(db, admin, campaign, embedding.clean(embedding.LISTED, f"{WIDGET_ORIGIN}\n{OTHER_ORIGIN}"))
    values = {
        "space_id": str(space["_id"]), "event_id": str(event["_id"]), "space_slug": space["slug"],
        "event_slug": event["slug"], "quiz_id": str(quiz["_id"]), "page_id": str(page["_id"]),
        "slug": page["slug"], "entry_id": str(entry["_id"]), "user_id": str(admin["_id"]),
        "membership_id": secrets.token_hex(12), "media_id": secrets.token_hex(32), "import_id": secrets.token_hex(12),
        "mailing_id": secrets.token_hex(12), "file_id": secrets.token_hex(12), "job_id": secrets.token_hex(12),
        "request_id": secrets.token_hex(12), "attempt_id": secrets.token_hex(12),
        "reservation_id": secrets.token_hex(12),
        "order_id": secrets.token_hex(12), "ticket_id": "t1", "ticket_type_id": secrets.token_hex(12),
        "quota_id": secrets.token_hex(12), "application_id": secrets.token_hex(12),
        "promo_code_id": secrets.token_hex(12), "campaign_id": str(campaign["_id"]), "donation_id": secrets.token_hex(12),
        "card_id": secrets.token_hex(12), "pledge_id": secrets.token_hex(12), "change": "pause",
        "token": secrets.token_urlsafe(16), "code": "ABCDEFGHJKLM",
        "action": "slides_show", "locale": "en",
    }
    return admin, values


@pytest.mark.gen_test(timeout=120)
async def test_every_route_as_visitor_and_as_platform_admin(browser, factory, services):
    admin, values = await seeded(factory, services)
    visitor = browser()
    staff = browser()
    await staff.sign_in(admin["login"], factory.PASSWORD)
    statuses = {}
    framed = []
    for pattern, handler in every_route():
        path = fill(pattern, values)
        for who, b in (("visitor", visitor), ("admin", staff)):
            r = await b.get(path)
            widget = handler == "WidgetHandler"
            check(r, f"GET {path} as {who}", handler, framed_by=[WIDGET_ORIGIN, OTHER_ORIGIN] if widget else None)
            statuses.setdefault(r.status_code, []).append(path)
            if widget:
                framed.append(r.status_code)
    assert framed == [200, 200]      # the widget was really shown, framable, to both
    # The walk reached real pages, redirects and errors, not only one kind.
    assert len(statuses.get(200, [])) > 40 and 302 in statuses and 404 in statuses, statuses.keys()
    outbox_html = fill(r"/admin/outbox/(?P<entry_id>[0-9a-f]{24})/html", values)
    r = await staff.get(outbox_html)
    assert r.status_code == 200 and r.headers["content-security-policy"] == HTML_POLICY


# --- what is not a route ---------------------------------------------------------------

@pytest.mark.gen_test
async def test_static_files_errors_json_and_redirects(browser, factory, services):
    b = browser()
    for path in ("/static/css/app.css", "/static/js/app.js", "/static/vendor/hls.min.js"):
        r = await b.get(path)
        assert r.status_code == 200, path
        check(r, path)
        again = await b.get(path, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304
        check(again, path + " (not modified)")
    check(await b.get("/static/no-such-file.css"), "missing static file")
    r = await b.get("/no/such/page")
    assert r.status_code == 404 and "error-message" in r.text
    check(r, "404 page")
    r = await b.get("/no/such/page", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json()["error"] == 404
    check(r, "404 as JSON")
    r = await b.get("/healthz")
    assert r.headers["content-type"] == "application/json"
    check(r, "/healthz")
    r = await b.get("/profile")
    assert r.status_code == 302
    check(r, "redirect to sign in")
    r = await b.get("/test/broken")
    assert r.status_code == 500 and "a bug" not in r.text
    check(r, "500 page")
    r = await b.post("/signin", {"identifier": "x"}, xsrf=False)
    assert r.status_code == 403
    check(r, "XSRF refusal")


@pytest.mark.gen_test
async def test_refused_websocket_upgrades(browser, factory):
    b = browser()
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    event = await factory.event()
    for why, request in (
            ("not an upgrade", b.get("/ws")),
            ("not GET", b.post("/ws", {}, xsrf=False)),
            ("no session", b.get(f"/ws?event={event['_id']}", headers=upgrade)),
            ("foreign origin", b.get("/ws", headers={**upgrade, "Origin": "https://evil.example"})),
            ("old version", b.get("/ws", headers={**upgrade, "Sec-WebSocket-Version": "8"}))):
        r = await request
        assert 400 <= r.status_code < 500, why
        check(r, f"/ws refused: {why}")


@pytest.mark.gen_test
async def test_a_page_made_for_embedding_says_who_may_frame_it(browser):
    r = await browser().get("/test/widget")
    assert directives(r.headers["content-security-policy"])["frame-ancestors"] == [WIDGET_ORIGIN]
    assert "x-frame-options" not in r.headers     # DENY would contradict it
    assert security_headers.for_response(False, "'self'")[-1] == ("X-Frame-Options", "SAMEORIGIN")


@pytest.mark.gen_test
async def test_a_campaign_widget_may_be_framed_only_as_its_staff_chose(browser, factory, services, db):
    admin = await factory.member(R.PLATFORM_ADMIN)
    campaign = await make_campaign(services, factory)
    path = f"/campaigns/{campaign['_id']}/widget"
    b = browser()
    # Off (never set): the widget opens on its own (a streaming program's browser source) but refuses frames.
    r = await b.get(path)
    assert r.status_code == 200 and "campaign-raised" in r.text
    check(r, "widget, embedding never set")
    for value, framed_by in ((embedding.clean(embedding.ANY, ""), ["*"]),
                             (embedding.clean(embedding.LISTED, WIDGET_ORIGIN + "/"), [WIDGET_ORIGIN]),
                             (embedding.clean(embedding.OFF, WIDGET_ORIGIN), None)):
        campaign = await embedding.save(db, admin, campaign, value)
        for size in ("compact", "bar", "full", "nonsense"):
            r = await b.get(f"{path}?size={size}")
            assert r.status_code == 200
            check(r, f"widget {value} {size}", framed_by=framed_by)
        # The campaign's other pages keep refusing, whatever the widget allows.
        for other in ("", "/screen", "/give"):
            check(await b.get(f"/campaigns/{campaign['_id']}{other}"), f"campaign page {other} with {value}")
    # A draft's widget is not found (and refuses frames), even with embedding on.
    draft = await make_campaign(services, factory, state="draft")
    await embedding.save(db, admin, draft, embedding.clean(embedding.ANY, ""))
    r = await b.get(f"/campaigns/{draft['_id']}/widget")
    assert r.status_code == 404
    check(r, "a draft's widget")


def test_frames_allowed_are_exactly_the_broadcast_embeds():
    samples = {
        "youtube": ["https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://youtu.be/dQw4w9WgXcQ"],
        "vk": ["https://vk.com/video_ext.php?oid=-1&id=2&hash=3", "https://vkvideo.ru/video_ext.php?oid=1&id=2",
               "https://vk.ru/video_ext.php?oid=1&id=2"],
        "rutube": ["https://rutube.ru/video/0123456789abcdef0123456789abcdef/"],
    }
    used = set()
    for kind, urls in samples.items():
        for url in urls:
            embed = broadcast.parse(kind, url)["embed"]
            used.add(re.match(r"https://[^/]+", embed).group(0))
    frame_src = directives(security_headers.content_security_policy())["frame-src"]
    assert used == set(security_headers.EMBED_ORIGINS) == set(frame_src[1:]) and frame_src[0] == "'self'"


# --- over TLS ------------------------------------------------------------------------------

class TestBehindNginx:
    @pytest.fixture
    def settings(self):
        return config.from_env(mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1,
                               argon2_memory_kib=1024, log_format="text", smtp_host="", trust_proxy=True)

    @pytest.mark.gen_test
    async def test_hsts_only_when_the_request_came_over_tls(self, browser):
        b = browser()
        tls = {"X-Forwarded-Proto": "https"}
        for path in ("/", "/signin", "/no/such/page", "/static/css/app.css", "/healthz", "/profile", "/ws"):
            check(await b.get(path, headers=tls), f"{path} over TLS", tls=True)
            check(await b.get(path), f"{path} over plain HTTP", tls=False)


@pytest.mark.gen_test
async def test_forwarded_proto_is_ignored_without_trust_proxy(browser):
    b = browser()
    for path in ("/", "/ws", "/static/css/app.css"):
        check(await b.get(path, headers={"X-Forwarded-Proto": "https"}), f"{path} claiming TLS")
