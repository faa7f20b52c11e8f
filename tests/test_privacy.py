"""Event and session privacy: every level against every kind of visitor, on the event page and
the pages, files and socket around it; per-session privacy; invitations; the closed list's
staff page.

The public page (`/about`) and the register page are served elsewhere: for them the rule
itself (`events.privacy.verdict`) is tested here against the same table.
"""
from __future__ import annotations

import datetime
import re

import icalendar
import pytest
from tornado.httpclient import HTTPClientError

from access import roles as R
from access import rules
from events import model, privacy, view
from registration import invitations
from tests.live_client import LiveClient
from tests.support import error_text, translated
from tests.test_slides import png

LEVELS = rules.PRIVACY_LEVELS
KINDS = ("anonymous", "stranger", "on_list", "invited_token", "invited_address", "registered", "staff")
ABOUT, SIGN_IN, REFUSED, WATCH = "about", "signin", "refused", "watch"

# What the event page answers each kind of visitor at each level.  Watching needs a
# registration: whoever privacy admits without one is sent to the public page to register.
EXPECTED = {
    rules.PUBLIC: {"anonymous": ABOUT, "stranger": ABOUT, "on_list": ABOUT, "invited_token": ABOUT,
                   "invited_address": ABOUT, "registered": WATCH, "staff": WATCH},
    rules.BY_LINK: {"anonymous": ABOUT, "stranger": ABOUT, "on_list": ABOUT, "invited_token": ABOUT,
                    "invited_address": ABOUT, "registered": WATCH, "staff": WATCH},
    rules.SIGNED_IN: {"anonymous": SIGN_IN, "stranger": ABOUT, "on_list": ABOUT, "invited_token": ABOUT,
                      "invited_address": ABOUT, "registered": WATCH, "staff": WATCH},
    rules.CLOSED_LIST: {"anonymous": SIGN_IN, "stranger": REFUSED, "on_list": ABOUT, "invited_token": ABOUT,
                        "invited_address": ABOUT, "registered": WATCH, "staff": WATCH},
    rules.INVITATION: {"anonymous": SIGN_IN, "stranger": REFUSED, "on_list": REFUSED, "invited_token": ABOUT,
                       "invited_address": ABOUT, "registered": WATCH, "staff": WATCH},
}
# The same table as the rule's verdicts (what the public page and the register page ask).
VERDICT = {ABOUT: rules.ADMITTED, WATCH: rules.ADMITTED, SIGN_IN: rules.NEEDS_SIGN_IN}


class Setting:
    """One event with a slide, two sessions, a closed list, an invitation, and one person per kind."""


async def build(factory, services, browser) -> Setting:
    db = services.db
    s = Setting()
    s.space = await factory.space()
    s.event = await factory.event(s.space, locales=("en", "ru"))
    s.staff = await factory.member(R.EVENT_ADMIN, event=s.event)
    s.registered = await factory.member(R.ATTENDEE, event=s.event)
    s.stranger = await factory.user()
    s.on_list = await factory.user(email="listed@example.org")
    s.invited_address = await factory.user(email="invited@example.org")
    s.invited_token = await factory.user()
    made, _ = await invitations.invite(db, s.staff, s.event, ["invited@example.org", "link-holder@example.org"])
    s.token = next(raw for doc, raw in made if doc["email"] == "link-holder@example.org")
    await db.events.update_one({"_id": s.event["_id"]}, {"$set": {
        "privacy": {"level": rules.PUBLIC, "emails": ["listed@example.org"]}}})
    from events import decks
    s.event = await decks.add_slides(db, services.notifier, s.event["_id"], s.staff, "en",
                                     [("one.png", png((1, 2, 3)))], 10 * 1024 * 1024)
    s.media_id = s.event["slides"]["decks"]["en"][0]["media_id"]
    s.path = view.path(s.space, s.event)
    s.browsers = {"anonymous": browser()}
    for kind in KINDS[1:]:
        b = browser()
        await b.sign_in(getattr(s, kind)["login"], factory.PASSWORD)
        s.browsers[kind] = b
    return s


async def set_level(db, event, level):
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"privacy.level": level}})


