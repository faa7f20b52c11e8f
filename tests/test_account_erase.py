"""Deleting one's account: every collection is scanned afterwards for anything that names the person.

The person is given data through the real actions (registration by staff,
sign-in, chat and a support message over the socket, a question and a
vote, a quiz, a programme item, a password-reset mail, a sign-in mailing,
a mute and a moderator's read of their support room), deletes their
account through the page, and then no document of any collection holds
their email, names, login or id.  Chat history shows a deleted user.  A
deletion that stops midway completes when run again.
"""
import asyncio
import datetime

import pytest
from bson import ObjectId

from access import roles as R
from accounts import erase
from accounts.my_data import SECTIONS
from attendees import registry
from chat import moderation, room_names
from core.clock import utcnow
from events import view
from mailings import signin_mailing
from mongo_indexes import INDEXES
from orders import applications, checkout
from questions import store as questions
from registration import actions, form_edit, forms, invitations, requests
from tests import orders_support
from tests.support import error_text, translated
from tests.test_questions import ask, with_schedule
from tests.test_quizzes import answers, make_quiz
from tests.test_realtime import live

EMAIL = "zofia.quenby@example.org"
NAME = "Zofia Quenby-Marsh"
TYPED_NAME = "Zofia Q. Marsh"   # as staff typed it when registering her


def mentions(value, needles: list[str], oid: ObjectId, path: str = "") -> list[str]:
    """Paths in a stored document where the person appears."""
    if isinstance(value, ObjectId):
        return [path] if value == oid else []
    if isinstance(value, str):
        folded = value.casefold()
        return [f"{path}={value[:80]!r}"] if any(n in folded for n in needles) else []
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in mentions(k, needles, oid, f"{path}.{k}[key]")
                + mentions(v, needles, oid, f"{path}.{k}")]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in mentions(v, needles, oid, f"{path}[{i}]")]
    return []


async def scan(db, person: dict) -> list[str]:
    needles = [v.casefold() for v in (person["email"], person["login"], NAME, TYPED_NAME, str(person["_id"]))]
    hits = []
    for collection in await db.list_collection_names():
        async for doc in db[collection].find({}):
            hits += [f"{collection}{hit}" for hit in mentions(doc, needles, person["_id"])]
    return hits


