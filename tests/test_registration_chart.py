"""Registrations per day on the staff registration page: counted on the event's own calendar, drawn
by the server (an SVG with a title per bar), with the numbers as a table beside it."""
import datetime

import pytest

from access import roles as R
from registration import counts
from tests.test_registration_places import open_event, people, register_all

UTC = datetime.UTC


@pytest.mark.gen_test(timeout=30)
async def test_registrations_are_counted_per_day_of_the_events_calendar_and_drawn(services, factory, db, browser):
    event = await open_event(db, factory, capacity=None)
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"timezone": "Europe/Riga"}})
    event = await db.events.find_one({"_id": event["_id"]})
    regs = await register_all(services, event, await people(db, 5))
    # 22:30 UTC on the 3rd is 00:30 on the 4th in Riga (UTC+2 in December); one long ago, outside the window.
    made = [datetime.datetime(2026, 12, 3, 21, 30, tzinfo=UTC), datetime.datetime(2026, 12, 3, 22, 30, tzinfo=UTC),
            datetime.datetime(2026, 12, 4, 9, 0, tzinfo=UTC), datetime.datetime(2026, 12, 6, 12, 0, tzinfo=UTC),
            datetime.datetime(2026, 10, 1, 12, 0, tzinfo=UTC)]
    for reg, at in zip(regs, made, strict=True):
        await db.memberships.update_one({"_id": reg["_id"]}, {"$set": {"created_at": at}})
    days = await counts.per_day(db, event["_id"], "Europe/Riga", days=7, today=datetime.date(2026, 12, 7))
    assert [d.isoformat() for d, _ in days] == [f"2026-12-0{i}" for i in range(1, 8)]
    assert [n for _, n in days] == [0, 0, 1, 2, 0, 1, 0]

    admin = await factory.member(R.EVENT_ADMIN, event=event)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    page = await b.get(f"/admin/events/{event['_id']}/registration")
    assert page.status_code == 200
    assert page.text.count("<rect ") == 30 and 'role="img"' in page.text
    assert "Registrations per day, last 30 days" in page.text and "Show the numbers" in page.text
