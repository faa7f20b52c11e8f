"""In Chromium: a campaign page's "Turn on notifications" registers the service worker and subscribes;
staff see a segment's size follow its criteria, and an appeal's progress.

Permission is asked only on the click (granted here by the test, as a
person would).  Headless Chromium has no push service of its own to
subscribe with (its `pushManager.subscribe` needs Google's), so where it
refuses, the test checks what the page does up to there (the worker
registered at the site's root, the failure said in the reader's language)
and then sends the subscription as the page does, from the page, with a key
pair made in the test: the server stores it, and a push to it reaches the
local push service signed and decryptable.
"""
from __future__ import annotations

import asyncio
import dataclasses

import pytest
from bson import ObjectId

from access import roles as R
from donations import giving, push
from tests.browser import chromium, signed_in_page
from tests.donations_support import campaign
from tests.push_service import PushService


@pytest.fixture
def push_service(io_loop):
    service = PushService()
    yield service
    service.stop()


@pytest.fixture
def settings(settings, push_service):
    return dataclasses.replace(settings, push_services=push_service.origin)


SEND = """async ([space, subscription]) => {
  const box = document.querySelector("[data-push-space]");
  const r = await fetch("/push/subscriptions", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "Accept": "application/json",
              "X-XSRFToken": box.getAttribute("data-xsrf")},
    body: JSON.stringify({space: space, subscription: subscription})});
  return r.status;
}"""


@pytest.mark.gen_test(timeout=120)
async def test_the_subscribe_button_registers_the_worker_and_the_subscription_reaches_the_server(
        services, factory, db, base_url, http_server, push_service):
    found = await campaign(services, factory, title={"en": "Clean water", "de": "Sauberes Wasser"})
    async with chromium() as browser:
        context = await browser.new_context(locale="de-DE")
        page = await context.new_page()
        await page.goto(f"{base_url}/campaigns/{found['_id']}?src=push#give")
        # The link of a notification: the gift form's amount is ready to type.
        for _ in range(50):
            if await page.evaluate("() => document.activeElement && document.activeElement.id") == "give-amount":
                break
            await asyncio.sleep(0.05)
        assert await page.evaluate("() => document.activeElement && document.activeElement.id") == "give-amount"
        button = page.locator(".push-subscribe")
        await button.wait_for(state="visible", timeout=5000)
        # Nothing asked before the click.
        assert await page.evaluate("() => Notification.permission") == "default"
        assert await page.evaluate("() => navigator.serviceWorker.getRegistration('/').then(r => !!r)") is False
        await context.grant_permissions(["notifications"], origin=base_url)
        await button.click()
        status = page.locator(".push-status")
        for _ in range(100):
            if (await status.text_content()).strip():
                break
            await asyncio.sleep(0.1)
        said = (await status.text_content()).strip()
        scope = await page.evaluate("() => navigator.serviceWorker.getRegistration('/').then(r => r && r.scope)")
        assert scope == base_url + "/"
        assert await page.evaluate("() => navigator.serviceWorker.ready.then(r => r.active.scriptURL)") == \
            base_url + "/push-worker.js"
        subscribed = await db.push_subscriptions.count_documents({})
        if said == services.i18n.gettext("de")("Notifications are on for this browser."):
            assert subscribed == 1          # a Chromium with a push service of its own
        else:
            # Headless: refused by the browser's push service; the page says so and stores nothing.
            assert said == services.i18n.gettext("de")("Notifications could not be turned on. Please try again later.")
            assert subscribed == 0
            phone = push_service.browser()
            assert await page.evaluate(SEND, [str(found["space_id"]), phone.subscription()]) == 201
            stored = await db.push_subscriptions.find_one({})
            assert stored["endpoint"] == phone.endpoint and stored["locale"] == "de"
            async with push.client() as client:
                delivered, _ = await push.deliver(db, client, await push.vapid(services), "mailto:test@example.org",
                                                  stored, {"title": "t", "body": "b", "url": "/", "tag": "x"})
            assert delivered and push_service.to(phone)[0]["payload"]["title"] == "t"


@pytest.mark.gen_test(timeout=120)
async def test_staff_see_a_segments_size_change_with_its_criteria_and_follow_an_appeal(
        services, factory, db, base_url, http_server, push_service):
    found = await campaign(services, factory)
    for n, locale in enumerate(("ru", "ru", "en")):
        user = await factory.user(locale=locale)
        await giving.on_topup_paid(services, str(user["_id"]), {"_id": ObjectId(), "amount": 5000, "currency": "EUR"})
        await giving.give(services, found, amount=str(10 + n), currency="EUR", key=f"browser-gift-{n}",
                          method="wallet", user=user, locale=locale)
        await push.subscribe(db, found["space_id"], push.clean_subscription(
            services.settings, push_service.browser().subscription()), locale=locale, user=user)
    admin = await factory.member(R.SPACE_ADMIN, space={"_id": found["space_id"]}, locale="en")
    async with chromium() as browser:
        page = await signed_in_page(browser, base_url, admin["login"], factory.PASSWORD)
        await page.goto(f"{base_url}/admin/spaces/{found['space_id']}/segments")
        size = page.locator(".segment-size")

        async def shows(text: str) -> bool:
            for _ in range(50):
                if (await size.text_content()).strip() == text:
                    return True
                await asyncio.sleep(0.1)
            return False

        assert await shows("3 donors")
        await page.select_option("#segment-locale", "ru")
        assert await shows("2 donors")
        await page.fill("#segment-min", "11")
        assert await shows("1 donor")
        await page.fill("#segment-min", "")
        await page.fill("#segment-name", "Russian speakers")
        await page.click("form[data-segment-preview] button[type=submit]")
        await page.wait_for_url("**/segments/*")
        assert await shows("2 donors")
        await page.fill("#appeal-message", "Winter is coming: wells freeze.")
        await page.click("#send button[type=submit]")
        await page.wait_for_url("**/appeals/*")
        for _ in range(100):
            await page.reload()
            if await page.locator(".appeal-sent").text_content() == "2 sent":
                break
            await asyncio.sleep(0.1)
        assert (await page.locator(".appeal-sent").text_content()).strip() == "2 sent"
    assert len(push_service.received) == 2 and push_service.refused == []
