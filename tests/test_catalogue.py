"""The public catalogue of a space and an event's public page: who sees which events, the
filters, search and pages, the visitor's language, the Register button per visitor kind,
the refusal page; tags edited by staff; the first view of the event page noted once."""
import datetime
import re

import pytest

from access import roles as R
from access import rules
from events import catalogue
from registration import invitations
from registration import model as reg
from tests.support import error_text, translated

UTC = datetime.UTC


def now() -> datetime.datetime:
    return datetime.datetime.now(UTC)


async def make_event(factory, db, space, *, level=rules.PUBLIC, tags=(), starts_in_days: float | None = 10,
                     locales=("en", "de"), title: dict | None = None, open_registration=False, schedule=(),
                     materials=()) -> dict:
    """An event of `space` with privacy, tags and a start `starts_in_days` from now (None: undated)."""
    event = await factory.event(space, locales=locales, days=0)
    changes: dict = {"privacy": {"level": level, "emails": []}, "tags": list(tags),
                     "registration": {"open": open_registration, "capacity": None, "approval": False,
                                      "offer_hours": 48},
                     "gate.mode": "auto", "gate.official_start": None,
                     "schedule": list(schedule), "materials": list(materials)}
    if title:
        changes["title"] = title
    if starts_in_days is not None:
        start = now() + datetime.timedelta(days=starts_in_days)
        changes["gate.official_start"] = start
        changes["days"] = [{"id": "d1", "date": start.date().isoformat(), "title": {}, "enabled": True}]
    await db.events.update_one({"_id": event["_id"]}, {"$set": changes})
    return await db.events.find_one({"_id": event["_id"]})


async def register(db, user, event, state=reg.REGISTERED):
    """A registration in `state` (the states module's job; written directly for the test)."""
    await R.grant(db, user, "event", event["_id"], R.ATTENDEE)
    await db.memberships.update_one({"user_id": user["_id"], "scope_id": event["_id"], "role": R.ATTENDEE},
                                    {"$set": {"state": state, "state_at": now()}})


def about_links(html: str) -> list[str]:
    return re.findall(r'<h3><a href="(/e/[^"]+/about)">', html)


# --- who sees which events -------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_the_catalogue_lists_only_what_privacy_lets_the_visitor_see(browser, factory, db):
    space = await factory.space("alpha")
    other = await factory.space("beta")
    shown = {}
    for level in rules.PRIVACY_LEVELS:
        shown[level] = await make_event(factory, db, space, level=level,
                                        title={"en": f"Listed {level} event", "de": f"Gelistet {level}"})
    legacy = await factory.event(space, locales=("en",))  # stored before privacy: invitation only
    await db.events.update_one({"_id": legacy["_id"]}, {"$set": {"title": {"en": "Old event"}}})
    foreign = await make_event(factory, db, other, title={"en": "Foreign event"})

    def slugs(html):
        return {link.split("/")[3] for link in about_links(html)}

    r = await browser().get("/s/alpha")
    assert r.status_code == 200
    assert slugs(r.text) == {shown[rules.PUBLIC]["slug"]}
    for hidden in ("Listed link", "Listed signed_in", "Listed list", "Listed invitation", "Old event",
                   "Foreign event"):
        assert hidden not in r.text, hidden

    user = await factory.user()
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.get("/s/alpha")
    assert slugs(r.text) == {shown[rules.PUBLIC]["slug"], shown[rules.SIGNED_IN]["slug"]}
    for hidden in ("Listed link", "Listed list", "Listed invitation", "Old event", "Foreign event"):
        assert hidden not in r.text, hidden
    # Searching or filtering never widens the list.
    for query in ("?q=Listed", "?q=event", "?when=past", "?lang=en", "?tag="):
        r = await b.get("/s/alpha" + query)
        assert slugs(r.text) <= {shown[rules.PUBLIC]["slug"], shown[rules.SIGNED_IN]["slug"]}, query

    r = await browser().get("/s/beta")
    assert slugs(r.text) == {foreign["slug"]}
    assert (await browser().get("/s/nowhere")).status_code == 404


