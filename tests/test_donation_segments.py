"""Donor segments: each criterion counted on a known set of donors, the staff page's live preview, bad input.

The donors are written as confirmed donations in the shape `donations.giving`
stores (the giving path itself is tested in test_donations.py); pending
gifts, refunded ones and another space's never count.
"""
from __future__ import annotations

import datetime

import pytest
from bson import ObjectId

from access import roles as R
from core.clock import utcnow
from donations import segments
from tests.donations_support import campaign
from tests.support import error_text, translated


async def gift(db, found: dict, *, donor: str, amount: int, days_ago: float, locale: str = "en",
               user_id=None, refunded: int = 0, state: str = "confirmed") -> None:
    when = utcnow() - datetime.timedelta(days=days_ago)
    email = f"{donor}@example.org"
    await db.donations.insert_one({
        "_id": ObjectId(), "space_id": found["space_id"], "campaign_id": found["_id"], "key": ObjectId().binary.hex(),
        "amount": amount, "currency": found["currency"], "method": "card", "state": state, "refunded": refunded,
        "donor": {"user_id": user_id, "email": email, "name": donor, "locale": locale},
        "donor_key": f"u:{user_id}" if user_id else f"e:{email}", "anonymous": False, "message": "",
        "source": None, "attempt_id": None, "created_at": when,
        "confirmed_at": when if state != "pending" else None, "receipt": None})


async def donors(services, factory) -> dict:
    """Space S with four counted donors (A, B, C, D) and three that never count."""
    db = services.db
    space = await factory.space()
    water = await campaign(services, factory, space=space, category="water")
    school = await campaign(services, factory, space=space, category="education")
    clinic = await campaign(services, factory, space=space, category="health", currency="USD")
    a, d = ObjectId(), ObjectId()
    # A: registered, returning; latest gift in English two days ago; 80 EUR in all.
    await gift(db, school, donor="a", amount=3000, days_ago=100, locale="ru", user_id=a)
    await gift(db, water, donor="a", amount=5000, days_ago=2, locale="en", user_id=a)
    # B: a guest's one gift, in Russian, 40 days ago.
    await gift(db, school, donor="b", amount=1000, days_ago=40, locale="ru")
    # C: a guest, returning, German: 200 EUR with 50 refunded, then 100 USD yesterday.
    await gift(db, water, donor="c", amount=20000, refunded=5000, days_ago=10, locale="de")
    await gift(db, clinic, donor="c", amount=10000, days_ago=1, locale="de")
    # D: registered, one small gift long ago.
    await gift(db, water, donor="d", amount=500, days_ago=400, locale="ru", user_id=d)
    # Never counted: a pending gift, a refunded one, another space's donor.
    await gift(db, water, donor="e", amount=900, days_ago=1, state="pending")
    await gift(db, water, donor="g", amount=900, days_ago=1, refunded=900, state="refunded")
    elsewhere = await campaign(services, factory, category="water")
    await gift(db, elsewhere, donor="f", amount=900, days_ago=1)
    return {"space": space, "a": a, "d": d}


def criteria(**fields) -> dict:
    return segments.clean({**segments.blank_form(), "name": "x", **fields})["criteria"]