async def populate(factory, browser, base_url, db, services):
    """An event where the person has done everything there is to do; returns what the test needs."""
    event = await with_schedule(factory, locales=("ru", "en"))
    space = await db.spaces.find_one({"_id": event["space_id"]})
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"days.1.enabled": True}})
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="en")
    moderator = await factory.member(R.MODERATOR, event=event, locale="en")
    person = await factory.user(email=EMAIL, name=NAME, locale="ru")
    await registry.register(db, event, email=EMAIL, name=TYPED_NAME, locale="ru", actor=admin)
    # Reusable profile values, as a registration form stores them.
    await db.users.update_one({"_id": person["_id"]},
                              {"$set": {"profile": {"company": "Quenby Works", "phone": "+371 2000 0000"}}})
    person = await db.users.find_one({"_id": person["_id"]})

    # A wrong password first (a throttle entry), then signed in.
    b = browser()
    r = await b.post("/signin", {"identifier": person["login"], "password": "not it"})
    assert r.status_code in (400, 401)
    await b.sign_in(person["login"], factory.PASSWORD)
    other = browser()
    await other.sign_in(person["email"], factory.PASSWORD)   # a second device

    # A password-reset mail and its link.
    assert (await browser().post("/password/forgot", {"email": EMAIL})).status_code in (200, 302)
    # A sign-in mailing to the event's attendees.
    mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=admin)
    await signin_mailing.run(services, mailing["_id"])

    # Chat: the public room and the private support room, over the socket; and the broadcast watched.
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"broadcast.on": True}})
    client, welcome, _ = await live(base_url, b, event)
    await asyncio.sleep(1.1)
    await client.send({"type": "watching", "seconds": 1, "ref": "w"})
    assert (await client.expect("watched", ref="w"))["credited"] > 0
    await services.live.watching.flush()
    public = room_names.public_room(event["_id"], "ru")
    support = room_names.support_room(event["_id"], "ru", person["_id"])
    for room, text in ((public, f"Привет, я {NAME}"), (support, "Нужна помощь")):
        await client.send({"type": "join", "room": room})
        await client.expect("joined", room=room)
        await client.send({"type": "send", "room": room, "text": text, "client_id": f"c-{room[-3:]}", "ref": room})
        await client.expect("ack", ref=room)

    # A question of hers, and her vote on someone else's approved one.
    mine = (await ask(client, "Кто такой " + NAME + "?"))["question"]
    co = await factory.member(R.ATTENDEE, event=event, locale="ru")
    theirs, _ = await questions.ask(db, event_id=event["_id"], item="s1", user=co, locale="ru",
                                    text="Will there be slides?", client="co-1")
    await questions.moderate(db, event_id=event["_id"], question=str(theirs["_id"]), status="approved",
                             actor=moderator, moderator=True, speaker=False)
    await client.send({"type": "vote", "question": str(theirs["_id"]), "ref": "v"})
    await client.expect("ack", ref="v")
    client.close()

    # Moderation around her: a mute, and a moderator's read of her support room.
    await moderation.sanction(db, event=event, user_id=person["_id"], kind="mute", minutes=5, actor=moderator)
    await moderation.mark_read(db, moderator["_id"], support, 1)

    # A quiz taken, a programme item saved.
    quiz = await make_quiz(db, admin, event)
    path = view.path(space, event)
    assert (await b.post(f"{path}/quizzes/{quiz['_id']}/start")).status_code == 302
    assert (await b.post(f"{path}/quizzes/{quiz['_id']}/submit", answers(quiz, [0], [0]))).status_code == 302
    assert (await b.post(path + "/programme", {"item": "s1", "saved": "1"})).status_code in (200, 302)

    # A second event by invitation: she registers through its form with a file, by her invitation.
    second = await factory.event(locales=("ru", "en"))
    await db.events.update_one({"_id": second["_id"]}, {"$set": {
        "privacy": {"level": "invitation", "emails": []},
        "registration": {"open": True, "capacity": None, "approval": False, "offer_hours": 48}}})
    second = await db.events.find_one({"_id": second["_id"]})
    made, _ = await invitations.invite(db, admin, second, [EMAIL])
    form = await form_edit.save(db, admin, second, [
        {"id": "f_cv", "type": "file", "label": {"ru": "Резюме", "en": "CV"}, "required": True,
         "extensions": ["pdf"], "max_bytes": 100_000}], expected_version=0)
    pdf = {"filename": f"{NAME}.pdf", "body": b"%PDF-1.4\n" + NAME.encode() + b"\n%%EOF\n",
           "content_type": "application/pdf"}
    given = await forms.accept(db, services, form, {}, {"f_cv": [pdf]}, submitted_version=form["version"],
                                 owner_id=person["_id"])
    await actions.register_signed_in(services, second, person, source="invitation", answers=given,
                                     form_version=form["version"], invite=made[0][1])

    # A data request on the first event, mailed to her, answered with a file named after her.
    request = await requests.create(db, admin, event, requests.clean(event, {
        "title": {"ru": "Запрос", "en": "Request"}, "subject": {"ru": "Тема", "en": "Subject"},
        "text": {"ru": "Текст", "en": "Text"}, "starts": "2026-01-01T10:00", "ends": "2099-01-01T10:00",
        "states": ["registered"], "auto": False}))
    request_form = await form_edit.save(db, admin, event, [
        {"id": "f_doc", "type": "file", "label": {"ru": "Документ", "en": "Document"}, "extensions": ["pdf"],
         "max_bytes": 100_000}], expected_version=0, kind=requests.form_kind(request))
    mine_reg = await db.memberships.find_one({"user_id": person["_id"], "scope_id": event["_id"]})
    await requests.mail_one(services, event, request, mine_reg["_id"], send="auto")
    await requests.answer(services, event, request, person, {}, {"f_doc": [{**pdf, "filename": f"{NAME} 2.pdf"}]},
                          submitted_version=request_form["version"])

    # Tickets: she buys one for a friend, and holds one a colleague bought for her (`orders`).
    shop = await factory.event(locales=("ru", "en"))
    await db.events.update_one({"_id": shop["_id"]}, {"$set": {"privacy": {"level": "public", "emails": []}}})
    ticket = await orders_support.ticket_type(services, shop, admin, name="Pass", prices="EUR 0")
    shop = await db.events.find_one({"_id": shop["_id"]})
    reservation = await checkout.reserve(services, shop, person, {str(ticket["_id"]): "1"}, currency="EUR")
    await checkout.place(services, shop, person, reservation["_id"], buyer_name=NAME, method="", locale="ru",
                         idempotency_key="mine", holders=[{"email": "friend@example.org", "name": "Friend",
                                                           "locale": "ru"}])
    reservation = await checkout.reserve(services, shop, moderator, {str(ticket["_id"]): "1"}, currency="EUR")
    await checkout.place(services, shop, moderator, reservation["_id"], buyer_name="Mod", method="", locale="en",
                         idempotency_key="theirs", holders=[{"email": EMAIL, "name": TYPED_NAME, "locale": "ru"}])
    await checkout.reserve(services, shop, person, {str(ticket["_id"]): "1"}, currency="EUR")
    # She applied for a free ticket before signing in, with a file, and was turned down by name.
    free = await factory.event(locales=("ru", "en"))
    teacher = await orders_support.ticket_type(services, free, admin, name="Teacher", by_application=True)
    applied_form = await form_edit.save(db, admin, free, [
        {"id": "f_proof", "type": "file", "label": {"ru": "Справка", "en": "Proof"}, "extensions": ["pdf"],
         "max_bytes": 100_000}], expected_version=0, kind=applications.form_kind(teacher["_id"]))
    applied = await applications.apply(services, free, teacher, email=EMAIL, name=NAME, locale="ru", raw={},
                                       files={"f_proof": [{**pdf, "filename": f"{NAME} 3.pdf"}]},
                                       submitted_version=applied_form["version"], user=None, key="mine")
    await applications.reject(services, free, applied, actor=admin, reason=f"Sorry, {NAME}: not a teacher.")
    await orders_support.drain(services)

    # Gifts to a campaign: from the wallet as the account, and as a guest by the same address.
    from donations import giving
    from tests.donations_support import campaign as donation_campaign
    cause = await donation_campaign(services, factory, space=space)
    await giving.on_topup_paid(services, str(person["_id"]), {"_id": ObjectId(), "amount": 1000, "currency": "EUR"})
    await giving.give(services, cause, amount="4", currency="EUR", key="erase-wallet-gift", method="wallet",
                      user=person, locale="ru", message=f"From {NAME}")
    await giving.give(services, cause, amount="6", currency="EUR", key="erase-guest-gift", method="wallet",
                      user=person, name=TYPED_NAME, locale="ru")
    await orders_support.drain(services)
    # A browser subscribed to the space's appeals while signed in, and an appeal mailed to the donors.
    from donations import appeals, push, segments
    await push.subscribe(db, space["_id"], {"endpoint": "https://fcm.googleapis.com/fcm/send/erase-me",
                                            "p256dh": "x", "auth": "y"}, locale="ru", user=person)
    donors = await segments.create(db, admin, space, segments.clean({**segments.blank_form(), "name": "All"}))
    space_admin = await factory.member(R.SPACE_ADMIN, space=space, locale="en")
    await appeals.create(services, space_admin, space, segment_id=str(donors["_id"]), campaign_id=str(cause["_id"]),
                         channel="mail", message="Please give again", key="erase-appeal")

    # Every kind of record exists before the deletion (so the scan proves something).
    for collection, query in (
            ("users", {"_id": person["_id"]}), ("sessions", {"user_id": person["_id"]}),
            ("tokens", {"user_id": person["_id"]}), ("memberships", {"user_id": person["_id"]}),
            ("messages", {"user_id": person["_id"]}), ("messages", {"room": support}),
            ("rooms", {"_id": support}), ("reads", {"room": support}),
            ("questions", {"user_id": person["_id"]}), ("questions", {"voters": person["_id"]}),
            ("quiz_attempts", {"user_id": person["_id"]}), ("programmes", {"user_id": person["_id"]}),
            ("sanctions", {"user_id": person["_id"]}), ("outbox", {"to": EMAIL}),
            ("mailing_items", {"user_id": person["_id"]}), ("audit", {"params.email": EMAIL}),
            ("audit", {"params.user_id": str(person["_id"])}),
            ("throttle", {"_id": {"$regex": EMAIL.replace(".", r"\.") + "$"}}),
            ("invitations", {"used_by": person["_id"]}), ("registration_files", {"owner_id": person["_id"]}),
            ("registration_file_chunks", {}), ("memberships", {"request_answers": {"$exists": True}}),
            ("registration_files", {"form_kind": requests.form_kind(request)}),
            ("outbox", {"to": EMAIL, "kind": "data_request"}), ("orders", {"buyer_id": person["_id"]}),
            ("orders", {"tickets.holder_id": person["_id"]}), ("reservations", {"buyer_id": person["_id"]}),
            ("outbox", {"to": EMAIL, "kind": "order_ticket"}), ("watch_time", {"user_id": person["_id"]}),
            ("applications", {"email": EMAIL}),
            ("donations", {"donor.user_id": person["_id"]}), ("wallet_entries", {"user_id": person["_id"]}),
            ("wallet_balances", {"user_id": person["_id"]}), ("outbox", {"to": EMAIL, "kind": "donation_receipt"}),
            ("push_subscriptions", {"user_id": person["_id"]}), ("donation_appeal_items", {"email": EMAIL}),
            ("registration_files", {"owner_id": None}), ("outbox", {"to": EMAIL, "kind": "application_rejected"})):
        assert await db[collection].count_documents(query), (collection, query)
    assert await scan(db, person)
    return event, space, person, b, other, public, mine


