"""In Chromium: the chat and support tabs of the event page, against real staff clients."""
import asyncio

import pytest

from access import roles as R
from chat import room_names, store
from events import view
from tests.browser import check_accessibility, chromium, screenshot, signed_in_page
from tests.test_realtime import live, person, seeded

XSS = "<img src=x onerror=window.__xss=1>"


async def open_event(browser, base_url, factory, space, event, user, width=1280):
    page = await signed_in_page(browser, base_url, user["login"], factory.PASSWORD, width=width)
    await page.goto(base_url + view.path(space, event))
    # The form opens once the public room is joined, on the first load.
    await page.wait_for_selector("#chat-text-pub:not([disabled])", timeout=10000)
    return page


async def send(page, kind, text):
    await page.fill(f"#chat-text-{kind}", text)
    await page.press(f"#chat-text-{kind}", "Enter")


async def joined(client, rooms):
    for room in rooms:
        await client.send({"type": "join", "room": room})
        await client.expect("joined", room=room)


@pytest.mark.gen_test(timeout=120)
async def test_chat_reaches_the_commentator_and_a_deletion_leaves_the_page(factory, browser, base_url, services):
    event = await seeded(factory, locales=("ru", "en", "he"))
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    attendee = await factory.member(R.ATTENDEE, event=event, locale="ru", name=XSS)
    _, cb = await person(factory, browser, event, role=R.COMMENTATOR, locale="en", locales=["ru"])
    _, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    commentator, com_welcome, _ = await live(base_url, cb, event)
    moderator, _, _ = await live(base_url, mb, event)
    room = room_names.public_room(event["_id"], "ru")
    support = room_names.support_room(event["_id"], "ru", attendee["_id"])
    await joined(commentator, [room, support])
    await joined(moderator, [room])

    async with chromium() as chrome:
        page = await open_event(chrome, base_url, factory, space, event, attendee)
        # The page speaks Russian; labels are translated server-side.
        assert await page.get_attribute("html", "lang") == "ru"
        assert await page.locator("label[for=chat-text-pub]").is_visible()
        assert await page.locator("#chat-tab-sup").is_visible()

        await send(page, "pub", "Привет всем\nвторая строка")
        got = await commentator.expect("message", room=room)
        assert got["text"] == "Привет всем\nвторая строка" and got["user"]["name"] == XSS
        own = page.locator(f"#chat-pane-pub li.chat-msg[data-offset='{got['offset']}']")
        await own.wait_for()
        assert "own" in (await own.get_attribute("class"))
        assert await own.locator(".chat-text").inner_text() == "Привет всем\nвторая строка"
        # The textarea is emptied for the next message.
        assert await page.input_value("#chat-text-pub") == ""

        # A payload as message and as display name stays text.
        await send(page, "pub", XSS)
        bad = await commentator.expect("message", room=room, text=XSS)
        item = page.locator(f"#chat-pane-pub li.chat-msg[data-offset='{bad['offset']}']")
        await item.wait_for()
        assert await item.locator(".chat-text").inner_text() == XSS
        assert await item.locator(".chat-name").inner_text() == XSS
        assert await page.locator("#chat img").count() == 0
        await page.wait_for_timeout(300)
        assert await page.evaluate("typeof window.__xss") == "undefined"

        # Others' messages arrive live; the moderator deletes one and it disappears.
        await commentator.send({"type": "send", "room": room, "text": "Добро пожаловать", "client_id": "w1"})
        welcome_msg = await moderator.expect("message", room=room, text="Добро пожаловать")
        welcome_item = page.locator(f"#chat-pane-pub li.chat-msg[data-offset='{welcome_msg['offset']}']")
        await welcome_item.wait_for()
        assert await welcome_item.locator(".chat-team").count() == 1
        await moderator.send({"type": "delete", "room": room, "offset": got["offset"], "ref": "d"})
        await moderator.expect("ack", ref="d")
        await own.wait_for(state="detached", timeout=10000)
        assert await welcome_item.is_visible()

        # The support tab: a private line to the commentator of the language.
        await page.click("#chat-tab-sup")
        assert await page.get_attribute("#chat-tab-sup", "aria-selected") == "true"
        assert await page.locator("#chat-pane-pub").is_hidden()
        await page.wait_for_selector("#chat-text-sup:not([disabled])")
        await send(page, "sup", "Нет звука")
        help_msg = await commentator.expect("message", room=support)
        assert help_msg["text"] == "Нет звука" and help_msg["user"]["id"] == str(attendee["_id"])
        # Moderators hear that the conversation has news (`support`), not its messages.
        assert not [f for f in await moderator.quiet() if f.get("room") == support and f["type"] != "support"]
        # The commentator answers; a public message meanwhile marks the Chat tab unread.
        await commentator.send({"type": "send", "room": support, "text": "Обновите страницу", "client_id": "a1"})
        await page.locator("#chat-pane-sup .chat-text", has_text="Обновите страницу").wait_for()
        await commentator.send({"type": "send", "room": room, "text": "Начинаем", "client_id": "w2"})
        await page.wait_for_selector("#chat-tab-pub .chat-unread:not([hidden])")
        assert await page.locator("#chat-tab-pub .chat-unread [aria-hidden]").inner_text() == "1"
        await screenshot(page, "event-chat-support-ru-desktop")
        # Keyboard: arrow keys move between the tabs; opening a tab clears its badge.
        await page.focus("#chat-tab-sup")
        await page.keyboard.press("ArrowLeft")
        assert await page.evaluate("document.activeElement.id") == "chat-tab-pub"
        assert await page.locator("#chat-tab-pub .chat-unread").is_hidden()
        assert await page.evaluate("typeof window.__xss") == "undefined"

        # A reload brings the history back (the deleted message stays gone).
        await page.reload()
        await page.wait_for_selector(f"#chat-pane-pub li.chat-msg[data-offset='{bad['offset']}']")
        assert await page.locator(f"#chat-pane-pub li.chat-msg[data-offset='{got['offset']}']").count() == 0
        await page.wait_for_selector("#chat-pane-sup li.chat-msg", state="attached")
        assert await page.locator("#chat-pane-sup li.chat-msg").count() == 2
        assert await page.evaluate("typeof window.__xss") == "undefined"


