"""In Chromium: the control page is built for the live hour.

At 1280x800 in Russian, German, Hebrew and Kazakh the live controls (the state
strip, the presenter view with its Previous / Next buttons, the attendee
preview) are on the first screen with nothing scrolled; every language's
broadcast source is saved by one submit, and a bad row saves nothing, its
error beside it; "Open the gate" asks first, and says that attendees get in
before an official start that is still ahead.
"""
import datetime

import pytest

from access import roles as R
from tests.browser import check_accessibility, chromium, screenshot, signed_in_page
from tests.test_browser_control import control_path, event_with_slides

HLS = "https://cdn.example.org/live/{}.m3u8"
LIVE = ("#strip", "#presenter", "#slide-prev", "#slide-next", "#control-keys", "#preview-screen")


async def outside_first_screen(page) -> list:
    """The live controls whose box leaves the 1280x800 viewport, with the page not scrolled."""
    return await page.evaluate("""(selectors) => {
        if (document.scrollingElement.scrollTop !== 0 || window.scrollY !== 0) return ['scrolled'];
        return selectors.filter(sel => {
            const r = document.querySelector(sel).getBoundingClientRect();
            return !(r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= 800 && r.right <= 1280);
        }).map(sel => sel + ' ' + JSON.stringify(document.querySelector(sel).getBoundingClientRect()));
    }""", list(LIVE))


async def confirm(page, expected_text: str | None = None) -> str:
    """Answers the confirmation dialog with its OK button; returns what it said."""
    await page.wait_for_selector("#control-confirm[open]")
    said = await page.text_content("#control-confirm-text")
    if expected_text is not None:
        assert said == expected_text
    await page.click("#control-confirm-ok")
    await page.wait_for_selector("#control-confirm", state="hidden")
    return said


