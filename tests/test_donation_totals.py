"""A campaign's counter: exactly the sum of its confirmed gifts, under many concurrent gifts and after a stop.

Ten thousand wallet gifts made at once through the domain action: the sum
of the confirmed donations, the campaign's counter, the total in the last
live frame an open page received and the wallets' ledger are one number,
the donors are the distinct donors, and the page got a few frames a second,
not one per gift.  A process stopped between a gift's confirmation and its
counting, or between the counter's move and the fact's mark, is repaired by
the sweep, once; the stopped process waking later changes nothing.
"""
from __future__ import annotations

import asyncio
import datetime
import os
import time

import pytest
from bson import ObjectId

from core.clock import utcnow
from donations import giving, totals, wallet
from tests.donations_support import Totals, campaign
from tests.orders_support import drain

GIFTS = int(os.environ.get("LIVEHALL_TOTALS_GIFTS", "10000"))
DONORS = 400


async def _age(db) -> None:
    """Make every owed fact and every claim look left by a stopped process."""
    old = utcnow() - datetime.timedelta(minutes=10)
    async for d in db.donations.find({"uncounted.at": {"$exists": True}}):
        await db.donations.update_one({"_id": d["_id"]},
                                      {"$set": {"uncounted": [{**f, "at": old} for f in d["uncounted"]]}})
    await db.donation_counts.update_many({"state": totals.CLAIMED}, {"$set": {"claimed_at": old}})


@pytest.mark.gen_test(timeout=600)
async def test_ten_thousand_concurrent_gifts_sum_to_the_counter_the_last_frame_and_the_ledger(
        services, factory, db, base_url, http_server):
    found = await campaign(services, factory, goal="100000")
    live = await Totals.follow(base_url, found["_id"])
    await live.next()
    donors = [await factory.user() for _ in range(DONORS)]
    for d in donors:
        await giving.on_topup_paid(services, str(d["_id"]), {"_id": ObjectId(), "amount": 10 ** 7, "currency": "EUR"})

    async def gift(i: int) -> None:
        await giving.give(services, found, amount=str(1 + i % 9), currency="EUR", key=f"ten-thousand-{i:05d}",
                          method=giving.WALLET, user=donors[(i * 7) % DONORS], locale="en")
    started = time.monotonic()
    await asyncio.gather(*(gift(i) for i in range(GIFTS)))
    given = time.monotonic() - started
    expected = sum(100 * (1 + i % 9) for i in range(GIFTS))
    frame = await live.until(lambda f: f["raised"] == expected, timeout=20)
    await drain(services)

    confirmed = await db.donations.find({"campaign_id": found["_id"], "state": giving.CONFIRMED},
                                        {"amount": 1, "uncounted": 1}).to_list(None)
    ledger = sum(-e["amount"] for e in await db.wallet_entries.find({"kind": wallet.GIFT,
                                                                      "state": wallet.APPLIED}).to_list(None))
    counter = await totals.counter(db, found["_id"])
    assert len(confirmed) == GIFTS and not any(d.get("uncounted") for d in confirmed)
    assert sum(d["amount"] for d in confirmed) == expected == counter["raised"]["EUR"] == frame["raised"] == ledger
    assert counter == {"raised": {"EUR": expected}, "gifts": GIFTS, "donors": DONORS} \
        == await totals.from_donations(db, found["_id"])
    assert frame["donors"] == DONORS and await totals.one(db, found["_id"]) == {"raised": expected, "donors": DONORS}
    # Every fact counted once, none left being applied.
    assert await db.donation_counts.count_documents({"state": totals.COUNTED}) == GIFTS
    assert (await db.donation_totals.find_one({"_id": found["_id"]}))["inflight"] == []
    # Coalesced: a few frames a second, not one per gift; nothing arrives after the last.
    assert len(live.frames) <= 4 * (given + 2) + 2, (len(live.frames), given)
    with pytest.raises(asyncio.TimeoutError):
        await live.next(timeout=1.0)
    print(f"{GIFTS} wallet gifts in {given:.1f} s; {len(live.frames)} frames")
    live.close()


