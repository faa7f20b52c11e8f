"""In Chromium: the live control page (admin/control.html) stays live without reloads.

Two admins (one reading English, one Hebrew) have the page open: slide flips
from a button and from the keyboard show on both for every language; the
viewer counts follow Russian and German attendees coming and going; the
broadcast switched off on one page shows on the other and on the attendees'
event pages.
"""
import asyncio
import io

import pytest
from PIL import Image, ImageDraw, ImageFont

from access import roles as R
from events import control, view
from media import image_store
from tests.browser import check_accessibility, chromium, screenshot, signed_in_page

COLOURS = {"ru": (31, 95, 191), "en": (27, 122, 61), "de": (138, 90, 0)}


def slide_png(locale: str, n: int) -> bytes:
    img = Image.new("RGB", (640, 360), COLOURS[locale])
    draw = ImageDraw.Draw(img)
    draw.text((40, 120), f"{locale.upper()} {n}", fill=(255, 255, 255), font=ImageFont.load_default(size=96))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def event_with_slides(factory, db):
    """Three languages; German has two slides, so it holds its last one at slide 3."""
    event = await factory.event(locales=("ru", "en", "de"))
    decks = {}
    for locale, count in (("ru", 3), ("en", 3), ("de", 2)):
        decks[locale] = []
        for n in range(1, count + 1):
            stored = await image_store.store_image(db, slide_png(locale, n), f"{locale}{n}.png", 10 ** 6)
            decks[locale].append({"media_id": stored["_id"], "name": f"{locale}{n}.png"})
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"slides.decks": decks, "broadcast.on": True}})
    return await db.events.find_one({"_id": event["_id"]})


def control_path(event) -> str:
    return f"/admin/events/{event['_id']}/control"


async def wait_counts(page, want: dict) -> None:
    await page.wait_for_function("""(want) => {
        const total = document.querySelector('[data-presence-total]').textContent.trim();
        if (total !== want.total) return false;
        return Object.keys(want).filter(k => k !== 'total').every(
            loc => document.querySelector(`td[data-presence-locale="${loc}"]`).textContent.trim() === want[loc]);
    }""", arg=want, timeout=15000)


