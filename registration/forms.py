"""Registration forms built by the organiser: their fields, versions and answers.

A form is one document of the `forms` collection per event and kind
("registration"; later "request:<id>" for extra data requests):
`version` grows with every save, `fields` are in the order shown, and `past`
keeps every earlier definition of a field, keyed "<field id>:<field version>",
so an answer given for a field that was since edited or removed is still read
with the label and options it was given for.  Saving is `registration.form_edit`.

- `load(db, event_id, kind)` gives the event's form (one with no fields when
  none was built).
- `validate(form, raw, files, ...)` checks a submission without writing: the
  answers (files not yet stored) or `FormErrors` (per-field messages marked
  for translation).  A field whose condition is not met is hidden: never
  required, and its answer is dropped.
- `accept(...)` validates, refuses a stale or forged form version, then stores
  the files and returns the answers, each kept with the version of the field
  it was given for.
- `readable` and `columns`/`row` turn answers into text for people and CSV.
- `from_profile`, `prefill` and `profile_values` connect answers with the
  reusable profile kept on the account (`accounts.profile_fields`).
"""
from __future__ import annotations

import datetime
import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

import filetype
from email_validator import EmailNotValidError, validate_email

from core import countries
from core.i18n import N_, text_for
from registration import form_files

REGISTRATION = "registration"

TEXT, LONG_TEXT, EMAIL, PHONE = "text", "long_text", "email", "phone"
NUMBER, DATE, COUNTRY = "number", "date", "country"
SINGLE, MULTIPLE, CHECKBOX, CONSENT, FILE, SECTION = "single", "multiple", "checkbox", "consent", "file", "section"
# The builder's type menu, in this order.
TYPES: dict[str, str] = {
    TEXT: N_("Text"), LONG_TEXT: N_("Long text"), EMAIL: N_("Email"), PHONE: N_("Phone"),
    NUMBER: N_("Number"), DATE: N_("Date"), COUNTRY: N_("Country"), SINGLE: N_("Single choice"),
    MULTIPLE: N_("Multiple choice"), CHECKBOX: N_("Checkbox"), CONSENT: N_("Consent"),
    FILE: N_("File upload"), SECTION: N_("Section heading"),
}
CHOICE_TYPES = frozenset({SINGLE, MULTIPLE})
NO_ANSWER = frozenset({SECTION})
# What the profile may keep: a file or a consent belongs to one registration.
PROFILE_TYPES = frozenset({TEXT, LONG_TEXT, EMAIL, PHONE, NUMBER, DATE, COUNTRY, SINGLE, MULTIPLE, CHECKBOX})
TEXT_LIMITS = {TEXT: 300, LONG_TEXT: 5000}
YES = "yes"

# Uploads a form may allow: extension -> the kind the content must be
# recognised as (filetype's name for it).  Text formats cannot be recognised
# from their bytes, so they are not offered.
FILE_KINDS: dict[str, str] = {
    "pdf": "pdf", "jpg": "jpg", "jpeg": "jpg", "png": "png", "gif": "gif", "webp": "webp", "heic": "heic",
    "docx": "docx", "xlsx": "xlsx", "pptx": "pptx", "odt": "odt", "ods": "ods", "odp": "odp",
}
FILE_CAP_BYTES = 20 * 1024 * 1024
DEFAULT_FILE_BYTES = 5 * 1024 * 1024
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-.]{3,28}[0-9]$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NUMBER_RE = re.compile(r"^[+-]?(\d{1,15}([.,]\d{1,10})?|[.,]\d{1,10})$")
FORM_KEY = "_form"
VERSION_FIELD = "form_version"

