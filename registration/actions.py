"""What people do with registrations: register, confirm, accept, cancel; approve, reject, promote; the sweep.

Every action validates, persists (states through `registration.states`,
places through `registration.places`), audits and mails the person.  The
same actions serve the public pages, the staff page and the sweep.

Places are taken before a registration moves into a state that holds one,
and given back after it left one, so a crash in between can only leave a
place counted that nobody holds, which the reconciliation repairs; never a
person holding a place the counter does not know.

Registrations by staff (`attendees.registry`, the CSV import) are
REGISTERED at once and take a place whatever the capacity: staff decide
whom they let in, and may overbook on purpose; self-registrants then wait.
"""
from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from access import audit
from access import roles as R
from access.rules import INVITATION as INVITATION_LEVEL
from accounts import profile_fields, tokens, users
from attendees import registry
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from events import model
from events.model import EventDoc
from registration import counts, form_files, forms, invitations, mails, places, requests, session_seats, states
from registration.model import (
    CANCELLED,
    DEFAULT_OFFER_HOURS,
    EXPIRED,
    OFFERED,
    PENDING,
    REGISTERED,
    REJECTED,
    UNCONFIRMED,
    WAITING,
    settings_of,
    state_of,
)

log = logging.getLogger(__name__)

CONFIRM_PURPOSE = "register"
CONFIRM_HOURS = 72
MAX_CAPACITY = 1_000_000
MAX_OFFER_HOURS = 24 * 30
# Confirmation mails to one address per quarter hour: a form must not become a way to flood a mailbox.
MAILS_PER_WINDOW = 5
# Seconds between two sweep rounds in each process (read each round, so tests may shorten it).
SWEEP_SECONDS = 30.0


class RegistrationError(Refusal):
    """A refused action; `message` is marked for translation, `params` fill it."""


class Closed(RegistrationError):
    def __init__(self):
        super().__init__(N_("Registration for this event is closed."))


class NotFound(RegistrationError):
    def __init__(self):
        super().__init__(N_("This person is not registered for this event."))


class OfferGone(RegistrationError):
    def __init__(self):
        super().__init__(N_("This offer has expired; the place has passed to the next person on the waiting list."))


class SettingsError(RegistrationError):
    pass


class ConfirmRefused(RegistrationError):
    """The confirmation link is unknown, used or expired (`state`, as `accounts.tokens.state`)."""

    def __init__(self, state: str):
        super().__init__(N_("This link cannot be used"))
        self.state = state


def target_of(event: Mapping[str, Any]) -> str:
    return places.event_target(event["_id"])


# --- reads ----------------------------------------------------------------------------------

async def find(db, event_id, user_id) -> dict[str, Any] | None:
    return await db.memberships.find_one({"user_id": user_id, "scope_id": event_id, "role": R.ATTENDEE})


async def by_id(db, event: Mapping[str, Any], membership_id) -> dict[str, Any]:
    oid = users.as_id(membership_id)
    found = await db.memberships.find_one({"_id": oid, "scope_id": event["_id"], "role": R.ATTENDEE}) \
        if oid else None
    if not found:
        raise NotFound()
    return found


async def in_state(db, event_id, state: str, limit: int = 200) -> list[dict[str, Any]]:
    """Registrations in `state`: the waiting list in its order, others oldest first."""
    order = [("position", 1), ("_id", 1)] if state == WAITING else [("state_at", 1), ("_id", 1)]
    return await db.memberships.find({"scope_id": event_id, "role": R.ATTENDEE, "state": state}) \
        .sort(order).limit(limit).to_list(None)


async def places_left(db, event: EventDoc) -> int | None:
    capacity = settings_of(event)["capacity"]
    if capacity is None:
        return None
    return places.free_places(await places.counter(db, target_of(event)), capacity)


# --- entering: the registration counts ------------------------------------------------------

async def _claim_entry(db, event: EventDoc) -> tuple[str, dict[str, Any]]:
    """The state a registration that counts now enters, with its place or waiting position claimed."""
    settings = settings_of(event)
    if settings["approval"]:
        return PENDING, {}
    return await places.enter(db, target_of(event), event["_id"], settings["capacity"])


