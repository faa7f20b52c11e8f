"""Questions to speakers with real WebSocket clients: pre-moderation, votes, answers, hostile frames."""
import asyncio
import datetime
import json

import pytest
from bson import ObjectId

from access import roles as R
from chat import room_names
from questions import store
from tests.test_realtime import live, person, seeded


async def with_schedule(factory, locales=("ru", "en", "de")):
    event = await seeded(factory, locales)
    start = datetime.datetime(2026, 12, 1, 9, tzinfo=datetime.UTC)
    schedule = [{"id": f"s{i}", "day_id": "d1", "starts_at": start + datetime.timedelta(hours=i),
                 "ends_at": start + datetime.timedelta(hours=i, minutes=45),
                 "title": {loc: f"Talk {i} [{loc}]" for loc in locales}, "speaker": f"Speaker {i}"}
                for i in (1, 2)]
    await factory.db.events.update_one({"_id": event["_id"]}, {"$set": {"schedule": schedule}})
    return await factory.db.events.find_one({"_id": event["_id"]})


async def connect(factory, browser, base_url, event, role=R.ATTENDEE, locale="ru", **kw):
    user, b = await person(factory, browser, event, role=role, locale=locale, **kw)
    client, welcome, _ = await live(base_url, b, event)
    return user, b, client


def question_frames(frames):
    return [f for f in frames if f.get("type") in ("question", "question_votes")]


async def snapshot(db):
    return sorted(await db.questions.find({}).to_list(None), key=lambda d: d["_id"])


async def ask(client, text="Why?", item="s1", client_id="q1", ref="a"):
    await client.send({"type": "ask", "item": item, "text": text, "client_id": client_id, "ref": ref})
    return await client.expect("ack", ref=ref)


@pytest.mark.gen_test(timeout=20)
async def test_pending_question_reaches_moderators_and_author_only(factory, browser, base_url, db):
    event = await with_schedule(factory)
    author, _, a = await connect(factory, browser, base_url, event, locale="ru")
    _, _, b = await connect(factory, browser, base_url, event, locale="de")
    _, _, s = await connect(factory, browser, base_url, event, role=R.SPEAKER, locale="en")
    _, _, m = await connect(factory, browser, base_url, event, role=R.MODERATOR, locale="en")

    ack = await ask(a, "<i>Как</i> это работает?")
    q = ack["question"]
    assert ack["duplicate"] is False
    assert q["status"] == "pending" and q["item"] == "s1" and q["text"] == "<i>Как</i> это работает?"
    assert q["author"] == {"id": str(author["_id"]), "name": author["name"]} and q["locale"] == "ru"
    assert q["votes"] == 0 and q["version"] == 1

    seen = await m.expect("question", id=q["id"])
    assert seen["status"] == "pending" and seen["text"] == q["text"]
    for other in (b, s):
        assert not question_frames(await other.quiet())

    # Lists: the moderator sees it, its author sees it, B does not.
    await b.send({"type": "questions", "item": "s1", "ref": "l"})
    assert (await b.expect("questions", ref="l"))["questions"] == []
    await a.send({"type": "questions", "ref": "l"})
    mine = await a.expect("questions", ref="l")
    assert [x["id"] for x in mine["questions"]] == [q["id"]] and mine["item"] is None
    await m.send({"type": "questions", "item": "s1", "ref": "l"})
    listed = await m.expect("questions", ref="l")
    assert listed["questions"][0]["status"] == "pending" and listed["complete"] is True

    # A retried ask is acknowledged with the stored question, not stored twice.
    again = await ask(a, "<i>Как</i> это работает?", ref="a2")
    assert again["duplicate"] is True and again["question"]["id"] == q["id"]
    assert not question_frames(await m.quiet())
    assert await db.questions.count_documents({}) == 1

    # Approval reaches everyone, the moderator once.
    await m.send({"type": "moderate_question", "question": q["id"], "status": "approved", "ref": "mod"})
    done = await m.expect("ack", ref="mod")
    assert done["changed"] is True and done["question"]["status"] == "approved"
    for client in (a, b, s, m):
        got = await client.expect("question", id=q["id"])
        assert got["status"] == "approved" and got["text"] == q["text"] and got["version"] == 2
    assert not question_frames(await m.quiet())
    await b.send({"type": "questions", "item": "s1", "ref": "l2"})
    assert [x["id"] for x in (await b.expect("questions", ref="l2"))["questions"]] == [q["id"]]

    # Approving again changes nothing and publishes nothing.
    await m.send({"type": "moderate_question", "question": q["id"], "status": "approved", "ref": "mod2"})
    assert (await m.expect("ack", ref="mod2"))["changed"] is False
    assert not question_frames(await b.quiet())


