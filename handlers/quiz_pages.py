"""The attendee side of quizzes: the event's quizzes, taking one, the result.

- /e/<space>/<event>/quizzes: open quizzes (and closed ones the attendee
  took), each with the attendee's score once they have one;
- /e/<space>/<event>/quizzes/<quiz_id>: the start page, then the questions
  with the countdown (static/js/quiz.js), then the score and the review;
- POST .../start starts the attempt and the clock, POST .../submit sends the
  answers once.
Access is the event page's (handlers.event.EventViewer).  Drafts do not
exist here for anyone; correct answers appear only after the attendee's
attempt is over.  The deadline is checked by `quizzes.taking`, on the
server's clock.
"""
from __future__ import annotations

from events import view
from handlers.base import PageError
from handlers.event import SLUG, EventViewer
from quizzes import authoring, taking

EVENT = rf"/e/(?P<space_slug>{SLUG})/(?P<event_slug>{SLUG})/quizzes"
QUIZ = EVENT + r"/(?P<quiz_id>[0-9a-f]{24})"


class QuizViewer(EventViewer):
    def texts(self, event: dict):
        return lambda values: view.text(event, values, self.locale_code)

    def common(self, space: dict, event: dict) -> dict:
        return {"event": event, "space": space, "event_path": view.path(space, event),
                "event_title": view.text(event, event["title"], self.locale_code)}

    async def visible_quiz(self, event: dict, quiz_id) -> dict:
        quiz = await authoring.get_quiz(self.db, event["_id"], quiz_id)
        if not quiz or quiz["status"] == authoring.DRAFT:
            raise PageError(404, self._("This quiz does not exist."))
        return quiz

    async def open_quiz(self, space_slug, event_slug, quiz_id) -> tuple[dict, dict, dict, dict] | None:
        """(space, event, can, quiz) under the event page's access rule; None when already answered."""
        opened = await self.open_event(space_slug, event_slug)
        if opened is None:
            return None
        space, event, can = opened
        return space, event, can, await self.visible_quiz(event, quiz_id)

    def conflict(self, exc: taking.TakeError) -> PageError:
        return PageError(409, self.refusal(exc))


class QuizListHandler(QuizViewer):
    async def get(self, space_slug, event_slug):
        opened = await self.open_event(space_slug, event_slug)
        if opened is None:
            return
        space, event, can = opened
        text = self.texts(event)
        attempts = await taking.attempts_of(self.db, event["_id"], self.current_user["_id"])
        items = []
        for quiz in await authoring.list_quizzes(self.db, event["_id"], (authoring.OPEN, authoring.CLOSED)):
            attempt = attempts.get(quiz["_id"])
            if quiz["status"] == authoring.CLOSED and not attempt:
                continue
            if attempt:
                attempt = await taking.expire(self.db, quiz, attempt)
            items.append({"id": quiz["_id"], "title": text(quiz["title"]), "intro": text(quiz["intro"]),
                          "questions": len(quiz["questions"]), "time_limit": quiz.get("time_limit_seconds"),
                          "status": quiz["status"], "attempt": attempt})
        self.render_page("public/quizzes.html", can=can, items=items, **self.common(space, event))


class QuizPageHandler(QuizViewer):
    async def get(self, space_slug, event_slug, quiz_id):
        opened = await self.open_quiz(space_slug, event_slug, quiz_id)
        if opened is None:
            return
        space, event, can, quiz = opened
        text = self.texts(event)
        attempt = await taking.get_attempt(self.db, quiz, self.current_user["_id"])
        if attempt:
            attempt = await taking.expire(self.db, quiz, attempt)
        if taking.finished(attempt):
            state = "result"
        elif quiz["status"] != authoring.OPEN:
            state = "closed"
        else:
            state = "taking" if attempt else "start"
        self.render_page(
            "public/quiz.html", can=can, state=state, quiz=quiz, attempt=attempt,
            title=text(quiz["title"]), intro=text(quiz["intro"]),
            quiz_path=view.path(space, event) + f"/quizzes/{quiz['_id']}",
            questions=taking.questions_for_taking(quiz, text) if state == "taking" else [],
            review=taking.review(quiz, attempt, text) if state == "result" else [],
            seconds_left=taking.seconds_left(attempt) if state == "taking" else None,
            **self.common(space, event))


class QuizStartHandler(QuizViewer):
    async def post(self, space_slug, event_slug, quiz_id):
        opened = await self.open_quiz(space_slug, event_slug, quiz_id)
        if opened is None:
            return
        space, event, _can, quiz = opened
        try:
            _attempt, created = await taking.start(self.db, quiz, self.current_user)
        except taking.TakeError as exc:
            raise self.conflict(exc) from None
        if not created:
            self.flash(self._("You have already started this quiz: it can be taken only once."), "info")
        self.redirect(view.path(space, event) + f"/quizzes/{quiz['_id']}")


class QuizSubmitHandler(QuizViewer):
    async def post(self, space_slug, event_slug, quiz_id):
        opened = await self.open_quiz(space_slug, event_slug, quiz_id)
        if opened is None:
            return
        space, event, _can, quiz = opened
        attempt = await taking.get_attempt(self.db, quiz, self.current_user["_id"])
        if not attempt:
            raise PageError(409, self._("Press Start before sending answers."))
        raw = {q["id"]: [v[:16] for v in self.get_body_arguments(f"answer-{q['id']}")][:len(q["options"]) + 1]
               for q in quiz["questions"]}
        try:
            stored = await taking.submit(self.db, quiz, attempt, raw)
        except taking.TakeError as exc:
            raise self.conflict(exc) from None
        if stored["late"]:
            self.flash(self._("Your answers arrived after the time limit, so they were not counted."), "error")
        else:
            self.flash(self._("Your answers have been sent."))
        self.redirect(view.path(space, event) + f"/quizzes/{quiz['_id']}#result")


ROUTES = [
    (EVENT, QuizListHandler),
    (QUIZ, QuizPageHandler),
    (QUIZ + r"/start", QuizStartHandler),
    (QUIZ + r"/submit", QuizSubmitHandler),
]
