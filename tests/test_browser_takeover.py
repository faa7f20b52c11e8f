"""In Chromium: a second device takes over the first, which says why it stopped."""
import pytest

from access import roles as R
from events import view
from tests.browser import chromium, screenshot, signed_in_page
from tests.test_realtime import seeded


@pytest.mark.gen_test(timeout=90)
async def test_second_device_takes_over_the_first(factory, base_url, services, http_server):
    event = await seeded(factory)
    await services.db.events.update_one({"_id": event["_id"]}, {"$set": {"broadcast": {"on": True, "sources": {
        "de": {"kind": "youtube", "url": "u", "embed": "about:blank"}}}}})
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    user = await factory.member(R.ATTENDEE, event=event, locale="de")
    path = base_url + view.path(space, event)
    async with chromium() as browser:
        laptop = await signed_in_page(browser, base_url, user["login"], factory.PASSWORD)
        await laptop.goto(path)
        await laptop.wait_for_selector("iframe", state="attached")
        await laptop.wait_for_selector("#chat-panel textarea:not([disabled]), textarea:not([disabled])")
        phone = await signed_in_page(browser, base_url, user["login"], factory.PASSWORD, width=375)
        await phone.goto(path)
        status = await laptop.wait_for_selector("#live-status.stopped", timeout=10000)
        expected = services.i18n.gettext("de")(
            "This account is now watching on another device, so the broadcast stopped here. "
            "Reload the page to watch here again.")
        assert (await status.inner_text()).strip() == expected
        # The laptop's player stopped; the phone carries on and its chat is usable.
        assert await laptop.locator("#player iframe, #player video, #player-dock iframe").count() == 0
        await phone.wait_for_selector("textarea:not([disabled])")
        assert await laptop.locator("textarea:not([disabled])").count() == 0
        await screenshot(laptop, "event-takeover-de-desktop")
