"""In Chromium: the site's Content-Security-Policy is on, and `tests.browser` catches breaches.

Every browser test goes through `chromium()`, which fails the test when a page
broke the policy; this proves the detector sees an inline script, an inline
event handler and a `style=` attribute, and that the policy blocked them.
"""
import pytest

import server
from handlers.base import BaseHandler
from tests.browser import chromium

HOSTILE = """<!doctype html><html><head><title>t</title></head><body>
<p id="styled" style="color: red">styled</p>
<img id="handler" src="/static/no-such.png" onerror="document.title = 'handler ran'">
<script>document.title = "inline ran";</script>
</body></html>"""


class Hostile(BaseHandler):
    async def get(self):
        self.finish(HOSTILE)


@pytest.fixture
def app(services):
    application = server.make_app(services)
    application.add_handlers(r".*", [(r"/test/hostile", Hostile, {"services": services})])
    return application


@pytest.mark.gen_test(timeout=60)
async def test_inline_script_handler_and_style_are_blocked_and_reported(base_url, http_server):
    with pytest.raises(AssertionError) as failed:
        async with chromium() as chrome:
            context = await chrome.new_context()
            page = await context.new_page()
            await page.goto(base_url + "/test/hostile")
            await page.wait_for_load_state("load")
            assert await page.title() == "t"          # neither script ran
            color = await page.evaluate("() => getComputedStyle(document.getElementById('styled')).color")
            assert color != "rgb(255, 0, 0)"
    report = str(failed.value)
    assert "Content-Security-Policy violations" in report
    # Seen by the page's securitypolicyviolation event...
    assert "script-src-elem blocked inline" in report, report     # the <script>
    assert "script-src-attr blocked inline" in report, report     # the onerror handler
    assert "style-src-attr blocked inline" in report, report      # the style attribute
    # ...and by Chromium's console.
    assert "console: Executing inline script violates" in report, report


@pytest.mark.gen_test(timeout=60)
async def test_the_site_pages_pass(base_url, http_server):
    async with chromium() as chrome:
        page = await chrome.new_page()
        for path in ("/", "/signin", "/password/forgot", "/no/such/page"):
            await page.goto(base_url + path)
            await page.wait_for_load_state("load")
        assert not await chrome.csp.collect()
