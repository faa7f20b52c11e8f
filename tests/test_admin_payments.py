"""The staff's payments pages: the list with filters and CSV, one invoice marked paid, the seller's details."""
from __future__ import annotations

import csv
import io

import pytest

from access import roles as R
from payments import attempts, seller
from tests.payments_support import PURPOSE, register
from tests.support import error_text
from tests.test_payment_invoices import KZ_BUYER, RU_BUYER, SELLER


async def setting_up(factory, services, browser):
    space = await factory.space()
    admin = await factory.member(R.SPACE_ADMIN, space=space, locale="ru")
    await seller.save(services.db, admin, space, SELLER)
    calls = register(services, space["_id"])
    made = []
    for n, (details, amount) in enumerate([(RU_BUYER, 1500000), (KZ_BUYER, 700000), (RU_BUYER, 250000)]):
        made.append(await attempts.start(
            services, purpose=PURPOSE, ref=f"order-{n}", amount=amount, currency="RUB" if n != 1 else "KZT",
            idempotency_key=f"k{n}", payer_email=f"payer{n}@example.org", locale="ru",
            description=f"Tickets {n}", method="invoice", details=details))
    person = browser()
    await person.sign_in(admin["login"], factory.PASSWORD)
    return space, admin, calls, made, person


@pytest.mark.gen_test(timeout=90)
async def test_the_list_filters_and_exports(factory, services, browser):
    space, _, _, made, person = await setting_up(factory, services, browser)
    base = f"/admin/spaces/{space['_id']}/payments"
    r = await person.get(base)
    assert r.status_code == 200 and all(str(a["_id"]) in r.text for a in made)
    assert "ТОО «Алатау Ивент»" in r.text and "client_secret" not in r.text
    r = await person.get(base + "?q=payer1@")
    assert str(made[1]["_id"]) in r.text and str(made[0]["_id"]) not in r.text
    r = await person.get(base + "?q=LH-3")
    assert str(made[2]["_id"]) in r.text and str(made[1]["_id"]) not in r.text
    r = await person.get(base + "?state=succeeded")
    assert not any(str(a["_id"]) in r.text for a in made)
    r = await person.get(base + ".csv?method=invoice")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["created_at", "attempt_id", "purpose"] and len(rows) == 4
    assert {row[11] for row in rows[1:]} == {"LH-1", "LH-2", "LH-3"}
    assert {row[6] for row in rows[1:]} == {"15000.00", "7000.00", "2500.00"}


@pytest.mark.gen_test(timeout=90)
async def test_an_invoice_is_marked_paid_from_its_page_with_a_confirmation(factory, services, browser, db):
    space, _, calls, made, person = await setting_up(factory, services, browser)
    page = f"/admin/spaces/{space['_id']}/payments/{made[0]['_id']}"
    r = await person.get(page)
    assert r.status_code == 200 and "LH-1" in r.text and 'name="confirm"' in r.text
    r = await person.post(page + "/mark-paid", {})
    assert r.status_code == 400 and error_text(r.text)
    assert services.i18n.gettext("ru")("Tick the box to confirm that the money has arrived.") in r.text
    assert calls.paid == []
    r = await person.post(page + "/mark-paid", {"confirm": "1"})
    assert r.status_code == 302
    r = await person.post(page + "/mark-paid", {"confirm": "1"})
    assert r.status_code == 409 and error_text(r.text)
    assert len(calls.paid) == 1 and calls.paid[0][1] == made[0]["_id"]
    r = await person.get(f"/admin/spaces/{space['_id']}/payments")
    assert 'data-currency="RUB"' in r.text
    r = await person.get(f"/admin/spaces/{space['_id']}/payments/ledger.csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert [(row[4], row[5], row[6]) for row in rows[1:]] == [("charge", "1500000", "RUB")]
    r = await person.get(page + "/invoice.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")


@pytest.mark.gen_test(timeout=90)
async def test_the_sellers_details_are_checked_per_country(factory, services, browser, db):
    space, _, _, _, person = await setting_up(factory, services, browser)
    url = f"/admin/spaces/{space['_id']}/seller"
    before = await db.payment_sellers.find_one({"_id": space["_id"]})
    r = await person.post(url, {**SELLER, "inn": "7830002294", "account": "1"})
    assert r.status_code == 400
    ru = services.i18n.gettext("ru")
    assert ru("This INN's check digits do not match: check it for a typo.").replace("'", "&#39;") in r.text
    assert ru("A settlement account has 20 digits.") in r.text
    assert await db.payment_sellers.find_one({"_id": space["_id"]}) == before
    r = await person.post(url, {"country": "KZ", "name": "ТОО «Организатор»", "bin": "990140000483",
                                "address": "Астана", "iik": KZ_BUYER["iik"], "bic": "KCJBKZKX"})
    assert r.status_code == 302
    saved = await db.payment_sellers.find_one({"_id": space["_id"]})
    assert saved["country"] == "KZ" and saved["bin"] == "990140000483"
    assert await db.audit.count_documents({"action": "payments.seller"}) == 2
