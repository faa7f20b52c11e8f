"""Revenue per ticket type, promo code and day: exact minor units per currency from a seeded set of orders
(paid, refunded in part and in full, cancelled before and after payment, unpaid, two currencies), the
same numbers in the CSV, and the chart page drawn in Chromium without errors."""
import csv
import datetime
import io

import pytest
from bson import ObjectId

from accounts import users
from core import money
from orders import actions, checkout, revenue, states
from tests.orders_support import drain, ticket_type, ticketed_event

UTC = datetime.UTC
VOUCHER = ObjectId()


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 12, day, hour, minute, tzinfo=UTC)


async def seeded(services, factory):
    """The event (Riga time) and its orders; see the expected figures in the test."""
    db = services.db
    event, admin = await ticketed_event(services, factory, locales=("en", "ru"))
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"timezone": "Europe/Riga"}})
    standard = await ticket_type(services, event, admin, name="Standard", prices="EUR 15.00\nRUB 1200.00",
                                 max_per_order="5")
    vip = await ticket_type(services, event, admin, name="VIP", prices="EUR 40.00")
    event = await db.events.find_one({"_id": event["_id"]})
    buyer = await users.create(db, email="buyer@example.org", name="Bea Buyer")

    async def order(choice: list, currency: str, *, paid_at=None) -> dict:
        reservation = await checkout.reserve(services, event, buyer, {str(t["_id"]): str(n) for t, n in choice},
                                             currency=currency)
        made = await checkout.place(services, event, buyer, reservation["_id"], buyer_name="Bea", method="invoice",
                                    holders=[], idempotency_key=str(ObjectId()), locale="en")
        if paid_at:
            made = await actions.mark_paid(services, made["_id"], payment_ref=None, actor=admin, why="test")
            await db.orders.update_one({"_id": made["_id"]}, {"$set": {"paid_at": paid_at}})
        return await db.orders.find_one({"_id": made["_id"]})

    async def refund(o, amount: int, when: datetime.datetime, key: str) -> None:
        await actions.refund(services, o["_id"], amount=amount, actor=admin, key=key)
        stored = await db.orders.find_one({"_id": o["_id"]})
        await db.orders.update_one({"_id": o["_id"]}, {"$set": {f"refunds.{len(stored['refunds']) - 1}.at": when}})

    # 23:30 in Riga on the 3rd.
    await order([(standard, 2)], "EUR", paid_at=at(3, 21, 30))
    # 00:30 in Riga on the 4th; its VIP line sold with a promo code; 10.00 refunded on the 5th.
    two_lines = await order([(standard, 1), (vip, 1)], "EUR", paid_at=at(3, 22, 30))
    await db.orders.update_one({"_id": two_lines["_id"]}, {"$set": {"lines.1.voucher_id": VOUCHER}})
    await refund(two_lines, 1000, at(5, 10), "r1")
    # Never paid, then cancelled: nothing.
    unpaid = await order([(vip, 1)], "EUR")
    await actions.cancel(services, event, unpaid, by=states.STAFF, actor=admin, why="test")
    # Paid on the 5th, then cancelled without a refund: the money was kept.
    kept = await order([(vip, 1)], "EUR", paid_at=at(5, 12))
    await actions.cancel(services, event, kept, by=states.STAFF, actor=admin, why="test")
    # Paid on the 4th, refunded in full on the 6th.
    back = await order([(standard, 1)], "EUR", paid_at=at(4, 12))
    await refund(back, 1500, at(6, 9), "r2")
    # Roubles, paid on the 6th.
    await order([(standard, 2)], "RUB", paid_at=at(6, 9))
    # Pending: nothing.
    await order([(standard, 1)], "EUR")
    await drain(services)
    return event, admin, standard, vip


def amounts(rows) -> dict:
    return {row.key: dict(row.amounts) for row in rows}