CASES = [
    ({}, {"u:a", "e:b@example.org", "e:c@example.org", "u:d"}),
    ({"category": "water"}, {"u:a", "e:c@example.org", "u:d"}),
    ({"category": "education"}, {"u:a", "e:b@example.org"}),
    ({"category": "health"}, {"e:c@example.org"}),
    ({"min_amount": "80"}, {"u:a", "e:c@example.org"}),
    ({"max_amount": "50"}, {"e:b@example.org", "u:d"}),
    ({"min_amount": "20", "max_amount": "100"}, {"u:a"}),
    ({"currency": "USD", "min_amount": "1"}, {"e:c@example.org"}),
    ({"within_days": "30"}, {"u:a", "e:c@example.org"}),
    ({"within_days": "45"}, {"u:a", "e:b@example.org", "e:c@example.org"}),
    ({"locale": "ru"}, {"e:b@example.org", "u:d"}),
    ({"locale": "en"}, {"u:a"}),
    ({"kind": "registered"}, {"u:a", "u:d"}),
    ({"kind": "guest"}, {"e:b@example.org", "e:c@example.org"}),
    ({"history": "first"}, {"e:b@example.org", "u:d"}),
    ({"history": "returning"}, {"u:a", "e:c@example.org"}),
    ({"category": "water", "history": "returning", "within_days": "30"}, {"u:a", "e:c@example.org"}),
    ({"category": "water", "history": "returning", "within_days": "30", "kind": "registered"}, {"u:a"}),
]


@pytest.mark.gen_test(timeout=60)
async def test_each_criterion_counts_the_donors_it_names(services, factory, db):
    made = await donors(services, factory)
    names = {f"u:{made['a']}": "u:a", f"u:{made['d']}": "u:d"}
    for fields, expected in CASES:
        wanted = criteria(**fields)
        found = {names.get(m["_id"], m["_id"]) for m in await segments.members(db, made["space"]["_id"], wanted)}
        assert found == expected, fields
        assert await segments.count(db, made["space"]["_id"], wanted) == len(expected), fields


@pytest.mark.gen_test(timeout=60)
async def test_bad_criteria_are_refused_with_the_reason(services):
    for fields, message in [
        ({"name": ""}, "Give the segment a name."),
        ({"min_amount": "-5"}, None),
        ({"min_amount": "50", "max_amount": "10"}, "The smallest total is more than the largest."),
        ({"within_days": "0"}, "The number of days is a whole number from 1 to %(max)s."),
        ({"within_days": "ten"}, "The number of days is a whole number from 1 to %(max)s."),
        ({"locale": "xx"}, "Choose a language."),
        ({"kind": "vip"}, "Choose registered donors or guests."),
        ({"history": "often"}, "Choose first-time or returning donors."),
        ({"category": "space"}, "Choose a category."),
        ({"currency": "XXX"}, "Unknown currency “%(currency)s”."),
    ]:
        with pytest.raises(segments.SegmentError) as caught:
            segments.clean({**segments.blank_form(), "name": "x", **fields})
        if message:
            assert caught.value.message == message, fields


@pytest.mark.gen_test(timeout=60)
async def test_the_staff_page_previews_a_segments_size_and_saves_it(services, factory, db, browser):
    made = await donors(services, factory)
    space = made["space"]
    admin = await factory.member(R.SPACE_ADMIN, space=space, locale="de")
    b = browser(locale="de")
    await b.sign_in(admin["email"], factory.PASSWORD)
    base = f"/admin/spaces/{space['_id']}/segments"
    page = await b.get(base)
    assert page.status_code == 200 and 'data-segment-preview' in page.text
    r = await b.get(f"{base}/preview", params={**segments.blank_form(), "kind": "guest"},
                    headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json()["count"] == 2
    r = await b.get(f"{base}/preview", params={**segments.blank_form(), "within_days": "-3"})
    assert r.status_code == 400 and r.json()["message"] == \
        translated(services, "de", "The number of days is a whole number from 1 to %(max)s.", max=3650)
    before = await db.donor_segments.count_documents({})
    r = await b.post(base, {**segments.blank_form(), "name": "", "kind": "guest"})
    assert r.status_code == 400 and error_text(r.text) == translated(services, "de", "Give the segment a name.")
    assert await db.donor_segments.count_documents({}) == before
    r = await b.post(base, {**segments.blank_form(), "name": "Guests <b>", "kind": "guest"})
    assert r.status_code == 302
    page = await b.get(r.headers["location"])
    assert page.status_code == 200 and "Guests &lt;b&gt;" in page.text
    assert 'class="segment-size" aria-live="polite">2 Spendende' in page.text
