"""In Chromium: a payer pays a card attempt on its page with localstripe's Stripe.js, and the page
shows the payment arrived once the signed notification has moved the attempt.

localstripe serves a stand-in for Stripe.js at /js.stripe.com/v3/: its card
"element" is five plain inputs, and its `confirmCardPayment` does not read
them; it plays the bank's 3-D Secure step (a dialog: complete or fail the
authentication) for a PaymentIntent whose card asks for it, then charges
it.  So the card the payer types here is one that asks for 3-D Secure
(4000 0025 0000 3155), attached to the intent as Stripe.js would attach it
and confirmed up to the bank's step; the page then does what it does with
the real Stripe.js: confirm with the client secret, and wait for the
server's word.
"""
from __future__ import annotations

import asyncio

import pytest

from payments import attempts
from tests.browser import chromium, screenshot
from tests.payments_support import PURPOSE, hook, localstripe, register, stripe_api, stripe_settings  # noqa: F401

THREE_D_SECURE = "4000002500003155"


@pytest.fixture
def settings(localstripe):
    return stripe_settings(localstripe)


@pytest.mark.gen_test(timeout=120)
async def test_a_payer_pays_on_the_card_page_and_sees_it_arrive(services, db, base_url, http_server,
                                                                  localstripe):
    await hook(localstripe, base_url)
    calls = register(services)
    attempt = await attempts.start(services, purpose=PURPOSE, ref="order-7", amount=4200, currency="EUR",
                                   idempotency_key="order-7-1", payer_email="payer@example.org", locale="de",
                                   description="Ticket: Konferenz 2026")
    card = await stripe_api(localstripe, "POST", "/v1/payment_methods", type="card",
                            **{"card[number]": THREE_D_SECURE, "card[exp_month]": "12", "card[exp_year]": "2030",
                               "card[cvc]": "123"})
    await stripe_api(localstripe, "POST", f"/v1/payment_intents/{attempt['provider_ref']}",
                     payment_method=card["id"])
    pi = await stripe_api(localstripe, "POST", f"/v1/payment_intents/{attempt['provider_ref']}/confirm")
    assert pi["status"] == "requires_action"

    async with chromium() as browser:
        context = await browser.new_context(locale="de-DE")
        page = await context.new_page()
        await page.goto(base_url + attempts.pay_url(services, attempt))
        # localstripe's card entry, mounted by card_payment.js with the publishable key.
        number = page.locator("#card-element input[placeholder=number]")
        await number.wait_for(timeout=10000)
        await number.fill(THREE_D_SECURE)
        await page.locator("#card-element input[placeholder=exp_month]").fill("12")
        await page.locator("#card-element input[placeholder=exp_year]").fill("30")
        await page.locator("#card-element input[placeholder=cvc]").fill("123")
        await screenshot(page, "payment-card-de")
        await page.click("form[data-card-payment] button[type=submit]")
        # The bank's step, as localstripe plays it.
        await page.click("text=Complete authentication", timeout=10000)
        await page.wait_for_selector("form[data-card-payment][data-outcome=paid]", timeout=20000)
        assert await page.locator("[data-pay-state]").get_attribute("data-pay-state") == "succeeded"
        await screenshot(page, "payment-card-paid-de")
    done = await db.payment_attempts.find_one({"_id": attempt["_id"]})
    assert done["state"] == "succeeded" and [h["by"] for h in done["history"]] == ["provider"]
    for _ in range(50):
        if calls.paid:
            break
        await asyncio.sleep(0.1)
    assert calls.paid == [("order-7", attempt["_id"], "succeeded")]
