"""The catalogue to an event's public page in Chromium, on a phone, in Hebrew (right to left),
by keyboard: search, open the event, see its dates on the reader's clock, reach Register."""
import pytest

from tests.browser import chromium
from tests.test_browser_screens import CHECKS
from tests.test_catalogue import make_event


@pytest.mark.gen_test(timeout=120)
async def test_catalogue_to_the_public_page_on_a_phone_in_hebrew(services, factory, db, base_url, http_server):
    space = await factory.space("public")
    event = await make_event(factory, db, space, tags=["ai", "data"], locales=("he", "en"), open_registration=True,
                             title={"he": "יום בינה מלאכותית", "en": "AI day"})
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"description": {"he": "תיאור האירוע " * 30}}})
    await make_event(factory, db, space, tags=["web"], locales=("en",), title={"en": "Web evening"})
    problems: list[str] = []
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 375, "height": 800}, locale="he",
                                            timezone_id="America/New_York")
        page = await context.new_page()
        await page.goto(base_url + "/s/public", wait_until="networkidle")
        assert await page.evaluate("() => [document.documentElement.lang, document.documentElement.dir]") == \
            ["he", "rtl"]
        problems += ["catalogue: " + p for p in await page.evaluate(CHECKS)]
        assert await page.locator(".event-entry").count() == 2

        # Search by keyboard: the field, typed text, Enter.
        await page.focus("#catalogue-q")
        await page.keyboard.type("בינה")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/s/public?*q=*")
        await page.wait_for_function("() => document.querySelectorAll('.event-entry').length === 1")
        link = page.locator(".event-entry h3 a")
        await link.focus()
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"**/e/public/{event['slug']}/about")
        await page.wait_for_load_state("networkidle")
        problems += ["about: " + p for p in await page.evaluate(CHECKS)]
        assert await page.locator("h1").inner_text() == "יום בינה מלאכותית"
        # The reader's clock beside the event's (Riga): filled in by localtime.js.
        local = page.locator("[data-local-time]").first
        assert await local.is_visible()
        assert "America/New_York" in await local.inner_text()
        register = page.locator(f"a[href='/e/public/{event['slug']}/register']")
        assert await register.is_visible()
        og = await page.locator("meta[property='og:title']").get_attribute("content")
        assert og == "יום בינה מלאכותית"
        await context.close()
    assert problems == []
