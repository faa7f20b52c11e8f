"""An attendee's one attempt at a quiz: start, deadline, submission, score, review.

An attempt is `{quiz_id, event_id, user_id, started_at, deadline, answers,
submitted_at, score, max_score, correct_questions, late}`; the unique index
(quiz_id, user_id) makes "one attempt per attendee" hold even when two
starts race.  `answers` maps a question id to the chosen option ids.

The clock is the server's.  Starting stores `deadline = started_at + limit`
(None without a limit); the page counts down to it and submits by itself at
zero, and the server accepts answers until `deadline + GRACE_SECONDS`, the
slack for a submission that was sent in time but is still on its way.
Answers that arrive later are refused: the attempt is closed as late, with
no answers and a score of zero (nothing was submitted in time, and
answers are only ever taken all at once).  An attempt nobody submits is
closed the same way once its deadline and grace have passed
(`expire_overdue`).  Closing the quiz stops starts and submissions; an
attempt without a limit that was never submitted stays "not submitted".

A question counts when the chosen options are exactly the correct ones.
Correct answers are shown to the attendee only after their attempt is over.
"""
from __future__ import annotations

import datetime

from pymongo.errors import DuplicateKeyError

from accounts.users import AccountDoc
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from quizzes.authoring import OPEN, SINGLE

GRACE_SECONDS = 5


class TakeError(Refusal):
    """A refused start or submission; `message` is marked for translation."""


def finished(attempt: dict | None) -> bool:
    return bool(attempt and attempt.get("submitted_at"))


def overdue(attempt: dict, now: datetime.datetime | None = None) -> bool:
    """Past the deadline and its grace without a submission."""
    deadline = attempt.get("deadline")
    now = now or utcnow()
    return bool(deadline and not attempt.get("submitted_at")
                and now > deadline + datetime.timedelta(seconds=GRACE_SECONDS))


def seconds_left(attempt: dict, now: datetime.datetime | None = None) -> int | None:
    if not attempt.get("deadline"):
        return None
    return max(0, int((attempt["deadline"] - (now or utcnow())).total_seconds()))


# --- scoring --------------------------------------------------------------------------

def clean_answers(quiz: dict, raw: dict) -> dict[str, list[str]]:
    """Only known questions and options; order and duplicates do not matter."""
    out = {}
    for question in quiz["questions"]:
        known = {o["id"] for o in question["options"]}
        chosen = sorted({v for v in (raw.get(question["id"]) or []) if v in known})
        if chosen:
            out[question["id"]] = chosen
    return out


def score(quiz: dict, answers: dict) -> tuple[int, int, list[str]]:
    """(score, max score, ids of the questions answered right)."""
    right = [q["id"] for q in quiz["questions"]
             if set(answers.get(q["id"]) or []) == set(q["correct"])]
    return len(right), len(quiz["questions"]), right


# --- the attempt ----------------------------------------------------------------------

async def get_attempt(db, quiz: dict, user_id) -> dict | None:
    return await db.quiz_attempts.find_one({"quiz_id": quiz["_id"], "user_id": user_id})


async def attempts_of(db, event_id, user_id) -> dict:
    """quiz_id -> the user's attempt, for the list of an event's quizzes."""
    return {a["quiz_id"]: a async for a in db.quiz_attempts.find({"event_id": event_id, "user_id": user_id})}


async def start(db, quiz: dict, user: AccountDoc, now: datetime.datetime | None = None
                ) -> tuple[dict | None, bool]:
    """(attempt, created): a second start returns the first attempt untouched.

    The attempt is None only when a simultaneous start won and its attempt was
    removed before it could be read back.
    """
    existing = await get_attempt(db, quiz, user["_id"])
    if existing:
        return existing, False
    if quiz["status"] != OPEN:
        raise TakeError(N_("This quiz is not open."))
    now = now or utcnow()
    limit = quiz.get("time_limit_seconds")
    attempt = {"quiz_id": quiz["_id"], "event_id": quiz["event_id"], "user_id": user["_id"],
               "started_at": now, "deadline": now + datetime.timedelta(seconds=limit) if limit else None,
               "answers": {}, "submitted_at": None, "score": None, "max_score": len(quiz["questions"]),
               "correct_questions": [], "late": False}
    try:
        await db.quiz_attempts.insert_one(attempt)
    except DuplicateKeyError:
        return await get_attempt(db, quiz, user["_id"]), False
    return attempt, True


