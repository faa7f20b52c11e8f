"""In Chromium: a community page and its live discussion, the support page, and the admin list."""
import pytest

import server
from access import roles as R
from chat import room_names
from community import pages
from events import control, view
from tests.browser import chromium, screenshot, signed_in_page
from tests.test_browser_pip import PLAYER, PlayerPage, open_event, player_facts, watching
from tests.test_realtime import live, person, seeded

XSS = "<img src=x onerror=window.__xss=1>"
BODY = {
    "ru": ("Здесь участники обсуждают первый день.\nПрограмма: https://example.org/program.\n\n"
           f"Вопросы к докладчикам тоже можно оставить здесь. {XSS}"),
    "en": ("Participants talk the first day over here.\nProgramme: https://example.org/program.\n\n"
           f"Questions for the speakers are welcome too. {XSS}"),
    "he": ("כאן המשתתפים דנים ביום הראשון.\nהתוכנית: https://example.org/program.\n\n"
           f"אפשר להשאיר כאן גם שאלות לדוברים. {XSS}"),
}


@pytest.fixture
def app(services):
    # The test broadcast page of test_browser_pip, for the docked player.
    application = server.make_app(services)
    application.add_handlers(r".*", [(r"/test-player", PlayerPage)])
    return application


async def open_page(chrome, base_url, factory, user, path, width=1280):
    page = await signed_in_page(chrome, base_url, user["login"], factory.PASSWORD, width=width)
    await page.goto(base_url + path)
    return page


async def say(page, kind, text):
    await page.fill(f"#chat-text-{kind}", text)
    await page.press(f"#chat-text-{kind}", "Enter")


@pytest.mark.gen_test(timeout=150)
async def test_two_attendees_discuss_live_and_text_stays_text(factory, browser, base_url, services):
    db = services.db
    event = await seeded(factory, locales=("ru", "en", "he"))
    space = await db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    talk = await pages.create(db, admin, event, slug="day-one", discussion="open", published=True,
                              title={"ru": "Обсуждаем первый день", "en": "Talking about day one",
                                     "he": "מדברים על היום הראשון"}, body=BODY)
    await pages.create(db, admin, event, slug="archive", discussion="closed", published=True,
                       title={"ru": "Архив", "en": "Archive", "he": "ארכיון"}, body={"ru": "Старое", "en": "Old"})
    room = pages.room(talk)
    path = view.path(space, event) + "/community/day-one"
    anna = await factory.member(R.ATTENDEE, event=event, locale="ru", name=XSS)
    ben = await factory.member(R.ATTENDEE, event=event, locale="en", name="Ben")
    _, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    moderator, _, _ = await live(base_url, mb, event)
    await moderator.send({"type": "join", "room": room})
    await moderator.expect("joined", room=room)

    async with chromium() as chrome:
        a = await open_page(chrome, base_url, factory, anna, path)
        b = await open_page(chrome, base_url, factory, ben, path, width=375)
        for p in (a, b):
            await p.wait_for_selector("#chat-text-com:not([disabled])", timeout=15000)
        # The body: paragraphs, a link, and the payload as visible text.
        assert await a.locator(".community-body p").count() == 2
        link = a.locator(".community-body a")
        assert await link.get_attribute("href") == "https://example.org/program"
        assert XSS in await a.locator(".community-body").inner_text()
        assert await a.locator(".community-body img").count() == 0
        assert await b.locator("h1").inner_text() == "Talking about day one"

        # Anna writes; Ben sees it without reloading, both names and texts as text.
        await say(a, "com", "Кто был на втором докладе?")
        got = await moderator.expect("message", room=room)
        item = b.locator(f"#chat-pane-com li.chat-msg[data-offset='{got['offset']}']")
        await item.wait_for(timeout=10000)
        assert await item.locator(".chat-text").inner_text() == "Кто был на втором докладе?"
        assert await item.locator(".chat-name").inner_text() == XSS
        await say(b, "com", XSS)
        bad = await moderator.expect("message", room=room, text=XSS)
        mine = a.locator(f"#chat-pane-com li.chat-msg[data-offset='{bad['offset']}']")
        await mine.wait_for(timeout=10000)
        assert await mine.locator(".chat-text").inner_text() == XSS
        assert await a.locator("#chat img").count() == 0 and await b.locator("#chat img").count() == 0
        await a.wait_for_timeout(300)
        for p in (a, b):
            assert await p.evaluate("typeof window.__xss") == "undefined"

        # A moderator's deletion disappears from both pages.
        await moderator.send({"type": "delete", "room": room, "offset": bad["offset"], "ref": "d"})
        await moderator.expect("ack", ref="d")
        await mine.wait_for(state="detached", timeout=10000)
        await b.locator(f"#chat-pane-com li.chat-msg[data-offset='{bad['offset']}']").wait_for(state="detached")
        await a.locator(f"#chat-pane-com li.chat-msg[data-offset='{got['offset']}']").wait_for()
        assert await b.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await screenshot(a, "community-page-ru-desktop")
        await screenshot(b, "community-page-en-phone")

        # Staff close the discussion: the form goes away on the open pages, the messages stay.
        _, sb = await person(factory, browser, event, role=R.EVENT_ADMIN, locale="en")
        r = await sb.post(f"/admin/events/{event['_id']}/community/{talk['_id']}/discussion", {"discussion": "closed"})
        assert r.status_code == 302
        await b.wait_for_selector("#chat-pane-com .chat-closed:not([hidden])", timeout=10000)
        assert await b.locator("#chat-pane-com .chat-form").is_hidden()
        assert await b.locator("#chat-pane-com li.chat-msg").count() == 1

        # The list of pages and the closed one, in Hebrew (right to left) on a phone.
        await a.context.close()
        await b.context.close()
        he_user = await factory.member(R.ATTENDEE, event=event, locale="he")
        h = await open_page(chrome, base_url, factory, he_user, view.path(space, event) + "/community", width=375)
        assert await h.get_attribute("html", "dir") == "rtl"
        assert await h.locator(".community-entry").count() == 2
        assert await h.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await screenshot(h, "community-list-he-phone")
        await h.click("text=מדברים על היום הראשון")
        await h.wait_for_selector("#chat-pane-com li.chat-msg", timeout=10000)
        assert await h.locator("#chat-pane-com .chat-closed").is_visible()
        await screenshot(h, "community-page-closed-he-phone")
        await h.context.close()


