"""In Chromium at phone width (375x812): a signed-in donor with a saved card gives in one click from a campaign's
page: an amount chip opens a small dialog, one tap charges the saved card off-session through localstripe, the
dialog says the gift arrived once the provider's notification confirmed it, and the page's total climbs without
a reload.
"""
from __future__ import annotations

import pytest

from core import money
from donations import saved_cards
from tests.browser import chromium, screenshot, until_true
from tests.donations_support import campaign
from tests.payments_support import hook, localstripe, stripe_api, stripe_settings  # noqa: F401


@pytest.fixture
def settings(localstripe):
    return stripe_settings(localstripe)


@pytest.mark.gen_test(timeout=150)
async def test_a_donor_with_a_saved_card_gives_in_one_click_at_phone_width(services, factory, db, base_url,
                                                                         http_server, localstripe):
    await hook(localstripe, base_url)
    found = await campaign(services, factory, goal="100", title={"en": "Clean water", "de": "Sauberes Wasser"})
    donor = await factory.user(locale="de")
    pm = await stripe_api(localstripe, "POST", "/v1/payment_methods", type="card",
                          **{"card[number]": "4242424242424242", "card[exp_month]": "12", "card[exp_year]": "2030",
                             "card[cvc]": "123"})
    await saved_cards.remember(services, donor, found["space_id"], pm["id"])
    path = f"/campaigns/{found['_id']}"
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 375, "height": 812}, locale="de-DE",
                                            is_mobile=True, has_touch=True)
        page = await context.new_page()
        await page.goto(base_url + "/signin")
        await page.fill("input[name=identifier]", donor["email"])
        await page.fill("input[name=password]", factory.PASSWORD)
        await page.click("form[action='/signin'] button[type=submit]")
        await page.wait_for_load_state()
        await page.goto(base_url + path)
        raised = page.locator("[data-campaign-live] .campaign-raised")
        assert await raised.text_content() == money.format(0, "EUR", "de")
        chip = page.locator(".one-click-chip").nth(1)
        assert (await chip.text_content()).strip() == money.format(2500, "EUR", "de")
        # Everything the donor taps fits the phone's width.
        box = await chip.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        await chip.tap()
        dialog = page.locator("dialog.one-click-dialog")
        await dialog.wait_for(state="visible")
        assert await page.locator("#one-click-amount").input_value() == "25.00"
        assert "VISA ···· 4242" in await page.locator("#one-click-card").text_content()
        await screenshot(page, "one-click-dialog-phone-de")
        submit = page.locator(".one-click-submit")
        sbox = await submit.bounding_box()
        assert sbox is not None and sbox["x"] + sbox["width"] <= 375
        await submit.tap()
        assert await until_true(lambda: dialog.get_attribute("data-outcome"), "paid", 20)
        # The total on the page, never reloaded, climbs to the confirmed gift.
        live = page.locator("[data-campaign-live]")
        assert await until_true(lambda: live.get_attribute("data-raised"), "2500", 10)
        assert await until_true(lambda: raised.text_content(), money.format(2500, "EUR", "de"), 5)
        assert await page.locator(".progress").get_attribute("aria-valuenow") == "25"
        await screenshot(page, "one-click-given-phone-de")
        await page.locator(".one-click-close").tap()
        await dialog.wait_for(state="hidden")
    gifts = await db.donations.find({}).to_list(None)
    assert len(gifts) == 1 and gifts[0]["method"] == "saved" and gifts[0]["state"] == "confirmed"
    assert await db.payment_attempts.count_documents({}) == 1
