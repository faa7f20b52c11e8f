"""In Chromium: the campaign widget framed in another site's page (an origin its staff listed) and the
fundraising screen, both open, climb without a reload while gifts arrive (wallet gifts through the
HTTP form, and one card gift through localstripe made from the widget's own Give link, so counted
under `widget`); the same widget framed by a site not listed, and the campaign's other pages framed
even by the listed one, are refused by the browser.  Staff copy the widget's snippet, choose who may
frame it and download a poster's QR code on the campaign's staff page.

The outside sites are pages Playwright answers for (`https://listed.example`,
`https://unlisted.example`): to the browser they are those https origins, and
their iframe loads the real widget from the test server (a loopback address,
which a browser trusts as it trusts https, so no mixed content; the outside
sites are granted Local Network Access, which Chromium would otherwise ask
its user about before a public page reaches a loopback one).  The refused
framings break the policy on purpose, so they are made in a browser context
that the CSP watch of `tests.browser` does not follow; everything else is
watched.
"""
from __future__ import annotations

import asyncio

import pytest
from bson import ObjectId

from access import roles as R
from core import money
from donations import embedding, giving, sources
from tests.browser import chromium, screenshot, signed_in_page, until_true
from tests.donations_support import campaign, key_of
from tests.payments_support import attach_card, hook, localstripe, pay_on_card_page, stripe_settings, until  # noqa: F401
from tests.test_donations_widget import decode_png

LISTED = "https://listed.example"
UNLISTED = "https://unlisted.example"


@pytest.fixture
def settings(localstripe):
    return stripe_settings(localstripe)


async def outside_site(context, origin: str, framed: str, width: int = 460, height: int = 260) -> None:
    """Make `origin` a site whose page /test/frame.html frames `framed` (an address on the test server)."""
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Outside</title></head><body>'
            f'<h1>A partner site</h1><iframe id="widget" title="Donations" src="{framed}" width="{width}" '
            f'height="{height}"></iframe></body></html>')

    async def answer(route):
        await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
    await context.route(f"{origin}/**", answer)
    # A public site framing a loopback server: Chromium asks its user first (Local Network Access); a
    # deployed widget is on a public address, where no such question arises.
    await context.grant_permissions(["local-network-access"], origin=origin)


async def framed_content(page):
    """The frame inside the outside page, once it has loaded (or failed to)."""
    element = await page.wait_for_selector("#widget")
    for _ in range(100):
        frame = await element.content_frame()
        if frame is not None and frame.url not in ("", "about:blank"):
            return frame
        await asyncio.sleep(0.05)
    raise AssertionError("the frame never loaded")


