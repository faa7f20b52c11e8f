"""An attendee's own programme: toggling sessions, the list on the event page,
the calendar export, refusals that change nothing, privacy between attendees;
and the live state banner as the event page first renders it."""
import datetime
import json
import re

import icalendar
import pytest

from access import roles as R
from events import control, view
from tests.support import translated

UTC = datetime.UTC

SCHEDULE = [
    {"id": "s1", "day_id": "d1", "title": {"ru": "Открытие", "en": "Opening, day one"}, "speaker": "Anna",
     "starts_at": datetime.datetime(2026, 12, 1, 7, 0, tzinfo=UTC),
     "ends_at": datetime.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)},
    {"id": "s2", "day_id": "d1", "title": {"ru": "Практика", "en": "Practice"}, "speaker": "",
     "starts_at": datetime.datetime(2026, 12, 1, 9, 30, tzinfo=UTC), "ends_at": None},
    {"id": "s3", "day_id": "d2", "title": {"ru": "Закрытие", "en": "Closing"}, "speaker": "Jonas",
     "starts_at": datetime.datetime(2026, 12, 2, 7, 0, tzinfo=UTC),
     "ends_at": datetime.datetime(2026, 12, 2, 8, 0, tzinfo=UTC)},
]


class _Notifier:
    async def announce(self, event_id, change):
        pass


async def setup(factory, db, browser, locale="en"):
    space = await factory.space()
    event = await factory.event(space, locales=("ru", "en"), days=2)
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"schedule": SCHEDULE}})
    event = await db.events.find_one({"_id": event["_id"]})
    user = await factory.member(R.ATTENDEE, event=event, locale=locale)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return space, event, user, b


