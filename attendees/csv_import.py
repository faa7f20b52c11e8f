"""Importing attendees from a CSV file: check everything, show a preview, then commit.

An upload is parsed and every row checked (address, language, duplicates in
the file, already registered) without registering anyone.  The result is a
preview stored in `imports` for an hour, visible only to the person who
uploaded it; committing registers the valid rows, checking duplicates again
because time has passed, and deletes the preview.  A preview is claimed
atomically before committing, so a double click or a second tab cannot
import it twice.

What files are accepted: UTF-8 (with or without the BOM Excel writes), or,
when the bytes are not UTF-8, Windows-1251 (what Russian-language Excel
saves as "CSV").  The delimiter is taken from the header line: comma,
semicolon or tab.  A header is required, with an `email` column and
optionally `name` and `locale`, in any letter case and order.
"""
from __future__ import annotations

import asyncio
import csv
import datetime
import io
import re

from bson import ObjectId

from access import audit
from access import roles as R
from accounts import users
from attendees import registry
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from events.model import EventDoc
from registration import counts
from registration import model as M

TTL = datetime.timedelta(hours=1)
DELIMITERS = (",", ";", "\t")
HEADER_ALIASES = {"email": "email", "e-mail": "email", "name": "name", "locale": "locale"}
OK, ERROR = "ok", "error"
ENCODING_LABELS = {"utf-8": "UTF-8", "cp1251": "Windows-1251"}
# Rows registered concurrently at commit: enough to hide database round
# trips, few enough that one import does not crowd out live traffic.
COMMIT_CONCURRENCY = 20
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ImportFileError(Refusal):
    """The file as a whole is refused; `message` is marked for translation."""


class ImportGone(ImportFileError):
    def __init__(self):
        super().__init__(N_("This import preview no longer exists: it was imported already, "
                            "discarded, or it expired. Upload the file again."))


# --- reading the file ----------------------------------------------------------------

def decode(raw: bytes) -> tuple[str, str]:
    """(text, encoding) of an uploaded file, or ImportFileError."""
    if _CONTROL_BYTES.search(raw):
        # Binary files (images, .xlsx) and UTF-16 exports: text never holds
        # these bytes in UTF-8 or Windows-1251.
        raise ImportFileError(N_("This is not a CSV file. Save the spreadsheet as “CSV UTF-8” and upload that."))
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        try:
            text, encoding = raw.decode("cp1251"), "cp1251"
        except UnicodeDecodeError:
            raise ImportFileError(N_("The file's text encoding is not recognised. "
                                     "Save it as “CSV UTF-8” and upload it again.")) from None
    return text, encoding