@pytest.mark.gen_test(timeout=60)
async def test_upcoming_and_past_in_their_order(browser, factory, db):
    space = await factory.space("dates")
    later = await make_event(factory, db, space, starts_in_days=30, title={"en": "Later"})
    soon = await make_event(factory, db, space, starts_in_days=2, title={"en": "Soon"})
    undated = await make_event(factory, db, space, starts_in_days=None, title={"en": "Undated"})
    today = await make_event(factory, db, space, starts_in_days=-0.01, title={"en": "Started an instant ago"})
    long_ago = await make_event(factory, db, space, starts_in_days=-60, title={"en": "Long ago"})
    last_month = await make_event(factory, db, space, starts_in_days=-20, title={"en": "Last month"})

    def order(html):
        return [link.split("/")[3] for link in about_links(html)]

    b = browser()
    r = await b.get("/s/dates")
    assert order(r.text) == [today["slug"], soon["slug"], later["slug"], undated["slug"]]
    r = await b.get("/s/dates?when=past")
    assert order(r.text) == [last_month["slug"], long_ago["slug"]]
    # Unknown values fall back to the upcoming list.
    r = await b.get("/s/dates?when=whenever")
    assert order(r.text)[0] == today["slug"]


def test_an_event_is_upcoming_until_its_last_day_ends_on_its_clock():
    event = {"timezone": "Asia/Almaty", "gate": {"official_start": None},
             "days": [{"date": "2026-12-01"}, {"date": "2026-12-03"}]}
    assert catalogue.start_of(event) == datetime.datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
    # The end of 3 December in Almaty (UTC+5) is 19:00 UTC that day.
    assert not catalogue.is_past(event, datetime.datetime(2026, 12, 3, 18, 59, tzinfo=UTC))
    assert catalogue.is_past(event, datetime.datetime(2026, 12, 3, 19, 0, tzinfo=UTC))
    assert catalogue.start_of({"timezone": "UTC", "gate": {}, "days": []}) is None
    assert not catalogue.is_past({"timezone": "UTC", "gate": {}, "days": []}, datetime.datetime.now(UTC))


@pytest.mark.gen_test(timeout=60)
async def test_filters_by_tag_and_language_and_search_in_any_language(browser, factory, db):
    space = await factory.space("filters")
    ai = await make_event(factory, db, space, tags=["ai", "data"], locales=("en", "he"),
                          title={"en": "Machine learning day", "he": "יום למידת מכונה"})
    data = await make_event(factory, db, space, tags=["data"], locales=("ru", "en"),
                            title={"en": "Data (v2.0) meetup", "ru": "Встреча по данным"})
    plain = await make_event(factory, db, space, locales=("de",), title={"de": "Sommerfest"})

    async def found(query):
        r = await browser().get("/s/filters" + query)
        assert r.status_code == 200, query
        return {link.split("/")[3] for link in about_links(r.text)}

    assert await found("") == {ai["slug"], data["slug"], plain["slug"]}
    assert await found("?tag=data") == {ai["slug"], data["slug"]}
    assert await found("?tag=%20AI%20") == {ai["slug"]}  # typed as shown: trimmed, lower-cased
    assert await found("?tag=nothing") == set()
    assert await found("?lang=he") == {ai["slug"]}
    assert await found("?lang=de") == {plain["slug"]}
    assert await found("?lang=xx") == {ai["slug"], data["slug"], plain["slug"]}
    assert await found("?tag=data&lang=ru") == {data["slug"]}
    # Search: any language's title, case-insensitive, and the text is not a pattern.
    assert await found("?q=MACHINE") == {ai["slug"]}
    assert await found("?q=" + "למידת") == {ai["slug"]}
    assert await found("?q=данным") == {data["slug"]}
    assert await found("?q=(v2.0)") == {data["slug"]}
    assert await found("?q=v2.0%29%28") == set()
    assert await found("?q=.*") == set()
    assert await found("?q=Sommer&lang=de") == {plain["slug"]}

    # The tag filter offers the tags in use, and tags link to their filter.
    r = await browser().get("/s/filters")
    assert '<option value="ai"' in r.text and '<option value="data"' in r.text
    assert 'href="/s/filters?tag=ai"' in r.text


