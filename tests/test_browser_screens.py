"""Every key page, in every locale, at phone and desktop width, in Chromium.

Each page is saved to test-artifacts/screens/<locale>/ for people to look at,
and checked for what a person would notice at once: the page is in the
locale asked for (lang, and right-to-left for Hebrew), nothing is wider than
a 375 px phone, every form control has a label and every button and link a
name.  The demo event supplies realistic content; its broadcast plays a page
served by this test, since the machine has no internet.
"""
import os

import pytest
import tornado.web

import server
from app import demo
from core.i18n import LOCALES
from events import model
from tests.browser import ARTIFACTS, chromium

WIDTHS = (375, 1280)

PLAYER_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Broadcast</title>
<style>body{margin:0;height:100vh;display:grid;place-items:center;background:#1d2733;color:#fff;
font:600 1.2rem system-ui}</style></head><body><div>&#9654; Live</div></body></html>"""

# Problems found on a page: each is "what: which element".
CHECKS = r"""() => {
  const out = [];
  const name = el => (el.getAttribute('aria-label') || el.getAttribute('title') ||
                      (el.getAttribute('aria-labelledby') && document.getElementById(el.getAttribute('aria-labelledby'))
                        ? document.getElementById(el.getAttribute('aria-labelledby')).textContent : '') ||
                      el.textContent || (el.querySelector('img[alt]') || {}).alt || el.value || '').trim();
  const visible = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) &&
                        getComputedStyle(el).visibility !== 'hidden';
  const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                         (el.name ? '[name=' + el.name + ']' : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '');
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (['hidden', 'submit', 'button', 'reset'].includes(el.type) || !visible(el)) continue;
    const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label') ||
                     el.getAttribute('aria-labelledby') || el.getAttribute('title');
    if (!labelled) out.push('unlabelled control: ' + describe(el));
  }
  for (const el of document.querySelectorAll('button, a[href], [role=button]')) {
    if (visible(el) && !name(el)) out.push('nameless ' + describe(el));
  }
  // Text contrast (WCAG 2 AA): 4.5:1, or 3:1 for large text; disabled controls are exempt.
  const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
      if (getComputedStyle(e).backgroundImage !== 'none') return null;  // a gradient or image: not judged
    }
    return [255, 255, 255];
  };
  const seen = new Set();
  for (const el of document.querySelectorAll('body *')) {
    if (!visible(el) || el.closest('[disabled], [aria-disabled=true], iframe, video, .slide, .visually-hidden')) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const style = getComputedStyle(el), bg = background(el);
    if (!bg) continue;
    const fg = rgb(style.color);
    const [a, b] = [lum(fg.slice(0, 3)), lum(bg.slice(0, 3))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const key = describe(el) + style.color;
    if (ratio < need && !seen.has(key)) {
      seen.add(key);
      out.push('low contrast ' + ratio.toFixed(2) + ': ' + describe(el) + ' "' + el.textContent.trim().slice(0, 30) + '"');
    }
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1)
    out.push('wider than the viewport: ' + doc.scrollWidth + ' > ' + window.innerWidth);
  if (!document.title.trim()) out.push('no document title');
  return out;
}"""