async def enter(services, event: EventDoc, user: Mapping[str, Any], *, name: str, locale: str,
                source: str, answers: Mapping[str, Any] | None = None, form_version: int | None = None,
                actor_kind: str = states.ATTENDEE) -> dict[str, Any]:
    """Make the person's registration count: PENDING (approval), REGISTERED (a place) or WAITING (full).

    Idempotent: a registration that already counts is returned unchanged,
    so a retried request or a second click registers once.  One document
    per person and event (a unique index) keeps two racing requests to one.
    """
    db = services.db
    extra: dict[str, Any] = {"source": source}
    if answers is not None:
        extra["answers"] = dict(answers)
    if form_version is not None:
        extra["form_version"] = form_version
    for _ in range(3):
        existing = await find(db, event["_id"], user["_id"])
        if existing is not None and state_of(existing) not in states.REOPENABLE:
            return existing
        state, fields = await _claim_entry(db, event)
        now = utcnow()
        try:
            if existing is None:
                doc = _new_registration(event, user, name=name, locale=locale, state=state, now=now,
                                        **extra, **fields)
                await db.memberships.insert_one(doc)
                await _audit_created(db, event, doc, actor_kind, user)
                after = doc
            else:
                # Registering again is a new registration: this one's name, language and answers,
                # never those left from before (without answers now, it has none).
                stale = tuple(k for k in ("answers", "form_version") if k not in extra)
                after = await states.transition(db, event, existing, state, actor_kind=actor_kind,
                                                actor=user if actor_kind == states.ATTENDEE else None,
                                                fields={**extra, **fields, "name": name, "locales": [locale]},
                                                unset=("offer_expires_at", "invite_hash", *stale), now=now)
        except (DuplicateKeyError, states.Conflict):
            # Another request for the same person got there first: undo this one's claim, look again.
            await places.undo_entry(db, target_of(event), state)
            continue
        services.spawn(mails.send_state(services, event, after, state))
        await counts.announce(services, event["_id"])
        if state == WAITING and await _place_free(services, event):
            return await find(db, event["_id"], user["_id"]) or after
        return after
    found = await find(db, event["_id"], user["_id"])
    if found is None:
        raise states.Conflict()
    return found


def _new_registration(event: EventDoc, user: Mapping[str, Any], *, name: str, locale: str, state: str,
                      now: datetime.datetime, **fields: Any) -> dict[str, Any]:
    return {
        "_id": ObjectId(), "user_id": user["_id"], "scope": "event", "scope_id": event["_id"],
        "role": R.ATTENDEE, "locales": [locale], "email": user["email"], "name": name,
        "created_at": now, "mailed_at": None, "state": state, "state_at": now, **fields,
    }


async def _audit_created(db, event: EventDoc, doc: Mapping[str, Any], actor_kind: str,
                         actor: Mapping[str, Any] | None) -> None:
    await audit.record(db, actor=actor if actor_kind == states.ATTENDEE else None,
                       action=f"registration.{doc['state']}", event=event,
                       params={"registration_id": str(doc["_id"]), "email": doc["email"], "by": actor_kind,
                               "source": doc.get("source", "")},
                       before=None, after={"state": doc["state"]})


# --- someone not signed in: an unconfirmed registration and a confirmation mail -----------

async def submit_unconfirmed(services, event: EventDoc, *, email: str, name: str, locale: str,
                             answers: Mapping[str, Any] | None = None, form_version: int | None = None,
                             source: str = "form", invite: str | None = None) -> None:
    """Register an address that is not confirmed yet: UNCONFIRMED, holding no place, and a mail.

    The same whatever the address: a new account (no password) when it has
    none, an existing account never changed, an existing registration left
    as it is.  Anyone may type any address, so nothing typed here changes
    what is stored for it: each submission's answers, name and language
    travel with its own confirmation link (`_submission`), and confirming
    applies those of the link that was clicked; only the address's owner
    decides which submission counts.  `email` and `name` are already clean
    (`attendees.registry.clean`).
    """
    if not settings_of(event)["open"]:
        raise Closed()
    db = services.db
    locale = model.locale_for(event, locale)
    submission = _submission(name=name, locale=locale, source=source, answers=answers,
                             form_version=form_version, invite=invite)
    user = await db.users.find_one({"email": email}, {"_id": 1, "email": 1})
    if user is None:
        user = await registry._create_user(db, email, name, locale)
    existing = await find(db, event["_id"], user["_id"])
    if existing is None:
        # Staff see an unconfirmed registration under the first name given; it holds no answers
        # (they come with the link that confirms it).
        doc = _new_registration(event, user, name=name, locale=locale, state=UNCONFIRMED, now=utcnow(),
                                source=source)
        try:
            await db.memberships.insert_one(doc)
            await _audit_created(db, event, doc, states.ATTENDEE, None)
            await counts.announce(services, event["_id"])
        except DuplicateKeyError:
            pass  # the same form sent twice at once: one registration
    throttle = services.account_throttle()
    key = "register:" + email
    if await throttle.blocked(key):
        return
    await throttle.fail(key)
    raw = await tokens.issue(db, user["_id"], CONFIRM_PURPOSE, datetime.timedelta(hours=CONFIRM_HOURS),
                             event_id=event["_id"], data={"registration": submission})
    services.spawn(mails.send_confirmation(services, event, email=email, name=name, locale=locale,
                                           raw_token=raw, hours=CONFIRM_HOURS))


