"""Quizzes: authoring and its validation, open/close/delete, taking a quiz once, the server-side deadline,
scoring, results and CSV, and who may see what."""
import csv
import datetime
import io
import re
from html.parser import HTMLParser

import pytest

from access import roles as R
from core.clock import utcnow
from events import view
from quizzes import authoring, taking
from tests.support import error_text, translated


async def signed_in(factory, browser, event, role=R.ATTENDEE, **kwargs):
    user = await factory.member(role, event=event, **kwargs)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return user, b


def quiz_form(**over):
    """Two questions for an event in ru (default) and en: a single choice and a multiple choice."""
    data = {
        "title_ru": "Проверка", "title_en": "Check-up", "intro_ru": "", "intro_en": "A short test.",
        "limit_minutes": "", "limit_seconds": "", "question_count": "2", "op": "save",
        "q-0-id": "", "q-0-kind": "single", "q-0-text_ru": "Столица Латвии?", "q-0-text_en": "Capital of Latvia?",
        "q-0-option_count": "3",
        "q-0-o-0-id": "", "q-0-o-0-text_ru": "Рига", "q-0-o-0-text_en": "Riga",
        "q-0-o-1-id": "", "q-0-o-1-text_ru": "Таллин", "q-0-o-1-text_en": "Tallinn",
        "q-0-o-2-id": "", "q-0-o-2-text_ru": "Вильнюс", "q-0-o-2-text_en": "Vilnius",
        "q-0-correct": ["0"],
        "q-1-id": "", "q-1-kind": "multiple", "q-1-text_ru": "Чётные числа?", "q-1-text_en": "Even numbers?",
        "q-1-option_count": "3",
        "q-1-o-0-id": "", "q-1-o-0-text_ru": "2", "q-1-o-0-text_en": "two",
        "q-1-o-1-id": "", "q-1-o-1-text_ru": "3", "q-1-o-1-text_en": "three",
        "q-1-o-2-id": "", "q-1-o-2-text_ru": "4", "q-1-o-2-text_en": "four",
        "q-1-correct": ["0", "2"],
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


class _Fields(HTMLParser):
    """What a browser would send for the quiz form: inputs, checked boxes, textareas."""

    def __init__(self):
        super().__init__()
        self.fields, self._textarea = {}, None

    def add(self, name, value):
        if name in self.fields:
            old = self.fields[name]
            self.fields[name] = (old if isinstance(old, list) else [old]) + [value]
        else:
            self.fields[name] = value

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") != "submit":
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.add(a["name"], a.get("value", ""))
        elif tag == "textarea":
            self._textarea = [a["name"], ""]

    def handle_data(self, data):
        if self._textarea:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea:
            self.add(*self._textarea)
            self._textarea = None


def form_fields(html: str) -> dict:
    parser = _Fields()
    parser.feed(html[html.index('class="quiz-form"'):])
    fields = parser.fields
    fields.pop("_xsrf", None)
    return fields


QUESTIONS = [
    {"kind": "single", "text": {"ru": "Столица Латвии?", "en": "Capital of Latvia?"},
     "options": [{"text": {"ru": "Рига", "en": "Riga"}, "correct": True},
                 {"text": {"ru": "Таллин", "en": "Tallinn"}},
                 {"text": {"ru": "Вильнюс", "en": "Vilnius"}}]},
    {"kind": "multiple", "text": {"ru": "Чётные числа?", "en": "Even numbers?"},
     "options": [{"text": {"ru": "2", "en": "two"}, "correct": True},
                 {"text": {"ru": "3", "en": "three"}},
                 {"text": {"ru": "4", "en": "four"}, "correct": True}]},
]


async def make_quiz(db, actor, event, status="open", limit=None, questions=QUESTIONS):
    quiz = await authoring.create(db, actor, event, title={"ru": "Проверка", "en": "Check-up"},
                                  intro={"en": "A short test."}, time_limit_seconds=limit, questions=questions)
    if status != authoring.DRAFT:
        quiz = await authoring.set_status(db, actor, event, quiz, authoring.OPEN)
    if status == authoring.CLOSED:
        quiz = await authoring.set_status(db, actor, event, quiz, authoring.CLOSED)
    return quiz


def answers(quiz, first: list[int], second: list[int]) -> dict:
    q0, q1 = quiz["questions"]
    return {f"answer-{q0['id']}": [q0["options"][i]["id"] for i in first],
            f"answer-{q1['id']}": [q1["options"][i]["id"] for i in second]}


async def setup(factory, db, **kwargs):
    event = await factory.event(locales=("ru", "en"))
    space = await db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_MANAGER, event=event)
    quiz = await make_quiz(db, admin, event, **kwargs)
    return event, space, admin, quiz


