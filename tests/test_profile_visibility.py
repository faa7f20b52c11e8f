"""Profile visibility: each item shown to everyone, to attendees of the person's events, or to nobody.

Viewers: a visitor, a stranger signed in, a fellow attendee, the event's
staff, and the person themselves.  A card with nothing the viewer may see
is a 404, the same answer as an unknown id.
"""
import pytest
from bson import ObjectId

from access import roles as R
from accounts import visibility
from tests.support import error_text, translated


async def setup(factory, browser, db, levels=None):
    event = await factory.event()
    person = await factory.member(R.ATTENDEE, event=event, name="Ilze Kalniņa")
    await db.users.update_one({"_id": person["_id"]}, {"$set": {
        "profile": {"company": "Ventspils Tech", "phone": "+371 2600 0000", "badge_colour": "teal",
                    "empty": ""}}})
    b = browser()
    await b.sign_in(person["login"], factory.PASSWORD)
    if levels is not None:
        r = await b.post("/profile", {"form": "visibility", **{f"level.{k}": v for k, v in levels.items()}})
        assert r.status_code == 302
    viewers = {"visitor": browser()}
    for kind, role, where in (("stranger", None, None), ("co-attendee", R.ATTENDEE, event),
                              ("staff", R.MODERATOR, event), ("pending", "pending", event)):
        if role is None:
            user = await factory.user()
        elif role == "pending":
            user = await factory.member(R.ATTENDEE, event=where)
            await db.memberships.update_one({"user_id": user["_id"]}, {"$set": {"state": "pending"}})
        else:
            user = await factory.member(role, event=where)
        viewers[kind] = browser()
        await viewers[kind].sign_in(user["login"], factory.PASSWORD)
    viewers["self"] = b
    return event, person, viewers


@pytest.mark.gen_test(timeout=30)
async def test_defaults_name_to_attendees_and_everything_else_to_nobody(factory, browser, db):
    event, person, viewers = await setup(factory, browser, db)
    path = f"/people/{person['_id']}"
    for kind in ("co-attendee", "staff", "self"):
        r = await viewers[kind].get(path)
        assert r.status_code == 200 and "Ilze Kalniņa" in r.text, kind
        assert "Ventspils" not in r.text and "+371" not in r.text and "teal" not in r.text
    unknown = await viewers["stranger"].get(f"/people/{ObjectId()}")
    for kind in ("visitor", "stranger", "pending"):
        r = await viewers[kind].get(path)
        # The same answer as for an id nobody has: no telling that the person exists.
        assert r.status_code == unknown.status_code == 404 and "Ilze" not in r.text, kind
        assert error_text(r.text) == error_text(unknown.text)


@pytest.mark.gen_test(timeout=30)
async def test_each_level_reaches_exactly_its_viewers(factory, browser, db, services):
    levels = {"name": "everyone", "company": "attendees", "phone": "nobody", "badge_colour": "everyone"}
    event, person, viewers = await setup(factory, browser, db, levels)
    stored = await db.users.find_one({"_id": person["_id"]})
    assert stored["profile_visibility"] == levels
    expect = {"visitor": {"Ilze", "teal"}, "stranger": {"Ilze", "teal"}, "pending": {"Ilze", "teal"},
              "co-attendee": {"Ilze", "teal", "Ventspils"}, "staff": {"Ilze", "teal", "Ventspils"},
              "self": {"Ilze", "teal", "Ventspils"}}
    for kind, shown in expect.items():
        r = await viewers[kind].get(f"/people/{person['_id']}")
        assert r.status_code == 200, kind
        for value in ("Ilze", "teal", "Ventspils", "+371"):
            assert (value in r.text) == (value in shown), (kind, value)
    # Known keys carry a translated label, unknown ones their key.
    r = await viewers["staff"].get(f"/people/{person['_id']}")
    assert translated(services, "en", "Company") in r.text and "badge_colour" in r.text


@pytest.mark.gen_test(timeout=30)
async def test_nothing_visible_is_a_404_and_bad_levels_change_nothing(factory, browser, db, services):
    event, person, viewers = await setup(factory, browser, db, {"name": "nobody"})
    for kind in ("visitor", "co-attendee", "staff", "self"):
        assert (await viewers[kind].get(f"/people/{person['_id']}")).status_code == 404, kind
    before = await db.users.find_one({"_id": person["_id"]})
    r = await viewers["self"].post("/profile", {"form": "visibility", "level.name": "everyone",
                                                "level.company": "the whole world"})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "en", visibility.INVALID_LEVEL)
    assert await db.users.find_one({"_id": person["_id"]}) == before
    # A key the person has no value for is ignored, not stored.
    r = await viewers["self"].post("/profile", {"form": "visibility", "level.name": "everyone",
                                                "level.unknown": "everyone"})
    assert r.status_code == 302
    assert (await db.users.find_one({"_id": person["_id"]}))["profile_visibility"] == {"name": "everyone"}
    assert (await viewers["visitor"].get(f"/people/{person['_id']}")).status_code == 200
    assert (await viewers["visitor"].post("/profile", {"form": "visibility"})).status_code == 403


@pytest.mark.gen_test(timeout=30)
async def test_the_profile_page_lists_every_item_with_its_level(factory, browser, db, services):
    event, person, viewers = await setup(factory, browser, db)
    page = (await viewers["self"].get("/profile")).text
    for key in ("name", "company", "phone", "badge_colour"):
        assert f'name="level.{key}"' in page
    assert 'name="level.empty"' not in page
    assert translated(services, "en", "Attendees of my events") in page
    assert 'href="/profile/data.json"' in page and 'href="/profile/delete"' in page
    he = await viewers["self"].post("/locale", {"locale": "he", "next": "/profile"})
    assert he.status_code == 302
    page = (await viewers["self"].get("/profile")).text
    assert 'dir="rtl"' in page and translated(services, "he", "Who sees my profile") in page
