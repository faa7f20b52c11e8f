"""In Chromium: the event page as a stage, on a phone (375×812) and a desktop (1280×900).

Phone: the player and the section tabs are on the first screen, the player
stays in view while the page scrolls, and the tabs switch by click and by
arrow keys (mirrored in Hebrew).  Desktop: the video and the current slide
are both wholly on the first screen, side by side; the swap and "slides
large" buttons rearrange them and the choice survives a reload.  The demo
event supplies the content (test_browser_screens serves its player).
"""
import pytest

from app import demo
from events import branding
from tests.browser import check_accessibility, chromium, screenshot
from tests.test_browser_screens import app, live_demo, sign_in  # noqa: F401 (app: the fixture with the test player)
from tests.test_slides import png

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
PLAYER = "#player-dock .player"
SLIDE = "figure.slide img"

RECT = "(sel) => { const r = document.querySelector(sel).getBoundingClientRect(); " \
       "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height}; }"


def inside(rect: dict, viewport: dict) -> bool:
    return (rect["width"] > 0 and rect["height"] > 0 and rect["top"] >= -0.5 and rect["left"] >= -0.5
            and rect["bottom"] <= viewport["height"] + 0.5 and rect["right"] <= viewport["width"] + 0.5)


async def rect(page, selector: str) -> dict:
    return await page.evaluate(RECT, selector)


async def open_event(browser, base_url, services, locale: str, viewport: dict):
    context = await browser.new_context(viewport=viewport, locale=locale)
    page = await sign_in(context, base_url, f"attendee-{locale}", services.settings.demo_password)
    await page.goto(base_url + f"/e/{demo.SPACE_SLUG}/{demo.EVENT_SLUG}")
    await page.wait_for_selector("figure.slide[data-slide-index]", state="attached")
    await page.wait_for_selector(PLAYER + " iframe")
    # The chat panel appears once the live connection has joined its rooms.
    await page.wait_for_selector("#chat:not([hidden]) #chat-tab-pub:not([hidden])", state="attached", timeout=10000)
    return context, page


async def selected(page) -> str:
    return await page.get_attribute(".stage-tab[aria-selected=true]", "data-tab")


@pytest.mark.parametrize("locale", ["ru", "de", "he"])
@pytest.mark.gen_test(timeout=120)
async def test_phone_keeps_the_player_in_view_with_tabs_under_it(locale, services, base_url, http_server):
    event = await live_demo(services, base_url)
    # A description long enough to scroll a phone's page by 1,500 px and more.
    long_text = "\n\n".join(f"{n}. " + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 4 for n in range(1, 25))
    await services.db.events.update_one({"_id": event["_id"]}, {"$set": {f"description.{locale}": long_text}})
    async with chromium() as browser:
        context, page = await open_event(browser, base_url, services, locale, PHONE)
        assert await page.get_attribute("html", "dir") == ("rtl" if locale == "he" else "ltr")
        # The menu folds behind its button.
        assert await page.is_visible(".menu-button")
        assert not await page.is_visible("#topnav")
        await page.click(".menu-button")
        assert await page.get_attribute(".menu-button", "aria-expanded") == "true"
        assert await page.is_visible("#topnav")
        await page.click(".menu-button")
        assert not await page.is_visible("#topnav")

        assert inside(await rect(page, PLAYER), PHONE)
        assert inside(await rect(page, ".stage-tabs"), PHONE)
        # All five tabs fit the phone's width: none hides behind a sideways scroll.
        widths = await page.evaluate("() => { const b = document.querySelector('.stage-tabs'); "
                                     "return [b.scrollWidth, b.clientWidth, [...b.children].map(t => t.offsetWidth)]; }")
        assert widths[0] <= widths[1], widths
        assert await selected(page) == "chat"
        assert await page.is_visible("#chat-pane-pub")
        await screenshot(page, f"stage-{locale}-phone")

        # By click: the slide alone, with its full-screen button.
        await page.click("#stage-tab-slides")
        assert await selected(page) == "slides"
        assert await page.is_visible(SLIDE) and await page.is_visible("#slides .slide-full")
        assert not await page.is_visible("#chat")
        await check_accessibility(page, "slides tab")

        # By arrow keys, mirrored in right-to-left: the next tab is Programme.
        forward, back = ("ArrowLeft", "ArrowRight") if locale == "he" else ("ArrowRight", "ArrowLeft")
        await page.focus("#stage-tab-slides")
        await page.keyboard.press(forward)
        assert await selected(page) == "programme"
        assert await page.evaluate("() => document.activeElement.id") == "stage-tab-programme"
        assert await page.is_visible("#schedule") and not await page.is_visible("#slides")
        await page.keyboard.press(back)
        await page.keyboard.press(back)
        assert await selected(page) == "questions"
        assert await page.is_visible("#chat-pane-questions") and not await page.is_visible("#chat-pane-pub")

        # Scrolled down by 1,500 px (the programme is long enough), the player is still on screen.
        await page.click("#stage-tab-programme")
        await page.evaluate("() => window.scrollBy(0, 1500)")
        await page.wait_for_function("() => window.scrollY > 0")
        await page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        scrolled = await page.evaluate("() => window.scrollY")
        assert scrolled >= 1000, scrolled
        assert inside(await rect(page, PLAYER), PHONE)
        assert inside(await rect(page, ".stage-tabs"), PHONE)
        await context.close()