async def snapshot(db):
    return {"quizzes": await db.quizzes.find({}).sort("_id", 1).to_list(None),
            "attempts": await db.quiz_attempts.find({}).sort("_id", 1).to_list(None),
            "audit": await db.audit.count_documents({})}


# --- authoring ------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=40)
async def test_staff_write_a_quiz_with_row_buttons_and_edit_it_with_audit(factory, browser, db, services):
    event = await factory.event(locales=("ru", "en"))
    user, b = await signed_in(factory, browser, event, role=R.EVENT_MANAGER)
    base = f"/admin/events/{event['_id']}/quizzes"

    r = await b.get(base)
    assert r.status_code == 200 and translated(services, "en", "No quizzes yet.") in r.text
    r = await b.get(base + "/new")
    assert r.status_code == 200 and 'name="title_ru"' in r.text and 'name="q-0-o-1-text_en"' in r.text
    assert 'name="title_de"' not in r.text   # one field per event language only

    # Row buttons re-show the form with one row more or less and save nothing.
    before = await snapshot(db)
    r = await b.post(base + "/new", quiz_form(op="add_question"))
    assert r.status_code == 200 and 'name="q-2-text_ru"' in r.text and 'id="q-2-text-ru"' in r.text
    assert re.search(r'id="q-2-text-ru"[^>]*autofocus', r.text)
    assert 'value="Capital of Latvia?"' in r.text   # what was typed stays
    r = await b.post(base + "/new", quiz_form(op="add_option-1"))
    assert r.status_code == 200 and 'name="q-1-o-3-text_en"' in r.text
    r = await b.post(base + "/new", quiz_form(op="remove_option-0-1"))
    assert r.status_code == 200 and 'name="q-0-o-2-text_en"' not in r.text and 'value="Vilnius"' in r.text
    assert 'value="Tallinn"' not in r.text
    r = await b.post(base + "/new", quiz_form(op="remove_question-0"))
    assert r.status_code == 200 and 'value="Capital of Latvia?"' not in r.text and 'value="Even numbers?"' in r.text
    assert (await b.post(base + "/new", quiz_form(op="remove_question-9"))).status_code == 400
    assert (await b.post(base + "/new", quiz_form(op="explode"))).status_code == 400
    assert await snapshot(db) == before

    r = await b.post(base + "/new", quiz_form(limit_minutes="2", limit_seconds="30"))
    assert r.status_code == 302 and r.headers["location"] == base
    quiz = await db.quizzes.find_one({"event_id": event["_id"]})
    assert quiz["status"] == "draft" and quiz["time_limit_seconds"] == 150
    assert quiz["title"] == {"ru": "Проверка", "en": "Check-up"} and quiz["intro"] == {"en": "A short test."}
    q0, q1 = quiz["questions"]
    assert q0["kind"] == "single" and [o["text"]["en"] for o in q0["options"]] == ["Riga", "Tallinn", "Vilnius"]
    assert q0["correct"] == [q0["options"][0]["id"]]
    assert q1["kind"] == "multiple" and q1["correct"] == [q1["options"][0]["id"], q1["options"][2]["id"]]
    assert len({q0["id"], q1["id"]}) == 2 and len({o["id"] for o in q0["options"]}) == 3
    entry = await db.audit.find_one({"action": "quiz_create"})
    assert entry["before"] is None and entry["after"]["questions"] == quiz["questions"]
    assert entry["actor_id"] == user["_id"] and entry["params"] == {"quiz_id": str(quiz["_id"])}

    listing = await b.get(base)
    assert "Check-up" in listing.text and 'data-confirm="' in listing.text
    # The edit form carries the ids: a saved edit keeps them.
    r = await b.get(f"{base}/{quiz['_id']}/edit")
    assert r.status_code == 200 and f'value="{q0["id"]}"' in r.text and f'value="{q1["options"][2]["id"]}"' in r.text
    edited = quiz_form(**{"q-0-id": q0["id"], "q-1-id": q1["id"], "q-0-text_en": "Capital of Latvia, please?",
                          "limit_minutes": "", "limit_seconds": "45"})
    for qi, q in enumerate((q0, q1)):
        for oi, o in enumerate(q["options"]):
            edited[f"q-{qi}-o-{oi}-id"] = o["id"]
    assert (await b.post(f"{base}/{quiz['_id']}/edit", edited)).status_code == 302
    after = await db.quizzes.find_one({"_id": quiz["_id"]})
    assert after["questions"][0]["text"]["en"] == "Capital of Latvia, please?" and after["time_limit_seconds"] == 45
    assert [q["id"] for q in after["questions"]] == [q0["id"], q1["id"]]
    assert after["questions"][1]["options"] == q1["options"]
    entry = await db.audit.find_one({"action": "quiz_update"})
    assert entry["before"]["time_limit_seconds"] == 150 and entry["after"]["time_limit_seconds"] == 45
    # Saving the same thing again writes nothing and logs nothing.
    audits = await db.audit.count_documents({})
    assert (await b.post(f"{base}/{quiz['_id']}/edit", edited)).status_code == 302
    assert await db.audit.count_documents({}) == audits


