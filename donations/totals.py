"""What a campaign has raised, from how many donors and in how many gifts: one counter per campaign.

The counting rule, the same on every page and in every live frame: a
donation counts once its payment is confirmed (by the provider's signed
notification, or from the donor's wallet); a pledge or a payment still
pending does not; what is counted is the amount the donor gave, before the
payment provider's fees; a refund takes its amount off again, and a gift
refunded whole no longer counts as a gift.  Donors are distinct people (an
account, or a guest's e-mail address) with at least one gift that counts.

Reading the totals is one document per campaign (`donation_totals`), so a
page or a live frame costs the same with ten donations or a million.  The
counter moves by *facts*, each applied exactly once, with no transaction:

- a fact is what one change of one donation does to its campaign: its
  confirmation (`c:<donation>`: + amount, + one gift, + one donor if it is
  the donor's first gift that counts), a refund (`r:<donation>:<refund>`:
  - the refunded amount) and a whole refund (`o:<donation>`: - one gift,
  - one donor if it was the donor's last gift that counts);
- the donation's own guarded move (pending -> confirmed, a refund once by
  its key, confirmed -> refunded) also lists the fact in the donation's
  `uncounted`, in the same single-document update: a fact the donation
  holds is owed to the counter;
- `count` then claims the fact (a document in `donation_counts`, unique by
  the fact's key, holding a claim token), settles the donor (`donation_donors`,
  one document per campaign and donor, holding the gifts of theirs that
  count: the first one in adds a donor, the last one out takes one off,
  and which gift did is written there, so the answer is the same when asked
  again), moves the counter with one `$inc` guarded by the fact's key not
  being in the counter's `inflight` and pushing it there, marks the fact
  counted (guarded by its token) and takes it off the donation; last, the
  key leaves `inflight`;
- a process that stops part way leaves the fact claimed (or not claimed
  yet) and still listed on the donation: `sweep` finds it after `STALE`
  seconds and does the rest.  A sweep that takes a claim over gives the
  fact a new token and leaves its key in `inflight` for good, so the
  stopped process, should it wake, finds its `$inc` already applied, and
  its mark refused.  A key leaves `inflight` only after the mark of a claim
  nobody took over: then nobody else can be about to apply it.

So the counter equals the facts counted, each once (`audit` compares it
with the donations), and `inflight` holds only the facts being applied and
those left by a stopped process.  docs/storage.md has the table row.
"""
from __future__ import annotations

import datetime
import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.errors import DuplicateKeyError

from core.clock import utcnow

log = logging.getLogger(__name__)

DONATIONS = "donations"
COUNTERS = "donation_totals"
FACTS = "donation_counts"
DONORS = "donation_donors"
CONFIRMED, REFUNDED = "confirmed", "refunded"
CHANGE = "donations"   # the change bus's kind: a campaign's totals may have changed (id: the campaign's)
CLAIMED, COUNTED = "claimed", "counted"
STALE = 120   # seconds: a fact claimed (or owed) this long was left by a stopped process
IN, OUT = "in", "out"


# --- the facts a donation owes its campaign -------------------------------------------------------

def confirmed_fact(donation_id: Any, at: datetime.datetime) -> dict[str, Any]:
    """The fact of a confirmation, as the donation's guarded move lists it in `uncounted`."""
    return {"key": f"c:{donation_id}", "kind": "c", "at": at}


def refund_fact(donation_id: Any, refund_key: str, amount: int, at: datetime.datetime) -> dict[str, Any]:
    return {"key": f"r:{donation_id}:{refund_key}", "kind": "r", "amount": int(amount), "at": at}


def whole_refund_fact(donation_id: Any, at: datetime.datetime) -> dict[str, Any]:
    return {"key": f"o:{donation_id}", "kind": "o", "at": at}


def _effect(donation: Mapping[str, Any], fact: Mapping[str, Any]) -> tuple[int, int, str | None]:
    """(raised, gifts, donor move) of one fact."""
    if fact["kind"] == "c":
        return int(donation["amount"]), 1, IN
    if fact["kind"] == "r":
        return -int(fact["amount"]), 0, None
    return 0, -1, OUT


def donor_of(campaign_id: Any, donor_key: str) -> str:
    """A donor's document in a campaign: a one-way hash of the campaign and the donor's key (an account's
    id or a guest's address), so the counting collections name nobody."""
    return hashlib.sha256(f"{campaign_id}\n{donor_key}".encode()).hexdigest()[:40]


# --- applying a fact once -------------------------------------------------------------------------

async def count_owed(db, donation: Mapping[str, Any]) -> int:
    """Apply every fact `donation` still owes its campaign, each once; how many this call applied."""
    done = 0
    for fact in list(donation.get("uncounted") or []):
        if await count(db, donation, fact):
            done += 1
    return done