def _late_fields(quiz: dict, now: datetime.datetime) -> dict:
    return {"submitted_at": now, "answers": {}, "score": 0, "max_score": len(quiz["questions"]),
            "correct_questions": [], "late": True}


async def submit(db, quiz: dict, attempt: dict, raw_answers: dict,
                 now: datetime.datetime | None = None) -> dict:
    """Score and store the answers once; a late submission closes the attempt unanswered.

    Returns the attempt as stored; `late` tells the caller the answers were refused.
    """
    if finished(attempt):
        raise TakeError(N_("You have already submitted this quiz."))
    if quiz["status"] != OPEN:
        raise TakeError(N_("This quiz is closed: answers are no longer accepted."))
    now = now or utcnow()
    if overdue(attempt, now):
        fields = _late_fields(quiz, now)
    else:
        answers = clean_answers(quiz, raw_answers)
        points, most, right = score(quiz, answers)
        fields = {"submitted_at": now, "answers": answers, "score": points, "max_score": most,
                  "correct_questions": right, "late": False}
    # The filter on submitted_at makes a double submission count once.
    result = await db.quiz_attempts.update_one({"_id": attempt["_id"], "submitted_at": None}, {"$set": fields})
    if result.modified_count != 1:
        raise TakeError(N_("You have already submitted this quiz."))
    return {**attempt, **fields}


async def expire(db, quiz: dict, attempt: dict, now: datetime.datetime | None = None) -> dict:
    """Close one overdue attempt as late; other attempts come back unchanged."""
    now = now or utcnow()
    if not overdue(attempt, now):
        return attempt
    fields = _late_fields(quiz, now)
    await db.quiz_attempts.update_one({"_id": attempt["_id"], "submitted_at": None}, {"$set": fields})
    return await db.quiz_attempts.find_one({"_id": attempt["_id"]})


async def expire_overdue(db, quiz: dict, now: datetime.datetime | None = None) -> int:
    """Close every overdue attempt of the quiz as late (before results are counted)."""
    if not quiz.get("time_limit_seconds"):
        return 0
    now = now or utcnow()
    cutoff = now - datetime.timedelta(seconds=GRACE_SECONDS)
    result = await db.quiz_attempts.update_many(
        {"quiz_id": quiz["_id"], "submitted_at": None, "deadline": {"$lt": cutoff}},
        {"$set": _late_fields(quiz, now)})
    return result.modified_count


# --- what the attendee sees -------------------------------------------------------------

def review(quiz: dict, attempt: dict, text) -> list[dict]:
    """Each question with the attendee's choice and the correct answer, after the attempt.

    `text` picks a per-locale text for the reader.
    """
    chosen_all = attempt.get("answers") or {}
    right = set(attempt.get("correct_questions") or [])
    out = []
    for n, q in enumerate(quiz["questions"], 1):
        chosen = set(chosen_all.get(q["id"]) or [])
        correct = set(q["correct"])
        out.append({
            "number": n, "id": q["id"], "text": text(q["text"]), "kind": q["kind"], "right": q["id"] in right,
            "answered": bool(chosen),
            "options": [{"id": o["id"], "text": text(o["text"]), "chosen": o["id"] in chosen,
                         "correct": o["id"] in correct} for o in q["options"]],
        })
    return out


def questions_for_taking(quiz: dict, text) -> list[dict]:
    """The questions without their answers: all an attendee sees before submitting."""
    return [{"number": n, "id": q["id"], "text": text(q["text"]), "single": q["kind"] == SINGLE,
             "options": [{"id": o["id"], "text": text(o["text"])} for o in q["options"]]}
            for n, q in enumerate(quiz["questions"], 1)]
