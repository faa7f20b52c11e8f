"""Who may see an event, or one of its sessions, and register: settings and the verdict.

The rule itself is `access.rules.privacy_verdict` (pure); this module feeds
it what it needs from storage, reading only what the level requires:
nothing for a public event or for staff and registered attendees, one read
of `invitations` (`registration.invitations`) when an invitation could
admit.

Settings: the event's level and closed list (`event.privacy`), and a
session's own (`schedule[].privacy`; absent: as the event).  A change is
checked in full first (a closed list with one bad line changes nothing),
written with one update guarded by the privacy read when the form was
shown (two staff editing the list at once: the second is told, nothing is
lost), and audited.  Nothing is announced: live pages show nothing of the
privacy, and people already registered stay (privacy decides who comes
in, not who stays).

A session's verdict counts staff roles only: a registration for the event
is not one for a closed session.  Invitations to the event admit to its
sessions "by invitation only", not to a session's closed list.
"""
from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Mapping
from typing import Any

from access import audit, rules
from access import roles as R
from accounts.users import AccountDoc, normalize_email
from attendees.csv_import import ImportFileError, decode, sniff_delimiter
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_
from events import model
from events.model import EventDoc, PrivacyDoc, ScheduleItemDoc
from registration import invitations

MAX_ADDRESSES = 50_000
MAX_UPLOAD_KB = 5 * 1024
MAX_LINES_SHOWN = 20
INHERIT = "inherit"   # a session's form value: as the event

LEVEL_LABELS = {
    rules.PUBLIC: N_("Public"),
    rules.BY_LINK: N_("By link only"),
    rules.SIGNED_IN: N_("Signed-in users only"),
    rules.CLOSED_LIST: N_("Closed list"),
    rules.INVITATION: N_("By invitation only"),
}
LEVEL_HELP = {
    rules.PUBLIC: N_("Anyone may see the event and register; it is listed in the space's catalogue."),
    rules.BY_LINK: N_("Anyone with the link may see the event and register; it is not listed anywhere."),
    rules.SIGNED_IN: N_("Anyone signed in to an account may see the event and register."),
    rules.CLOSED_LIST: N_("Only the addresses on the closed list (and invited people) may see the event "
                          "and register."),
    rules.INVITATION: N_("Only people holding a personal invitation may see the event and register."),
}
# From the most open to the strictest: a move to the right asks staff to confirm.
_RANK = {level: i for i, level in enumerate(rules.PRIVACY_LEVELS)}


class PrivacyError(Refusal):
    """A refused change.  `lines`: the bad line numbers."""

    def __init__(self, message: str, lines: list[int] | None = None, **params):
        super().__init__(message, **params)
        self.lines = lines or []


class PrivacyConflict(PrivacyError):
    def __init__(self):
        super().__init__(N_("Someone else changed these settings meanwhile. They are shown as they are now; "
                            "make your change again."))


def stricter(old: str, new: str) -> bool:
    return _RANK.get(new, 0) > _RANK.get(old, 0)


def fingerprint(privacy: Mapping[str, Any] | None) -> str:
    """What the settings form was shown, to tell at saving whether someone changed it meanwhile."""
    p = privacy or {}
    text = (p.get("level") or "") + "\n" + "\n".join(p.get("emails") or [])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- reading closed lists -------------------------------------------------------------

def _check(cells: list[tuple[int, str]]) -> list[str]:
    """The normalised addresses of (line number, text) cells, or PrivacyError naming every bad line."""
    found: dict[str, None] = {}
    bad = []
    for line, text in cells:
        email = normalize_email(text)
        if email is None:
            bad.append(line)
        else:
            found.setdefault(email, None)
    if bad:
        shown = ", ".join(str(n) for n in bad[:MAX_LINES_SHOWN]) + (" …" if len(bad) > MAX_LINES_SHOWN else "")
        raise PrivacyError(N_("These lines are not email addresses: %(numbers)s. Nothing was changed."),
                           lines=bad, numbers=shown)
    if len(found) > MAX_ADDRESSES:
        raise PrivacyError(N_("A list holds at most %(count)s addresses. Nothing was changed."),
                           count=MAX_ADDRESSES)
    return list(found)