@pytest.mark.gen_test(timeout=20)
async def test_votes_count_once_per_user_across_reconnects(factory, browser, base_url, db):
    event = await with_schedule(factory)
    _, _, a = await connect(factory, browser, base_url, event)
    voter, vb, b = await connect(factory, browser, base_url, event, locale="de")
    other, _, c = await connect(factory, browser, base_url, event, locale="en")
    _, _, m = await connect(factory, browser, base_url, event, role=R.MODERATOR)
    q = (await ask(a))["question"]
    await m.send({"type": "moderate_question", "question": q["id"], "status": "approved", "ref": "ok"})
    await m.expect("ack", ref="ok")

    await b.send({"type": "vote", "question": q["id"], "ref": "v1"})
    first = await b.expect("ack", ref="v1")
    assert first == {"type": "ack", "ref": "v1", "question": q["id"], "voted": True, "votes": 1,
                     "changed": True}
    await b.send({"type": "vote", "question": q["id"], "ref": "v2"})
    assert (await b.expect("ack", ref="v2"))["changed"] is False
    # The same account on a new connection still has its one vote.
    b.close()
    b2, _, _ = await live(base_url, vb, event)
    await b2.send({"type": "vote", "question": q["id"], "ref": "v3"})
    third = await b2.expect("ack", ref="v3")
    assert third["changed"] is False and third["votes"] == 1
    await b2.send({"type": "questions", "item": "s1", "ref": "l"})
    listed = (await b2.expect("questions", ref="l"))["questions"]
    assert listed[0]["voted"] is True and listed[0]["votes"] == 1

    # The author does not vote for their own question.
    await a.send({"type": "vote", "question": q["id"], "ref": "own"})
    assert (await a.expect("error", ref="own"))["code"] == "forbidden"

    await c.send({"type": "vote", "question": q["id"], "ref": "c"})
    assert (await c.expect("ack", ref="c"))["votes"] == 2
    # Counts reach every client in batches; the last one says 2.
    for client in (a, m):
        while True:
            batch = await client.expect("question_votes")
            if batch["votes"].get(q["id"]) == 2:
                break
    stored = await db.questions.find_one({"_id": ObjectId(q["id"])})
    assert stored["votes"] == 2 and sorted(stored["voters"]) == sorted([voter["_id"], other["_id"]])

    await c.send({"type": "unvote", "question": q["id"], "ref": "u"})
    undone = await c.expect("ack", ref="u")
    assert undone["voted"] is False and undone["votes"] == 1 and undone["changed"] is True
    await c.send({"type": "unvote", "question": q["id"], "ref": "u2"})
    assert (await c.expect("ack", ref="u2"))["changed"] is False
    assert (await db.questions.find_one({"_id": ObjectId(q["id"])}))["votes"] == 1


