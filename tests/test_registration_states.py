"""The registration state machine: every move of the table, legal and illegal, by whom, audited."""
import itertools

import pytest

from access import roles as R
from registration import states
from registration.model import REGISTERED, STATES, UNCONFIRMED
from tests.support import translated


async def registration(db, event, user, state):
    doc = {"user_id": user["_id"], "scope": "event", "scope_id": event["_id"], "role": R.ATTENDEE,
           "locales": ["en"], "email": user["email"], "name": user["name"], "created_at": None,
           "mailed_at": None}
    if state is not None:
        doc["state"] = state
    await db.memberships.insert_one(doc)
    return doc


def test_the_table_only_names_known_states_and_actors():
    for (before, after), actors in states.TRANSITIONS.items():
        assert before in STATES and after in STATES and before != after
        assert actors and actors <= set(states.ACTORS)
    # Only staff undo a rejection (registering the person again), and nobody is confirmed by staff in
    # the person's place.
    assert [(pair, actors) for pair, actors in states.TRANSITIONS.items() if pair[0] == "rejected"] == \
        [(("rejected", REGISTERED), {states.STAFF})]
    assert not states.allowed(UNCONFIRMED, REGISTERED, states.STAFF)


@pytest.mark.gen_test(timeout=60)
async def test_every_pair_of_states_and_every_actor(factory, db):
    event = await factory.event(locales=("en",))
    user = await factory.user()
    legal = illegal = 0
    for before, after, actor_kind in itertools.product(STATES, STATES, states.ACTORS):
        await db.memberships.delete_many({"scope_id": event["_id"]})
        m = await registration(db, event, user, before)
        audit_before = await db.audit.count_documents({})
        if states.allowed(before, after, actor_kind):
            done = await states.transition(db, event, m, after, actor_kind=actor_kind, actor=user)
            assert done["state"] == after and done["state_at"] is not None
            stored = await db.memberships.find_one({"_id": m["_id"]})
            assert stored["state"] == after
            entry = await db.audit.find_one({}, sort=[("_id", -1)])
            assert entry["action"] == f"registration.{after}"
            assert entry["before"] == {"state": before} and entry["after"] == {"state": after}
            assert entry["params"]["by"] == actor_kind and entry["params"]["email"] == user["email"]
            assert entry["event_id"] == event["_id"]
            legal += 1
        else:
            with pytest.raises(states.IllegalTransition):
                await states.transition(db, event, m, after, actor_kind=actor_kind, actor=user)
            assert (await db.memberships.find_one({"_id": m["_id"]}))["state"] == before
            assert await db.audit.count_documents({}) == audit_before
            illegal += 1
    assert legal == sum(len(a) for a in states.TRANSITIONS.values())
    assert illegal > legal


@pytest.mark.gen_test(timeout=30)
async def test_a_registration_stored_before_states_is_registered(factory, db):
    event = await factory.event(locales=("en",))
    user = await factory.user()
    m = await registration(db, event, user, None)
    done = await states.transition(db, event, m, "cancelled", actor_kind=states.ATTENDEE, actor=user)
    assert done["state"] == "cancelled"


@pytest.mark.gen_test(timeout=30)
async def test_two_moves_from_the_same_state_only_one_wins(factory, db):
    """Staff and the attendee at once: both read 'registered'; the second write finds it changed."""
    event = await factory.event(locales=("en",))
    user = await factory.user()
    m = await registration(db, event, user, REGISTERED)
    await states.transition(db, event, m, "cancelled", actor_kind=states.ATTENDEE, actor=user)
    with pytest.raises(states.Conflict):
        await states.transition(db, event, m, "rejected", actor_kind=states.STAFF, actor=user)
    assert (await db.memberships.find_one({"_id": m["_id"]}))["state"] == "cancelled"
    assert await db.audit.count_documents({"action": "registration.rejected"}) == 0


@pytest.mark.gen_test(timeout=30)
async def test_an_illegal_move_has_a_translated_message(services, factory, db):
    event = await factory.event(locales=("en",))
    user = await factory.user()
    m = await registration(db, event, user, "rejected")
    with pytest.raises(states.IllegalTransition) as caught:
        await states.transition(db, event, m, REGISTERED, actor_kind=states.ATTENDEE, actor=user)
    exc = caught.value
    for locale in ("ru", "he", "kk"):
        gettext = services.i18n.gettext(locale)
        text = gettext(exc.message) % {"current": gettext(exc.params["current"]),
                                       "wanted": gettext(exc.params["wanted"])}
        assert text != exc.message % exc.params, locale
    assert translated(services, "en", exc.message, **exc.params).startswith("A registration")