@pytest.mark.gen_test(timeout=60)
async def test_pages_keep_the_filters(browser, factory, db):
    space = await factory.space("many")
    for n in range(25):
        await make_event(factory, db, space, tags=["x"], starts_in_days=1 + n, title={"en": f"Numbered {n:02d}"})
    b = browser()
    r = await b.get("/s/many?tag=x")
    assert len(about_links(r.text)) == 20
    assert "Numbered 00" in r.text and "Numbered 20" not in r.text
    assert 'href="/s/many?when=upcoming&amp;tag=x&amp;page=2"' in r.text
    r = await b.get("/s/many?tag=x&page=2")
    assert len(about_links(r.text)) == 5
    assert "Numbered 20" in r.text and "Numbered 24" in r.text
    r = await b.get("/s/many?tag=x&page=99")
    assert r.status_code == 200 and about_links(r.text) == []


@pytest.mark.gen_test(timeout=60)
async def test_the_visitors_language_with_the_events_fallback(browser, factory, db, services):
    space = await factory.space("langs")
    await make_event(factory, db, space, locales=("en", "de"), title={"en": "Summer party", "de": "Sommerfest"})
    r = await browser(locale="de").get("/s/langs")
    assert "Sommerfest" in r.text and "Summer party" not in r.text
    assert translated(services, "de", "Upcoming") in r.text
    r = await browser(locale="he").get("/s/langs")
    assert 'dir="rtl"' in r.text and 'lang="he"' in r.text
    assert "Summer party" in r.text  # the event has no Hebrew: its default language
    assert translated(services, "he", "Search by title") in r.text


# --- the event's public page -----------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_the_public_page_per_visitor_kind(browser, factory, db, services):
    space = await factory.space("about")
    schedule = [{"id": "s1", "day_id": "d1", "title": {"en": "Opening talk"}, "speaker": "Anna",
                 "starts_at": now() + datetime.timedelta(days=10), "ends_at": None, "tags": ["keynote"]}]
    event = await make_event(factory, db, space, tags=["ai"], open_registration=True, schedule=schedule,
                             title={"en": "Open day", "de": "Tag der offenen Tür"})
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"description": {"en": "All about <b>us</b>."}}})
    path = f"/e/about/{event['slug']}"

    r = await browser().get(path + "/about")
    assert r.status_code == 200
    assert 'property="og:title" content="Open day"' in r.text
    assert 'property="og:url" content="' in r.text and f'{path}/about"' in r.text
    assert "All about &lt;b&gt;us&lt;/b&gt;." in r.text  # user text is never markup
    assert "Opening talk" in r.text and "Anna" in r.text and "keynote" in r.text
    assert f'href="{path}/register"' in r.text
    assert 'href="/s/about?tag=ai"' in r.text
    assert 'data-local-time="' in r.text and "Europe/Riga" in r.text

    # Registered: open the event.  Other states: said, no Register button.
    attendee = await factory.user()
    await register(db, attendee, event)
    b = browser()
    await b.sign_in(attendee["login"], factory.PASSWORD)
    r = await b.get(path + "/about")
    assert translated(services, "en", "You are registered") in r.text
    assert f'href="{path}"' in r.text and f'href="{path}/register"' not in r.text

    for state, label in ((reg.PENDING, "Awaiting approval"), (reg.WAITING, "On the waiting list"),
                         (reg.OFFERED, "Place offered")):
        person = await factory.user(locale="de")
        await register(db, person, event, state)
        pb = browser()
        await pb.sign_in(person["login"], factory.PASSWORD)
        r = await pb.get(path + "/about")
        assert translated(services, "de", label) in r.text, state
        assert f'href="{path}/register"' not in r.text and f'href="{path}"' not in r.text
        assert (f'action="{path}/register/accept"' in r.text) == (state == reg.OFFERED)
    # Cancelled: may register again while registration is open.
    person = await factory.user()
    await register(db, person, event, reg.CANCELLED)
    pb = browser()
    await pb.sign_in(person["login"], factory.PASSWORD)
    r = await pb.get(path + "/about")
    assert translated(services, "en", "Cancelled") in r.text and f'href="{path}/register"' in r.text

    # Closed registration.
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"registration.open": False}})
    r = await browser().get(path + "/about")
    assert translated(services, "en", "Registration is closed") in r.text
    assert f'href="{path}/register"' not in r.text

    assert (await browser().get("/e/about/nothing/about")).status_code == 404


