"""Donation analytics and the ledger export: exact numbers on a known set of gifts, per hour, day, campaign,
category, source, recurring, registered and new or returning donor; the CSV holds the same numbers; the ledger
export's rows add up to the campaigns' totals and the wallets' entries.
"""
from __future__ import annotations

import csv
import datetime
import io

import pytest
from bson import ObjectId

from access import roles as R
from donations import analytics, giving, ledger_export, totals, wallet
from tests.donations_support import campaign
from tests.support import error_text

UTC = datetime.UTC
DAY1 = datetime.date(2026, 11, 2)


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, hour, minute, tzinfo=UTC)


async def gift(db, camp: dict, when: datetime.datetime, amount: int, *, donor: str, user_id=None, source=None,
               recurring=None, state="confirmed", refunded=0) -> dict:
    """A donation as `donations.giving` stores it, confirmed at `when` (by card, its payment in the ledger)."""
    doc = {"_id": ObjectId(), "space_id": camp["space_id"], "campaign_id": camp["_id"], "key": str(ObjectId()),
           "amount": amount, "currency": camp["currency"], "method": "card", "state": state, "refunded": refunded,
           "donor": {"user_id": user_id, "email": f"{donor}@example.org", "name": donor, "locale": "en"},
           "donor_key": f"u:{user_id}" if user_id else f"e:{donor}@example.org", "anonymous": False, "message": "",
           "attempt_id": ObjectId(), "created_at": when, "confirmed_at": when, "receipt": when,
           "payment_ref": "", "source": source}
    doc["payment_ref"] = str(doc["attempt_id"])
    if recurring:
        # A month of a monthly pledge (`donations.pledges`).
        doc.update(pledge_id=ObjectId(), period="2026-11", monthly=True)
    await db.donations.insert_one(doc)
    if state != "pending":
        await db.payments_ledger.insert_one(
            {"key": f"stripe:charge:{doc['_id']}", "attempt_id": doc["attempt_id"], "purpose": "donation",
             "ref": str(doc["_id"]), "space_id": camp["space_id"], "method": "card", "provider": "stripe",
             "provider_ref": f"ch_{doc['_id']}", "kind": "charge", "amount": amount, "currency": camp["currency"],
             "at": when})
    if refunded:
        await db.payments_ledger.insert_one(
            {"key": f"stripe:refund:{doc['_id']}", "attempt_id": doc["attempt_id"], "purpose": "donation",
             "ref": str(doc["_id"]), "space_id": camp["space_id"], "method": "card", "provider": "stripe",
             "provider_ref": f"re_{doc['_id']}", "kind": "refund", "amount": -refunded,
             "currency": camp["currency"], "at": when + datetime.timedelta(hours=1)})
    return doc


async def known_set(services, factory, db):
    space = await factory.space()
    water = await campaign(services, factory, space=space, title={"en": "Water"}, category="water")
    books = await campaign(services, factory, space=space, title={"en": "=Books"}, category="education")
    dollars = await campaign(services, factory, space=space, title={"en": "Food"}, category="food", currency="USD")
    other = await campaign(services, factory, title={"en": "Elsewhere"})
    anna = ObjectId()
    # Before the range: Anna has given, so she is returning in it.
    await gift(db, water, at(1, 23, 59), 500, donor="anna", user_id=anna)
    await gift(db, water, at(2, 9, 5), 1000, donor="anna", user_id=anna, source="qr")           # returning
    await gift(db, water, at(2, 9, 40), 2000, donor="bob")                                       # new, guest
    await gift(db, books, at(2, 9, 59), 3000, donor="bob", source="assistant")                  # returning
    await gift(db, books, at(2, 10, 0), 4000, donor="cara", recurring=True, refunded=1500)     # new, net 2500
    await gift(db, water, at(3, 0, 0), 700, donor="dan", source="qr", recurring=False)         # new, next day
    await gift(db, dollars, at(3, 12, 30), 900, donor="erin", user_id=ObjectId())               # new, USD
    # Not counted: pending, refunded in full, another space's, after the range.
    await gift(db, water, at(2, 11, 0), 5000, donor="fay", state="pending")
    await gift(db, water, at(2, 11, 0), 6000, donor="gus", state="refunded", refunded=6000)
    await gift(db, other, at(2, 11, 0), 7000, donor="anna", user_id=anna)
    await gift(db, water, at(4, 0, 0), 8000, donor="hal")
    # The campaigns' counters take in gifts stored without them, as after an upgrade (`totals.adopt`).
    await totals.adopt(db)
    return space, water, books, dollars


