"""Every role against every staff action: allowed where the role table says so,
refused with a translated 403 (and nothing changed) everywhere else.

The list of actions is not written by hand: it is every route of the admin
modules, so a new staff page is covered the day it is added.
"""
import re

import pytest
from bson import ObjectId

from access import roles as R
from access.permissions import ROLE_PERMISSIONS, granted
from admin.staff_base import StaffHandler
from app import routes

# Every role of the permission table, and a signed-in visitor with none.
ROLES = tuple(ROLE_PERMISSIONS) + ("nobody",)
FILLERS = {"action": "slides_show", "locale": "en"}


def staff_routes():
    found = []
    for module in routes.MODULES:
        for pattern, handler, *_ in module.ROUTES:
            if isinstance(handler, type) and issubclass(handler, StaffHandler):
                found.append((pattern, handler))
    return found


def fill(pattern: str, event: dict, space: dict) -> str:
    def value(m):
        name = m.group(1)
        if name == "event_id":
            return str(event["_id"])
        if name == "space_id":
            return str(space["_id"])
        return FILLERS.get(name, str(ObjectId()))
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", value, pattern)
    return path.replace("\\.", ".").rstrip("$")


async def snapshot(db):
    out = {}
    for name in ("events", "spaces", "memberships", "users", "audit", "outbox", "mailings", "imports"):
        out[name] = await db[name].find({}, {"last_login_at": 0}).sort("_id", 1).to_list(None)
    return out


def test_the_permission_table_names_every_role():
    assert set(ROLE_PERMISSIONS) == set(R.ALL_ROLES)


def test_every_staff_route_declares_a_known_permission():
    from access.permissions import ALL_PERMISSIONS
    assert staff_routes(), "no staff routes found"
    for pattern, handler in staff_routes():
        assert handler.permission in ALL_PERMISSIONS, (pattern, handler.permission)


@pytest.mark.gen_test(timeout=120)
async def test_role_matrix(browser, factory, db):
    space = await factory.space()
    event = await factory.event(space)
    people = {}
    for role in ROLES:
        if role == "nobody":
            user = await factory.user()
        else:
            user = await factory.member(role, event=event, space=space,
                                        locales=["en"] if role == R.COMMENTATOR else [])
        b = browser()
        await b.sign_in(user["login"], factory.PASSWORD)
        people[role] = b

    checked = 0
    for pattern, handler in staff_routes():
        path = fill(pattern, event, space)
        for role in ROLES:
            allowed = handler.permission in granted([role] if role != "nobody" else [])
            b = people[role]
            for method in ("get", "post"):
                if getattr(handler, method) is getattr(StaffHandler, method):
                    continue  # the handler does not answer this method
                before = None if allowed else await snapshot(db)
                r = await (b.get(path) if method == "get" else b.post(path, {}))
                checked += 1
                where = f"{method.upper()} {path} as {role}"
                if allowed:
                    assert r.status_code != 403, where
                    if method == "get":
                        assert r.status_code in (200, 302, 404), (where, r.status_code)
                else:
                    assert r.status_code == 403, (where, r.status_code)
                    assert "error-message" in r.text, where
                    assert await snapshot(db) == before, f"{where} changed data"
    assert checked > 50