@pytest.mark.gen_test(timeout=60)
async def test_revenue_is_exact_per_type_code_and_day_and_never_mixes_currencies(services, factory, db):
    event, _, standard, vip = await seeded(services, factory)
    names = await actions.type_names(db, event, "en")
    found = await revenue.of_event(db, event, names, "No code")
    assert found.currencies == ["EUR", "RUB"]
    assert found.totals == {"EUR": 11500, "RUB": 240000}
    # The two-line order kept 45.00 of 55.00: shared 15:40, whole cents, the odd cent to the larger remainder.
    assert amounts(found.by_type) == {str(standard["_id"]): {"EUR": 3000 + 1227 + 0, "RUB": 240000},
                                      str(vip["_id"]): {"EUR": 3273 + 4000}}
    assert [row.label for row in found.by_type] == ["Standard", "VIP"]
    assert {row.key: dict(row.tickets) for row in found.by_type} == {
        str(standard["_id"]): {"EUR": 3, "RUB": 2}, str(vip["_id"]): {"EUR": 1}}
    assert amounts(found.by_code) == {"": {"EUR": 3000 + 1227 + 4000, "RUB": 240000}, str(VOUCHER): {"EUR": 3273}}
    assert [row.label for row in found.by_code] == ["No code", str(VOUCHER)]
    day = datetime.date
    assert found.by_day == [(day(2026, 12, 3), {"EUR": 3000}), (day(2026, 12, 4), {"EUR": 5500 + 1500}),
                            (day(2026, 12, 5), {"EUR": -1000 + 4000}),
                            (day(2026, 12, 6), {"EUR": -1500, "RUB": 240000})]
    for currency, total in found.totals.items():
        assert sum(r.amounts.get(currency, 0) for r in found.by_type) == total
        assert sum(r.amounts.get(currency, 0) for r in found.by_code) == total
        assert sum(a.get(currency, 0) for _, a in found.by_day) == total
    assert revenue.chart_series(found, "EUR")["y"] == [3000, 7000, 3000, -1500]


def test_shares_add_up_to_the_amount():
    assert revenue.split(4500, [1500, 4000]) == [1227, 3273]
    assert revenue.split(100, [1, 1, 1]) == [34, 33, 33]
    assert revenue.split(0, [5, 5]) == [0, 0]
    assert revenue.split(7, [0, 0]) == [7, 0]
    for amount in (1, 99, 1001, 123457):
        for weights in ([3, 7], [1, 1, 1, 1, 1, 1, 1], [1000, 1, 1]):
            shares = revenue.split(amount, weights)
            assert sum(shares) == amount and min(shares) >= 0


@pytest.mark.gen_test(timeout=60)
async def test_the_csv_holds_the_same_numbers(services, factory, browser, db):
    event, admin, standard, vip = await seeded(services, factory)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    r = await b.get(f"/admin/events/{event['_id']}/orders/revenue.csv")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    got = {(row["view"], row["key"], row["currency"]): (int(row["amount_minor"]), row["amount"]) for row in rows}
    assert got[("ticket_type", str(standard["_id"]), "EUR")] == (4227, "42.27")
    assert got[("ticket_type", str(standard["_id"]), "RUB")] == (240000, "2400.00")
    assert got[("ticket_type", str(vip["_id"]), "EUR")] == (7273, "72.73")
    assert got[("promo_code", "", "EUR")] == (8227, "82.27")
    assert got[("promo_code", str(VOUCHER), "EUR")] == (3273, "32.73")
    assert got[("day", "2026-12-06", "EUR")] == (-1500, "-15.00")
    assert got[("day", "2026-12-03", "RUB")] == (0, "0.00")
    assert got[("total", "", "EUR")] == (11500, "115.00") and got[("total", "", "RUB")] == (240000, "2400.00")
    assert await db.audit.count_documents({"action": "orders.revenue_export"}) == 1


@pytest.mark.gen_test(timeout=120)
async def test_the_chart_page_draws_in_chromium_without_errors(services, factory, base_url, db, http_server):
    from tests.browser import chromium, screenshot, signed_in_page

    event, admin, _, _ = await seeded(services, factory)
    async with chromium() as chrome:
        page = await signed_in_page(chrome, base_url, admin["login"], factory.PASSWORD)
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        await page.goto(f"{base_url}/admin/events/{event['_id']}/orders/revenue")
        # One chart per currency, drawn by uPlot on a canvas.
        await page.wait_for_selector("#revenue-plot-EUR .uplot canvas")
        await page.wait_for_selector("#revenue-plot-RUB .uplot canvas")
        assert await page.locator(".revenue-plot canvas").count() == 2
        # The table is the chart's text alternative, with the exact amounts.
        cells = await page.locator("#revenue-days tbody tr:first-child td").all_text_contents()
        assert cells == [money.format(-1500, "EUR", "en"), money.format(240000, "RUB", "en")], cells
        assert await page.text_content("#revenue-types tbody tr:first-child th") == "Standard"
        await screenshot(page, "revenue")
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.wait_for_timeout(300)
        await screenshot(page, "revenue-phone")
        assert not problems, problems
