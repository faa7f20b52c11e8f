"""Saving a form definition: the builder's one action, with its rules.

`save(db, actor, event, fields, expected_version=...)` takes the whole list
of fields as the builder wants it, checks every rule (known types, ids,
labels in the event's default language, conditions on an earlier choice
field, limits), gives each field its version (unchanged definition: same
version; changed: the next one, the old definition kept in `past`; removed:
kept in `past`), and writes only if the form is still at the version the
editor started from, so of two editors saving at once the second is told
the form changed meanwhile.  Every save is audited.

The helpers below (`new_field`, `move`, `reorder`, `remove`, `replace`) are
pure: the builder applies one of them to the fields it loaded and saves.
"""
from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from access import audit
from core.clock import utcnow
from core.i18n import N_
from events.editing import EditError
from registration import forms as F

MAX_FIELDS = 100
MAX_OPTIONS = 200
MAX_LABEL = 300
MAX_HELP = 2000
MAX_CONSENT = 10_000
ID_RE = re.compile(r"^f_[a-z0-9_]{1,30}$")
OPTION_RE = re.compile(r"^[a-z0-9_]{1,32}$")
PROFILE_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

CHANGED = N_("The form changed meanwhile (someone else saved it). Your change was not saved: "
             "look at the form as it is now and make it again.")
TOO_MANY_FIELDS = N_("A form has at most %(max)s fields.")
UNKNOWN_TYPE = N_("Field %(n)s: unknown field type “%(type)s”.")
BAD_ID = N_("Field %(n)s: its id is not valid.")
DUPLICATE_ID = N_("Field %(n)s: another field has the same id.")
NO_LABEL = N_("Field %(n)s: write its label in the event's default language (%(locale)s).")
LABEL_TOO_LONG = N_("Field %(n)s: a label or option is longer than %(max)s characters.")
HELP_TOO_LONG = N_("Field %(n)s: the help text is longer than %(max)s characters.")
NO_OPTIONS = N_("Field %(n)s: a choice needs at least one option.")
TOO_MANY_OPTIONS = N_("Field %(n)s: at most %(max)s options.")
BAD_OPTION = N_("Field %(n)s: every option needs a label in the event's default language (%(locale)s) "
                "and a distinct value.")
BAD_BOUNDS = N_("Field %(n)s: the minimum and maximum must be numbers, the minimum not above the maximum.")
BAD_MAX_LENGTH = N_("Field %(n)s: the length limit must be a whole number from 1 to %(max)s.")
NO_EXTENSIONS = N_("Field %(n)s: choose at least one accepted file type.")
BAD_FILE_SIZE = N_("Field %(n)s: the size limit must be a number of megabytes from 0.1 to %(max)s.")
NO_CONSENT_TEXT = N_("Field %(n)s: write the consent text in the event's default language (%(locale)s).")
BAD_CONDITION = N_("Field %(n)s: a condition must name an earlier single or multiple choice field "
                   "and at least one of its options.")
BAD_PROFILE_KEY = N_("Field %(n)s: a profile key is lower-case Latin letters, digits and _ "
                     "(starting with a letter); files, consents and headings cannot be kept in the profile.")
DUPLICATE_PROFILE_KEY = N_("Field %(n)s: another field already fills the profile key “%(key)s”.")


def new_id(prefix: str = "f_") -> str:
    return prefix + secrets.token_hex(4)


def new_field(kind: str, label: Mapping[str, str], options: Sequence[Mapping[str, str]] | None = None) -> dict:
    """A field to add (checked when saved)."""
    field: dict[str, Any] = {"id": new_id(), "type": kind, "label": dict(label), "help": {}, "required": False,
                             "profile_key": "", "condition": None}
    if kind in F.CHOICE_TYPES:
        field["options"] = [{"value": new_id("o"), "label": dict(o)} for o in options or []]
    if kind == F.FILE:
        field["extensions"] = ["pdf"]
        field["max_bytes"] = F.DEFAULT_FILE_BYTES
    if kind == F.CONSENT:
        field["consent"] = {"text": dict(label), "version": 1}
    return field


def _index(fields: list[dict], field_id: str) -> int:
    for i, f in enumerate(fields):
        if f["id"] == field_id:
            return i
    return -1


def move(fields: list[dict], field_id: str, delta: int) -> list[dict]:
    out = list(fields)
    i = _index(out, field_id)
    j = i + delta
    if i >= 0 and 0 <= j < len(out):
        out[i], out[j] = out[j], out[i]
    return out


def reorder(fields: list[dict], ids: list[str]) -> list[dict]:
    """Fields in the order given; any the list misses keep their relative order at the end."""
    by_id = {f["id"]: f for f in fields}
    seen: list[str] = []
    for i in ids:
        if i in by_id and i not in seen:
            seen.append(i)
    return [by_id[i] for i in seen] + [f for f in fields if f["id"] not in seen]