@pytest.mark.gen_test(timeout=180)
async def test_a_framed_widget_and_the_screen_climb_as_gifts_arrive(services, factory, db, base_url, browser,
                                                                    http_server, localstripe):
    await hook(localstripe, base_url)
    space = await factory.space()
    found = await campaign(services, factory, space=space, goal="100", title={"en": "Clean water"})
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    await embedding.save(db, admin, found, embedding.clean(embedding.LISTED, LISTED))
    path = f"/campaigns/{found['_id']}"
    donor = await factory.user(name="Wendy Wallet")
    await giving.on_topup_paid(services, str(donor["_id"]), {"_id": ObjectId(), "amount": 10000, "currency": "EUR"})
    form = browser(locale="en")
    await form.sign_in(donor["login"], factory.PASSWORD)

    async def wallet_gift(amount: str, *, anonymous: bool = False) -> None:
        page = (await form.get(path + "?src=qr-hall")).text
        r = await form.post(path + "/give", {"key": key_of(page), "currency": "EUR", "amount": amount,
                                             "method": "wallet", "source": "qr-hall",
                                             **({"anonymous": "1"} if anonymous else {})})
        assert r.status_code == 302

    async with chromium() as chrome:
        outside = await chrome.new_context(locale="en-US")
        await outside_site(outside, LISTED, f"{base_url}{path}/widget?size=full")
        partner = await outside.new_page()
        await partner.goto(f"{LISTED}/test/frame.html")
        widget = await framed_content(partner)
        raised = await widget.wait_for_selector(".campaign-raised")    # the same element all along: no reload
        assert await raised.text_content() == money.format(0, "EUR", "en")
        live = widget.locator("[data-campaign-live]")
        screen = await (await chrome.new_context(locale="en-US", viewport={"width": 1920, "height": 1080})).new_page()
        await screen.goto(base_url + path + "/screen")
        screen_raised = await screen.wait_for_selector(".campaign-raised")
        # The widget on its own, as a streaming program's browser source opens it.
        obs = await (await chrome.new_context(locale="en-US", viewport={"width": 480, "height": 270})).new_page()
        await obs.goto(f"{base_url}{path}/widget?size=bar")
        assert await obs.locator(".progress").get_attribute("aria-valuenow") == "0"

        # Wallet gifts through the HTTP form, a few at once: each page climbs to their sum.
        await asyncio.gather(wallet_gift("10"), wallet_gift("5"), wallet_gift("7"))
        assert await until_true(lambda: live.get_attribute("data-raised"), "2200", 10)
        assert await until_true(lambda: raised.text_content(), money.format(2200, "EUR", "en"), 5)
        assert await widget.locator(".campaign-donors").text_content() == "1"
        assert await widget.locator(".campaign-latest").text_content() == "Wendy Wallet"
        assert await until_true(lambda: screen_raised.text_content(), money.format(2200, "EUR", "en"), 5)
        assert await until_true(lambda: obs.locator(".progress").get_attribute("aria-valuenow"), "22", 5)
        await wallet_gift("3", anonymous=True)
        assert await until_true(lambda: widget.locator(".campaign-latest").text_content(), "Anonymous", 10)

        # A card gift, from the widget's Give button: the campaign's page opens in a new tab, from the widget.
        async with outside.expect_page() as opened:
            await widget.click(".widget-give a")
        donor_page = await opened.value
        await donor_page.wait_for_load_state()
        assert donor_page.url == f"{base_url}{path}?src=widget"
        await donor_page.fill("#give-amount", "25")
        await donor_page.fill("#give-email", "card@example.org")
        await donor_page.fill("#give-name", "Carla Card")
        await donor_page.click("button.give-submit")
        await donor_page.wait_for_url("**/pay/**", timeout=10000)
        attempt = await db.payment_attempts.find_one({"purpose": "donation"})
        # localstripe's Stripe.js does not read the card inputs: the card (one that asks for 3-D Secure) is
        # attached to the gift's PaymentIntent as Stripe.js would attach it, as in tests/test_browser_donations.py.
        await attach_card(localstripe, attempt)
        await pay_on_card_page(donor_page)
        assert await until_true(lambda: live.get_attribute("data-raised"), "5000", 15)
        assert await until_true(lambda: raised.text_content(), money.format(5000, "EUR", "en"), 5)
        assert await widget.locator(".campaign-donors").text_content() == "2"
        assert await widget.locator(".campaign-latest").text_content() == "Carla Card"
        assert await widget.locator(".progress").get_attribute("aria-valuenow") == "50"
        assert await until_true(lambda: screen_raised.text_content(), money.format(5000, "EUR", "en"), 5)
        assert await screen.locator(".campaign-donors").text_content() == "2"
        await screenshot(partner, "donation-widget-framed")
        await screenshot(obs, "donation-widget-browser-source")
    card_gift = await db.donations.find_one({"method": "card"})
    assert card_gift["state"] == "confirmed" and card_gift["source"] == sources.WIDGET
    assert await sources.counts(db, found["_id"]) == [
        {"source": "qr-hall", "donations": 4, "raised": 2500}, {"source": "widget", "donations": 1, "raised": 2500}]


