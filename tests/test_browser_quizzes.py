"""In Chromium: an attendee takes a timed quiz (countdown, keyboard answers, result), another one's answers
go by themselves when the clock runs out, and the admin's results page shows both."""
import datetime
import re

import pytest

from access import roles as R
from core.clock import utcnow
from events import view
from quizzes import authoring
from tests.browser import chromium, screenshot, signed_in_page

QUESTIONS = [
    {"kind": "single", "text": {"ru": "Какой город — столица Латвии?", "en": "Which city is the capital of Latvia?",
                                "he": "איזו עיר היא בירת לטביה?"},
     "options": [{"text": {"ru": "Рига", "en": "Riga", "he": "ריגה"}, "correct": True},
                 {"text": {"ru": "Таллин", "en": "Tallinn", "he": "טאלין"}},
                 {"text": {"ru": "Вильнюс", "en": "Vilnius", "he": "וילנה"}}]},
    {"kind": "multiple", "text": {"ru": "Какие из чисел чётные?", "en": "Which numbers are even?",
                                  "he": "אילו מהמספרים זוגיים?"},
     "options": [{"text": {"ru": "2", "en": "2", "he": "2"}, "correct": True},
                 {"text": {"ru": "3", "en": "3", "he": "3"}},
                 {"text": {"ru": "4", "en": "4", "he": "4"}, "correct": True}]},
]


async def clock_seconds(page) -> int:
    text = (await page.text_content("#quiz-clock")).strip()
    parts = [int(p) for p in text.split(":")]
    return sum(v * 60 ** i for i, v in enumerate(reversed(parts)))