class PlayerPage(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(PLAYER_PAGE)


@pytest.fixture
def app(services):
    application = server.make_app(services)
    application.add_handlers(r".*", [(r"/test-player", PlayerPage)])
    return application


async def live_demo(services, base_url) -> dict:
    """The demo event with its gate open and the broadcast on, as during a session."""
    summary = await demo.seed(services)
    event = summary["event"]
    sources = {loc: {"kind": "youtube", "url": "https://youtu.be/jNQXAC9IVRw", "embed": base_url + "/test-player"}
               for loc in event["locales"]}
    await services.db.events.update_one({"_id": event["_id"]}, {"$set": {
        "broadcast.on": True, "broadcast.sources": sources, "gate.mode": model.GATE_OPEN}})
    return await services.db.events.find_one({"_id": event["_id"]})


async def sign_in(context, base_url, login, password):
    page = await context.new_page()
    await page.goto(base_url + "/signin")
    await page.fill("input[name=identifier]", login)
    await page.fill("input[name=password]", password)
    await page.click("form[action='/signin'] button[type=submit]")
    await page.wait_for_load_state()
    return page


async def shoot(page, base_url, path, locale, name, width, problems, ready=None):
    await page.goto(base_url + path, wait_until="domcontentloaded")
    await page.wait_for_load_state("networkidle")
    if ready:
        # Attached: on a phone the slide waits in its own tab under the player.
        await page.wait_for_selector(ready, state="attached", timeout=10000)
    lang, direction = await page.evaluate("() => [document.documentElement.lang, document.documentElement.dir]")
    if lang != locale:
        problems.append(f"{name}@{width}: lang is {lang!r}")
    if (direction == "rtl") != (locale == "he"):
        problems.append(f"{name}@{width}: dir is {direction!r}")
    for problem in await page.evaluate(CHECKS):
        problems.append(f"{name}@{width}: {problem}")
    folder = os.path.join(ARTIFACTS, "screens", locale)
    os.makedirs(folder, exist_ok=True)
    await page.screenshot(path=os.path.join(folder, f"{name}-{width}.png"), full_page=True)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.gen_test(timeout=240)
async def test_key_pages_in_every_locale_at_phone_and_desktop_width(locale, services, base_url, http_server):
    event = await live_demo(services, base_url)
    event_path = f"/e/{demo.SPACE_SLUG}/{demo.EVENT_SLUG}"
    admin_path = f"/admin/events/{event['_id']}"
    quiz = await services.db.quizzes.find_one({"event_id": event["_id"]})
    password = services.settings.demo_password
    await services.db.users.update_one({"login": "admin"}, {"$set": {"locale": locale}})
    problems: list[str] = []
    async with chromium() as browser:
        for width in WIDTHS:
            viewport = {"width": width, "height": 800 if width < 600 else 900}

            anonymous = await browser.new_context(viewport=viewport, locale=locale)
            page = await anonymous.new_page()
            await shoot(page, base_url, "/signin", locale, "signin", width, problems)
            await anonymous.close()

            attendee = await browser.new_context(viewport=viewport, locale=locale)
            page = await sign_in(attendee, base_url, f"attendee-{locale}", password)
            await shoot(page, base_url, "/", locale, "home", width, problems)
            await shoot(page, base_url, event_path, locale, "event", width, problems,
                        ready="figure.slide[data-slide-index]")
            await shoot(page, base_url, "/profile", locale, "profile", width, problems)
            for name, path in (("quizzes", "/quizzes"), ("quiz", f"/quizzes/{quiz['_id']}"),
                               ("community", "/community"), ("community-page", "/community/networking"),
                               ("support", "/support")):
                await shoot(page, base_url, event_path + path, locale, name, width, problems)
            await attendee.close()

            admin = await browser.new_context(viewport=viewport, locale=locale)
            page = await sign_in(admin, base_url, "admin", password)
            for name, path in (("admin-dashboard", "/admin"), ("admin-event", admin_path),
                               ("admin-control", admin_path + "/control"),
                               ("admin-console", admin_path + "/console"),
                               ("admin-attendees", admin_path + "/attendees"),
                               ("admin-slides", admin_path + "/slides"),
                               ("admin-program", admin_path + "/program"),
                               ("admin-quizzes", admin_path + "/quizzes"),
                               ("admin-quiz-results", admin_path + f"/quizzes/{quiz['_id']}/results"),
                               ("admin-community", admin_path + "/community"),
                               ("admin-mail-templates", admin_path + "/mail-templates?kind=signin")):
                await shoot(page, base_url, path, locale, name, width, problems)
            await admin.close()
    assert problems == []
