"""The registration journey in Chromium, with mail over real SMTP.

A new person (no account) finds a public event's page, clicks Register, sees
a conditional field appear only while its triggering answer is chosen, is
refused once with the conditional field empty (a translated error by that
field, the focus on it, nothing stored), fixes it, attaches a file, reads the
confirmation mail, opens its link in the same browser, confirms, and is
registered and signed in, with every answer stored under its field's
version and the file readable by them.  Then a second event whose form asks
only what their profile now holds: "I'm going", one click, registered.
The register page is also shot on a phone in Hebrew (right to left) and
checked for labels, names and contrast.
"""
import asyncio
import re

import pytest

from access import roles as R
from access import rules
from registration import form_edit
from registration import forms as F
from tests.browser import chromium, screenshot
from tests.support import translated
from tests.test_browser_screens import CHECKS
from tests.test_catalogue import make_event
from tests.test_mailer import body, settings, smtp_server  # noqa: F401 (the fixtures)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
LINK = re.compile(r"(https?://\S+)?(/register/confirm\?token=[A-Za-z0-9_-]+)")
EMAIL = "dana.new@example.org"


def field(fid, kind, label: dict, **more) -> dict:
    return {"id": fid, "type": kind, "label": label, "required": True, **more}


def opt(value, label: dict) -> dict:
    return {"value": value, "label": label}


def journey_form() -> list[dict]:
    """A choice, a field shown (and then required) only for one of its answers, a file, profile fields."""
    return [
        field("f_role", F.SINGLE, {"ru": "Вы преподаватель?", "en": "Are you a teacher?", "he": "האם אתה מורה?"},
              options=[opt("teacher", {"ru": "Да", "en": "Yes", "he": "כן"}),
                       opt("student", {"ru": "Нет", "en": "No", "he": "לא"})]),
        field("f_school", F.TEXT, {"ru": "Ваша школа", "en": "Your school", "he": "בית הספר שלך"},
              condition={"field": "f_role", "values": ["teacher"]}),
        field("f_company", F.TEXT, {"ru": "Организация", "en": "Organisation", "he": "ארגון"},
              profile_key="company"),
        field("f_phone", F.PHONE, {"ru": "Телефон", "en": "Phone", "he": "טלפון"}, profile_key="phone"),
        field("f_cv", F.FILE, {"ru": "Резюме", "en": "CV", "he": "קורות חיים"}, extensions=["pdf"],
              max_bytes=100_000),
    ]


def profile_form() -> list[dict]:
    """Only what a profile can answer: the account's name, and the keys the first form filled."""
    return [
        field("f_full_name", F.TEXT, {"ru": "Имя", "en": "Name"}, profile_key="name"),
        field("f_org", F.TEXT, {"ru": "Организация", "en": "Organisation"}, profile_key="company"),
        field("f_tel", F.PHONE, {"ru": "Телефон", "en": "Phone"}, profile_key="phone"),
        field("f_diet", F.TEXT, {"ru": "Питание", "en": "Diet"}, required=False),
    ]


async def open_event_with_form(db, factory, space, admin, fields, locales, title) -> tuple[dict, dict]:
    event = await make_event(factory, db, space, level=rules.PUBLIC, locales=locales, open_registration=True,
                             title=title)
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"registration.capacity": 20}})
    form = await form_edit.save(db, admin, event, fields, expected_version=0)
    return await db.events.find_one({"_id": event["_id"]}), form


async def mail_to(smtp_server, address: str, seconds: float = 15):
    for _ in range(int(seconds * 10)):
        found = [msg for rcpts, msg in smtp_server.handler.messages() if address in rcpts]
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no mail to {address} within {seconds} s")


async def stored(db) -> dict:
    return {name: await db[name].count_documents({})
            for name in ("users", "memberships", "registration_files", "registration_file_chunks", "tokens")}