def section(html: str, element_id: str) -> str:
    m = re.search(rf'<(\w+) id="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, element_id
    return m.group(0)


def pressed(html: str, item: str) -> bool:
    m = re.search(rf'<li id="item-{item}".*?aria-pressed="(true|false)"', html, re.S)
    assert m, item
    return m.group(1) == "true"


async def toggle(b, path, item, saved, json_answer=False):
    headers = {"Accept": "application/json"} if json_answer else {}
    return await b.post(path + "/programme", {"item": item, "saved": "1" if saved else "0"}, headers=headers)


async def stored(db):
    return await db.programmes.find({}, {"_id": 0, "updated_at": 0}).sort("user_id", 1).to_list(None)


@pytest.mark.gen_test
async def test_toggle_list_and_calendar(browser, factory, db, services):
    space, event, user, b = await setup(factory, db, browser)
    path = view.path(space, event)

    r = await b.get(path)
    assert not pressed(r.text, "s1") and not pressed(r.text, "s2")
    assert translated(services, "en", "Sessions you add from the schedule appear here.") in section(r.text, "programme")
    # Every toggle is a real form with XSRF, so it works without the script.
    assert 'name="_xsrf"' in section(r.text, "schedule")

    # Plain form: redirect back to the programme, with a notice.
    r = await toggle(b, path, "s2", True)
    assert r.status_code == 302 and r.headers["location"] == path + "#programme"
    # The script's way: JSON with the ids now saved.
    r = await toggle(b, path, "s1", True, json_answer=True)
    assert r.status_code == 200
    answer = r.json()
    assert answer["saved"] is True and answer["item"] == "s1" and set(answer["items"]) == {"s1", "s2"}
    assert answer["message"] == "Added to your programme."
    # Adding again changes nothing.
    r = await toggle(b, path, "s1", True, json_answer=True)
    assert sorted(r.json()["items"]) == ["s1", "s2"]
    docs = await stored(db)
    assert len(docs) == 1 and sorted(docs[0]["item_ids"]) == ["s1", "s2"]

    r = await b.get(path)
    assert pressed(r.text, "s1") and pressed(r.text, "s2")
    mine = section(r.text, "programme")
    assert "Opening, day one" in mine and "Practice" in mine
    assert mine.index("Opening, day one") < mine.index("Practice")  # schedule order
    assert 'class="muted programme-empty" hidden' in mine

    # The calendar file: parsed back, one entry per saved session, in UTC.
    r = await b.get(path + "/programme.ics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/calendar")
    assert "attachment" in r.headers["content-disposition"]
    cal = icalendar.Calendar.from_ical(r.content)
    entries = {str(e.get("summary")): e for e in cal.walk("VEVENT")}
    assert set(entries) == {"Opening, day one", "Practice"}
    opening = entries["Opening, day one"]
    assert opening.decoded("dtstart") == datetime.datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert opening.decoded("dtend") == datetime.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert "Speaker: Anna" in str(opening.get("description"))
    assert str(opening.get("url")).endswith(path)
    assert str(opening.get("uid")).startswith(f"{event['_id']}-s1@")
    assert "dtend" not in entries["Practice"]
    assert "Event" in str(cal.get("x-wr-calname"))

    # Removing: the list and the calendar follow.
    r = await toggle(b, path, "s1", False, json_answer=True)
    assert r.json() == {"item": "s1", "saved": False, "items": ["s2"], "message": "Removed from your programme."}
    cal = icalendar.Calendar.from_ical((await b.get(path + "/programme.ics")).content)
    assert [str(e.get("summary")) for e in cal.walk("VEVENT")] == ["Practice"]
    r = await b.get(path)
    assert not pressed(r.text, "s1") and pressed(r.text, "s2")


@pytest.mark.gen_test
async def test_unknown_or_hidden_items_are_refused_and_nothing_changes(browser, factory, db, services):
    space, event, user, b = await setup(factory, db, browser, locale="ru")
    path = view.path(space, event)
    await toggle(b, path, "s1", True)
    before = await stored(db)
    message = translated(services, "ru", "This session is not on the schedule.")
    assert message != "This session is not on the schedule."  # really translated

    # No such session; a session of a closed day (d2 is off: its schedule is hidden).
    for item, saved in (("nope", True), ("nope", False), ("s3", True), ("s3", False), ("", True), ("x" * 65, True)):
        r = await toggle(b, path, item, saved)
        assert r.status_code == 400, item
        if item != "x" * 65:
            assert message in r.text
        r = await toggle(b, path, item, saved, json_answer=True)
        assert r.status_code == 400
    assert (await toggle(b, path, "nope", True, json_answer=True)).json()["message"] == \
        services.i18n.gettext("ru")("This session is not on the schedule.")
    r = await b.post(path + "/programme", {"item": "s2", "saved": "maybe"})
    assert r.status_code == 400
    # Without the XSRF token nothing happens either.
    r = await b.post(path + "/programme", {"item": "s2", "saved": "1"}, xsrf=False)
    assert r.status_code == 403
    assert await stored(db) == before

    # A saved session of a day that closes later is hidden, not forgotten.
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    await control.apply(db, _Notifier(), event["_id"], admin, "day_off", {"day_id": "d1"})
    r = await b.get(path)
    assert "Открытие" not in r.text
    cal = icalendar.Calendar.from_ical((await b.get(path + "/programme.ics")).content)
    assert list(cal.walk("VEVENT")) == []
    await control.apply(db, _Notifier(), event["_id"], admin, "day_on", {"day_id": "d1"})
    r = await b.get(path)
    assert pressed(r.text, "s1") and "Открытие" in section(r.text, "programme")


@pytest.mark.gen_test
async def test_another_attendees_programme_stays_invisible(browser, factory, db):
    space, event, user, b = await setup(factory, db, browser)
    path = view.path(space, event)
    await toggle(b, path, "s1", True)
    other = await factory.member(R.ATTENDEE, event=event, locale="en")
    ob = browser()
    await ob.sign_in(other["login"], factory.PASSWORD)

    r = await ob.get(path)
    assert not pressed(r.text, "s1")
    assert "Opening, day one" not in section(r.text, "programme")
    cal = icalendar.Calendar.from_ical((await ob.get(path + "/programme.ics")).content)
    assert list(cal.walk("VEVENT")) == []
    # Their own toggle touches only their own document.
    await toggle(ob, path, "s2", True)
    docs = {d["user_id"]: d["item_ids"] for d in await stored(db)}
    assert docs == {user["_id"]: ["s1"], other["_id"]: ["s2"]}

    # Signed out: the sign-in page, nothing else; outsiders get a 403.
    anon = browser()
    r = await anon.get(path + "/programme.ics")
    assert r.status_code == 302 and r.headers["location"].startswith("/signin")
    outsider = await factory.user()
    xb = browser()
    await xb.sign_in(outsider["login"], factory.PASSWORD)
    assert (await xb.get(path + "/programme.ics")).status_code == 403
    assert (await xb.post(path + "/programme", {"item": "s1", "saved": "1"})).status_code == 403
    assert len(await stored(db)) == 2


@pytest.mark.gen_test
async def test_banner_as_first_rendered(browser, factory, db, services):
    space, event, user, b = await setup(factory, db, browser, locale="de")
    path = view.path(space, event)
    banner = lambda html: section(html, "live-banner")  # noqa: E731

    # Broadcast off (the factory's default), a day open: paused.
    html = banner((await b.get(path)).text)
    assert 'data-kind="paused"' in html
    assert translated(services, "de", "The broadcast is paused.") in html
    # Live: the gate is open and the broadcast plays.
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"broadcast.on": True}})
    html = banner((await b.get(path)).text)
    assert 'data-kind="live"' in html and translated(services, "de", "LIVE") in html
    # The count is not shown until staff choose to show it.
    assert 'data-viewers-shown="false"' in html
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"banner.viewers": True}})
    assert 'data-viewers-shown="true"' in banner((await b.get(path)).text)
    # Before the official start, with the gate opened early and the broadcast on: still live.
    start = datetime.datetime.now(UTC) + datetime.timedelta(hours=3)
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"gate.official_start": start}})
    html = banner((await b.get(path)).text)
    assert 'data-kind="live"' in html
    assert 'live-banner-text">' + translated(services, "de", "The event has not started yet.") not in html
    # Every day closed, no broadcast, no start: the day's programme is over.
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"days.0.enabled": False, "broadcast.on": False,
                                                                "gate.official_start": None}})
    html = banner((await b.get(path)).text)
    assert 'data-kind="no_day"' in html and translated(services, "de", "No day is open right now.") in html
    # Before the official start (gate opened early, broadcast off): the countdown.
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"gate.official_start": start}})
    html = banner((await b.get(path)).text)
    assert 'data-kind="countdown"' in html and 'role="status"' in html
    assert translated(services, "de", "The event has not started yet.") in html
    assert f'data-official-start="{start.replace(microsecond=0).isoformat().replace("+00:00", "Z")}"' in html
    assert 'class="live-banner-clock" aria-hidden="true"' in html


