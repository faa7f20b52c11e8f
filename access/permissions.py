"""What each role may do: one table, read by the one mixin that enforces it.

Handlers declare the permission they need (`permission = "event.control"`);
`StaffHandler.prepare` resolves the scope from the URL and refuses anyone
whose roles in that scope do not grant it.  Roles held in a space apply to
every event of that space.  The role-matrix test walks this table.
"""
from __future__ import annotations

from access import roles as R

PLATFORM_SPACES = "platform.spaces"      # list all spaces, create spaces
PLATFORM_OUTBOX = "platform.outbox"      # the installation-wide outbox
STAFF_ANY = "staff.any"                  # scope-less staff pages (the dashboard): staff anywhere
SPACE_EDIT = "space.edit"                # edit a space, create its events, its admins
SPACE_PAYMENTS = "space.payments"        # a space's payments and ledger, CSV, invoices marked paid
SPACE_DONATIONS = "space.donations"      # a space's donation campaigns: create, edit, open and close them
EVENT_OVERVIEW = "event.overview"        # see the event's staff pages at all
EVENT_EDIT = "event.edit"                # texts, locales, days, schedule, materials
EVENT_CONTROL = "event.control"          # days on/off, broadcast, gate, slide flips
EVENT_SLIDES = "event.slides"            # upload and arrange slide decks
EVENT_ATTENDEES = "event.attendees"      # list, register, import, export attendees
EVENT_MAILINGS = "event.mailings"        # send sign-in mailings, read the outbox
EVENT_STAFF = "event.staff"              # grant and revoke event roles
EVENT_AUDIT = "event.audit"              # read the audit log
EVENT_COMMUNITY = "event.community"      # write community pages, publish them, set their discussion
EVENT_QUIZZES = "event.quizzes"          # write quizzes, open and close them, read their results
EVENT_TICKETS = "event.tickets"          # ticket types (prices, grants, sale windows) and quotas
EVENT_ORDERS = "event.orders"            # orders: list, export, mark paid, cancel, refund
EVENT_APPLICATIONS = "event.applications"  # the queue of applications for free tickets: approve, reject, export
EVENT_PROMO_CODES = "event.promo_codes"  # promo codes: create, generate in bulk, export, change, delete
EVENT_CHECKIN = "event.checkin"          # admit ticket holders at the door (scan or type their code)
EVENT_ENTER_EARLY = "event.enter_early"  # pass the gate before the official start
EVENT_WATCH = "event.watch"              # open the event page once the gate is open

# Moderating applications is the attendee work of managers too; what a type grants and its quotas
# stay the admins' (EVENT_TICKETS).
_CONTENT = {EVENT_OVERVIEW, EVENT_CONTROL, EVENT_SLIDES, EVENT_ATTENDEES,
            EVENT_MAILINGS, EVENT_COMMUNITY, EVENT_QUIZZES, EVENT_ENTER_EARLY, EVENT_WATCH, EVENT_APPLICATIONS,
            EVENT_CHECKIN}
# Money is the event admins': what is sold, for how much, and what happens to an order.
_EVENT_ADMIN = _CONTENT | {EVENT_EDIT, EVENT_STAFF, EVENT_AUDIT, STAFF_ANY, EVENT_TICKETS, EVENT_ORDERS,
                           EVENT_PROMO_CODES}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    R.PLATFORM_ADMIN: frozenset(_EVENT_ADMIN | {PLATFORM_SPACES, PLATFORM_OUTBOX, SPACE_EDIT, SPACE_PAYMENTS,
                                               SPACE_DONATIONS}),
    R.SPACE_ADMIN: frozenset(_EVENT_ADMIN | {SPACE_EDIT, SPACE_PAYMENTS, SPACE_DONATIONS}),
    R.EVENT_ADMIN: frozenset(_EVENT_ADMIN),
    R.EVENT_MANAGER: frozenset(_CONTENT | {STAFF_ANY}),
    R.MODERATOR: frozenset({EVENT_OVERVIEW, EVENT_ENTER_EARLY, EVENT_WATCH, STAFF_ANY}),
    R.COMMENTATOR: frozenset({EVENT_OVERVIEW, EVENT_ENTER_EARLY, EVENT_WATCH, STAFF_ANY}),
    R.SPEAKER: frozenset({EVENT_ENTER_EARLY, EVENT_WATCH, STAFF_ANY}),
    R.ATTENDEE: frozenset({EVENT_WATCH}),
}

ALL_PERMISSIONS = frozenset().union(*ROLE_PERMISSIONS.values())


def granted(role_names) -> frozenset[str]:
    out: set[str] = set()
    for role in role_names:
        out |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(out)


def granted_on_page(role_names, *, scoped: bool, staff_anywhere: bool) -> frozenset[str]:
    """What a staff page grants: the roles held in its scope (the space or event in its URL).

    A page with no scope (the dashboard) may only ask "staff anywhere?"
    (`STAFF_ANY`, for anyone holding a role other than attendee somewhere):
    roles held in one scope grant nothing else there.
    """
    grants = granted(role_names)
    return grants | {STAFF_ANY} if not scoped and staff_anywhere else grants