def test_every_collection_is_erased_or_named_as_holding_nothing_personal():
    # A new collection fails here until accounts.erase says what happens to it.
    known = set(erase.STEPS) | set(erase.UNTOUCHED)
    assert set(INDEXES) <= known, sorted(set(INDEXES) - known)
    assert set(SECTIONS) <= known and not set(erase.STEPS) & set(erase.UNTOUCHED)


@pytest.mark.gen_test(timeout=90)
async def test_deletion_leaves_no_personal_data_in_any_collection(factory, browser, base_url, db, services):
    event, space, person, b, other, public, mine = await populate(factory, browser, base_url, db, services)
    registrations = await db.memberships.count_documents({"scope_id": event["_id"], "role": R.ATTENDEE})

    page = await b.get("/profile/delete")
    assert page.status_code == 200 and 'name="confirm"' in page.text and "_xsrf" in page.text
    # No confirmation, a wrong one, or no XSRF token: refused, nothing changed.
    for data in ({}, {"confirm": "someone@example.org"}, {"confirm": "wrong password"}):
        r = await b.post("/profile/delete", data)
        assert r.status_code == 400 and error_text(r.text) == translated(services, "ru", erase.NOT_CONFIRMED)
    assert (await b.post("/profile/delete", {"confirm": EMAIL}, xsrf=False)).status_code == 403
    assert await db.users.find_one({"_id": person["_id"], "erasing_at": {"$exists": False}})

    r = await b.post("/profile/delete", {"confirm": EMAIL.upper()})
    assert r.status_code == 302 and r.headers["location"] == "/"
    hits = await scan(db, person)
    assert not hits, "\n".join(hits)

    # Signed out everywhere; the card is gone; the registration still counts.
    for device in (b, other):
        assert (await device.get("/profile")).status_code == 302
    assert (await browser().get(f"/people/{person['_id']}")).status_code == 404
    assert await db.memberships.count_documents({"scope_id": event["_id"], "role": R.ATTENDEE}) == registrations
    kept = await db.memberships.find_one({"scope_id": event["_id"], "erased": True})
    assert kept["role"] == R.ATTENDEE and kept.get("state", "registered") == "registered"   # the state stays
    assert kept["email"] == "" and kept["name"] == "" and "answers" not in kept
    assert "request_answers" not in kept and "request_mails" not in kept and "request_answered_at" not in kept
    assert await db.audit.count_documents({"action": "account.erase"}) == 1

    # The chat keeps her message, by a deleted user, and the page has the words for it.
    viewer = await factory.member(R.ATTENDEE, event=event, locale="ru")
    vb = browser()
    await vb.sign_in(viewer["login"], factory.PASSWORD)
    client, _, _ = await live(base_url, vb, event)
    await client.send({"type": "join", "room": public})
    await client.expect("joined", room=public)
    await client.send({"type": "history", "room": public, "ref": "h"})
    history = (await client.expect("history", ref="h"))["messages"]
    assert [m["user"] for m in history] == [{"id": "", "name": "", "role": "attendee", "erased": True}]
    assert history[0]["text"].startswith("Привет")
    await client.send({"type": "questions", "ref": "q"})
    listed = (await client.expect("questions", ref="q"))["questions"]
    assert all(q["author"] != {"id": str(person["_id"]), "name": NAME} for q in listed)
    client.close()
    page = await vb.get(view.path(space, event))
    assert f'data-erased-user="{translated(services, "ru", "Deleted user")}"' in page.text