@pytest.mark.gen_test(timeout=150)
async def test_support_page_between_sessions_and_admin_list(factory, browser, base_url, services):
    db = services.db
    event = await seeded(factory, locales=("ru", "en"))
    space = await db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    await control.apply(db, services.notifier, event["_id"], admin, "day_off", {"day_id": "d1"})
    for i, slug in enumerate(("welcome", "networking", "faq")):
        await pages.create(db, admin, event, slug=slug, discussion=("open", "closed", "off")[i],
                           published=i < 2, title={"ru": f"Страница {slug}", "en": f"Page {slug} {XSS}"},
                           body={"en": "Text"})
    attendee = await factory.member(R.ATTENDEE, event=event, locale="ru")
    _, ob = await person(factory, browser, event, role=R.COMMENTATOR, locale="en", locales=["ru"])
    operator, _, _ = await live(base_url, ob, event)
    support = room_names.support_room(event["_id"], "ru", attendee["_id"])
    await operator.send({"type": "join", "room": support})
    await operator.expect("joined", room=support)

    async with chromium() as chrome:
        # From a community page to the support page; the broadcast is off and no day is open.
        page = await open_page(chrome, base_url, factory, attendee,
                               view.path(space, event) + "/community/welcome", width=375)
        await page.wait_for_selector("#chat-text-com:not([disabled])", timeout=15000)
        await page.click(f"a[href='{view.path(space, event)}/support']")
        await page.wait_for_selector("#chat-text-sup:not([disabled])", timeout=15000)
        assert await page.locator("#chat-tab-pub").count() == 0
        await say(page, "sup", "Когда начнётся второй день?")
        asked = await operator.expect("message", room=support)
        assert asked["text"] == "Когда начнётся второй день?"
        await operator.send({"type": "send", "room": support, "text": "Завтра в 10:00", "client_id": "r1"})
        await page.locator("#chat-pane-sup .chat-text", has_text="Завтра в 10:00").wait_for(timeout=10000)
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await screenshot(page, "support-ru-phone")
        await page.context.close()

        # The admin list at both widths.
        for width, name in ((1280, "desktop"), (375, "phone")):
            staff = await open_page(chrome, base_url, factory, admin, f"/admin/events/{event['_id']}/community",
                                    width=width)
            assert await staff.locator(".community-admin-page").count() == 3
            assert await staff.locator(".community-admin-page img").count() == 0
            assert await staff.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            await screenshot(staff, f"admin-community-{name}")
            await staff.context.close()
        staff = await open_page(chrome, base_url, factory, admin,
                                f"/admin/events/{event['_id']}/community/new", width=375)
        assert await staff.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await screenshot(staff, "admin-community-new-phone")
        await staff.context.close()