@pytest.mark.gen_test(timeout=150)
async def test_live_controls_fit_1280x800_sources_save_at_once_and_the_gate_asks_first(
        factory, db, services, base_url, http_server):
    event = await event_with_slides(factory, db)
    start = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(days=3)
    # Three days, as in a real programme: the strip keeps them on one row.
    third = {"id": "d3", "date": "2026-12-03", "title": {c: f"Day 3 [{c}]" for c in event["locales"]}, "enabled": False}
    await db.events.update_one({"_id": event["_id"]}, {"$set": {
        "gate.mode": "auto", "gate.official_start": start, "slides.index": 1}, "$push": {"days": third}})
    admins = {loc: await factory.member(R.EVENT_ADMIN, event=event, locale=loc) for loc in ("ru", "de", "he", "kk")}

    async with chromium() as browser:
        pages = {}
        for loc, admin in admins.items():
            page = await signed_in_page(browser, base_url, admin["login"], factory.PASSWORD)
            await page.set_viewport_size({"width": 1280, "height": 800})
            await page.goto(base_url + control_path(event))
            await page.wait_for_selector('#presenter[data-slide-number="2"]')
            assert await outside_first_screen(page) == [], loc
            await check_accessibility(page, f"control page in {loc}")
            await screenshot(page, f"control-{loc}-desktop")
            pages[loc] = page
        ru, he = pages["ru"], pages["he"]
        tr = services.i18n.gettext("ru")

        # The presenter view of another language: current and next slide; de holds its last one.
        await ru.select_option("#presenter-locale", "de")
        await ru.wait_for_selector('#presenter[data-locale="de"]')
        assert await ru.get_attribute("#presenter-now", "src") == "/media/" + event["slides"]["decks"]["de"][1]["media_id"]
        assert await ru.text_content("#presenter-next-text") == tr("Next: this deck stays on slide %(number)s") % {
            "number": 2}
        await ru.select_option("#presenter-locale", "en")
        assert await ru.get_attribute("#presenter-next", "src") == "/media/" + event["slides"]["decks"]["en"][2]["media_id"]

        # The preview: an attendee in German waits outside while the start is ahead.
        await ru.select_option("#preview-locale", "de")
        assert await ru.is_visible('[data-preview="gate-closed"]')
        assert await ru.is_hidden("#preview-slide")

        # "Open the gate" asks first, and says the start is still ahead.
        await ru.click("#gate-open")
        await ru.wait_for_selector("#control-confirm[open]")
        said = await ru.text_content("#control-confirm-text")
        when = await ru.text_content("#strip-start")
        assert said == tr("The official start is %(when)s, still ahead. Opening the gate now lets attendees into "
                          "the event before the start, at once.") % {"when": when}
        await check_accessibility(ru, "the gate confirmation")
        await ru.click("#control-confirm-cancel")
        await ru.wait_for_selector("#control-confirm", state="hidden")
        assert await ru.evaluate("document.activeElement.id") == "gate-open"
        assert (await db.events.find_one({"_id": event["_id"]}))["gate"]["mode"] == "auto"
        await ru.click("#gate-open")
        await confirm(ru, said)
        await he.wait_for_selector('#gate-open[aria-pressed="true"]')
        assert (await db.events.find_one({"_id": event["_id"]}))["gate"]["mode"] == "open"
        # Now the German attendee is in: the preview shows their slide and that the player is on.
        await ru.wait_for_selector('#preview-slide:not([hidden])')
        assert await ru.get_attribute("#preview-slide", "src") == "/media/" + event["slides"]["decks"]["de"][1]["media_id"]
        assert await ru.is_visible('[data-preview="nosource"]')
        # With the preview showing a slide, the live controls still fit, in every language.
        for loc, page in pages.items():
            await page.wait_for_selector('#preview-slide:not([hidden])')
            assert await outside_first_screen(page) == [], loc

        # Every language's source in one submit.
        for loc in ("ru", "en", "de"):
            await ru.select_option(f"#kind-{loc}", "hls")
            await ru.fill(f"#url-{loc}", HLS.format(loc))
        await ru.click("#sources-save")
        await confirm(ru)
        await ru.wait_for_selector("#control-messages .flash-success")
        assert await ru.text_content("#control-messages") == tr("The broadcast sources are saved.")
        stored = (await db.events.find_one({"_id": event["_id"]}))["broadcast"]["sources"]
        assert {loc: stored[loc]["embed"] for loc in ("ru", "en", "de")} == {
            loc: HLS.format(loc) for loc in ("ru", "en", "de")}
        # The other admin's table follows; the preview shows the new source.
        await he.wait_for_function("(want) => document.getElementById('url-de').value === want",
                                   arg=HLS.format("de"))
        await ru.wait_for_function("(want) => document.getElementById('preview-embed').textContent === want",
                                   arg=HLS.format("de"))
        version = (await db.events.find_one({"_id": event["_id"]}))["state_version"]

        # One bad row: nothing is saved, the error stands beside that row, translated.
        await ru.fill("#url-ru", "https://cdn.example.org/other/ru.m3u8")
        await ru.select_option("#kind-en", "youtube")
        await ru.fill("#url-en", "https://evil.example.org/watch?v=jNQXAC9IVRw")
        await ru.click("#sources-save")
        await confirm(ru)
        await ru.wait_for_selector('tr[data-source="en"].is-invalid')
        assert await ru.text_content("#source-error-en") == tr("This is not a YouTube video link.")
        assert await ru.is_hidden("#source-error-ru")
        assert await ru.get_attribute("#url-en", "aria-invalid") == "true"
        assert await ru.evaluate("document.activeElement.id") == "url-en"
        assert await ru.text_content("#control-errors") == tr("Nothing was saved: correct the languages marked below.")
        # Said beside the Save button too, where the person is looking.
        assert await ru.text_content("#sources-result") == tr("Nothing was saved: correct the languages marked below.")
        # What was typed stays, to be corrected.
        assert await ru.input_value("#url-ru") == "https://cdn.example.org/other/ru.m3u8"
        await check_accessibility(ru, "a bad row in the sources table")
        after = await db.events.find_one({"_id": event["_id"]})
        assert after["state_version"] == version
        assert after["broadcast"]["sources"]["ru"]["embed"] == HLS.format("ru")

        # Fixed, saved; the error goes.
        await ru.fill("#url-en", "https://youtu.be/jNQXAC9IVRw")
        await ru.click("#sources-save")
        await confirm(ru)
        await ru.wait_for_selector('tr[data-source="en"]:not(.is-invalid)')
        stored = (await db.events.find_one({"_id": event["_id"]}))["broadcast"]["sources"]
        assert stored["ru"]["embed"] == "https://cdn.example.org/other/ru.m3u8"
        assert stored["en"]["embed"] == "https://www.youtube-nocookie.com/embed/jNQXAC9IVRw"

        for loc, page in pages.items():
            await page.set_viewport_size({"width": 375, "height": 812})
            await check_accessibility(page, f"control page in {loc} on a phone")
            await screenshot(page, f"control-{loc}-phone")