def outcome(r, path: str) -> str:
    if r.status_code == 200:
        return WATCH
    if r.status_code == 302 and r.headers["location"].startswith("/signin?next="):
        return SIGN_IN
    if r.status_code == 302 and r.headers["location"].startswith(path + "/about"):
        return ABOUT
    if r.status_code == 403 and 'class="card narrow privacy-refused"' in r.text:
        return REFUSED
    return f"{r.status_code} {r.headers.get('location')}"


def suffix(kind: str, s: Setting) -> str:
    return f"?invite={s.token}" if kind == "invited_token" else ""


async def snapshot(db) -> dict:
    """What looking must not change; opening the event page notes `watched_at` on the viewer's own
    registration (for recommendations and attendance), which is not a change of access."""
    out = {}
    for name in ("events", "invitations", "memberships", "audit", "programmes"):
        docs = await db[name].find({}).sort("_id", 1).to_list(None)
        out[name] = [{k: v for k, v in d.items() if k != "watched_at"} for d in docs]
    return out


# --- every level, every visitor --------------------------------------------------------------

@pytest.mark.gen_test(timeout=120)
async def test_every_level_against_every_visitor_on_pages_feed_and_media(browser, factory, services, db):
    s = await build(factory, services, browser)
    before = await snapshot(db)
    for level in LEVELS:
        await set_level(db, s.event, level)
        for kind in KINDS:
            b, extra = s.browsers[kind], suffix(kind, s)
            expected = EXPECTED[level][kind]
            for sub in ("", "/programme.ics", "/community", "/support", "/quizzes"):
                r = await b.get(s.path + sub + extra)
                where = f"{level} {kind} {sub or '/'}"
                assert outcome(r, s.path) == expected, (where, r.status_code, r.headers.get("location"))
                if expected != WATCH:
                    # The slide's id is handed out only to those who may watch.
                    assert s.media_id not in r.text, where
                if expected == ABOUT and kind == "invited_token":
                    assert r.headers["location"] == f"{s.path}/about?invite={s.token}", where
            if expected == WATCH:
                r = await b.get(s.path)
                assert s.media_id in r.text
            # The rule the public page and the register page ask.
            user = None if kind == "anonymous" else getattr(s, kind)
            roles = await R.roles_in(db, user, s.space["_id"], s.event["_id"])
            event = await model.get_event(db, s.event["_id"])
            verdict = await privacy.verdict(db, event, user, roles, s.token if kind == "invited_token" else None)
            if expected in VERDICT:
                assert verdict == VERDICT[expected], (level, kind, verdict)
            else:
                assert verdict == (rules.NOT_ON_LIST if level == rules.CLOSED_LIST else rules.NEEDS_INVITATION)
    # The media file itself stays a capability: anyone holding its id gets it.
    r = await s.browsers["anonymous"].get(f"/media/{s.media_id}")
    assert r.status_code == 200
    # Looking changes nothing (an invitation is not used up by being opened).
    after = await snapshot(db)
    assert {k: v for k, v in after.items() if k != "events"} == {k: v for k, v in before.items() if k != "events"}


@pytest.mark.gen_test(timeout=60)
async def test_the_refusal_page_says_why_and_what_to_do_in_the_visitors_language(browser, factory, services, db):
    space = await factory.space()
    event = await factory.event(space)
    await db.events.update_one({"_id": event["_id"]}, {"$set": {
        "privacy": {"level": rules.CLOSED_LIST, "emails": ["someone@example.org"]}}})
    path = view.path(space, event)
    user = await factory.user(email="notlisted@example.org", locale="he")
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.get(path)
    assert r.status_code == 403 and 'lang="he"' in r.text and 'dir="rtl"' in r.text
    assert error_text(r.text) == translated(services, "he", "This event is open to a closed list of addresses, "
                                                            "and %(email)s is not on it.", email=user["email"])
    assert translated(services, "he", "Sign in with another account") in r.text
    assert 'name="viewport"' in r.text
    # "Sign in with another account" signs out and comes back to the event through the sign-in page.
    r = await b.post("/signout", {"next": path})
    assert r.status_code == 302 and r.headers["location"] == "/signin?next=" + path.replace("/", "%2F")

    await db.events.update_one({"_id": event["_id"]}, {"$set": {"privacy.level": rules.INVITATION}})
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.get(path)
    assert r.status_code == 403
    assert translated(services, "he", "Or ask the organiser for an invitation.") in r.text