BROKEN = [
    ({"q-0-text_ru": ""}, "Question %(number)s: enter its text in %(language)s, the event's default language.",
     {"number": 1, "language": "Русский"}),
    ({"q-1-o-1-text_ru": ""},
     "Question %(number)s, option %(option)s: enter its text in %(language)s, the event's default language.",
     {"number": 2, "option": 2, "language": "Русский"}),
    ({"q-0-option_count": "1"}, "Question %(number)s needs at least two answer options.", {"number": 1}),
    ({"q-0-correct": ["0", "1"]}, "Question %(number)s is single choice: mark exactly one correct answer.",
     {"number": 1}),
    ({"q-0-correct": None}, "Question %(number)s is single choice: mark exactly one correct answer.",
     {"number": 1}),
    ({"q-1-correct": None}, "Question %(number)s is multiple choice: mark at least one correct answer.",
     {"number": 2}),
    ({"q-1-kind": "essay"}, "Question %(number)s: choose single or multiple choice.", {"number": 2}),
    ({"limit_seconds": "9"}, "The time limit must be between 10 seconds and 3 hours.", {}),
    ({"limit_minutes": "180", "limit_seconds": "1"}, "The time limit must be between 10 seconds and 3 hours.", {}),
    ({"limit_minutes": "0", "limit_seconds": "0"}, "The time limit must be between 10 seconds and 3 hours.", {}),
    ({"limit_minutes": "two"}, "Enter the time limit as whole minutes and seconds.", {}),
    ({"question_count": "0"}, "Add at least one question.", {}),
    ({"title_ru": ""}, "Enter the title in the default language.", {}),
]


@pytest.mark.gen_test(timeout=40)
async def test_refused_quizzes_say_why_and_change_nothing(factory, browser, db, services):
    event = await factory.event(locales=("ru", "en"))
    _, b = await signed_in(factory, browser, event, role=R.EVENT_ADMIN)
    base = f"/admin/events/{event['_id']}/quizzes"
    assert (await b.post(base + "/new", quiz_form())).status_code == 302
    quiz = await db.quizzes.find_one({})
    before = await snapshot(db)
    for change, message, params in BROKEN:
        for path in (base + "/new", f"{base}/{quiz['_id']}/edit"):
            r = await b.post(path, quiz_form(**change))
            assert r.status_code == 400, (change, path)
            assert error_text(r.text) == translated(services, "en", message, **params), (change, error_text(r.text))
            # The form comes back with what was typed.
            assert 'value="Check-up"' in r.text
    # The same message in the reader's language.
    _, rb = await signed_in(factory, browser, event, role=R.EVENT_ADMIN, locale="ru")
    r = await rb.post(base + "/new", quiz_form(**{"q-0-option_count": "1"}))
    assert error_text(r.text) == translated(services, "ru", "Question %(number)s needs at least two answer options.",
                                            number=1)
    assert await snapshot(db) == before