@pytest.mark.gen_test(timeout=150)
async def test_discussion_while_the_docked_player_keeps_playing(factory, browser, base_url, services, http_server):
    """From the event page to a community page and back on one connection, the broadcast never reloaded."""
    db = services.db
    event, path, user = await watching(factory, services, base_url)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    first = await pages.create(db, admin, event, slug="first", discussion="open", published=True,
                               title={"ru": "Первая", "en": "First page"}, body={"en": "One"})
    second = await pages.create(db, admin, event, slug="second", discussion="open", published=True,
                                title={"ru": "Вторая", "en": "Second page"}, body={"en": "Two"})
    _, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    moderator, _, _ = await live(base_url, mb, event)
    for p in (first, second):
        await moderator.send({"type": "join", "room": pages.room(p)})
        await moderator.expect("joined", room=pages.room(p))

    async with chromium() as chrome:
        page, sockets = await open_event(chrome, base_url, path, user, factory.PASSWORD, 1280)
        await page.wait_for_selector("#chat-text-pub:not([disabled])")
        await page.evaluate(f"() => {{ window.__noReload = true; document.querySelector('{PLAYER}').__marker = 'same'; }}")
        start = await player_facts(page)

        await page.click(f"a[href='{path}/community']")
        await page.wait_for_url(base_url + path + "/community")
        await page.click(f"a[href='{path}/community/first']")
        await page.wait_for_url(base_url + path + "/community/first")
        await page.wait_for_selector("#chat-text-com:not([disabled])", timeout=15000)
        await say(page, "com", "Written with the player docked")
        assert (await moderator.expect("message", room=pages.room(first)))["text"] == "Written with the player docked"
        await moderator.send({"type": "send", "room": pages.room(first), "text": "Seen", "client_id": "m1"})
        await page.locator("#chat-pane-com .chat-text", has_text="Seen").wait_for(timeout=10000)
        facts = await player_facts(page)
        assert facts == {**start, "docked": True, "anchored": False}
        await screenshot(page, "community-page-docked-player-desktop")

        # Another page's discussion: the first room is left, the second joined.
        await page.click(f"a[href='{path}/community/second']")
        await page.wait_for_url(base_url + path + "/community/second")
        await page.wait_for_selector("#chat-text-com:not([disabled])", timeout=15000)
        await say(page, "com", "On the second page")
        assert (await moderator.expect("message", room=pages.room(second)))["text"] == "On the second page"
        await moderator.send({"type": "send", "room": pages.room(first), "text": "Not for here", "client_id": "m2"})
        await moderator.send({"type": "send", "room": pages.room(second), "text": "For here", "client_id": "m3"})
        await page.locator("#chat-pane-com .chat-text", has_text="For here").wait_for(timeout=10000)
        assert await page.locator("#chat-pane-com .chat-text", has_text="Not for here").count() == 0

        # Back to the event page: the same player, the event chat alive, still one socket.
        await page.click("#player-dock .player-dock-back")
        await page.wait_for_url(base_url + path)
        await page.wait_for_selector("#player .player-slot")
        assert await player_facts(page) == start
        await page.wait_for_selector("#chat-text-pub:not([disabled])")
        assert len(sockets) == 1