def _submission(*, name: str, locale: str, source: str, answers: Mapping[str, Any] | None,
                form_version: int | None, invite: str | None) -> dict[str, Any]:
    """What one submission of the form says, as its confirmation link carries it."""
    # An invitation link is bound once the address is confirmed: its hash waits with the submission.
    return {"name": name, "locale": locale, "source": source, "answers": dict(answers or {}),
            **({"form_version": form_version} if form_version is not None else {}),
            **({"invite_hash": tokens.hash_token(invite)} if invite else {})}


async def peek_confirmation(db, raw: str) -> tuple[dict[str, Any], EventDoc]:
    """(token, event) of a usable confirmation link, without using it; else ConfirmRefused."""
    token = await tokens.peek(db, raw, CONFIRM_PURPOSE)
    event = await model.get_event(db, token["event_id"]) if token else None
    if not token or not event:
        raise ConfirmRefused(await tokens.state(db, raw, CONFIRM_PURPOSE) if not token else "unknown")
    return token, event


async def used_link_event(db, raw: str, user_id) -> Any:
    """The event of a confirmation link already used by this person, else None (a harmless second click)."""
    if not raw or len(raw) > 128:
        return None
    token = await db.tokens.find_one({"token_hash": tokens.hash_token(raw), "purpose": CONFIRM_PURPOSE,
                                      "user_id": user_id, "used_at": {"$ne": None}}, {"event_id": 1})
    return token["event_id"] if token else None


async def confirm(services, raw: str) -> tuple[users.AccountDoc, EventDoc, dict[str, Any]]:
    """Use a confirmation link once: the address is the person's, so their registration counts now.

    Returns (account, event, registration); the caller signs the account
    in.  The account is used as it is: its password and name never change.
    """
    db = services.db
    token = await tokens.consume(db, raw, CONFIRM_PURPOSE)
    if not token:
        raise ConfirmRefused(await tokens.state(db, raw, CONFIRM_PURPOSE))
    user = await users.by_id(db, token["user_id"])
    event = await model.get_event(db, token["event_id"])
    if not user or not event:
        raise ConfirmRefused("unknown")
    existing = await find(db, event["_id"], user["_id"])
    submission = (token.get("data") or {}).get("registration")
    if existing is not None and state_of(existing) not in states.REOPENABLE:
        # Registered, waiting, rejected ...: confirming an address changes none of those.
        return user, event, existing
    if submission is None:
        # A link mailed before links carried their submission: what the unconfirmed registration holds.
        if existing is not None and state_of(existing) != UNCONFIRMED:
            return user, event, existing
        submission = {"name": (existing or {}).get("name", user.get("name", "")),
                      "locale": ((existing or {}).get("locales") or [event["default_locale"]])[0],
                      "source": (existing or {}).get("source", "form"), "answers": (existing or {}).get("answers"),
                      **({"form_version": existing["form_version"]} if existing and "form_version" in existing
                         else {}),
                      **({"invite_hash": existing["invite_hash"]} if existing and existing.get("invite_hash")
                         else {})}
    # The owner of the address clicked this link: its answers count, even over a cancelled registration.
    membership = await enter(services, event, user, name=submission.get("name", ""),
                             locale=model.locale_for(event, submission.get("locale", "")),
                             source=submission.get("source", "form"), answers=submission.get("answers") or {},
                             form_version=submission.get("form_version"))
    await _keep_profile(db, event, user["_id"], submission.get("answers"))
    # Files a visitor gave with the form are theirs now that the address is.
    await form_files.adopt(db, user["_id"], submission.get("answers"))
    await _use_invitation(db, event, user, None, submission.get("invite_hash"))
    return user, event, membership


