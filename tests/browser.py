"""Real Chromium (Debian's package) driven by Playwright, for tests of the pages.

Playwright never downloads a browser here: it launches /usr/bin/chromium
through `executable_path`.  Without it the test is skipped, which conftest
turns into a failure under CI=true.

Every page opened through `chromium()` watches for Content-Security-Policy
violations (the `securitypolicyviolation` event, and Chromium's console
messages about the policy); when `chromium()` ends without another error
and one happened, the test fails with the list.  A page that needs an
inline script or a `style=` attribute is caught by every browser test,
without any test asking.  The policy forbids eval, so `wait_for_function`
takes a function (`"() => ..."`): Playwright polls a bare expression with
eval.
"""
from __future__ import annotations

import contextlib
import itertools
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


# Runs in every document before its own scripts; reports go to the test through
# the exposed function, and stay on the page for the check at the end.
CSP_WATCH = """
(() => {
  const seen = window.__livehallCspSeen = window.__livehallCspSeen || [];
  document.addEventListener("securitypolicyviolation", (e) => {
    const report = {directive: e.effectiveDirective || e.violatedDirective, blocked: e.blockedURI,
                    source: e.sourceFile, line: e.lineNumber, sample: e.sample, page: location.href,
                    id: Math.random().toString(36).slice(2)};
    seen.push(report);
    if (window.__livehallCspViolation) window.__livehallCspViolation(report).catch(() => {});
  }, true);
})();
"""


class CspWatch:
    """Collects the policy violations of every page of a browser's contexts."""

    def __init__(self):
        self.reports: dict[str, str] = {}
        self.contexts: list = []
        self._n = itertools.count()

    def add(self, report: dict) -> None:
        key = report.get("id") or str(next(self._n))
        self.reports[key] = (f"{report.get('directive')} blocked {report.get('blocked') or '(inline)'}"
                             f" at {report.get('source') or report.get('page')}:{report.get('line')}"
                             f" {report.get('sample') or ''}".strip())

    def console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.reports[f"console-{next(self._n)}"] = f"console: {message.text}"

    async def watch(self, context) -> None:
        self.contexts.append(context)
        await context.expose_function("__livehallCspViolation", self.add)
        await context.add_init_script(CSP_WATCH)
        context.on("console", self.console)

    async def collect(self) -> list[str]:
        """Every violation so far, including those still on open pages."""
        for context in self.contexts:
            for page in list(context.pages):
                try:
                    for report in await page.evaluate("() => window.__livehallCspSeen || []"):
                        self.add(report)
                except Exception:
                    pass  # closed or navigating: its reports came through the function
        return sorted(set(self.reports.values()))


class WatchedBrowser:
    """A Playwright Browser whose every new context (and page) reports CSP violations."""

    def __init__(self, browser, csp: CspWatch):
        self._browser = browser
        self.csp = csp

    def __getattr__(self, name):
        return getattr(self._browser, name)

    async def new_context(self, **kwargs):
        context = await self._browser.new_context(**kwargs)
        await self.csp.watch(context)
        return context

    async def new_page(self, **kwargs):
        context = await self.new_context(**kwargs)
        return await context.new_page()


@contextlib.asynccontextmanager
async def chromium():
    """A headless Chromium; fails the test if any page it showed broke the CSP."""
    from playwright.async_api import async_playwright
    path = chromium_path()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=path, args=ARGS, headless=True)
        watched = WatchedBrowser(browser, CspWatch())
        try:
            yield watched
            violations = await watched.csp.collect()
            assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)
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