async def count(db, donation: Mapping[str, Any], fact: Mapping[str, Any], *, stale: float = STALE) -> bool:
    """Apply one fact of `donation` to its campaign's counter, once however often and wherever it is called.

    True when this call applied it; False when it was already counted, or
    is being counted by another call claimed less than `stale` seconds ago
    (that one finishes it, or the sweep does).
    """
    key = fact["key"]
    now = utcnow()
    raised, gifts, donor = _effect(donation, fact)
    donor_id = donor_of(donation["campaign_id"], donation["donor_key"])
    if donor == OUT:
        # The gift's confirmation is counted first (it may be under way: the sweep comes back), and the
        # gift leaves the donor it joined then (its donor key may have been erased since).
        confirmed = await db[FACTS].find_one({"_id": f"c:{donation['_id']}"}) or {}
        if confirmed.get("state") != COUNTED:
            return False
        donor_id = confirmed["donor_id"]
    claim = {"_id": key, "campaign_id": donation["campaign_id"], "donation_id": donation["_id"],
             "currency": donation["currency"], "raised": raised, "gifts": gifts, "donor": donor,
             "donor_id": donor_id, "state": CLAIMED, "token": secrets.token_hex(8), "claimed_at": now,
             "taken_over": False}
    try:
        await db[FACTS].insert_one(claim)
    except DuplicateKeyError:
        found = await db[FACTS].find_one({"_id": key})
        if found is None:
            return False
        if found["state"] == COUNTED:
            await _settled(db, donation["_id"], key)
            return False
        if found["claimed_at"] > now - datetime.timedelta(seconds=stale):
            return False
        # Its claimant stopped (or stalls): take the claim over with a token of our own.
        taken = await db[FACTS].find_one_and_update(
            {"_id": key, "state": CLAIMED, "token": found["token"]},
            {"$set": {"token": claim["token"], "claimed_at": now, "taken_over": True}}, return_document=True)
        if taken is None:
            return False
        claim = taken
    donors = await _donor(db, claim)
    await _move_counter(db, claim, donors, _latest_of(donation) if fact["kind"] == "c" else None)
    if fact["kind"] == "o":
        # A gift refunded whole is no longer the latest one a page shows.
        await db[COUNTERS].update_one({"_id": claim["campaign_id"], "latest.donation_id": donation["_id"]},
                                      {"$set": {"latest": None}})
    marked = await db[FACTS].update_one({"_id": key, "token": claim["token"], "state": CLAIMED},
                                        {"$set": {"state": COUNTED, "donors": donors, "counted_at": utcnow()}})
    await _settled(db, donation["_id"], key)
    if marked.modified_count and not claim["taken_over"]:
        # Nobody took this claim over, and it is now marked counted: no one else can be about to apply it.
        await db[COUNTERS].update_one({"_id": claim["campaign_id"]}, {"$pull": {"inflight": key}})
    return bool(marked.modified_count)


async def _settled(db, donation_id, key: str) -> None:
    await db[DONATIONS].update_one({"_id": donation_id}, {"$pull": {"uncounted": {"key": key}}})


def _latest_of(donation: Mapping[str, Any]) -> dict[str, Any]:
    """A confirmed gift as live pages show it: its amount and the donor's name (empty when anonymous)."""
    name = "" if donation.get("anonymous") else str((donation.get("donor") or {}).get("name") or "")
    return {"donation_id": donation["_id"], "amount": int(donation["amount"]), "name": name}


async def _move_counter(db, claim: Mapping[str, Any], donors: int, latest: Mapping[str, Any] | None) -> None:
    """The counter's one guarded `$inc`: a second try with the same key finds it in `inflight`.

    A confirmation also leaves its gift as the counter's `latest`, so that a
    live frame reads the counter alone, not the campaign's donations sorted
    (the last one counted, which is the last confirmed but for gifts
    confirmed within the same moment)."""
    cid, key = claim["campaign_id"], claim["_id"]
    inc = {f"raised.{claim['currency']}": claim["raised"], "gifts": claim["gifts"], "donors": donors}
    guard = {"_id": cid, "inflight": {"$ne": key}}
    now = utcnow()
    update = {"$inc": inc, "$push": {"inflight": key},
              "$set": {"updated_at": now, **({"latest": dict(latest)} if latest is not None else {})}}
    moved = await db[COUNTERS].update_one(guard, update)
    if moved.matched_count:
        return
    try:
        await db[COUNTERS].insert_one({"_id": cid, "currency": claim["currency"],
                                       "raised": {claim["currency"]: claim["raised"]}, "gifts": claim["gifts"],
                                       "donors": donors, "inflight": [key], "updated_at": now,
                                       "latest": dict(latest) if latest is not None else None})
    except DuplicateKeyError:
        # The counter exists (made meanwhile, or holding the key already): the guarded update decides.
        await db[COUNTERS].update_one(guard, update)