# --- signed in ---------------------------------------------------------------------------

async def register_signed_in(services, event: EventDoc, user: Mapping[str, Any], *, source: str,
                             answers: Mapping[str, Any] | None = None, form_version: int | None = None,
                             locale: str = "", invite: str | None = None) -> dict[str, Any]:
    """A signed-in person registers (form or one click); their address is already verified."""
    existing = await find(services.db, event["_id"], user["_id"])
    if existing is not None and state_of(existing) not in states.REOPENABLE:
        return existing
    if not settings_of(event)["open"]:
        raise Closed()
    after = await enter(services, event, user, name=user.get("name", ""),
                        locale=model.locale_for(event, locale or user.get("locale") or ""),
                        source=source, answers=answers, form_version=form_version)
    await _keep_profile(services.db, event, user["_id"], answers)
    await _use_invitation(services.db, event, user, invite)
    return after


async def _use_invitation(db, event: EventDoc, user: Mapping[str, Any], invite: str | None,
                          invite_hash: str | None = None) -> None:
    """The invitation this registration was made with is now this account's (`registration.invitations`)."""
    if invite or invite_hash or model.privacy_of(event)["level"] == INVITATION_LEVEL:
        await invitations.mark_used(db, event, user, invite, token_hash=invite_hash)


async def _keep_profile(db, event: EventDoc, user_id, answers: Mapping[str, Any] | None) -> None:
    """The answers of fields the organiser marked as profile fields fill the person's reusable profile.

    Only with a verified address: a signed-in person, or at confirmation.
    """
    if answers:
        form = await forms.load(db, event["_id"])
        await profile_fields.save_values(db, user_id, forms.profile_values(form, answers))


async def accept_offer(services, event: EventDoc, membership: Mapping[str, Any],
                       actor: Mapping[str, Any] | None, actor_kind: str = states.ATTENDEE) -> dict[str, Any]:
    """OFFERED -> REGISTERED: the place offered is the person's (it is already counted as taken)."""
    if state_of(membership) == REGISTERED:
        return dict(membership)
    if state_of(membership) == EXPIRED or (
            state_of(membership) == OFFERED and (membership.get("offer_expires_at") or utcnow()) <= utcnow()):
        raise OfferGone()
    if state_of(membership) != OFFERED:
        raise states.IllegalTransition(state_of(membership), REGISTERED)
    after = await states.transition(services.db, event, membership, REGISTERED, actor_kind=actor_kind,
                                    actor=actor, unset=("offer_expires_at",))
    services.spawn(mails.send_state(services, event, after, REGISTERED))
    await counts.announce(services, event["_id"])
    return after


# --- leaving, and the places it frees -------------------------------------------------------

async def _left(services, event: EventDoc, before_state: str) -> None:
    """After a registration left `before_state`: free its place (and pass it on) or its queue slot."""
    if await places.leave(services.db, target_of(event), before_state):
        await promote(services, event)


async def _leave(services, event: EventDoc, membership: Mapping[str, Any], wanted: str, *, actor_kind: str,
                 actor: Mapping[str, Any] | None, mail: bool) -> dict[str, Any]:
    before = state_of(membership)
    after = await states.transition(services.db, event, membership, wanted, actor_kind=actor_kind, actor=actor,
                                    unset=("offer_expires_at",))
    await _left(services, event, before)
    if before == REGISTERED:
        await counts.access_changed(services, event["_id"], membership["user_id"])
    # Seats in sessions are for registered attendees only: theirs pass on.
    await session_seats.release_person(services, event, membership["user_id"], actor_kind=actor_kind, actor=actor)
    await counts.announce(services, event["_id"])
    if mail:
        services.spawn(mails.send_state(services, event, after, wanted))
    return after


class HoldsTicket(RegistrationError):
    def __init__(self):
        super().__init__(N_("This registration comes with a ticket: whoever bought it passes it on, or the "
                            "organisers cancel its order."))