REQUIRED = N_("Please fill in this field.")
REQUIRED_CHOICE = N_("Please choose an answer.")
REQUIRED_CHECK = N_("Please tick this box.")
REQUIRED_CONSENT = N_("Please agree to continue.")
REQUIRED_FILE = N_("Please attach a file.")
TOO_LONG = N_("Please use at most %(max)s characters.")
BAD_EMAIL = N_("Please enter a valid email address.")
BAD_PHONE = N_("Please enter a phone number: digits, optionally starting with +.")
BAD_NUMBER = N_("Please enter a number.")
BELOW_MIN = N_("Please enter a number no less than %(min)s.")
ABOVE_MAX = N_("Please enter a number no greater than %(max)s.")
BAD_DATE = N_("Please enter a date as YYYY-MM-DD.")
BAD_COUNTRY = N_("Please choose a country from the list.")
BAD_CHOICE = N_("Please choose one of the offered answers.")
BAD_FILE_TYPE = N_("This file type is not accepted here. Accepted: %(types)s.")
FILE_CONTENT_MISMATCH = N_("The file's content does not match its name: a .%(ext)s file was expected.")
FILE_TOO_LARGE = N_("The file is larger than %(mb)s MB.")
FILE_EMPTY = N_("The file is empty.")
STALE_FORM = N_("The form has changed since this page was opened. Please reload the page and fill it in again.")


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


def empty(event_id, kind: str = REGISTRATION, default_locale: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id, "kind": kind, "version": 0, "fields": [], "past": {},
            "default_locale": default_locale}


async def load(db, event_id, kind: str = REGISTRATION) -> dict[str, Any]:
    form = await db.forms.find_one({"event_id": event_id, "kind": kind})
    return form or empty(event_id, kind)


# --- texts ---------------------------------------------------------------------

def text(values: Mapping[str, str] | None, locale: str, form: Mapping[str, Any] | None = None) -> str:
    """A per-locale text: the reader's locale, then the form's default locale, then any."""
    default = (form or {}).get("default_locale")
    return text_for(dict(values or {}), locale, (default,) if default else ())


def option_label(field: Mapping[str, Any], value: str, locale: str, form=None) -> str:
    for o in field.get("options") or []:
        if o["value"] == value:
            return text(o["label"], locale, form)
    return value


def definition(form: Mapping[str, Any], field_id: str, version: int) -> dict[str, Any] | None:
    """The field as it was at that version: the current one, or a kept past one."""
    for f in form.get("fields") or []:
        if f["id"] == field_id and f["v"] == version:
            return f
    return (form.get("past") or {}).get(f"{field_id}:{version}")


# --- validation ------------------------------------------------------------------

def _first(raw: Raw, key: str) -> str:
    values = raw.get(key) or []
    return (values[0] if values else "").replace("\x00", "").strip()


def _number(value: float) -> int | float:
    return int(value) if value == int(value) and abs(value) < 2 ** 53 else value


def _upload(files: Mapping[str, list[Any]], key: str) -> tuple[str, bytes] | None:
    uploads = files.get(key) or []
    if not uploads:
        return None
    upload = uploads[0]
    name = upload.get("filename", "") if isinstance(upload, Mapping) else getattr(upload, "filename", "")
    body = upload.get("body", b"") if isinstance(upload, Mapping) else getattr(upload, "body", b"")
    if not name and not body:
        return None      # a file input left empty still sends a part
    return os.path.basename(str(name).replace("\\", "/"))[:200], bytes(body)


def check_file(field: Mapping[str, Any], name: str, data: bytes) -> tuple[str, dict[str, Any]] | dict[str, Any]:
    """An error, or what is known of an acceptable file (its sniffed content type)."""
    allowed = list(field.get("extensions") or [])
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in allowed or ext not in FILE_KINDS:
        return BAD_FILE_TYPE, {"types": ", ".join("." + e for e in allowed)}
    if not data:
        return FILE_EMPTY, {}
    limit = min(int(field.get("max_bytes") or DEFAULT_FILE_BYTES), FILE_CAP_BYTES)
    if len(data) > limit:
        return FILE_TOO_LARGE, {"mb": round(limit / (1024 * 1024), 1)}
    kind = filetype.guess(data)
    found = kind.extension if kind else None
    if found != FILE_KINDS[ext]:
        return FILE_CONTENT_MISMATCH, {"ext": ext}
    return {"name": name, "size": len(data), "type": kind.mime}