async def _donor(db, claim: Mapping[str, Any]) -> int:
    """How this fact moves the campaign's donors: +1, -1 or 0, the same answer every time it is asked."""
    gift = claim["donation_id"]
    did = claim["donor_id"]
    if claim.get("donor") == IN:
        while True:
            # A donor already counted: the gift joins their others.
            joined = await db[DONORS].update_one({"_id": did, "gifts.0": {"$exists": True}, "gifts": {"$ne": gift}},
                                                 {"$push": {"gifts": gift}})
            if joined.modified_count:
                return 0   # it joined gifts counted already (so it is not in `opened_by`): no new donor
            try:
                # Their first gift that counts (the document made on their very first).
                await db[DONORS].update_one(
                    {"_id": did, "gifts": {"$size": 0}},
                    {"$push": {"gifts": gift, "opened_by": gift},
                     "$setOnInsert": {"campaign_id": claim["campaign_id"], "closed_by": []}}, upsert=True)
            except DuplicateKeyError:
                pass   # the document holds gifts: this one (asked again), or one added meanwhile
            found = await db[DONORS].find_one({"_id": did}) or {}
            if gift in found.get("gifts", []) or gift in found.get("closed_by", []):
                return 1 if gift in found.get("opened_by", []) else 0
    if claim.get("donor") == OUT:
        emptied = await db[DONORS].update_one({"_id": did, "gifts": [gift]},
                                              {"$set": {"gifts": []}, "$push": {"closed_by": gift}})
        if not emptied.modified_count:
            await db[DONORS].update_one({"_id": did, "gifts": gift}, {"$pull": {"gifts": gift}})
        found = await db[DONORS].find_one({"_id": did}) or {}
        return -1 if gift in found.get("closed_by", []) else 0
    return 0


# --- reading --------------------------------------------------------------------------------------

async def of(db, campaign_ids: Iterable[Any]) -> dict[Any, dict[str, int]]:
    """Campaign id -> {"raised": minor units of its currency, "donors": people}; zero without donations."""
    ids = list(campaign_ids)
    out: dict[Any, dict[str, int]] = {cid: {"raised": 0, "donors": 0} for cid in ids}
    async for doc in db[COUNTERS].find({"_id": {"$in": ids}}, {"inflight": 0}):
        out[doc["_id"]] = {"raised": int((doc.get("raised") or {}).get(doc.get("currency"), 0)),
                           "donors": int(doc.get("donors") or 0)}
    return out


async def one(db, campaign_id: Any) -> dict[str, int]:
    return (await of(db, [campaign_id]))[campaign_id]


async def claim_push(db, campaign_id: Any, window: float) -> dict[str, Any] | None:
    """The totals to push now, or None when a process pushed this campaign's less than `window` seconds ago.

    Every server process hears only of its own gifts and coalesces them; the
    claim keeps the pushes of all of them together to one a window, so a
    page gets a few frames a second however many processes take gifts.  A
    process refused pushes again at the end of the window (its gift may
    have been counted after the other's read).
    """
    now = utcnow()
    doc = await db[COUNTERS].find_one_and_update(
        # A little less than the window: the processes' clocks and the stored milliseconds may differ a little.
        {"_id": campaign_id, "$or": [{"pushed_at": {"$lt": now - datetime.timedelta(seconds=window * 0.9)}},
                                     {"pushed_at": None}]},
        {"$set": {"pushed_at": now}}, projection={"inflight": 0}, return_document=True)
    if doc is None:
        if await db[COUNTERS].find_one({"_id": campaign_id}, {"_id": 1}) is None:
            return {"raised": 0, "donors": 0, "latest": None}
        return None
    return _shown(doc)


async def shown(db, campaign_id: Any) -> dict[str, Any]:
    """What a live page shows, in one read: {"raised", "donors", "latest"}; `latest` is the last gift
    counted as {"amount", "name"} ("" for an anonymous donor), or None."""
    doc = await db[COUNTERS].find_one({"_id": campaign_id}, {"inflight": 0}) or {}
    if doc.get("gifts") and "latest" not in doc:
        # A counter from before it kept its latest gift: found once among the donations, and kept.
        last = await db[DONATIONS].find({"campaign_id": campaign_id, "state": CONFIRMED}) \
            .sort([("confirmed_at", -1)]).to_list(1)
        latest = _latest_of(last[0]) if last else None
        await db[COUNTERS].update_one({"_id": campaign_id, "latest": {"$exists": False}},
                                      {"$set": {"latest": latest}})
        doc = {**doc, "latest": latest}
    return _shown(doc)


