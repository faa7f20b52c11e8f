"""Registering attendees in an event, finding them, removing them, exporting them.

An attendee is a membership with role "attendee" in the event's scope; the
account behind it is shared across events, so registering an address that
already has an account reuses that account, and removing an attendee leaves
the account alone.  Errors carry messages marked for translation with their
placeholders separately, like `accounts.signin`.

Accounts are platform-wide and an event's staff do not govern them, so
registering never changes an existing account, and nothing staff see tells
whether the address had an account before: the flash, the audit entry, the
list, the export and the mailing counts show what staff entered (the
registration's name and language) and facts about this event only (when it
was registered, mailed, when its sign-in link was used).  The account's own
name, language, login and last sign-in elsewhere are never shown, nor its
id (an ObjectId carries its creation time): rows are addressed by the
registration's id.
"""
from __future__ import annotations

import csv
import datetime
import io
import re

from access import audit
from access import roles as R
from access.roles import MembershipDoc
from accounts import users
from accounts.users import MAX_NAME_LENGTH, AccountDoc
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import LOCALES, N_
from core.pagination import Page
from core.text import strip_bidi
from events.model import EventDoc
from registration import counts, forms, places, requests, states, watch_time
from registration import model as M
from registration.filters import Filters
from registration.filters import query as filter_query
from registration.model import CANCELLED, EXPIRED, HOLDS_PLACE, REGISTERED, REJECTED, WAITING, state_of

PER_PAGE = 50
# Registrations that ended; staff may register the person again.
ENDED = frozenset({CANCELLED, REJECTED, EXPIRED})
MAX_QUERY_LENGTH = 200
SORTS = {
    "name": [("name", 1), ("email", 1)],
    "email": [("email", 1)],
    "registered": [("created_at", -1), ("_id", -1)],
    # Registrations without a state (registered by staff before states) sort first.
    "state": [("state", 1), ("name", 1), ("email", 1)],
}
DEFAULT_SORT = "name"
EXPORT_COLUMNS = ("email", "name", "locale", "registered_at", "mailed_at", "link_used_at")
# The registrant list's export: these, then one column per answer of the form.
LIST_COLUMNS = ("email", "name", "locale", "state", "source", "registered_at", "state_at",
                "mailed_at", "link_used_at", "minutes_watched")
EXPORT_BATCH = 500
# A spreadsheet treats a cell starting with one of these as a formula; a name
# such as "=HYPERLINK(...)" typed at registration must stay text when staff
# open the export.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class AttendeeError(Refusal):
    """Refused input; `message` is marked for translation, `params` fill it."""


class InvalidEmail(AttendeeError):
    def __init__(self):
        super().__init__(N_("This is not a valid email address."))


class NameTooLong(AttendeeError):
    def __init__(self):
        super().__init__(N_("The name is longer than %(max)s characters."), max=MAX_NAME_LENGTH)


class UnknownLocale(AttendeeError):
    def __init__(self, locale: str, event: EventDoc):
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


def clean_locale(event: EventDoc, raw: str) -> str:
    locale = (raw or "").strip().lower()
    if not locale:
        return event["default_locale"]
    if locale not in event["locales"]:
        raise UnknownLocale(locale, event)
    return locale


def clean(event: EventDoc, email: str, name: str = "", locale: str = "") -> tuple[str, str, str]:
    """Validated (email, name, locale) or AttendeeError; nothing is written."""
    norm = users.normalize_email(email)
    if not norm:
        raise InvalidEmail()
    return norm, clean_name(name), clean_locale(event, locale)


def attendee_locale(event: EventDoc, user: AccountDoc | None, membership: MembershipDoc | None) -> str:
    """The language an attendee gets mail and pages in for this event.

    The person's own choice (profile) wins when the event speaks it; else the
    language staff registered them with; else the event's default.  Only the
    person sees its effect: staff pages use `registration_locale`.
    """
    registered = (membership.get("locales") if membership else None) or []
    for code in (user.get("locale") if user else None, *registered):
        if code in event["locales"]:
            return code
    return event["default_locale"]