@pytest.mark.gen_test(timeout=150)
async def test_attendee_takes_a_timed_quiz_and_the_admin_sees_the_score(factory, db, services, base_url, http_server):
    event = await factory.event(locales=("ru", "en", "he"))
    space = await db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_MANAGER, event=event, locale="en", name="Alex Admin")
    anna = await factory.member(R.ATTENDEE, event=event, locale="ru", name="Анна Иванова")
    dana = await factory.member(R.ATTENDEE, event=event, locale="he", name="Dana Levi")
    quiz = await authoring.create(db, admin, event, title={"ru": "Разминка", "en": "Warm-up", "he": "חימום"},
                                  intro={"ru": "Два вопроса, две минуты.", "en": "Two questions, two minutes."},
                                  time_limit_seconds=120, questions=QUESTIONS)
    quiz = await authoring.set_status(db, admin, event, quiz, authoring.OPEN)
    ru = services.i18n.gettext("ru")
    path = view.path(space, event)

    async with chromium() as chrome:
        # Anna, on a phone: from the event page to the quiz.
        page = await signed_in_page(chrome, base_url, anna["login"], factory.PASSWORD, width=375)
        await page.goto(base_url + path)
        await page.click(f'a[href="{path}/quizzes"]')
        await page.wait_for_selector(".quiz-entry")
        await page.click(".quiz-entry h2 a")
        await page.wait_for_selector(f'form[action="{path}/quizzes/{quiz["_id"]}/start"]')
        assert await page.locator(".quiz-choice").count() == 0   # no questions before the start
        await screenshot(page, "quiz-start-ru-phone")
        await page.click('form[action$="/start"] button')
        await page.wait_for_selector("#quiz-clock")

        # The countdown runs on the page, from the server's 2:00.
        first = await clock_seconds(page)
        assert 110 <= first <= 120
        await page.wait_for_function("(s) => { const t = document.querySelector('#quiz-clock').textContent.split(':');"
                                     " return Number(t[0]) * 60 + Number(t[1]) < s; }", arg=first, timeout=5000)
        assert await page.get_attribute("#quiz-clock", "role") == "timer"
        legends = await page.locator(".quiz-q legend").all_inner_texts()
        assert len(legends) == 2 and "Какой город — столица Латвии?" in legends[0]
        # Nothing on the page says which answers are right.
        assert await page.locator(".is-correct").count() == 0
        await screenshot(page, "quiz-take-ru-phone")

        # Answers with the keyboard: Space picks the focused radio or checkbox.
        q0, q1 = quiz["questions"]
        await page.focus(f'#a-{q0["id"]}-{q0["options"][0]["id"]}')
        await page.keyboard.press("Space")
        await page.focus(f'#a-{q1["id"]}-{q1["options"][0]["id"]}')
        await page.keyboard.press("Space")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Space")
        assert await page.is_checked(f'#a-{q0["id"]}-{q0["options"][0]["id"]}')
        assert await page.is_checked(f'#a-{q1["id"]}-{q1["options"][2]["id"]}')
        await page.set_viewport_size({"width": 1280, "height": 900})
        await screenshot(page, "quiz-take-ru-desktop")
        await page.click(".quiz-send button[type=submit]")
        await page.wait_for_selector("#result .quiz-score")
        assert await page.text_content("#result .quiz-score") == ru("%(score)s of %(max)s") % {"score": 2, "max": 2}
        assert await page.locator(".quiz-review-q.is-right").count() == 2
        assert await page.locator(".quiz-review-options li.is-chosen.is-correct").count() == 3
        await screenshot(page, "quiz-result-ru-desktop")
        await page.set_viewport_size({"width": 375, "height": 800})
        await screenshot(page, "quiz-result-ru-phone")

        # Dana reads Hebrew, answers one question and lets the clock run out: the page sends it by itself.
        other = await signed_in_page(chrome, base_url, dana["login"], factory.PASSWORD, width=375)
        await other.goto(f"{base_url}{path}/quizzes/{quiz['_id']}")
        await other.click('form[action$="/start"] button')
        await other.wait_for_selector("#quiz-clock")
        assert await other.get_attribute("html", "dir") == "rtl"
        attempt = await db.quiz_attempts.find_one({"user_id": dana["_id"]})
        await db.quiz_attempts.update_one({"_id": attempt["_id"]}, {"$set": {
            "deadline": utcnow() + datetime.timedelta(seconds=4)}})
        await other.reload()
        await other.wait_for_selector("#quiz-clock")
        assert await clock_seconds(other) <= 4
        await other.check(f'#a-{q0["id"]}-{q0["options"][0]["id"]}')
        await screenshot(other, "quiz-take-he-phone")
        await other.wait_for_selector("#result .quiz-score", timeout=15000)
        stored = await db.quiz_attempts.find_one({"_id": attempt["_id"]})
        assert (stored["score"], stored["late"]) == (1, False)
        await screenshot(other, "quiz-result-he-phone")

        # The admin's results page.
        staff = await signed_in_page(chrome, base_url, admin["login"], factory.PASSWORD, width=1280)
        await staff.goto(f"{base_url}/admin/events/{event['_id']}/quizzes")
        await staff.click(f'a[href$="/{quiz["_id"]}/results"]')
        await staff.wait_for_selector(".quiz-people")
        assert (await staff.text_content('[data-stat="finished"]')).strip() == "2"
        rows = await staff.locator(".quiz-people tbody tr").all_inner_texts()
        assert "Анна Иванова" in rows[0] and re.search(r"2 of 2", rows[0])
        assert "Dana Levi" in rows[1] and re.search(r"1 of 2", rows[1])
        percents = await staff.locator("[data-percent]").evaluate_all("els => els.map(e => e.dataset.percent)")
        assert percents == ["100", "50"]
        await screenshot(staff, "quiz-results-admin-desktop")
        await staff.set_viewport_size({"width": 375, "height": 800})
        await screenshot(staff, "quiz-results-admin-phone")
        # The editor of a quiz people have taken: texts only.
        await staff.set_viewport_size({"width": 1280, "height": 900})
        await staff.goto(f"{base_url}/admin/events/{event['_id']}/quizzes/{quiz['_id']}/edit")
        assert await staff.locator("#add-question").count() == 0
        await screenshot(staff, "quiz-edit-admin-desktop")

        # A new quiz from the keyboard: "Add a question" brings a row and puts the cursor in it.
        await staff.goto(f"{base_url}/admin/events/{event['_id']}/quizzes/new")
        await staff.focus("#add-question")
        await staff.keyboard.press("Enter")
        await staff.wait_for_selector("#q-1-text-ru")
        assert await staff.evaluate("document.activeElement.id") == "q-1-text-ru"
        await staff.keyboard.type("Второй вопрос")
        await staff.focus("#q-1-add-option")
        await staff.keyboard.press("Enter")
        await staff.wait_for_selector("#q-1-o-2-text-ru")
        assert await staff.evaluate("document.activeElement.id") == "q-1-o-2-text-ru"
        assert await staff.input_value("#q-1-text-ru") == "Второй вопрос"
        assert await db.quizzes.count_documents({}) == 1
        await staff.set_viewport_size({"width": 375, "height": 800})
        await screenshot(staff, "quiz-new-admin-phone")
