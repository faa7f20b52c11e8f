"""In Chromium: waiting attendees are let in when the gate opens; the event page follows
the day, the broadcast, the LIVE banner's viewer count and the viewer's own name change.

Nothing here reloads a page by itself: the countdown page goes to the event
page on its own, and the event page takes the rest live.
"""
import asyncio
import datetime

import pytest

from access import roles as R
from events import control, view
from tests.browser import chromium, screenshot, signed_in_page
from tests.test_questions import with_schedule
from tests.test_realtime import seeded

UTC = datetime.UTC


async def waiting_for_state(page) -> None:
    """The countdown page's socket is open and has its first (waiting) state."""
    await page.wait_for_function(
        "() => window.Livehall && Livehall.gateClient && Livehall.gateClient.stateVersion >= 0", timeout=10000)


@pytest.mark.gen_test(timeout=120)
async def test_two_waiting_attendees_are_let_in_when_the_admin_opens_the_gate(
        factory, base_url, services, http_server):
    event = await seeded(factory)
    start = datetime.datetime.now(UTC) + datetime.timedelta(days=1)
    await services.db.events.update_one({"_id": event["_id"]}, {"$set": {
        "gate.mode": "auto", "gate.official_start": start, "broadcast.on": True}})
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="en")
    people = {loc: await factory.member(R.ATTENDEE, event=event, locale=loc) for loc in ("ru", "he")}
    path = view.path(space, event)
    async with chromium() as browser:
        pages = {}
        for loc, user in people.items():
            page = await signed_in_page(browser, base_url, user["login"], factory.PASSWORD)
            await page.goto(base_url + path)
            assert await page.locator("#gate").count() == 1 and await page.locator("#event").count() == 0
            await waiting_for_state(page)
            pages[loc] = page
        await screenshot(pages["he"], "gate-waiting-he-desktop")
        control_page = await signed_in_page(browser, base_url, admin["login"], factory.PASSWORD)
        await control_page.goto(base_url + f"/admin/events/{event['_id']}/control")
        await control_page.wait_for_function(
            "() => window.Livehall && Livehall.controlClient && Livehall.controlClient.stateVersion >= 0")

        await control_page.click("#gate-open")
        # Opening the gate affects everyone: the page asks first.
        await control_page.click("#control-confirm-ok")
        clicked = asyncio.get_running_loop().time()
        await control_page.wait_for_selector("#gate-open[aria-pressed=true]")
        for page in pages.values():
            # The page went to the event by itself (a random delay of up to 1 s included).
            await page.wait_for_selector("#event", timeout=3000)
            assert page.url == base_url + path
        took = asyncio.get_running_loop().time() - clicked
        print(f"both on the event page {took:.2f} s after the click")
        assert took < 2.0, took
        for loc, page in pages.items():
            # Its banner says LIVE, not "has not started".
            await page.wait_for_selector("#event #live-banner[data-kind=live]", timeout=3000)
            tr = services.i18n.gettext(loc)
            assert (await page.inner_text("#live-banner .live-banner-text")) == tr("LIVE")
            await page.wait_for_selector("figure.slide[data-slide-index='1']")
        await screenshot(pages["ru"], "gate-opened-ru-desktop")


@pytest.mark.gen_test(timeout=120)
async def test_waiting_page_follows_a_changed_start_and_closed_gate_keeps_waiting(
        factory, base_url, services, http_server):
    event = await seeded(factory)
    await services.db.events.update_one({"_id": event["_id"]}, {"$set": {"gate.mode": "closed"}})
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    user = await factory.member(R.ATTENDEE, event=event, locale="de")
    async with chromium() as browser:
        page = await signed_in_page(browser, base_url, user["login"], factory.PASSWORD)
        await page.goto(base_url + view.path(space, event))
        await waiting_for_state(page)
        await page.evaluate("window.__noReload = true")
        # A change that does not let anybody in leaves the page as it is.
        await control.apply(services.db, services.notifier, event["_id"], admin, "broadcast_on")
        await page.wait_for_function("() => Livehall.gateClient.stateVersion >= 1")
        await asyncio.sleep(1.2)
        assert await page.evaluate("window.__noReload") is True
        # A new official start is shown (the page loads again to write it the reader's way).
        start = datetime.datetime.now(UTC) + datetime.timedelta(hours=5)
        await control.apply(services.db, services.notifier, event["_id"], admin, "gate_start", {"official_start": start})
        await page.wait_for_function("() => window.__noReload === undefined", timeout=8000)
        await page.wait_for_selector("#gate[data-official-start='%s']" % start.replace(microsecond=0).isoformat()
                                     .replace("+00:00", "Z"))
        assert await page.locator("#event").count() == 0