# --- the socket ----------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=120)
async def test_the_socket_admits_only_registered_people_and_staff_at_every_level(browser, factory, services,
                                                                                 db, base_url):
    s = await build(factory, services, browser)
    for level in LEVELS:
        await set_level(db, s.event, level)
        for kind in KINDS:
            if kind == "anonymous":
                continue
            b = s.browsers[kind]
            if EXPECTED[level][kind] == WATCH:
                client = await LiveClient.connect(base_url, b, s.event["_id"])
                await client.expect("welcome")
                await client.expect("state")
                client.close()
            else:
                with pytest.raises(HTTPClientError) as refused:
                    await LiveClient.connect(base_url, b, s.event["_id"])
                assert refused.value.code == 403, (level, kind)
        with pytest.raises(HTTPClientError) as refused:
            await LiveClient.connect(base_url, s.browsers["anonymous"], s.event["_id"])
        assert refused.value.code == 401


@pytest.mark.gen_test
async def test_a_registered_attendee_taken_off_the_list_stays(browser, factory, db, base_url):
    """Privacy decides who comes in, not who stays: a registration keeps admitting."""
    space = await factory.space()
    event = await factory.event(space)
    attendee = await factory.member(R.ATTENDEE, event=event, email="was-listed@example.org")
    await db.events.update_one({"_id": event["_id"]}, {"$set": {
        "privacy": {"level": rules.CLOSED_LIST, "emails": []}}})
    b = browser()
    await b.sign_in(attendee["login"], factory.PASSWORD)
    assert (await b.get(view.path(space, event))).status_code == 200
    client = await LiveClient.connect(base_url, b, event["_id"])
    await client.expect("welcome")
    client.close()


# --- per-session privacy --------------------------------------------------------------------------

async def session_event(factory, db):
    space = await factory.space()
    event = await factory.event(space, locales=("en",))
    at = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
    schedule = [
        {"id": "open", "day_id": "d1", "starts_at": at, "ends_at": None, "title": {"en": "Open talk"},
         "speaker": ""},
        {"id": "vip", "day_id": "d1", "starts_at": at + datetime.timedelta(hours=1), "ends_at": None,
         "title": {"en": "Listed talk"}, "speaker": "",
         "privacy": {"level": rules.CLOSED_LIST, "emails": ["vip@example.org"]}},
        {"id": "inv", "day_id": "d1", "starts_at": at + datetime.timedelta(hours=2), "ends_at": None,
         "title": {"en": "Invited talk"}, "speaker": "", "privacy": {"level": rules.INVITATION, "emails": []}},
    ]
    await db.events.update_one({"_id": event["_id"]}, {"$set": {
        "schedule": schedule, "privacy": {"level": rules.PUBLIC, "emails": []}}})
    return space, await model.get_event(db, event["_id"])