@pytest.mark.gen_test(timeout=20)
async def test_answered_rejected_and_kept_after_the_session(factory, browser, base_url, db):
    event = await with_schedule(factory)
    _, _, a = await connect(factory, browser, base_url, event)
    _, _, b = await connect(factory, browser, base_url, event, locale="de")
    _, _, s = await connect(factory, browser, base_url, event, role=R.SPEAKER, locale="en")
    _, _, m = await connect(factory, browser, base_url, event, role=R.EVENT_MANAGER, locale="en")
    q1 = (await ask(a, "first", client_id="1", ref="1"))["question"]
    q2 = (await ask(a, "second", client_id="2", ref="2"))["question"]

    # A speaker may not publish a pending question, nor approve or reject.
    await s.send({"type": "moderate_question", "question": q1["id"], "status": "answered", "ref": "s0"})
    assert (await s.expect("error", ref="s0"))["code"] == "forbidden"
    await s.send({"type": "moderate_question", "question": q1["id"], "status": "approved", "ref": "s1"})
    assert (await s.expect("error", ref="s1"))["code"] == "forbidden"
    assert (await db.questions.find_one({"_id": ObjectId(q1["id"])}))["status"] == "pending"

    await m.send({"type": "moderate_question", "question": q1["id"], "status": "approved", "ref": "m1"})
    await b.expect("question", id=q1["id"], status="approved")
    await s.send({"type": "moderate_question", "question": q1["id"], "status": "answered", "ref": "s2"})
    assert (await s.expect("ack", ref="s2"))["question"]["status"] == "answered"
    for client in (a, b, m):
        got = await client.expect("question", id=q1["id"], status="answered")
        assert got["answered_at"] and got["text"] == "first"

    # Rejecting a pending question: the public learns only which id to drop,
    # which tells the author the outcome.
    await m.send({"type": "moderate_question", "question": q2["id"], "status": "rejected", "ref": "m2"})
    dropped = await a.expect("question", id=q2["id"])
    assert dropped["status"] == "rejected" and "text" not in dropped and "author" not in dropped
    assert (await m.expect("question", id=q2["id"]))["text"] == "second"
    await a.send({"type": "questions", "item": "s1", "ref": "la"})
    assert {x["id"]: x["status"] for x in (await a.expect("questions", ref="la"))["questions"]} == \
        {q1["id"]: "answered", q2["id"]: "rejected"}
    await b.send({"type": "questions", "item": "s1", "ref": "lb"})
    assert [x["id"] for x in (await b.expect("questions", ref="lb"))["questions"]] == [q1["id"]]

    # After the event, with the session gone from the schedule, its questions stay.
    await db.events.update_one({"_id": event["_id"]}, {"$pull": {"schedule": {"id": "s1"}}})
    _, _, late = await connect(factory, browser, base_url, event, locale="en")
    await late.send({"type": "questions", "item": "s1", "ref": "after"})
    kept = (await late.expect("questions", ref="after"))["questions"]
    assert [(x["id"], x["status"], x["item"]) for x in kept] == [(q1["id"], "answered", "s1")]
    assert await db.questions.count_documents({"item_id": "s1"}) == 2


@pytest.mark.gen_test(timeout=20)
async def test_moderator_list_puts_pending_first(factory, browser, base_url):
    event = await with_schedule(factory)
    _, _, a = await connect(factory, browser, base_url, event)
    _, _, m = await connect(factory, browser, base_url, event, role=R.MODERATOR)
    q1 = (await ask(a, "one", client_id="1", ref="1"))["question"]
    q2 = (await ask(a, "two", item="s2", client_id="2", ref="2"))["question"]
    q3 = (await ask(a, "three", client_id="3", ref="3"))["question"]
    await m.send({"type": "moderate_question", "question": q1["id"], "status": "approved", "ref": "x"})
    await m.expect("ack", ref="x")
    await m.send({"type": "questions", "ref": "all"})
    listed = (await m.expect("questions", ref="all"))["questions"]
    assert [(x["id"], x["status"]) for x in listed] == \
        [(q2["id"], "pending"), (q3["id"], "pending"), (q1["id"], "approved")]


