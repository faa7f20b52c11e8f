"""In Chromium: an HLS broadcast on the event page, played by hls.js or by the browser itself.

The test server plays the broadcaster: a live playlist in each language with
real MPEG-TS segments (tests/hls_stream.py), and it notes every request, so
the test sees which playlist the page asked for and that segments followed.
hls.js comes from /static/vendor/, where `make deps` (tools/browser_libs.py)
puts it; a Chromium that plays HLS natively is told otherwise to test that path.
"""
import os
import re

import pytest
import tornado.web

import server
from access import roles as R
from events import control, view
from tests import hls_stream
from tests.browser import chromium, screenshot, signed_in_page
from tests.test_realtime import seeded

VENDOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static", "vendor", "hls.min.js")
VIDEO = "#player-dock .player video"
# Makes Chromium say it cannot play HLS itself, as Firefox and older Chrome do.
NO_NATIVE_HLS = """
(function () {
  var original = HTMLMediaElement.prototype.canPlayType;
  HTMLMediaElement.prototype.canPlayType = function (type) {
    return /mpegurl/i.test(type) ? "" : original.call(this, type);
  };
})();
"""


class Broadcaster:
    def __init__(self):
        self.stream = hls_stream.LiveStream()
        self.available = True
        self.requests = []

    def seen(self, pattern):
        return [r for r in self.requests if re.search(pattern, r)]


class StreamHandler(tornado.web.RequestHandler):
    def initialize(self, broadcaster):
        self.b = broadcaster

    def get(self, locale, name):
        self.b.requests.append(self.request.path)
        self.set_header("Cache-Control", "no-cache")
        if name == "live.m3u8":
            if not self.b.available:
                raise tornado.web.HTTPError(404)
            self.set_header("Content-Type", "application/vnd.apple.mpegurl")
            self.write(self.b.stream.playlist())
            return
        m = re.fullmatch(r"seg(\d+)\.ts", name)
        if not m:
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", "video/mp2t")
        self.write(hls_stream.segment(int(m.group(1))))


@pytest.fixture
def broadcaster():
    return Broadcaster()


@pytest.fixture
def app(services, broadcaster):
    application = server.make_app(services)
    application.add_handlers(r".*", [(r"/test-hls/(\w+)/([\w.]+)", StreamHandler, {"broadcaster": broadcaster})])
    return application


@pytest.fixture
def vendored():
    if not os.path.exists(VENDOR):
        pytest.skip("static/vendor/hls.min.js is missing: run `make deps` (tools/browser_libs.py)")


async def hls_event(factory, services, base_url):
    event = await seeded(factory)
    sources = {loc: {"kind": "hls", "url": f"https://cdn.example.org/{loc}/live.m3u8",
                     "embed": f"{base_url}/test-hls/{loc}/live.m3u8"} for loc in event["locales"]}
    await services.db.events.update_one({"_id": event["_id"]},
                                        {"$set": {"broadcast.on": True, "broadcast.sources": sources}})
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    return event, view.path(space, event)


async def open_event(chrome, base_url, factory, path, user, native, width=1280):
    page = await signed_in_page(chrome, base_url, user["login"], factory.PASSWORD, width=width)
    if not native:
        await page.add_init_script(NO_NATIVE_HLS)
    scripts = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    await page.goto(base_url + path)
    await page.wait_for_selector(VIDEO, state="attached")
    return page, scripts


async def play(page):
    await page.evaluate(f"() => {{ const v = document.querySelector('{VIDEO}'); v.muted = true; v.play(); }}")


async def playing_past(page, seconds, timeout=20000):
    """Waits until the video's clock has moved `seconds` past where it is now."""
    now = await page.evaluate(f"() => document.querySelector('{VIDEO}').currentTime")
    await page.wait_for_function(
        f"t => {{ const v = document.querySelector('{VIDEO}'); return !v.paused && v.currentTime > t; }}",
        arg=now + seconds, timeout=timeout)