@pytest.mark.gen_test(timeout=120)
async def test_the_browser_refuses_the_widget_framed_by_a_site_not_listed(services, factory, db, base_url,
                                                                          http_server):
    space = await factory.space()
    found = await campaign(services, factory, space=space)
    closed = await campaign(services, factory, space=space, title={"en": "Not embeddable"})
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    await embedding.save(db, admin, found, embedding.clean(embedding.LISTED, LISTED))
    async with chromium() as chrome:
        # Not watched for policy violations: these pages break the policy on purpose.
        # (the framing site, the page framed, the policy that refuses it: None when it shows)
        for origin, framed, refused_by in (
                (LISTED, f"/campaigns/{found['_id']}/widget", None),          # the control: it does show
                (UNLISTED, f"/campaigns/{found['_id']}/widget", f'"frame-ancestors {LISTED}"'),
                (LISTED, f"/campaigns/{found['_id']}", "\"frame-ancestors 'none'\""),   # the campaign's own page
                (LISTED, f"/campaigns/{found['_id']}/screen", "\"frame-ancestors 'none'\""),
                (LISTED, f"/campaigns/{closed['_id']}/widget", "\"frame-ancestors 'none'\"")):  # not opted in
            context = await chrome._browser.new_context()
            refusals: list[str] = []

            def heard(message, into=refusals):
                if "frame-ancestors" in message.text or "X-Frame-Options" in message.text:
                    into.append(message.text)
            context.on("console", heard)
            await outside_site(context, origin, base_url + framed)
            page = await context.new_page()
            await page.goto(f"{origin}/test/frame.html")
            frame = await framed_content(page)
            await asyncio.sleep(0.3)
            drawn = await frame.locator(".campaign-raised").count() if not frame.url.startswith("chrome-error") else 0
            assert bool(drawn) == (refused_by is None), (origin, framed, frame.url)
            if refused_by:
                assert refusals and all(refused_by in r for r in refusals), (refused_by, refusals)
            else:
                assert not refusals, refusals
            await context.close()


@pytest.mark.gen_test(timeout=120)
async def test_staff_copy_the_widgets_snippet_and_download_a_poster_code(services, factory, db, base_url,
                                                                       http_server):
    space = await factory.space()
    found = await campaign(services, factory, space=space, title={"en": "Clean water"})
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    async with chromium() as chrome:
        page = await signed_in_page(chrome, base_url, admin["login"], factory.PASSWORD)
        await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        await page.goto(f"{base_url}/admin/spaces/{space['_id']}/campaigns/{found['_id']}")
        await page.click("button[data-copy=snippet-bar]")
        await page.wait_for_selector("#snippet-bar-status:has-text('Copied.')")
        copied = await page.evaluate("() => navigator.clipboard.readText()")
        assert copied == (f'<iframe src="{services.settings.public_url}/campaigns/{found["_id"]}/widget?size=bar" '
                          f'title="Clean water" width="420" height="130" style="border:0" loading="lazy"></iframe>')
        # Who may frame it, chosen on the page.
        await page.check("input[name=mode][value=listed]")
        await page.fill("#embed-origins", "https://stream.example.org")
        await page.click("form[action$='/embedding'] button[type=submit]")
        await page.wait_for_selector("text=Who may show the widget has been saved.")
        assert (await db.donation_campaigns.find_one({"_id": found["_id"]}))["embed"] == \
            {"mode": "listed", "origins": ["https://stream.example.org"]}
        # A poster's code with its tag, downloaded as the browser saves it.
        await page.fill("#qr-tag", "hall-poster")
        await page.select_option("#qr-size", "a5")
        async with page.expect_download() as downloading:
            await page.click("form[action$='/qr'] button[value=png]")
        download = await downloading.value
        assert download.suggested_filename == f"campaign-{found['_id']}-page-hall-poster-a5.png"
        with open(await download.path(), "rb") as saved:
            data = saved.read()
        assert decode_png(data) == [f"{services.settings.public_url}/campaigns/{found['_id']}?src=qr-hall-poster"]
        await screenshot(page, "donation-campaign-widget-admin")
