"""Registering attendees in an event, finding them, removing them, exporting them.

An attendee is a membership with role "attendee" in the event's scope; the
account behind it is shared across events, so registering an address that
already has an account reuses that account, and removing an attendee leaves
the account alone.  Errors carry messages marked for translation with their
placeholders separately, like `accounts.signin`.
"""
from __future__ import annotations

import csv
import datetime
import io
import re

import audit
import roles as R
from accounts import users
from accounts.users import MAX_NAME_LENGTH
from core.text import strip_bidi
from i18n import LOCALES, N_
from pagination import Page

PER_PAGE = 50
MAX_QUERY_LENGTH = 200
SORTS = {
    "name": [("name", 1), ("email", 1)],
    "email": [("email", 1)],
    "registered": [("created_at", -1), ("_id", -1)],
}
DEFAULT_SORT = "name"
EXPORT_COLUMNS = ("email", "name", "login", "locale", "registered_at", "mailed_at", "last_login_at")
# A spreadsheet treats a cell starting with one of these as a formula; a name
# such as "=HYPERLINK(...)" typed at registration must stay text when staff
# open the export.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class AttendeeError(ValueError):
    """Refused input; `message` is marked for translation, `params` fill it."""

    def __init__(self, message: str, **params):
        super().__init__(message)
        self.message = message
        self.params = params


class InvalidEmail(AttendeeError):
    def __init__(self):
        super().__init__(N_("This is not a valid email address."))


class NameTooLong(AttendeeError):
    def __init__(self):
        super().__init__(N_("The name is longer than %(max)s characters."), max=MAX_NAME_LENGTH)


class UnknownLocale(AttendeeError):
    def __init__(self, locale: str, event: dict):
        super().__init__(N_("The language “%(locale)s” is not one of this event's languages (%(available)s)."),
                         locale=locale, available=", ".join(event["locales"]))


class DuplicateAttendee(AttendeeError):
    def __init__(self, email: str):
        super().__init__(N_("%(email)s is already registered for this event."), email=email)


class NotAttendee(AttendeeError):
    def __init__(self):
        super().__init__(N_("This person is not registered for this event."))


# --- validation ----------------------------------------------------------------

def clean_name(raw: str) -> str:
    name = " ".join(strip_bidi(raw or "").split())
    if len(name) > MAX_NAME_LENGTH:
        raise NameTooLong()
    return name


def clean_locale(event: dict, raw: str) -> str:
    locale = (raw or "").strip().lower()
    if not locale:
        return event["default_locale"]
    if locale not in event["locales"]:
        raise UnknownLocale(locale, event)
    return locale


def clean(event: dict, email: str, name: str = "", locale: str = "") -> tuple[str, str, str]:
    """Validated (email, name, locale) or AttendeeError; nothing is written."""
    norm = users.normalize_email(email)
    if not norm:
        raise InvalidEmail()
    return norm, clean_name(name), clean_locale(event, locale)


def attendee_locale(event: dict, user: dict | None, membership: dict | None) -> str:
    """The language an attendee gets mail and pages in for this event.

    The person's own choice (profile) wins when the event speaks it; else the
    language staff registered them with; else the event's default.
    """
    for code in ((user or {}).get("locale"), *((membership or {}).get("locales") or [])):
        if code in event["locales"]:
            return code
    return event["default_locale"]


# --- registering ---------------------------------------------------------------

async def find_membership(db, event_id, user_id) -> dict | None:
    return await db.memberships.find_one({"user_id": user_id, "scope_id": event_id, "role": R.ATTENDEE})


async def attach(db, event: dict, email: str, name: str, locale: str) -> tuple[dict, dict, bool]:
    """Register already-validated values: (user, membership, account_created).

    Raises DuplicateAttendee (having written nothing) when the address is
    already an attendee of the event.
    """
    user = await db.users.find_one({"email": email})
    created = False
    if user:
        if await find_membership(db, event["_id"], user["_id"]):
            raise DuplicateAttendee(email)
        if name and not user.get("name"):
            # Fill a blank name, never overwrite one the person chose.
            await db.users.update_one({"_id": user["_id"]}, {"$set": {"name": name}})
            user["name"] = name
    else:
        user = await _create_user(db, email, name, locale)
        created = True
    try:
        membership = await R.grant(db, user, "event", event["_id"], R.ATTENDEE, [locale])
    except R.AlreadyMember:
        raise DuplicateAttendee(email) from None
    return user, membership, created