def rows_of(report, view):
    return {r.key: (r.gifts, r.amounts) for r in report.views[view] if r.gifts}


@pytest.mark.gen_test(timeout=60)
async def test_analytics_count_a_known_set_of_gifts_exactly(services, factory, db):
    space, water, books, dollars = await known_set(services, factory, db)
    report = await analytics.report(db, space["_id"], DAY1, DAY1 + datetime.timedelta(days=1))
    assert report.currencies == ["EUR", "USD"]
    assert (report.totals.gifts, report.totals.amounts) == ({"EUR": 5, "USD": 1}, {"EUR": 9200, "USD": 900})
    assert rows_of(report, "hour") == {
        "2026-11-02T09:00Z": ({"EUR": 3}, {"EUR": 6000}), "2026-11-02T10:00Z": ({"EUR": 1}, {"EUR": 2500}),
        "2026-11-03T00:00Z": ({"EUR": 1}, {"EUR": 700}), "2026-11-03T12:00Z": ({"USD": 1}, {"USD": 900})}
    assert len(report.views["hour"]) == 48 and len(report.views["day"]) == 2
    assert rows_of(report, "day") == {"2026-11-02": ({"EUR": 4}, {"EUR": 8500}),
                                      "2026-11-03": ({"EUR": 1, "USD": 1}, {"EUR": 700, "USD": 900})}
    assert rows_of(report, "campaign") == {str(water["_id"]): ({"EUR": 3}, {"EUR": 3700}),
                                           str(books["_id"]): ({"EUR": 2}, {"EUR": 5500}),
                                           str(dollars["_id"]): ({"USD": 1}, {"USD": 900})}
    assert rows_of(report, "category") == {"water": ({"EUR": 3}, {"EUR": 3700}),
                                           "education": ({"EUR": 2}, {"EUR": 5500}), "food": ({"USD": 1}, {"USD": 900})}
    assert rows_of(report, "source") == {"qr": ({"EUR": 2}, {"EUR": 1700}), "assistant": ({"EUR": 1}, {"EUR": 3000}),
                                         "direct": ({"EUR": 2, "USD": 1}, {"EUR": 4500, "USD": 900})}
    assert rows_of(report, "recurring") == {"recurring": ({"EUR": 1}, {"EUR": 2500}),
                                            "one_off": ({"EUR": 4, "USD": 1}, {"EUR": 6700, "USD": 900})}
    assert rows_of(report, "donor") == {"registered": ({"EUR": 1, "USD": 1}, {"EUR": 1000, "USD": 900}),
                                        "guest": ({"EUR": 4}, {"EUR": 8200})}
    assert rows_of(report, "history") == {"returning": ({"EUR": 2}, {"EUR": 4000}),
                                          "new": ({"EUR": 3, "USD": 1}, {"EUR": 5200, "USD": 900})}
    # One campaign: only its gifts.
    one = await analytics.report(db, space["_id"], DAY1, DAY1 + datetime.timedelta(days=1), books["_id"])
    assert (one.totals.gifts, one.totals.amounts) == ({"EUR": 2}, {"EUR": 5500})
    assert rows_of(one, "history") == {"returning": ({"EUR": 1}, {"EUR": 3000}), "new": ({"EUR": 1}, {"EUR": 2500})}
    # More than a month: no hours, days still.
    long = await analytics.report(db, space["_id"], DAY1 - datetime.timedelta(days=40), DAY1)
    assert not long.hourly and long.views["hour"] == [] and len(long.views["day"]) == 41