@pytest.mark.gen_test(timeout=90)
async def test_a_deletion_stopped_midway_completes_when_run_again(factory, browser, base_url, db, services,
                                                                  monkeypatch):
    event, space, person, b, other, public, mine = await populate(factory, browser, base_url, db, services)

    async def crash(db, who):
        raise RuntimeError("the process died here")

    monkeypatch.setitem(erase.STEPS, "questions", crash)
    with pytest.raises(RuntimeError):
        await erase.erase(db, services.hasher, services.account_throttle(), person, EMAIL)
    # Stopped after its start: signed out, no password, the messages done, the rest not yet.
    marked = await db.users.find_one({"_id": person["_id"]})
    assert marked["erasing_at"] and marked["password_hash"] is None
    assert not await db.sessions.count_documents({"user_id": person["_id"]})
    assert (await b.get("/profile")).status_code == 302
    assert not await db.messages.count_documents({"user_id": person["_id"]})
    assert await db.questions.count_documents({"user_id": person["_id"]})
    r = await browser().post("/signin", {"identifier": EMAIL, "password": factory.PASSWORD})
    assert r.status_code != 302

    monkeypatch.undo()
    assert await erase.resume_pending(db) == 1
    hits = await scan(db, person)
    assert not hits, "\n".join(hits)
    assert await erase.resume_pending(db) == 0
    assert await db.audit.count_documents({"action": "account.erase"}) == 1


