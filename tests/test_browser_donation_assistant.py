"""In Chromium: a visitor walks the giving assistant by keyboard on a phone-sized screen to a campaign's gift
dialog; staff's analytics page draws its charts with uPlot.  Every page is checked by axe and the CSP watch
(`tests.browser.chromium`), and the pages log no error.
"""
from __future__ import annotations

import pytest

from access import roles as R
from donations import assistant
from tests.browser import chromium, screenshot, signed_in_page
from tests.donations_support import campaign
from tests.test_donation_analytics import known_set


def watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


async def focus_by_tab(page, text: str, most: int = 40) -> None:
    """Press Tab until the focused element reads `text` (as a keyboard user would reach it)."""
    for _ in range(most):
        await page.keyboard.press("Tab")
        if (await page.evaluate("() => (document.activeElement.textContent || '').trim()")) == text:
            return
    raise AssertionError(f"{text!r} is not reached by Tab")


@pytest.mark.gen_test(timeout=120)
async def test_the_assistant_is_walked_by_keyboard_on_a_phone_to_a_gift_dialog(services, factory, db, base_url,
                                                                             http_server):
    space = await factory.space()
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    water = await campaign(services, factory, space=space, title={"en": "Water"})
    school = await campaign(services, factory, space=space, title={"en": "School books"}, category="education")
    nodes = [{"key": "start", "question": {"en": "What would you like to support?"},
              "buttons": [{"label": {"en": "Water"}, "to": f"campaign:{water['_id']}"},
                          {"label": {"en": "Children"}, "to": "node:kids"}]},
             {"key": "kids", "question": {"en": "Give as a guest or sign in?"},
              "buttons": [{"label": {"en": "As a guest"}, "to": f"campaign:{school['_id']}"},
                          {"label": {"en": "Sign in first"}, "to": f"campaign:{school['_id']}"}]}]
    values = await assistant.clean(db, space, {"locales": ["en"], "default_locale": "en", "enabled": True,
                                               "nodes": nodes})
    await assistant.save(db, admin, space, values)
    async with chromium() as browser:
        page = await (await browser.new_context(viewport={"width": 375, "height": 740}, locale="en-GB")).new_page()
        errors = watch_errors(page)
        await page.goto(f"{base_url}/spaces/{space['slug']}/campaigns")
        await focus_by_tab(page, "Not sure what to support? Help me choose")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/assistant")
        assert await page.locator("#assistant-question").text_content() == "What would you like to support?"
        await focus_by_tab(page, "Children")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/assistant?trail=start.kids")
        assert await page.locator("#assistant-question").text_content() == "Give as a guest or sign in?"
        # Phone-sized: nothing wider than the screen, each answer a full-width button.
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 375
        box = await page.locator(".assistant-answer").first.bounding_box()
        assert box["width"] > 250 and box["height"] >= 44
        await screenshot(page, "donation-assistant-phone")
        # Back, and forward again.
        await focus_by_tab(page, "Back")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/assistant?trail=start")
        await focus_by_tab(page, "Children")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/assistant?trail=start.kids")
        await focus_by_tab(page, "As a guest")
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"**/campaigns/{school['_id']}?give=1&src=assistant")
        # The gift dialog is open: its amount has the focus, and the gift will say where it came from.
        assert await page.evaluate("() => document.activeElement.id") == "give-amount"
        assert await page.locator("input[name=source]").get_attribute("value") == "assistant"
        await page.keyboard.type("15")
        assert errors == []
    today = (await db[assistant.STATS].find_one({"space_id": space["_id"]}))
    assert (today["starts"], today["completions"], today["nodes"]) == (1, 1, {"start": 1, "kids": 2})


@pytest.mark.gen_test(timeout=120)
async def test_the_analytics_page_draws_its_charts(services, factory, db, base_url, http_server):
    space, *_ = await known_set(services, factory, db)
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    async with chromium() as browser:
        page = await signed_in_page(browser, base_url, admin["login"], factory.PASSWORD)
        errors = watch_errors(page)
        await page.goto(f"{base_url}/admin/spaces/{space['_id']}/donations/analytics?from=2026-11-02&to=2026-11-03")
        plots = page.locator(".donation-plot")
        # Eight views, two currencies.
        assert await plots.count() == 16
        await page.locator(".donation-plot canvas").nth(15).wait_for(timeout=10000)
        assert await page.locator(".donation-plot canvas").count() == 16
        assert await page.locator(".donation-plot .u-legend").count() == 16
        await screenshot(page, "donation-analytics")
        assert errors == []


@pytest.mark.gen_test(timeout=120)
async def test_staff_reorder_an_assistants_answers_by_dragging_them(services, factory, db, base_url, http_server):
    space = await factory.space()
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    water = await campaign(services, factory, space=space, title={"en": "Water"})
    school = await campaign(services, factory, space=space, title={"en": "School books"}, category="education")
    nodes = [{"key": "start", "question": {"en": "What would you like to support?"},
              "buttons": [{"label": {"en": "Water"}, "to": f"campaign:{water['_id']}"},
                          {"label": {"en": "Books"}, "to": f"campaign:{school['_id']}"}]}]
    await assistant.save(db, admin, space, await assistant.clean(
        db, space, {"locales": ["en"], "default_locale": "en", "enabled": True, "nodes": nodes}))
    async with chromium() as browser:
        page = await signed_in_page(browser, base_url, admin["login"], factory.PASSWORD)
        errors = watch_errors(page)
        await page.goto(f"{base_url}/admin/spaces/{space['_id']}/assistant")
        rows = page.locator(".assistant-node").first.locator(".assistant-button")
        handle = rows.nth(1).locator(".drag-handle")
        await handle.wait_for()
        # Both answers on the screen: the first at its top.
        await rows.nth(0).evaluate("el => el.scrollIntoView()")
        source_box, target_box = await handle.bounding_box(), await rows.nth(0).bounding_box()
        await page.mouse.move(source_box["x"] + source_box["width"] / 2, source_box["y"] + source_box["height"] / 2)
        await page.mouse.down()
        for i in range(1, 13):
            await page.mouse.move(source_box["x"] + source_box["width"] / 2,
                                  source_box["y"] + (target_box["y"] + 4 - source_box["y"]) * i / 12)
            await page.wait_for_timeout(30)
        await page.mouse.up()
        assert await rows.nth(0).locator("input[type=number]").input_value() == "0"
        assert await rows.nth(0).locator("input[type=text]").input_value() == "Books"
        async with page.expect_navigation():
            await page.click(".assistant-editor > .actions button[type=submit]")
        saved = await assistant.get(db, space["_id"])
        assert [b["label"]["en"] for b in saved["nodes"][0]["buttons"]] == ["Books", "Water"]
        assert errors == []