def test_banner_rule():
    now = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    event = {"gate": {"mode": "auto", "official_start": now + datetime.timedelta(minutes=5)},
             "timezone": "Europe/Riga", "days": [{"id": "d1", "enabled": False}], "broadcast": {"on": False}}
    assert view.banner(event, now)["kind"] == "countdown"
    event["gate"]["official_start"] = now
    assert view.banner(event, now)["kind"] == "no_day"
    event["days"][0]["enabled"] = True
    assert view.banner(event, now)["kind"] == "paused"
    event["broadcast"]["on"] = True
    assert view.banner(event, now)["kind"] == "live"
    assert json.dumps(view.banner(event, now)["official_start"]) == '"2026-12-01T08:00:00Z"'
    assert view.banner(event, now)["viewers"] is False


def test_banner_is_live_whenever_the_gate_is_open_and_the_broadcast_plays():
    """Never "has not started" while attendees are in and the broadcast is on."""
    now = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    event = {"gate": {"mode": "open", "official_start": now + datetime.timedelta(hours=2)},
             "timezone": "Europe/Riga", "days": [], "broadcast": {"on": True}, "banner": {"viewers": True}}
    assert view.banner(event, now) | {"local_start": None} == {
        "kind": "live", "official_start": "2026-12-01T10:00:00Z", "local_start": None, "viewers": True}
    # The gate closed (staff look behind it): the countdown again.
    event["gate"]["mode"] = "closed"
    assert view.banner(event, now)["kind"] == "countdown"
    # Automatic gate past the start, no day open: live all the same.
    event["gate"] = {"mode": "auto", "official_start": now}
    assert view.banner(event, now)["kind"] == "live"
