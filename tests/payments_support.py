"""Shared pieces of the payments tests: localstripe, settings pointing at it, a test-only purpose.

The card provider talks to a real localstripe (`tests.servers.LocalStripe`)
started once per test session; each test's server registers its own
webhook endpoint there (the same id, so the last test's server gets them).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import time

import httpx
import pytest

from core import config
from tests.servers import LocalStripe

WEBHOOK_SECRET = "whsec_livehall_test"
PURPOSE = "test-purchase"


@pytest.fixture(scope="session")
def localstripe():
    server = LocalStripe()
    yield server
    server.stop()


def stripe_settings(localstripe, **extra):
    return config.from_env(
        mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1, argon2_memory_kib=1024,
        log_format="text", redis_url=os.environ.get("TEST_REDIS_URL", ""), smtp_host="",
        stripe_secret_key=LocalStripe.SECRET_KEY, stripe_publishable_key=LocalStripe.PUBLISHABLE_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET, stripe_api_base=localstripe.url, stripe_js_url=localstripe.js_url,
        **extra)


class Calls:
    """A purpose registered by the test: every callback call, in order."""

    def __init__(self):
        self.paid: list = []
        self.failed: list = []
        self.refunded: list = []

    async def on_paid(self, services, ref, attempt):
        self.paid.append((ref, attempt["_id"], attempt["state"]))

    async def on_failed(self, services, ref, attempt):
        self.failed.append((ref, attempt["_id"], attempt["state"]))

    async def on_refunded(self, services, ref, attempt, amount):
        self.refunded.append((ref, attempt["_id"], amount))


def register(services, space_id=None) -> Calls:
    calls = Calls()

    async def space_of(_services, _ref):
        return space_id
    services.payments.register(PURPOSE, on_paid=calls.on_paid, on_failed=calls.on_failed,
                               on_refunded=calls.on_refunded, space_of=space_of)
    return calls


async def hook(localstripe, base_url: str, url: str | None = None) -> None:
    """Point localstripe's notifications at this test's server (or at `url`)."""
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{localstripe.url}/_config/webhooks/livehall",
                              data={"url": url or f"{base_url}/payments/stripe/webhook", "secret": WEBHOOK_SECRET})
        assert r.status_code == 200, r.text


async def stripe_api(localstripe, method: str, path: str, **data):
    async with httpx.AsyncClient(auth=(LocalStripe.SECRET_KEY, "")) as client:
        if method == "GET":
            r = await client.get(f"{localstripe.url}{path}", params=data)
        else:
            r = await client.post(f"{localstripe.url}{path}", data=data)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


async def intents_of(localstripe, attempt_id) -> list[dict]:
    listed = await stripe_api(localstripe, "GET", "/v1/payment_intents", limit=100)
    return [pi for pi in listed["data"] if pi["metadata"].get("livehall_attempt") == str(attempt_id)]


def signed(payload: dict, secret: str = WEBHOOK_SECRET, at: int | None = None) -> tuple[bytes, str]:
    """A body and its Stripe-Signature header, made as Stripe (and localstripe) make them."""
    body = json.dumps(payload).encode()
    t = int(time.time()) if at is None else at
    sig = hmac.new(secret.encode(), b"%d.%s" % (t, body), hashlib.sha256).hexdigest()
    return body, f"t={t},v1={sig}"


async def until(probe, timeout: float = 15.0, step: float = 0.1):
    """Wait for `await probe()` to be truthy (a notification arriving); its value, or fail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(step)


# A card that asks for 3-D Secure, as localstripe plays it.
THREE_D_SECURE = "4000002500003155"


async def attach_card(localstripe, attempt: dict, number: str = THREE_D_SECURE) -> None:
    """Attach a card to the attempt's PaymentIntent and confirm it, as Stripe.js would: localstripe's
    Stripe.js does not read its card inputs, so the test does what the browser's library would send."""
    card = await stripe_api(localstripe, "POST", "/v1/payment_methods", type="card",
                            **{"card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2030",
                               "card[cvc]": "123"})
    await stripe_api(localstripe, "POST", f"/v1/payment_intents/{attempt['provider_ref']}", payment_method=card["id"])
    pi = await stripe_api(localstripe, "POST", f"/v1/payment_intents/{attempt['provider_ref']}/confirm")
    assert pi["status"] == "requires_action"


async def pay_on_card_page(page) -> None:
    """On the payment page: type the card into localstripe's card entry, send it, pass the bank's
    3-D Secure step, and wait for the page to say paid (the signed notification has then arrived)."""
    number = page.locator("#card-element input[placeholder=number]")
    await number.wait_for(timeout=10000)
    await number.fill(THREE_D_SECURE)
    await page.locator("#card-element input[placeholder=exp_month]").fill("12")
    await page.locator("#card-element input[placeholder=exp_year]").fill("30")
    await page.locator("#card-element input[placeholder=cvc]").fill("123")
    await page.click("form[data-card-payment] button[type=submit]")
    await page.click("text=Complete authentication", timeout=10000)
    await page.wait_for_selector("form[data-card-payment][data-outcome=paid]", timeout=20000)