@pytest.mark.gen_test(timeout=150)
async def test_hls_js_plays_the_locale_stream_across_navigation_and_broadcast_switches(
        factory, base_url, services, http_server, broadcaster, vendored):
    event, path = await hls_event(factory, services, base_url)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    user = await factory.member(R.ATTENDEE, event=event, locale="de")
    async with chromium() as chrome:
        page, scripts = await open_event(chrome, base_url, factory, path, user, native=False)
        # hls.js from the vendor folder, attached to the <video>: its source is a MediaSource.
        await page.wait_for_function(f"() => window.Hls && document.querySelector('{VIDEO}').src.startsWith('blob:')")
        assert [u for u in scripts if "/static/vendor/hls.min.js" in u]
        assert await page.evaluate(f"() => document.querySelector('{VIDEO}').getAttribute('data-hls-src')") == \
            f"{base_url}/test-hls/de/live.m3u8"
        # The German playlist at once; segments only once the viewer presses play.
        await page.wait_for_function("() => performance.getEntriesByType('resource').some(e => e.name.endsWith('/de/live.m3u8'))")
        assert broadcaster.seen(r"^/test-hls/de/live\.m3u8$") and not broadcaster.seen(r"\.ts$")
        assert not broadcaster.seen(r"^/test-hls/(ru|en)/")
        await play(page)
        await playing_past(page, 1.5)
        first_segment = broadcaster.seen(r"^/test-hls/de/seg\d+\.ts$")
        assert first_segment
        assert await page.locator(".player-notice").count() == 0
        await screenshot(page, "event-hls-playing-de-desktop")

        # Browsing on: the same video goes on playing in the dock.
        await page.evaluate(f"() => {{ document.querySelector('{VIDEO}').__marker = 'same'; window.__noReload = true; }}")
        await page.click(".topnav a[href='/profile']")
        await page.wait_for_url(base_url + "/profile")
        await page.wait_for_selector("#player-dock.docked")
        await playing_past(page, 2)
        assert await page.evaluate(f"() => document.querySelector('{VIDEO}').__marker") == "same"
        assert len(broadcaster.seen(r"\.ts$")) > len(first_segment)
        await page.go_back()
        await page.wait_for_url(base_url + path)
        await page.wait_for_selector("#player .player-slot")
        await playing_past(page, 1)
        assert await page.evaluate(f"() => document.querySelector('{VIDEO}').__marker + window.__noReload") == "sametrue"
        # nav.js ran player.js again: still one hls.js, one <video>.
        assert await page.locator("video").count() == 1
        assert len([u for u in scripts if "/static/vendor/hls.min.js" in u]) == 1

        # Broadcast off: the player gives way to the notice and stops fetching.
        await control.apply(services.db, services.notifier, event["_id"], admin, "broadcast_off")
        paused = services.i18n.gettext("de")("The broadcast is paused.")
        await page.wait_for_selector(f"#player-dock .player .placeholder:has-text('{paused}')")
        assert await page.locator("video").count() == 0
        await page.wait_for_timeout(500)
        count = len(broadcaster.requests)
        await page.wait_for_timeout(4500)  # two playlist refreshes of a live stream
        assert len(broadcaster.requests) == count

        # On again: a fresh player on the same source.
        await control.apply(services.db, services.notifier, event["_id"], admin, "broadcast_on")
        await page.wait_for_function(f"() => document.querySelector('{VIDEO}') && "
                                     f"document.querySelector('{VIDEO}').src.startsWith('blob:')")
        await play(page)
        await playing_past(page, 1)
        assert len(broadcaster.requests) > count


@pytest.mark.gen_test(timeout=120)
async def test_a_stream_that_cannot_be_played_says_so_and_recovers(
        factory, base_url, services, http_server, broadcaster, vendored):
    event, path = await hls_event(factory, services, base_url)
    user = await factory.member(R.ATTENDEE, event=event, locale="ru")
    broadcaster.available = False
    async with chromium() as chrome:
        page, _ = await open_event(chrome, base_url, factory, path, user, native=False, width=375)
        await play(page)
        notice = page.locator("#player-dock .player .player-notice")
        await notice.wait_for(timeout=15000)
        expected = services.i18n.gettext("ru")("The broadcast cannot be played right now. Trying again…")
        assert expected != "The broadcast cannot be played right now. Trying again…"
        assert await notice.inner_text() == expected
        assert await notice.get_attribute("role") == "status"
        await screenshot(page, "event-hls-error-ru-phone")
        # It tries again by itself, with a pause in between.
        tries = len(broadcaster.seen(r"live\.m3u8$"))
        await page.wait_for_function("n => performance.getEntriesByType('resource')"
                                     ".filter(e => e.name.endsWith('/ru/live.m3u8')).length > n", arg=tries,
                                     timeout=15000)
        # The stream comes back: the notice goes and the broadcast plays, as the viewer asked.
        broadcaster.available = True
        await notice.wait_for(state="detached", timeout=30000)
        await playing_past(page, 1, timeout=30000)
        assert broadcaster.seen(r"^/test-hls/ru/seg\d+\.ts$")


@pytest.mark.gen_test(timeout=120)
async def test_a_browser_that_plays_hls_itself_gets_the_playlist_directly(
        factory, base_url, services, http_server, broadcaster):
    event, path = await hls_event(factory, services, base_url)
    user = await factory.member(R.ATTENDEE, event=event, locale="en")
    async with chromium() as chrome:
        page, scripts = await open_event(chrome, base_url, factory, path, user, native=True)
        if not await page.evaluate("document.createElement('video').canPlayType('application/vnd.apple.mpegurl')"):
            pytest.skip("this Chromium does not play HLS itself")
        await page.wait_for_function(f"() => document.querySelector('{VIDEO}').getAttribute('src')")
        assert await page.evaluate(f"() => document.querySelector('{VIDEO}').getAttribute('src')") == \
            f"{base_url}/test-hls/en/live.m3u8"
        await play(page)
        await playing_past(page, 1.5)
        assert broadcaster.seen(r"^/test-hls/en/live\.m3u8$") and broadcaster.seen(r"^/test-hls/en/seg\d+\.ts$")
        # No library was needed.
        assert await page.evaluate("typeof window.Hls") == "undefined"
        assert not [u for u in scripts if "/static/vendor/" in u]
