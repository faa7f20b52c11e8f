"""Days added and removed while people watch: the change reaches open pages as a
`state` with no control action, and switching a day on or off addresses it by
id while other changes re-sort the days."""
import asyncio
import inspect

import pytest

from access import roles as R
from events import control, editing, view
from tests.live_client import LiveClient


class Recorder:
    """A change bus that keeps what was announced."""

    def __init__(self):
        self.calls = []

    async def announce(self, event_id, change):
        self.calls.append((event_id, change))


class SlowCollection:
    def __init__(self, collection):
        self._c = collection

    def __getattr__(self, name):
        attr = getattr(self._c, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        async def call(*args, **kwargs):
            await asyncio.sleep(0)
            return await attr(*args, **kwargs)
        return call


class SlowDatabase:
    """The database with a turn of the event loop before every call, as a
    network gives it, so that concurrent actions interleave on the embedded
    store too (its calls never wait)."""

    def __init__(self, db):
        self._db = db

    def __getattr__(self, name):
        return SlowCollection(getattr(self._db, name))

    def __getitem__(self, name):
        return SlowCollection(self._db[name])


async def signed_in(browser, factory, event, role, locale="en"):
    user = await factory.member(role, event=event, locale=locale)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return user, b


async def watching(base_url, browser, factory, event):
    _, b = await signed_in(browser, factory, event, R.ATTENDEE, locale="ru")
    client = await LiveClient.connect(base_url, b, event["_id"])
    await client.expect("welcome")
    return client, await client.expect("state")


@pytest.mark.gen_test(timeout=30)
async def test_a_day_added_on_the_staff_page_reaches_open_pages(base_url, browser, factory, db):
    event = await factory.event()
    _, admin = await signed_in(browser, factory, event, R.EVENT_ADMIN)
    viewer, first = await watching(base_url, browser, factory, event)
    assert first["state"]["enabled_days"] == ["d1"]

    # A date before every other day: the new day goes first in the array.
    r = await admin.post(f"/admin/events/{event['_id']}/program/days",
                         {"date": "2026-11-30", "title_ru": "Разминка"})
    assert r.status_code == 302
    stored = await db.events.find_one({"_id": event["_id"]})
    assert [d["date"] for d in stored["days"]] == ["2026-11-30", "2026-12-01", "2026-12-02"]
    assert stored["state_version"] == first["state_version"] + 1

    state = await viewer.expect("state")
    assert state["state_version"] == stored["state_version"]
    # The new day is switched off, so what the page shows of days stays: the
    # state is the stored event's, with its new version.
    assert state["state"] == view.live_state(stored, "ru")
    assert state["state"]["enabled_days"] == ["d1"] and state["state"]["day"]["id"] == "d1"
    viewer.close()


@pytest.mark.gen_test(timeout=30)
async def test_removing_the_current_day_reaches_open_pages(base_url, browser, factory, db, services):
    event = await factory.event()
    admin_user, admin = await signed_in(browser, factory, event, R.EVENT_ADMIN)
    await control.apply(db, services.notifier, event["_id"], admin_user, "day_on", {"day_id": "d2"})
    viewer, first = await watching(base_url, browser, factory, event)
    assert first["state"]["enabled_days"] == ["d1", "d2"] and first["state"]["day"]["id"] == "d2"

    r = await admin.post(f"/admin/events/{event['_id']}/program/days/remove", {"day_id": "d2"})
    assert r.status_code == 302
    state = await viewer.expect("state")
    assert state["state_version"] == first["state_version"] + 1
    assert state["state"]["enabled_days"] == ["d1"]
    assert state["state"]["day"] == {"id": "d1", "title": "Day 1 [ru]", "date": "2026-12-01"}
    viewer.close()


@pytest.mark.gen_test
async def test_day_edits_and_new_languages_are_versioned_and_announced_once(factory, db):
    event = await factory.event(locales=("ru", "en"))
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    bus = Recorder()

    day = await editing.add_day(db, bus, admin, event, date="2026-12-24", title={"en": "Eve"})
    stored = await db.events.find_one({"_id": event["_id"]})
    assert stored["state_version"] == event["state_version"] + 1
    assert bus.calls == [(event["_id"], {"action": "day_add", "state_version": stored["state_version"],
                                         "params": {"day_id": day["id"]}})]

    await editing.remove_day(db, bus, admin, stored, day["id"])
    stored = await db.events.find_one({"_id": event["_id"]})
    assert bus.calls[1] == (event["_id"], {"action": "day_remove", "state_version": stored["state_version"],
                                           "params": {"day_id": day["id"]}})

    # A refused edit writes and announces nothing.
    with pytest.raises(editing.EditError):
        await editing.remove_day(db, bus, admin, stored, "nope")
    with pytest.raises(editing.EditError):
        await editing.add_day(db, bus, admin, stored, date="2026-12-01", title={})
    assert len(bus.calls) == 2
    assert (await db.events.find_one({"_id": event["_id"]}))["state_version"] == stored["state_version"]

    # Texts that the live state does not carry change no version; languages do.
    settings = {"locales": ["ru", "en"], "default_locale": "ru", "timezone": "Europe/Riga",
                "title": {"ru": "Новое", "en": "New"}, "description": {}}
    await editing.update_settings(db, bus, admin, stored, **settings)
    assert len(bus.calls) == 2
    assert (await db.events.find_one({"_id": event["_id"]}))["state_version"] == stored["state_version"]
    stored = await db.events.find_one({"_id": event["_id"]})
    saved = await editing.update_settings(db, bus, admin, stored, **{**settings, "default_locale": "en"})
    assert saved["state_version"] == stored["state_version"] + 1
    assert bus.calls[2] == (event["_id"], {"action": "event_update", "state_version": saved["state_version"],
                                           "params": {}})


@pytest.mark.gen_test(timeout=60)
async def test_a_day_switched_while_another_is_added_is_the_day_named(factory, db):
    """Every round adds a day dated before the target while the target is
    switched, in several interleavings: the target, and only it, changes."""
    event = await factory.event(days=1)
    await db.events.update_one({"_id": event["_id"]}, {"$push": {"days": {
        "id": "target", "date": "2026-12-31", "title": {"ru": "Финал"}, "enabled": False}}})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    slow, bus = SlowDatabase(db), Recorder()

    async def after(turns, coro):
        for _ in range(turns):
            await asyncio.sleep(0)
        return await coro

    for rnd in range(24):
        action = "day_on" if rnd % 2 == 0 else "day_off"
        add = editing.add_day(slow, bus, admin, event, date=f"2026-12-{rnd + 2:02d}", title={})
        switch = control.apply(slow, bus, event["_id"], admin, action, {"day_id": "target"})
        turns = (rnd // 2) % 4
        if rnd % 8 < 4:
            await asyncio.gather(switch, after(turns, add))
        else:
            await asyncio.gather(add, after(turns, switch))
        stored = await db.events.find_one({"_id": event["_id"]})
        enabled = {d["id"] for d in stored["days"] if d["enabled"]}
        assert enabled == ({"d1", "target"} if action == "day_on" else {"d1"}), (rnd, stored["days"])
        assert [d["date"] for d in stored["days"]] == sorted(d["date"] for d in stored["days"])
        assert stored["days"][-1]["id"] == "target" and len(stored["days"]) == rnd + 3
    assert len(bus.calls) == 48
