"""The event page: access, the gate and countdown, per-locale slides, days, player, lists."""
import datetime
import re

import pytest

from access import roles as R
from events import control, model
from tests.support import error_text, translated

UTC = datetime.UTC


def page_path(space, event) -> str:
    return f"/e/{space['slug']}/{event['slug']}"


async def person(browser, factory, role, event, locale="en", **kwargs):
    user = await factory.member(role, event=event, locale=locale, **kwargs)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return user, b


def slide_tag(html: str) -> str | None:
    m = re.search(r'<figure class="slide"[^>]*>\s*<img [^>]*>', html)
    return m.group(0) if m else None


def section(html: str, element_id: str) -> str:
    m = re.search(rf'<(\w+) id="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, element_id
    return m.group(0)


async def set_event(db, event, **changes):
    await db.events.update_one({"_id": event["_id"]}, {"$set": changes})


# --- access -------------------------------------------------------------------

@pytest.mark.gen_test
async def test_signed_out_visitor_is_sent_to_sign_in(browser, factory):
    space = await factory.space()
    event = await factory.event(space)
    r = await browser().get(page_path(space, event))
    assert r.status_code == 302
    assert r.headers["location"] == "/signin?next=" + page_path(space, event).replace("/", "%2F")


@pytest.mark.gen_test
async def test_non_member_gets_translated_403_and_unknown_event_404(browser, factory):
    space = await factory.space()
    event = await factory.event(space)
    elsewhere = await factory.event()
    outsider = await factory.member(R.ATTENDEE, event=elsewhere, locale="de")
    b = browser()
    await b.sign_in(outsider["login"], factory.PASSWORD)
    r = await b.get(page_path(space, event))
    assert r.status_code == 403
    assert error_text(r.text) and 'lang="de"' in r.text
    assert 'id="player"' not in r.text
    r = await b.get(f"/e/{space['slug']}/no-such-event")
    assert r.status_code == 404 and error_text(r.text)
    r = await b.get("/e/no-such-space/whatever")
    assert r.status_code == 404


@pytest.mark.gen_test
async def test_space_admin_and_platform_admin_get_in(browser, factory):
    space = await factory.space()
    event = await factory.event(space)
    for role in (R.SPACE_ADMIN, R.PLATFORM_ADMIN):
        user = await factory.member(role, event=event, space=space)
        b = browser()
        await b.sign_in(user["login"], factory.PASSWORD)
        r = await b.get(page_path(space, event))
        assert r.status_code == 200, role
        assert 'href="/admin/events/' in r.text


# --- gate -------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_gate_closed_attendee_sees_countdown_staff_pass(browser, factory, services):
    space = await factory.space()
    event = await factory.event(space, gate_open=False)
    start = event["gate"]["official_start"]
    path = page_path(space, event)

    _, attendee = await person(browser, factory, R.ATTENDEE, event, locale="de")
    r = await attendee.get(path)
    assert r.status_code == 200
    assert "data-countdown=" in r.text and "data-reload" in r.text
    iso = re.search(r'data-countdown="([^"]+)"', r.text).group(1)
    assert datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")) == start.replace(microsecond=0)
    assert translated(services, "de", "The event has not started yet.") in r.text
    local = start.astimezone(model_tz(event))
    assert f"{local:%H:%M}" in r.text  # the start on the event's clock
    for element in ('id="player"', 'id="slides"', 'id="schedule"', "/media/"):
        assert element not in r.text

    for role in (R.MODERATOR, R.EVENT_ADMIN, R.SPEAKER):
        _, staff = await person(browser, factory, role, event)
        r = await staff.get(path)
        assert r.status_code == 200, role
        assert 'id="player"' in r.text and "data-countdown" not in r.text
        assert "Attendees do not see this yet." in r.text


def model_tz(event):
    from zoneinfo import ZoneInfo
    return ZoneInfo(event["timezone"])


@pytest.mark.gen_test
async def test_gate_opens_by_control_action_and_by_time(browser, factory, db):
    space = await factory.space()
    event = await factory.event(space, gate_open=False)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    _, attendee = await person(browser, factory, R.ATTENDEE, event)
    path = page_path(space, event)
    assert "data-countdown" in (await attendee.get(path)).text

    await control.apply(db, _Notifier(), event["_id"], admin, "gate_open")
    r = await attendee.get(path)
    assert 'id="player"' in r.text and "Attendees do not see this yet." not in r.text

    await control.apply(db, _Notifier(), event["_id"], admin, "gate_close")
    r = await attendee.get(path)
    assert "has not started yet" in r.text

    # Back to automatic with the start in the past: open.
    await control.apply(db, _Notifier(), event["_id"], admin, "gate_auto")
    await control.apply(db, _Notifier(), event["_id"], admin, "gate_start",
                        {"official_start": datetime.datetime.now(UTC) - datetime.timedelta(minutes=1)})
    assert 'id="player"' in (await attendee.get(path)).text


@pytest.mark.gen_test
async def test_gate_shut_by_hand_after_start_does_not_count_down(browser, factory, db):
    space = await factory.space()
    event = await factory.event(space)
    await set_event(db, event, gate={"mode": model.GATE_CLOSED,
                                     "official_start": datetime.datetime.now(UTC) - datetime.timedelta(hours=1)})
    _, attendee = await person(browser, factory, R.ATTENDEE, event)
    r = await attendee.get(page_path(space, event))
    assert "has not started yet" in r.text
    assert "data-countdown" not in r.text  # it would reload at zero, forever


class _Notifier:
    async def announce(self, event_id, change):
        pass


# --- slides -------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_ru_and_de_attendees_see_their_own_slide(browser, factory, db, services):
    space = await factory.space()
    event = await factory.event(space, locales=("ru", "en", "de"))
    decks = {c: [{"media_id": f"{c}-slide-{n}", "name": f"{c}-{n}.png"} for n in (1, 2, 3)]
             for c in ("ru", "de", "en")}
    await set_event(db, event, **{"slides.decks": decks, "slides.index": 1})
    path = page_path(space, event)

    seen = {}
    for locale in ("ru", "de", "lv"):
        _, b = await person(browser, factory, R.ATTENDEE, event, locale=locale)
        r = await b.get(path)
        assert r.status_code == 200
        seen[locale] = slide_tag(r.text)
    assert 'src="/media/ru-slide-2"' in seen["ru"] and 'data-locale="ru"' in seen["ru"]
    assert 'src="/media/de-slide-2"' in seen["de"] and 'data-locale="de"' in seen["de"]
    assert 'data-slide-index="2"' in seen["ru"] and 'alt="%s"' % translated(services, "ru", "Slide %(n)s of %(total)s", n=2, total=3) in seen["ru"]
    # Latvian is not one of this event's languages: the default (Russian) deck.
    assert 'src="/media/ru-slide-2"' in seen["lv"]

    admin = await factory.member(R.EVENT_ADMIN, event=event)
    await control.apply(db, _Notifier(), event["_id"], admin, "slide_next")
    _, b = await person(browser, factory, R.ATTENDEE, event, locale="de")
    assert 'src="/media/de-slide-3"' in slide_tag((await b.get(path)).text)


@pytest.mark.gen_test
async def test_missing_deck_falls_back_and_hidden_slides_are_not_shown(browser, factory, db):
    space = await factory.space()
    event = await factory.event(space, locales=("ru", "en", "de"))
    await set_event(db, event, **{"slides.decks": {"ru": [{"media_id": "ru-only", "name": "a.png"}]}})
    _, b = await person(browser, factory, R.ATTENDEE, event, locale="de")
    path = page_path(space, event)
    tag = slide_tag((await b.get(path)).text)
    assert 'src="/media/ru-only"' in tag and 'data-locale="ru"' in tag

    await set_event(db, event, **{"slides.visible": False})
    r = await b.get(path)
    assert slide_tag(r.text) is None and "/media/" not in r.text
    assert 'id="slides"' in r.text  # the container stays for live updates


# --- days and schedule ------------------------------------------------------------------

@pytest.mark.gen_test
async def test_day_off_hides_its_schedule(browser, factory, db):
    space = await factory.space()
    event = await factory.event(space, days=2)
    schedule = [
        {"id": "s1", "day_id": "d1", "title": {"ru": "Открытие", "en": "Opening"}, "speaker": "Anna",
         "starts_at": datetime.datetime(2026, 12, 1, 7, 0, tzinfo=UTC),
         "ends_at": datetime.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)},
        {"id": "s2", "day_id": "d2", "title": {"ru": "Практика", "en": "Practice"}, "speaker": "Jonas",
         "starts_at": datetime.datetime(2026, 12, 2, 7, 0, tzinfo=UTC),
         "ends_at": datetime.datetime(2026, 12, 2, 8, 0, tzinfo=UTC)},
    ]
    await set_event(db, event, schedule=schedule)
    _, b = await person(browser, factory, R.ATTENDEE, event, locale="en")
    path = page_path(space, event)

    r = await b.get(path)
    sched = section(r.text, "schedule")
    assert "Opening" in sched and "Practice" not in sched and "Day 2" not in sched
    assert "9:00\u202fAM" in sched or "9:00 AM" in sched  # 07:00 UTC on the event clock (Riga)
    assert "Day 1 [en]" in section(r.text, "day")

    admin = await factory.member(R.EVENT_ADMIN, event=event)
    await control.apply(db, _Notifier(), event["_id"], admin, "day_on", {"day_id": "d2"})
    r = await b.get(path)
    sched = section(r.text, "schedule")
    assert "Opening" in sched and "Practice" in sched
    assert "Day 2 [en]" in section(r.text, "day")  # the last enabled day is the current one

    for day_id in ("d1", "d2"):
        await control.apply(db, _Notifier(), event["_id"], admin, "day_off", {"day_id": day_id})
    r = await b.get(path)
    assert "No day is open right now." in section(r.text, "day")
    assert "Opening" not in r.text and "Practice" not in r.text