def parse_text(text: str) -> list[str]:
    """Addresses typed one per line (blank lines skipped)."""
    lines = (text or "").splitlines()
    if len(lines) > MAX_ADDRESSES * 2:
        raise PrivacyError(N_("A list holds at most %(count)s addresses. Nothing was changed."),
                           count=MAX_ADDRESSES)
    return _check([(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()])


def parse_upload(raw: bytes) -> list[str]:
    """Addresses of an uploaded CSV or text file: an "email" column if the first line names one,
    else the first column (a first line without "@" is taken for a header)."""
    if len(raw) > MAX_UPLOAD_KB * 1024:
        raise PrivacyError(N_("The file is larger than %(max)s KB. Split it into smaller files."),
                           max=MAX_UPLOAD_KB)
    try:
        text, _ = decode(raw)
    except ImportFileError as exc:
        raise PrivacyError(exc.message, **exc.params) from None
    if not text.strip():
        raise PrivacyError(N_("The file is empty."))
    first = next(line for line in text.splitlines() if line.strip())
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(first), strict=False)
    column = 0
    cells: list[tuple[int, str]] = []
    header_seen = False
    try:
        for cells_ in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells_):
                continue
            if not header_seen:
                header_seen = True
                names = [c.strip().lower() for c in cells_]
                if "email" in names or "e-mail" in names:
                    column = names.index("email") if "email" in names else names.index("e-mail")
                    continue
                if "@" not in cells_[0]:
                    continue
            cells.append((line, cells_[column].strip() if column < len(cells_) else ""))
            if len(cells) > MAX_ADDRESSES * 2:
                break
    except csv.Error:
        raise PrivacyError(N_("The file could not be read as CSV or text. Nothing was changed.")) from None
    if not cells:
        raise PrivacyError(N_("The file holds no email addresses."))
    return _check(cells)


# --- changing ------------------------------------------------------------------------------

def _clean_level(level: str) -> str:
    if level not in rules.PRIVACY_LEVELS:
        raise PrivacyError(N_("Choose one of the privacy levels."))
    return level


async def set_privacy(db, actor: AccountDoc, event: EventDoc, *, level: str, emails: list[str] | None,
                      shown: str) -> EventDoc:
    """Set the event's level and (when `emails` is not None) its closed list.

    `shown` is the `fingerprint` of the privacy the form was shown: if it
    changed since, PrivacyConflict and nothing is written.
    """
    level = _clean_level(level)
    fresh = await model.get_event(db, event["_id"])
    if fresh is None:
        raise model.EventMissing()
    before = fresh.get("privacy")
    if fingerprint(model.privacy_of(fresh) if before else None) != shown:
        raise PrivacyConflict()
    current = model.privacy_of(fresh)
    after: PrivacyDoc = {"level": level, "emails": current["emails"] if emails is None else emails}
    guard: dict[str, Any] = ({"privacy.level": before.get("level"), "privacy.emails": before.get("emails")}
                             if before else {"privacy": {"$exists": False}})
    result = await db.events.update_one({"_id": fresh["_id"], **guard},
                                        {"$set": {"privacy": after, "updated_at": utcnow()}})
    if result.matched_count != 1:
        raise PrivacyConflict()
    await audit.record(db, actor=actor, action="privacy.set", event=fresh,
                       params={"level": level, "count": len(after["emails"])},
                       before={"level": current["level"], "count": len(current["emails"])},
                       after={"level": level, "count": len(after["emails"])})
    saved = await model.get_event(db, fresh["_id"])
    assert saved is not None
    return saved


def session_privacy(item: Mapping[str, Any]) -> PrivacyDoc | None:
    """A session's own privacy, or None: as the event."""
    p = item.get("privacy")
    if not p or p.get("level") not in rules.PRIVACY_LEVELS:
        return None
    return {"level": p["level"], "emails": list(p.get("emails") or [])}