@pytest.mark.gen_test(timeout=150)
async def test_two_admins_flip_slides_see_viewers_and_switch_the_broadcast_live(
        factory, db, services, base_url, http_server):
    event = await event_with_slides(factory, db)
    space = await db.spaces.find_one({"_id": event["space_id"]})
    first = await factory.member(R.EVENT_ADMIN, event=event, locale="en", name="Alex Admin")
    second = await factory.member(R.EVENT_MANAGER, event=event, locale="he", name="Dana Manager")
    people = {loc: await factory.member(R.ATTENDEE, event=event, locale=loc) for loc in ("ru", "de")}
    he = services.i18n.gettext("he")
    en = services.i18n.gettext("en")

    async with chromium() as browser:
        a = await signed_in_page(browser, base_url, first["login"], factory.PASSWORD)
        b = await signed_in_page(browser, base_url, second["login"], factory.PASSWORD)
        for page in (a, b):
            await page.goto(base_url + control_path(event))
            # A marker that a reload would wipe out.
            await page.evaluate("window.__noReload = true")
        for page in (a, b):
            await wait_counts(page, {"total": "0", "ru": "0", "en": "0", "de": "0"})
        assert await b.get_attribute("html", "dir") == "rtl"
        # The shortcuts are explained on the page, the arrows in the reading direction.
        assert await a.is_visible("#control-keys")
        assert "→" in await a.text_content("#control-keys dt:nth-of-type(1)")
        assert "←" in await b.text_content("#control-keys dt:nth-of-type(1)")

        # A button on one page: both pages show slide 2 in every language.
        await a.click("#slide-next")
        for page in (a, b):
            await page.wait_for_selector('.control-slides li[data-locale="ru"][data-slide-number="2"]')
            await page.wait_for_selector('.control-slides li[data-locale="de"][data-slide-number="2"]')
            await page.wait_for_selector('.control-slides li[data-locale="en"][data-slide-number="2"]')
        assert await a.text_content("#slide-position") == en("Slide %(number)s of %(count)s") % {
            "number": 2, "count": 3}
        assert await b.text_content("#slide-position") == he("Slide %(number)s of %(count)s") % {
            "number": 2, "count": 3}
        assert await a.text_content("#control-messages") == en("Slide %(number)s of %(count)s is shown.") % {
            "number": 2, "count": 3}

        # The keyboard on the Hebrew page: ← is "next" in a right-to-left language.
        await b.click("h1")
        await b.keyboard.press("ArrowLeft")
        for page in (a, b):
            await page.wait_for_selector('.control-slides li[data-locale="ru"][data-slide-number="3"]')
            # German has two slides: it holds its last one.
            await page.wait_for_selector('.control-slides li[data-locale="de"][data-slide-number="2"]')
        src = await a.get_attribute('.control-slides li[data-locale="en"] img', "src")
        assert src == "/media/" + event["slides"]["decks"]["en"][2]["media_id"]
        await b.wait_for_function("() => !document.querySelector('#control.is-busy')")
        await b.keyboard.press("Home")
        await a.wait_for_selector('.control-slides li[data-locale="ru"][data-slide-number="1"]')
        await b.wait_for_function("() => !document.querySelector('#control.is-busy')")
        await b.keyboard.press("PageDown")
        await a.wait_for_selector('.control-slides li[data-locale="ru"][data-slide-number="2"]')
        assert (await db.events.find_one({"_id": event["_id"]}))["slides"]["index"] == 1
        # "g" jumps to the go-to field; keys typed there are not shortcuts.
        await b.wait_for_function("() => !document.querySelector('#control.is-busy')")
        await b.keyboard.press("g")
        assert await b.evaluate("document.activeElement.id") == "goto-number"
        await b.keyboard.type("3")
        await b.keyboard.press("ArrowLeft")
        await b.keyboard.press("Enter")
        await a.wait_for_selector('.control-slides li[data-locale="ru"][data-slide-number="3"]')
        assert (await db.events.find_one({"_id": event["_id"]}))["slides"]["index"] == 2
        # Attendees in Russian and German open the event page: the counts go up by language.
        watchers = {}
        for loc, user in people.items():
            page = await signed_in_page(browser, base_url, user["login"], factory.PASSWORD, width=390)
            await page.goto(base_url + view.path(space, event))
            # Attached: on a phone the slide waits in its own tab under the player.
            await page.wait_for_selector("figure.slide", state="attached")
            watchers[loc] = page
        for page in (a, b):
            await wait_counts(page, {"total": "2", "ru": "1", "de": "1", "en": "0"})
        # The counts are shown once: the total in the strip, each language in its table.
        assert await a.locator("[data-presence-total]").count() == 1
        assert await a.locator('[data-presence-locale="de"]').count() == 1
        await screenshot(a, "control-desktop")
        await screenshot(b, "control-he-desktop")
        await a.set_viewport_size({"width": 375, "height": 800})
        await screenshot(a, "control-phone")
        await a.set_viewport_size({"width": 1280, "height": 900})

        # The broadcast off from the Hebrew page: the other admin and the attendees see it.
        await b.click("#broadcast-off")
        await b.wait_for_selector("#control-confirm[open]")
        assert await b.text_content("#control-confirm-text") == he(
            "Every attendee sees a pause notice instead of the player.")
        await b.click("#control-confirm-ok")
        await a.wait_for_selector('#broadcast .badge.off:not([hidden])')
        assert await a.is_hidden("#broadcast-off") and await a.is_visible("#broadcast-on")
        # Keyboard focus moved to the button that took the pressed one's place.
        await b.wait_for_function("() => document.activeElement && document.activeElement.id === 'broadcast-on'")
        for loc, page in watchers.items():
            paused = services.i18n.gettext(loc)("The broadcast is paused.")
            await page.wait_for_function("(text) => [...document.querySelectorAll('.player .placeholder')]"
                                         ".some(p => p.textContent === text)", arg=paused, timeout=10000)
        assert (await db.events.find_one({"_id": event["_id"]}))["broadcast"]["on"] is False
        # A refusal is shown, translated, in the alert region; nothing changes.
        await a.fill("#goto-number", "3")
        await a.evaluate("document.getElementById('goto-number').max = '99'")
        await a.fill("#goto-number", "42")
        await a.click("#slide-goto-form button[type=submit]")
        await a.wait_for_selector("#control-errors .error-message")
        assert await a.text_content("#control-errors") == en("There is no slide with that number.")
        await check_accessibility(a, "an error shown")
        assert (await db.events.find_one({"_id": event["_id"]}))["slides"]["index"] == 2

        # The gate and a day, from the English page, show on the Hebrew one.
        await a.click("#gate-closed")
        await a.click("#control-confirm-ok")
        await b.wait_for_selector('#gate-closed[aria-pressed="true"]')
        assert await b.get_attribute("#gate-open", "aria-pressed") == "false"
        await a.click('[data-day="d2"] form:not([hidden]) button')
        await a.click("#control-confirm-ok")
        await b.wait_for_selector('[data-day="d2"] .badge.on:not([hidden])')
        await check_accessibility(b, "gate closed and a second day open, in Hebrew")

        # The socket drops; a change made meanwhile shows once it is back, without a reload.
        await a.evaluate("window.Livehall.controlClient.ws.close()")
        await control.apply(services.db, services.notifier, event["_id"], first, "slide_prev")
        await a.wait_for_selector('.control-slides li[data-locale="ru"][data-slide-number="2"]', timeout=15000)
        await a.wait_for_selector("#control-connection", state="hidden")

        # One request at a time: while it runs the buttons say they are disabled,
        # and a key pressed meanwhile sends nothing more.
        posts = []

        async def slowly(route):
            posts.append(route.request.url)
            await asyncio.sleep(1.0)
            await route.continue_()
        await a.route("**/control/slide_next", slowly)
        await a.click("#slide-next")
        await a.wait_for_selector('#slide-next[aria-disabled="true"]')
        assert await a.get_attribute("#broadcast-on", "aria-disabled") == "true"
        await a.keyboard.press("ArrowRight")
        await a.wait_for_selector('.control-slides li[data-locale="ru"][data-slide-number="3"]')
        await a.wait_for_selector("#slide-next:not([aria-disabled])")
        assert len(posts) == 1
        await a.unroute("**/control/slide_next", slowly)

        # They leave: the counts go down.
        await watchers["de"].context.close()
        for page in (a, b):
            await wait_counts(page, {"total": "1", "ru": "1", "de": "0", "en": "0"})
        await watchers["ru"].context.close()
        await wait_counts(a, {"total": "0", "ru": "0", "de": "0", "en": "0"})

        for page in (a, b):
            assert await page.evaluate("window.__noReload") is True
        assert await a.is_hidden("#days-changed")
