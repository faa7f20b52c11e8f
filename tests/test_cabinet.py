"""The cabinet (/me): a person's events, registrations in every state with what they may do,
their programme with its calendar feeds, materials of past events they attended and
recommendations; nobody else's; pages of a long list; links with /profile."""
import datetime
import re

import pytest

from access import roles as R
from events import programme
from registration import model as reg
from tests.test_catalogue import make_event, register

UTC = datetime.UTC


def section(html: str, element_id: str) -> str:
    """The <section> (or wrapper) that holds the heading with this id."""
    start = html.index(f'id="{element_id}"')
    end = html.find("</section>", start)
    return html[start:end]


@pytest.mark.gen_test(timeout=60)
async def test_the_cabinet_of_a_person_with_registrations_in_several_states(browser, factory, db, services):
    space = await factory.space("cab")
    now = datetime.datetime.now(UTC)
    talk = {"id": "t1", "day_id": "d1", "title": {"en": "Saved keynote"}, "speaker": "Anna",
            "starts_at": now + datetime.timedelta(days=5), "ends_at": None}
    coming = await make_event(factory, db, space, starts_in_days=5, schedule=[talk], title={"en": "Coming soon"},
                              tags=["ai"])
    went = await make_event(factory, db, space, starts_in_days=-30, title={"en": "Went last month"},
                            materials=[{"id": "m1", "title": {"en": "Recording"}, "url": "https://example.org/rec"},
                                       {"id": "m2", "title": {"en": "Bad"}, "url": "javascript:alert(1)"}])
    waiting = await make_event(factory, db, space, title={"en": "On the list"})
    pending = await make_event(factory, db, space, title={"en": "Needs approval"})
    offered = await make_event(factory, db, space, title={"en": "Offered one"})
    cancelled = await make_event(factory, db, space, title={"en": "Cancelled one"})
    staffed = await make_event(factory, db, space, starts_in_days=8, title={"en": "I moderate"})
    await make_event(factory, db, space, tags=["ai"], starts_in_days=12, title={"en": "Recommended one"})

    me = await factory.user(locale="de")
    for event, state in ((coming, reg.REGISTERED), (went, reg.REGISTERED), (waiting, reg.WAITING),
                         (pending, reg.PENDING), (offered, reg.OFFERED), (cancelled, reg.CANCELLED)):
        await register(db, me, event, state)
    await R.grant(db, me, "event", staffed["_id"], R.MODERATOR)
    await programme.set_saved(db, me["_id"], coming, "t1", True)
    # Someone else's registration never shows.
    other = await factory.user()
    await register(db, other, await make_event(factory, db, space, title={"en": "Not mine"}))

    b = browser()
    await b.sign_in(me["login"], factory.PASSWORD)
    r = await b.get("/me")
    assert r.status_code == 200
    html = r.text
    assert 'href="/me"' in html and 'href="/profile"' in html and "Not mine" not in html
    tr = services.i18n.gettext("de")

    upcoming = section(html, "upcoming")
    assert "Coming soon" in upcoming and "I moderate" in upcoming
    assert tr("Moderator") in upcoming
    for absent in ("On the list", "Needs approval", "Offered one", "Cancelled one", "Went last month"):
        assert absent not in upcoming
    assert "Went last month" in section(html, "past")

    regs = section(html, "registrations")
    for title, label in (("Coming soon", "Registered"), ("On the list", "On the waiting list"),
                         ("Needs approval", "Awaiting approval"), ("Offered one", "Place offered"),
                         ("Cancelled one", "Cancelled")):
        assert title in regs and tr(label) in regs, title
    cancels = re.findall(r'action="(/e/cab/[^"]+)/register/cancel"', regs)
    assert {c.split("/")[3] for c in cancels} == {coming["slug"], went["slug"], waiting["slug"], pending["slug"],
                                                  offered["slug"]}
    assert re.findall(r'action="(/e/cab/[^"]+)/register/accept"', regs) == [f"/e/cab/{offered['slug']}"]
    assert "<details" in regs  # cancelling asks first, without a script

    mine = section(html, "programme")
    assert "Saved keynote" in mine and f'href="/e/cab/{coming["slug"]}/programme.ics"' in mine

    materials = section(html, "materials")
    assert 'href="https://example.org/rec"' in materials and "javascript:" not in html

    recs = section(html, "cabinet-recommended")
    assert "Recommended one" in recs
    assert tr("Because you registered for “%(title)s”") % {"title": "Coming soon"} in recs

    assert "ertificate" not in html  # nothing to show yet: no section

    r = await b.get("/profile")
    assert 'href="/me"' in r.text


@pytest.mark.gen_test(timeout=60)
async def test_a_long_list_of_registrations_is_paged(browser, factory, db):
    space = await factory.space("paged")
    me = await factory.user()
    for n in range(23):
        event = await make_event(factory, db, space, title={"en": f"Numbered {n:02d}"})
        await register(db, me, event, reg.WAITING)
    b = browser()
    await b.sign_in(me["login"], factory.PASSWORD)
    r = await b.get("/me")
    regs = section(r.text, "registrations")
    assert len(re.findall(r'href="/e/paged/[^"]+/about"', regs)) == 20
    assert 'href="?registrations=2#registrations"' in regs
    r = await b.get("/me?registrations=2")
    assert len(re.findall(r'href="/e/paged/[^"]+/about"', section(r.text, "registrations"))) == 3
    r = await b.get("/me?registrations=junk")
    assert r.status_code == 200


@pytest.mark.gen_test(timeout=60)
async def test_the_cabinet_is_for_signed_in_people(browser, factory):
    r = await browser().get("/me")
    assert r.status_code == 302 and r.headers["location"] == "/signin?next=%2Fme"
    user = await factory.user()
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.get("/me")
    assert r.status_code == 200 and "/register/cancel" not in r.text
