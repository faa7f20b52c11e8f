"""Recommendations by tags: the ranking and its reasons (pure), and the read around it:
what a person registered for, watched and saved leads to events and sessions they do not
have yet, never to past ones, nor to events privacy keeps from the catalogue."""
import datetime

import pytest
from bson import ObjectId

from access import rules
from events import programme
from registration import model as reg
from registration import recommend
from registration.recommend import Candidate, Signal
from tests.test_catalogue import make_event, register

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def event(title, tags=(), days_from_now=10):
    start = NOW + datetime.timedelta(days=days_from_now)
    return {"_id": ObjectId(), "space_id": "s", "title": {"en": title}, "tags": list(tags), "timezone": "UTC",
            "gate": {"official_start": start}, "days": [{"date": start.date().isoformat()}], "schedule": []}


def session(item_id, title, tags=(), hours_from_now=24):
    return {"id": item_id, "title": {"en": title}, "tags": list(tags),
            "starts_at": NOW + datetime.timedelta(hours=hours_from_now)}


def test_ranking_by_shared_tags_weighted_and_explained():
    went = event("Went", ["ai", "data", "ml"], days_from_now=-30)
    planned = event("Planned", ["web"])
    saved_in = event("Has a saved session")
    saved = session("s1", "Saved talk", ["ux"])
    signals = [Signal(recommend.ATTENDED, went, None, frozenset(went["tags"])),
               Signal(recommend.REGISTERED, planned, None, frozenset(planned["tags"])),
               Signal(recommend.SAVED, saved_in, saved, frozenset(saved["tags"]))]
    two = event("Two shared", ["ai", "data"])
    one_web = event("Web only", ["web"])
    web_and_ux = event("Web and UX", ["web", "ux"])
    nothing = event("Unrelated", ["cooking"])
    cands = [Candidate(e, None, frozenset(e["tags"])) for e in (nothing, one_web, web_and_ux, two)]
    found = recommend.rank(signals, cands, had_events=set(), had_items=set(), now=NOW)
    assert [r.candidate.event["title"]["en"] for r in found] == ["Two shared", "Web and UX", "Web only"]
    assert [r.score for r in found] == [6, 4, 2]
    assert found[0].because.kind == recommend.ATTENDED and found[0].shared == ("ai", "data")
    # Equal gains: the first signal that gave it explains it.
    assert found[1].because.event is planned and found[1].shared == ("web",)
    assert recommend.REASONS[found[0].because.kind] % {"title": "Went"} == "Because you attended “Went”"


def test_ranking_excludes_what_the_person_has_and_what_is_over():
    went = event("Went", ["ai"], days_from_now=-30)
    signals = [Signal(recommend.WATCHED, went, None, frozenset({"ai"}))]
    have = event("Already registered", ["ai"])
    over = event("Over", ["ai"], days_from_now=-2)
    fresh = event("Fresh", ["ai"])
    host = event("Host", ["ai"])
    saved = session("s1", "Saved", ["ai"])
    started = session("s2", "Started", ["ai"], hours_from_now=-1)
    open_ = session("s3", "Open", ["ai"])
    untagged = event("Untagged")
    cands = [Candidate(e, None, frozenset(e["tags"])) for e in (went, have, over, fresh, untagged)]
    cands += [Candidate(host, s, frozenset(s["tags"])) for s in (saved, started, open_)]
    found = recommend.rank(signals, cands, had_events={have["_id"], went["_id"]},
                           had_items={(host["_id"], "s1")}, now=NOW)
    titles = [(r.candidate.item or r.candidate.event)["title"]["en"] for r in found]
    assert titles == ["Open", "Fresh"]  # a session tomorrow before an event in ten days
    assert recommend.rank([], cands, had_events=set(), had_items=set(), now=NOW) == []
    assert len(recommend.rank(signals, cands, had_events=set(), had_items=set(), now=NOW, limit=1)) == 1


