"""Extra data requests: staff ask an event's registrants for more answers after they registered.

A request is one document of `data_requests`: a title, a period
(`starts_at` .. `ends_at`, both changeable; "end now" moves the end to now),
a mail (subject and text per locale, plain text), a success screen (title
and text per locale, plain text), the registration states it is for, and
whether every new registrant gets it automatically while it is active.
Its fields are a form of its own (`registration.forms`, kind
"request:<id>"), built with the same builder as the registration form.

Everything a person gives or gets is kept on their registration:
- `request_answers.<request id>`: the answers as `forms.accept` gives them,
  each with the version of its field, so `forms.readable` and
  `forms.row` read them whatever the form became later;
- `request_answered_at.<request id>`: when they were last saved;
- `request_mails.<request id>.<send>`: when the request was mailed by a
  send ("auto", or a "send now" job's id).  It is claimed by one
  conditional update before the mail is written, so one send mails each
  person at most once, however often it is retried or resumed and by
  however many processes.

Mails carry a plain link to the answer page, never a sign-in link: the
page asks the person to sign in.

What the mail says (`mail_one`), the least surprising rule between a
request's own text and the event's mail template:
- a request with a mail of its own (its subject and text written at least
  in the event's default language) is mailed with it, each part in the
  reader's language, else the default language, as every text of a
  request: the organiser wrote it for this request;
- a request whose mail is left empty in every language is mailed with the
  event's "data_request" mail template (`mailings.templates`): the
  organiser's text for the reader's language, else the translated default.
Either way the texts take the template's placeholders ({person_name},
{event_title}, {request_title}, {answer_url}; an unknown one is refused
when the request is saved), the answer link is added below a text that does
not show it, and the mail has the template layout's plain and HTML parts.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from pymongo import ReturnDocument

from access import audit
from access import roles as R
from accounts import users
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_, text_for
from events import model, view
from events.model import EventDoc
from mailings import templates
from registration import filters, forms
from registration import model as M

SCHEDULED, ACTIVE, ENDED = "scheduled", "active", "ended"
STATUS_LABELS = {SCHEDULED: N_("Scheduled"), ACTIVE: N_("Active"), ENDED: N_("Ended")}
# The states a request may be for: people whose registration still stands.
# An unconfirmed address is not mailed (it may not be the person's), nor a
# cancelled, rejected or expired registration.
TARGETABLE = (M.REGISTERED, M.PENDING, M.WAITING, M.OFFERED)
DEFAULT_STATES = (M.REGISTERED,)
AUTO = "auto"
KIND_PREFIX = "request:"
MAIL_KIND = templates.KINDS["data_request"]

MAX_TITLE = 200
MAX_SUBJECT = 200
MAX_TEXT = 20_000
MAX_SUCCESS_TEXT = 5_000
# Registrations one sweep round mails for one request; the next round goes on.
SWEEP_BATCH = 200
MAX_SWEPT_REQUESTS = 200
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")

NO_TITLE = N_("Write the request's title in the event's default language (%(language)s).")
TITLE_TOO_LONG = N_("The title is longer than %(max)s characters.")
NO_MAIL = N_("Write the mail's subject and text in the event's default language (%(language)s).")
SUBJECT_TOO_LONG = N_("The mail's subject is longer than %(max)s characters.")
MAIL_TOO_LONG = N_("The mail's text is longer than %(max)s characters.")
SUCCESS_TOO_LONG = N_("The success screen's title or text is too long (at most %(max)s characters).")
BAD_START = N_("Enter the start as a date and time.")
BAD_END = N_("Enter the end as a date and time.")
END_BEFORE_START = N_("The end must be after the start.")
NO_STATES = N_("Choose at least one registration state the request is for.")
CHANGED = N_("The request was changed by someone else meanwhile. Your change was not saved: "
             "look at the request as it is now and make it again.")
ENDED_ALREADY = N_("This request has ended already.")
NOT_ACTIVE = N_("A request is sent only while it is active, between its start and its end.")
NOBODY = N_("Nobody is waiting for this request: everyone it is for has answered, or nobody is registered "
            "in the states it is for.")
NOT_FOUND = N_("This request does not exist.")
NOT_STARTED = N_("This request opens on %(when)s. Please come back then.")
ENDED_AT = N_("This request ended on %(when)s: answers can no longer be given or changed.")
DEFAULT_SUCCESS_TITLE = N_("Thank you!")
DEFAULT_SUCCESS_TEXT = N_("Your answers are saved. You can change them until the request ends.")
ANSWER_HERE = N_("Answer here (sign in to the site if asked): %(link)s")
FOOTER = N_("You receive this message because you registered for %(event)s.")

# Why a registration was not mailed (a bulk job's skipped reasons).
GONE, ANSWERED, MAILED, CLOSED = "gone", "answered", "mailed", "request_closed"


class RequestError(Refusal):
    """A refused change or answer; `message` is marked for translation, `params` fill it.  Nothing is written."""


class NotSent(Exception):
    """This registration is not mailed by this send; `reason` says why (GONE, ANSWERED, MAILED,
    CLOSED or "state:<state>")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- what a request is -----------------------------------------------------------------