def _value(field: Mapping[str, Any], raw: Raw, files: Mapping[str, list[Any]]):
    """(value, error): value None means unanswered."""
    fid, kind = field["id"], field["type"]
    if kind == MULTIPLE:
        known = [o["value"] for o in field.get("options") or []]
        picked = {v.strip() for v in raw.get(fid) or [] if v.strip()}
        if picked - set(known):
            return None, (BAD_CHOICE, {})
        return ([v for v in known if v in picked] or None), None
    if kind == FILE:
        upload = _upload(files, fid)
        if upload is None:
            return None, None
        checked = check_file(field, *upload)
        if isinstance(checked, tuple):
            return None, checked
        return {**checked, "_data": upload[1]}, None
    value = _first(raw, fid)
    if kind == CHECKBOX:
        return (value == YES), None
    if kind == CONSENT:
        return ({"agreed": True, "version": field.get("consent", {}).get("version", 1)} if value == YES
                else None), None
    if not value:
        return None, None
    if kind in TEXT_LIMITS:
        limit = int(field.get("max_length") or TEXT_LIMITS[kind])
        if len(value) > limit:
            return None, (TOO_LONG, {"max": limit})
        return value, None
    if kind == EMAIL:
        try:
            return validate_email(value, check_deliverability=False).normalized.lower(), None
        except EmailNotValidError:
            return None, (BAD_EMAIL, {})
    if kind == PHONE:
        digits = sum(c.isdigit() for c in value)
        if not PHONE_RE.match(value) or not 5 <= digits <= 15:
            return None, (BAD_PHONE, {})
        return value, None
    if kind == NUMBER:
        if not NUMBER_RE.match(value):
            return None, (BAD_NUMBER, {})
        number = float(value.replace(",", "."))
        if not math.isfinite(number):
            return None, (BAD_NUMBER, {})
        if field.get("min") is not None and number < field["min"]:
            return None, (BELOW_MIN, {"min": _number(field["min"])})
        if field.get("max") is not None and number > field["max"]:
            return None, (ABOVE_MAX, {"max": _number(field["max"])})
        return _number(number), None
    if kind == DATE:
        try:
            if not DATE_RE.match(value):
                raise ValueError
            return datetime.date.fromisoformat(value).isoformat(), None
        except ValueError:
            return None, (BAD_DATE, {})
    if kind == COUNTRY:
        code = value.upper()
        return (code, None) if code in countries.CODES else (None, (BAD_COUNTRY, {}))
    if kind == SINGLE:
        if value not in {o["value"] for o in field.get("options") or []}:
            return None, (BAD_CHOICE, {})
        return value, None
    return None, None


def _required_message(kind: str) -> str:
    return {SINGLE: REQUIRED_CHOICE, MULTIPLE: REQUIRED_CHOICE, COUNTRY: REQUIRED_CHOICE,
            CHECKBOX: REQUIRED_CHECK, CONSENT: REQUIRED_CONSENT, FILE: REQUIRED_FILE}.get(kind, REQUIRED)