async def cancel(services, event: EventDoc, membership: Mapping[str, Any], *, actor_kind: str,
                 actor: Mapping[str, Any] | None) -> dict[str, Any]:
    """Cancel a registration (by the attendee or by staff); a place it held passes on.

    A registration that carries a ticket of an order (`orders.holders`) ends with its ticket: its
    holder does not cancel it here (the ticket would stay counted and assigned to them).
    """
    if actor_kind == states.ATTENDEE and membership.get("order_id") and state_of(membership) == REGISTERED:
        raise HoldsTicket()
    return await _leave(services, event, membership, CANCELLED, actor_kind=actor_kind, actor=actor,
                        mail=actor_kind == states.STAFF)


async def remove_by_staff(services, event: EventDoc, membership_id, actor) -> dict[str, Any]:
    """Staff remove a registration altogether (the account stays): its place passes on, and so do the
    person's seats in sessions."""
    membership = await registry.remove(services.db, event, membership_id, actor=actor, services=services)
    await session_seats.release_person(services, event, membership["user_id"], actor_kind=states.STAFF,
                                       actor=actor)
    return membership


async def reject(services, event: EventDoc, membership: Mapping[str, Any], actor) -> dict[str, Any]:
    return await _leave(services, event, membership, REJECTED, actor_kind=states.STAFF, actor=actor, mail=True)


async def approve(services, event: EventDoc, membership: Mapping[str, Any], actor) -> dict[str, Any]:
    """PENDING -> REGISTERED when a place is free, else onto the waiting list."""
    if state_of(membership) != PENDING:
        raise states.IllegalTransition(state_of(membership), REGISTERED)
    db, target = services.db, target_of(event)
    wanted, fields = await places.enter(db, target, event["_id"], settings_of(event)["capacity"])
    try:
        after = await states.transition(db, event, membership, wanted, actor_kind=states.STAFF, actor=actor,
                                        fields=fields)
    except states.TransitionError:
        await places.undo_entry(db, target, wanted)
        raise
    services.spawn(mails.send_state(services, event, after, wanted))
    await counts.announce(services, event["_id"])
    if wanted == WAITING and await _place_free(services, event):
        return await by_id(db, event, membership["_id"])
    return after


async def _place_free(services, event: EventDoc) -> bool:
    """After someone joined the waiting list: promote if a place is free; True when someone was offered one.

    A place freed between this person's failed take and their joining the
    list found nobody waiting, and went back; without this check it would
    sit unused until the sweep's next recount.  Read once: full, as it
    usually is when people wait, it costs nothing more.
    """
    capacity = settings_of(event)["capacity"]
    found = await places.counter(services.db, target_of(event))
    if capacity is None or not places.free_places(found, capacity):
        return False
    return await promote(services, event) > 0


async def move_from_waiting_list(services, event: EventDoc, membership: Mapping[str, Any], actor) -> dict[str, Any]:
    """Staff give a waiting person a place now, beyond the capacity if need be (an overbooking they choose)."""
    return await _out_of_queue(services, event, membership, actor, REGISTERED)


async def offer(services, event: EventDoc, membership: Mapping[str, Any], actor) -> dict[str, Any]:
    """Staff offer a waiting person a place now, ahead of the queue and beyond the capacity if need be.

    The place is taken for them at once; they have the event's offer hours
    to accept it, after which it passes on like any offer.
    """
    moment = utcnow()
    deadline = moment + datetime.timedelta(hours=settings_of(event)["offer_hours"])
    return await _out_of_queue(services, event, membership, actor, OFFERED,
                               fields={"offer_expires_at": deadline}, now=moment)


async def _out_of_queue(services, event: EventDoc, membership: Mapping[str, Any], actor, wanted: str,
                        fields: dict[str, Any] | None = None, now: datetime.datetime | None = None
                        ) -> dict[str, Any]:
    """A staff move of a waiting person to `wanted`: a place taken beyond the capacity, given back if refused."""
    if state_of(membership) != WAITING:
        raise states.IllegalTransition(state_of(membership), wanted)
    db, target = services.db, target_of(event)
    await places.take(db, target, event["_id"], None, force=True)
    try:
        after = await states.transition(db, event, membership, wanted, actor_kind=states.STAFF, actor=actor,
                                        fields=fields, now=now)
    except states.TransitionError:
        await places.give_back(db, target)
        raise
    await places.leave_queue(db, target)
    services.spawn(mails.send_state(services, event, after, wanted))
    await counts.announce(services, event["_id"])
    return after