@pytest.mark.gen_test(timeout=120)
async def test_chat_errors_limits_and_earlier_messages(factory, browser, base_url, services):
    event = await seeded(factory, locales=("ru", "he"))
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    attendee = await factory.member(R.ATTENDEE, event=event, locale="ru")
    mod_user, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    moderator, _, _ = await live(base_url, mb, event)
    room = room_names.public_room(event["_id"], "ru")
    await joined(moderator, [room])
    # More than one page of history: "Load earlier" fetches the rest.
    for i in range(60):
        await store.post(services.db, room=room, event_id=str(event["_id"]), user=mod_user, role=R.MODERATOR,
                         text=f"m{i}", client_id=f"m{i}")
    gettext = services.i18n.gettext("ru")

    async with chromium() as chrome:
        page = await open_event(chrome, base_url, factory, space, event, attendee, width=375)
        await page.wait_for_selector("#chat-pane-pub li.chat-msg")
        assert await page.locator("#chat-pane-pub li.chat-msg").count() == 50
        earlier = page.locator("#chat-pane-pub .chat-earlier")
        assert await earlier.is_visible()
        await earlier.click()
        await page.wait_for_function("() => document.querySelectorAll('#chat-pane-pub li.chat-msg').length === 60")
        assert await earlier.is_hidden()
        assert await page.locator("#chat-pane-pub li.chat-msg .chat-text").first.inner_text() == "m0"
        # A long conversation scrolls inside its box: the keyboard reaches it too.
        await check_accessibility(page, "60 messages in the chat")

        # The limit: the box takes at most 2000 characters and the counter says so.
        assert await page.get_attribute("#chat-text-pub", "maxlength") == "2000"
        await page.fill("#chat-text-pub", "x" * 2000)
        assert await page.locator("#chat-pane-pub .chat-count").inner_text() == "2000 / 2000"
        # Shift+Enter adds a line instead of sending.
        await page.fill("#chat-text-pub", "a")
        await page.press("#chat-text-pub", "Shift+Enter")
        assert await page.input_value("#chat-text-pub") == "a\n"

        # Slow mode refuses the second message; the text comes back with a translated reason.
        await moderator.send({"type": "slow_mode", "room": room, "seconds": 60, "ref": "s"})
        await moderator.expect("ack", ref="s")
        await page.wait_for_selector("#chat-pane-pub .chat-info:not([hidden])")
        await send(page, "pub", "первое")
        await moderator.expect("message", room=room, text="первое")
        await send(page, "pub", "второе")
        error = page.locator("#chat-pane-pub .chat-error")
        await error.wait_for()
        text = await error.inner_text()
        assert text.startswith(gettext("Slow mode is on: wait %(seconds)s s before sending again.")
                               .split("%(seconds)s")[0])
        assert await page.input_value("#chat-text-pub") == "второе"
        assert await page.is_disabled("#chat-pane-pub button[type=submit]")
        await screenshot(page, "event-chat-slow-mode-ru-phone")

        # Muted: the reason is shown, nothing is posted.
        await moderator.send({"type": "slow_mode", "room": room, "seconds": 0, "ref": "s0"})
        await moderator.expect("ack", ref="s0")
        await page.wait_for_selector("#chat-pane-pub .chat-info", state="hidden")
        await page.wait_for_selector("#chat-pane-pub .chat-error", state="hidden")
        await moderator.send({"type": "mute", "user": str(attendee["_id"]), "minutes": 5, "ref": "mu"})
        await moderator.expect("ack", ref="mu")
        muted_prefix = gettext("You are muted in this chat until %(time)s.").split("%(time)s")[0]
        muted = "p => document.querySelector('#chat-pane-pub .chat-error').textContent.startsWith(p)"
        await page.wait_for_function(muted, arg=muted_prefix)
        # The send itself is refused too: the notice comes back and so does the text.
        await page.evaluate("document.querySelector('#chat-pane-pub .chat-error').textContent = ''")
        await page.fill("#chat-text-pub", "можно?")
        await page.press("#chat-text-pub", "Enter")
        await page.wait_for_function(muted, arg=muted_prefix)
        assert await page.input_value("#chat-text-pub") == "можно?"
        assert not [f for f in await moderator.quiet(0.5) if f.get("type") == "message"]