@pytest.mark.gen_test(timeout=30)
async def test_hostile_question_frames_get_errors_and_change_nothing(factory, browser, base_url, db):
    event = await with_schedule(factory)
    other_event = await with_schedule(factory)
    _, _, a = await connect(factory, browser, base_url, event)
    _, _, m = await connect(factory, browser, base_url, event, role=R.MODERATOR)
    pending = (await ask(a, "pending one", client_id="p"))["question"]
    rejected = (await ask(a, "rejected one", client_id="r", ref="r"))["question"]
    await m.send({"type": "moderate_question", "question": rejected["id"], "status": "rejected", "ref": "x"})
    await m.expect("ack", ref="x")
    foreign = await db.questions.insert_one({
        "event_id": other_event["_id"], "item_id": "s1", "user_id": ObjectId(), "name": "X",
        "locale": "ru", "text": "elsewhere", "client_id": "f", "status": "approved", "version": 1,
        "voters": [], "votes": 0, "created_at": datetime.datetime.now(datetime.UTC)})
    before = await snapshot(db)
    rooms_before = await db.rooms.count_documents({})

    attendee_cases = [
        ({"type": "ask", "item": "nope", "text": "hi", "client_id": "c1"}, "not_found"),
        ({"type": "ask", "item": "s1", "text": "x" * 501, "client_id": "c2"}, "invalid"),
        ({"type": "ask", "item": "s1", "text": "   ", "client_id": "c3"}, "invalid"),
        ({"type": "ask", "item": "s1", "text": ["hi"], "client_id": "c4"}, "invalid"),
        ({"type": "ask", "item": 1, "text": "hi", "client_id": "c5"}, "invalid"),
        ({"type": "ask", "item": "s1", "text": "hi"}, "invalid"),
        ({"type": "vote", "question": pending["id"]}, "forbidden"),
        ({"type": "vote", "question": rejected["id"]}, "forbidden"),
        ({"type": "vote", "question": "not-an-id"}, "invalid"),
        ({"type": "vote", "question": str(ObjectId())}, "not_found"),
        ({"type": "vote", "question": str(foreign.inserted_id)}, "not_found"),
        ({"type": "moderate_question", "question": pending["id"], "status": "approved"}, "forbidden"),
        ({"type": "moderate_question", "question": pending["id"], "status": "rejected"}, "forbidden"),
        ({"type": "questions", "item": {"$ne": None}}, "invalid"),
        # The questions channels are not chat rooms.
        ({"type": "join", "room": room_names.questions_room(event["_id"])}, "unknown_room"),
        ({"type": "send", "room": room_names.questions_mod_room(event["_id"]), "text": "spam",
          "client_id": "s"}, "unknown_room"),
    ]
    for i, (frame, code) in enumerate(attendee_cases):
        await a.send({**frame, "ref": i})
        err = await a.expect("error", ref=i)
        assert err["code"] == code, (frame, err)
    moderator_cases = [
        ({"type": "moderate_question", "question": pending["id"], "status": "pending"}, "invalid"),
        ({"type": "moderate_question", "question": pending["id"], "status": "deleted"}, "invalid"),
        ({"type": "moderate_question", "question": pending["id"]}, "invalid"),
        ({"type": "moderate_question", "question": {"$gt": ""}, "status": "approved"}, "invalid"),
        ({"type": "moderate_question", "question": str(foreign.inserted_id), "status": "rejected"},
         "not_found"),
    ]
    for i, (frame, code) in enumerate(moderator_cases):
        await m.send({**frame, "ref": i})
        err = await m.expect("error", ref=i)
        assert err["code"] == code, (frame, err)
    assert not question_frames(await a.quiet(0.2))
    assert await snapshot(db) == before
    assert await db.rooms.count_documents({}) == rooms_before
    assert await db.messages.count_documents({}) == 0
    await a.send({"type": "ping", "ref": "alive"})
    await a.expect("pong", ref="alive")


@pytest.mark.gen_test(timeout=30)
async def test_one_user_cannot_bury_the_moderation_queue(factory, browser, base_url, db):
    event = await with_schedule(factory)
    _, _, a = await connect(factory, browser, base_url, event)
    for i in range(store.MAX_PENDING):
        await ask(a, f"q{i}", client_id=f"c{i}", ref=i)
    await a.send({"type": "ask", "item": "s1", "text": "one more", "client_id": "extra", "ref": "x"})
    assert (await a.expect("error", ref="x"))["code"] == "too_many_pending"
    # A retry of a stored question is still answered.
    again = await ask(a, "q0", client_id="c0", ref="retry")
    assert again["duplicate"] is True
    assert await db.questions.count_documents({}) == store.MAX_PENDING


@pytest.mark.gen_test(timeout=20)
async def test_concurrent_votes_of_one_user_count_once(factory, browser, base_url, db):
    event = await with_schedule(factory)
    _, _, a = await connect(factory, browser, base_url, event)
    _, _, m = await connect(factory, browser, base_url, event, role=R.MODERATOR)
    _, vb, _ = await connect(factory, browser, base_url, event, locale="de")
    q = (await ask(a))["question"]
    await m.send({"type": "moderate_question", "question": q["id"], "status": "approved", "ref": "ok"})
    await m.expect("ack", ref="ok")
    tabs = [(await live(base_url, vb, event))[0] for _ in range(3)]
    for tab in tabs:
        await tab.send(json.dumps({"type": "vote", "question": q["id"], "ref": "v"}))
    acks = await asyncio.gather(*(tab.expect("ack", ref="v") for tab in tabs))
    assert sum(1 for x in acks if x["changed"]) == 1
    assert {x["votes"] for x in acks} == {1}
    assert (await db.questions.find_one({"_id": ObjectId(q["id"])}))["votes"] == 1


async def approved(db, event, item, text):
    """A question already approved for `item` (asked by someone else)."""
    doc = {"_id": ObjectId(), "event_id": event["_id"], "item_id": item, "user_id": ObjectId(), "name": "Asker",
           "locale": "ru", "text": text, "client_id": text, "status": "approved", "version": 2, "voters": [],
           "votes": 0, "created_at": datetime.datetime.now(datetime.UTC), "moderated_by": None,
           "moderated_at": None, "answered_at": None}
    await db.questions.insert_one(doc)
    return str(doc["_id"])


