"""The rules of access: who may watch, who waits at the gate, who enters, writes in
and moderates which chat room, and who may see an attendee.

Pure functions of a person's roles in one event (`roles.roles_in`: role
name -> membership; a commentator's membership names the languages they
serve) and of the state a rule concerns, passed in as plain values: whether
the gate is open, a room's language and owner.  Nothing here reads storage:
callers already hold what a rule needs, so the connect path decides with the
reads it makes anyway.

Rooms are described here, not named.  Their names are chat's vocabulary
(`chat.room_names`); `chat.access` parses a name, checks that it is a room
of this event, and asks `may_enter_room` with the room's language (None: a
room of every language, a community page's discussion) and owner (None: a
shared room; an account id: that attendee's private support room).

Called per frame (rooms, moderation) and per connect: the checks allocate
nothing beyond the permission set of `admission`.
"""
from __future__ import annotations

from access import grants as G
from access import permissions as P
from access import roles as R

# --- who is who ---------------------------------------------------------------------

# Moderators, event managers and admins: every room and every member of every language.
MODERATING = frozenset({R.PLATFORM_ADMIN, R.SPACE_ADMIN, R.EVENT_ADMIN, R.EVENT_MANAGER, R.MODERATOR})
# A person's main role (shown beside their chat messages): the first they hold.
RANK = (R.PLATFORM_ADMIN, R.SPACE_ADMIN, R.EVENT_ADMIN, R.EVENT_MANAGER, R.MODERATOR,
        R.COMMENTATOR, R.SPEAKER, R.ATTENDEE)


def is_member(roles: R.Roles) -> bool:
    """Any role in the event or its space (platform admins too)."""
    return bool(roles)


def is_moderator(roles: R.Roles) -> bool:
    return not MODERATING.isdisjoint(roles)


def commentator_locales(roles: R.Roles) -> frozenset[str]:
    """The languages these roles serve as a commentator (none without that role)."""
    member = roles.get(R.COMMENTATOR)
    return frozenset(member.get("locales") or ()) if member else frozenset()


def serves(roles: R.Roles, locale: str | None) -> bool:
    """Whether these roles comment in `locale` (commentator_locales without the set)."""
    member = roles.get(R.COMMENTATOR)
    return member is not None and locale is not None and locale in (member.get("locales") or ())


def is_chat_staff(roles: R.Roles) -> bool:
    """Moderators, and commentators of at least one language: the people who answer the chat.

    Chat staff are never muted, banned or slowed down, keep no support room
    of their own, and get the staff console's frames.  Speakers are not chat
    staff: in the chat they are attendees.
    """
    if is_moderator(roles):
        return True
    member = roles.get(R.COMMENTATOR)
    return bool(member and member.get("locales"))


def held_to_sanctions(roles: R.Roles) -> bool:
    """Whether a mute, a ban or a room's slow mode holds for these roles: not for chat staff."""
    return not is_chat_staff(roles)


def is_speaker(roles: R.Roles) -> bool:
    return R.SPEAKER in roles


def main_role(roles: R.Roles) -> str:
    for role in RANK:
        if role in roles:
            return role
    return ""


def is_viewer(roles: R.Roles) -> bool:
    """In the audience: an attendee and nothing more.

    Viewers are counted in presence and held to one device at a time; staff
    (admins, managers, moderators, commentators, speakers) are neither.
    """
    return main_role(roles) == R.ATTENDEE


def may_manage(roles: R.Roles) -> bool:
    """Whether the event's staff pages are open to these roles at all."""
    return P.EVENT_OVERVIEW in P.granted(roles)


def may_see_presence(roles: R.Roles) -> bool:
    """Staff who watch the live audience numbers: those who may manage the event."""
    return may_manage(roles)


# --- what a ticket grants ------------------------------------------------------------------

def ticket_grants(roles: R.Roles) -> G.Grants | None:
    """The grants of the attendee's ticket when they limit these roles, else None.

    Staff (any role but attendee) are never limited by a ticket, and an
    attendee without one (an event that sells none) is not either.  Which
    channels a ticket opens is decided with the roles themselves
    (`roles.with_ticket`): a channel its ticket does not grant holds no role.
    """
    held = roles.get(R.ATTENDEE)
    if held is None or len(roles) > 1:
        return None
    return held.get("grants")


def may_use(roles: R.Roles, feature: str) -> bool:
    """Whether these roles may use an interactive feature (`access.grants.FEATURES`) of the event."""
    grants = ticket_grants(roles)
    return grants is None or grants.allows(feature)


def may_enter_session(roles: R.Roles, item_id) -> bool:
    """Whether a session is open to these roles as far as tickets go (privacy is `privacy_verdict`'s).

    A session the ticket does not grant is not entered: it is left out of
    the schedule and programme, takes no seat and hears no questions.
    """
    grants = ticket_grants(roles)
    return grants is None or grants.admits_session(item_id)


def may_watch_recording(roles: R.Roles, item_id) -> bool:
    """Whether these roles see a session's recording once it is published."""
    grants = ticket_grants(roles)
    return grants is None or grants.admits_recording(item_id)


