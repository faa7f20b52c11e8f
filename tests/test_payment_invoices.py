"""Invoices for legal entities: details checked per country, numbers per space, the PDF, marked paid once."""
from __future__ import annotations

import asyncio
import io

import pytest
from pypdf import PdfReader

from payments import attempts, invoices, ledger, legal, seller
from tests.payments_support import PURPOSE, register, until

ROMASHKA = "ООО «Ромашка»"
RU_BUYER = {"country": "RU", "name": ROMASHKA, "inn": "7707083893", "kpp": "773601001", "ogrn": "1027700132195",
            "address": "117997, Москва, ул. Вавилова, 19", "bik": "044525225", "account": "40702810638050013199"}
KZ_BUYER = {"country": "KZ", "name": "ТОО «Алатау Ивент»", "bin": "940740000911",
            "address": "Алматы, пр. Абая, 1", "iik": "KZ86125KZT5004100100", "bic": "KCJBKZKX"}
SELLER = {"country": "RU", "name": "АНО «Конференции»", "inn": "7830002293", "kpp": "783001001",
          "ogrn": "1027700132195", "address": "Санкт-Петербург, Невский пр., 1", "bik": "044525225",
          "account": "40702810638050013199", "bank_name": "ПАО Сбербанк", "invoice_prefix": "LH",
          "terms": "Оплата в течение 10 дней."}


def test_russian_details_are_checked_digit_by_digit():
    assert legal.clean(RU_BUYER)["inn"] == "7707083893"
    # A sole proprietor: 12-digit INN, 15-digit OGRNIP, no KPP needed.
    ip = {**RU_BUYER, "inn": "500100732259", "kpp": "", "ogrn": "304500116000157"}
    assert legal.clean(ip)["kpp"] == ""
    spaced = legal.clean({**RU_BUYER, "inn": "7707 083 893", "account": "40702 810 6380 5001 3199"})
    assert spaced["inn"] == "7707083893" and spaced["account"] == "40702810638050013199"
    for field, value, message in [
        ("inn", "7707083894", legal.INN_CHECK), ("inn", "77070838", legal.INN_SHAPE),
        ("kpp", "77360100", legal.KPP_SHAPE), ("kpp", "", legal.REQUIRED),
        ("ogrn", "1027700132196", legal.OGRN_CHECK), ("ogrn", "304500116000157", legal.OGRN_KIND),
        ("bik", "144525225", legal.BIK_SHAPE), ("account", "40702810638050013198", legal.ACCOUNT_CHECK),
        ("account", "4070281063805001319", legal.ACCOUNT_SHAPE), ("name", "  ", legal.REQUIRED),
    ]:
        with pytest.raises(legal.InvalidDetails) as refused:
            legal.clean({**RU_BUYER, field: value})
        assert refused.value.fields == {field: (message, {})}, (field, value)
        assert refused.value.message == message


def test_kazakh_and_other_details():
    assert legal.clean(KZ_BUYER)["bin"] == "940740000911"
    for field, value, message in [("bin", "940740000912", legal.BIN_CHECK), ("bin", "9407400009", legal.BIN_SHAPE),
                                  ("iik", "KZ87125KZT5004100100", legal.IBAN_CHECK),
                                  ("iik", "DE89370400440532013000", legal.IBAN_SHAPE),
                                  ("bic", "KCJB", legal.BIC_SHAPE)]:
        with pytest.raises(legal.InvalidDetails) as refused:
            legal.clean({**KZ_BUYER, field: value})
        assert refused.value.fields == {field: (message, {})}, (field, value)
    other = legal.clean({"country": "de", "name": "Beispiel GmbH", "vat_id": "DE 123456789", "address": "Berlin"})
    assert other == {"country": "DE", "name": "Beispiel GmbH", "address": "Berlin", "vat_id": "DE123456789"}
    with pytest.raises(legal.InvalidDetails):
        legal.clean({"country": "DE", "name": "X", "address": "Berlin", "vat_id": "DE-12#"})
    with pytest.raises(legal.InvalidDetails) as refused:
        legal.clean({"country": "XX", "name": "X"})
    assert "country" in refused.value.fields


async def ready(factory, services):
    space = await factory.space()
    admin = await factory.member("space_admin", space=space)
    await seller.save(services.db, admin, space, SELLER)
    calls = register(services, space["_id"])
    return space, admin, calls


async def issue(services, key="inv-1", details=None, amount=1500000, currency="RUB"):
    return await attempts.start(services, purpose=PURPOSE, ref=f"order-{key}", amount=amount, currency=currency,
                                idempotency_key=key, payer_email="buh@romashka.ru", locale="ru",
                                description="Билеты на конференцию, 3 шт.", method="invoice",
                                details=RU_BUYER if details is None else details)