@pytest.mark.gen_test(timeout=180)
async def test_register_with_a_conditional_field_and_a_file_then_one_click(
        services, factory, db, base_url, http_server, smtp_server):
    space = await factory.space("open")
    organiser = await factory.user(platform_admin=True)
    event, form = await open_event_with_form(db, factory, space, organiser, journey_form(), ("ru", "en", "he"),
                                             {"ru": "Учительская конференция", "en": "Teachers' conference",
                                              "he": "כנס מורים"})
    second, second_form = await open_event_with_form(db, factory, space, organiser, profile_form(), ("ru", "en"),
                                                     {"ru": "Вечерний семинар", "en": "Evening seminar"})
    about = f"/e/{space['slug']}/{event['slug']}/about"
    register = f"/e/{space['slug']}/{event['slug']}/register"
    ru = services.i18n.gettext("ru")
    problems: list[str] = []

    async with chromium() as chrome:
        context = await chrome.new_context(viewport={"width": 1280, "height": 900}, locale="ru")
        page = await context.new_page()
        await page.goto(base_url + about)
        await page.click(f"a.btn[href='{register}']")
        await page.wait_for_url("**" + register)
        await page.wait_for_selector("[data-form-fields][data-form-ready]")
        assert await page.locator("h1").inner_text() == "Учительская конференция"
        problems += ["register: " + p for p in await page.evaluate(CHECKS)]
        assert await page.locator("form[action$='/one-click']").count() == 0  # nobody signed in

        # The conditional field: hidden until "Yes" is chosen, hidden again on "No".
        school, school_input = page.locator("#ff-f_school"), page.locator("#ffi-f_school")
        assert await school.is_hidden()
        await page.get_by_label("Да", exact=True).check()
        assert await school.is_visible() and await school_input.is_enabled()
        assert await page.get_by_label("Ваша школа").is_visible()  # labelled
        await page.get_by_label("Нет", exact=True).check()
        assert await school.is_hidden() and await school_input.is_disabled()
        await page.get_by_label("Да", exact=True).check()

        # Submitted with the shown conditional field empty (and no file yet): refused by field, nothing stored.
        await page.fill("#register-name", "Дана Новая")
        await page.fill("#register-email", EMAIL)
        await page.get_by_label("Организация").fill("Школа №5")
        await page.get_by_label("Телефон").fill("+371 2000 0000")
        before = await stored(db)
        async with page.expect_navigation():
            await page.click("form[enctype] button[type=submit]")
        assert await stored(db) == before
        assert await page.locator("#ffe-f_school").inner_text() == ru(F.REQUIRED)
        assert await page.locator("#ffe-f_cv").inner_text() == ru(F.REQUIRED_FILE)
        assert await page.locator("#ffe-f_company").count() == 0
        summary = page.locator("p.error-message[role=alert]")
        assert await summary.inner_text() == ru("Please correct the answers marked below.")
        # The error is read with its field, and the focus waits on the first field to fix.
        assert await school_input.get_attribute("aria-invalid") == "true"
        assert "ffe-f_school" in (await school_input.get_attribute("aria-describedby")).split()
        assert await page.evaluate("() => document.activeElement && document.activeElement.id") == "ffi-f_school"
        # What was given comes back: the choice (so the field is still shown), the texts.
        assert await page.get_by_label("Да", exact=True).is_checked() and await school.is_visible()
        assert await page.input_value("#register-email") == EMAIL
        assert await page.get_by_label("Организация").input_value() == "Школа №5"

        # Fixed, with the file attached.
        await school_input.fill("Гимназия 1")
        await page.set_input_files("#ffi-f_cv", files=[{"name": "cv.pdf", "mimeType": "application/pdf",
                                                        "buffer": PDF}])
        async with page.expect_navigation():
            await page.click("form[enctype] button[type=submit]")
        sent = translated(services, "ru", "Almost done: we have sent a link to %(email)s. Open it to confirm "
                          "your address; your registration counts from then on.", email=EMAIL)
        assert sent.replace("&#39;", "'") in await page.locator("p[role=status]").inner_text()
        membership = await db.memberships.find_one({"email": EMAIL, "scope_id": event["_id"]})
        assert membership["state"] == "unconfirmed"

        # The mail, over SMTP; its link opened in the same browser.
        (mail,) = await mail_to(smtp_server, EMAIL)
        found = LINK.search(body(mail, "plain"))
        assert found, body(mail, "plain")
        await page.goto(base_url + found.group(2))
        assert membership == await db.memberships.find_one({"_id": membership["_id"]})  # opening changes nothing
        async with page.expect_navigation():
            await page.click("form[action^='/register/confirm'] button[type=submit]")
        await page.wait_for_url("**" + register)
        state = page.locator("[data-registration-state]")
        assert await state.get_attribute("data-registration-state") == "registered"
        assert ru("Your address is confirmed and you are registered.") in await page.locator(".flash").first.inner_text()
        account = await db.users.find_one({"email": EMAIL})
        assert account["name"] == "Дана Новая"
        assert await db.sessions.count_documents({"user_id": account["_id"]}) == 1

        m = await db.memberships.find_one({"_id": membership["_id"]})
        assert (m["state"], m["source"], m["form_version"]) == ("registered", "form", form["version"])
        versions = {f["id"]: f["v"] for f in form["fields"]}
        cv = m["answers"]["f_cv"]["value"]
        assert {k: a for k, a in m["answers"].items() if k != "f_cv"} == {
            "f_role": {"v": versions["f_role"], "value": "teacher"},
            "f_school": {"v": versions["f_school"], "value": "Гимназия 1"},
            "f_company": {"v": versions["f_company"], "value": "Школа №5"},
            "f_phone": {"v": versions["f_phone"], "value": "+371 2000 0000"},
        }
        assert m["answers"]["f_cv"]["v"] == versions["f_cv"]
        assert (cv["name"], cv["size"], cv["type"]) == ("cv.pdf", len(PDF), "application/pdf")
        # The file is theirs: signed in now, they download exactly what they attached.
        download = await page.request.get(base_url + f"/files/{cv['file']}")
        assert download.status == 200 and await download.body() == PDF
        assert download.headers["content-disposition"].startswith("attachment")
        assert account["profile"] == {"company": "Школа №5", "phone": "+371 2000 0000"}

        # The second event asks only what the profile holds: "I'm going", one click.
        second_register = f"/e/{space['slug']}/{second['slug']}/register"
        await page.goto(base_url + f"/e/{space['slug']}/{second['slug']}/about")
        await page.click(f"a.btn[href='{second_register}']")
        await page.wait_for_url("**" + second_register)
        going = page.locator("form[action$='/one-click'] button[type=submit]")
        assert await going.inner_text() == ru("I'm going")
        # The form below is filled in from the profile, for whoever checks first.
        assert await page.get_by_label("Организация").input_value() == "Школа №5"
        problems += ["one-click: " + p for p in await page.evaluate(CHECKS)]
        before = await stored(db)
        async with page.expect_navigation():
            await going.click()
        assert await page.locator("[data-registration-state]").get_attribute("data-registration-state") == \
            "registered"
        one = await db.memberships.find_one({"user_id": account["_id"], "scope_id": second["_id"]})
        assert (one["state"], one["source"], one["form_version"]) == ("registered", "one_click",
                                                                       second_form["version"])
        assert {k: a["value"] for k, a in one["answers"].items()} == {
            "f_full_name": "Дана Новая", "f_org": "Школа №5", "f_tel": "+371 2000 0000"}
        after = await stored(db)
        assert after["memberships"] == before["memberships"] + 1 and after["users"] == before["users"]
        assert await db.memberships.count_documents({"user_id": account["_id"], "role": R.ATTENDEE}) == 2
        await context.close()

        # The register page on a phone, in Hebrew (right to left), with the conditional field shown.
        phone = await chrome.new_context(viewport={"width": 375, "height": 800}, locale="he")
        page = await phone.new_page()
        await page.goto(base_url + register)
        await page.wait_for_selector("[data-form-fields][data-form-ready]")
        assert await page.evaluate("() => [document.documentElement.lang, document.documentElement.dir]") == \
            ["he", "rtl"]
        await page.get_by_label("כן", exact=True).check()
        assert await page.get_by_label("בית הספר שלך").is_visible()
        assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        # The phone field is as wide as the others, and a number reads left to right (+ in front).
        widths = await page.evaluate("""() => ['#ffi-f_phone', '#ffi-f_company', '#register-email'].map(
            s => [document.querySelector(s).getBoundingClientRect().width,
                  getComputedStyle(document.querySelector(s)).direction])""")
        assert widths[0][0] == widths[1][0] and [w[1] for w in widths] == ["ltr", "rtl", "ltr"], widths
        problems += ["register he phone: " + p for p in await page.evaluate(CHECKS)]
        await screenshot(page, "register-he-phone")
        await phone.close()
    assert problems == []