@pytest.mark.gen_test(timeout=30)
async def test_only_ones_own_account_and_never_the_last_platform_admin(factory, browser, db, services):
    event = await factory.event()
    staff = await factory.member(R.EVENT_ADMIN, event=event)
    attendee = await factory.member(R.ATTENDEE, event=event)
    b = browser()
    await b.sign_in(staff["login"], factory.PASSWORD)
    # Staff typing someone else's address deletes nobody: the page acts on the signed-in account only.
    r = await b.post("/profile/delete", {"confirm": attendee["email"], "user_id": str(attendee["_id"])})
    assert r.status_code == 400
    assert await db.users.count_documents({"_id": {"$in": [staff["_id"], attendee["_id"]]},
                                           "erasing_at": {"$exists": False}}) == 2

    admin = await factory.user(platform_admin=True)
    a = browser()
    await a.sign_in(admin["login"], factory.PASSWORD)
    r = await a.post("/profile/delete", {"confirm": factory.PASSWORD})
    assert r.status_code == 400 and error_text(r.text) == translated(services, "en", erase.LAST_ADMIN)
    assert await db.users.find_one({"_id": admin["_id"], "erasing_at": {"$exists": False}})
    await factory.user(platform_admin=True)
    r = await a.post("/profile/delete", {"confirm": factory.PASSWORD})
    assert r.status_code == 302 and not await db.users.find_one({"_id": admin["_id"]})