# --- status and deletion ---------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=40)
async def test_open_close_and_delete_rules(factory, browser, db, services):
    event, space, admin, quiz = await setup(factory, db, status="draft")
    _, sb = await signed_in(factory, browser, event, role=R.EVENT_ADMIN)
    base = f"/admin/events/{event['_id']}/quizzes"
    attendee, ab = await signed_in(factory, browser, event)
    public = view.path(space, event)

    # A draft exists for nobody on the attendee side; the event page has no link yet.
    assert (await ab.get(f"{public}/quizzes/{quiz['_id']}")).status_code == 404
    assert (await sb.get(f"{public}/quizzes/{quiz['_id']}")).status_code == 404
    assert "Check-up" not in (await ab.get(f"{public}/quizzes")).text
    assert f'href="{public}/quizzes"' not in (await ab.get(public)).text
    assert (await ab.post(f"{public}/quizzes/{quiz['_id']}/start")).status_code == 404
    assert await db.quiz_attempts.count_documents({}) == 0

    before = await snapshot(db)
    r = await sb.post(f"{base}/{quiz['_id']}/status", {"status": "closed"})   # a draft cannot be closed
    assert r.status_code == 400 and translated(services, "en", "Only an open quiz can be closed.") in r.text
    assert (await sb.post(f"{base}/{quiz['_id']}/status", {"status": "archived"})).status_code == 400
    assert await snapshot(db) == before

    assert (await sb.post(f"{base}/{quiz['_id']}/status", {"status": "open"})).status_code == 302
    assert (await db.quizzes.find_one({"_id": quiz["_id"]}))["status"] == "open"
    entry = await db.audit.find_one({"action": "quiz_open"})
    assert entry["before"]["status"] == "draft" and entry["after"]["status"] == "open"
    assert f'href="{public}/quizzes"' in (await ab.get(public)).text
    assert "Check-up" in (await ab.get(f"{public}/quizzes")).text
    assert (await ab.post(f"{public}/quizzes/{quiz['_id']}/start")).status_code == 302

    # Taken and open: it cannot be deleted; the list offers no delete button.
    before = await snapshot(db)
    r = await sb.post(f"{base}/{quiz['_id']}/delete")
    assert r.status_code == 409
    assert translated(services, "en", "People have taken this quiz: close it before deleting it. "
                                      "Its results are deleted with it.") in r.text
    assert f'{quiz["_id"]}/delete' not in (await sb.get(base)).text
    assert await snapshot(db) == before

    assert (await sb.post(f"{base}/{quiz['_id']}/status", {"status": "closed"})).status_code == 302
    assert (await db.audit.find_one({"action": "quiz_close"}))["after"]["status"] == "closed"
    # Closed: no link on the event page, no starts, no submissions.
    assert f'href="{public}/quizzes"' not in (await ab.get(public)).text
    late_user, lb = await signed_in(factory, browser, event)
    r = await lb.post(f"{public}/quizzes/{quiz['_id']}/start")
    assert r.status_code == 409 and translated(services, "en", "This quiz is not open.") in r.text
    r = await ab.post(f"{public}/quizzes/{quiz['_id']}/submit", answers(quiz, [0], [0, 2]))
    assert r.status_code == 409
    assert translated(services, "en", "This quiz is closed: answers are no longer accepted.") in r.text
    page = await ab.get(f"{public}/quizzes/{quiz['_id']}")
    assert page.status_code == 200 and translated(services, "en", "This quiz is closed.") in page.text

    assert f'{quiz["_id"]}/delete' in (await sb.get(base)).text
    r = await sb.post(f"{base}/{quiz['_id']}/delete")
    assert r.status_code == 302
    assert await db.quizzes.count_documents({}) == 0 and await db.quiz_attempts.count_documents({}) == 0
    entry = await db.audit.find_one({"action": "quiz_delete"})
    assert entry["params"]["attempts"] == 1 and entry["before"]["title"]["en"] == "Check-up" and entry["after"] is None
    assert (await sb.post(f"{base}/{quiz['_id']}/delete")).status_code == 404
    # A quiz nobody took can be deleted as it is.
    draft = await make_quiz(db, admin, event, status="draft")
    assert (await sb.post(f"{base}/{draft['_id']}/delete")).status_code == 302
    assert await db.quizzes.count_documents({}) == 0


