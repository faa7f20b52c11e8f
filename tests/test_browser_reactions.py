"""In Chromium: a reaction clicked on one attendee's page rises on another attendee's page."""
import pytest

from access import roles as R
from events import view
from tests.browser import chromium, screenshot, signed_in_page
from tests.test_realtime import seeded


@pytest.mark.gen_test(timeout=90)
async def test_a_click_on_one_page_shows_the_reaction_on_another(factory, base_url, services, http_server):
    event = await seeded(factory)
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    sender = await factory.member(R.ATTENDEE, event=event, locale="de")
    watcher = await factory.member(R.ATTENDEE, event=event, locale="he")
    async with chromium() as browser:
        one = await signed_in_page(browser, base_url, sender["login"], factory.PASSWORD)
        two = await signed_in_page(browser, base_url, watcher["login"], factory.PASSWORD, width=375)
        staff = await signed_in_page(browser, base_url, admin["login"], factory.PASSWORD)
        await staff.goto(f"{base_url}/admin/events/{event['_id']}/control")
        await staff.wait_for_function("() => window.Livehall && Livehall.controlClient && Livehall.controlClient.ws"
                                      " && Livehall.controlClient.ws.readyState === 1")
        assert await staff.text_content("[data-reaction-total='clap']") == "0"
        for page in (one, two):
            await page.goto(base_url + view.path(space, event))
            await page.wait_for_function("() => window.Livehall && Livehall.client && Livehall.client.ws"
                                         " && Livehall.client.ws.readyState === 1")
        # Translated names, reachable by keyboard.
        clap = one.locator("#reactions button[data-reaction='clap']")
        assert await clap.get_attribute("aria-label") == services.i18n.gettext("de")("Applause")
        assert await two.get_attribute("#reactions button[data-reaction='clap']", "aria-label") == \
            services.i18n.gettext("he")("Applause")
        await clap.focus()
        await one.keyboard.press("Enter")
        floating = await two.wait_for_selector(".reactions-float .reaction-floating[data-reaction='clap']",
                                               timeout=5000)
        assert await floating.text_content() == "\N{CLAPPING HANDS SIGN}"
        assert await two.evaluate(
            "() => getComputedStyle(document.querySelector('.reaction-floating')).animationName") == "reaction-rise"
        await screenshot(two, "event-reactions-he-phone")
        # The person rests a second: the buttons say so and stay focusable.
        assert await clap.get_attribute("aria-disabled") == "true"
        # The control page keeps the running total current.
        await staff.wait_for_function("() => document.querySelector(\"[data-reaction-total='clap']\").textContent"
                                      " === '1'", timeout=5000)
        # Staff turn reactions off there: the buttons go away on every page.
        await staff.click("#reactions-off")
        await staff.wait_for_selector("#reactions-on", state="visible", timeout=5000)
        await two.wait_for_selector("#reactions", state="hidden", timeout=5000)
        await one.wait_for_selector("#reactions", state="hidden", timeout=5000)
        await screenshot(staff, "control-reactions-en-desktop")
        assert (await services.db.events.find_one({"_id": event["_id"]}))["reactions_off"] is True


@pytest.mark.gen_test(timeout=90)
async def test_reduced_motion_fades_the_reaction_in_place(factory, base_url, services, http_server):
    event = await seeded(factory)
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    sender = await factory.member(R.ATTENDEE, event=event, locale="ru")
    watcher = await factory.member(R.ATTENDEE, event=event, locale="ru")
    async with chromium() as browser:
        one = await signed_in_page(browser, base_url, sender["login"], factory.PASSWORD)
        two = await signed_in_page(browser, base_url, watcher["login"], factory.PASSWORD)
        await two.emulate_media(reduced_motion="reduce")
        for page in (one, two):
            await page.goto(base_url + view.path(space, event))
            await page.wait_for_function("() => window.Livehall && Livehall.client && Livehall.client.ws"
                                         " && Livehall.client.ws.readyState === 1")
        await one.click("#reactions button[data-reaction='party']")
        await two.wait_for_selector(".reaction-floating[data-reaction='party']", timeout=5000)
        assert await two.evaluate(
            "() => getComputedStyle(document.querySelector('.reaction-floating')).animationName") == "reaction-fade"
