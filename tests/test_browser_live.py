"""In Chromium: attendees see the slide of their own language change without reloading."""
import pytest

from access import roles as R
from events import control, view
from tests.browser import chromium, screenshot, signed_in_page
from tests.test_realtime import seeded


@pytest.mark.gen_test(timeout=90)
async def test_slide_flip_reaches_ru_and_de_pages_without_reload(factory, base_url, services, http_server):
    event = await seeded(factory)
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    people = {loc: await factory.member(R.ATTENDEE, event=event, locale=loc) for loc in ("ru", "de")}
    async with chromium() as browser:
        pages = {}
        for loc, user in people.items():
            page = await signed_in_page(browser, base_url, user["login"], factory.PASSWORD)
            await page.goto(base_url + view.path(space, event))
            await page.wait_for_selector("figure.slide[data-slide-index='1']")
            # A marker that a reload would wipe out.
            await page.evaluate("window.__noReload = true")
            pages[loc] = page
        # Give both pages' sockets a moment to connect before the flip.
        for page in pages.values():
            await page.wait_for_function(
                "() => performance.getEntriesByType('resource').some(e => e.name.includes('/static/js/event.js'))")
        await control.apply(services.db, services.notifier, event["_id"], admin, "slide_next")
        for loc, page in pages.items():
            fig = await page.wait_for_selector("figure.slide[data-slide-index='2']", timeout=10000)
            assert await fig.get_attribute("data-locale") == loc
            src = await page.get_attribute("figure.slide img", "src")
            assert src == f"/media/{loc}1".ljust(len('/media/') + 64, "0")
            alt = await page.get_attribute("figure.slide img", "alt")
            assert alt == services.i18n.gettext(loc)("Slide %(n)s of %(total)s") % {"n": 2, "total": 3}
            assert await page.evaluate("window.__noReload") is True
            await screenshot(page, f"event-live-{loc}-desktop")
