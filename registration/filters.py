"""The registrant list's filters: read from a page's query string, checked, built into one query.

The list page, its CSV export and a bulk action on "everyone matching"
share one `Filters` value and one query (`query`), so the three always agree
on who is in the list.  Everything is decided by the database: no more than a
page of registrations is ever read to show a page.

A filter that cannot be applied (an unknown state, source or field, a date
that is not a date) raises `FilterError` with a message marked for
translation; the page then shows the message and no rows, never the
unfiltered list as if it were the filtered one.  Typed values are escaped
before they reach a regular expression, and their length is limited.
"""
from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from access import roles as R
from core.errors import Refusal
from core.i18n import N_, text_for
from registration import forms
from registration import model as M

MAX_QUERY_LENGTH = 200
MAX_VALUE_LENGTH = 200
# Answer keys go into a document path: nothing but these characters (no "." or "$").
_FIELD_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A field of an extra data request (`registration.requests`): "<request id>-<field id>".
_REQUEST_KEY = re.compile(r"^([0-9a-f]{24})-(f_[a-z0-9_]{1,30})$")

EQUALS, CONTAINS = "eq", "contains"
OPERATORS = (EQUALS, CONTAINS)

SOURCES = (M.SOURCE_STAFF, M.SOURCE_IMPORT, M.SOURCE_FORM, M.SOURCE_ONE_CLICK, M.SOURCE_INVITATION)
SOURCE_LABELS = {
    M.SOURCE_STAFF: N_("Registered by staff"),
    M.SOURCE_IMPORT: N_("Imported from a CSV file"),
    M.SOURCE_FORM: N_("Registration form"),
    M.SOURCE_ONE_CLICK: N_("One-click registration"),
    M.SOURCE_INVITATION: N_("Invitation"),
}

# The query string's names, in the order links are built.
PARAMS = ("q", "state", "source", "field", "op", "value", "since", "until")


class FilterError(Refusal):
    """A filter that cannot be applied; `message` is marked for translation, `params` fill it."""


class AnswerField(TypedDict):
    key: str
    label: str
    options: list[tuple[str, str]]   # (stored value, label) for choice fields, else empty


@dataclasses.dataclass(frozen=True)
class Filters:
    q: str = ""
    state: str = ""
    source: str = ""
    field: str = ""
    op: str = EQUALS
    value: str = ""
    since: str = ""     # YYYY-MM-DD, in the event's time zone, inclusive
    until: str = ""     # YYYY-MM-DD, inclusive

    def params(self) -> dict[str, str]:
        """The filters as query arguments (only those set), for links that keep them."""
        out = {name: getattr(self, name) for name in PARAMS if getattr(self, name)}
        if not self.field:
            out.pop("op", None)
            out.pop("value", None)
        elif self.op == EQUALS:
            out.pop("op", None)
        return out

    @property
    def narrowed(self) -> bool:
        """Whether anything but the whole event is asked for."""
        return bool(self.params())


def answer_fields(form: Mapping[str, Any], locale: str) -> list[AnswerField]:
    """The answers a list can be filtered by: every column of the form, with a choice field's options."""
    by_id = {str(f.get("id")): f for f in form.get("fields") or () if isinstance(f, Mapping)}
    out: list[AnswerField] = []
    for column in forms.columns(form, locale):
        key = column["id"]
        out.append({"key": key, "label": column["label"], "options": _options(by_id.get(key), locale)})
    return out


def request_key(request_id: str, field_id: str) -> str:
    """The filter key of a request's field; its answers are kept under `request_answers.<request id>`."""
    return f"{request_id}-{field_id}"


def answer_path(key: str) -> str:
    """Where the answer a filter key names is stored on a registration."""
    found = _REQUEST_KEY.match(key)
    if found:
        return f"request_answers.{found.group(1)}.{found.group(2)}.value"
    return f"answers.{key}.value"


def _options(field: Mapping[str, Any] | None, locale: str) -> list[tuple[str, str]]:
    out = []
    for option in (field or {}).get("options") or ():
        if not isinstance(option, Mapping):
            continue
        value = option.get("id", option.get("value"))
        if value is None:
            continue
        label = option.get("label")
        text = text_for(dict(label), locale, ()) if isinstance(label, Mapping) else label
        out.append((str(value), str(text or value)))
    return out


