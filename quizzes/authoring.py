"""Quiz documents of one event: validation, creation, editing, opening and closing, deletion.

A quiz is `{event_id, title{locale}, intro{locale}, questions[...],
time_limit_seconds, status, created_at, updated_at}`.  Each question is
`{id, text{locale}, kind, options[{id, text{locale}}], correct[option ids]}`
where `kind` is "single" (exactly one correct option) or "multiple" (one or
more).  `time_limit_seconds` is None for no limit.  The status is "draft"
(staff only), "open" (attendees may start and submit) or "closed" (results
stay readable, nobody starts or submits any more).

Rules decided here:
- everything is validated in full before anything is written; a refused
  change raises `EditError` and leaves the database as it was;
- once anyone has started the quiz its structure is frozen: texts may still
  be corrected and translated, but questions, options, correct answers and
  the time limit may not change, so stored scores keep their meaning;
- a quiz somebody has taken can only be deleted once it is closed, and its
  attempts are deleted with it (the audit entry keeps the quiz and the count).
Every change is recorded in the audit log with the quiz before and after.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from access import audit
from accounts.users import AccountDoc, as_id
from core.clock import utcnow
from core.i18n import LOCALE_NAMES, N_
from events import model
from events.editing import EditError, clean_texts
from events.model import EventDoc

DRAFT, OPEN, CLOSED = "draft", "open", "closed"
STATUSES = (DRAFT, OPEN, CLOSED)
SINGLE, MULTIPLE = "single", "multiple"
KINDS = (SINGLE, MULTIPLE)

MIN_TIME_LIMIT = 10            # seconds
MAX_TIME_LIMIT = 3 * 3600
MAX_QUIZZES = 100              # per event: one list page in the admin
MAX_QUESTIONS = 100
MAX_OPTIONS = 20
MAX_QUESTION_TEXT = 2000
MAX_OPTION_TEXT = 500

_ID_RE = re.compile(r"^[0-9a-f]{8}$")
_SNAPSHOT = ("title", "intro", "questions", "time_limit_seconds", "status")


def snapshot(quiz: dict) -> dict:
    return {k: copy.deepcopy(quiz.get(k)) for k in _SNAPSHOT}


def structure(quiz: dict) -> tuple:
    """What scores depend on: frozen once somebody has started the quiz."""
    return (quiz.get("time_limit_seconds"),
            tuple((q["id"], q["kind"], tuple(o["id"] for o in q["options"]), tuple(sorted(q["correct"])))
                  for q in quiz["questions"]))


# --- reading ------------------------------------------------------------------

async def list_quizzes(db, event_id, statuses=None) -> list[dict]:
    query: dict = {"event_id": event_id}
    if statuses is not None:
        query["status"] = {"$in": list(statuses)}
    return await db.quizzes.find(query).sort([("created_at", 1), ("_id", 1)]).limit(MAX_QUIZZES).to_list(None)


async def get_quiz(db, event_id, quiz_id) -> dict | None:
    oid = as_id(quiz_id)
    return await db.quizzes.find_one({"_id": oid, "event_id": event_id}) if oid else None


async def has_open(db, event_id) -> bool:
    return await db.quizzes.find_one({"event_id": event_id, "status": OPEN}, {"_id": 1}) is not None


async def attempt_count(db, quiz_id) -> int:
    return await db.quiz_attempts.count_documents({"quiz_id": quiz_id})


# --- validation ---------------------------------------------------------------

def clean_time_limit(seconds) -> int | None:
    if seconds is None:
        return None
    if not isinstance(seconds, int) or not MIN_TIME_LIMIT <= seconds <= MAX_TIME_LIMIT:
        raise EditError(N_("The time limit must be between 10 seconds and 3 hours."), "time_limit")
    return seconds


def _item_id(wanted, taken: set[str]) -> str:
    wanted = (wanted or "").strip()
    if not _ID_RE.match(wanted) or wanted in taken:
        wanted = model.new_item_id()
        while wanted in taken:
            wanted = model.new_item_id()
    taken.add(wanted)
    return wanted


def _required_text(values, event, max_length, field, message, **params) -> dict:
    texts = clean_texts(values, event["locales"], max_length, field)
    if not texts.get(event["default_locale"]):
        raise EditError(message, field, language=LOCALE_NAMES[event["default_locale"]], **params)
    return texts


def clean_question(event: EventDoc, number: int, raw: dict, taken: set) -> dict:
    """One question from `{id, kind, text{}, options[{id, text{}, correct}]}`; `number` counts from 1."""
    field = f"q-{number - 1}"
    kind = raw.get("kind")
    if kind not in KINDS:
        raise EditError(N_("Question %(number)s: choose single or multiple choice."), field, number=number)
    text = _required_text(raw.get("text"), event, MAX_QUESTION_TEXT, field,
                          N_("Question %(number)s: enter its text in %(language)s, the event's default language."),
                          number=number)
    raw_options = list(raw.get("options") or [])
    if len(raw_options) < 2:
        raise EditError(N_("Question %(number)s needs at least two answer options."), field, number=number)
    if len(raw_options) > MAX_OPTIONS:
        raise EditError(N_("Question %(number)s has too many answer options (at most %(count)s)."), field,
                        number=number, count=MAX_OPTIONS)
    options: list[dict[str, Any]] = []
    correct: list[str] = []
    option_ids: set[str] = set()
    for k, raw_option in enumerate(raw_options, 1):
        option_text = _required_text(
            raw_option.get("text"), event, MAX_OPTION_TEXT, field,
            N_("Question %(number)s, option %(option)s: enter its text in %(language)s, "
               "the event's default language."), number=number, option=k)
        option_id = _item_id(raw_option.get("id"), option_ids)
        options.append({"id": option_id, "text": option_text})
        if raw_option.get("correct"):
            correct.append(option_id)
    if kind == SINGLE and len(correct) != 1:
        raise EditError(N_("Question %(number)s is single choice: mark exactly one correct answer."), field,
                        number=number)
    if kind == MULTIPLE and not correct:
        raise EditError(N_("Question %(number)s is multiple choice: mark at least one correct answer."), field,
                        number=number)
    return {"id": _item_id(raw.get("id"), taken), "text": text, "kind": kind, "options": options,
            "correct": correct}


def clean(event: EventDoc, *, title: dict, intro: dict, time_limit_seconds, questions: list[dict]) -> dict:
    """The stored fields of a quiz from what the form sent, or EditError."""
    fields: dict[str, Any] = {
        "title": clean_texts(title, event["locales"], model.MAX_TITLE, "title", event["default_locale"]),
        "intro": clean_texts(intro, event["locales"], model.MAX_TEXT, "intro"),
        "time_limit_seconds": clean_time_limit(time_limit_seconds),
    }
    questions = list(questions or [])
    if not questions:
        raise EditError(N_("Add at least one question."), "questions")
    if len(questions) > MAX_QUESTIONS:
        raise EditError(N_("A quiz has at most %(count)s questions."), "questions", count=MAX_QUESTIONS)
    taken: set[str] = set()
    fields["questions"] = [clean_question(event, n, raw, taken) for n, raw in enumerate(questions, 1)]
    return fields


# --- writing ------------------------------------------------------------------

async def create(db, actor: AccountDoc, event: EventDoc, *, title: dict, intro: dict, time_limit_seconds,
                 questions: list[dict]) -> dict:
    fields = clean(event, title=title, intro=intro, time_limit_seconds=time_limit_seconds, questions=questions)
    if await db.quizzes.count_documents({"event_id": event["_id"]}) >= MAX_QUIZZES:
        raise EditError(N_("An event has at most %(count)s quizzes."), count=MAX_QUIZZES)
    now = utcnow()
    quiz = {"event_id": event["_id"], **fields, "status": DRAFT, "created_at": now, "updated_at": now}
    await db.quizzes.insert_one(quiz)
    await audit.record(db, actor=actor, action="quiz_create", event=event, params={"quiz_id": str(quiz["_id"])},
                       before=None, after=snapshot(quiz))
    return quiz


async def _write(db, actor: AccountDoc, event: EventDoc, quiz: dict, changes: dict, action: str) -> dict:
    after = {**quiz, **changes}
    if snapshot(after) == snapshot(quiz):
        return quiz
    changes = {**changes, "updated_at": utcnow()}
    result = await db.quizzes.update_one({"_id": quiz["_id"], "event_id": event["_id"]}, {"$set": changes})
    if result.matched_count != 1:
        raise EditError(N_("This quiz does not exist."))
    after = {**quiz, **changes}
    await audit.record(db, actor=actor, action=action, event=event, params={"quiz_id": str(quiz["_id"])},
                       before=snapshot(quiz), after=snapshot(after))
    return after


async def update(db, actor: AccountDoc, event: EventDoc, quiz: dict, *, title: dict, intro: dict, time_limit_seconds,
                 questions: list[dict]) -> dict:
    fields = clean(event, title=title, intro=intro, time_limit_seconds=time_limit_seconds, questions=questions)
    if structure(fields) != structure(quiz) and await attempt_count(db, quiz["_id"]):
        raise EditError(N_("People have already started this quiz: you can correct and translate its texts, "
                           "but not change its questions, answers or time limit."))
    return await _write(db, actor, event, quiz, fields, "quiz_update")


async def set_status(db, actor: AccountDoc, event: EventDoc, quiz: dict, status: str) -> dict:
    """Open (from draft or closed) or close (an open quiz); asking for the current status changes nothing."""
    if status not in (OPEN, CLOSED):
        raise EditError(N_("Unknown quiz status."))
    if status == quiz["status"]:
        return quiz
    if status == CLOSED and quiz["status"] != OPEN:
        raise EditError(N_("Only an open quiz can be closed."))
    return await _write(db, actor, event, quiz, {"status": status},
                        "quiz_open" if status == OPEN else "quiz_close")


async def delete(db, actor: AccountDoc, event: EventDoc, quiz: dict) -> int:
    """Delete the quiz and its attempts; returns how many attempts went with it."""
    attempts = await attempt_count(db, quiz["_id"])
    if attempts and quiz["status"] != CLOSED:
        raise EditError(N_("People have taken this quiz: close it before deleting it. "
                           "Its results are deleted with it."))
    result = await db.quizzes.delete_one({"_id": quiz["_id"], "event_id": event["_id"]})
    if result.deleted_count != 1:
        raise EditError(N_("This quiz does not exist."))
    await db.quiz_attempts.delete_many({"quiz_id": quiz["_id"]})
    await audit.record(db, actor=actor, action="quiz_delete", event=event,
                       params={"quiz_id": str(quiz["_id"]), "attempts": attempts},
                       before=snapshot(quiz), after=None)
    return attempts