@pytest.mark.gen_test(timeout=60)
async def test_the_analytics_page_and_its_csv_hold_the_same_numbers(services, factory, browser, db):
    space, water, books, dollars = await known_set(services, factory, db)
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    b = browser(locale="en")
    await b.sign_in(admin["login"], factory.PASSWORD)
    base = f"/admin/spaces/{space['_id']}/donations"
    page = await b.get(f"{base}/analytics?from=2026-11-02&to=2026-11-03")
    assert page.status_code == 200, error_text(page.text)
    assert "€92.00" in page.text and "donation-plot" in page.text
    for bad, message in (("from=2026-11-04&to=2026-11-02", "The range ends before it starts."),
                         ("from=soon", "A date is not a date (YYYY-MM-DD)."),
                         ("from=2020-01-01&to=2026-01-01", "Choose a range of at most 366 days.")):
        r = await b.get(f"{base}/analytics?{bad}")
        assert r.status_code == 400 and error_text(r.text) == message, (bad, error_text(r.text))
    r = await b.get(f"{base}/analytics.csv?from=2026-11-02&to=2026-11-03&view=source")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert rows[0] == list(analytics.CSV_COLUMNS)
    assert sorted(rows[1:]) == sorted([["source", "qr", "qr", "EUR", "2", "1700"],
                                       ["source", "assistant", "Giving assistant", "EUR", "1", "3000"],
                                       ["source", "direct", "Direct", "EUR", "2", "4500"],
                                       ["source", "direct", "Direct", "USD", "1", "900"]])
    r = await b.get(f"{base}/analytics.csv?from=2026-11-02&to=2026-11-03&view=campaign&campaign={books['_id']}")
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    # A title that looks like a formula stays text.
    assert rows[1:] == [["campaign", str(books["_id"]), "'=Books", "EUR", "2", "5500"]]
    everything = list(csv.reader(io.StringIO((await b.get(f"{base}/analytics.csv?from=2026-11-02&to=2026-11-03"))
                                             .text.lstrip("\ufeff"))))
    assert {r[0] for r in everything[1:]} == set(analytics.VIEWS)
    assert sum(int(r[5]) for r in everything[1:] if r[0] == "day" and r[3] == "EUR") == 9200
    assert (await b.get(f"{base}/analytics.csv?view=nothing")).status_code == 400
    # Another space's campaign: not found.
    foreign = await campaign(services, factory, title={"en": "Foreign"})
    assert (await b.get(f"{base}/analytics?campaign={foreign['_id']}")).status_code == 404


@pytest.mark.gen_test(timeout=60)
async def test_the_ledger_export_adds_up_to_the_totals_and_the_wallets(services, factory, browser, db):
    space, water, books, dollars = await known_set(services, factory, db)
    donor = await factory.user()
    await wallet.credit(db, donor["_id"], "EUR", 5000, key="topup-ledger")
    given = await giving.give(services, water, amount="20", currency="EUR", key="wallet-gift-1", method="wallet",
                              user=donor, source="assistant")
    assert given["state"] == "confirmed"
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    b = browser(locale="en")
    await b.sign_in(admin["login"], factory.PASSWORD)
    today = datetime.datetime.now(UTC).date()
    r = await b.get(f"/admin/spaces/{space['_id']}/donations/ledger.csv?from=2026-10-01&to={today}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert tuple(rows[0].keys()) == ledger_export.COLUMNS
    assert [row["date_utc"] for row in rows] == sorted(row["date_utc"] for row in rows)
    kinds = [row["kind"] for row in rows]
    # 8 confirmed gifts of the space (one refunded in full) and the wallet gift; 2 refunds; 1 wallet debit.
    assert (kinds.count("donation"), kinds.count("refund"), kinds.count("wallet_gift")) == (10, 2, 1)
    found = await totals.of(db, [water["_id"], books["_id"], dollars["_id"]])
    for camp in (water, books, dollars):
        mine = [row for row in rows if row["campaign_id"] == str(camp["_id"]) and row["kind"] != "wallet_gift"]
        assert {row["currency"] for row in mine} == {camp["currency"]}
        # What the campaign shows (its counter) and what its gifts add up to: both the ledger's sum.
        assert sum(int(row["amount_minor"]) for row in mine) == found[camp["_id"]]["raised"] == \
            (await totals.from_donations(db, camp["_id"]))["raised"][camp["currency"]], camp["title"]
    wallet_row = next(row for row in rows if row["kind"] == "wallet_gift")
    assert (wallet_row["amount_minor"], wallet_row["donor_id"], wallet_row["campaign_id"]) == \
        ("-2000", str(donor["_id"]), str(water["_id"]))
    balance, entries = await wallet.audit(db, donor["_id"], "EUR")
    assert balance == entries == 5000 + int(wallet_row["amount_minor"])
    gift_row = next(row for row in rows if row["id"] == str(given["_id"]))
    assert (gift_row["payment_id"], gift_row["source"], gift_row["donor_id"]) == \
        (f"wallet:gift-{given['_id']}", "assistant", str(donor["_id"]))
    refund = next(row for row in rows if row["kind"] == "refund" and row["amount_minor"] == "-1500")
    assert (refund["campaign_id"], refund["donor_id"], refund["date_utc"]) == \
        (str(books["_id"]), "guest", "2026-11-02T11:00:00.000000Z")
    # A narrower range: only its rows; another space's gifts never.
    r = await b.get(f"/admin/spaces/{space['_id']}/donations/ledger.csv?from=2026-11-03&to=2026-11-03")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert sorted(int(row["amount_minor"]) for row in rows) == [700, 900]
    assert await db.audit.find_one({"action": "donations.ledger_export"})