@pytest.mark.gen_test(timeout=40)
async def test_once_started_only_texts_can_change(factory, browser, db, services):
    event, space, admin, quiz = await setup(factory, db, limit=60)
    _, sb = await signed_in(factory, browser, event, role=R.EVENT_MANAGER)
    attendee = await factory.member(R.ATTENDEE, event=event)
    await taking.start(db, quiz, attendee)
    edit = f"/admin/events/{event['_id']}/quizzes/{quiz['_id']}/edit"
    r = await sb.get(edit)
    assert r.status_code == 200 and 'value="add_question"' not in r.text and 'value="remove_question-0"' not in r.text
    # The locked form posts back the same structure: a translation goes through.
    form = form_fields(r.text)
    assert form["q-0-kind"] == "single" and form["q-1-correct"] == ["0", "2"] and "q-0-correct" in form
    form["q-0-text_en"] = "Which city is the capital of Latvia?"
    form["op"] = "save"
    r = await sb.post(edit, form)
    assert r.status_code == 302, error_text(r.text)
    stored = await db.quizzes.find_one({"_id": quiz["_id"]})
    assert stored["questions"][0]["text"]["en"] == "Which city is the capital of Latvia?"
    assert authoring.structure(stored) == authoring.structure(quiz)
    # Changing an answer, the limit or the rows is refused.
    before = await snapshot(db)
    for change in ({"q-0-correct": "1"}, {"limit_seconds": "30"}, {"q-1-kind": "single", "q-1-correct": "0"}):
        r = await sb.post(edit, {**form, **change})
        assert r.status_code == 400, change
        assert error_text(r.text) == translated(
            services, "en", "People have already started this quiz: you can correct and translate its texts, "
                            "but not change its questions, answers or time limit.")
    assert (await sb.post(edit, {**form, "op": "add_question"})).status_code == 400
    assert await snapshot(db) == before