@pytest.mark.gen_test(timeout=120)
async def test_a_stop_between_confirmation_and_counting_is_repaired_by_the_sweep_once(services, factory, db,
                                                                                      monkeypatch):
    found = await campaign(services, factory)
    anna, boris = await factory.user(), await factory.user()
    for d in (anna, boris):
        await giving.on_topup_paid(services, str(d["_id"]), {"_id": ObjectId(), "amount": 10000, "currency": "EUR"})
    counted_before = await giving.give(services, found, amount="5", currency="EUR", key="counted-first",
                                       method="wallet", user=anna, locale="en")
    assert await totals.one(db, found["_id"]) == {"raised": 500, "donors": 1}

    # 1. The process stops right after the gift's confirmation (the first half): the donation owes its fact.
    async def stopped(*args, **kwargs):
        return 0
    monkeypatch.setattr(totals, "count_owed", stopped)
    first = await giving.give(services, found, amount="7", currency="EUR", key="stopped-after-mark",
                              method="wallet", user=boris, locale="en")
    monkeypatch.undo()
    assert first["state"] == giving.CONFIRMED and [f["key"] for f in first["uncounted"]] == [f"c:{first['_id']}"]
    assert await totals.one(db, found["_id"]) == {"raised": 500, "donors": 1}

    # 2. Another stops after moving the counter, before marking its fact counted.
    original = totals._move_counter
    left: dict = {}

    async def move_then_stop(db_, claim, donors, latest):
        await original(db_, claim, donors, latest)
        left.update(claim=claim, donors=donors, latest=latest)
        raise RuntimeError("the process stops here")
    monkeypatch.setattr(totals, "_move_counter", move_then_stop)
    with pytest.raises(RuntimeError):
        await giving.give(services, found, amount="11", currency="EUR", key="stopped-after-inc",
                          method="wallet", user=anna, locale="en")
    monkeypatch.undo()
    second = await db.donations.find_one({"key": "stopped-after-inc"})
    assert second["state"] == giving.CONFIRMED and second["uncounted"]
    assert await totals.one(db, found["_id"]) == {"raised": 1600, "donors": 1}

    # Too fresh for the sweep: a live process may be on it.
    assert await totals.sweep(db) == (0, set())
    await _age(db)
    assert await totals.sweep(db) == (2, {found["_id"]})
    assert await totals.sweep(db) == (0, set())
    counter, summed = await totals.audit(db, found["_id"])
    assert counter == summed == {"raised": {"EUR": 2300}, "gifts": 3, "donors": 2}

    # The stopped process wakes and goes on where it stopped: its move and its mark change nothing.
    await original(db, left["claim"], left["donors"], left["latest"])
    marked = await db.donation_counts.update_one({"_id": left["claim"]["_id"], "token": left["claim"]["token"],
                                                  "state": totals.CLAIMED}, {"$set": {"state": totals.COUNTED}})
    assert marked.modified_count == 0
    # Asked again by anyone, each fact is counted already.
    for d in (counted_before, first, second):
        for kind in ("c",):
            assert not await totals.count(db, await db.donations.find_one({"_id": d["_id"]}),
                                          {"key": f"{kind}:{d['_id']}", "kind": kind, "at": utcnow()}, stale=0)
    assert await totals.audit(db, found["_id"]) == (counter, counter)

    # 3. A refund, whole, whose counting stops before it starts: the sweep takes it off, and boris, whose
    # only gift it was, no longer counts as a donor.
    monkeypatch.setattr(totals, "count_owed", stopped)
    await giving.on_refunded(services, str(first["_id"]), {"refund": {"key": "re_1"}}, 700)
    monkeypatch.undo()
    assert await totals.one(db, found["_id"]) == {"raised": 2300, "donors": 2}
    await _age(db)
    assert (await totals.sweep(db))[0] == 2   # the refund's amount, then the gift leaving its donor
    counter, summed = await totals.audit(db, found["_id"])
    assert counter == summed == {"raised": {"EUR": 1600}, "gifts": 2, "donors": 1}
    # The same refund told again: nothing more.
    await giving.on_refunded(services, str(first["_id"]), {"refund": {"key": "re_1"}}, 700)
    assert await totals.audit(db, found["_id"]) == (counter, counter)
    # Boris gives again: a donor again.
    await giving.give(services, found, amount="2", currency="EUR", key="boris-again", method="wallet", user=boris,
                      locale="en")
    assert await totals.one(db, found["_id"]) == {"raised": 1800, "donors": 2}
    counter, summed = await totals.audit(db, found["_id"])
    assert counter == summed
    # Only the fact taken over stays in the counter's `inflight` (so its stopped process can never count it).
    assert (await db.donation_totals.find_one({"_id": found["_id"]}))["inflight"] == [f"c:{second['_id']}"]
    await drain(services)