async def _create_user(db, email: str, name: str, locale: str) -> dict:
    """A new account without a password (the sign-in mailing sets one)."""
    for _ in range(3):
        try:
            return await users.create(db, email=email, name=name,
                                      locale=locale if locale in LOCALES else "en")
        except users.DuplicateUser as exc:
            if exc.field == "email":
                # Created by a concurrent registration a moment ago: reuse it.
                existing = await db.users.find_one({"email": email})
                if existing:
                    return existing
            # A generated login collided (rare): draw another.
    raise RuntimeError("could not create a user account")


async def register(db, event: dict, *, email: str, name: str = "", locale: str = "",
                   actor: dict | None = None) -> dict:
    """Register one attendee; returns the membership.  Validates before writing."""
    email, name, locale = clean(event, email, name, locale)
    user, membership, created = await attach(db, event, email, name, locale)
    await audit.record(db, actor=actor, action="attendee.register", event=event,
                       params={"email": email, "account_created": created},
                       after={"email": email, "name": membership["name"], "locale": locale})
    return membership


# --- finding -----------------------------------------------------------------------

def search_query(event_id, q: str = "") -> dict:
    query: dict = {"scope_id": event_id, "role": R.ATTENDEE}
    q = (q or "").strip()[:MAX_QUERY_LENGTH]
    if q:
        # Escaped: staff type addresses with dots and pluses, not patterns.
        pattern = {"$regex": re.escape(q), "$options": "i"}
        query["$or"] = [{"email": pattern}, {"name": pattern}]
    return query


async def count(db, event_id) -> int:
    return await db.memberships.count_documents({"scope_id": event_id, "role": R.ATTENDEE})


async def _users_by_id(db, user_ids) -> dict:
    found = {}
    ids = list(user_ids)
    for i in range(0, len(ids), 1000):
        async for u in db.users.find({"_id": {"$in": ids[i:i + 1000]}},
                                     {"password_hash": 0}):
            found[u["_id"]] = u
    return found


def _row(event: dict, membership: dict, user: dict | None) -> dict:
    user = user or {}
    return {
        "user_id": membership["user_id"], "email": membership["email"],
        "name": membership.get("name", ""), "login": user.get("login", ""),
        "locale": attendee_locale(event, user, membership),
        "registered_at": membership.get("created_at"), "mailed_at": membership.get("mailed_at"),
        "last_login_at": user.get("last_login_at"),
    }


async def search(db, event: dict, q: str = "", sort: str = DEFAULT_SORT, page_number: int = 1,
                 per_page: int = PER_PAGE) -> tuple[list[dict], Page]:
    """One page of attendees matching `q` (email or name, case-insensitive)."""
    query = search_query(event["_id"], q)
    total = await db.memberships.count_documents(query)
    page = Page(page_number, per_page, total)
    if page.number > page.pages:
        page = Page(page.pages, per_page, total)
    found = await db.memberships.find(query).sort(SORTS.get(sort, SORTS[DEFAULT_SORT])) \
        .skip(page.skip).limit(per_page).to_list(None)
    people = await _users_by_id(db, [m["user_id"] for m in found])
    return [_row(event, m, people.get(m["user_id"])) for m in found], page


# --- removing ------------------------------------------------------------------

async def remove(db, event: dict, user_id, actor: dict | None = None) -> dict:
    """End a registration; the account stays.  Returns the removed membership."""
    membership = await find_membership(db, event["_id"], users.as_id(user_id))
    if not membership:
        raise NotAttendee()
    await db.memberships.delete_one({"_id": membership["_id"]})
    await audit.record(db, actor=actor, action="attendee.remove", event=event,
                       params={"email": membership["email"]},
                       before={"email": membership["email"], "name": membership.get("name", ""),
                               "locales": membership.get("locales", [])})
    return membership


# --- exporting -----------------------------------------------------------------

def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = strip_bidi(str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


async def export_csv(db, event: dict, actor: dict | None = None) -> str:
    """Every attendee as CSV text (UTF-8 with a BOM so spreadsheets read it right)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    n = 0
    cursor = db.memberships.find({"scope_id": event["_id"], "role": R.ATTENDEE}).sort([("email", 1)])
    batch: list[dict] = []

    async def flush():
        people = await _users_by_id(db, [m["user_id"] for m in batch])
        for m in batch:
            row = _row(event, m, people.get(m["user_id"]))
            writer.writerow([_cell(row[c]) for c in EXPORT_COLUMNS])
        batch.clear()

    async for m in cursor:
        batch.append(m)
        n += 1
        if len(batch) >= 1000:
            await flush()
    await flush()
    await audit.record(db, actor=actor, action="attendees.export", event=event, params={"count": n})
    return out.getvalue()
