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

Every page is also checked by axe-core (WCAG 2.1 A and AA rules, fetched from
the npm registry by tools/browser_libs.py into static/vendor/): after each
load of a document, once per distinct page (its path with ids replaced, at
phone or desktop width) in the test session, and wherever a test calls
`check_accessibility(page, state)` for a state reached without a load (a
dialog open, a feed full of messages).  A serious or critical violation
fails the test like a policy violation does; the pages and states checked
are listed in test-artifacts/axe-pages.txt.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shutil
import time
import urllib.parse
import weakref

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.path.join(ROOT, "test-artifacts")
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


AXE_FILE = os.path.join(ROOT, "static", "vendor", "axe.min.js")
AXE_PATH = "/static/vendor/axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_RUN = """async (tags) => {
  const result = await window.axe.run(document, {runOnly: {type: "tag", values: tags},
                                                 resultTypes: ["violations"], iframes: false});
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + " " + (n.failureSummary || "").split("\\n").slice(1, 2).join(""))}));
}"""
# Ids and tokens in a path make no new page: /admin/events/<id>/control is one page.
ID_SEGMENT = re.compile(r"/(?:[0-9a-f]{24}|[0-9]+|[A-Za-z0-9_-]{20,})(?=/|$)")
# Spaces and events by slug: /s/<space>, /e/<space>/<event>/...
SLUGS = re.compile(r"^/(?:s/[^/]+|e/[^/]+/[^/]+)")
_axe_checked: set[str] = set()    # page keys checked in this test session
_axe_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # one axe run at a time per page


async def page_key(page, state: str | None = None) -> str:
    """The page as axe runs are counted: its path without ids, its kind (the class of <main>:
    the countdown and the event page share a URL) and phone or desktop width."""
    url = urllib.parse.urlsplit(page.url)
    path = SLUGS.sub(lambda m: "/s/<space>" if m.group().startswith("/s/") else "/e/<space>/<event>", url.path)
    path = ID_SEGMENT.sub("/<id>", path)
    query = ",".join(sorted({k for k, _ in urllib.parse.parse_qsl(url.query)}))
    kind = await page.evaluate("() => { const m = document.querySelector('main'); return m ? m.className : ''; }")
    kind = " ".join(c for c in kind.split() if c != "page")
    width = (page.viewport_size or {}).get("width") or 1280
    key = f"{path}{'?' + query if query else ''}{' (' + kind + ')' if kind else ''}"
    key += f" @{'phone' if width < 700 else 'desktop'}"
    return f"{key} [{state}]" if state else key


async def axe_violations(page) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 AA violations on the page as it is now."""
    if not os.path.isfile(AXE_FILE):
        pytest.skip("axe-core is not installed: run `make deps` (tools/browser_libs.py)")
    lock = _axe_locks.setdefault(page, asyncio.Lock())
    async with lock:
        if not await page.evaluate("() => !!window.axe"):
            # A script from the site's own origin, so the page's policy allows it.
            url = urllib.parse.urlsplit(page.url)
            await page.add_script_tag(url=f"{url.scheme}://{url.netloc}{AXE_PATH}")
        found = await page.evaluate(AXE_RUN, AXE_TAGS)
    return [f"{v['impact']} {v['id']} ({v['help']}): " + "; ".join(v["nodes"]) for v in found]


def _record(key: str, seconds: float, problems: list[str]) -> None:
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, "axe-pages.txt"), "a", encoding="utf-8") as f:
        f.write(f"{key}\t{seconds:.2f} s\t{len(problems)} violations\n")


async def check_accessibility(page, state: str | None = None) -> None:
    """Fails on any serious or critical WCAG 2.1 AA violation axe-core finds on the page now.

    `state` names what the test did to reach a state that no page load shows
    (each state is checked once per test session).
    """
    key = await page_key(page, state)
    if key in _axe_checked:
        return
    _axe_checked.add(key)
    started = time.monotonic()
    problems = await axe_violations(page)
    _record(key, time.monotonic() - started, problems)
    assert not problems, f"accessibility violations on {key}:\n" + "\n".join(problems)


class AxeWatch:
    """Runs axe once per distinct page after it loads, collecting what it finds."""

    def __init__(self):
        self.reports: list[str] = []
        self.tasks: set[asyncio.Task] = set()

    def loaded(self, page) -> None:
        url = urllib.parse.urlsplit(page.url)
        if url.scheme not in ("http", "https") or url.path.startswith(("/static/", "/media/", "/test/")):
            return
        task = asyncio.ensure_future(self.check(page))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def check(self, page) -> None:
        key = ""
        try:
            if not await page.evaluate("() => document.contentType === 'text/html'"):
                return
            key = await page_key(page)
            if key in _axe_checked:
                return
            _axe_checked.add(key)
            started = time.monotonic()
            problems = await axe_violations(page)
        except Exception:
            # Navigated or closed before axe finished: the next load of this page checks it.
            _axe_checked.discard(key)
            return
        _record(key, time.monotonic() - started, problems)
        if problems:
            self.reports.append(f"{key}:\n  " + "\n  ".join(problems))

    def watch(self, context) -> None:
        context.on("page", lambda page: page.on("load", self.loaded))

    async def settled(self) -> None:
        """Until the axe runs started by page loads so far have finished: a test about to put a page
        in a passing state of its own (a drag under way) waits, so axe sees the page as loaded."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=30)

    async def collect(self) -> list[str]:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=30)
        return list(self.reports)


class WatchedBrowser:
    """A Playwright Browser whose every new context (and page) reports CSP and axe violations."""

    def __init__(self, browser, csp: CspWatch):
        self._browser = browser
        self.csp = csp
        self.axe = AxeWatch()

    def __getattr__(self, name):
        return getattr(self._browser, name)

    async def new_context(self, **kwargs):
        context = await self._browser.new_context(**kwargs)
        await self.csp.watch(context)
        self.axe.watch(context)
        return context

    async def new_page(self, **kwargs):
        context = await self.new_context(**kwargs)
        return await context.new_page()


@contextlib.asynccontextmanager
async def chromium():
    """A headless Chromium; fails the test if any page it showed broke the CSP or failed axe."""
    from playwright.async_api import async_playwright
    path = chromium_path()
    if not os.path.isfile(AXE_FILE):
        pytest.skip("axe-core is not installed: run `make deps` (tools/browser_libs.py)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=path, args=ARGS, headless=True)
        watched = WatchedBrowser(browser, CspWatch())
        try:
            yield watched
            violations = await watched.csp.collect()
            inaccessible = await watched.axe.collect()
            assert not violations and not inaccessible, (
                ("Content-Security-Policy violations:\n" + "\n".join(violations) + "\n" if violations else "")
                + ("Accessibility (axe-core, WCAG 2.1 AA) violations:\n" + "\n".join(inaccessible)
                   if inaccessible else ""))
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


async def until_true(read, wanted: str, timeout: float) -> bool:
    """Whether `await read()` becomes `wanted` within `timeout` seconds (read from Python: the page's CSP
    forbids the string evaluation `wait_for_function` may use)."""
    for _ in range(int(timeout * 10)):
        if await read() == wanted:
            return True
        await asyncio.sleep(0.1)
    return await read() == wanted


async def screenshot(page, name: str) -> str:
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name + ".png")
    await page.screenshot(path=path, full_page=True)
    return path