def condition_met(field: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    """Whether a field is shown, given the values of the fields shown before it."""
    cond = field.get("condition")
    if not cond:
        return True
    value = given.get(cond["field"])
    if value is None:
        return False
    chosen = set(value) if isinstance(value, list) else {value}
    return bool(chosen & set(cond["values"]))


def shown_fields(form: Mapping[str, Any], raw: Raw) -> list[str]:
    """Ids of the fields shown for these answers (conditions read from the raw choices)."""
    given: dict[str, Any] = {}
    out = []
    for f in form.get("fields") or []:
        if not condition_met(f, given):
            continue
        out.append(f["id"])
        if f["type"] == SINGLE:
            given[f["id"]] = _first(raw, f["id"]) or None
        elif f["type"] == MULTIPLE:
            given[f["id"]] = [v for v in raw.get(f["id"]) or []]
    return out


def check_version(form: Mapping[str, Any], submitted_version: Any) -> None:
    if not form.get("version") and not form.get("fields"):
        return      # no form was built: there is nothing to be stale against
    try:
        same = int(str(submitted_version)) == int(form["version"])
    except (TypeError, ValueError):
        same = False
    if not same:
        raise FormErrors({FORM_KEY: (STALE_FORM, {})})


def validate(form: Mapping[str, Any], raw: Raw, files: Mapping[str, list[Any]] | None = None,
             *, submitted_version: Any = None, check_submitted: bool = True) -> dict[str, dict[str, Any]]:
    """The answers of a submission (a file's bytes under `_data`, not stored yet), or FormErrors.

    Fields are read in order; one whose condition is not met by the answers
    before it is skipped entirely: not required, and its answer dropped.
    Submitted ids the form does not know are ignored.
    """
    if check_submitted:
        check_version(form, submitted_version)
    files = files or {}
    given: dict[str, Any] = {}
    answers: dict[str, dict[str, Any]] = {}
    errors: dict[str, tuple[str, dict[str, Any]]] = {}
    for field in form.get("fields") or []:
        if field["type"] in NO_ANSWER or not condition_met(field, given):
            continue
        value, error = _value(field, raw, files)
        if error:
            errors[field["id"]] = error
            continue
        if field.get("required") and (value is None or value is False):
            errors[field["id"]] = (_required_message(field["type"]), {})
            continue
        if value is not None:
            given[field["id"]] = value
            answers[field["id"]] = {"v": field["v"], "value": value}
    if errors:
        raise FormErrors(errors)
    return answers


async def accept(db, services, form: Mapping[str, Any], raw: Raw, files: Mapping[str, list[Any]],
                 *, submitted_version: Any, owner_id: Any) -> Answers:
    """Validate everything, then store the files; nothing is written when anything is refused."""
    answers = validate(form, raw, files, submitted_version=submitted_version)
    out: Answers = {}
    for fid, answer in answers.items():
        value = answer["value"]
        if isinstance(value, dict) and "_data" in value:
            stored = await form_files.store(db, owner_id=owner_id, event_id=form.get("event_id"),
                                            form_kind=form.get("kind", REGISTRATION), field_id=fid,
                                            field_version=answer["v"], name=value["name"],
                                            content_type=value["type"], data=value["_data"])
            value = {"file": str(stored["_id"]), "name": value["name"], "size": value["size"], "type": value["type"]}
        out[fid] = {"v": answer["v"], "value": value}
    return out


def raw_from_arguments(arguments: Mapping[str, list[bytes]]) -> dict[str, list[str]]:
    """A submission from Tornado's body arguments (bytes, undecodable ones dropped)."""
    out: dict[str, list[str]] = {}
    for key, values in arguments.items():
        decoded = []
        for v in values[:300]:
            try:
                decoded.append(v.decode("utf-8") if isinstance(v, bytes) else str(v))
            except UnicodeDecodeError:
                continue
        out[key] = decoded
    return out


# --- reading answers -----------------------------------------------------------------

def answer_text(field: Mapping[str, Any], value: Any, locale: str, form=None,
                yes: str = "✓", no: str = "—") -> str:
    """An answer as plain text (never markup) for a list, a page or a CSV cell."""
    kind = field.get("type")
    if value is None:
        return ""
    if kind == SINGLE:
        return option_label(field, value, locale, form)
    if kind == MULTIPLE:
        return "; ".join(option_label(field, v, locale, form) for v in value)
    if kind == COUNTRY:
        return countries.name(value, locale)
    if kind == CHECKBOX:
        return yes if value else no
    if kind == CONSENT:
        return f"{yes} v{value.get('version', 1)}" if isinstance(value, dict) else yes
    if kind == FILE:
        return value.get("name", "") if isinstance(value, dict) else ""
    return str(value)


def readable(form: Mapping[str, Any], answers: Mapping[str, Any] | None, locale: str) -> list[tuple[str, str]]:
    """(label, text) of every answer, each read with the field version it was given for:
    current fields in their order first, then answers to fields since removed."""
    answers = answers or {}
    out = []
    order = [f["id"] for f in form.get("fields") or []]
    rest = sorted(k for k in answers if k not in order)
    for fid in order + rest:
        answer = answers.get(fid)
        if not answer:
            continue
        field = definition(form, fid, answer.get("v"))
        if not field:
            continue
        out.append((text(field.get("label"), locale, form), answer_text(field, answer.get("value"), locale, form)))
    return out


def _latest_past(form: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for f in (form.get("past") or {}).values():
        if f["id"] not in latest or f["v"] > latest[f["id"]]["v"]:
            latest[f["id"]] = f
    return latest


def columns(form: Mapping[str, Any], locale: str) -> list[dict[str, Any]]:
    """One column per field that has or had an answer: current fields in order, then removed ones.
    Each: {"id", "label" (the newest definition's), "removed"}."""
    out = [{"id": f["id"], "label": text(f.get("label"), locale, form), "removed": False}
           for f in form.get("fields") or [] if f["type"] not in NO_ANSWER]
    current = {f["id"] for f in form.get("fields") or []}
    for fid, f in sorted(_latest_past(form).items()):
        if fid not in current and f["type"] not in NO_ANSWER:
            out.append({"id": fid, "label": text(f.get("label"), locale, form), "removed": True})
    return out


def row(form: Mapping[str, Any], cols: Iterable[Mapping[str, Any]], answers: Mapping[str, Any] | None,
        locale: str) -> list[str]:
    """The cells of one person's answers under `columns`."""
    answers = answers or {}
    out = []
    for col in cols:
        answer = answers.get(col["id"])
        field = definition(form, col["id"], answer.get("v")) if answer else None
        out.append(answer_text(field, answer.get("value"), locale, form) if field and answer else "")
    return out


# --- the reusable profile ----------------------------------------------------------

ACCOUNT_KEYS = {"name": "name", "email": "email"}     # read from the account itself


def _profile(account: Mapping[str, Any] | None) -> dict[str, Any]:
    if not account:
        return {}
    values = dict(account.get("profile") or {})
    for key, attr in ACCOUNT_KEYS.items():
        if account.get(attr):
            values[key] = account[attr]
    return values


def _as_raw(field: Mapping[str, Any], value: Any) -> list[str] | None:
    kind = field["type"]
    if value is None or value == "" or value == []:
        return None
    if kind == MULTIPLE:
        return [str(v) for v in value] if isinstance(value, list) else None
    if kind == CHECKBOX:
        return [YES] if value is True else None
    if isinstance(value, (dict, list)):
        return None
    return [str(value)]


def prefill(form: Mapping[str, Any], account: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """What the person's profile (and account name and email) can fill in."""
    values = _profile(account)
    out = {}
    for f in form.get("fields") or []:
        key = f.get("profile_key")
        if key and f["type"] in PROFILE_TYPES and key in values:
            raw = _as_raw(f, values[key])
            if raw is not None:
                out[f["id"]] = raw
    return out


def from_profile(form: Mapping[str, Any], account: Mapping[str, Any]) -> dict[str, list[str]] | None:
    """A complete submission from the profile, or None when it does not answer every
    required field that would be shown (or an answer would be refused)."""
    raw = prefill(form, account)
    try:
        validate(form, raw, {}, check_submitted=False)
    except FormErrors:
        return None
    return raw


def profile_values(form: Mapping[str, Any], answers: Mapping[str, Any]) -> dict[str, Any]:
    """The profile keys these answers fill: {profile key: value}."""
    out = {}
    for f in form.get("fields") or []:
        key = f.get("profile_key")
        answer = answers.get(f["id"])
        if key and answer and f["type"] in PROFILE_TYPES and answer.get("v") == f["v"]:
            out[key] = answer["value"]
    return out