def _one(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name, "")
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return str(value or "").strip()


def parse(args: Mapping[str, Any], fields: Sequence[AnswerField]) -> Filters:
    """Filters from query arguments (name -> text or list of texts), or FilterError having read nothing."""
    q = _one(args, "q")[:MAX_QUERY_LENGTH]
    state = _one(args, "state")
    if state and state not in M.STATES:
        raise FilterError(N_("“%(state)s” is not a registration state."), state=state[:40])
    source = _one(args, "source")
    if source and source not in SOURCES:
        raise FilterError(N_("“%(source)s” is not a way of registering."), source=source[:40])
    field, op, value = _one(args, "field"), _one(args, "op") or EQUALS, _one(args, "value")
    if field:
        known = {f["key"]: f for f in fields}
        if not _FIELD_KEY.match(field) or field not in known:
            raise FilterError(N_("The registration form has no field “%(field)s”."), field=field[:64])
        if op not in OPERATORS:
            raise FilterError(N_("Choose whether the answer equals or contains the value."))
        if len(value) > MAX_VALUE_LENGTH:
            raise FilterError(N_("The value is longer than %(max)s characters."), max=MAX_VALUE_LENGTH)
        if not value:
            raise FilterError(N_("Type the answer to look for."))
        # A choice is stored as its option's value; staff may type the label they see.
        for stored, label in known[field]["options"]:
            if value.casefold() == label.casefold():
                value = stored
                break
    else:
        op, value = EQUALS, ""
    since, until = _one(args, "since"), _one(args, "until")
    first, last = _date(since), _date(until)
    if first and last and first > last:
        raise FilterError(N_("The first date is after the last one."))
    return Filters(q=q, state=state, source=source, field=field, op=op, value=value, since=since, until=until)


def _date(raw: str) -> datetime.date | None:
    if not raw:
        return None
    try:
        if not _DATE.match(raw):
            raise ValueError(raw)
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise FilterError(N_("“%(date)s” is not a date (year-month-day)."), date=raw[:40]) from None


def _local_midnight(day: datetime.date, timezone: str) -> datetime.datetime:
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.datetime.combine(day, datetime.time(), zone).astimezone(datetime.UTC)


def query(event: Mapping[str, Any], filters: Filters) -> dict:
    """The one MongoDB filter for the registrations of `event` that `filters` select."""
    clauses: list[dict] = [{"scope_id": event["_id"], "role": R.ATTENDEE}]
    if filters.q:
        # Escaped: staff type addresses with dots and pluses, not patterns.
        pattern = {"$regex": re.escape(filters.q), "$options": "i"}
        clauses.append({"$or": [{"email": pattern}, {"name": pattern}]})
    if filters.state:
        # Registrations stored before states existed have none: they are registered.
        clauses.append({"state": {"$in": [None, M.REGISTERED]}} if filters.state == M.REGISTERED
                       else {"state": filters.state})
    if filters.source:
        # Before sources were stored only staff registered people (by hand or by import).
        clauses.append({"source": {"$in": [None, M.SOURCE_STAFF]}} if filters.source == M.SOURCE_STAFF
                       else {"source": filters.source})
    if filters.field:
        path = answer_path(filters.field)
        text = re.escape(filters.value)
        pattern = {"$regex": f"^{text}$" if filters.op == EQUALS else text, "$options": "i"}
        alternatives: list[dict] = [{path: pattern}]
        if filters.op == EQUALS:
            number = _number(filters.value)
            if number is not None:
                alternatives.append({path: number})
        clauses.append(alternatives[0] if len(alternatives) == 1 else {"$or": alternatives})
    span: dict = {}
    if filters.since:
        span["$gte"] = _local_midnight(datetime.date.fromisoformat(filters.since), event.get("timezone", "UTC"))
    if filters.until:
        last = datetime.date.fromisoformat(filters.until) + datetime.timedelta(days=1)
        span["$lt"] = _local_midnight(last, event.get("timezone", "UTC"))
    if span:
        clauses.append({"created_at": span})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _number(raw: str) -> int | float | None:
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None