# --- taking a quiz -----------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=40)
async def test_attendee_takes_a_quiz_once_and_sees_the_result(factory, browser, db, services):
    event, space, admin, quiz = await setup(factory, db)
    user, b = await signed_in(factory, browser, event)
    path = f"{view.path(space, event)}/quizzes/{quiz['_id']}"
    q0, q1 = quiz["questions"]

    listing = await b.get(view.path(space, event) + "/quizzes")
    assert listing.status_code == 200 and f'href="{path}"' in listing.text
    assert translated(services, "en", "Not taken yet") in listing.text
    page = await b.get(path)
    assert page.status_code == 200 and f'action="{path}/start"' in page.text
    assert "Riga" not in page.text   # questions appear once the clock starts
    # Sending answers before starting is refused.
    r = await b.post(path + "/submit", answers(quiz, [0], [0, 2]))
    assert r.status_code == 409 and await db.quiz_attempts.count_documents({}) == 0

    assert (await b.post(path + "/start")).status_code == 302
    attempt = await db.quiz_attempts.find_one({"user_id": user["_id"]})
    assert attempt["deadline"] is None and attempt["submitted_at"] is None and attempt["max_score"] == 2
    page = await b.get(path)
    assert f'type="radio" id="a-{q0["id"]}-{q0["options"][0]["id"]}" name="answer-{q0["id"]}"' in page.text
    assert f'type="checkbox" id="a-{q1["id"]}-{q1["options"][2]["id"]}" name="answer-{q1["id"]}"' in page.text
    assert "<fieldset" in page.text and "<legend>" in page.text and "data-seconds-left" not in page.text
    # Nothing tells which options are right before the answers are in.
    assert "is-correct" not in page.text and translated(services, "en", "Correct answer") not in page.text
    assert "quiz.js" not in page.text or "data-seconds-left" in page.text
    # A second start changes nothing.
    assert (await b.post(path + "/start")).status_code == 302
    assert await db.quiz_attempts.count_documents({}) == 1

    # Question 1 right; question 2 with one of its two right options only: wrong.
    r = await b.post(path + "/submit", answers(quiz, [0], [0]))
    assert r.status_code == 302 and r.headers["location"] == path + "#result"
    done = await db.quiz_attempts.find_one({"_id": attempt["_id"]})
    assert (done["score"], done["max_score"], done["late"]) == (1, 2, False)
    assert done["answers"] == {q0["id"]: [q0["options"][0]["id"]], q1["id"]: [q1["options"][0]["id"]]}
    assert done["correct_questions"] == [q0["id"]]

    # Once only: another submission is refused and changes nothing.
    before = await snapshot(db)
    r = await b.post(path + "/submit", answers(quiz, [0], [0, 2]))
    assert r.status_code == 409 and translated(services, "en", "You have already submitted this quiz.") in r.text
    r = await b.post(path + "/start")
    assert r.status_code == 302
    assert await snapshot(db) == before

    result = await b.get(path)
    assert result.status_code == 200 and 'data-score="1" data-max-score="2"' in result.text
    assert translated(services, "en", "%(score)s of %(max)s", score=1, max=2) in result.text
    review = re.search(rf'data-question="{q1["id"]}".*?</li>\s*</ul>', result.text, re.S).group(0)
    assert "is-wrong" in result.text and "is-right" in result.text
    assert re.search(r'class="is-chosen is-correct">\s*<span dir="auto">two</span>', review)
    assert re.search(r'class=" is-correct">\s*<span dir="auto">four</span>', review)
    assert f'action="{path}/submit"' not in result.text
    listing = await b.get(view.path(space, event) + "/quizzes")
    assert translated(services, "en", "Your score: %(score)s of %(max)s", score=1, max=2) in listing.text


def test_a_question_counts_only_when_the_chosen_set_is_the_correct_set():
    quiz = {"questions": [
        {"id": "a", "kind": "single", "options": [{"id": "1"}, {"id": "2"}], "correct": ["1"]},
        {"id": "b", "kind": "multiple", "options": [{"id": "1"}, {"id": "2"}, {"id": "3"}], "correct": ["1", "3"]},
    ]}
    def points(raw):
        return taking.score(quiz, taking.clean_answers(quiz, raw))[0]
    assert points({"a": ["1"], "b": ["3", "1"]}) == 2
    assert points({"a": ["1", "2"], "b": ["1", "3", "2"]}) == 0      # supersets are wrong
    assert points({"a": ["2"], "b": ["1"]}) == 0                     # subsets too
    assert points({"a": ["1", "1", "x"], "b": ["1", "3", "9"]}) == 2   # duplicates and unknown ids drop
    assert points({}) == 0