@pytest.mark.gen_test
async def test_times_and_dates_follow_the_viewer_locale(browser, factory, db):
    space = await factory.space()
    event = await factory.event(space, locales=("ru", "en", "de"))
    await set_event(db, event, schedule=[
        {"id": "s1", "day_id": "d1", "title": {"en": "Talk"}, "speaker": "",
         "starts_at": datetime.datetime(2026, 12, 1, 13, 30, tzinfo=UTC), "ends_at": None}])
    _, en = await person(browser, factory, R.ATTENDEE, event, locale="en")
    _, ru = await person(browser, factory, R.ATTENDEE, event, locale="ru")
    en_sched = section((await en.get(page_path(space, event))).text, "schedule")
    ru_sched = section((await ru.get(page_path(space, event))).text, "schedule")
    assert "3:30" in en_sched and "PM" in en_sched
    assert "15:30" in ru_sched and "декабря" in ru_sched


# --- broadcast, texts, materials ------------------------------------------------------------

@pytest.mark.gen_test
async def test_player_follows_broadcast_state_and_locale(browser, factory, db, services):
    space = await factory.space()
    event = await factory.event(space, locales=("ru", "en", "de"))
    sources = {"ru": {"kind": "youtube", "url": "u", "embed": "https://www.youtube-nocookie.com/embed/ruVideo1"},
               "de": {"kind": "hls", "url": "u", "embed": "https://cdn.example.org/de/live.m3u8"}}
    await set_event(db, event, broadcast={"on": False, "sources": sources})
    path = page_path(space, event)
    _, ru = await person(browser, factory, R.ATTENDEE, event, locale="ru")
    _, de = await person(browser, factory, R.ATTENDEE, event, locale="de")
    _, en = await person(browser, factory, R.ATTENDEE, event, locale="en")

    r = await ru.get(path)
    assert translated(services, "ru", "The broadcast is paused.") in section(r.text, "player")
    assert "<iframe" not in r.text

    await set_event(db, event, **{"broadcast.on": True})
    player = section((await ru.get(path)).text, "player")
    assert 'src="https://www.youtube-nocookie.com/embed/ruVideo1"' in player
    assert 'allow="autoplay; fullscreen; picture-in-picture"' in player
    assert re.search(r'<iframe[^>]* title="[^"]+"', player)
    player = section((await de.get(path)).text, "player")
    assert '<video controls' in player and 'data-hls-src="https://cdn.example.org/de/live.m3u8"' in player
    # No English source: the default locale's stream.
    assert "ruVideo1" in section((await en.get(path)).text, "player")