async def listed(client, ref, item=None):
    await client.send({"type": "questions", "ref": ref, **({"item": item} if item else {})})
    return sorted(q["text"] for q in (await client.expect("questions", ref=ref))["questions"])


@pytest.mark.gen_test(timeout=30)
async def test_a_session_the_person_may_not_see_takes_no_questions_and_lists_none(factory, browser, base_url, db):
    event = await with_schedule(factory)
    # s2 has a closed list of its own: an attendee of the event is not on it, the listed one is.
    await db.events.update_one({"_id": event["_id"], "schedule.id": "s2"}, {"$set": {
        "schedule.$.privacy": {"level": "list", "emails": ["listed@example.org"]}}})
    event = await db.events.find_one({"_id": event["_id"]})
    await approved(db, event, "s1", "open talk")
    await approved(db, event, "s2", "closed talk")
    _, _, a = await connect(factory, browser, base_url, event)
    listed_user = await factory.member(R.ATTENDEE, event=event, email="listed@example.org")
    lb = browser()
    await lb.sign_in(listed_user["login"], factory.PASSWORD)
    b, _, _ = await live(base_url, lb, event)
    _, _, m = await connect(factory, browser, base_url, event, role=R.MODERATOR)

    before = await snapshot(db)
    await a.send({"type": "ask", "item": "s2", "text": "Let me in?", "client_id": "x", "ref": "closed"})
    assert (await a.expect("error", ref="closed"))["code"] == "not_found"  # as if it did not exist
    assert await snapshot(db) == before
    assert await listed(a, "all") == ["open talk"]
    assert await listed(a, "s2", item="s2") == []
    assert (await ask(a, item="s1"))["question"]["item"] == "s1"

    # The pages' rule: the listed attendee and staff see the closed session and ask there.
    assert await listed(b, "all") == ["closed talk", "open talk"]
    asked = (await ask(b, item="s2", client_id="b1", ref="b"))["question"]
    assert asked["item"] == "s2"
    assert "closed talk" in await listed(m, "all")

    # Live: approved, the closed session's question reaches the listed attendee and the moderator
    # (its room), never the attendee who may not see the session; an open session's reaches all.
    await m.send({"type": "moderate_question", "question": asked["id"], "status": "approved", "ref": "ok"})
    await m.expect("ack", ref="ok")
    assert (await b.expect("question", id=asked["id"]))["text"] == asked["text"]
    assert not [f for f in question_frames(await a.quiet()) if f.get("id") == asked["id"]]
    opened = (await ask(b, item="s1", client_id="b2", ref="b2"))["question"]
    await m.send({"type": "moderate_question", "question": opened["id"], "status": "approved", "ref": "ok2"})
    await m.expect("ack", ref="ok2")
    assert (await a.expect("question", id=opened["id"]))["item"] == "s1"


@pytest.mark.gen_test(timeout=30)
async def test_a_channel_takes_questions_for_the_sessions_that_run_in_it(factory, browser, base_url, db):
    from events import sessions
    event = await with_schedule(factory)
    channel = await sessions.create_channel(db, None, event, slug="side", title={"ru": "Side"})
    await db.events.update_one({"_id": channel["_id"]}, {"$set": {"gate": event["gate"]}})
    start = datetime.datetime(2026, 12, 1, 15, tzinfo=datetime.UTC)
    side = [{"id": f"c{i}", "day_id": "d1", "starts_at": start, "title": {"ru": f"Side {i}"}, "speaker": "",
             "channel_id": str(channel["_id"])} for i in (1, 2)]
    side[1]["privacy"] = {"level": "list", "emails": []}
    await db.events.update_one({"_id": event["_id"]}, {"$push": {"schedule": {"$each": side}}})
    user, b = await person(factory, browser, event)
    client, _, _ = await live(base_url, b, channel)
    ack = await ask(client, "In the side room?", item="c1")
    assert ack["question"]["item"] == "c1" and ack["question"]["event"] == str(channel["_id"])
    # The main room's sessions, a closed one, and the channel's own (empty) schedule take none.
    for i, item in enumerate(("s1", "c2", "nope")):
        await client.send({"type": "ask", "item": item, "text": "?", "client_id": f"n{i}", "ref": f"n{i}"})
        assert (await client.expect("error", ref=f"n{i}"))["code"] == "not_found"
    assert await listed(client, "all") == ["In the side room?"]
    assert await db.questions.count_documents({}) == 1