@pytest.mark.gen_test(timeout=60)
async def test_broken_details_are_refused_in_the_payers_language_and_nothing_is_stored(factory, services, db):
    await ready(factory, services)
    with pytest.raises(legal.InvalidDetails) as refused:
        await issue(services, details={**RU_BUYER, "inn": "7707083894"})
    shown = services.i18n.gettext("ru")(refused.value.message)
    assert shown != legal.INN_CHECK and "ИНН" in shown
    assert await db.payment_attempts.count_documents({}) == 0
    assert await db.payment_counters.count_documents({}) == 0
    assert await db.outbox.count_documents({}) == 0


@pytest.mark.gen_test(timeout=60)
async def test_an_invoice_without_the_sellers_details_is_refused(factory, services, db):
    space = await factory.space()
    register(services, space["_id"])
    with pytest.raises(attempts.PaymentError) as refused:
        await issue(services)
    assert refused.value.message == attempts.NO_SELLER
    assert await db.payment_attempts.count_documents({}) == 0


@pytest.mark.gen_test(timeout=90)
async def test_invoices_are_numbered_per_space_without_gaps_or_twins(factory, services, db):
    space, admin, _ = await ready(factory, services)
    made = await asyncio.gather(*(issue(services, key=f"k{n}") for n in range(8)))
    assert sorted(a["invoice"]["seq"] for a in made) == list(range(1, 9))
    assert {a["invoice"]["number"] for a in made} == {f"LH-{n}" for n in range(1, 9)}
    # The same key again is the same invoice, not a new number.
    again = await issue(services, key="k3")
    assert again["invoice"]["number"] == next(a for a in made if a["idempotency_key"] == "k3")["invoice"]["number"]
    # Another space counts from one.
    other = await factory.space()
    await seller.save(db, admin, other, {**SELLER, "invoice_prefix": ""})
    first = await attempts.start(services, purpose=PURPOSE, ref="x", amount=100, currency="RUB", idempotency_key="o1",
                                 payer_email="a@b.ru", locale="ru", description="x", method="invoice",
                                 details=RU_BUYER, space_id=other["_id"])
    assert first["invoice"]["number"] == "1"


@pytest.mark.gen_test(timeout=90)
async def test_the_pdf_names_both_parties_in_cyrillic_and_is_mailed(factory, services, db):
    await ready(factory, services)
    attempt = await issue(services)
    text = PdfReader(io.BytesIO(invoices.pdf(services, attempt))).pages[0].extract_text()
    for expected in (ROMASHKA, "АНО «Конференции»", "7707083893", "LH-1", "15\u202f000.00 RUB",
                     "Билеты на конференцию", services.i18n.gettext("ru")("Seller"), "Оплата в течение 10 дней."):
        assert expected in text, (expected, text)

    async def mailed():
        return await db.outbox.find_one({"kind": invoices.MAIL})
    entry = await until(mailed)
    assert entry["to"] == "buh@romashka.ru" and "LH-1" in entry["subject"]
    # The outbox copy staff read hides the payer's link; the message itself carries it.
    assert "/pay/" not in entry["text"] and f"/pay/{attempt['_id']}/invoice.pdf?t=" in entry["full"]["text"]
    # Mailed once, however often it is asked.
    await invoices.mail(services, attempt["_id"])
    assert await db.outbox.count_documents({"kind": invoices.MAIL}) == 1


@pytest.mark.gen_test(timeout=60)
async def test_marking_an_invoice_paid_calls_on_paid_once(factory, services, db):
    space, admin, calls = await ready(factory, services)
    attempt = await issue(services)
    with pytest.raises(invoices.InvoiceError) as refused:
        await invoices.mark_paid(services, attempt["_id"], actor=admin, confirmed=False)
    assert refused.value.message == invoices.NOT_CONFIRMED
    assert (await db.payment_attempts.find_one({"_id": attempt["_id"]}))["state"] == "created"
    results = await asyncio.gather(*(invoices.mark_paid(services, attempt["_id"], actor=admin, confirmed=True)
                                     for _ in range(3)), return_exceptions=True)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all(r.message == invoices.ALREADY_PAID for r in results if not isinstance(r, dict))
    assert calls.paid == [("order-inv-1", attempt["_id"], "succeeded")]
    assert await ledger.balance(db, {"space_id": space["_id"]}) == {"RUB": 1500000}
    assert await db.audit.count_documents({"action": "payment.invoice_paid"}) == 1
    # A refund of an invoice (a bank transfer back) is recorded like any other.
    back = await attempts.refund(services, attempt_id=attempt["_id"], amount=500000, reason="one ticket",
                                 idempotency_key="b1", actor=admin)
    assert back["state"] == "partially_refunded" and calls.refunded == [("order-inv-1", attempt["_id"], 500000)]
    assert await ledger.balance(db, {"space_id": space["_id"]}) == {"RUB": 1000000}