def ics_titles(body: bytes) -> set[str]:
    return {str(e.get("summary")) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


@pytest.mark.gen_test(timeout=60)
async def test_a_session_the_person_may_not_see_is_left_out_of_schedule_programme_and_feed(
        browser, factory, services, db):
    space, event = await session_event(factory, db)
    path = view.path(space, event)
    staff = await factory.member(R.EVENT_ADMIN, event=event)
    people = {
        "plain": await factory.member(R.ATTENDEE, event=event),
        "vip": await factory.member(R.ATTENDEE, event=event, email="vip@example.org"),
        "invited": await factory.member(R.ATTENDEE, event=event, email="guest@example.org"),
        "staff": staff,
    }
    await invitations.invite(db, staff, event, ["guest@example.org"])
    # The plain attendee saved the listed talk before it was closed.
    await db.programmes.insert_one({"user_id": people["plain"]["_id"], "event_id": event["_id"],
                                    "item_ids": ["open", "vip"]})
    sees = {"plain": {"Open talk"}, "vip": {"Open talk", "Listed talk"},
            "invited": {"Open talk", "Invited talk"}, "staff": {"Open talk", "Listed talk", "Invited talk"}}
    for who, user in people.items():
        b = browser()
        await b.sign_in(user["login"], factory.PASSWORD)
        r = await b.get(path)
        assert r.status_code == 200
        shown = set(re.findall(r'class="schedule-title" id="item-\w+-title">([^<]+)<', r.text))
        assert shown == sees[who], who
        for item_id, title in (("open", "Open talk"), ("vip", "Listed talk"), ("inv", "Invited talk")):
            r = await b.post(path + "/programme", {"item": item_id, "saved": "1"})
            assert r.status_code == (302 if title in sees[who] else 400), (who, item_id)
        body = (await b.get(path + "/programme.ics")).content
        assert ics_titles(body) == sees[who], who
        # The public page lists the same sessions as the event page, by the same rule.
        about_page = (await b.get(path + "/about")).text
        assert {t for t in ("Open talk", "Listed talk", "Invited talk") if t in about_page} == sees[who], who
    doc = await db.programmes.find_one({"user_id": people["plain"]["_id"]})
    assert "inv" not in doc["item_ids"]


@pytest.mark.gen_test(timeout=60)
async def test_sessions_are_recommended_only_to_whom_the_event_page_shows_them(factory, services, db):
    from registration import recommend
    space, event = await session_event(factory, db)
    await db.events.update_one({"_id": event["_id"]}, {"$set": {
        "tags": ["ai"], **{f"schedule.{i}.tags": ["ai"] for i in range(3)}}})
    staff = await factory.member(R.EVENT_ADMIN, event=event)
    people = {
        "plain": await factory.member(R.ATTENDEE, event=event),
        "vip": await factory.member(R.ATTENDEE, event=event, email="vip@example.org"),
        "invited": await factory.member(R.ATTENDEE, event=event, email="guest@example.org"),
    }
    await invitations.invite(db, staff, event, ["guest@example.org"])
    sees = {"plain": {"Open talk"}, "vip": {"Open talk", "Listed talk"}, "invited": {"Open talk", "Invited talk"}}
    before = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
    for who, user in people.items():
        found = await recommend.for_person(db, user, now=before)
        assert {r.candidate.item["title"]["en"] for r in found if r.candidate.item} == sees[who], who


@pytest.mark.gen_test
async def test_session_privacy_survives_an_edit_of_the_item_and_can_follow_the_event_again(
        factory, services, db):
    from events import editing
    space, event = await session_event(factory, db)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    await editing.update_item(db, admin, event, "vip", day_id="d1", starts="11:00", ends="", title={"en": "New"},
                              speaker="")
    event = await model.get_event(db, event["_id"])
    assert privacy.session_privacy(editing.find_item(event, "vip"))["level"] == rules.CLOSED_LIST
    await privacy.set_session_privacy(db, admin, event, "vip", level=privacy.INHERIT, emails=None)
    event = await model.get_event(db, event["_id"])
    assert "privacy" not in editing.find_item(event, "vip")
    with pytest.raises(privacy.PrivacyError):
        await privacy.set_session_privacy(db, admin, event, "nope", level=rules.PUBLIC, emails=None)
    with pytest.raises(privacy.PrivacyError):
        await privacy.set_session_privacy(db, admin, event, "vip", level="everyone", emails=None)


# --- invitations -------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_forged_revoked_and_other_events_invitations_are_refused_with_their_reason(
        browser, factory, services, db):
    space = await factory.space()
    event = await factory.event(space)
    other = await factory.event(space)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"privacy": {"level": rules.INVITATION,
                                                                             "emails": []}}})
    made, _ = await invitations.invite(db, admin, event, ["a@example.org", "b@example.org"])
    (first, good), (second, revoked) = made
    other_made, _ = await invitations.invite(db, admin, other, ["c@example.org"])
    foreign = other_made[0][1]
    await invitations.revoke(db, admin, event, second["_id"])
    path = view.path(space, event)
    before = await snapshot(db)
    cases = {
        "forged": ("x" * 32, "This invitation link is not valid. Check that the whole link was copied, "
                             "or ask the organiser for a new one."),
        "revoked": (revoked, "This invitation was withdrawn by the organiser."),
        "other": (foreign, "This invitation link is for another event."),
    }
    for name, (token, message) in cases.items():
        r = await browser(locale="ru").get(f"{path}?invite={token}")
        assert r.status_code == 403, name
        assert error_text(r.text) == translated(services, "ru", message), name
    assert await snapshot(db) == before
    # The good link admits, again and again, until a registration is made with it.
    for _ in range(2):
        r = await browser().get(f"{path}?invite={good}")
        assert r.headers["location"] == f"{path}/about?invite={good}"
    taker = await factory.user()
    assert await invitations.mark_used(db, event, taker, good)
    assert await invitations.invited(db, event, taker, good)
    assert not await invitations.invited(db, event, None, good)
    someone = await factory.user()
    b = browser()
    await b.sign_in(someone["login"], factory.PASSWORD)
    r = await b.get(f"{path}?invite={good}")
    assert r.status_code == 403 and error_text(r.text) == translated(
        services, "en", "This invitation link has already been used by another account.")