@pytest.mark.gen_test(timeout=60)
async def test_recommendations_from_registrations_watching_and_saved_sessions(factory, db):
    space = await factory.space()
    other_space = await factory.space()
    now = datetime.datetime.now(UTC)
    talk = {"id": "t1", "day_id": "d1", "title": {"en": "Talk on vision"}, "speaker": "",
            "starts_at": now + datetime.timedelta(days=3), "ends_at": None, "tags": ["vision"]}
    other_talk = {**talk, "id": "t2", "title": {"en": "Talk on robots"}, "tags": ["robots"]}
    went = await make_event(factory, db, space, tags=["ai"], starts_in_days=-20, title={"en": "Went"})
    going = await make_event(factory, db, space, tags=["robots"], starts_in_days=3, schedule=[talk, other_talk],
                             title={"en": "Going"})
    ai_next = await make_event(factory, db, space, tags=["ai", "vision"], title={"en": "AI next"})
    ai_past = await make_event(factory, db, space, tags=["ai"], starts_in_days=-5, title={"en": "AI past"})
    ai_hidden = await make_event(factory, db, space, tags=["ai"], level=rules.INVITATION, title={"en": "AI hidden"})
    ai_link = await make_event(factory, db, space, tags=["ai"], level=rules.BY_LINK, title={"en": "AI link"})
    ai_members = await make_event(factory, db, space, tags=["ai"], level=rules.SIGNED_IN, title={"en": "AI members"})
    ai_elsewhere = await make_event(factory, db, other_space, tags=["ai"], title={"en": "AI elsewhere"})
    pending = await make_event(factory, db, space, tags=["ai"], title={"en": "AI pending"})
    robots = await make_event(factory, db, space, tags=["robots"], starts_in_days=40, title={"en": "Robots"})

    user = await factory.user()
    await register(db, user, went)
    await register(db, user, going)
    await register(db, user, pending, reg.PENDING)
    await db.memberships.update_one({"user_id": user["_id"], "scope_id": went["_id"]},
                                    {"$set": {"watched_at": now - datetime.timedelta(days=20)}})
    await programme.set_saved(db, user["_id"], going, "t1", True)

    found = await recommend.for_person(db, user)
    by_title = {(r.candidate.item or r.candidate.event)["title"]["en"]: r for r in found}
    assert set(by_title) == {"AI next", "AI members", "Robots", "Talk on robots"}
    # AI next shares "ai" with what they watched and "vision" with the session they saved.
    assert found[0].candidate.event["_id"] == ai_next["_id"]
    assert by_title["AI next"].because.kind == recommend.WATCHED
    assert by_title["AI members"].because.kind == recommend.WATCHED
    assert by_title["Robots"].because.kind == recommend.REGISTERED
    assert by_title["Talk on robots"].candidate.item["id"] == "t2"
    for excluded in (went, going, ai_past, ai_hidden, ai_link, ai_elsewhere, pending):
        assert all(r.candidate.event["_id"] != excluded["_id"] or r.candidate.item for r in found), excluded["title"]

    # Within one space (another space's catalogue), and nothing without any signal.
    found = await recommend.for_person(db, user, space_ids=[other_space["_id"]])
    assert [r.candidate.event["_id"] for r in found] == [ai_elsewhere["_id"]]
    stranger = await factory.user()
    assert await recommend.for_person(db, stranger) == []
    # Once the event is past and was not watched, a registration counts as attended.
    await db.memberships.update_one({"user_id": user["_id"], "scope_id": went["_id"]},
                                    {"$unset": {"watched_at": ""}})
    found = await recommend.for_person(db, user)
    assert {r.because.kind for r in found if r.candidate.event["_id"] == ai_members["_id"]} == {recommend.ATTENDED}
    assert robots["_id"] in {r.candidate.event["_id"] for r in found}
    # A cancelled registration is no interest any more, and the event is still "had".
    await db.memberships.update_one({"user_id": user["_id"], "scope_id": going["_id"]},
                                    {"$set": {"state": reg.CANCELLED}})
    await programme.set_saved(db, user["_id"], going, "t1", False)
    found = await recommend.for_person(db, user)
    assert {(r.candidate.item or r.candidate.event)["title"]["en"] for r in found} == {"AI next", "AI members"}


@pytest.mark.gen_test(timeout=60)
async def test_the_catalogue_shows_recommendations_to_signed_in_people(browser, factory, db, services):
    space = await factory.space("recs")
    went = await make_event(factory, db, space, tags=["ai"], starts_in_days=-20, title={"en": "Went"})
    await make_event(factory, db, space, tags=["ai"], title={"en": "AI next"})
    user = await factory.user(locale="de")
    await register(db, user, went)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.get("/s/recs")
    reason = services.i18n.gettext("de")(recommend.REASONS[recommend.ATTENDED]) % {"title": "Went"}
    assert reason in r.text
    r = await browser().get("/s/recs")
    assert "Went" not in r.text