@pytest.mark.gen_test(timeout=40)
async def test_the_deadline_is_the_servers(factory, browser, db, services):
    event, space, admin, quiz = await setup(factory, db, limit=60)
    path = f"{view.path(space, event)}/quizzes/{quiz['_id']}"
    late_user, late = await signed_in(factory, browser, event)
    ontime_user, ontime = await signed_in(factory, browser, event)
    for b in (late, ontime):
        assert (await b.post(path + "/start")).status_code == 302
    attempt = await db.quiz_attempts.find_one({"user_id": late_user["_id"]})
    assert attempt["deadline"] - attempt["started_at"] == datetime.timedelta(seconds=60)
    page = await late.get(path)
    left = int(re.search(r'data-seconds-left="(\d+)"', page.text).group(1))
    assert 55 <= left <= 60 and 'role="timer"' in page.text and "js/quiz.js" in page.text

    # The clock ran out a while ago: the answers are refused and the attempt is closed unanswered.
    now = utcnow()
    await db.quiz_attempts.update_one({"_id": attempt["_id"]}, {"$set": {
        "started_at": now - datetime.timedelta(seconds=80), "deadline": now - datetime.timedelta(seconds=20)}})
    r = await late.post(path + "/submit", answers(quiz, [0], [0, 2]))
    assert r.status_code == 302
    stored = await db.quiz_attempts.find_one({"_id": attempt["_id"]})
    assert (stored["late"], stored["score"], stored["answers"]) == (True, 0, {})
    result = await late.get(path)
    message = translated(services, "en", "Your answers arrived after the time limit, so they were not counted.")
    assert message in result.text and 'data-score="0"' in result.text
    assert (await late.post(path + "/submit", answers(quiz, [0], [0, 2]))).status_code == 409

    # Sent at zero and still on its way: within the grace the answers count.
    mine = await db.quiz_attempts.find_one({"user_id": ontime_user["_id"]})
    await db.quiz_attempts.update_one({"_id": mine["_id"]}, {"$set": {
        "deadline": now - datetime.timedelta(seconds=taking.GRACE_SECONDS - 3)}})
    assert (await ontime.post(path + "/submit", answers(quiz, [0], [0, 2]))).status_code == 302
    stored = await db.quiz_attempts.find_one({"_id": mine["_id"]})
    assert (stored["late"], stored["score"]) == (False, 2)


# --- results -------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_results_page_and_csv_count_right(factory, browser, db, services):
    event, space, admin, quiz = await setup(factory, db, limit=600)
    _, sb = await signed_in(factory, browser, event, role=R.EVENT_MANAGER)
    base = f"/admin/events/{event['_id']}/quizzes/{quiz['_id']}"
    r = await sb.get(base + "/results")
    assert r.status_code == 200 and translated(services, "en", "Nobody has taken this quiz yet.") in r.text

    people = []
    for name, (first, second) in (("Ann", ([0], [0, 2])), ("Bob", ([0], [1])), ("=Cy", ([1], [0, 2]))):
        user = await factory.member(R.ATTENDEE, event=event, name=name)
        attempt, _ = await taking.start(db, quiz, user)
        raw = {k.removeprefix("answer-"): v for k, v in answers(quiz, first, second).items()}
        await taking.submit(db, quiz, attempt, raw)
        people.append(user)
    running = await factory.member(R.ATTENDEE, event=event, name="Dee")
    await taking.start(db, quiz, running)
    # One more whose clock ran out without a submission: counted as late, zero.
    gone = await factory.member(R.ATTENDEE, event=event, name="Eve")
    attempt, _ = await taking.start(db, quiz, gone)
    await db.quiz_attempts.update_one({"_id": attempt["_id"]}, {"$set": {
        "deadline": utcnow() - datetime.timedelta(seconds=60)}})

    r = await sb.get(base + "/results")
    assert r.status_code == 200
    stat = dict(re.findall(r'data-stat="(\w+)">([^<]*)<', r.text))
    assert stat["finished"] == "4" and stat["unfinished"] == "1" and stat["late"] == "1"
    # Scores 2, 1, 1, 0: 4 / 4 = 1 of 2 on average, 50 %.
    assert translated(services, "en", "%(score)s of %(max)s", score="1", max=2) + " (50%)" in r.text
    percents = re.findall(r'data-percent="(\d+)"', r.text)
    assert percents == ["50", "50"]       # q1: Ann, Bob of 4; q2: Ann, Cy of 4
    assert r.text.count("<tr>") == 1 + 5
    assert r.text.index("Ann") < r.text.index("Bob")   # best first
    assert await db.quiz_attempts.count_documents({"late": True}) == 1

    csv_r = await sb.get(base + "/results.csv")
    assert csv_r.status_code == 200 and csv_r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_r.content.decode("utf-8-sig"))))
    assert rows[0] == ["name", "email", "started_at", "submitted_at", "status", "score", "max_score", "q1", "q2"]
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {"Ann", "Bob", "'=Cy", "Dee", "Eve"}   # a formula is written as text
    assert by_name["Ann"][4:] == ["submitted", "2", "2", "1", "1"]
    assert by_name["Bob"][4:] == ["submitted", "1", "2", "1", "0"]
    assert by_name["'=Cy"][4:] == ["submitted", "1", "2", "0", "1"]
    assert by_name["Eve"][4:] == ["late", "0", "2", "0", "0"]
    assert by_name["Dee"][3:] == ["", "in_progress", "", "2", "", ""]
    assert (await db.audit.find_one({"action": "quiz_results_export"}))["params"]["count"] == 5