def _shown(doc: Mapping[str, Any]) -> dict[str, Any]:
    latest = doc.get("latest")
    return {"raised": int((doc.get("raised") or {}).get(doc.get("currency"), 0)),
            "donors": int(doc.get("donors") or 0),
            "latest": {"amount": int(latest["amount"]), "name": str(latest.get("name") or "")} if latest else None}


async def counter(db, campaign_id: Any) -> dict[str, Any]:
    """The whole counter: {"raised": {currency: minor units}, "gifts": n, "donors": n}."""
    doc = await db[COUNTERS].find_one({"_id": campaign_id}) or {}
    return {"raised": {c: int(v) for c, v in (doc.get("raised") or {}).items() if v},
            "gifts": int(doc.get("gifts") or 0), "donors": int(doc.get("donors") or 0)}


async def from_donations(db, campaign_id: Any) -> dict[str, Any]:
    """The same figures summed from the donations themselves (for `audit`; reads every gift)."""
    raised: dict[str, int] = {}
    donors: set[str] = set()
    gifts = 0
    async for row in db[DONATIONS].find({"campaign_id": campaign_id, "state": {"$in": [CONFIRMED, REFUNDED]}},
                                        {"_id": 0, "donor_key": 1, "amount": 1, "refunded": 1, "currency": 1,
                                         "state": 1}):
        given = int(row["amount"]) - int(row.get("refunded") or 0)
        raised[row["currency"]] = raised.get(row["currency"], 0) + given
        if row["state"] == CONFIRMED:   # a gift refunded whole is `refunded`
            gifts += 1
            donors.add(row["donor_key"])
    return {"raised": {c: v for c, v in raised.items() if v}, "gifts": gifts, "donors": len(donors)}


async def audit(db, campaign_id: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the counter, the sum of the donations): equal once no fact is being applied."""
    return await counter(db, campaign_id), await from_donations(db, campaign_id)


# --- repair ---------------------------------------------------------------------------------------

async def sweep(db, *, stale: float = STALE, limit: int = 1000) -> tuple[int, set]:
    """Apply the facts a stopped process left owed for `stale` seconds; (how many, their campaigns)."""
    since = utcnow() - datetime.timedelta(seconds=stale)
    done, campaigns = 0, set()
    async for donation in db[DONATIONS].find({"uncounted.at": {"$lt": since}}).limit(limit):
        for fact in list(donation.get("uncounted") or []):
            if fact["at"] < since and await count(db, donation, fact, stale=stale):
                done += 1
                campaigns.add(donation["campaign_id"])
    return done, campaigns


async def adopt(db) -> int:
    """Count the gifts confirmed before campaigns had counters (`python server.py count-donations`, once after
    upgrading); how many.  A gift confirmed since lists its facts (`uncounted`, empty once counted), so only
    those older ones lack the field; each is given its facts by a guarded update and counted as any other."""
    done = 0
    async for old in db[DONATIONS].find({"state": {"$in": [CONFIRMED, REFUNDED]}, "uncounted": {"$exists": False}},
                                        {"_id": 1}):
        found = await db[DONATIONS].find_one({"_id": old["_id"]})
        if found is None:
            continue
        at = found.get("confirmed_at") or utcnow()
        facts = [confirmed_fact(found["_id"], at)]
        if int(found.get("refunded") or 0):
            facts.append(refund_fact(found["_id"], "before-counters", int(found["refunded"]), at))
        if found["state"] == REFUNDED:
            facts.append(whole_refund_fact(found["_id"], at))
        moved = await db[DONATIONS].find_one_and_update(
            {"_id": found["_id"], "state": found["state"], "refunded": found.get("refunded"),
             "uncounted": {"$exists": False}},
            {"$set": {"uncounted": facts}}, return_document=True)
        if moved is not None:
            await count_owed(db, moved)
            done += 1
    return done


# --- what pages show ------------------------------------------------------------------------------

def percent(raised: int, goal: int) -> int:
    """How much of the goal is reached, 0..100 (the bar stops full when a campaign raises more)."""
    return max(0, min(100, (raised * 100) // goal)) if goal > 0 else 0


def frame(campaign: Mapping[str, Any], found: Mapping[str, int]) -> dict[str, Any]:
    """The `donations` message open campaign pages receive (docs/protocol.md)."""
    return {"type": "donations", "campaign": str(campaign["_id"]), "raised": int(found["raised"]),
            "donors": int(found["donors"]), "goal": int(campaign["goal"]), "currency": campaign["currency"]}