def registration_locale(event: EventDoc, membership: MembershipDoc | None) -> str:
    """The language staff registered an attendee with (what staff pages show and filter on)."""
    for code in (membership.get("locales") if membership else None) or []:
        if code in event["locales"]:
            return code
    return event["default_locale"]


# --- registering ---------------------------------------------------------------

async def find_membership(db, event_id, user_id) -> MembershipDoc | None:
    return await db.memberships.find_one({"user_id": user_id, "scope_id": event_id, "role": R.ATTENDEE})


async def attach(db, event: EventDoc, email: str, name: str, locale: str,
                 source: str = M.SOURCE_STAFF, *, again: bool = False,
                 actor: AccountDoc | None = None) -> MembershipDoc:
    """Register already-validated values; returns the membership.

    An existing account is used as it is (never changed); a new address
    gets an account without a password.  The membership keeps the name and
    language entered here.  Raises DuplicateAttendee (having written
    nothing) when the address is already an attendee of the event.

    `again`: a registration that was cancelled, rejected or whose offer
    expired is registered again (`register_again`) instead of refused.

    Staff registrations are REGISTERED at once and take a place whatever the
    event's capacity: staff decide whom they let in and may overbook on
    purpose; people registering themselves then go to the waiting list.
    """
    user = await db.users.find_one({"email": email}, {"_id": 1})
    if user:
        existing = await find_membership(db, event["_id"], user["_id"])
        if existing is not None:
            if again and state_of(existing) in ENDED:
                return await register_again(db, event, existing, name, locale, source, actor)
            raise DuplicateAttendee(email)
    else:
        user = await _create_user(db, email, name, locale)
    # The registration as staff entered it, not the account's own name.
    person = {"_id": user["_id"], "email": email, "name": name}
    try:
        membership = await R.grant(db, person, "event", event["_id"], R.ATTENDEE, [locale])
    except R.AlreadyMember:
        raise DuplicateAttendee(email) from None
    # Counted first, then marked: a crash in between leaves a registration
    # without a state (which counts as registered) and the counter right.
    await places.take(db, places.event_target(event["_id"]), event["_id"], None, force=True)
    now = utcnow()
    await db.memberships.update_one({"_id": membership["_id"]},
                                    {"$set": {"state": REGISTERED, "state_at": now, "source": source}})
    membership["state"], membership["state_at"], membership["source"] = REGISTERED, now, source
    return membership


async def register_again(db, event: EventDoc, membership: MembershipDoc, name: str, locale: str, source: str,
                         actor: AccountDoc | None) -> MembershipDoc:
    """Staff register again a person whose registration ended (cancelled, rejected, offer expired).

    The same document returns to REGISTERED through the state machine
    (`registration.states`, audited), taking a place like any staff
    registration, with the name and language entered now and none of the
    answers of before.  Someone else changing it meanwhile (the person
    registering again themselves): DuplicateAttendee, the place given back.
    """
    target = places.event_target(event["_id"])
    await places.take(db, target, event["_id"], None, force=True)
    try:
        after = await states.transition(
            db, event, membership, REGISTERED, actor_kind=states.STAFF, actor=actor,
            fields={"name": name, "locales": [locale], "source": source},
            unset=("answers", "form_version", "offer_expires_at", "position", "invite_hash"))
    except states.TransitionError:
        await places.give_back(db, target)
        raise DuplicateAttendee(membership["email"]) from None
    return after  # type: ignore[return-value]


async def _create_user(db, email: str, name: str, locale: str) -> AccountDoc:
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


