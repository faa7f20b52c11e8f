"""In Chromium: a donor gives on a campaign's page by card (localstripe's Stripe.js), and a second open
page of the campaign, and its fundraising screen, see the total climb without a reload.

localstripe's Stripe.js stand-in does not read the card inputs (see
`tests/test_browser_payments.py`): the card, one that asks for 3-D Secure, is
attached to the gift's PaymentIntent as Stripe.js would attach it, and the
page confirms it with the bank's step, as with the real Stripe.js.
"""
from __future__ import annotations

import pytest

from core import money
from tests.browser import chromium, screenshot, until_true
from tests.donations_support import campaign
from tests.payments_support import attach_card, hook, localstripe, pay_on_card_page, stripe_settings  # noqa: F401


@pytest.fixture
def settings(localstripe):
    return stripe_settings(localstripe)


@pytest.mark.gen_test(timeout=150)
async def test_a_gift_by_card_makes_the_total_climb_on_another_open_page(services, factory, db, base_url,
                                                                         http_server, localstripe):
    await hook(localstripe, base_url)
    found = await campaign(services, factory, goal="100", title={"en": "Clean water", "de": "Sauberes Wasser"},
                           deadline="2099-12-31")
    path = f"/campaigns/{found['_id']}"
    async with chromium() as browser:
        watcher = await (await browser.new_context(locale="de-DE")).new_page()
        await watcher.goto(base_url + path)
        raised = watcher.locator("[data-campaign-live] .campaign-raised")
        assert await raised.text_content() == money.format(0, "EUR", "de")
        screen = await (await browser.new_context(locale="de-DE", viewport={"width": 1920, "height": 1080})).new_page()
        await screen.goto(base_url + path + "/screen")
        assert await screen.locator(".campaign-raised").text_content() == money.format(0, "EUR", "de")
        # The countdown to the deadline, in the reader's language.
        countdown = (await screen.locator(".campaign-countdown").text_content()).strip()
        assert countdown.startswith("in ") and countdown.endswith(" Tagen"), countdown

        donor = await (await browser.new_context(locale="de-DE")).new_page()
        await donor.goto(base_url + path)
        await donor.fill("#give-amount", "25")
        await donor.fill("#give-email", "spender@example.org")
        await donor.fill("#give-name", "Petra")
        await donor.fill("#give-message", "Für den Brunnen")
        await screenshot(donor, "donation-form-de")
        await donor.click("button.give-submit")
        await donor.wait_for_url("**/pay/**", timeout=10000)
        attempt = await db.payment_attempts.find_one({"purpose": "donation"})
        await attach_card(localstripe, attempt)
        await pay_on_card_page(donor)

        # The other page, never reloaded, climbs to the confirmed total.
        live = watcher.locator("[data-campaign-live]")
        assert await until_true(lambda: live.get_attribute("data-raised"), "2500", 10)
        assert await until_true(lambda: raised.text_content(), money.format(2500, "EUR", "de"), 5)
        assert await watcher.locator(".campaign-donors").text_content() == "1"
        assert await watcher.locator(".progress").get_attribute("aria-valuenow") == "25"
        await screenshot(watcher, "donation-total-climbed-de")
        # The fundraising screen, fed by the same frame.
        assert await until_true(lambda: screen.locator(".campaign-raised").text_content(),
                                money.format(2500, "EUR", "de"), 5)
        assert await screen.locator(".campaign-goal-reached").is_hidden()
        await screenshot(screen, "donation-screen-de")
    gift = await db.donations.find_one({})
    assert gift["state"] == "confirmed" and gift["amount"] == 2500 and gift["message"] == "Für den Brunnen"