# --- the staff page -------------------------------------------------------------------------------------

async def staff_browser(factory, browser, event):
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    return admin, b


@pytest.mark.gen_test(timeout=60)
async def test_a_stricter_level_asks_first_and_a_list_with_bad_lines_changes_nothing(
        browser, factory, services, db):
    space = await factory.space()
    event = await factory.event(space)
    admin, b = await staff_browser(factory, browser, event)
    base = f"/admin/events/{event['_id']}/privacy"
    r = await b.get(base)
    assert r.status_code == 200
    shown = re.search(r'name="shown" value="(\w+)"', r.text).group(1)

    # Opening up needs no confirmation.
    r = await b.post(base, {"action": "level", "level": rules.PUBLIC, "shown": shown})
    assert r.status_code == 302
    assert model.privacy_of(await model.get_event(db, event["_id"]))["level"] == rules.PUBLIC
    shown = re.search(r'name="shown" value="(\w+)"', (await b.get(base)).text).group(1)
    # Stricter: shown back for confirmation, nothing saved until confirmed.
    r = await b.post(base, {"action": "level", "level": rules.SIGNED_IN, "shown": shown})
    assert r.status_code == 200 and 'name="confirm" value="1"' in r.text
    assert model.privacy_of(await model.get_event(db, event["_id"]))["level"] == rules.PUBLIC
    r = await b.post(base, {"action": "level", "level": rules.SIGNED_IN, "shown": shown, "confirm": "1"})
    assert r.status_code == 302
    assert model.privacy_of(await model.get_event(db, event["_id"]))["level"] == rules.SIGNED_IN
    # A form shown before that change is told, and changes nothing.
    r = await b.post(base, {"action": "level", "level": rules.PUBLIC, "shown": shown})
    assert r.status_code == 409 and error_text(r.text)

    shown = re.search(r'name="shown" value="(\w+)"', (await b.get(base)).text).group(1)
    before = await snapshot(db)
    bad = b"email,name\nok@example.org,Ok\nnot-an-address,Bad\n\nalso@example.org,Fine\n@@,Worse\n"
    r = await b.post(base, {"action": "list", "shown": shown}, files={"file": ("list.csv", bad, "text/csv")})
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "en", "These lines are not email addresses: %(numbers)s. "
                                                            "Nothing was changed.", numbers="3, 6")
    r = await b.post(base, {"action": "list", "shown": shown, "emails": "ok@example.org\nnope"})
    assert r.status_code == 400 and "2" in error_text(r.text)
    assert await snapshot(db) == before

    good = b"Name;E-mail\nAnna;Anna@Example.org\nJonas;jonas@example.org\nAnna again;anna@example.org\n"
    r = await b.post(base, {"action": "list", "shown": shown}, files={"file": ("list.csv", good, "text/csv")})
    assert r.status_code == 302
    event = await model.get_event(db, event["_id"])
    assert model.privacy_of(event)["emails"] == ["anna@example.org", "jonas@example.org"]
    shown = re.search(r'name="shown" value="(\w+)"', (await b.get(base)).text).group(1)
    r = await b.post(base, {"action": "list", "shown": shown, "emails": "third@example.org", "add": "1"})
    assert r.status_code == 302
    event = await model.get_event(db, event["_id"])
    assert model.privacy_of(event)["emails"] == ["anna@example.org", "jonas@example.org", "third@example.org"]
    entries = await db.audit.find({"action": "privacy.set"}).to_list(None)
    assert len(entries) == 4 and all("emails" not in repr(e["after"]) for e in entries)