async def register(db, event: EventDoc, *, email: str, name: str = "", locale: str = "",
                   actor: AccountDoc | None = None, services=None, ticket_type_id=None) -> MembershipDoc:
    """Register one attendee; returns the membership.  Validates before writing.

    `services`: when given, the change is announced (live registration counts).
    `ticket_type_id`: in an event that sells tickets, the type (already checked
    to be the event's) of the ticket staff give the person: the registration
    carries it, so it admits to what the type grants, outside any order and
    any quota (staff may let in whom they choose, as they may overbook).
    """
    email, name, locale = clean(event, email, name, locale)
    membership = await attach(db, event, email, name, locale, again=True, actor=actor)
    if ticket_type_id is not None:
        await db.memberships.update_one({"_id": membership["_id"]}, {"$set": {"ticket_type_id": ticket_type_id}})
        membership["ticket_type_id"] = ticket_type_id
    await audit.record(db, actor=actor, action="attendee.register", event=event,
                       params={"email": email, **({"ticket_type_id": str(ticket_type_id)} if ticket_type_id else {})},
                       after={"email": email, "name": name, "locale": locale})
    if services is not None:
        await counts.announce(services, event["_id"])
    return membership


async def note_link_used(db, event_id, user_id) -> None:
    """Record on the registration that this event's sign-in link was used."""
    await db.memberships.update_one({"user_id": user_id, "scope_id": event_id, "role": R.ATTENDEE},
                                    {"$set": {"link_used_at": utcnow()}})


# --- finding -----------------------------------------------------------------------

def search_query(event_id, q: str = "") -> dict:
    query: dict = {"scope_id": event_id, "role": R.ATTENDEE}
    q = (q or "").strip()[:MAX_QUERY_LENGTH]
    if q:
        # Escaped: staff type addresses with dots and pluses, not patterns.
        pattern = {"$regex": re.escape(q), "$options": "i"}
        query["$or"] = [{"email": pattern}, {"name": pattern}]
    return query


# Registrations that admit to the event (`access.roles.holds`): REGISTERED, or made by staff before
# states existed (no state).  Pending, waiting, offered, cancelled, rejected and expired ones do not.
ADMITTING = {"state": {"$in": [REGISTERED, None]}}


async def count(db, event_id) -> int:
    """How many people are registered (their registration admits them): what staff pages say, and
    whom a sign-in mailing to all attendees reaches."""
    return await db.memberships.count_documents({"scope_id": event_id, "role": R.ATTENDEE, **ADMITTING})


def _row(event: EventDoc, membership: MembershipDoc, minutes: dict | None = None) -> dict:
    """A registration as staff see it; `minutes`: minutes watched by user id (`watch_time.minutes_by_user`)."""
    return {
        "id": membership["_id"], "email": membership["email"], "name": membership.get("name", ""),
        "locale": registration_locale(event, membership),
        "registered_at": membership.get("created_at"), "mailed_at": membership.get("mailed_at"),
        "link_used_at": membership.get("link_used_at"),
        "state": M.state_of(membership), "source": membership.get("source") or M.SOURCE_STAFF,
        "state_at": membership.get("state_at"), "request_answers": membership.get("request_answers") or {},
        "minutes_watched": (minutes or {}).get(membership.get("user_id"), 0),
    }


async def _minutes(db, event: EventDoc, memberships: list) -> dict:
    return await watch_time.minutes_by_user(db, event["_id"], [m.get("user_id") for m in memberships])


async def search(db, event: EventDoc, q: str = "", sort: str = DEFAULT_SORT, page_number: int = 1,
                 per_page: int = PER_PAGE, filters: Filters | None = None) -> tuple[list[dict], Page]:
    """One page of attendees matching `q` (email or name, case-insensitive), or `filters`."""
    query = filter_query(event, filters) if filters is not None else search_query(event["_id"], q)
    total = await db.memberships.count_documents(query)
    page = Page(page_number, per_page, total)
    if page.number > page.pages:
        page = Page(page.pages, per_page, total)
    found = await db.memberships.find(query).sort(SORTS.get(sort, SORTS[DEFAULT_SORT])) \
        .skip(page.skip).limit(per_page).to_list(None)
    minutes = await _minutes(db, event, found)
    return [_row(event, m, minutes) for m in found], page