def remove(fields: list[dict], field_id: str) -> list[dict]:
    return [f for f in fields if f["id"] != field_id]


def replace(fields: list[dict], field: dict) -> list[dict]:
    return [field if f["id"] == field["id"] else f for f in fields]


# --- checking one definition --------------------------------------------------------------

def _texts(values: Any, locales: list[str], limit: int, n: int, message: str) -> dict[str, str]:
    if not isinstance(values, Mapping):
        values = {}
    out = {}
    for code in locales:
        value = str(values.get(code) or "").strip()
        if len(value) > limit:
            raise EditError(message, "fields", n=n, max=limit)
        if value:
            out[code] = value
    return out


def _bound(value: Any, n: int) -> float | int | None:
    if value is None or value == "":
        return None
    try:
        number = float(str(value).replace(",", "."))
    except ValueError:
        raise EditError(BAD_BOUNDS, "fields", n=n) from None
    if number != number or abs(number) > 1e15:
        raise EditError(BAD_BOUNDS, "fields", n=n)
    return int(number) if number == int(number) else number


def clean_field(spec: Mapping[str, Any], n: int, locales: list[str], default: str) -> dict[str, Any]:
    """One field checked and reduced to what is stored (its version is given by `save`)."""
    kind = spec.get("type")
    if kind not in F.TYPES:
        raise EditError(UNKNOWN_TYPE, "fields", n=n, type=str(kind)[:40])
    fid = str(spec.get("id") or "")
    if not ID_RE.match(fid):
        raise EditError(BAD_ID, "fields", n=n)
    label = _texts(spec.get("label"), locales, MAX_LABEL, n, LABEL_TOO_LONG)
    if not label.get(default):
        raise EditError(NO_LABEL, "fields", n=n, locale=default)
    field: dict[str, Any] = {"id": fid, "type": kind, "label": label,
                             "help": _texts(spec.get("help"), locales, MAX_HELP, n, HELP_TOO_LONG),
                             "required": bool(spec.get("required")) and kind != F.SECTION,
                             "profile_key": "", "condition": None}
    key = str(spec.get("profile_key") or "").strip()
    if key:
        if not PROFILE_KEY_RE.match(key) or kind not in F.PROFILE_TYPES:
            raise EditError(BAD_PROFILE_KEY, "fields", n=n)
        field["profile_key"] = key
    cond = spec.get("condition")
    if cond:
        if not isinstance(cond, Mapping) or not isinstance(cond.get("values"), list) or not cond["values"]:
            raise EditError(BAD_CONDITION, "fields", n=n)
        field["condition"] = {"field": str(cond.get("field") or ""),
                              "values": [str(v) for v in cond["values"]][:MAX_OPTIONS]}
    if kind in F.CHOICE_TYPES:
        options = list(spec.get("options") or [])
        if not options:
            raise EditError(NO_OPTIONS, "fields", n=n)
        if len(options) > MAX_OPTIONS:
            raise EditError(TOO_MANY_OPTIONS, "fields", n=n, max=MAX_OPTIONS)
        clean, values = [], set()
        for o in options:
            value = str((o or {}).get("value") or "")
            text = _texts((o or {}).get("label"), locales, MAX_LABEL, n, LABEL_TOO_LONG)
            if not OPTION_RE.match(value) or value in values or not text.get(default):
                raise EditError(BAD_OPTION, "fields", n=n, locale=default)
            values.add(value)
            clean.append({"value": value, "label": text})
        field["options"] = clean
    if kind == F.NUMBER:
        low, high = _bound(spec.get("min"), n), _bound(spec.get("max"), n)
        if low is not None and high is not None and low > high:
            raise EditError(BAD_BOUNDS, "fields", n=n)
        field["min"], field["max"] = low, high
    if kind in F.TEXT_LIMITS:
        limit = F.TEXT_LIMITS[kind]
        raw = spec.get("max_length")
        if raw not in (None, ""):
            if not str(raw).isdigit() or not 1 <= int(str(raw)) <= limit:
                raise EditError(BAD_MAX_LENGTH, "fields", n=n, max=limit)
            field["max_length"] = int(str(raw))
    if kind == F.FILE:
        extensions = [e for e in F.FILE_KINDS if e in set(spec.get("extensions") or [])]
        if not extensions:
            raise EditError(NO_EXTENSIONS, "fields", n=n)
        field["extensions"] = extensions
        size = spec.get("max_bytes") or F.DEFAULT_FILE_BYTES
        if not isinstance(size, int) or isinstance(size, bool) or not 100_000 <= size <= F.FILE_CAP_BYTES:
            raise EditError(BAD_FILE_SIZE, "fields", n=n, max=F.FILE_CAP_BYTES // (1024 * 1024))
        field["max_bytes"] = size
    if kind == F.CONSENT:
        consent = spec.get("consent") or {}
        text = _texts(consent.get("text") if isinstance(consent, Mapping) else None,
                      locales, MAX_CONSENT, n, HELP_TOO_LONG)
        if not text.get(default):
            raise EditError(NO_CONSENT_TEXT, "fields", n=n, locale=default)
        field["consent"] = {"text": text, "version": 1}
    return field


def check_fields(specs: Sequence[Mapping[str, Any]], locales: list[str], default: str) -> list[dict[str, Any]]:
    if len(specs) > MAX_FIELDS:
        raise EditError(TOO_MANY_FIELDS, "fields", max=MAX_FIELDS)
    fields: list[dict[str, Any]] = []
    ids: set[str] = set()
    keys: set[str] = set()
    for n, spec in enumerate(specs, start=1):
        field = clean_field(spec, n, locales, default)
        if field["id"] in ids:
            raise EditError(DUPLICATE_ID, "fields", n=n)
        cond = field["condition"]
        if cond:
            # Only an earlier field: the form is read top to bottom, and a
            # condition on a later one could make a loop.
            target = next((f for f in fields if f["id"] == cond["field"]), None)
            options = {o["value"] for o in (target or {}).get("options") or []}
            if not target or target["type"] not in F.CHOICE_TYPES or not set(cond["values"]) <= options:
                raise EditError(BAD_CONDITION, "fields", n=n)
        if field["profile_key"]:
            if field["profile_key"] in keys:
                raise EditError(DUPLICATE_PROFILE_KEY, "fields", n=n, key=field["profile_key"])
            keys.add(field["profile_key"])
        ids.add(field["id"])
        fields.append(field)
    return fields


def _unversioned(field: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in field.items() if k != "v"}


def _versioned(fields: list[dict], current: Mapping[str, Any]) -> tuple[list[dict], dict[str, dict]]:
    """Fields with their versions, and the definitions that now go to `past`."""
    old = {f["id"]: f for f in current.get("fields") or []}
    past_versions: dict[str, int] = {}
    for f in (current.get("past") or {}).values():
        past_versions[f["id"]] = max(past_versions.get(f["id"], 0), f["v"])
    retired: dict[str, dict] = {}
    out = []
    for field in fields:
        before = old.get(field["id"])
        if field["type"] == F.CONSENT and before and before["type"] == F.CONSENT:
            same_text = before["consent"]["text"] == field["consent"]["text"]
            version = before["consent"]["version"]
            field["consent"]["version"] = version if same_text else version + 1
        if before and _unversioned(before) == field:
            out.append(before)
            continue
        top = max(before["v"] if before else 0, past_versions.get(field["id"], 0))
        if before:
            retired[f"{before['id']}:{before['v']}"] = before
        out.append({**field, "v": top + 1})
    kept = {f["id"] for f in fields}
    for fid, before in old.items():
        if fid not in kept:
            retired[f"{fid}:{before['v']}"] = before
    return out, retired


async def save(db, actor: Mapping[str, Any], event: Mapping[str, Any], specs: Sequence[Mapping[str, Any]], *,
               expected_version: int, kind: str = F.REGISTRATION) -> dict[str, Any]:
    """Check and store the form's fields; EditError (nothing written) when refused or stale."""
    locales, default = list(event["locales"]), event["default_locale"]
    fields = check_fields([copy.deepcopy(dict(s)) for s in specs], locales, default)
    current = await F.load(db, event["_id"], kind)
    if int(current["version"]) != int(expected_version):
        raise EditError(CHANGED, "version")
    versioned, retired = _versioned(fields, current)
    past = {**(current.get("past") or {}), **retired}
    now = utcnow()
    changes = {"fields": versioned, "past": past, "version": int(expected_version) + 1,
               "default_locale": default, "locales": locales, "updated_at": now,
               "updated_by": actor["_id"]}
    if "_id" not in current:
        doc = {**F.empty(event["_id"], kind, default), **changes, "created_at": now}
        try:
            await db.forms.insert_one(doc)
        except DuplicateKeyError:
            raise EditError(CHANGED, "version") from None
        saved = await db.forms.find_one({"_id": doc["_id"]}) or doc
    else:
        saved = await db.forms.find_one_and_update(
            {"_id": current["_id"], "version": int(expected_version)}, {"$set": changes},
            return_document=ReturnDocument.AFTER)
        if saved is None:
            raise EditError(CHANGED, "version")
    await audit.record(db, actor=actor, action="form.save", event=event,
                       params={"kind": kind, "version": saved["version"]},
                       before=[f"{f['id']}:{f['v']}" for f in current.get("fields") or []],
                       after=[f"{f['id']}:{f['v']}" for f in versioned])
    return saved
