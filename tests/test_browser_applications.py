"""Applying for a free ticket in Chromium, and the staff approving it from the queue.

A teacher with no account finds the free type on the event's tickets page,
opens its application form, sees a conditional field appear for their
answer, attaches a file and sends it in Russian; a manager ticks it in the
queue and approves it; the applicant's address now has an account and a
ticket.  The application page is also shot on a phone in Hebrew (right to
left).  Every page is checked for labels, names and contrast.
"""
import pytest

from access import roles as R
from orders import applications
from registration import form_edit
from registration import forms as F
from tests.browser import chromium, screenshot, signed_in_page
from tests.orders_support import drain, quota, ticket_type, ticketed_event
from tests.support import translated
from tests.test_browser_screens import CHECKS

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EMAIL = "vera.teacher@example.org"


def teacher_form() -> list[dict]:
    return [
        {"id": "f_public", "type": F.SINGLE, "required": True,
         "label": {"ru": "Школа государственная?", "en": "Is the school public?", "he": "האם בית הספר ציבורי?"},
         "options": [{"value": "yes", "label": {"ru": "Да", "en": "Yes", "he": "כן"}},
                     {"value": "no", "label": {"ru": "Нет", "en": "No", "he": "לא"}}]},
        {"id": "f_school", "type": F.TEXT, "required": True,
         "label": {"ru": "Номер школы", "en": "School number", "he": "מספר בית הספר"},
         "condition": {"field": "f_public", "values": ["yes"]}},
        {"id": "f_proof", "type": F.FILE, "required": True,
         "label": {"ru": "Справка с работы", "en": "Proof of employment", "he": "אישור העסקה"},
         "extensions": ["pdf"], "max_bytes": 100_000},
    ]


@pytest.mark.gen_test(timeout=180)
async def test_apply_in_the_browser_and_be_approved_from_the_queue(services, factory, db, base_url, http_server):
    event, admin = await ticketed_event(services, factory, locales=("ru", "en", "he"))
    teacher = await ticket_type(services, event, admin, name="Учитель", by_application=True)
    await quota(services, event, admin, 10, teacher)
    await form_edit.save(db, admin, event, teacher_form(), expected_version=0,
                         kind=applications.form_kind(teacher["_id"]))
    space = await db.spaces.find_one({"_id": event["space_id"]})
    path = f"/e/{space['slug']}/{event['slug']}"
    apply_path = f"{path}/apply/{teacher['_id']}"
    manager = await factory.member(R.EVENT_MANAGER, event=event, locale="ru")
    ru = services.i18n.gettext("ru")
    problems: list[str] = []

    async with chromium() as chrome:
        context = await chrome.new_context(viewport={"width": 1280, "height": 900}, locale="ru")
        page = await context.new_page()
        await page.goto(base_url + path + "/tickets")
        async with page.expect_navigation():
            await page.click(f"a[href='{apply_path}']")
        await page.wait_for_selector("[data-form-fields][data-form-ready]")
        problems += ["apply: " + p for p in await page.evaluate(CHECKS)]
        school = page.locator("#ff-f_school")
        assert await school.is_hidden()
        await page.get_by_label("Да", exact=True).check()
        assert await school.is_visible()
        await page.fill("#apply-name", "Вера Учитель")
        await page.fill("#apply-email", EMAIL)
        await page.select_option("#apply-locale", "ru")
        await page.get_by_label("Номер школы").fill("57")
        await page.set_input_files("#ffi-f_proof", files=[{"name": "справка.pdf", "mimeType": "application/pdf",
                                                           "buffer": PDF}])
        async with page.expect_navigation():
            await page.click("form[enctype] button[type=submit]")
        status = page.locator("[data-application-state]")
        assert await status.get_attribute("data-application-state") == "pending"
        received = translated(services, "ru", "Your application is received. We will write to %(email)s when the "
                              "organisers decide.", email=EMAIL)
        assert await status.inner_text() == received
        problems += ["received: " + p for p in await page.evaluate(CHECKS)]
        await context.close()

        # The manager approves it from the queue, ticked in the list.
        page = await signed_in_page(chrome, base_url, manager["login"], factory.PASSWORD, locale="ru")
        await page.goto(base_url + f"/admin/events/{event['_id']}/applications")
        problems += ["queue: " + p for p in await page.evaluate(CHECKS)]
        await page.get_by_label(ru("Choose %(email)s") % {"email": EMAIL}).check()
        async with page.expect_navigation():
            await page.click(f"button:text('{ru('Approve the chosen applications')}')")
        approved = services.i18n.translations("ru").ngettext(
            "%(num)s application approved.", "%(num)s applications approved.", 1) % {"num": 1}
        assert approved == "1 заявка одобрена." and approved in await page.locator(".flash").first.inner_text()
        application = await db.applications.find_one({"email": EMAIL})
        assert application["state"] == "approved"
        await page.goto(base_url + f"/admin/events/{event['_id']}/applications/{application['_id']}")
        assert await page.locator("[data-application-state]").get_attribute("data-application-state") == "approved"
        problems += ["application: " + p for p in await page.evaluate(CHECKS)]
        await page.context.close()
        await drain(services)
        account = await db.users.find_one({"email": EMAIL})
        assert account and await db.memberships.find_one({"user_id": account["_id"], "scope_id": event["_id"],
                                                          "ticket_type_id": teacher["_id"]})

        # The form on a phone, in Hebrew: right to left, nothing wider than the screen.
        phone = await chrome.new_context(viewport={"width": 375, "height": 800}, locale="he")
        page = await phone.new_page()
        await page.goto(base_url + apply_path)
        await page.wait_for_selector("[data-form-fields][data-form-ready]")
        assert await page.evaluate("() => [document.documentElement.lang, document.documentElement.dir]") == \
            ["he", "rtl"]
        assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        problems += ["apply he phone: " + p for p in await page.evaluate(CHECKS)]
        await screenshot(page, "apply-he-phone")
        await phone.close()
    assert problems == []
