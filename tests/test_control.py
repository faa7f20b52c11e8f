"""Live control: every action persists, audits and announces once; refusals change nothing."""
import datetime
import html
import re

import pytest

from access import roles as R
from events import model
from tests.support import error_text

UTC = datetime.UTC


def control_path(event) -> str:
    return f"/admin/events/{event['_id']}/control"


async def signed_in(browser, factory, event, role=R.EVENT_MANAGER, locale="en"):
    user = await factory.member(role, event=event, locale=locale)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return user, b


def listen(services) -> list:
    calls = []

    async def listener(event_id, change):
        calls.append((event_id, change))

    services.notifier.subscribe(listener)
    return calls


async def set_event(db, event, **changes):
    await db.events.update_one({"_id": event["_id"]}, {"$set": changes})


def decks(**lengths):
    return {loc: [{"media_id": f"{loc}-{n}", "name": f"{loc}-{n}.png"} for n in range(1, count + 1)]
            for loc, count in lengths.items()}


async def state(db, event) -> dict:
    doc = await db.events.find_one({"_id": event["_id"]})
    doc.pop("updated_at")
    return doc


def translated(services, code: str, source: str) -> str:
    return services.i18n.gettext(code)(source)


# Each case: (action, form data, preparation of the stored event, check of the result).
CASES = [
    ("day_on", {"day_id": "d2"}, {}, lambda e: e["days"][1]["enabled"] is True),
    ("day_off", {"day_id": "d1"}, {}, lambda e: e["days"][0]["enabled"] is False),
    ("broadcast_on", {}, {}, lambda e: e["broadcast"]["on"] is True),
    ("broadcast_off", {}, {"broadcast.on": True}, lambda e: e["broadcast"]["on"] is False),
    ("broadcast_source", {"locale": "de", "kind": "youtube", "url": "https://youtu.be/jNQXAC9IVRw"}, {},
     lambda e: e["broadcast"]["sources"]["de"]["embed"] == "https://www.youtube-nocookie.com/embed/jNQXAC9IVRw"),
    ("broadcast_source", {"locale": "ru", "kind": "hls", "url": ""},
     {"broadcast.sources.ru": {"kind": "hls", "url": "https://cdn.example.org/a.m3u8",
                               "embed": "https://cdn.example.org/a.m3u8"}},
     lambda e: e["broadcast"]["sources"]["ru"] is None),
    ("gate_close", {}, {}, lambda e: e["gate"]["mode"] == "closed"),
    ("gate_auto", {}, {}, lambda e: e["gate"]["mode"] == "auto"),
    ("gate_open", {}, {"gate.mode": "closed"}, lambda e: e["gate"]["mode"] == "open"),
    # Riga is UTC+2 in December: the wall time typed is the event's.
    ("gate_start", {"official_start": "2026-12-01T10:30"}, {},
     lambda e: e["gate"]["official_start"] == datetime.datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
    ("gate_start", {"official_start": ""}, {"gate.official_start": datetime.datetime(2026, 1, 1, tzinfo=UTC)},
     lambda e: e["gate"]["official_start"] is None),
    ("slides_hide", {}, {}, lambda e: e["slides"]["visible"] is False),
    ("slides_show", {}, {"slides.visible": False}, lambda e: e["slides"]["visible"] is True),
    ("slide_next", {}, {}, lambda e: e["slides"]["index"] == 2),
    ("slide_prev", {}, {}, lambda e: e["slides"]["index"] == 0),
    ("slide_goto", {"number": "3"}, {}, lambda e: e["slides"]["index"] == 2),
]


@pytest.mark.gen_test
@pytest.mark.parametrize("action,data,prepare,check", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_each_action_changes_state_audits_and_announces_once(
        browser, factory, db, services, action, data, prepare, check):
    event = await factory.event()
    await set_event(db, event, **{"slides.decks": decks(ru=3, en=3, de=3), "slides.index": 1}, **prepare)
    user, b = await signed_in(browser, factory, event)
    calls = listen(services)
    before = await state(db, event)

    r = await b.post(f"{control_path(event)}/{action}", data)
    assert r.status_code == 302, (r.status_code, error_text(r.text))
    assert r.headers["location"].startswith(control_path(event) + "#")
    after = await state(db, event)
    assert check(after), after
    assert after["state_version"] == before["state_version"] + 1

    entries = await db.audit.find({"event_id": event["_id"]}).to_list(None)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["action"] == action and entry["actor_id"] == user["_id"]
    assert entry["before"] != entry["after"]
    assert calls == [(event["_id"], calls[0][1])] and calls[0][1]["action"] == action
    assert calls[0][1]["state_version"] == after["state_version"]

    # The page after the redirect carries the confirmation.
    page = await b.get(r.headers["location"])
    assert page.status_code == 200 and "flash-success" in page.text


@pytest.mark.gen_test
async def test_next_and_previous_stop_at_the_ends(browser, factory, db):
    event = await factory.event()
    await set_event(db, event, **{"slides.decks": decks(ru=3, en=2), "slides.index": 2})
    _, b = await signed_in(browser, factory, event)
    assert (await b.post(f"{control_path(event)}/slide_next")).status_code == 302
    assert (await state(db, event))["slides"]["index"] == 2
    for _ in range(4):
        assert (await b.post(f"{control_path(event)}/slide_prev")).status_code == 302
    assert (await state(db, event))["slides"]["index"] == 0


@pytest.mark.gen_test
@pytest.mark.parametrize("number", ["0", "4", "-1", "two", ""])
async def test_goto_out_of_range_is_refused_unchanged(browser, factory, db, services, number):
    event = await factory.event()
    await set_event(db, event, **{"slides.decks": decks(ru=3), "slides.index": 1})
    _, b = await signed_in(browser, factory, event, locale="de")
    calls = listen(services)
    before = await state(db, event)
    r = await b.post(f"{control_path(event)}/slide_goto", {"number": number})
    assert r.status_code == 400
    assert error_text(r.text) == html.escape(
        translated(services, "de", "There is no slide with that number."), quote=False)
    assert await state(db, event) == before
    assert await db.audit.count_documents({}) == 0 and calls == []


@pytest.mark.gen_test
async def test_flip_without_slides_is_refused(browser, factory, db, services):
    event = await factory.event()
    _, b = await signed_in(browser, factory, event)
    before = await state(db, event)
    r = await b.post(f"{control_path(event)}/slide_next")
    assert r.status_code == 400 and "There are no slides yet." in error_text(r.text)
    assert await state(db, event) == before


@pytest.mark.gen_test
@pytest.mark.parametrize("kind,url,message", [
    ("youtube", "http://www.youtube.com/watch?v=jNQXAC9IVRw", "The broadcast link must start with https://."),
    ("youtube", "https://evil.example.org/watch?v=jNQXAC9IVRw", "This is not a YouTube video link."),
    ("vk", "https://www.youtube.com/watch?v=jNQXAC9IVRw", "Paste the VK Video embed link (video_ext.php)."),
    ("hls", "https://cdn.example.org/live.mp4", "An HLS link must point to a .m3u8 playlist."),
    ("flash", "https://cdn.example.org/live.m3u8", "Unknown broadcast type."),
])
async def test_invalid_broadcast_source_is_refused_unchanged(browser, factory, db, services, kind, url, message):
    event = await factory.event()
    _, b = await signed_in(browser, factory, event)
    calls = listen(services)
    before = await state(db, event)
    r = await b.post(f"{control_path(event)}/broadcast_source", {"locale": "de", "kind": kind, "url": url})
    assert r.status_code == 400
    assert html.unescape(error_text(r.text)) == message
    # What was typed stays in the form, to be corrected.
    assert f'value="{html.escape(url)}"' in r.text
    assert await state(db, event) == before
    assert await db.audit.count_documents({}) == 0 and calls == []


@pytest.mark.gen_test
async def test_source_for_a_language_the_event_lacks_is_refused(browser, factory, db):
    event = await factory.event(locales=("ru", "en"))
    _, b = await signed_in(browser, factory, event)
    before = await state(db, event)
    r = await b.post(f"{control_path(event)}/broadcast_source",
                     {"locale": "de", "kind": "youtube", "url": "https://youtu.be/jNQXAC9IVRw"})
    assert r.status_code == 400 and "This event has no such language." in error_text(r.text)
    assert await state(db, event) == before


@pytest.mark.gen_test
@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T10:00", "2026-12-01T10:00+02:00", "1900-01-01T00:00"])
async def test_bad_official_start_is_refused_unchanged(browser, factory, db, value):
    event = await factory.event()
    _, b = await signed_in(browser, factory, event)
    before = await state(db, event)
    r = await b.post(f"{control_path(event)}/gate_start", {"official_start": value})
    assert r.status_code == 400
    assert error_text(r.text) == "Enter the official start as a date and time."
    assert await state(db, event) == before and await db.audit.count_documents({}) == 0


@pytest.mark.gen_test
async def test_unknown_day_and_unknown_action(browser, factory, db, services):
    event = await factory.event()
    _, b = await signed_in(browser, factory, event, locale="ru")
    before = await state(db, event)
    r = await b.post(f"{control_path(event)}/day_on", {"day_id": "nope"})
    assert r.status_code == 400
    assert html.unescape(error_text(r.text)) == translated(services, "ru", "Unknown day.")
    r = await b.post(f"{control_path(event)}/launch_rockets")
    assert r.status_code == 404
    assert html.unescape(error_text(r.text)) == translated(services, "ru", "Unknown action.")
    r = await b.post(f"/admin/events/{'0' * 24}/control/slide_next")
    assert r.status_code == 404
    assert await state(db, event) == before and await db.audit.count_documents({}) == 0


@pytest.mark.gen_test
async def test_each_language_sees_its_own_deck_after_a_flip(browser, factory, db):
    event = await factory.event(locales=("ru", "en", "de"))
    # en is shorter: it holds its last slide while the others move on.
    await set_event(db, event, **{"slides.decks": decks(ru=3, de=3, en=1)})
    _, b = await signed_in(browser, factory, event)
    assert (await b.post(f"{control_path(event)}/slide_next")).status_code == 302
    stored = await db.events.find_one({"_id": event["_id"]})
    assert model.current_slide(stored, "ru") == (2, {"media_id": "ru-2", "name": "ru-2.png"})
    assert model.current_slide(stored, "de") == (2, {"media_id": "de-2", "name": "de-2.png"})
    assert model.current_slide(stored, "en") == (1, {"media_id": "en-1", "name": "en-1.png"})

    page = (await b.get(control_path(event))).text
    assert "Slide 2 of 3" in page
    for locale, src, count in (("ru", "ru-2", "Slide 2 of 3"), ("de", "de-2", "Slide 2 of 3"),
                               ("en", "en-1", "Slide 1 of 1")):
        m = re.search(rf'<li data-locale="{locale}" data-slide-number="\d">.*?<img data-slide-image width="640" '
                      rf'height="360" src="/media/{src}".*?'
                      r'<span class="control-count" data-slide-count>([^<]*)<', page, re.S)
        assert m and m.group(1) == count, src

    # The presenter view: the current and the next slide of the language picked, the reader's by default.
    assert '<div class="presenter" id="presenter" data-locale="en" data-slide-number="1">' in page
    assert re.search(r'id="presenter-now"[^>]*src="/media/en-1"', page)
    # en holds its only slide: the next flip keeps it.
    assert re.search(r'id="presenter-next"[^>]*src="/media/en-1"', page)
    assert "Next: this deck stays on slide 1" in page
    page = (await b.get(control_path(event) + "?presenter=de&preview=ru")).text
    assert re.search(r'id="presenter-now"[^>]*src="/media/de-2"', page)
    assert re.search(r'id="presenter-next"[^>]*src="/media/de-3"', page) and "Next: slide 3" in page
    assert '<div class="preview-screen" id="preview-screen" data-locale="ru">' in page
    assert re.search(r'id="preview-slide"[^>]*src="/media/ru-2"', page)
    # A language the event lacks falls back to the reader's.
    page = (await b.get(control_path(event) + "?presenter=kk")).text
    assert 'id="presenter" data-locale="en"' in page


@pytest.mark.gen_test
async def test_control_page_shows_the_live_state_and_works_in_hebrew(browser, factory, db):
    event = await factory.event()
    await set_event(db, event, **{"slides.decks": decks(ru=2), "gate.official_start":
                                  datetime.datetime(2026, 12, 1, 8, 30, tzinfo=UTC)})
    _, b = await signed_in(browser, factory, event, locale="he")
    r = await b.get(control_path(event))
    assert r.status_code == 200
    assert 'dir="rtl"' in r.text
    for needle in ('id="slides"', 'id="days"', 'id="broadcast"', 'id="gate"', 'id="slide-next-form"',
                   'id="slide-prev-form"', 'name="official_start" value="2026-12-01T10:30"',
                   "/control/day_off", "/control/day_on", "js/control.js", 'name="_xsrf"'):
        assert needle in r.text, needle


@pytest.mark.gen_test
async def test_forged_or_missing_xsrf_is_refused_unchanged(browser, factory, db, services):
    event = await factory.event()
    await set_event(db, event, **{"slides.decks": decks(ru=3)})
    _, b = await signed_in(browser, factory, event, locale="de")
    calls = listen(services)
    before = await state(db, event)
    expected = translated(services, "de", "This form has expired or did not come from this site. "
                                          "Reload the page and try again.")
    r = await b.post(f"{control_path(event)}/slide_next", xsrf=False)
    assert r.status_code == 403 and html.unescape(error_text(r.text)) == expected
    r = await b.post(f"{control_path(event)}/slide_next", {"_xsrf": "2|forged|token|1"})
    assert r.status_code == 403 and html.unescape(error_text(r.text)) == expected
    assert await state(db, event) == before
    assert await db.audit.count_documents({}) == 0 and calls == []


@pytest.mark.gen_test
@pytest.mark.parametrize("role,allowed", [
    (R.EVENT_MANAGER, True), (R.EVENT_ADMIN, True), (R.MODERATOR, False), (R.COMMENTATOR, False),
    (R.SPEAKER, False), (R.ATTENDEE, False),
])
async def test_roles(browser, factory, db, role, allowed):
    event = await factory.event()
    await set_event(db, event, **{"slides.decks": decks(ru=3)})
    _, b = await signed_in(browser, factory, event, role=role)
    before = await state(db, event)
    page = await b.get(control_path(event))
    flip = await b.post(f"{control_path(event)}/slide_next")
    if allowed:
        assert page.status_code == 200 and flip.status_code == 302
        assert (await state(db, event))["slides"]["index"] == 1
    else:
        assert page.status_code == 403 and flip.status_code == 403
        assert "error-message" in flip.text
        assert await state(db, event) == before


@pytest.mark.gen_test
async def test_staff_of_another_event_and_signed_out_visitors_are_kept_out(browser, factory, db):
    event = await factory.event()
    other = await factory.event()
    _, b = await signed_in(browser, factory, other)
    assert (await b.get(control_path(event))).status_code == 403
    assert (await b.post(f"{control_path(event)}/gate_close")).status_code == 403
    anonymous = browser()
    r = await anonymous.get(control_path(event))
    assert r.status_code == 302 and r.headers["location"].startswith("/signin?next=")
    assert (await anonymous.post(f"{control_path(event)}/gate_close")).status_code == 403
    assert (await state(db, event))["gate"]["mode"] == "open"


# --- the JSON answers static/js/control.js asks for ---------------------------------------------

JSON = {"Accept": "application/json"}


@pytest.mark.gen_test
async def test_actions_answer_json_when_asked(browser, factory, db, services):
    event = await factory.event()
    await set_event(db, event, **{"slides.decks": decks(ru=3, en=3, de=2), "slides.index": 1,
                                  "gate.official_start": datetime.datetime(2026, 12, 1, 8, 30, tzinfo=UTC)})
    _, b = await signed_in(browser, factory, event, locale="de")
    calls = listen(services)
    before = await state(db, event)

    r = await b.post(f"{control_path(event)}/slide_next", headers=JSON)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert "lh_flash" not in r.headers.get("set-cookie", "")
    body = r.json()
    assert body["ok"] is True
    assert body["message"] == translated(services, "de", "Slide %(number)s of %(count)s is shown.") % {
        "number": 3, "count": 3}
    snap = body["state"]
    assert snap["state_version"] == before["state_version"] + 1
    assert snap["slides"]["index"] == 2 and snap["slides"]["count"] == 3
    # Every locale's current slide, side by side; de holds its last slide.
    assert snap["slides"]["locales"]["ru"] == {"number": 3, "total": 3, "own": True, "url": "/media/ru-3",
                                               "next_number": 0, "next_url": None}
    assert snap["slides"]["locales"]["de"] == {"number": 2, "total": 2, "own": True, "url": "/media/de-2",
                                               "next_number": 0, "next_url": None}
    # What an attendee of each language is sent, for the preview.
    assert snap["attendees"]["de"]["slides"]["url"] == "/media/de-2"
    assert snap["attendees"]["de"]["locale"] == "de" and snap["attendees"]["de"]["broadcast"]["on"] is False
    assert snap["gate"]["official_start_when"]
    assert snap["gate"]["official_start_input"] == "2026-12-01T10:30"
    assert snap["gate"]["official_start"] == "2026-12-01T08:30:00+00:00"
    assert snap["days"] == {"d1": True, "d2": False}
    assert len(calls) == 1

    r = await b.post(f"{control_path(event)}/broadcast_on", headers=JSON)
    assert r.status_code == 200 and r.json()["state"]["broadcast"]["on"] is True
    assert r.json()["message"] == translated(services, "de", "The broadcast is on.")
    r = await b.post(f"{control_path(event)}/day_on", {"day_id": "d2"}, headers=JSON)
    assert r.json()["state"]["days"] == {"d1": True, "d2": True}
    r = await b.post(f"{control_path(event)}/gate_close", headers=JSON)
    assert r.json()["state"]["gate"]["mode"] == "closed" and r.json()["state"]["gate"]["open"] is False

    # The snapshot alone, for a page that heard of a change made elsewhere.
    r = await b.get(control_path(event), headers=JSON)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.json()["state_version"] == before["state_version"] + 4
    assert r.json()["broadcast"]["on"] is True
    # Without the header the page itself.
    assert (await b.get(control_path(event))).headers["content-type"].startswith("text/html")


async def refused(b, path, data=None, status=400):
    r = await b.post(path, data, headers=JSON)
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


@pytest.mark.gen_test
async def test_refusals_answer_translated_json_and_change_nothing(browser, factory, db, services):
    event = await factory.event()
    await set_event(db, event, **{"slides.decks": decks(ru=3), "slides.index": 1})
    _, b = await signed_in(browser, factory, event, locale="ru")
    calls = listen(services)
    before = await state(db, event)
    ru = lambda source: translated(services, "ru", source)  # noqa: E731

    body = await refused(b, f"{control_path(event)}/day_on", {"day_id": "nope"})
    assert body["error"] == 400 and body["message"] == ru("Unknown day.")
    # The stored state comes along so the page can show what is true.
    assert body["state"]["state_version"] == before["state_version"]
    body = await refused(b, f"{control_path(event)}/slide_goto", {"number": "9"})
    assert body["message"] == ru("There is no slide with that number.")
    body = await refused(b, f"{control_path(event)}/broadcast_source",
                         {"locale": "de", "kind": "hls", "url": "https://cdn.example.org/live.mp4"})
    assert body["message"] == ru("An HLS link must point to a .m3u8 playlist.")
    body = await refused(b, f"{control_path(event)}/launch_rockets", status=404)
    assert body == {"error": 404, "message": ru("Unknown action.")}
    body = await refused(b, f"/admin/events/{'0' * 24}/control/slide_next", status=404)
    assert body["message"] == ru("This event does not exist.")
    r = await b.post(f"{control_path(event)}/slide_next", xsrf=False, headers=JSON)
    assert r.status_code == 403 and r.json()["message"] == ru(
        "This form has expired or did not come from this site. Reload the page and try again.")

    # Roles without live control, in their own language.
    for role in (R.MODERATOR, R.ATTENDEE):
        _, other = await signed_in(browser, factory, event, role=role, locale="he")
        body = await refused(other, f"{control_path(event)}/broadcast_on", status=403)
        assert body["message"] == translated(services, "he", "You do not have permission for this action.")
        r = await other.get(control_path(event), headers=JSON)
        assert r.status_code == 403 and "state" not in r.json()

    assert await state(db, event) == before
    assert await db.audit.count_documents({}) == 0 and calls == []


@pytest.mark.gen_test
async def test_a_version_conflict_is_reported_and_changes_nothing(browser, factory, db, services, monkeypatch):
    event = await factory.event()
    await set_event(db, event, **{"slides.decks": decks(ru=3)})
    _, b = await signed_in(browser, factory, event, locale="lv")
    before = await state(db, event)

    async def always_conflicting(*args, **kwargs):
        raise model.StateConflict()
    monkeypatch.setattr(model, "versioned_update", always_conflicting)
    body = await refused(b, f"{control_path(event)}/slide_next")
    assert body["message"] == translated(services, "lv", "The event is being changed by someone else; try again.")
    assert body["state"]["slides"]["index"] == 0
    assert await state(db, event) == before and await db.audit.count_documents({}) == 0


# --- the sources table: one Save for every language ---------------------------------------------

YOUTUBE = "https://youtu.be/jNQXAC9IVRw"
HLS = "https://cdn.example.org/live/ru.m3u8"


def source_rows(**rows) -> dict:
    data = {}
    for locale, (kind, url) in rows.items():
        data[f"kind-{locale}"] = kind
        data[f"url-{locale}"] = url
    return data


@pytest.mark.gen_test
async def test_all_sources_are_saved_in_one_submit_audited_and_announced_once(browser, factory, db, services):
    event = await factory.event(locales=("ru", "en", "de"))
    await set_event(db, event, **{"broadcast.sources.de": {"kind": "hls", "url": HLS, "embed": HLS}})
    user, b = await signed_in(browser, factory, event)
    calls = listen(services)
    before = await state(db, event)
    r = await b.post(f"{control_path(event)}/broadcast_sources",
                     source_rows(ru=("hls", HLS), en=("youtube", YOUTUBE), de=("hls", "")))
    assert r.status_code == 302 and r.headers["location"].endswith("#sources")
    after = await state(db, event)
    assert after["broadcast"]["sources"]["ru"]["embed"] == HLS
    assert after["broadcast"]["sources"]["en"]["embed"] == "https://www.youtube-nocookie.com/embed/jNQXAC9IVRw"
    assert after["broadcast"]["sources"]["de"] is None
    assert after["state_version"] == before["state_version"] + 1
    assert await db.audit.count_documents({"action": "broadcast_sources", "actor_id": user["_id"]}) == 1
    assert len(calls) == 1
    # A language not sent keeps its source.
    r = await b.post(f"{control_path(event)}/broadcast_sources", source_rows(en=("youtube", "")), headers=JSON)
    assert r.status_code == 200 and r.json()["message"] == "The broadcast sources are saved."
    stored = (await state(db, event))["broadcast"]["sources"]
    assert stored["en"] is None and stored["ru"]["embed"] == HLS


@pytest.mark.gen_test
async def test_one_bad_source_row_saves_nothing_and_is_named_translated(browser, factory, db, services):
    event = await factory.event(locales=("ru", "en", "de"))
    _, b = await signed_in(browser, factory, event, locale="ru")
    calls = listen(services)
    before = await state(db, event)
    ru = lambda source: translated(services, "ru", source)  # noqa: E731
    rows = source_rows(ru=("hls", HLS), en=("youtube", "https://evil.example.org/x"),
                       de=("hls", "https://cdn.example.org/live.mp4"))
    body = await refused(b, f"{control_path(event)}/broadcast_sources", rows)
    assert body["message"] == ru("Nothing was saved: correct the languages marked below.")
    assert body["rows"] == {"en": ru("This is not a YouTube video link."),
                            "de": ru("An HLS link must point to a .m3u8 playlist.")}
    # Without scripts: the page again, each error beside its row, what was typed kept.
    r = await b.post(f"{control_path(event)}/broadcast_sources", rows)
    assert r.status_code == 400
    for locale, message in (("en", "This is not a YouTube video link."),
                            ("de", "An HLS link must point to a .m3u8 playlist.")):
        m = re.search(rf'<tr data-source="{locale}" class="is-invalid">.*?'
                      rf'<p class="error-message field-error" id="source-error-{locale}" data-source-error>([^<]*)</p>',
                      r.text, re.S)
        assert m and html.unescape(m.group(1)) == ru(message), locale
    assert '<tr data-source="ru">' in r.text and f'value="{HLS}"' in r.text
    assert 'value="https://evil.example.org/x"' in r.text
    # A language the event lacks.
    body = await refused(b, f"{control_path(event)}/broadcast_sources", source_rows(kk=("youtube", YOUTUBE)))
    assert body["message"] == ru("This event has no such language.")
    assert await state(db, event) == before
    assert await db.audit.count_documents({}) == 0 and calls == []
