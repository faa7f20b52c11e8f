"""What staff read about a quiz: totals, each question's share of right answers, who scored what, CSV.

Numbers count finished attempts only (submitted in time, or closed as late
with a score of zero); attempts still running or never submitted are
counted apart.  Overdue attempts are closed first (`taking.expire_overdue`)
so the numbers do not depend on whether their owners came back.
"""
from __future__ import annotations

import csv
import io

from access import audit
from accounts.users import AccountDoc
from events.model import EventDoc
from quizzes import taking

CSV_COLUMNS = ("name", "email", "started_at", "submitted_at", "status", "score", "max_score")


def status_of(attempt: dict) -> str:
    if attempt.get("late"):
        return "late"
    return "submitted" if attempt.get("submitted_at") else "in_progress"


async def summary(db, quiz: dict) -> dict:
    await taking.expire_overdue(db, quiz)
    started = finished = late = total_score = 0
    right_counts = {q["id"]: 0 for q in quiz["questions"]}
    async for attempt in db.quiz_attempts.find({"quiz_id": quiz["_id"]},
                                               {"submitted_at": 1, "score": 1, "late": 1, "correct_questions": 1}):
        started += 1
        if not attempt.get("submitted_at"):
            continue
        finished += 1
        late += bool(attempt.get("late"))
        total_score += attempt.get("score") or 0
        for qid in attempt.get("correct_questions") or []:
            if qid in right_counts:
                right_counts[qid] += 1
    most = len(quiz["questions"])
    average = total_score / finished if finished else None
    return {
        "started": started, "finished": finished, "late": late, "unfinished": started - finished,
        "max_score": most, "average": average,
        "average_percent": round(100 * average / most) if average is not None and most else None,
        "questions": [{"number": n, "id": q["id"], "text": q["text"], "right": right_counts[q["id"]],
                       "percent": round(100 * right_counts[q["id"]] / finished) if finished else None}
                      for n, q in enumerate(quiz["questions"], 1)],
    }


async def _people(db, user_ids) -> dict:
    return {u["_id"]: u async for u in db.users.find({"_id": {"$in": list(user_ids)}}, {"name": 1, "email": 1})}


async def rows(db, quiz: dict, skip: int, limit: int) -> tuple[list[dict], int]:
    """One page of attempts, best score first, each with the person's name and email."""
    query = {"quiz_id": quiz["_id"]}
    total = await db.quiz_attempts.count_documents(query)
    attempts = await db.quiz_attempts.find(query).sort([("score", -1), ("submitted_at", 1), ("_id", 1)]) \
        .skip(skip).limit(limit).to_list(None)
    people = await _people(db, {a["user_id"] for a in attempts})
    out = []
    for a in attempts:
        person = people.get(a["user_id"]) or {}
        out.append({"attempt": a, "name": person.get("name", ""), "email": person.get("email", ""),
                    "status": status_of(a)})
    return out, total


def _cell(value) -> str:
    # A cell starting with = + - @ would be run as a formula by spreadsheets.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def export_csv(db, event: EventDoc, quiz: dict, actor: AccountDoc | None = None) -> str:
    """Every attempt as CSV (UTF-8 with a BOM for spreadsheets); one 1/0 column per question."""
    await taking.expire_overdue(db, quiz)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    qids = [q["id"] for q in quiz["questions"]]
    writer.writerow(list(CSV_COLUMNS) + [f"q{n}" for n in range(1, len(qids) + 1)])
    attempts = await db.quiz_attempts.find({"quiz_id": quiz["_id"]}) \
        .sort([("score", -1), ("submitted_at", 1), ("_id", 1)]).to_list(None)
    people = await _people(db, {a["user_id"] for a in attempts})
    for a in attempts:
        person = people.get(a["user_id"]) or {}
        done = bool(a.get("submitted_at"))
        right = set(a.get("correct_questions") or [])
        writer.writerow([_cell(person.get("name", "")), _cell(person.get("email", "")),
                         a["started_at"].isoformat(), a["submitted_at"].isoformat() if done else "",
                         status_of(a), a["score"] if done else "", a.get("max_score", len(qids))]
                        + [(1 if qid in right else 0) if done else "" for qid in qids])
    await audit.record(db, actor=actor, action="quiz_results_export", event=event,
                       params={"quiz_id": str(quiz["_id"]), "count": len(attempts)})
    return out.getvalue()