def sniff_delimiter(header_line: str) -> str:
    """The delimiter used most in the header line (outside quotes); comma if none."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse(raw: bytes, *, max_kb: int, max_rows: int) -> dict:
    """Read an upload into {encoding, delimiter, columns, ignored, rows[(line, values)]}.

    Every whole-file problem raises ImportFileError; rows are not checked here.
    """
    if len(raw) > max_kb * 1024:
        raise ImportFileError(N_("The file is larger than %(max)s KB. Split it into smaller files."),
                              max=max_kb)
    text, encoding = decode(raw)
    if not text.strip():
        raise ImportFileError(N_("The file is empty."))
    first = next(line for line in text.splitlines() if line.strip())
    delimiter = sniff_delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        header = None
        while header is None:
            cells = next(reader, None)
            if cells is None:
                raise ImportFileError(N_("The file is empty."))
            if any(c.strip() for c in cells):
                header = cells
        columns: dict[str, int] = {}
        ignored = []
        for i, cell in enumerate(header):
            key = HEADER_ALIASES.get(cell.strip().lower())
            if key is None:
                if cell.strip():
                    ignored.append(cell.strip()[:40])
                continue
            if key in columns:
                raise ImportFileError(N_("The header has the column “%(column)s” twice."), column=key)
            columns[key] = i
        if "email" not in columns:
            raise ImportFileError(N_("The first line must be a header with an “email” column "
                                     "(and optionally “name” and “locale”)."))
        rows: list[tuple[int, dict[str, str]]] = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= max_rows:
                raise ImportFileError(N_("The file has more than %(max)s rows. Split it into smaller files."),
                                      max=max_rows)
            values = {k: (cells[i].strip() if i < len(cells) else "") for k, i in columns.items()}
            rows.append((reader.line_num, values))
    except csv.Error:
        raise ImportFileError(
            N_("This is not a CSV file. Save the spreadsheet as “CSV UTF-8” and upload that.")) from None
    if not rows:
        raise ImportFileError(N_("The file has a header but no attendees."))
    return {"encoding": encoding, "delimiter": delimiter, "columns": sorted(columns),
            "ignored": ignored[:20], "rows": rows}


# --- checking rows -------------------------------------------------------------------

async def _registered_emails(db, event_id, emails: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(emails), 1000):
        found.update(await db.memberships.distinct(
            "email", {"scope_id": event_id, "role": R.ATTENDEE, "email": {"$in": emails[i:i + 1000]}}))
    return found


async def check_rows(db, event: EventDoc, rows: list[tuple[int, dict]]) -> list[dict]:
    """Each row with status ok or error and the reason (message id + params)."""
    checked = []
    first_seen: dict[str, int] = {}
    for line, values in rows:
        entry = {"row": line, "email": values.get("email", "")[:254], "name": values.get("name", "")[:200],
                 "locale": values.get("locale", "")[:20], "status": OK, "error": None, "params": {}}
        try:
            email, name, locale = registry.clean(event, values.get("email", ""), values.get("name", ""),
                                                 values.get("locale", ""))
        except registry.AttendeeError as exc:
            entry.update(status=ERROR, error=exc.message, params=exc.params)
            checked.append(entry)
            continue
        entry.update(email=email, name=name, locale=locale)
        if email in first_seen:
            entry.update(status=ERROR, error=N_("The same email as row %(row)s."),
                         params={"row": first_seen[email]})
        else:
            first_seen[email] = line
        checked.append(entry)
    registered = await _registered_emails(db, event["_id"], list(first_seen))
    for entry in checked:
        if entry["status"] == OK and entry["email"] in registered:
            entry.update(status=ERROR, error=N_("Already registered for this event."), params={})
    return checked


# --- previews ---------------------------------------------------------------------------

async def preview(db, event: EventDoc, raw: bytes, *, owner: dict, filename: str = "",
                  max_kb: int, max_rows: int) -> dict:
    """Check an upload and store its preview; ImportFileError stores nothing."""
    parsed = parse(raw, max_kb=max_kb, max_rows=max_rows)
    rows = await check_rows(db, event, parsed["rows"])
    now = utcnow()
    doc = {
        "_id": ObjectId(), "event_id": event["_id"], "owner_id": owner["_id"],
        "filename": (filename or "")[:200], "encoding": parsed["encoding"],
        "delimiter": parsed["delimiter"], "columns": parsed["columns"], "ignored": parsed["ignored"],
        "total": len(rows), "valid": sum(1 for r in rows if r["status"] == OK),
        "rows": rows, "status": "preview", "created_at": now, "expires_at": now + TTL,
    }
    doc["invalid"] = doc["total"] - doc["valid"]
    await db.imports.insert_one(doc)
    return doc


def _own(import_id, event_id, owner_id) -> dict:
    return {"_id": users.as_id(import_id), "event_id": event_id, "owner_id": owner_id,
            "expires_at": {"$gt": utcnow()}}


async def load(db, import_id, *, event_id, owner_id) -> dict | None:
    """The uploader's own preview for this event, if it still exists."""
    if not users.as_id(import_id):
        return None
    return await db.imports.find_one({**_own(import_id, event_id, owner_id), "status": "preview"})


def rows_page(doc: dict, only_errors: bool, skip: int, limit: int) -> tuple[list[dict], int]:
    rows = [r for r in doc["rows"] if r["status"] == ERROR] if only_errors else doc["rows"]
    return rows[skip:skip + limit], len(rows)


async def discard(db, import_id, *, event_id, owner_id) -> bool:
    if not users.as_id(import_id):
        return False
    result = await db.imports.delete_one(_own(import_id, event_id, owner_id))
    return result.deleted_count == 1


async def commit(db, event: EventDoc, import_id, *, owner: dict, services=None) -> dict:
    """Register the preview's valid rows once; returns {imported, skipped}.

    Neither the result nor the audit entry says how many addresses already
    had an account: that is not this event's staff's to know.

    Raises ImportGone when the preview is not this person's, has expired, or
    was committed already.
    """
    if not users.as_id(import_id):
        raise ImportGone()
    # Claiming flips the status in one atomic step: of two commits racing,
    # exactly one gets the document.
    doc = await db.imports.find_one_and_update(
        {**_own(import_id, event["_id"], owner["_id"]), "status": "preview"},
        {"$set": {"status": "committing", "committed_at": utcnow()}})
    if not doc:
        raise ImportGone()
    valid = [r for r in doc["rows"] if r["status"] == OK]
    result = {"imported": 0, "skipped": 0}

    async def one(row: dict) -> None:
        # The event's languages may have changed since the preview.
        locale = row["locale"] if row["locale"] in event["locales"] else event["default_locale"]
        try:
            await registry.attach(db, event, row["email"], row["name"], locale, source=M.SOURCE_IMPORT)
        except registry.DuplicateAttendee:
            result["skipped"] += 1
            return
        result["imported"] += 1

    for i in range(0, len(valid), COMMIT_CONCURRENCY):
        await asyncio.gather(*(one(r) for r in valid[i:i + COMMIT_CONCURRENCY]))
    await db.imports.delete_one({"_id": doc["_id"]})
    await audit.record(db, actor=owner, action="attendees.import", event=event,
                       params={"filename": doc.get("filename", ""), "rows": doc["total"],
                               "invalid": doc["invalid"], **result})
    if services is not None and result["imported"]:
        await counts.announce(services, event["_id"])
    return result