@pytest.mark.gen_test(timeout=60)
async def test_staff_invite_copy_links_and_revoke(browser, factory, services, db):
    space = await factory.space()
    event = await factory.event(space)
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"privacy": {"level": rules.INVITATION,
                                                                             "emails": []}}})
    admin, b = await staff_browser(factory, browser, event)
    base = f"/admin/events/{event['_id']}/privacy"
    r = await b.post(base + "/invitations", {"emails": "Guest@Example.org\nsecond@example.org", "format": "page"})
    assert r.status_code == 200
    links = re.findall(r'readonly value="([^"]+)"', r.text)
    assert len(links) == 2 and all("/about?invite=" in link for link in links)
    tokens = [link.split("invite=")[1] for link in links]
    # Only hashes are stored.
    stored = repr(await db.invitations.find({}).to_list(None))
    assert not any(t in stored for t in tokens)
    path = view.path(space, event)
    r = await browser().get(f"{path}?invite={tokens[0]}")
    assert r.headers["location"] == f"{path}/about?invite={tokens[0]}"

    # Inviting again keeps the live invitation; a CSV of new links on request.
    r = await b.post(base + "/invitations", {"emails": "guest@example.org\nthird@example.org", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = r.text.strip().splitlines()
    assert rows[0] == "email,link" and len(rows) == 2 and rows[1].startswith("third@example.org,")

    r = await b.get(base)
    assert "guest@example.org" in r.text and "third@example.org" in r.text
    inv = await db.invitations.find_one({"email": "guest@example.org"})
    r = await b.post(base + "/invitations/revoke", {"invitation": str(inv["_id"])})
    assert r.status_code == 302
    r = await browser().get(f"{path}?invite={tokens[0]}")
    assert r.status_code == 403
    # Revoking twice, or an invitation that does not exist: a translated 404.
    r = await b.post(base + "/invitations/revoke", {"invitation": str(inv["_id"])})
    assert r.status_code == 404 and error_text(r.text)

    # A new link replaces the old one.
    second = await db.invitations.find_one({"email": "second@example.org"})
    r = await b.post(base + "/invitations/link", {"invitation": str(second["_id"])})
    new = re.findall(r'readonly value="([^"]+)"', r.text)[0].split("invite=")[1]
    assert (await browser().get(f"{path}?invite={tokens[1]}")).status_code == 403
    assert (await browser().get(f"{path}?invite={new}")).status_code == 302

    # A bad line in the typed addresses invites nobody.
    before = await snapshot(db)
    r = await b.post(base + "/invitations", {"emails": "fine@example.org\nbroken", "format": "page"})
    assert r.status_code == 400 and error_text(r.text)
    assert await snapshot(db) == before


@pytest.mark.gen_test(timeout=60)
async def test_a_sessions_own_level_and_list_are_set_on_its_page(browser, factory, services, db):
    space, event = await session_event(factory, db)
    admin, b = await staff_browser(factory, browser, event)
    base = f"/admin/events/{event['_id']}/privacy"
    r = await b.get(base)
    assert f"{base}/session?item=vip" in r.text
    r = await b.get(base + "/session?item=open")
    assert r.status_code == 200
    r = await b.post(base + "/session?item=open", {"level": rules.CLOSED_LIST, "emails": "A@example.org\n"})
    assert r.status_code == 302
    event = await model.get_event(db, event["_id"])
    assert event["schedule"][0]["privacy"] == {"level": rules.CLOSED_LIST, "emails": ["a@example.org"]}
    before = await snapshot(db)
    r = await b.post(base + "/session?item=open", {"level": rules.CLOSED_LIST, "emails": "a@example.org\nbad"})
    assert r.status_code == 400 and error_text(r.text)
    assert (await b.get(base + "/session?item=nope")).status_code == 404
    assert await snapshot(db) == before
