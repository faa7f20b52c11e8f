"""In Chromium: the staff schedule calendar moves a session by drag and drop, and the move is saved."""
import datetime

import pytest

from access import roles as R
from events import sessions
from tests.browser import chromium, screenshot, signed_in_page


async def drag(page, source: str, target: str) -> None:
    """Drag with the mouse in small steps, as a person does (SortableJS in pointer mode).

    While a session is dragged, SortableJS moves it into the slots it passes
    over, and the slot it left shrinks: the slots below move up.  A person
    aims at where the target is now, so the pointer is brought to the
    target's current middle until it stays put, then released.
    """
    src = await page.locator(source).bounding_box()
    await page.mouse.move(src["x"] + src["width"] / 2, src["y"] + src["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(src["x"] + src["width"] / 2 + 5, src["y"] + src["height"] / 2 + 5, steps=3)
    last = None
    for _ in range(6):
        dst = await page.locator(target).bounding_box()
        here = (dst["x"] + dst["width"] / 2, dst["y"] + dst["height"] / 2)
        if here == last:
            break
        await page.mouse.move(*here, steps=15 if last is None else 3)
        last = here
    await page.mouse.up()


@pytest.mark.gen_test(timeout=120)
async def test_drag_a_session_to_another_time_and_channel_and_it_stays_there(
        factory, db, services, base_url, http_server):
    space = await factory.space()
    event = await factory.event(space)
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="en")
    channel = await sessions.create_channel(db, admin, event, slug="hall-b", title={"ru": "Hall B"})
    await sessions.add_session(db, admin, event, {"day_id": "d1", "starts": "10:00", "ends": "10:45",
                                                  "title": {"ru": "Opening"}, "speaker": ""}, None)
    event = await db.events.find_one({"_id": event["_id"]})
    item = event["schedule"][0]
    path = f"/admin/events/{event['_id']}/calendar"
    session = f'.calendar-session[data-item-id="{item["id"]}"]'
    target = f'.calendar-slot[data-day-id="d1"][data-starts="14:00"][data-column="{channel["_id"]}"]'

    async with chromium() as browser:
        page = await signed_in_page(browser, base_url, admin["login"], factory.PASSWORD)
        await page.goto(base_url + path)
        await page.wait_for_function("() => typeof window.Sortable !== 'undefined'")
        # Without dragging, each session is reached by its edit link.
        assert await page.get_attribute(session + " a", "href") == \
            f"/admin/events/{event['_id']}/program/schedule/edit?item={item['id']}"
        await browser.axe.settled()   # axe looks at the calendar as loaded, not halfway through a drag
        await drag(page, session, target)
        await page.wait_for_selector(session + '[data-saved="1"]', timeout=10000)
        assert await page.text_content(session + " .calendar-when") == "14:00\u201314:45"
        await page.reload()
        assert await page.locator(target + " " + session).count() == 1
        await screenshot(page, "schedule_calendar")

    moved = (await db.events.find_one({"_id": event["_id"]}))["schedule"][0]
    assert moved["channel_id"] == str(channel["_id"])
    assert moved["ends_at"] - moved["starts_at"] == datetime.timedelta(minutes=45)
    assert await db.audit.count_documents({"action": "schedule_update", "event_id": event["_id"]}) == 1