@pytest.mark.parametrize("locale", ["ru", "de", "he"])
@pytest.mark.gen_test(timeout=120)
async def test_desktop_shows_video_and_slide_side_by_side(locale, services, base_url, http_server):
    event = await live_demo(services, base_url)
    # The space's look: its logo on a band of its accent colour (the page stays axe-clean with it).
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    admin = await services.db.users.find_one({"login": "admin"})
    await branding.save(services.db, admin, space, accent="#0b5d3b", accent_text="#ffffff",
                        logo=(png(colour=(240, 200, 30), size=(120, 60)), "logo.png"), max_bytes=10**6)
    async with chromium() as browser:
        context, page = await open_event(browser, base_url, services, locale, DESKTOP)
        assert not await page.is_visible(".menu-button") and await page.is_visible("#topnav")
        assert not await page.is_visible(".stage-tabs")
        assert await page.evaluate("() => getComputedStyle(document.querySelector('.event-brand')).backgroundColor") \
            == "rgb(11, 93, 59)"
        assert await page.is_visible(".event-brand img.space-logo")
        video, slide = await rect(page, PLAYER), await rect(page, SLIDE)
        assert inside(video, DESKTOP) and inside(slide, DESKTOP), (video, slide)
        # Side by side (video first in reading order), and the chat panel fills the height beside them.
        assert abs(video["top"] - slide["top"]) < 2
        first = (lambda a, b: a["left"] < b["left"]) if locale != "he" else (lambda a, b: a["left"] > b["left"])
        assert first(video, slide)
        chat = await rect(page, "#chat")
        assert chat["height"] >= DESKTOP["height"] * 0.75 and inside(chat, DESKTOP), chat
        await screenshot(page, f"stage-{locale}-desktop")

        await page.click("#stage-swap")
        assert await page.get_attribute("#stage-swap", "aria-pressed") == "true"
        video, slide = await rect(page, PLAYER), await rect(page, SLIDE)
        assert first(slide, video) and inside(video, DESKTOP) and inside(slide, DESKTOP), (video, slide)

        await page.click("#stage-large")
        video, slide = await rect(page, PLAYER), await rect(page, SLIDE)
        assert slide["width"] > 1.5 * video["width"], (video, slide)
        assert inside(video, DESKTOP) and inside(slide, DESKTOP), (video, slide)
        await check_accessibility(page, "swapped, slides large")

        # Remembered: the next visit shows the same layout.
        await page.reload()
        await page.wait_for_selector(PLAYER + " iframe")
        assert await page.get_attribute("#stage", "class") == "stage swapped large"
        video, slide = await rect(page, PLAYER), await rect(page, SLIDE)
        assert first(slide, video) and slide["width"] > 1.5 * video["width"]

        # Full screen and back (the overlay where the browser refuses the Fullscreen API).
        await page.click("#slides .slide-full")
        await page.wait_for_function("() => document.fullscreenElement || document.querySelector('#slides.overlay')")
        assert await page.get_attribute("#slides .slide-full", "aria-pressed") == "true"
        await page.click("#slides .slide-full")
        await page.wait_for_function("() => !document.fullscreenElement && !document.querySelector('#slides.overlay')")
        await context.close()



@pytest.mark.gen_test(timeout=120)
async def test_the_chat_shows_a_skeleton_until_its_history_arrives(services, base_url, http_server):
    """Between the connection and the room's history the chat says neither "no messages" nor nothing."""
    await live_demo(services, base_url)
    held: list = []          # (page side, frame) of the history frames held back
    release = {"now": False}

    def route(ws):
        server = ws.connect_to_server()
        ws.on_message(lambda message: server.send(message))

        def from_server(message):
            if not release["now"] and isinstance(message, str) and '"history"' in message:
                held.append((ws, message))
            else:
                ws.send(message)
        server.on_message(from_server)

    async with chromium() as browser:
        context = await browser.new_context(viewport=DESKTOP, locale="de")
        page = await sign_in(context, base_url, "attendee-de", services.settings.demo_password)
        await page.route_web_socket("**/ws*", route)
        await page.goto(base_url + f"/e/{demo.SPACE_SLUG}/{demo.EVENT_SLUG}")
        pub = "#chat:not([hidden]) #chat-pane-pub"
        await page.wait_for_selector(pub + " .chat-skeleton", state="visible", timeout=10000)
        for _ in range(100):
            if held:
                break
            await page.wait_for_timeout(100)
        assert held, "no history frame was held back"
        await page.wait_for_timeout(300)   # what the page would do with everything but the history, it has done
        assert not await page.is_visible(pub + " .chat-empty")
        assert await page.get_attribute("#chat-pane-pub .chat-list", "aria-busy") == "true"
        await check_accessibility(page, "chat loading")
        release["now"] = True
        for ws, message in held:
            ws.send(message)
        await page.wait_for_selector(pub + " .chat-skeleton", state="hidden", timeout=10000)
        await page.wait_for_selector(pub + " .chat-empty", state="visible", timeout=10000)
        assert await page.get_attribute("#chat-pane-pub .chat-list", "aria-busy") is None
        await context.close()