@pytest.mark.gen_test(timeout=90)
async def test_results_pages_through_many_attempts(factory, browser, db):
    event, space, admin, quiz = await setup(factory, db)
    _, sb = await signed_in(factory, browser, event, role=R.EVENT_MANAGER)
    for n in range(53):
        user_id = (await db.users.insert_one({"email": f"p{n}@example.org", "login": f"p{n}", "name": f"P{n}"})).inserted_id
        attempt, _ = await taking.start(db, quiz, {"_id": user_id})
        await taking.submit(db, quiz, attempt, {quiz["questions"][0]["id"]: [quiz["questions"][0]["correct"][0]]})
    base = f"/admin/events/{event['_id']}/quizzes/{quiz['_id']}/results"
    first, second = await sb.get(base), await sb.get(base + "?page=2")
    assert first.text.count("<tr>") == 51 and second.text.count("<tr>") == 4
    assert 'rel="next"' in first.text and 'rel="prev"' in second.text


# --- access ---------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=40)
async def test_access_is_the_event_pages(factory, browser, db):
    event, space, admin, quiz = await setup(factory, db)
    path = view.path(space, event)
    paths = (path + "/quizzes", f"{path}/quizzes/{quiz['_id']}")
    anonymous = browser()
    stranger = browser()
    await stranger.sign_in((await factory.user())["login"], factory.PASSWORD)
    for p in paths:
        r = await anonymous.get(p)
        assert r.status_code == 302 and r.headers["location"].startswith("/signin?next=")
        assert (await stranger.get(p)).status_code == 403
    assert (await stranger.post(f"{path}/quizzes/{quiz['_id']}/start")).status_code == 403
    assert await db.quiz_attempts.count_documents({}) == 0
    # Another event's member: 403 here, and the quiz is not found through their own event.
    other = await factory.event(space, locales=("en",))
    _, ob = await signed_in(factory, browser, other)
    assert (await ob.get(paths[1])).status_code == 403
    assert (await ob.get(f"{view.path(space, other)}/quizzes/{quiz['_id']}")).status_code == 404
    assert (await ob.post(f"{view.path(space, other)}/quizzes/{quiz['_id']}/start")).status_code == 404
    assert await db.quiz_attempts.count_documents({}) == 0
    # Attendees have no staff pages.
    _, ab = await signed_in(factory, browser, event)
    assert (await ab.get(f"/admin/events/{event['_id']}/quizzes")).status_code == 403
    assert (await ab.get(f"/admin/events/{event['_id']}/quizzes/{quiz['_id']}/results")).status_code == 403
    # Before the gate opens attendees get the countdown.
    closed = await factory.event(space, locales=("en",), gate_open=False)
    closed_quiz = await make_quiz(db, admin, closed, questions=[
        {**QUESTIONS[0], "text": {"en": "Capital?"}, "options": [
            {"text": {"en": "Riga"}, "correct": True}, {"text": {"en": "Tallinn"}}]}])
    _, cb = await signed_in(factory, browser, closed)
    r = await cb.get(f"{view.path(space, closed)}/quizzes/{closed_quiz['_id']}")
    assert r.status_code == 200 and 'id="gate"' in r.text and "Capital?" not in r.text
    assert (await cb.post(f"{view.path(space, closed)}/quizzes/{closed_quiz['_id']}/start")).status_code == 200
    assert await db.quiz_attempts.count_documents({}) == 0
