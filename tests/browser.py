"""Real Chromium (Debian's package) driven by Playwright, for tests of the pages.

Playwright never downloads a browser here: it launches /usr/bin/chromium
through `executable_path`.  Without it the test is skipped, which conftest
turns into a failure under CI=true.
"""
from __future__ import annotations

import contextlib
import os
import shutil

import pytest

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test-artifacts")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_path() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if not path:
        pytest.skip("chromium is not installed (Debian package `chromium`)")
    return path


@contextlib.asynccontextmanager
async def chromium():
    from playwright.async_api import async_playwright
    path = chromium_path()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=path, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in_page(browser, base_url: str, login: str, password: str, width: int = 1280, locale=None):
    context = await browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    page = await context.new_page()
    await page.goto(base_url + "/signin")
    await page.fill("input[name=identifier]", login)
    await page.fill("input[name=password]", password)
    await page.click("form[action='/signin'] button[type=submit]")
    await page.wait_for_load_state()
    return page


async def screenshot(page, name: str) -> str:
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name + ".png")
    await page.screenshot(path=path, full_page=True)
    return path