@pytest.mark.gen_test(timeout=60)
async def test_the_public_page_refuses_whom_privacy_refuses_and_says_why(browser, factory, db, services,
                                                                         monkeypatch):
    space = await factory.space("closed")
    secret = {"en": "Secret board meeting"}
    invitation = await make_event(factory, db, space, level=rules.INVITATION, title=secret, open_registration=True)
    listed = await make_event(factory, db, space, level=rules.CLOSED_LIST, title=secret)
    await db.events.update_one({"_id": listed["_id"]}, {"$set": {"privacy.emails": ["vip@example.org"]}})
    signed = await make_event(factory, db, space, level=rules.SIGNED_IN, title={"en": "Members' evening"})
    by_link = await make_event(factory, db, space, level=rules.BY_LINK, title={"en": "Hidden gem"})

    # A visitor: asked to sign in, told nothing about the event.
    for event in (invitation, listed, signed):
        r = await browser(locale="de").get(f"/e/closed/{event['slug']}/about")
        assert r.status_code == 403
        assert error_text(r.text) == services.i18n.gettext("de")(
            "Only signed-in people, or people on the organisers' list or with an invitation, may see this event.")
        assert "/signin?next=" in r.text and "Secret" not in r.text and "og:title" not in r.text
    # By link: anyone with the link, but not listed for search engines.
    r = await browser().get(f"/e/closed/{by_link['slug']}/about")
    assert r.status_code == 200 and "Hidden gem" in r.text and 'name="robots" content="noindex"' in r.text

    user = await factory.user(email="someone@example.org")
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.get(f"/e/closed/{invitation['slug']}/about")
    assert r.status_code == 403 and "Secret" not in r.text
    assert error_text(r.text) == translated(services, "en", "This event is by invitation only.")
    r = await b.get(f"/e/closed/{listed['slug']}/about")
    assert r.status_code == 403 and "someone@example.org" in r.text
    r = await b.get(f"/e/closed/{signed['slug']}/about")
    assert r.status_code == 200 and "Members&#39; evening" in r.text

    vip = await factory.user(email="vip@example.org")
    vb = browser()
    await vb.sign_in(vip["login"], factory.PASSWORD)
    assert (await vb.get(f"/e/closed/{listed['slug']}/about")).status_code == 200

    # An invitation admits, and its token goes on to the register link.
    async def invited(db_, event, user_, token):
        return token == "good-token" and event["_id"] == invitation["_id"]
    monkeypatch.setattr(invitations, "invited", invited)
    r = await browser().get(f"/e/closed/{invitation['slug']}/about?invite=good-token")
    assert r.status_code == 200
    assert f'href="/e/closed/{invitation["slug"]}/register?invite=good-token"' in r.text
    r = await browser().get(f"/e/closed/{invitation['slug']}/about?invite=forged")
    assert r.status_code == 403

    # Staff of the event always pass.
    staff = await factory.member(R.EVENT_MANAGER, event=invitation)
    sb = browser()
    await sb.sign_in(staff["login"], factory.PASSWORD)
    r = await sb.get(f"/e/closed/{invitation['slug']}/about")
    assert r.status_code == 200 and "Secret board meeting" in r.text


