"""In Chromium: a reaction clicked on one attendee's page rises on another attendee's page."""
import pytest

from access import roles as R
from events import view
from tests.browser import chromium, screenshot, signed_in_page
from tests.test_realtime import seeded

# Records each emoji as it starts to float (it removes itself when its animation ends).
WATCH = """() => {
  window.__floated = [];
  new MutationObserver(function (changes) {
    changes.forEach(function (c) {
      c.addedNodes.forEach(function (n) {
        if (n.classList && n.classList.contains("reaction-floating")) {
          window.__floated.push({name: n.getAttribute("data-reaction"), text: n.textContent,
                                 animation: getComputedStyle(n).animationName});
        }
      });
    });
  }).observe(document.querySelector(".reactions-float"), {childList: true});
}"""


async def floated(page) -> dict:
    await page.wait_for_function("() => window.__floated.length > 0", timeout=5000)
    return (await page.evaluate("() => window.__floated"))[0]


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
        await two.evaluate(WATCH)
        await clap.focus()
        await one.keyboard.press("Enter")
        # The person rests a second: the buttons say so and stay focusable.
        assert await clap.get_attribute("aria-disabled") == "true"
        assert await one.evaluate("() => document.activeElement.getAttribute('data-reaction')") == "clap"
        assert await floated(two) == {"name": "clap", "text": "\N{CLAPPING HANDS SIGN}", "animation": "reaction-rise"}
        await screenshot(two, "event-reactions-he-phone")
        # The control page keeps the running total current.
        await staff.wait_for_function("() => document.querySelector(\"[data-reaction-total='clap']\").textContent"
                                      " === '1'", timeout=5000)
        # Staff turn reactions off there: the buttons go away on every page.
        await staff.click("#reactions-off")
        await staff.click("#control-confirm-ok")
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
        await two.evaluate(WATCH)
        await one.click("#reactions button[data-reaction='party']")
        assert (await floated(two))["animation"] == "reaction-fade"