def form_kind(request: Mapping[str, Any]) -> str:
    return f"{KIND_PREFIX}{request['_id']}"


def status(request: Mapping[str, Any], now: datetime.datetime | None = None) -> str:
    now = now or utcnow()
    if now < request["starts_at"]:
        return SCHEDULED
    return ACTIVE if now < request["ends_at"] else ENDED


def text(event: EventDoc, values: Mapping[str, str] | None, locale: str) -> str:
    """A per-locale text of the request: the reader's language, then the event's default, then any."""
    return text_for(dict(values or {}), locale, (event["default_locale"],))


def state_query(states: Sequence[str]) -> dict[str, Any]:
    # Registrations stored before states existed have none: they are registered.
    wanted: list[Any] = list(states)
    if M.REGISTERED in wanted:
        wanted.append(None)
    return {"state": {"$in": wanted}}


def targeted_query(event: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """The registrations a request is for."""
    return {"scope_id": event["_id"], "role": R.ATTENDEE, **state_query(request["states"])}


def _answered(request_id: Any) -> str:
    return f"request_answers.{request_id}"


# --- checking what staff typed -----------------------------------------------------------

def _texts(values: Any, locales: Sequence[str], limit: int, too_long: str) -> dict[str, str]:
    out = {}
    for code in locales:
        value = str((values or {}).get(code) or "").replace("\r\n", "\n").strip()
        if len(value) > limit:
            raise RequestError(too_long, max=limit)
        if value:
            out[code] = value
    return out


def _moment(raw: str, timezone: str, message: str) -> datetime.datetime:
    """A datetime-local value (wall time in the event's zone) as aware UTC."""
    raw = (raw or "").strip()
    try:
        if not _DATETIME.match(raw):
            raise ValueError(raw)
        naive = datetime.datetime.fromisoformat(raw)
        zone = ZoneInfo(timezone or "UTC")
    except (ValueError, KeyError):
        raise RequestError(message) from None
    if not 2000 <= naive.year <= 2100:
        raise RequestError(message)
    return naive.replace(tzinfo=zone).astimezone(datetime.UTC)


def local_value(moment: datetime.datetime | None, timezone: str) -> str:
    """The value of a datetime-local input, in the event's zone."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(timezone or "UTC")).strftime("%Y-%m-%dT%H:%M")


def clean(event: EventDoc, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A request's settings from what the staff page sent, checked; RequestError otherwise.

    `raw`: title, subject, text, success_title, success_text ({locale: text}
    each), starts and ends (datetime-local in the event's zone), states
    (a list) and auto (bool).
    """
    locales, default = list(event["locales"]), event["default_locale"]
    title = _texts(raw.get("title"), locales, MAX_TITLE, TITLE_TOO_LONG)
    if not title.get(default):
        raise RequestError(NO_TITLE, language=default)
    subject = {k: " ".join(v.split()) for k, v in
               _texts(raw.get("subject"), locales, MAX_SUBJECT, SUBJECT_TOO_LONG).items()}
    body = _texts(raw.get("text"), locales, MAX_TEXT, MAIL_TOO_LONG)
    # A mail of its own is whole in the default language; none at all means the event's template.
    if (subject or body) and (not subject.get(default) or not body.get(default)):
        raise RequestError(NO_MAIL, language=default)
    for value in (*subject.values(), *body.values()):
        try:
            templates.check(MAIL_KIND, value, MAX_TEXT)
        except templates.TextError as exc:
            raise RequestError(exc.message, **exc.params) from None
    success_title = _texts(raw.get("success_title"), locales, MAX_TITLE, SUCCESS_TOO_LONG)
    success_text = _texts(raw.get("success_text"), locales, MAX_SUCCESS_TEXT, SUCCESS_TOO_LONG)
    timezone = event.get("timezone") or "UTC"
    starts = _moment(str(raw.get("starts") or ""), timezone, BAD_START)
    ends = _moment(str(raw.get("ends") or ""), timezone, BAD_END)
    if ends <= starts:
        raise RequestError(END_BEFORE_START)
    chosen = [s for s in TARGETABLE if s in set(raw.get("states") or ())]
    if not chosen or set(raw.get("states") or ()) - set(TARGETABLE):
        raise RequestError(NO_STATES)
    return {"title": title, "mail_subject": subject, "mail_text": body, "success_title": success_title,
            "success_text": success_text, "starts_at": starts, "ends_at": ends, "states": chosen,
            "auto": bool(raw.get("auto"))}


def blank(event: EventDoc, now: datetime.datetime | None = None) -> dict[str, Any]:
    """What the "new request" page starts from: open now for two weeks, for the registered."""
    now = (now or utcnow()).replace(second=0, microsecond=0)
    return {"title": {}, "mail_subject": {}, "mail_text": {}, "success_title": {}, "success_text": {},
            "starts_at": now, "ends_at": now + datetime.timedelta(days=14), "states": list(DEFAULT_STATES),
            "auto": True, "version": 0}


# --- staff actions -------------------------------------------------------------------

def _summary(request: Mapping[str, Any]) -> dict[str, Any]:
    return {"starts_at": request["starts_at"], "ends_at": request["ends_at"], "states": list(request["states"]),
            "auto": request["auto"], "title": dict(request["title"])}


async def create(db, actor: Mapping[str, Any], event: EventDoc, values: Mapping[str, Any]) -> dict[str, Any]:
    """Store a new request (`values` from `clean`); its form starts empty."""
    now = utcnow()
    doc = {"_id": ObjectId(), "event_id": event["_id"], "space_id": event["space_id"], **values,
           "ended_early_at": None, "version": 1, "created_at": now, "created_by": actor["_id"],
           "updated_at": now, "updated_by": actor["_id"]}
    await db.data_requests.insert_one(doc)
    await audit.record(db, actor=actor, action="request.create", event=event,
                       params={"request_id": str(doc["_id"])}, after=_summary(doc))
    return doc


async def update(db, actor: Mapping[str, Any], event: EventDoc, request: Mapping[str, Any],
                 values: Mapping[str, Any], *, expected_version: Any) -> dict[str, Any]:
    """Change a request's settings, dates included, if nobody changed it since the page was made."""
    try:
        version = int(str(expected_version))
    except ValueError:
        raise RequestError(CHANGED) from None
    return await _change(db, actor, event, request, {"version": version},
                         {**values, "updated_at": utcnow(), "updated_by": actor["_id"]},
                         action="request.update", refused=CHANGED)


async def end_now(db, actor: Mapping[str, Any], event: EventDoc, request: Mapping[str, Any],
                  now: datetime.datetime | None = None) -> dict[str, Any]:
    """End a request early: from now on nobody answers it and nobody is mailed it."""
    now = now or utcnow()
    if status(request, now) == ENDED:
        raise RequestError(ENDED_ALREADY)
    return await _change(db, actor, event, request, {"ends_at": {"$gt": now}},
                         {"ends_at": now, "starts_at": min(request["starts_at"], now), "ended_early_at": now,
                          "updated_at": now, "updated_by": actor["_id"]},
                         action="request.end", refused=ENDED_ALREADY)


async def _change(db, actor: Mapping[str, Any], event: EventDoc, request: Mapping[str, Any],
                  guard: Mapping[str, Any], values: Mapping[str, Any], *, action: str, refused: str
                  ) -> dict[str, Any]:
    """Set `values` on the request (a new version) if it still matches `guard`, audited; else RequestError(refused)."""
    after = await db.data_requests.find_one_and_update(
        {"_id": request["_id"], "event_id": event["_id"], **guard},
        {"$set": dict(values), "$inc": {"version": 1}}, return_document=ReturnDocument.AFTER)
    if after is None:
        raise RequestError(refused)
    await audit.record(db, actor=actor, action=action, event=event,
                       params={"request_id": str(request["_id"])}, before=_summary(request), after=_summary(after))
    return after


# --- reads ---------------------------------------------------------------------------

async def get(db, event: Mapping[str, Any], request_id: Any) -> dict[str, Any] | None:
    """The event's request with this id (None for another event's, or none)."""
    oid = users.as_id(request_id)
    return await db.data_requests.find_one({"_id": oid, "event_id": event["_id"]}) if oid else None


async def of_event(db, event_id) -> list[dict[str, Any]]:
    return await db.data_requests.find({"event_id": event_id}).sort([("created_at", 1), ("_id", 1)]).to_list(None)


async def numbers(db, event: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, int]:
    """How many registrations the request is for, and how many of them answered it."""
    query = targeted_query(event, request)
    return {"targeted": await db.memberships.count_documents(query),
            "answered": await db.memberships.count_documents({**query, _answered(request["_id"]): {"$exists": True}})}


async def registration_for(db, event: Mapping[str, Any], request: Mapping[str, Any],
                           user: Mapping[str, Any]) -> dict[str, Any] | None:
    """The person's registration when the request is for them, else None."""
    return await db.memberships.find_one({**targeted_query(event, request), "user_id": user["_id"]})


async def open_for(db, user: Mapping[str, Any], locale: str, now: datetime.datetime | None = None) -> list[dict]:
    """The active requests for this person, each with its event's page and whether it is answered."""
    now = now or utcnow()
    mine = {m["scope_id"]: m async for m in db.memberships.find({"user_id": user["_id"], "role": R.ATTENDEE})}
    if not mine:
        return []
    found = await db.data_requests.find({"event_id": {"$in": list(mine)}, "starts_at": {"$lte": now},
                                         "ends_at": {"$gt": now}}).sort([("ends_at", 1), ("_id", 1)]).to_list(None)
    events = await model.get_events(db, {r["event_id"] for r in found})
    spaces = await users.find_by_ids(db.spaces, {e["space_id"] for e in events.values()})
    out = []
    for request in found:
        membership, event = mine[request["event_id"]], events.get(request["event_id"])
        space = spaces.get(event["space_id"]) if event else None
        state = M.state_of(membership)
        if event is None or space is None or state not in request["states"]:
            continue
        out.append({"title": text(event, request["title"], locale),
                    "event_title": view.text(event, event["title"], locale), "event": event,
                    "path": f"{view.path(space, event)}/requests/{request['_id']}", "ends_at": request["ends_at"],
                    "answered": str(request["_id"]) in (membership.get("request_answers") or {})})
    return out


# --- answering -----------------------------------------------------------------------

def refusal(request: Mapping[str, Any], event: EventDoc, now: datetime.datetime | None = None
            ) -> tuple[str, dict[str, Any]] | None:
    """Why the request cannot be answered now (a message marked for translation and its
    params), or None while it is active."""
    now = now or utcnow()
    current = status(request, now)
    if current == ACTIVE:
        return None
    moment = request["starts_at"] if current == SCHEDULED else request["ends_at"]
    timezone = event.get("timezone") or "UTC"
    shown = moment.astimezone(ZoneInfo(timezone))
    return (NOT_STARTED if current == SCHEDULED else ENDED_AT), {"when": f"{shown:%Y-%m-%d %H:%M} ({timezone})"}


async def answer(services, event: EventDoc, request: Mapping[str, Any], user: Mapping[str, Any],
                 raw: forms.Raw, files: Mapping[str, list[Any]], *, submitted_version: Any,
                 now: datetime.datetime | None = None) -> dict[str, Any]:
    """Keep the person's answers (new, or replacing their earlier ones) while the request is active.

    Raises RequestError (outside the dates, or not for this person) or
    `forms.FormErrors` (per-field messages); nothing is written then.
    """
    db = services.db
    now = now or utcnow()
    why = refusal(request, event, now)
    if why is not None:
        raise RequestError(why[0], **why[1])
    membership = await registration_for(db, event, request, user)
    if membership is None:
        raise RequestError(NOT_FOUND)
    form = await forms.load(db, event["_id"], form_kind(request))
    given = await forms.accept(db, services, form, raw, files, submitted_version=submitted_version,
                               owner_id=user["_id"])
    rid = str(request["_id"])
    after = await db.memberships.find_one_and_update(
        {"_id": membership["_id"], **state_query(request["states"])},
        {"$set": {_answered(rid): given, f"request_answered_at.{rid}": now}},
        return_document=ReturnDocument.AFTER)
    if after is None:
        raise RequestError(NOT_FOUND)
    await audit.record(db, actor=user, action="request.answer", event=event,
                       params={"request_id": rid, "registration_id": str(membership["_id"]),
                               "form_version": form.get("version"),
                               "again": rid in (membership.get("request_answers") or {})})
    return after


# --- mailing ---------------------------------------------------------------------------

async def answer_url(services, event: EventDoc, request: Mapping[str, Any]) -> str:
    space = await model.get_space(services.db, event["space_id"])
    slug = space["slug"] if space else ""
    return f"{services.settings.public_url}/e/{slug}/{event['slug']}/requests/{request['_id']}"


async def mail_one(services, event: EventDoc, request: Mapping[str, Any], membership_id: Any, *, send: str,
                   now: datetime.datetime | None = None) -> None:
    """Mail the request to one registration, in the person's language, once for this `send`.

    The registration is claimed first: one conditional update marks it
    mailed by this send only if it is still targeted, has not answered and
    was not mailed by this send.  Only the process whose update matched
    writes the mail (to the outbox first, then SMTP), so a retried or
    resumed send mails nobody twice.  Raises NotSent with the reason otherwise.
    """
    # Imported here: attendees builds on registration, not the other way round.
    from attendees.registry import attendee_locale

    db = services.db
    now = now or utcnow()
    if status(request, now) != ACTIVE:
        raise NotSent(CLOSED)
    rid = str(request["_id"])
    oid = users.as_id(membership_id)
    mark = f"request_mails.{rid}.{send}"
    claimed = await db.memberships.find_one_and_update(
        {"_id": oid, **targeted_query(event, request), _answered(rid): {"$exists": False},
         mark: {"$exists": False}},
        {"$set": {mark: now}}, return_document=ReturnDocument.AFTER) if oid else None
    if claimed is None:
        current = await db.memberships.find_one({"_id": oid, "scope_id": event["_id"], "role": R.ATTENDEE}) \
            if oid else None
        if current is None:
            raise NotSent(GONE)
        if rid in (current.get("request_answers") or {}):
            raise NotSent(ANSWERED)
        if send in ((current.get("request_mails") or {}).get(rid) or {}):
            raise NotSent(MAILED)
        raise NotSent(f"state:{M.state_of(current)}")
    user = await db.users.find_one({"_id": claimed["user_id"]}, {"locale": 1})
    locale = attendee_locale(event, user, claimed)
    subject, body, html = render_mail(services, event, request, locale, claimed.get("name") or "",
                                      await answer_url(services, event, request))
    await services.mailer.send(to=claimed["email"], subject=subject, text=body, html=html,
                               event_id=event["_id"], kind="data_request", mailing_id=request["_id"])


def render_mail(services, event: EventDoc, request: Mapping[str, Any], locale: str, name: str,
                link: str) -> tuple[str, str, str]:
    """(subject, text, html) of the request's mail in `locale` (the rule is in the module docstring)."""
    gettext = services.i18n.gettext(locale)
    own_subject = text(event, request.get("mail_subject"), locale)
    own_body = text(event, request.get("mail_text"), locale)
    if not (own_subject or own_body):
        own_subject, own_body = templates.texts_for(event, MAIL_KIND, locale, gettext)
    texts = {"subject": own_subject, "body": own_body}
    if "{answer_url}" not in texts["body"]:
        texts["body"] = f"{texts['body'].rstrip()}\n\n{gettext(ANSWER_HERE) % {'link': '{answer_url}'}}"
    fallback = (event["default_locale"],)
    values = {"person_name": name, "event_title": text_for(event.get("title"), locale, fallback),
              "request_title": text(event, request.get("title"), locale), "answer_url": link}
    return templates.render(services.i18n, templates.with_texts(event, MAIL_KIND, {locale: texts}), MAIL_KIND,
                            locale, values, footer=[(gettext(FOOTER) % {"event": values["event_title"]}, "")],
                            site_url=services.settings.public_url)


async def unanswered(db, event: EventDoc, request: Mapping[str, Any], limit: int) -> list[str]:
    """Ids of the registrations the request is for that have not answered it, oldest first."""
    found = await db.memberships.find(
        {**targeted_query(event, request), _answered(request["_id"]): {"$exists": False}}, {"_id": 1}) \
        .sort([("_id", 1)]).limit(limit).to_list(None)
    return [str(m["_id"]) for m in found]


async def send_now(services, event: EventDoc, request: Mapping[str, Any], actor: Mapping[str, Any],
                   key: str) -> dict[str, Any]:
    """Mail the request to everyone it is for who has not answered: a bulk job (`registration.bulk`).

    The job lists the registrations chosen now, keeps its progress and
    resumes after a restart; the same `key` (a form sent twice) finds the
    job made the first time.  Each registration is mailed once by the job
    (`mail_one`).  Returns the job; the caller starts it.
    """
    # Imported here: a bulk job mails a request's registrants (bulk imports this module).
    from registration import bulk

    if status(request) != ACTIVE:
        raise RequestError(NOT_ACTIVE)
    chosen = await unanswered(services.db, event, request, bulk.MAX_SELECTION)
    if not chosen:
        raise RequestError(NOBODY)
    return await bulk.create(services.db, event, action=bulk.REQUEST, chosen=chosen, key=key, actor=actor,  # type: ignore[arg-type]
                             request_id=request["_id"])


async def sweep_automatic(services, now: datetime.datetime | None = None) -> int:
    """Mail every active automatic request to the registrations that entered one of its states since
    it started and were not mailed it yet; returns how many were mailed.

    A sweep rather than a call in each action: every way into a state
    (a form, one click, a confirmation, an approval, a promotion, staff
    registering someone or importing a file) is found by the same query on
    `state_at`, and a crash loses nothing: what was not claimed is found by
    the next round.  The claim (`mail_one` with the send "auto") makes it
    once per person however many processes sweep; a process dying between
    the claim and writing the mail loses that one mail, which "send now"
    makes up for.
    """
    db = services.db
    now = now or utcnow()
    sent = 0
    active = await db.data_requests.find({"auto": True, "starts_at": {"$lte": now}, "ends_at": {"$gt": now}}) \
        .limit(MAX_SWEPT_REQUESTS).to_list(None)
    events: dict[Any, EventDoc | None] = {}
    for request in active:
        if request["event_id"] not in events:
            events[request["event_id"]] = await model.get_event(db, request["event_id"])
        event = events[request["event_id"]]
        if event is None:
            continue
        rid = str(request["_id"])
        found = await db.memberships.find(
            {**targeted_query(event, request), "state_at": {"$gte": request["starts_at"]},
             _answered(rid): {"$exists": False}, f"request_mails.{rid}": {"$exists": False}},
            {"_id": 1}).limit(SWEEP_BATCH).to_list(None)
        for m in found:
            try:
                await mail_one(services, event, request, m["_id"], send=AUTO, now=now)
                sent += 1
            except NotSent:
                continue
    return sent


# --- the registrant list -------------------------------------------------------------

async def list_columns(db, event: Mapping[str, Any], locale: str) -> list[dict[str, Any]]:
    """The answer columns of every request of the event, in the order requests were made:
    each {"request_id", "form", "columns" (`forms.columns`), "headers" (request title: field label)}."""
    out = []
    for request in await of_event(db, event["_id"]):
        form = await forms.load(db, event["_id"], form_kind(request))
        cols = forms.columns(form, locale)
        if not cols:
            continue
        title = text(event, request["title"], locale)  # type: ignore[arg-type]
        out.append({"request_id": str(request["_id"]), "form": form, "columns": cols,
                    "headers": [f"{title}: {c['label']}" for c in cols]})
    return out


def headers(columns: Sequence[Mapping[str, Any]]) -> list[str]:
    return [h for c in columns for h in c["headers"]]


def cells(columns: Sequence[Mapping[str, Any]], request_answers: Mapping[str, Any] | None, locale: str) -> list[str]:
    """One registration's answers to every request, under `list_columns`."""
    answers = request_answers or {}
    out: list[str] = []
    for c in columns:
        out += forms.row(c["form"], c["columns"], answers.get(c["request_id"]), locale)
    return out


async def answer_fields(db, event: Mapping[str, Any], locale: str) -> list[filters.AnswerField]:
    """The request answers the registrant list can be filtered by (keys as `filters.request_key`)."""
    out: list[filters.AnswerField] = []
    for c in await list_columns(db, event, locale):
        for field, header in zip(filters.answer_fields(c["form"], locale), c["headers"], strict=True):
            out.append({"key": filters.request_key(c["request_id"], field["key"]), "label": header,
                        "options": field["options"]})
    return out


def prefill(form: Mapping[str, Any], answers: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Earlier answers as a submission, to change them: those given for the fields as they are now.

    A file or a consent is not carried over: it is given again.
    """
    out: dict[str, list[str]] = {}
    for field in form.get("fields") or []:
        answer = (answers or {}).get(field["id"])
        if not answer or answer.get("v") != field["v"]:
            continue
        value = answer.get("value")
        if field["type"] == forms.MULTIPLE and isinstance(value, list):
            out[field["id"]] = [str(v) for v in value]
        elif field["type"] == forms.CHECKBOX:
            if value is True:
                out[field["id"]] = [forms.YES]
        elif value is not None and not isinstance(value, (dict, list)):
            out[field["id"]] = [str(value)]
    return out