async def set_session_privacy(db, actor: AccountDoc, event: EventDoc, item_id: str, *, level: str,
                              emails: list[str] | None) -> ScheduleItemDoc:
    """Give a session its own level (and closed list), or `INHERIT` to follow the event again."""
    item = next((i for i in event["schedule"] if i.get("id") == item_id), None)
    if item is None:
        raise PrivacyError(N_("This schedule item does not exist."))
    old = session_privacy(item)
    new: PrivacyDoc | None
    if level == INHERIT:
        change: dict[str, Any] = {"$unset": {"schedule.$.privacy": ""}}
        new = None
    else:
        new = {"level": _clean_level(level),
               "emails": (old["emails"] if old else []) if emails is None else emails}
        change = {"$set": {"schedule.$.privacy": new}}
    change.setdefault("$set", {})["updated_at"] = utcnow()
    result = await db.events.update_one({"_id": event["_id"], "schedule.id": item_id}, change)
    if result.matched_count != 1:
        raise PrivacyError(N_("This schedule item does not exist."))
    await audit.record(db, actor=actor, action="privacy.session", event=event, params={"item_id": item_id},
                       before=old and {"level": old["level"], "count": len(old["emails"])},
                       after=new and {"level": new["level"], "count": len(new["emails"])})
    saved = dict(item)
    if new is None:
        saved.pop("privacy", None)
    else:
        saved["privacy"] = new
    return saved  # type: ignore[return-value]


# --- verdicts -----------------------------------------------------------------------------

async def verdict(db, event: EventDoc, user: Mapping[str, Any] | None, roles: R.Roles,
                  token: str | None = None) -> str:
    """`access.rules.privacy_verdict` for this person on the event; an invitation is read only if it could admit."""
    p = model.privacy_of(event)
    email = user["email"] if user else None
    first = rules.privacy_verdict(p["level"], p["emails"], roles, email=email, invited=False)
    if first == rules.ADMITTED or (user is None and not token):
        return first
    held = await invitations.invited(db, event, user, token)
    return rules.privacy_verdict(p["level"], p["emails"], roles, email=email, invited=held)


def _staff_roles(roles: R.Roles) -> R.Roles:
    return {name: held for name, held in roles.items() if name != R.ATTENDEE}


def session_admits(item: Mapping[str, Any], event_privacy: PrivacyDoc, roles: R.Roles, *,
                   email: str | None, invited: bool) -> bool:
    """The pure rule: may this person see this session of the event (`invited`: to the event)?

    A session without a level of its own follows the event's verdict (with
    the event's roles: its registered attendees see it); one with its own
    level is decided with staff roles only, and an invitation to the event
    admits only to a session "by invitation only", not to its closed list.
    """
    own = session_privacy(item)
    if own is None:
        return rules.privacy_verdict(event_privacy["level"], event_privacy["emails"], roles, email=email,
                                     invited=invited) == rules.ADMITTED
    return rules.privacy_verdict(own["level"], own["emails"], _staff_roles(roles), email=email,
                                 invited=invited and own["level"] == rules.INVITATION) == rules.ADMITTED


def invitation_matters(items, event_privacy: PrivacyDoc, roles: R.Roles, *, email: str | None) -> bool:
    """Whether holding an invitation would change the verdict on any of `items` (else none is read)."""
    return any(not session_admits(i, event_privacy, roles, email=email, invited=False)
               and session_admits(i, event_privacy, roles, email=email, invited=True) for i in items)


async def session_filter(db, event: EventDoc, user: Mapping[str, Any] | None, roles: R.Roles,
                         token: str | None = None) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate: may this person see this session of the event?  Reads invitations once, if needed.

    The rule is `session_admits`.
    """
    email = user["email"] if user else None
    event_privacy = model.privacy_of(event)
    held = False
    if (user is not None or token) and invitation_matters(event["schedule"], event_privacy, roles, email=email):
        held = await invitations.invited(db, event, user, token)
    decided: dict[Any, bool] = {i.get("id"): session_admits(i, event_privacy, roles, email=email, invited=held)
                                for i in event["schedule"]}
    return lambda item: decided.get(item.get("id"), False)