# --- removing ------------------------------------------------------------------

async def remove(db, event: EventDoc, membership_id, actor: AccountDoc | None = None, services=None) -> dict:
    """End a registration (by its id); the account stays.  Returns the removed membership."""
    oid = users.as_id(membership_id)
    membership = await db.memberships.find_one({"_id": oid, "scope_id": event["_id"], "role": R.ATTENDEE}) \
        if oid else None
    if not membership:
        raise NotAttendee()
    await db.memberships.delete_one({"_id": membership["_id"]})
    # A place it held goes back; the registration sweep offers it to the
    # first person waiting (`registration.actions.sweep`).
    target = places.event_target(event["_id"])
    if state_of(membership) in HOLDS_PLACE:
        await places.give_back(db, target)
        await places.check_soon(db, target)
    elif state_of(membership) == WAITING:
        await places.leave_queue(db, target)
    await audit.record(db, actor=actor, action="attendee.remove", event=event,
                       params={"email": membership["email"]},
                       before={"email": membership["email"], "name": membership.get("name", ""),
                               "locales": membership.get("locales", [])})
    if services is not None:
        await counts.announce(services, event["_id"])
    return membership


# --- exporting -----------------------------------------------------------------

def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = strip_bidi(str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


async def export_csv(db, event: EventDoc, actor: AccountDoc | None = None) -> str:
    """Every attendee as CSV text (UTF-8 with a BOM so spreadsheets read it right)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    n = 0
    async for m in db.memberships.find({"scope_id": event["_id"], "role": R.ATTENDEE}).sort([("email", 1)]):
        row = _row(event, m)
        writer.writerow([_cell(row[c]) for c in EXPORT_COLUMNS])
        n += 1
    await audit.record(db, actor=actor, action="attendees.export", event=event, params={"count": n})
    return out.getvalue()


async def stream_csv(db, event: EventDoc, filters: Filters, sort: str, locale: str,
                     actor: AccountDoc | None = None, batch: int = EXPORT_BATCH):
    """The registrant list as `filters` and `sort` give it, as CSV text in pieces.

    UTF-8 with a BOM (the first piece starts with it) so that spreadsheets
    read every script right; a header row, then one row per registration in
    the page's order: the registration's own columns, every answer of the
    form, then every answer to the event's data requests (headed "request
    title: field label"), each answer as text in the reader's language
    (`registration.forms`).
    Read `batch` registrations at a time, so a list of any length is never
    held in memory; cells that a spreadsheet would take for a formula stay text.
    """
    form = await forms.load(db, event["_id"])
    answer_columns = forms.columns(form, locale)
    request_columns = await requests.list_columns(db, event, locale)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow([*LIST_COLUMNS, *(_cell(c["label"]) for c in answer_columns),
                     *(_cell(h) for h in requests.headers(request_columns))])
    n = 0

    async def rows(memberships: list) -> None:
        minutes = await _minutes(db, event, memberships)
        for m in memberships:
            row = _row(event, m, minutes)
            writer.writerow([_cell(row[c]) for c in LIST_COLUMNS]
                            + [_cell(cell) for cell in forms.row(form, answer_columns, m.get("answers"), locale)]
                            + [_cell(cell) for cell in requests.cells(request_columns, m.get("request_answers"),
                                                                       locale)])

    # The driver's cursor fetches from the server in batches of its own as it is read; the minutes
    # watched are read once per `batch` rows.
    cursor = db.memberships.find(filter_query(event, filters)).sort(SORTS.get(sort, SORTS[DEFAULT_SORT]))
    held: list = []
    async for m in cursor:
        held.append(m)
        n += 1
        if len(held) == batch:
            await rows(held)
            held = []
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    await rows(held)
    await audit.record(db, actor=actor, action="attendees.export", event=event,
                       # Which filters, not what was typed in them: a search may be a person's name.
                       params={"count": n, "filters": sorted(filters.params())})
    yield out.getvalue()
