"""Staff pages for an event's quizzes: list, write and edit, open and close, delete, results and CSV.

The question editor works without JavaScript: "add a question", "add an
option" and the remove buttons submit the form with an `op` and the page
comes back with one row more or less, nothing saved; only "Save" writes.
The form names rows by position (`q-<i>-...`, `q-<i>-o-<j>-...`) and
carries the stored ids of questions and options in hidden fields, so a quiz
keeps its ids across edits.  The rules (validation, what may change once
people have started, when a quiz may be deleted) are `quizzes.authoring`'s.
"""
from __future__ import annotations

import re

from access.permissions import EVENT_QUIZZES
from admin import forms
from admin.staff_base import StaffHandler
from core.i18n import N_
from core.pagination import Page, parse_page
from events import view
from events.editing import EditError
from handlers.base import PageError
from quizzes import authoring, results

EVENT = r"/admin/events/(?P<event_id>[0-9a-f]{24})/quizzes"
QUIZ = EVENT + r"/(?P<quiz_id>[0-9a-f]{24})"
PER_PAGE = 50
_OP_RE = re.compile(r"^(add_question|remove_question|add_option|remove_option)(?:-(\d{1,3}))?(?:-(\d{1,3}))?$")


def _count(raw: str, most: int) -> int:
    try:
        return max(0, min(int(raw or 0), most))
    except ValueError:
        return 0


def blank_question(kind: str = authoring.SINGLE) -> dict:
    return {"id": "", "kind": kind, "text": {}, "options": [blank_option(), blank_option()]}


def blank_option() -> dict:
    return {"id": "", "text": {}, "correct": False}


