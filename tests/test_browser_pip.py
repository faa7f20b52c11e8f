"""In Chromium: the broadcast keeps playing, never reloaded, while the attendee browses other pages.

The event's broadcast embed points at a small page served by this test's own
server, so the test can look inside the player's frame: a marker set in the
frame and on the iframe element must survive going to the profile and to
"My events" and back, with no new `load` of the iframe and one WebSocket only.
"""
import pytest
import tornado.web

import server
from access import roles as R
from events import view
from tests.browser import chromium, screenshot, signed_in_page
from tests.test_realtime import seeded

PLAYER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Test broadcast</title>
<style>body{margin:0;height:100vh;display:grid;place-items:center;background:#123;color:#fff;font:600 1.4rem system-ui}</style>
</head><body><div>Test broadcast <span id="t">0</span> s</div>
<script>
window.startedAt = Date.now();
setInterval(function () { document.getElementById("t").textContent = Math.floor((Date.now() - startedAt) / 1000); }, 250);
</script></body></html>"""

# Counts iframe loads in the top window, which a swap of the page keeps.
COUNT_LOADS = """
window.__iframeLoads = 0;
document.addEventListener("load", function (e) {
  if (e.target && e.target.tagName === "IFRAME") window.__iframeLoads++;
}, true);
"""

PLAYER = "#player-dock .player iframe"


class PlayerPage(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(PLAYER_PAGE)


@pytest.fixture
def app(services):
    application = server.make_app(services)
    application.add_handlers(r".*", [(r"/test-player", PlayerPage)])
    return application


async def watching(factory, services, base_url):
    event = await seeded(factory)
    sources = {loc: {"kind": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ", "embed": base_url + "/test-player"}
               for loc in event["locales"]}
    await services.db.events.update_one({"_id": event["_id"]},
                                        {"$set": {"broadcast.on": True, "broadcast.sources": sources}})
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    user = await factory.member(R.ATTENDEE, event=event, locale="en")
    return event, view.path(space, event), user


async def open_event(browser, base_url, path, user, password, width):
    page = await signed_in_page(browser, base_url, user["login"], password, width=width)
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await page.add_init_script(COUNT_LOADS)
    await page.goto(base_url + path)
    await page.wait_for_function(
        f"() => {{ const f = document.querySelector('{PLAYER}');"
        " return f && f.contentWindow && f.contentWindow.startedAt; }")
    await page.wait_for_function("() => window.Livehall && window.Livehall.client")
    return page, sockets


async def player_facts(page):
    return await page.evaluate(f"""() => {{
      const f = document.querySelector('{PLAYER}');
      const dock = document.getElementById('player-dock');
      return {{
        marker: f ? f.__marker || null : null,
        startedAt: f && f.contentWindow ? f.contentWindow.startedAt || null : null,
        loads: window.__iframeLoads,
        docked: dock.classList.contains('docked'),
        anchored: dock.classList.contains('anchored'),
        hidden: dock.hidden,
        iframes: document.querySelectorAll('iframe').length,
        noReload: window.__noReload === true,
      }};
    }}""")


@pytest.mark.gen_test(timeout=120)
async def test_player_survives_navigation_and_comes_back(factory, base_url, services, http_server):
    event, path, user = await watching(factory, services, base_url)
    async with chromium() as browser:
        page, sockets = await open_event(browser, base_url, path, user, factory.PASSWORD, 1280)
        # Chat joined, with a message that must be there again on return.
        await page.wait_for_selector("#chat-text-pub:not([disabled])")
        await page.fill("#chat-text-pub", "Hello from before the walk")
        await page.press("#chat-text-pub", "Enter")
        await page.wait_for_selector("#chat-pane-pub .chat-msg:has-text('Hello from before the walk')")
        await page.evaluate(f"() => {{ window.__noReload = true; document.querySelector('{PLAYER}').__marker = 'same'; }}")
        start = await player_facts(page)
        assert start["anchored"] and not start["docked"] and start["marker"] == "same"
        assert start["loads"] >= 1
        # Laid over the place the player had in the page.
        slot, dock = await page.evaluate("""() => [document.querySelector('#player .player-slot').getBoundingClientRect().toJSON(),
                                                    document.getElementById('player-dock').getBoundingClientRect().toJSON()]""")
        assert abs(slot["x"] - dock["x"]) < 2 and abs(slot["y"] - dock["y"]) < 2 and abs(slot["width"] - dock["width"]) < 2
        await screenshot(page, "pip-event-desktop")

        await page.click(".topnav a[href='/profile']")
        await page.wait_for_url(base_url + "/profile")
        await page.wait_for_selector("main h1")
        facts = await player_facts(page)
        assert facts == {**start, "docked": True, "anchored": False}
        assert await page.title() == services.i18n.gettext("en")("Profile") + " · Livehall"
        assert await page.is_visible("#player-dock .player-dock-back")
        assert await page.get_attribute("#player-dock .player-dock-back", "href") == path
        await screenshot(page, "pip-docked-profile-desktop")

        await page.click(".topnav a[href='/']")
        await page.wait_for_url(base_url + "/")
        await page.wait_for_selector(f"main a[href='{path}']")
        facts = await player_facts(page)
        assert facts == {**start, "docked": True, "anchored": False}
        # The frame went on playing: its clock is still the first one, and ticking.
        assert await page.evaluate(f"() => document.querySelector('{PLAYER}').contentWindow.startedAt") == start["startedAt"]
        await page.wait_for_function(
            f"() => Number(document.querySelector('{PLAYER}').contentDocument.getElementById('t').textContent) >= 2")

        # Back, back: the event page again, the same player in its place.
        await page.go_back()
        await page.wait_for_url(base_url + "/profile")
        await page.go_back()
        await page.wait_for_url(base_url + path)
        await page.wait_for_selector("#player .player-slot")
        facts = await player_facts(page)
        assert facts == start
        assert await page.locator("#player .player").count() == 0
        await page.wait_for_function("""() => {
          const s = document.querySelector('#player .player-slot').getBoundingClientRect();
          const d = document.getElementById('player-dock').getBoundingClientRect();
          return Math.abs(s.x - d.x) < 2 && Math.abs(s.y - d.y) < 2 && Math.abs(s.width - d.width) < 2;
        }""")
        # The page's scripts came back to life on the one running connection.
        await page.wait_for_selector("#chat-pane-pub .chat-msg:has-text('Hello from before the walk')")
        await page.wait_for_selector("#chat-text-pub:not([disabled])")
        assert len(sockets) == 1

        # "Back to the event" from the dock does the same as going back.
        await page.click(".topnav a[href='/profile']")
        await page.wait_for_url(base_url + "/profile")
        await page.click("#player-dock .player-dock-back")
        await page.wait_for_url(base_url + path)
        await page.wait_for_selector("#player .player-slot")
        assert await player_facts(page) == start
        assert len(sockets) == 1


@pytest.mark.gen_test(timeout=120)
async def test_docked_player_on_a_phone_closes_and_navigation_is_normal_again(factory, base_url, services, http_server):
    event, path, user = await watching(factory, services, base_url)
    async with chromium() as browser:
        page, sockets = await open_event(browser, base_url, path, user, factory.PASSWORD, 375)
        await page.evaluate("() => { window.__noReload = true; }")
        await screenshot(page, "pip-event-phone")
        await page.click(".menu-button")      # on a phone the navigation opens from its button
        await page.click(".topnav a[href='/profile']")
        await page.wait_for_url(base_url + "/profile")
        facts = await player_facts(page)
        assert facts["docked"] and facts["noReload"] and facts["loads"] == 1
        # Fits the phone's screen.
        box = await page.evaluate("() => document.getElementById('player-dock').getBoundingClientRect().toJSON()")
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375
        await screenshot(page, "pip-docked-profile-phone")
        # Keyboard: the dock's controls are reachable and labelled.
        assert await page.get_attribute("#player-dock", "aria-label")
        await page.focus("#player-dock .player-dock-close")
        await page.keyboard.press("Enter")
        facts = await player_facts(page)
        assert facts["hidden"] and facts["iframes"] == 0
        # With nothing playing, links load pages again.
        await page.click(".menu-button")
        await page.click(".topnav a[href='/']")
        await page.wait_for_url(base_url + "/")
        await page.wait_for_load_state()
        assert await page.evaluate("() => window.__noReload === undefined")


@pytest.mark.gen_test(timeout=120)
async def test_pop_out_button_follows_the_document_pip_api(factory, base_url, services, http_server):
    event, path, user = await watching(factory, services, base_url)
    async with chromium() as browser:
        page, _ = await open_event(browser, base_url, path, user, factory.PASSWORD, 1280)
        has_api = await page.evaluate("() => 'documentPictureInPicture' in window")
        button = page.locator("#player-dock .player-dock-pop")
        assert await button.is_visible() == has_api
        if not has_api:
            return
        assert (await button.inner_text()).strip() == "Pop out the player"
        await button.click()
        await page.wait_for_function("() => documentPictureInPicture.window && "
                                     "documentPictureInPicture.window.document.querySelector('.player iframe')")
        assert await page.locator("#player-dock iframe").count() == 0
        assert await page.is_visible("#player-dock .player-dock-away")
        assert (await button.inner_text()).strip() == "Bring the player back"
        # Browsing on keeps the window and its player.
        await page.click(".topnav a[href='/profile']")
        await page.wait_for_url(base_url + "/profile")
        assert await page.evaluate("() => !!documentPictureInPicture.window.document.querySelector('.player iframe')")
        await screenshot(page, "pip-popped-profile-desktop")
        # Closing the window brings the player back into the dock.
        await page.evaluate("() => documentPictureInPicture.window.close()")
        await page.wait_for_selector(PLAYER)
        assert await page.evaluate("() => document.getElementById('player-dock').classList.contains('docked')")
        assert not await page.is_visible("#player-dock .player-dock-away")
        assert (await button.inner_text()).strip() == "Pop out the player"