async def promote(services, event: EventDoc, now: datetime.datetime | None = None) -> int:
    """Offer free places to the first waiting people, in order (`places.offer_in_order`); returns how many."""
    settings = settings_of(event)
    if settings["capacity"] is None:
        return 0
    offered = await places.offer_in_order(
        services.db, event, target_of(event), settings["capacity"], settings["offer_hours"],
        lambda person: services.spawn(mails.send_state(services, event, person, OFFERED)), now=now)
    if offered:
        await counts.announce(services, event["_id"])
    return offered


async def expire_offers(services, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Offers past their deadline become EXPIRED and their places pass on; returns how many expired.

    Each is claimed by its guarded transition: of several processes
    sweeping at once, one expires it and passes its place on.
    """
    db = services.db
    now = now or utcnow()
    expired = 0
    due = await db.memberships.find(
        {"role": R.ATTENDEE, "state": OFFERED, "offer_expires_at": {"$lte": now}}).limit(limit).to_list(None)
    events: dict[Any, EventDoc | None] = {}
    for m in sorted(due, key=lambda m: m["offer_expires_at"]):
        if m["scope_id"] not in events:
            events[m["scope_id"]] = await model.get_event(db, m["scope_id"])
        event = events[m["scope_id"]]
        if event is None:
            continue
        try:
            after = await states.transition(db, event, m, EXPIRED, actor_kind=states.SYSTEM, now=now)
        except states.TransitionError:
            continue  # accepted, cancelled or expired by someone else meanwhile
        expired += 1
        services.spawn(mails.send_state(services, event, after, EXPIRED))
        await counts.announce(services, event["_id"])
        await places.give_back(db, target_of(event))
        await promote(services, event, now=now)
    return expired


async def sweep(services, now: datetime.datetime | None = None, limit: int = 50) -> None:
    """One round of the periodic work every process runs: expire offers, mail the automatic data
    requests to new registrants (`registration.requests.sweep_automatic`), recount and promote.

    Targets are claimed one at a time (`places.claim_check`), so each due
    target is checked by one process per round.
    """
    now = now or utcnow()
    await expire_offers(services, now)
    await session_seats.sweep(services, now)
    await _mail_requests(services, now)
    for _ in range(limit):
        counter = await places.claim_check(services.db, now)
        if counter is None:
            break
        event = await model.get_event(services.db, counter.get("event_id"))
        if event is None:
            continue
        await places.reconcile(services.db, counter["_id"], event["_id"], now)
        await promote(services, event, now=now)


async def _mail_requests(services, now: datetime.datetime) -> None:
    # Run after the offers expire, so nobody is mailed for a place they lost this round;
    # a failure here must not stop the places' work below.
    try:
        await requests.sweep_automatic(services, now)
    except Exception:
        log.exception("automatic data requests failed")


# --- settings ----------------------------------------------------------------------------

def clean_settings(*, open_: str, capacity: str, approval: str, offer_hours: str) -> dict[str, Any]:
    """Validated registration settings from a form's strings; SettingsError names the field."""
    cap: int | None = None
    if capacity.strip():
        try:
            cap = int(capacity.strip())
        except ValueError:
            raise SettingsError(N_("The number of places must be a whole number, or empty for no limit.")) from None
        if not 0 <= cap <= MAX_CAPACITY:
            raise SettingsError(N_("The number of places must be between 0 and %(max)s."), max=MAX_CAPACITY)
    hours = DEFAULT_OFFER_HOURS
    if offer_hours.strip():
        try:
            hours = int(offer_hours.strip())
        except ValueError:
            hours = -1
        if not 1 <= hours <= MAX_OFFER_HOURS:
            raise SettingsError(N_("An offer is held between 1 and %(max)s hours."), max=MAX_OFFER_HOURS)
    return {"open": open_ == "1", "capacity": cap, "approval": approval == "1", "offer_hours": hours}


async def update_settings(services, event: EventDoc, values: Mapping[str, Any], actor) -> EventDoc:
    """Store new registration settings (already clean); more places pass at once to those waiting."""
    db = services.db
    before = settings_of(event)
    await db.events.update_one({"_id": event["_id"]},
                               {"$set": {"registration": dict(values), "updated_at": utcnow()}})
    await audit.record(db, actor=actor, action="registration.settings", event=event,
                       before=dict(before), after=dict(values))
    updated = await model.get_event(db, event["_id"])
    assert updated is not None
    await places.ensure(db, target_of(updated), updated["_id"])
    await promote(services, updated)
    return updated
