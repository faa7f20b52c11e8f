"""In Chromium, the whole purchase: a buyer chooses two tickets that grant one channel, enters a promo
code, pays by card through localstripe (Stripe.js, 3-D Secure, the signed notification), names the
second ticket's holder in the order page; that person signs in with the link from their mail and
enters the channel's live page (the WebSocket admits them), while a channel the ticket does not grant
is refused.

localstripe's Stripe.js does not read its card inputs (see `tests/test_browser_payments.py`): the
3-D Secure test card is attached to the intent as Stripe.js would attach it, and the page then pays
as with the real Stripe.js, the bank's dialog included.
"""
from __future__ import annotations

import re

import pytest

from orders import payments as order_payments
from orders import promo_codes, states
from tests.browser import chromium, screenshot, signed_in_page
from tests.orders_support import drain
from tests.payments_support import attach_card, hook, localstripe, pay_on_card_page, stripe_settings, until  # noqa: F401
from tests.test_orders_holders import festival

FRIEND = "friend@example.org"

# Opens a WebSocket to the live endpoint of an event from the page, and says whether it was admitted.
SOCKET = """(eventId) => new Promise((resolve) => {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/ws?event=" + eventId);
  ws.onmessage = (e) => { const f = JSON.parse(e.data); if (f.type === "welcome") { ws.close(); resolve("admitted"); } };
  ws.onclose = () => resolve("refused");
})"""


@pytest.fixture
def settings(localstripe):
    return stripe_settings(localstripe)


@pytest.mark.gen_test(timeout=180)
async def test_two_tickets_with_a_promo_code_paid_by_card_and_the_second_holder_enters(
        services, factory, db, base_url, http_server, localstripe):
    await hook(localstripe, base_url)
    event, admin, stage_a, stage_b, pass_a, prefix = await festival(services, factory)
    await promo_codes.create(services, admin, event, await promo_codes.clean(db, event, {
        **promo_codes.blank_form(), "code": "FRIENDS", "value": "20", "scope": promo_codes.TYPES,
        "ticket_type_ids": [str(pass_a["_id"])], "max_uses": "10", "min_tickets": "2"}))
    buyer = await factory.user(email="buyer@example.org", locale="en")
    event_path = f"{prefix}/{event['slug']}"

    async with chromium() as browser:
        page = await signed_in_page(browser, base_url, buyer["login"], factory.PASSWORD, locale="en-US")
        # The tickets page: two Stage A passes, with the code.
        await page.goto(base_url + event_path + "/tickets")
        await page.fill(f"#qty-{pass_a['_id']}", "2")
        await page.fill("#promo", "friends")
        await screenshot(page, "checkout-tickets-promo")
        await page.click("form.tickets-form button[type=submit]")
        # Checkout: the discounted total, computed by the server (2 × (15.00 − 20 %)).
        total = await page.wait_for_selector("[data-total]")
        assert await total.get_attribute("data-total") == "2400"
        assert await page.locator("#holder_email\\.0").input_value() == buyer["email"]
        await screenshot(page, "checkout-details")
        await page.click("form[action*='/checkout/'] button[type=submit]")
        # Placed: straight to the card payment.
        await page.wait_for_url(re.compile(r"/pay/[0-9a-f]{24}\?t="))
        order = await db.orders.find_one({"buyer_id": buyer["_id"]})
        assert order["total"] == 2400 and order["state"] == states.PENDING
        assert [(line["unit_price"], line["discount"], line["quantity"]) for line in order["lines"]] == [(1500, 300, 2)]
        attempt = await order_payments.attempt_of(db, order)
        assert attempt["amount"] == 2400
        await attach_card(localstripe, attempt)
        await pay_on_card_page(page)

        async def paid():
            found = await db.orders.find_one({"_id": order["_id"]})
            return found if found["state"] == states.PAID else None
        await until(paid)
        await screenshot(page, "checkout-paid")

        # Back to the order: the payer names the second ticket's holder.
        await page.click("a[data-return]")
        await page.wait_for_selector(f"[data-order-state={states.PAID}]")
        await page.fill("#email-t2", FRIEND)
        await page.fill("#name-t2", "Fran Friend")
        await page.click("#ticket-t2 form button[type=submit]")
        await page.wait_for_selector(f"[data-holder='{FRIEND}']")
        await screenshot(page, "checkout-holder-named")
        await drain(services)

        # The friend opens the link in their ticket mail and signs in.
        mail = await db.outbox.find_one({"to": FRIEND, "kind": "order_ticket"})
        link = re.search(r"/signin/link/[A-Za-z0-9_-]+", mail["full"]["text"]).group(0)
        context = await browser.new_context(locale="en-US")
        friend = await context.new_page()
        await friend.goto(base_url + link)
        await friend.click("form[action^='/signin/link/'] button[type=submit]")
        await friend.wait_for_load_state()
        # Stage A's live page: the socket is admitted.
        response = await friend.goto(base_url + f"{prefix}/{stage_a['slug']}")
        assert response.status == 200
        await friend.wait_for_selector("#live-status.online", state="attached", timeout=15000)
        assert await friend.evaluate(SOCKET, str(stage_a["_id"])) == "admitted"
        await screenshot(friend, "checkout-friend-stage-a")
        # Stage B is not theirs: its page sends them to the event's description, and its socket is refused.
        await friend.goto(base_url + f"{prefix}/{stage_b['slug']}")
        assert friend.url == base_url + f"{event_path}/about" and await friend.locator("#live-status").count() == 0
        assert await friend.evaluate(SOCKET, str(stage_b["_id"])) == "refused"
        await context.close()

    holder = await db.memberships.find_one({"email": FRIEND, "scope_id": event["_id"]})
    assert holder["ticket_type_id"] == pass_a["_id"] and holder.get("state", "registered") == "registered"
    assert (await db.promo_codes.find_one({"code": "FRIENDS"}))["used"] == 2
