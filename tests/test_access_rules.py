"""The rules of access, role by role: every role of the permission table (and a
visitor with none) against every rule of access.rules, read from one table.

The people all chat in English; the commentator serves Russian.  Rooms are
described as the rules see them: a language (None: a room of every
language) and an owner (None: a shared room).
"""
import pytest

from access import roles as R
from access import rules
from access.permissions import ROLE_PERMISSIONS

ME, OTHER = "a" * 24, "b" * 24
CHAT_LOCALE = "en"

ROOMS = {
    "pub_en": ("en", None),        # the public room of my chat language
    "pub_ru": ("ru", None),
    "pub_de": ("de", None),
    "sup_own": ("en", ME),         # my own support room
    "sup_ru": ("ru", OTHER),       # someone else's support room, in Russian
    "sup_en": ("en", OTHER),       # someone else's support room, in my language
    "com": (None, None),           # a community page's discussion
}

COLUMNS = (
    # admission with the gate closed, then open
    "closed", "open",
    # who is who
    "manage", "moderator", "chat_staff", "sanctions", "viewer",
    # rooms
    "pub_en", "pub_ru", "pub_de", "sup_own", "sup_ru", "sup_en", "com",
    # moderating rooms and members by language (None: rooms of every language)
    "mod_ru", "mod_de", "mod_all",
    # seeing a Russian-speaking attendee: name, details; and oneself
    "see_name", "see_details", "see_self",
)
W, A, X = rules.WATCH, rules.WAIT, rules.REFUSED
T, F = True, False
TABLE = {
    R.PLATFORM_ADMIN: (W, W, T, T, T, F, F, T, T, T, T, T, T, T, T, T, T, T, T, T),
    R.SPACE_ADMIN:    (W, W, T, T, T, F, F, T, T, T, T, T, T, T, T, T, T, T, T, T),
    R.EVENT_ADMIN:    (W, W, T, T, T, F, F, T, T, T, T, T, T, T, T, T, T, T, T, T),
    R.EVENT_MANAGER:  (W, W, T, T, T, F, F, T, T, T, T, T, T, T, T, T, T, T, T, T),
    R.MODERATOR:      (W, W, T, T, T, F, F, T, T, T, T, T, T, T, T, T, T, T, F, T),
    R.COMMENTATOR:    (W, W, T, F, T, F, F, T, T, F, T, T, F, T, T, F, F, T, F, T),
    R.SPEAKER:        (W, W, F, F, F, T, F, T, F, F, T, F, F, T, F, F, F, F, F, T),
    R.ATTENDEE:       (A, W, F, F, F, T, T, T, F, F, T, F, F, T, F, F, F, F, F, T),
    "nobody":         (X, X, F, F, F, T, F, F, F, F, F, F, F, F, F, F, F, F, F, T),
}


def roles_of(role: str) -> dict:
    """Roles as `roles.roles_in` returns them: role -> membership (with a commentator's languages)."""
    if role == "nobody":
        return {}
    return {role: {"role": role, "locales": ["ru"] if role == R.COMMENTATOR else []}}


def decide(roles: dict) -> tuple:
    out = [rules.admission(roles, gate_open=False), rules.admission(roles, gate_open=True),
           rules.page_access(roles)["manage"], rules.is_moderator(roles), rules.is_chat_staff(roles),
           rules.held_to_sanctions(roles), rules.is_viewer(roles)]
    out += [rules.may_enter_room(roles, ME, CHAT_LOCALE, locale=locale, owner=owner)
            for locale, owner in ROOMS.values()]
    out += [rules.may_moderate(roles, "ru"), rules.may_moderate(roles, "de"), rules.may_moderate(roles, None)]
    out += [rules.may_see_attendee(roles, ME, OTHER, "ru"),
            rules.may_see_attendee(roles, ME, OTHER, "ru", details=True),
            rules.may_see_attendee(roles, ME, ME, "en", details=True)]
    return tuple(out)


def test_the_table_has_every_role_of_the_permission_table():
    assert set(ROLE_PERMISSIONS) == set(R.ALL_ROLES)
    assert set(TABLE) == set(ROLE_PERMISSIONS) | {"nobody"}
    assert all(len(row) == len(COLUMNS) for row in TABLE.values())


@pytest.mark.parametrize("role", list(TABLE))
def test_rules_by_role(role):
    got = dict(zip(COLUMNS, decide(roles_of(role))))
    expected = dict(zip(COLUMNS, TABLE[role]))
    assert {k: v for k, v in got.items() if v != expected[k]} == {}, role


def test_page_access_follows_the_permission_table():
    for role in TABLE:
        roles = roles_of(role)
        can = rules.page_access(roles)
        assert can["watch"] == (rules.admission(roles, gate_open=True) == rules.WATCH)
        assert can["early"] == (rules.admission(roles, gate_open=False) == rules.WATCH)


def test_a_commentator_of_two_languages_serves_both_and_no_third():
    roles = {R.COMMENTATOR: {"role": R.COMMENTATOR, "locales": ["ru", "de"]}}
    assert rules.may_moderate(roles, "ru") and rules.may_moderate(roles, "de")
    assert not rules.may_moderate(roles, "en") and not rules.may_moderate(roles, None)
    assert rules.staff_locales(roles, ["en", "de", "ru"]) == ["de", "ru"]
    assert rules.commentator_locales(roles) == {"ru", "de"}
    assert rules.may_enter_room(roles, ME, "en", locale="de", owner=OTHER)
    assert not rules.may_enter_room(roles, ME, "en", locale="lv", owner=None)


def test_a_commentator_without_languages_is_not_chat_staff():
    roles = {R.COMMENTATOR: {"role": R.COMMENTATOR, "locales": []}}
    assert not rules.is_chat_staff(roles) and rules.held_to_sanctions(roles)
    assert rules.staff_locales(roles, ["en", "ru"]) == []


def test_moderators_moderate_every_language_of_the_event():
    roles = roles_of(R.MODERATOR)
    assert rules.staff_locales(roles, ["ru", "en", "kk"]) == ["ru", "en", "kk"]


@pytest.mark.parametrize("held, main, viewer", [
    ((R.ATTENDEE, R.SPEAKER), R.SPEAKER, False),
    ((R.ATTENDEE, R.COMMENTATOR), R.COMMENTATOR, False),
    ((R.ATTENDEE, R.SPACE_ADMIN), R.SPACE_ADMIN, False),
    ((R.ATTENDEE,), R.ATTENDEE, True),
    ((), "", False),
])
def test_the_main_role_is_the_highest_held(held, main, viewer):
    roles = {role: {"role": role, "locales": []} for role in held}
    assert rules.main_role(roles) == main
    assert rules.is_viewer(roles) == viewer


def test_an_attendee_who_is_also_staff_passes_the_gate():
    roles = {R.ATTENDEE: {"role": R.ATTENDEE, "locales": []}, R.SPEAKER: {"role": R.SPEAKER, "locales": []}}
    assert rules.admission(roles, gate_open=False) == rules.WATCH