@pytest.mark.gen_test
async def test_texts_fall_back_to_the_event_default_and_are_escaped(browser, factory, db):
    space = await factory.space()
    event = await factory.event(space, locales=("de", "en"))
    await set_event(db, event, title={"de": "Jahrestagung", "en": ""},
                    description={"de": "<script>alert(1)</script> Willkommen"},
                    materials=[{"id": "m1", "title": {"de": "Programm"}, "url": "https://example.org/p.pdf"},
                               {"id": "m2", "title": {"de": "Böse"}, "url": "javascript:alert(1)"}])
    _, b = await person(browser, factory, R.ATTENDEE, event, locale="en")
    r = await b.get(page_path(space, event))
    assert "<h1>Jahrestagung</h1>" in r.text
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
    materials = section(r.text, "materials")
    assert 'href="https://example.org/p.pdf"' in materials and "Programm" in materials
    assert "javascript:" not in materials and "Böse" in materials


# --- my events ---------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_home_lists_my_events_only(browser, factory, db, services):
    space = await factory.space()
    mine = await factory.event(space, gate_open=False)
    staffed = await factory.event(space)
    other = await factory.event()
    user = await factory.member(R.ATTENDEE, event=mine, locale="de")
    await R.grant(db, user, "event", staffed["_id"], R.MODERATOR)

    r = await browser().get("/")
    assert r.status_code == 302 and r.headers["location"] == "/signin"

    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.get("/")
    assert r.status_code == 200
    assert page_path(space, mine) in r.text and page_path(space, staffed) in r.text
    assert other["slug"] not in r.text
    assert mine["title"]["de"] in r.text
    assert translated(services, "de", "Open now") in r.text
    starts_on = translated(services, "de", "Starts on %(date)s at %(time)s", date="@", time="@").split("@")[0].strip()
    assert starts_on in r.text
    assert f'href="/admin/events/{staffed["_id"]}"' in r.text
    assert f'href="/admin/events/{mine["_id"]}"' not in r.text

    admin = await factory.member(R.PLATFORM_ADMIN, event=mine)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    r = await b.get("/")
    assert all(e["slug"] in r.text for e in (mine, staffed, other))

    loner = await factory.user()
    b = browser()
    await b.sign_in(loner["login"], factory.PASSWORD)
    r = await b.get("/")
    assert r.status_code == 200 and "event-entry" not in r.text