# --- tags, edited by staff ---------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_staff_edit_tags_of_an_event_and_of_a_session(browser, factory, db, services):
    space = await factory.space()
    event = await make_event(factory, db, space, locales=("en",))
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    form = {"locales": "en", "default_locale": "en", "timezone": "Europe/Riga", "title_en": "Tagged",
            "tags": " AI,  Data   Science;ai\nweb "}
    r = await b.post(f"/admin/events/{event['_id']}/edit", form)
    assert r.status_code == 302, error_text(r.text)
    saved = await db.events.find_one({"_id": event["_id"]})
    assert saved["tags"] == ["ai", "data science", "web"]
    entry = await db.audit.find_one({"action": "event_update"}, sort=[("at", -1)])
    assert entry["before"]["tags"] == [] and entry["after"]["tags"] == ["ai", "data science", "web"]
    r = await b.get(f"/admin/events/{event['_id']}/edit")
    assert 'value="ai, data science, web"' in r.text

    audits = await db.audit.count_documents({})
    for tags, message, count in ((",".join(f"t{n}" for n in range(21)), "Too many tags (at most %(count)s).", 20),
                                 ("x" * 41, "A tag is too long (at most %(count)s characters).", 40)):
        r = await b.post(f"/admin/events/{event['_id']}/edit", {**form, "title_en": "Changed", "tags": tags})
        assert r.status_code == 400
        assert error_text(r.text) == translated(services, "en", message, count=count)
    assert await db.events.find_one({"_id": event["_id"]}) == saved
    assert await db.audit.count_documents({}) == audits

    item = {"day_id": "d1", "starts": "10:00", "ends": "", "title_en": "Talk", "speaker": "", "tags": "Keynote, AI"}
    r = await b.post(f"/admin/events/{event['_id']}/program/schedule", item)
    assert r.status_code == 302, error_text(r.text)
    stored = (await db.events.find_one({"_id": event["_id"]}))["schedule"][0]
    assert stored["tags"] == ["keynote", "ai"]
    r = await b.get(f"/admin/events/{event['_id']}/program/schedule/edit?item={stored['id']}")
    assert 'value="keynote, ai"' in r.text
    r = await b.post(f"/admin/events/{event['_id']}/program/schedule/edit?item={stored['id']}",
                     {**item, "tags": ""})
    assert r.status_code == 302
    assert "tags" not in (await db.events.find_one({"_id": event["_id"]}))["schedule"][0]


# --- watching, for recommendations ---------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_the_first_view_of_the_event_page_is_noted_once(browser, factory, db):
    space = await factory.space()
    event = await factory.event(space)
    attendee = await factory.member(R.ATTENDEE, event=event)
    staff = await factory.member(R.MODERATOR, event=event)
    key = {"user_id": attendee["_id"], "scope_id": event["_id"], "role": R.ATTENDEE}
    assert "watched_at" not in await db.memberships.find_one(key)
    b = browser()
    await b.sign_in(attendee["login"], factory.PASSWORD)
    assert (await b.get(f"/e/{space['slug']}/{event['slug']}")).status_code == 200
    first = (await db.memberships.find_one(key))["watched_at"]
    assert (await b.get(f"/e/{space['slug']}/{event['slug']}")).status_code == 200
    assert (await db.memberships.find_one(key))["watched_at"] == first
    sb = browser()
    await sb.sign_in(staff["login"], factory.PASSWORD)
    assert (await sb.get(f"/e/{space['slug']}/{event['slug']}")).status_code == 200
    assert "watched_at" not in await db.memberships.find_one({"user_id": staff["_id"]})


class _Recording:
    """A database that notes which collections are read through it (and passes everything on)."""

    def __init__(self, db):
        self._db, self.read = db, set()

    def __getattr__(self, name):
        self.read.add(name)
        return getattr(self._db, name)

    def __getitem__(self, name):
        self.read.add(name)
        return self._db[name]


@pytest.mark.gen_test(timeout=60)
async def test_the_listing_reads_through_the_catalogue_view_and_recommendations_do_not(browser, factory, db,
                                                                                        services):
    """`MONGODB_CATALOGUE_READS=secondary` routes the listing alone (`storage.catalogue_db`)."""
    space = await factory.space("routed")
    event = await make_event(factory, db, space, tags=("ai",), title={"en": "Routed event"})
    user = await factory.user()
    await register(db, user, event)
    listing = _Recording(services.db)
    services.storage.catalogue_db = listing
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.get("/s/routed")
    assert r.status_code == 200 and "Routed event" in r.text
    assert listing.read == {"spaces", "events"}