@pytest.mark.gen_test(timeout=150)
async def test_event_page_follows_day_broadcast_viewer_count_and_name_live(factory, base_url, services, http_server):
    event = await with_schedule(factory)
    await services.db.events.update_one({"_id": event["_id"]}, {"$set": {
        "days.0.enabled": False,
        "broadcast.sources.ru": {"kind": "youtube", "url": "https://youtu.be/jNQXAC9IVRw",
                                 "embed": "about:blank"}}})
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    user = await factory.member(R.ATTENDEE, event=event, locale="ru", name="Anna")
    tr = services.i18n.gettext("ru")
    async with chromium() as browser:
        page = await signed_in_page(browser, base_url, user["login"], factory.PASSWORD)
        await page.goto(base_url + view.path(space, event))
        await page.wait_for_selector("#chat-text-pub:not([disabled])")
        await page.evaluate("window.__noReload = true")
        assert await page.get_attribute("#live-banner", "data-kind") == "no_day"
        assert await page.locator("#item-s1").count() == 0

        # A day opens: the day line, the banner and the day's sessions, without a reload.
        await control.apply(services.db, services.notifier, event["_id"], admin, "day_on", {"day_id": "d1"})
        await page.locator("#live-banner").filter(has_text=tr("The broadcast is paused.")).wait_for(timeout=5000)
        await page.wait_for_selector("#day strong")
        await page.wait_for_selector("#schedule #item-s1", timeout=6000)
        # The swapped-in schedule still works: a session goes into "My programme" in place.
        await page.click("#item-s1 .programme-button")
        await page.wait_for_selector("#item-s1 .programme-button[aria-pressed=true]")
        await page.wait_for_selector("#programme .programme-list li[data-item-id=s1]")

        # The broadcast starts: the player and a clear LIVE banner.
        await control.apply(services.db, services.notifier, event["_id"], admin, "broadcast_on")
        await page.wait_for_selector(".player iframe", timeout=5000)  # nav.js may dock it
        await page.wait_for_selector("#live-banner[data-kind=live]", timeout=5000)
        assert await page.inner_text("#live-banner .live-banner-text") == tr("LIVE")
        assert not await page.is_visible("#live-banner .live-banner-viewers")

        # Staff show the viewer count: it appears, and follows a second viewer.
        await control.apply(services.db, services.notifier, event["_id"], admin, "viewers_show")
        one = tr("Watching now: %(count)s") % {"count": 1}
        await page.locator("#live-banner .live-banner-viewers").filter(has_text=one).wait_for(timeout=6000)
        other = await factory.member(R.ATTENDEE, event=event, locale="de")
        second = await signed_in_page(browser, base_url, other["login"], factory.PASSWORD)
        await second.goto(base_url + view.path(space, event))
        two = tr("Watching now: %(count)s") % {"count": 2}
        await page.locator("#live-banner .live-banner-viewers").filter(has_text=two).wait_for(timeout=8000)
        await screenshot(page, "event-live-banner-viewers-ru-desktop")
        await control.apply(services.db, services.notifier, event["_id"], admin, "viewers_hide")
        await page.locator("#live-banner .live-banner-viewers").wait_for(state="hidden", timeout=5000)

        # The viewer renames themselves in another tab: their message here shows the new name.
        await page.fill("#chat-text-pub", "Привет")
        await page.press("#chat-text-pub", "Enter")
        own = page.locator("#chat-pane-pub .chat-msg.own .chat-name")
        await own.filter(has_text="Anna").wait_for()
        tab = await page.context.new_page()
        await tab.goto(base_url + "/profile")
        await tab.fill("#profile-name", "Anna Petrova")
        await tab.click("form:has(input[name=form][value=details]) button[type=submit]")
        await tab.wait_for_load_state()
        await own.filter(has_text="Anna Petrova").wait_for(timeout=3000)
        assert await page.evaluate("window.__noReload") is True