@pytest.mark.gen_test(timeout=120)
async def test_chat_screenshots_in_ru_and_he(factory, browser, base_url, services):
    event = await seeded(factory, locales=("ru", "he"))
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    # One account per page: the same account on two browsers would be a device takeover.
    people = {(loc, width): await factory.member(R.ATTENDEE, event=event, locale=loc)
              for loc in ("ru", "he") for width in (375, 1280)}
    _, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    moderator, _, _ = await live(base_url, mb, event)
    texts = {"ru": ["Добрый день! Трансляция начнётся через пять минут.", "Слайды будут доступны после доклада."],
             "he": ["ערב טוב! השידור יתחיל בעוד חמש דקות.", "המצגת תהיה זמינה אחרי ההרצאה."]}
    for loc, lines in texts.items():
        room = room_names.public_room(event["_id"], loc)
        await joined(moderator, [room])
        for i, line in enumerate(lines):
            await moderator.send({"type": "send", "room": room, "text": line, "client_id": f"{loc}{i}"})
            await moderator.expect("ack", client_id=f"{loc}{i}")

    async with chromium() as chrome:
        for loc in ("ru", "he"):
            for width, name in ((375, "phone"), (1280, "desktop")):
                user = people[(loc, width)]
                page = await open_event(chrome, base_url, factory, space, event, user, width=width)
                await page.wait_for_selector("#chat-pane-pub li.chat-msg")
                await send(page, "pub", {"ru": "Спасибо, ждём!", "he": "תודה, מחכים!"}[loc])
                await page.wait_for_selector("#chat-pane-pub li.chat-msg.own")
                assert await page.get_attribute("html", "dir") == ("rtl" if loc == "he" else "ltr")
                # The panel fits the phone's width: nothing scrolls sideways.
                assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
                await screenshot(page, f"event-chat-{loc}-{name}")
                await page.context.close()


@pytest.mark.gen_test(timeout=60)
async def test_chat_opens_when_its_script_arrives_after_the_first_frames(factory, browser, base_url, services):
    """The live client starts only after every deferred script of the page has run.

    On a loaded machine chat.js can arrive after the socket has opened and the
    rooms were joined; its form then stayed disabled for good. Holding chat.js
    back makes that order certain.
    """
    event = await seeded(factory, locales=("ru",))
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    attendee = await factory.member(R.ATTENDEE, event=event, locale="ru")
    async with chromium() as chrome:
        page = await signed_in_page(chrome, base_url, attendee["login"], factory.PASSWORD)

        async def late(route):
            await asyncio.sleep(1.5)
            await route.continue_()
        await page.route("**/static/js/chat.js*", late)
        await page.goto(base_url + view.path(space, event))
        await page.wait_for_selector("#chat-text-pub:not([disabled])", timeout=10000)
        await send(page, "pub", "первый")
        await page.wait_for_selector("#chat-pane-pub li.chat-msg.own")
        await page.click("#chat-tab-sup")
        await page.wait_for_selector("#chat-text-sup:not([disabled])")


@pytest.mark.gen_test(timeout=120)
async def test_a_busy_rooms_combined_messages_frame_shows_every_message(factory, browser, base_url, services):
    """In a big room the server sends a window's messages as one `messages` frame."""
    services.hub.combine_members = 1   # this room is small: combine as a big one would
    event = await seeded(factory, locales=("ru", "en"))
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    attendee = await factory.member(R.ATTENDEE, event=event, locale="ru")
    _, sb = await person(factory, browser, event, role=R.ATTENDEE, locale="ru")
    sender, _, _ = await live(base_url, sb, event)
    room = room_names.public_room(event["_id"], "ru")
    await joined(sender, [room])
    async with chromium() as chrome:
        page = await open_event(chrome, base_url, factory, space, event, attendee)
        for i in range(8):
            await sender.send({"type": "send", "room": room, "text": f"пачка {i}", "client_id": f"b{i}"})
        for i in range(8):
            await sender.expect("ack", client_id=f"b{i}")
        await page.wait_for_function(
            "() => document.querySelectorAll('#chat-pane-pub .chat-list li').length >= 8", timeout=10000)
        texts = await page.eval_on_selector_all("#chat-pane-pub .chat-list li .chat-text", "els => els.map(e => e.textContent)")
        assert [t for t in texts if t.startswith("пачка")] == [f"пачка {i}" for i in range(8)]
    await sender.quiet(0.5)
    assert getattr(sender, "combined", 0) >= 1   # the sender (a room member) got at least one combined frame
