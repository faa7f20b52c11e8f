"""Registration forms built by the organiser: their fields, versions and answers.

The interface the registration pages and actions use; the builder fills it in.

- `load(db, event_id, kind)` gives the event's form (one with no fields when
  none was built).
- `accept(...)` validates a submission against the form, stores its files and
  returns the answers, each kept with the version of the field it was given
  for; or raises `FormErrors` (per-field translated messages) having written
  nothing.
- `from_profile(form, account)` gives a submission built from the person's
  reusable profile when it answers every required field, else None.
- `prefill(form, account)` gives what the profile can fill in.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

REGISTRATION = "registration"


class AnswerDoc(TypedDict):
    v: int        # the version of the field this answer was given for
    value: Any


Answers = dict[str, AnswerDoc]
Raw = Mapping[str, list[str]]


class FormErrors(ValueError):
    """A refused submission: field id (or "_form") -> (message marked for translation, params)."""

    def __init__(self, errors: dict[str, tuple[str, dict[str, Any]]]):
        super().__init__("form errors")
        self.errors = errors


async def load(db, event_id, kind: str = REGISTRATION) -> dict[str, Any]:
    return {"event_id": event_id, "kind": kind, "version": 0, "fields": [], "past": {}}


async def accept(db, services, form: Mapping[str, Any], raw: Raw, files: Mapping[str, list[Any]],
                 *, submitted_version: Any, owner_id: Any) -> Answers:
    return {}


def from_profile(form: Mapping[str, Any], account: Mapping[str, Any]) -> dict[str, list[str]] | None:
    return {}


def prefill(form: Mapping[str, Any], account: Mapping[str, Any] | None) -> dict[str, list[str]]:
    return {}


def columns(form: Mapping[str, Any], locale: str) -> list[tuple[str, str]]:
    """(column key, translated label) for every field ever answered, current and past versions."""
    return []


def readable(form: Mapping[str, Any], answers: Mapping[str, Any], locale: str) -> dict[str, str]:
    """Column key -> the answer as text, for lists and CSV."""
    return {}
