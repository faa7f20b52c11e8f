"""In Chromium: axe-core checks every page the browser tests open, and its findings fail the test.

`tests.browser.chromium()` runs axe (WCAG 2.1 A and AA) after each page load,
once per distinct page; `check_accessibility(page, state)` checks a state a
test reached without a load.  This proves both see a serious violation.
"""
import pytest

import server
from handlers.base import BaseHandler
from tests.browser import axe_violations, check_accessibility, chromium

INACCESSIBLE = """<!doctype html><html lang="en"><head><title>t</title></head><body><main>
<img src="/static/favicon.svg">
<form><input type="text" name="q"><button type="submit"></button></form>
</main></body></html>"""


class Inaccessible(BaseHandler):
    async def get(self):
        self.finish(INACCESSIBLE)


@pytest.fixture
def app(services):
    application = server.make_app(services)
    application.add_handlers(r".*", [(r"/axe-test/loaded", Inaccessible, {"services": services}),
                                     # /test/ pages are left to explicit checks.
                                     (r"/test/axe-state", Inaccessible, {"services": services})])
    return application


@pytest.mark.gen_test(timeout=60)
async def test_axe_finds_serious_violations_after_a_load_and_in_a_state(base_url, http_server):
    with pytest.raises(AssertionError) as failed:
        async with chromium() as chrome:
            page = await chrome.new_page()
            await page.goto(base_url + "/axe-test/loaded")
            await page.wait_for_load_state("load")
    report = str(failed.value)
    assert "Accessibility (axe-core, WCAG 2.1 AA) violations" in report, report
    assert "/axe-test/loaded @desktop" in report
    assert "critical image-alt" in report and "critical button-name" in report, report

    async with chromium() as chrome:
        page = await chrome.new_page()
        await page.goto(base_url + "/signin")
        await page.wait_for_load_state("load")
        await check_accessibility(page, "signed out")        # the real page passes
        assert await axe_violations(page) == []
        await page.goto(base_url + "/test/axe-state")
        with pytest.raises(AssertionError, match=r"(?s)accessibility violations on /test/axe-state @desktop "
                                                 r"\[a form without labels\]:.*critical label"):
            await check_accessibility(page, "a form without labels")