# --- watching: the gate ----------------------------------------------------------------

WATCH = "watch"        # the event page and the full live connection
WAIT = "wait"          # a member before the gate opens: the countdown and a waiting connection
REFUSED = "refused"    # not a member of the event


def admission(roles: R.Roles, gate_open: bool) -> str:
    """WATCH, WAIT or REFUSED: what these roles may do on the event now.

    Members watch once the gate is open; before, they wait at the gate,
    except those who may enter early (staff and speakers), who pass.
    """
    grants = P.granted(roles)
    if P.EVENT_WATCH not in grants:
        return REFUSED
    if gate_open or P.EVENT_ENTER_EARLY in grants:
        return WATCH
    return WAIT


def page_access(roles: R.Roles) -> dict:
    """What the roles allow around the event page: watch (once open), enter early, manage."""
    grants = P.granted(roles)
    return {
        "watch": P.EVENT_WATCH in grants,
        "early": P.EVENT_ENTER_EARLY in grants,
        "manage": P.EVENT_OVERVIEW in grants,
    }


# --- chat rooms ------------------------------------------------------------------------

def may_enter_room(roles: R.Roles, user_id: str, chat_locale: str, *,
                   locale: str | None, owner: str | None) -> bool:
    """Whether these roles may join, read and write in a room of this event.

    - a room of every language (`locale` None): every member;
    - moderators: every room; commentators: every room of their languages;
    - everyone else (attendees, speakers): the public room of their chat
      language and their own support room in it.
    Stored state decides the rest: sanctions (`held_to_sanctions`), whether
    a support room's owner is of this event, whether a discussion is open.
    A ticket limits its holder: language rooms need CHAT, rooms of every
    language (community discussions) NETWORKING; a support room is help, and
    every holder keeps theirs.
    """
    if not roles:
        return False
    if locale is None:
        return may_use(roles, G.NETWORKING)
    if is_moderator(roles) or serves(roles, locale):
        return True
    if owner is None and not may_use(roles, G.CHAT):
        return False
    return locale == chat_locale and (owner is None or owner == user_id)


def may_moderate(roles: R.Roles, locale: str | None) -> bool:
    """Whether these roles moderate a room, or a member, of this chat language.

    Moderating is deleting messages, muting, banning, slow mode and answering
    support rooms.  `locale` None (a room of every language) is for
    moderators only.
    """
    return is_moderator(roles) or serves(roles, locale)


def staff_locales(roles: R.Roles, event_locales) -> list[str]:
    """The event's languages, in its order, whose rooms and members these roles moderate."""
    return [loc for loc in event_locales if may_moderate(roles, loc)]


# --- seeing people ---------------------------------------------------------------------

def may_see_attendee(roles: R.Roles, viewer_id: str, attendee_id: str, attendee_locale: str | None = None,
                     *, details: bool = False) -> bool:
    """Whether someone with these roles in an event may see one of its attendees.

    A person always sees themselves.  An attendee's details (email,
    registration, answers, exports) are for the staff who hold the event's
    attendee list (`event.attendees`).  Their name is seen by those staff
    and by the chat staff who serve their chat language (a support
    conversation shows who writes).  Nobody else looks a person up: other
    members see a name only where its owner wrote it (a message, a question).
    """
    if viewer_id is not None and str(viewer_id) == str(attendee_id):
        return True
    if P.EVENT_ATTENDEES in P.granted(roles):
        return True
    return not details and may_moderate(roles, attendee_locale)


# --- privacy: who may see an event (or a session) and register ---------------------------

PUBLIC, BY_LINK, SIGNED_IN, CLOSED_LIST, INVITATION = "public", "link", "signed_in", "list", "invitation"
PRIVACY_LEVELS = (PUBLIC, BY_LINK, SIGNED_IN, CLOSED_LIST, INVITATION)

ADMITTED = "admitted"
NEEDS_SIGN_IN = "sign_in"              # signing in may admit (a signed-in event, a list, an invitation)
NOT_ON_LIST = "not_on_list"            # signed in, but the closed list does not name this address
NEEDS_INVITATION = "invitation"        # signed in, and no invitation for this address or link


def privacy_verdict(level: str, emails, roles: R.Roles, *, email: str | None, invited: bool) -> str:
    """ADMITTED, or why not: may this person see the event (or session) and register?

    `level` is one of PRIVACY_LEVELS, `emails` the closed list (normalised),
    `email` the signed-in person's address (None for a visitor), `invited`
    whether they hold a valid invitation for it.  Staff of the event and
    people it already admits (a registration in state "registered") always
    pass: privacy decides who may come in, not who may stay.
    """
    if P.EVENT_WATCH in P.granted(roles):
        return ADMITTED
    if level in (PUBLIC, BY_LINK):
        return ADMITTED
    if invited:
        return ADMITTED
    if email is None:
        return NEEDS_SIGN_IN
    if level == SIGNED_IN:
        return ADMITTED
    if level == CLOSED_LIST:
        return ADMITTED if email in emails else NOT_ON_LIST
    return NEEDS_INVITATION