def form_from_quiz(quiz: dict | None) -> dict:
    if not quiz:
        return {"title": {}, "intro": {}, "limit_minutes": "", "limit_seconds": "",
                "questions": [blank_question()]}
    limit = quiz.get("time_limit_seconds")
    return {
        "title": quiz["title"], "intro": quiz["intro"],
        "limit_minutes": str(limit // 60) if limit else "", "limit_seconds": str(limit % 60) if limit else "",
        "questions": [{"id": q["id"], "kind": q["kind"], "text": q["text"],
                       "options": [{"id": o["id"], "text": o["text"], "correct": o["id"] in q["correct"]}
                                   for o in q["options"]]}
                      for q in quiz["questions"]],
    }


def parse_time_limit(minutes: str, seconds: str) -> int | None:
    if not minutes and not seconds:
        return None
    if not (minutes or "0").isdigit() or not (seconds or "0").isdigit() or len(minutes) > 4 or len(seconds) > 5:
        raise EditError(N_("Enter the time limit as whole minutes and seconds."), "time_limit")
    return int(minutes or 0) * 60 + int(seconds or 0)


class QuizzesHandler(StaffHandler):
    permission = EVENT_QUIZZES

    @property
    def base(self) -> str:
        return f"/admin/events/{self.event['_id']}/quizzes"

    async def quiz_or_404(self, quiz_id) -> dict:
        quiz = await authoring.get_quiz(self.db, self.event["_id"], quiz_id)
        if not quiz:
            raise PageError(404, self._("This quiz does not exist."))
        return quiz

    # --- the editor ------------------------------------------------------------

    def read_form(self) -> dict:
        locales = self.event["locales"]
        questions = []
        for i in range(_count(self.form("question_count"), authoring.MAX_QUESTIONS + 1)):
            p = f"q-{i}"
            marked = set(self.get_body_arguments(f"{p}-correct"))
            options = [{"id": forms.field(self, f"{p}-o-{j}-id")[:16],
                        "text": forms.locale_texts(self, f"{p}-o-{j}-text", locales),
                        "correct": str(j) in marked}
                       for j in range(_count(self.form(f"{p}-option_count"), authoring.MAX_OPTIONS + 1))]
            questions.append({"id": forms.field(self, f"{p}-id")[:16], "kind": forms.field(self, f"{p}-kind"),
                              "text": forms.locale_texts(self, f"{p}-text", locales), "options": options})
        return {"title": forms.locale_texts(self, "title", locales),
                "intro": forms.locale_texts(self, "intro", locales),
                "limit_minutes": forms.field(self, "limit_minutes")[:8],
                "limit_seconds": forms.field(self, "limit_seconds")[:8],
                "questions": questions}

    def apply_op(self, form: dict, op: str) -> str | None:
        """Change the rows as a row button asked; returns the id of the field to focus next."""
        m = _OP_RE.match(op)
        if not m:
            raise PageError(400, self._("The request was not understood."))
        name, i, j = m.group(1), m.group(2), m.group(3)
        questions = form["questions"]
        first = self.event["default_locale"]
        i = int(i) if i is not None else None
        if name == "add_question":
            if len(questions) < authoring.MAX_QUESTIONS:
                questions.append(blank_question())
            return f"q-{len(questions) - 1}-text-{first}"
        if i is None or i >= len(questions):
            raise PageError(400, self._("The request was not understood."))
        options = questions[i]["options"]
        if name == "remove_question":
            del questions[i]
            return f"q-{min(i, len(questions) - 1)}-text-{first}" if questions else "add-question"
        if name == "add_option":
            if len(options) < authoring.MAX_OPTIONS:
                options.append(blank_option())
            return f"q-{i}-o-{len(options) - 1}-text-{first}"
        j = int(j) if j is not None else None
        if j is None or j >= len(options):
            raise PageError(400, self._("The request was not understood."))
        del options[j]
        return f"q-{i}-add-option"

    def show_form(self, quiz: dict | None, form: dict, *, status: int = 200, error: str | None = None,
                  focus: str | None = None, locked: bool = False) -> None:
        self.render_page("admin/quiz_form.html", status=status, active="quizzes", quiz=quiz, form=form,
                         error=error, focus=focus, locked=locked, max_questions=authoring.MAX_QUESTIONS,
                         max_options=authoring.MAX_OPTIONS)

    async def save_or_redisplay(self, quiz: dict | None) -> None:
        form = self.read_form()
        locked = bool(quiz and await authoring.attempt_count(self.db, quiz["_id"]))
        op = self.form("op", max_length=40) or "save"
        if op != "save":
            if locked:
                raise PageError(400, self._("The request was not understood."))
            self.show_form(quiz, form, focus=self.apply_op(form, op))
            return
        try:
            limit = parse_time_limit(form["limit_minutes"], form["limit_seconds"])
            values = {"title": form["title"], "intro": form["intro"], "time_limit_seconds": limit,
                      "questions": form["questions"]}
            if quiz:
                await authoring.update(self.db, self.current_user, self.event, quiz, **values)
            else:
                quiz = await authoring.create(self.db, self.current_user, self.event, **values)
        except EditError as exc:
            self.show_form(quiz, form, status=400, error=self.refusal(exc), locked=locked)
            return
        self.flash(self._("The quiz has been saved."))
        self.redirect(self.base)


class ListHandler(QuizzesHandler):
    async def get(self, event_id):
        items = await authoring.list_quizzes(self.db, self.event["_id"])
        counts = {q["_id"]: await authoring.attempt_count(self.db, q["_id"]) for q in items}
        self.render_page("admin/quizzes.html", active="quizzes", items=items, counts=counts,
                         max_quizzes=authoring.MAX_QUIZZES,
                         public_base=view.path(self.space, self.event) + "/quizzes")


class NewHandler(QuizzesHandler):
    def get(self, event_id):
        self.show_form(None, form_from_quiz(None))

    async def post(self, event_id):
        await self.save_or_redisplay(None)


class EditHandler(QuizzesHandler):
    async def get(self, event_id, quiz_id):
        quiz = await self.quiz_or_404(quiz_id)
        self.show_form(quiz, form_from_quiz(quiz),
                       locked=bool(await authoring.attempt_count(self.db, quiz["_id"])))

    async def post(self, event_id, quiz_id):
        await self.save_or_redisplay(await self.quiz_or_404(quiz_id))


class StatusHandler(QuizzesHandler):
    async def post(self, event_id, quiz_id):
        quiz = await self.quiz_or_404(quiz_id)
        try:
            after = await authoring.set_status(self.db, self.current_user, self.event, quiz, self.form("status"))
        except EditError as exc:
            raise PageError(400, self.refusal(exc)) from None
        self.flash(self._("The quiz is open: attendees can take it now.") if after["status"] == authoring.OPEN
                   else self._("The quiz is closed: nobody can start or submit it any more."))
        self.redirect(self.base)


class DeleteHandler(QuizzesHandler):
    async def post(self, event_id, quiz_id):
        quiz = await self.quiz_or_404(quiz_id)
        try:
            removed = await authoring.delete(self.db, self.current_user, self.event, quiz)
        except EditError as exc:
            raise PageError(409, self.refusal(exc)) from None
        self.flash(self.ngettext("The quiz and its results (%(count)s attempt) have been deleted.",
                                 "The quiz and its results (%(count)s attempts) have been deleted.",
                                 removed) % {"count": removed})
        self.redirect(self.base)


class ResultsHandler(QuizzesHandler):
    async def get(self, event_id, quiz_id):
        quiz = await self.quiz_or_404(quiz_id)
        stats = await results.summary(self.db, quiz)
        number = parse_page(self.get_query_argument("page", "1"))
        rows, total = await results.rows(self.db, quiz, (number - 1) * PER_PAGE, PER_PAGE)
        self.render_page("admin/quiz_results.html", active="quizzes", quiz=quiz, stats=stats, rows=rows,
                         page=Page(number, PER_PAGE, total), tz=self.event["timezone"])


class ResultsCsvHandler(QuizzesHandler):
    async def get(self, event_id, quiz_id):
        quiz = await self.quiz_or_404(quiz_id)
        body = await results.export_csv(self.db, self.event, quiz, actor=self.current_user)
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition",
                        f'attachment; filename="quiz-{self.event["slug"]}-{quiz["_id"]}.csv"')
        self.finish(body.encode("utf-8"))


ROUTES = [
    (EVENT, ListHandler),
    (EVENT + r"/new", NewHandler),
    (QUIZ + r"/edit", EditHandler),
    (QUIZ + r"/status", StatusHandler),
    (QUIZ + r"/delete", DeleteHandler),
    (QUIZ + r"/results", ResultsHandler),
    (QUIZ + r"/results\.csv", ResultsCsvHandler),
]
