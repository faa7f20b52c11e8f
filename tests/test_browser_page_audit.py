"""In Chromium: what a page audit (Lighthouse) looks at on the sign-in and event pages.

The event page does not shift while the slide image loads (the slide box
keeps its size from the start: cumulative layout shift, measured with a
PerformanceObserver, stays below 0.02); no page asks for something that is
not there (a favicon, linked from every page) or logs an error; every page
has a meta description, the event page its event's own.
"""
import asyncio
import io

import pytest
from PIL import Image

from access import audit
from access import roles as R
from events import view
from tests.browser import check_accessibility, chromium, signed_in_page
from tests.support import translated
from tests.test_realtime import seeded

# Sums the layout shifts not caused by the visitor's own input, from the start of the page.
CLS_WATCH = """
(() => {
  window.__livehallShift = 0;
  window.__livehallShifts = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.hadRecentInput) continue;
      window.__livehallShift += e.value;
      window.__livehallShifts.push({t: Math.round(e.startTime), value: e.value, sources: (e.sources || []).map((s) => s.node ? s.node.nodeName + "." + s.node.className + " " + JSON.stringify([s.previousRect.y, s.currentRect.y, s.previousRect.height, s.currentRect.height]) : "?")});
    }
  }).observe({type: "layout-shift", buffered: true});
})();
"""


def slide_png() -> bytes:
    # 4:3, as a slide deck exported from an older template would be.
    out = io.BytesIO()
    Image.new("RGB", (1024, 768), (40, 90, 200)).save(out, "PNG")
    return out.getvalue()


def held(release: asyncio.Event, png: bytes):
    async def slide(route):
        await release.wait()      # the slide arrives once the page has settled
        await route.fulfill(status=200, content_type="image/png", body=png)
    return slide


def watch_problems(page, problems: list[str]) -> None:
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)


@pytest.mark.gen_test(timeout=90)
async def test_event_page_keeps_its_layout_while_the_slide_loads(factory, base_url, services, http_server):
    event = await seeded(factory)
    await services.db.events.update_one({"_id": event["_id"]}, {"$set": {
        "description": {"ru": "Годовая конференция о продукте: доклады, вопросы и ответы.\nВторой абзац.",
                        "en": "The yearly product conference."}}})
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    user = await factory.member(R.ATTENDEE, event=event, locale="ru")
    png = slide_png()

    async with chromium() as browser:
        for width in (1280, 375):
            page = await signed_in_page(browser, base_url, user["login"], factory.PASSWORD, width=width)
            problems: list[str] = []
            watch_problems(page, problems)
            await page.add_init_script(CLS_WATCH)
            release = asyncio.Event()
            await page.route("**/media/**", held(release, png))
            await page.goto(base_url + view.path(space, event), wait_until="domcontentloaded")
            # Settled: connected (the chat shows), the slide still on its way.
            await page.wait_for_selector("#chat:not([hidden])")
            if width < 800:
                await page.click("#stage-tab-slides")     # on a phone the slide has its own tab
            await page.wait_for_timeout(700)
            assert not await page.evaluate("() => document.querySelector('figure.slide img').complete")
            before, early = await page.evaluate("() => [window.__livehallShift, window.__livehallShifts]")
            # The header never moves (the language button that only scriptless browsers
            # need is not hidden by a script after the first paint).
            assert not [e for e in early if any(s.startswith(("FORM.locale-switcher", "A.brand", "NAV.topnav"))
                                                  for s in e["sources"])], (width, early)
            release.set()
            await page.wait_for_function(
                "() => { const i = document.querySelector('figure.slide img'); return i.complete && i.naturalWidth > 0; }",
                timeout=15000)
            await page.wait_for_timeout(500)
            after, shifts = await page.evaluate("() => [window.__livehallShift, window.__livehallShifts]")
            assert after - before < 0.02, (width, before, after, shifts)
            box = await page.evaluate("() => { const r = document.querySelector('figure.slide img').getBoundingClientRect();"
                                      " return [r.width, r.height]; }")
            assert box[0] > 0 and abs(box[1] - box[0] * 9 / 16) < 2, box     # the 16:9 box it had before
            description = await page.get_attribute("meta[name=description]", "content")
            assert description.startswith("Годовая конференция о продукте") and "\n" not in description
            assert not problems, problems
            await page.context.close()


@pytest.mark.gen_test(timeout=60)
async def test_every_page_has_a_favicon_and_a_translated_description(base_url, services, http_server):
    async with chromium() as browser:
        for locale in ("ru", "de", "he"):
            context = await browser.new_context(locale=locale)
            page = await context.new_page()
            problems: list[str] = []
            watch_problems(page, problems)
            for path in ("/signin", "/password/forgot"):
                await page.goto(base_url + path)
                await page.wait_for_load_state("networkidle")
                icon = await page.get_attribute("link[rel=icon]", "href")
                assert icon.startswith("/static/favicon.svg?v="), icon
                description = await page.get_attribute("meta[name=description]", "content")
                assert description == translated(
                    services, locale, "Livehall: online events with live broadcasts, chat, questions and slides.")
            fetched = await page.evaluate(
                "() => performance.getEntriesByType('resource').filter(e => e.name.includes('favicon')).length")
            icon = await page.request.get(base_url + icon)
            assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml"
            assert not problems, (locale, problems, fetched)
            await context.close()


@pytest.mark.gen_test(timeout=60)
async def test_audit_log_json_boxes_scroll_with_the_keyboard(factory, base_url, services, http_server):
    event = await factory.event()
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="de")
    big = {f"field_{n}": f"value {n} " * 6 for n in range(40)}
    await audit.record(services.db, actor=admin, action="event_update", event=event, params={"fields": list(big)},
                       before=big, after={**big, "field_0": "changed"})
    async with chromium() as browser:
        page = await signed_in_page(browser, base_url, admin["login"], factory.PASSWORD, locale="de")
        await page.goto(base_url + f"/admin/events/{event['_id']}/audit")
        await page.wait_for_selector(".audit-json")
        await check_accessibility(page, "entries with long JSON")
        boxes = page.locator(".audit-json")
        assert await boxes.count() == 3
        for n, label in enumerate(("Details of the action", "Before", "After")):
            assert await boxes.nth(n).get_attribute("aria-label") == translated(services, "de", label)
        # Tab reaches the "Before" box, and the arrow keys scroll it.
        before = boxes.nth(1)
        assert await before.evaluate("(e) => e.scrollHeight > e.clientHeight")
        await page.focus(".audit-json >> nth=0")
        await page.keyboard.press("Tab")
        assert await before.evaluate("(e) => document.activeElement === e")
        await page.keyboard.press("PageDown")
        await page.wait_for_function("() => document.querySelectorAll('.audit-json')[1].scrollTop > 0")
