"""Registrations by people not signed in: anyone may type any address, so a submission changes
nothing stored for it; its answers, name and language travel with its own confirmation link,
and the link the address's owner clicks decides which submission counts."""
import asyncio

import pytest

from accounts import users
from realtime import timers
from registration import actions
from registration.model import CANCELLED, REGISTERED, UNCONFIRMED


async def drain(services):
    while jobs := [t for t in services.background if not timers.is_timer(t)]:
        await asyncio.gather(*jobs)


async def open_event(db, factory, capacity=None):
    event = await factory.event(locales=("en", "ru"))
    settings = {"open": True, "capacity": capacity, "approval": False, "offer_hours": 24}
    await db.events.update_one({"_id": event["_id"]},
                               {"$set": {"registration": settings, "privacy": {"level": "public", "emails": []}}})
    return await db.events.find_one({"_id": event["_id"]})


@pytest.fixture
def links(monkeypatch):
    """The confirmation links mailed, in order: (address, name, raw token)."""
    sent = []

    async def send_confirmation(services, event, *, email, name, locale, raw_token, hours):
        sent.append((email, name, raw_token))

    monkeypatch.setattr(actions.mails, "send_confirmation", send_confirmation)
    return sent


def answer(text):
    return {"f1": {"v": 1, "value": text}}


async def stored(db, event, email):
    return await db.memberships.find_one({"scope_id": event["_id"], "email": email})


@pytest.mark.gen_test(timeout=60)
async def test_a_second_submission_changes_nothing_and_the_clicked_link_decides(services, factory, db, links):
    event = await open_event(db, factory)
    await actions.submit_unconfirmed(services, event, email="owner@example.org", name="Olga Owner", locale="ru",
                                     answers=answer("mine"), form_version=1)
    first = await stored(db, event, "owner@example.org")
    assert first["state"] == UNCONFIRMED and "answers" not in first
    # Someone else types the same address with their own answers and name: nothing stored changes.
    await actions.submit_unconfirmed(services, event, email="owner@example.org", name="Mallory", locale="en",
                                     answers=answer("theirs"), form_version=1)
    assert await stored(db, event, "owner@example.org") == first
    await drain(services)
    (_, _, mine), (_, _, theirs) = links
    # The owner clicks the link of their own submission: its answers, name and language count.
    user, _, registration = await actions.confirm(services, mine)
    assert registration["state"] == REGISTERED
    assert (registration["answers"], registration["name"], registration["locales"]) == \
        (answer("mine"), "Olga Owner", ["ru"])
    # The other link, clicked later, changes nothing any more.
    _, _, again = await actions.confirm(services, theirs)
    assert again == registration == await stored(db, event, "owner@example.org")


@pytest.mark.gen_test(timeout=60)
async def test_the_owner_may_confirm_the_later_submission_instead(services, factory, db, links):
    event = await open_event(db, factory)
    for name, text in (("First Try", "old"), ("Second Try", "new")):
        await actions.submit_unconfirmed(services, event, email="twice@example.org", name=name, locale="en",
                                         answers=answer(text), form_version=2)
    await drain(services)
    _, _, registration = await actions.confirm(services, links[1][2])
    assert (registration["answers"], registration["name"], registration["form_version"]) == \
        (answer("new"), "Second Try", 2)


@pytest.mark.gen_test(timeout=60)
async def test_a_cancelled_registration_registered_again_by_a_visitor_gets_the_new_answers(
        services, factory, db, links):
    event = await open_event(db, factory)
    person = await users.create(db, email="back@example.org", name="Back Again")
    before = await actions.register_signed_in(services, event, person, source="form", answers=answer("old"),
                                              form_version=1)
    cancelled = await actions.cancel(services, event, before, actor_kind="attendee", actor=person)
    assert cancelled["state"] == CANCELLED
    # A visitor (not signed in) submits the address again: the cancelled registration stays as it is ...
    await actions.submit_unconfirmed(services, event, email="back@example.org", name="Back Again", locale="en",
                                     answers=answer("new"), form_version=3)
    assert await stored(db, event, "back@example.org") == cancelled
    await drain(services)
    # ... until the owner confirms: then it counts again, with the answers of that submission.
    _, _, registration = await actions.confirm(services, links[0][2])
    assert registration["state"] == REGISTERED
    assert (registration["answers"], registration["form_version"]) == (answer("new"), 3)


@pytest.mark.gen_test(timeout=60)
async def test_registering_again_without_answers_drops_the_old_ones(services, factory, db):
    event = await open_event(db, factory)
    person = await users.create(db, email="plain@example.org", name="Plain")
    first = await actions.register_signed_in(services, event, person, source="form", answers=answer("old"),
                                             form_version=1)
    await actions.cancel(services, event, first, actor_kind="attendee", actor=person)
    again = await actions.register_signed_in(services, event, person, source="one_click")
    assert again["state"] == REGISTERED
    assert "answers" not in again and "form_version" not in again