@pytest.mark.gen_test(timeout=30)
async def test_wrong_passwords_are_throttled_like_sign_in(factory, browser, db, services):
    user = await factory.user()
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    for _ in range(5):
        assert (await b.post("/profile/delete", {"confirm": "guess"})).status_code == 400
    r = await b.post("/profile/delete", {"confirm": factory.PASSWORD})
    assert r.status_code == 400 and error_text(r.text) == translated(services, "en", erase.THROTTLED)
    assert await db.users.find_one({"_id": user["_id"]})
    # The email address still confirms.
    assert (await b.post("/profile/delete", {"confirm": user["email"]})).status_code == 302


@pytest.mark.gen_test(timeout=60)
async def test_a_resume_after_a_deletion_hands_out_no_name_from_the_processs_room_cache(
        factory, browser, base_url, db, services):
    event = await with_schedule(factory, locales=("ru",))
    person = await factory.member(R.ATTENDEE, event=event, email="gone@example.org", name="Ilze Gone", locale="ru")
    viewer = await factory.member(R.ATTENDEE, event=event, locale="ru")
    pb, vb = browser(), browser()
    await pb.sign_in(person["login"], factory.PASSWORD)
    await vb.sign_in(viewer["login"], factory.PASSWORD)
    room = room_names.public_room(event["_id"], "ru")
    author, _, _ = await live(base_url, pb, event)
    watcher, _, _ = await live(base_url, vb, event)
    for client in (author, watcher):
        await client.send({"type": "join", "room": room})
    joined = await watcher.expect("joined", room=room)
    await author.expect("joined", room=room)
    await author.send({"type": "send", "room": room, "text": "I am Ilze Gone", "client_id": "m1"})
    seen = await watcher.expect("message", room=room)
    assert seen["user"]["name"] == "Ilze Gone"
    watcher.close()

    r = await pb.post("/profile/delete", {"confirm": "gone@example.org"})
    assert r.status_code == 302
    # The watcher comes back and asks for what it missed since before the message.
    again, _, _ = await live(base_url, vb, event)
    await again.send({"type": "join", "room": room, "epoch": joined["epoch"], "offset": seen["offset"] - 1})
    assert (await again.expect("joined", room=room))["recovered"] is True
    replayed = await again.expect("message", room=room)
    assert replayed["user"] == {"id": "", "name": "", "role": "attendee", "erased": True}
    assert "Ilze Gone" not in replayed["text"]


@pytest.mark.gen_test(timeout=30)
async def test_two_last_admins_deleting_themselves_at_once_leave_one(factory, db, services):
    """Each checks before either is marked: the second to check sees the first one's intent."""
    first = await factory.user(platform_admin=True)
    second = await factory.user(platform_admin=True)
    throttle = services.account_throttle()
    await erase.check(db, services.hasher, throttle, first, first["email"])
    with pytest.raises(erase.EraseError) as refused:
        await erase.check(db, services.hasher, throttle, second, second["email"])
    assert refused.value.message == erase.LAST_ADMIN
    assert (await db.users.find_one({"_id": second["_id"]})).get("leaving_at") is None
    await erase.finish(db, await erase.start(db, first))
    assert await db.users.count_documents({"platform_admin": True, "erasing_at": None}) == 1
    # The one left stays the last: refused again, and nothing of theirs changed.
    with pytest.raises(erase.EraseError):
        await erase.check(db, services.hasher, throttle, second, second["email"])
    assert (await db.users.find_one({"_id": second["_id"]}))["password_hash"]


@pytest.mark.gen_test(timeout=30)
async def test_an_intent_left_by_a_stopped_process_holds_back_for_a_minute_only(factory, db, services):
    stuck = await factory.user(platform_admin=True)
    other = await factory.user(platform_admin=True)
    await db.users.update_one({"_id": stuck["_id"]}, {"$set": {"leaving_at": utcnow()}})
    throttle = services.account_throttle()
    with pytest.raises(erase.EraseError):
        await erase.check(db, services.hasher, throttle, other, other["email"])
    await db.users.update_one({"_id": stuck["_id"]},
                              {"$set": {"leaving_at": utcnow() - erase.LEAVING_HOLDS - datetime.timedelta(seconds=1)}})
    await erase.check(db, services.hasher, throttle, other, other["email"])