@pytest.mark.gen_test(timeout=60)
async def test_the_processes_together_push_a_campaign_at_most_once_a_window(services, factory, db):
    found = await campaign(services, factory)
    donor = await factory.user()
    # No gift yet: nothing to claim, zeros to show.
    assert await totals.claim_push(db, found["_id"], 0.25) == {"raised": 0, "donors": 0, "latest": None}
    await giving.on_topup_paid(services, str(donor["_id"]), {"_id": ObjectId(), "amount": 1000, "currency": "EUR"})
    await giving.give(services, found, amount="3", currency="EUR", key="claim-window", method="wallet", user=donor,
                      locale="en")
    await drain(services)   # this process's own push of the gift
    await asyncio.sleep(0.3)
    # Two processes pushing within one window: the first pushes, the second is told to wait for the window's end.
    assert await totals.claim_push(db, found["_id"], 0.25) == {"raised": 300, "donors": 1, "latest": {
        "amount": 300, "name": donor["name"]}}
    assert await totals.claim_push(db, found["_id"], 0.25) is None
    await asyncio.sleep(0.3)
    assert await totals.claim_push(db, found["_id"], 0.25) == {"raised": 300, "donors": 1, "latest": {
        "amount": 300, "name": donor["name"]}}


@pytest.mark.gen_test(timeout=60)
async def test_gifts_confirmed_before_counters_existed_are_counted_once(services, factory, db):
    found = await campaign(services, factory)
    anna, boris = await factory.user(), await factory.user()
    await giving.on_topup_paid(services, str(anna["_id"]), {"_id": ObjectId(), "amount": 1000, "currency": "EUR"})
    given = await giving.give(services, found, amount="5", currency="EUR", key="counted-already", method="wallet",
                              user=anna, locale="en")
    # Three gifts as the earlier version stored them: confirmed (one refunded in part, one whole), no facts.
    base = {k: v for k, v in given.items() if k not in ("_id", "uncounted", "key")}
    older = [{**base, "_id": ObjectId(), "key": "older-1", "amount": 700, "donor_key": f"u:{boris['_id']}"},
             {**base, "_id": ObjectId(), "key": "older-2", "amount": 900, "refunded": 400, "refund_keys": ["x"]},
             {**base, "_id": ObjectId(), "key": "older-3", "amount": 300, "refunded": 300, "state": giving.REFUNDED,
              "donor_key": "e:carla@example.org"}]
    for d in older:
        await db.donations.insert_one(d)
    assert await totals.one(db, found["_id"]) == {"raised": 500, "donors": 1}
    assert await totals.adopt(db) == 3
    assert await totals.adopt(db) == 0
    counter, summed = await totals.audit(db, found["_id"])
    assert counter == summed == {"raised": {"EUR": 500 + 700 + 500}, "gifts": 3, "donors": 2}


@pytest.mark.gen_test(timeout=60)
async def test_the_counter_keeps_the_latest_gift_for_live_pages(services, factory, db):
    found = await campaign(services, factory)
    anna = await factory.user(name="Anna")
    await giving.on_topup_paid(services, str(anna["_id"]), {"_id": ObjectId(), "amount": 5000, "currency": "EUR"})
    assert await totals.shown(db, found["_id"]) == {"raised": 0, "donors": 0, "latest": None}
    first = await giving.give(services, found, amount="5", currency="EUR", key="latest-1", method="wallet",
                              user=anna, locale="en")
    assert (await totals.shown(db, found["_id"]))["latest"] == {"amount": 500, "name": "Anna"}
    second = await giving.give(services, found, amount="7", currency="EUR", key="latest-2", method="wallet",
                               user=anna, locale="en", anonymous=True)
    assert await totals.shown(db, found["_id"]) == {"raised": 1200, "donors": 1,
                                                    "latest": {"amount": 700, "name": ""}}
    # Refunded whole, the latest gift is no longer shown; a refund of another gift changes nothing there.
    await giving.on_refunded(services, str(second["_id"]), {"refund": {"key": "re_latest"}}, 700)
    assert await totals.shown(db, found["_id"]) == {"raised": 500, "donors": 1, "latest": None}
    await giving.give(services, found, amount="3", currency="EUR", key="latest-3", method="wallet",
                      user=anna, locale="en")
    await giving.on_refunded(services, str(first["_id"]), {"refund": {"key": "re_first"}}, 500)
    assert (await totals.shown(db, found["_id"]))["latest"] == {"amount": 300, "name": "Anna"}
    # A counter kept before it held the latest gift finds it once among the donations, and keeps it.
    await db.donation_totals.update_one({"_id": found["_id"]}, {"$unset": {"latest": ""}})
    assert (await totals.shown(db, found["_id"]))["latest"] == {"amount": 300, "name": "Anna"}
    assert (await db.donation_totals.find_one({"_id": found["_id"]}))["latest"]["amount"] == 300
