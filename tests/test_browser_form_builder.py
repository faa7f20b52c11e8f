"""In Chromium: an organiser builds a registration form with a conditional field through the builder,
orders the fields by drag and drop (SortableJS), and the preview shows the conditional field only when
its condition is met."""
import pytest

from access import roles as R
from registration import forms as F
from tests.browser import chromium, screenshot, signed_in_page


async def add_field(page, kind: str, label: str) -> None:
    await page.select_option("#fb-new-type", kind)
    await page.fill("#fb-new-label", label)
    await page.click("button[name=op][value=add]")
    await page.wait_for_selector("#edit-field")


@pytest.mark.gen_test(timeout=120)
async def test_build_a_form_with_a_condition_reorder_it_and_preview_it(factory, db, base_url, http_server):
    event = await factory.event(locales=("en", "ru"))
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="en")
    base = f"/admin/events/{event['_id']}/form"

    async with chromium() as chrome:
        page = await signed_in_page(chrome, base_url, admin["login"], factory.PASSWORD)
        await page.goto(base_url + base)
        # The staff navigation leads here.
        assert await page.locator(f'.admin-menu a[href="{base}"]').count() == 1

        await add_field(page, F.SINGLE, "Are you a teacher?")
        # The new choice field comes with two options: name them in both languages.
        await page.fill("#fb-label-ru", "Вы преподаватель?")
        options = page.locator(".form-builder-option")
        await options.nth(0).locator("input[name=opt_en]").fill("Yes")
        await options.nth(0).locator("input[name=opt_ru]").fill("Да")
        await options.nth(1).locator("input[name=opt_en]").fill("No")
        await options.nth(1).locator("input[name=opt_ru]").fill("Нет")
        # Only the settings of a choice field are shown.
        assert await page.locator("fieldset[data-for='number']").is_hidden()
        await page.click("#edit-field button[name=op][value=save_field]:not(.visually-hidden)")
        await page.wait_for_selector(".flash")

        await add_field(page, F.TEXT, "Your school")
        await page.check("#fb-required")
        form = await F.load(db, event["_id"])
        choice = form["fields"][0]
        yes = choice["options"][0]["value"]
        await page.select_option("#fb-cond", choice["id"])
        await page.check(f"fieldset[data-cond-for='{choice['id']}'] input[value='{yes}']")
        await page.click("#edit-field button[name=op][value=save_field]:not(.visually-hidden)")
        await page.wait_for_selector(".flash")

        await add_field(page, F.EMAIL, "Work email")
        await page.goto(base_url + base)
        form = await F.load(db, event["_id"])
        school = form["fields"][1]
        assert school["condition"] == {"field": choice["id"], "values": [yes]} and school["required"]

        # Drag "Work email" to the top: the order is saved by itself.
        rows = page.locator("#form-fields > li")
        assert await rows.count() == 3
        handle = rows.nth(2).locator(".drag-handle")
        target = rows.nth(0)
        assert await handle.is_visible()
        source_box, target_box = await handle.bounding_box(), await target.bounding_box()
        await page.mouse.move(source_box["x"] + source_box["width"] / 2, source_box["y"] + source_box["height"] / 2)
        await page.mouse.down()
        steps = 12
        for i in range(1, steps + 1):
            await page.mouse.move(source_box["x"] + source_box["width"] / 2,
                                  source_box["y"] + (target_box["y"] + 4 - source_box["y"]) * i / steps)
            await page.wait_for_timeout(30)
        async with page.expect_navigation():
            await page.mouse.up()
        form = await F.load(db, event["_id"])
        assert [f["label"]["en"] for f in form["fields"]] == ["Work email", "Are you a teacher?", "Your school"]
        labels = await page.locator("#form-fields .form-builder-label strong").all_inner_texts()
        assert labels == ["Work email", "Are you a teacher?", "Your school"]

        # The keyboard way: move "Work email" down one step with its button.
        await page.focus(f"button[value='down:{form['fields'][0]['id']}']")
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        form = await F.load(db, event["_id"])
        assert [f["label"]["en"] for f in form["fields"]][:2] == ["Are you a teacher?", "Work email"]

        # The preview: the school appears only while "Yes" is chosen.
        preview = page.locator("[data-preview]")
        school_box = preview.locator(f"#ff-{school['id']}")
        assert await school_box.is_hidden()
        await preview.locator(f"#ff-{choice['id']}-{yes}").check()
        assert await school_box.is_visible()
        assert await preview.locator(f"#ffi-{school['id']}").get_attribute("required") is not None
        await screenshot(page, "form-builder-preview")
        await preview.locator(f"#ff-{choice['id']}-{choice['options'][1]['value']}").check()
        assert await school_box.is_hidden()
        assert await preview.locator(f"#ffi-{school['id']}").is_disabled()

        # The preview in Russian.
        await page.goto(base_url + base + "?preview=ru#preview")
        assert "Вы преподаватель?" in await page.locator("[data-preview]").inner_text()
