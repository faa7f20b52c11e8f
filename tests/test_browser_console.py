"""In Chromium: the moderator and commentator console (admin/console.html) against real attendees."""
import asyncio

import pytest

from access import roles as R
from chat import room_names
from tests.browser import check_accessibility, chromium, screenshot, signed_in_page
from tests.test_moderation import joined
from tests.test_questions import with_schedule
from tests.test_realtime import live

HOSTILE_NAME = '<img src=x onerror="window.__xss=1">Anna'


async def attendee(factory, browser, base_url, event, locale="ru", name=None):
    user = await factory.member(R.ATTENDEE, event=event, locale=locale, name=name)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    client, _, _ = await live(base_url, b, event)
    return user, client


def console_path(event) -> str:
    return f"/admin/events/{event['_id']}/console"


def room_button(room: str) -> str:
    return f'button[data-room="{room}"]'


async def both_widths(page, name):
    await screenshot(page, f"{name}-desktop")
    await page.set_viewport_size({"width": 375, "height": 800})
    await screenshot(page, f"{name}-phone")
    await page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.gen_test(timeout=120)
async def test_commentator_sees_support_room_unread_reads_it_and_replies(factory, browser, base_url, db,
                                                                          http_server):
    event = await with_schedule(factory)
    commentator = await factory.member(R.COMMENTATOR, event=event, locales=["ru"], locale="ru",
                                       name="Olga Commentator")
    user, a = await attendee(factory, browser, base_url, event, name=HOSTILE_NAME)
    public = room_names.public_room(event["_id"], "ru")
    support = room_names.support_room(event["_id"], "ru", user["_id"])
    await joined(a, support)
    async with chromium() as chrome:
        page = await signed_in_page(chrome, base_url, commentator["login"], factory.PASSWORD)
        await page.goto(base_url + console_path(event))
        await page.wait_for_selector(room_button(public))
        # Only the rooms of the commentator's language: no other public room.
        assert await page.locator("#console-room-list button").count() == 1

        text = 'Нет звука <b>help</b> <img src=x onerror="window.__xss=1">'
        await a.send({"type": "send", "room": support, "text": text, "client_id": "s1", "ref": "s1"})
        offset = (await a.expect("ack", ref="s1"))["offset"]
        # The support room shows up at once (a `support` frame, no polling), with its unread count.
        button = await page.wait_for_selector(room_button(support) + '[data-unread="1"]', timeout=3000)
        assert HOSTILE_NAME in await button.inner_text()
        assert await page.is_visible(room_button(support) + " .console-unread")

        await button.click()
        item = await page.wait_for_selector(f'#console-feed li.console-msg[data-offset="{offset}"]')
        assert await (await item.query_selector(".console-msg-text")).text_content() == text
        assert await (await item.query_selector(".console-msg-author")).text_content() == HOSTILE_NAME
        await page.wait_for_selector(room_button(support) + '[data-unread="0"]')
        assert not await page.is_visible(room_button(support) + " .console-unread")
        assert await page.evaluate("window.__xss") is None
        # The read position is stored on the server: a fresh page shows nothing unread.
        await page.reload()
        await page.wait_for_selector(room_button(support) + '[data-unread="0"]')

        await page.click(room_button(support))
        await page.wait_for_selector(f'#console-feed li.console-msg[data-offset="{offset}"]')
        await page.fill("#console-reply", "Проверьте громкость, пожалуйста.")
        await page.press("#console-reply", "Enter")
        reply = await a.expect("message", room=support, timeout=10)
        if reply["offset"] == offset:  # the attendee's own message, echoed
            reply = await a.expect("message", room=support, timeout=10)
        assert reply["text"] == "Проверьте громкость, пожалуйста."
        assert reply["user"]["id"] == str(commentator["_id"])
        assert await page.input_value("#console-reply") == ""
        await page.wait_for_selector(f'#console-feed li.console-msg[data-offset="{reply["offset"]}"]')
        # The feed is a log holding a real list: its messages are not orphaned list items.
        role = await page.evaluate("() => [document.getElementById('console-feed-box').getAttribute('role'),"
                                   " document.getElementById('console-feed').getAttribute('role')]")
        assert role == ["log", None]
        await check_accessibility(page, "support room with messages")
        await both_widths(page, "console-commentator")
    a.close()


@pytest.mark.gen_test(timeout=120)
async def test_moderator_deletes_sanctions_and_runs_the_questions_queue(factory, browser, base_url, db,
                                                                         services, http_server):
    event = await with_schedule(factory)
    moderator = await factory.member(R.MODERATOR, event=event, locale="en", name="Max Moderator")
    user, a = await attendee(factory, browser, base_url, event, name="Anna")
    _, b = await attendee(factory, browser, base_url, event, locale="de", name="Bernd")
    public = room_names.public_room(event["_id"], "ru")
    await joined(a, public)
    async with chromium() as chrome:
        page = await signed_in_page(chrome, base_url, moderator["login"], factory.PASSWORD)
        dialogs, accepting = [], set()

        def on_dialog(dialog):
            dialogs.append(dialog.message)
            task = asyncio.ensure_future(dialog.accept())
            accepting.add(task)
            task.add_done_callback(accepting.discard)
        page.on("dialog", on_dialog)
        await page.goto(base_url + console_path(event))
        # A moderator serves every language's public room.
        for loc in event["locales"]:
            await page.wait_for_selector(room_button(room_names.public_room(event["_id"], loc)))
        await page.click(room_button(public))
        await page.wait_for_selector("#console-feed li.console-note")

        await a.send({"type": "send", "room": public, "text": "buy cheap stuff", "client_id": "m1", "ref": "m1"})
        offset = (await a.expect("ack", ref="m1"))["offset"]
        item = f'#console-feed li.console-msg[data-offset="{offset}"]'
        await page.wait_for_selector(item)
        # The actions show while the message is pointed at (or focused), not permanently.
        assert await page.is_hidden(item + ' button[data-focus^="del:"]')
        await page.hover(item)
        await page.click(item + ' button[data-focus^="del:"]')
        gone = await a.expect("message", room=public, kind="delete", timeout=10)
        assert gone["target"] == offset
        assert dialogs == [services.i18n.gettext("en")("Delete this message for everyone?")]
        await page.wait_for_selector(item + ".is-deleted")

        # Mute the author for an hour, from the message's own controls, with the keyboard.
        await a.send({"type": "send", "room": public, "text": "again!", "client_id": "m2", "ref": "m2"})
        offset = (await a.expect("ack", ref="m2"))["offset"]
        item = f'#console-feed li.console-msg[data-offset="{offset}"]'
        await page.hover(item)
        await page.click(item + ' button[data-focus^="sanction:"]')
        await page.wait_for_selector(item + " form.console-sanction")
        assert await page.evaluate("document.activeElement.id") == "console-sanction-minutes"
        await check_accessibility(page, "a message's sanction form open")
        await page.select_option("#console-sanction-minutes", "60")
        await page.click(item + ' button[data-kind="mute"]')
        muted = await a.expect("sanction", timeout=10)
        assert muted["kind"] == "mute" and muted["active"] is True
        # The form closes when the server's answer arrives (the status line was already green
        # from the deletion above, so it is no sign by itself).
        await page.wait_for_selector(item + " form.console-sanction", state="detached", timeout=10000)
        await page.wait_for_selector("#console-status.console-ok")

        await page.select_option("#console-slow", "30")
        await page.click("#console-slow-form button[type=submit]")
        settings = await a.expect("room_settings", room=public, timeout=10)
        assert settings["slow_mode"] == 30

        # A pending question reaches the queue; approving it publishes it to attendees.
        await a.send({"type": "ask", "item": "s1", "text": "Will the <slides> be shared?", "client_id": "q1",
                      "ref": "q1"})
        question = (await a.expect("ack", ref="q1"))["question"]
        entry = f'#console-q-pending li[data-question="{question["id"]}"]'
        await page.wait_for_selector(entry)
        assert await page.text_content(entry + " .console-question-text") == "Will the <slides> be shared?"
        assert "Talk 1 [en]" in await page.text_content(entry + " .console-question-meta")
        await check_accessibility(page, "a question waiting for moderation")
        await both_widths(page, "console-moderator")
        assert await page.text_content("#console-q-pending-count") == "1"
        await page.click(entry + ' button[data-focus$=":approved"]')
        published = await b.expect("question", id=question["id"], timeout=10)
        assert published["status"] == "approved" and published["text"] == "Will the <slides> be shared?"
        # It leaves the queue; the counts follow, and the "Approved" view lists it.
        await page.wait_for_function("() => document.getElementById('console-q-pending-count').textContent === '0'")
        assert await page.locator(entry).count() == 0
        assert await page.text_content("#console-q-approved-count") == "1"
        approved = f'#console-q-approved li[data-question="{question["id"]}"]'
        await page.click("#console-q-filter-approved")
        assert await page.get_attribute("#console-q-filter-approved", "aria-pressed") == "true"
        assert await page.is_hidden("#console-q-pending-box")
        await page.click(approved + ' button[data-focus$=":answered"]')
        assert (await b.expect("question", id=question["id"], timeout=10))["status"] == "answered"
        answered = f'#console-q-answered li[data-question="{question["id"]}"]'
        await page.wait_for_selector(answered, state="attached")
        await page.click("#console-q-filter-answered")
        # Moved back by mistake? Back to approved, then rejected; and approved again from there.
        await page.click(answered + ' button[data-focus$=":approved"]')
        assert (await b.expect("question", id=question["id"], timeout=10))["status"] == "approved"
        await page.click("#console-q-filter-approved")
        await page.click(approved + ' button[data-focus$=":rejected"]')
        assert (await b.expect("question", id=question["id"], timeout=10))["status"] == "rejected"
        await page.wait_for_function("() => document.getElementById('console-q-rejected-count').textContent === '1'")
        await page.click("#console-q-filter-rejected")
        rejected = f'#console-q-rejected li[data-question="{question["id"]}"]'
        await page.wait_for_selector(rejected)
        await check_accessibility(page, "rejected questions shown")
        await screenshot(page, "console-questions-desktop")
        await page.set_viewport_size({"width": 375, "height": 800})
        await screenshot(page, "console-questions-phone")
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.click(rejected + ' button[data-focus$=":approved"]')
        assert (await b.expect("question", id=question["id"], timeout=10))["status"] == "approved"
        await page.wait_for_function("() => document.getElementById('console-q-rejected-count').textContent === '0'")
        assert await page.text_content("#console-status") == services.i18n.gettext("en")("The question is approved.")
        assert await page.is_hidden("#console-status.console-error")
    a.close()
    b.close()


@pytest.mark.gen_test
async def test_console_page_access(factory, browser, base_url):
    event = await factory.event()
    for role, status in ((R.COMMENTATOR, 200), (R.MODERATOR, 200), (R.SPEAKER, 403), (R.ATTENDEE, 403)):
        user = await factory.member(role, event=event, locales=["en"] if role == R.COMMENTATOR else [])
        b = browser()
        await b.sign_in(user["login"], factory.PASSWORD)
        response = await b.get(console_path(event))
        assert response.status_code == status, role
        if status == 200:
            assert 'id="console"' in response.text
            assert f'href="{console_path(event)}"' in response.text


FEED_STATE = """() => { const box = document.getElementById('console-feed-box');
  return {top: box.scrollTop, gap: box.scrollHeight - box.scrollTop - box.clientHeight,
          scrollable: box.scrollHeight > box.clientHeight, height: box.clientHeight,
          marker: document.getElementById('console-new-marker').hidden ? null
                  : document.getElementById('console-new-marker').textContent}; }"""


async def say(client, room, texts, prefix):
    """Sends the texts from a real live client; the offsets the server gave them, in order."""
    offsets = []
    for i, text in enumerate(texts):
        ref = f"{prefix}{i}"
        await client.send({"type": "send", "room": room, "text": text, "client_id": ref, "ref": ref})
        offsets.append((await client.expect("ack", ref=ref))["offset"])
    return offsets


AT_BOTTOM = """() => { const b = document.getElementById('console-feed-box');
  return b.scrollHeight - b.scrollTop - b.clientHeight < 2; }"""


def message(offset) -> str:
    return f'#console-feed li.console-msg[data-offset="{offset}"]'


@pytest.mark.gen_test(timeout=120)
async def test_feed_follows_new_messages_keeps_its_place_when_scrolled_up_and_is_run_by_keyboard(
        factory, browser, base_url, db, services, http_server):
    event = await with_schedule(factory)
    moderator = await factory.member(R.MODERATOR, event=event, locale="ru", name="Max Moderator")
    _, a = await attendee(factory, browser, base_url, event, name="Anna")
    _, b = await attendee(factory, browser, base_url, event, name="Boris")
    public = room_names.public_room(event["_id"], "ru")
    await joined(a, public)
    await joined(b, public)
    _ = services.i18n.gettext("ru")
    async with chromium() as chrome:
        page = await signed_in_page(chrome, base_url, moderator["login"], factory.PASSWORD)
        dialogs, accepting = [], set()

        def on_dialog(dialog):
            dialogs.append(dialog.message)
            task = asyncio.ensure_future(dialog.accept())
            accepting.add(task)
            task.add_done_callback(accepting.discard)
        page.on("dialog", on_dialog)
        await page.goto(base_url + console_path(event))
        await page.click(room_button(public))
        await page.wait_for_selector("#console-feed li.console-note")

        # A busy room: the feed fills with messages from two attendees and stays on the newest.
        offsets = []
        for i in range(8):
            offsets += await say(a, public, [f"Анна {i}: " + "слово " * 12], f"a{i}-")
            offsets += await say(b, public, [f"Борис {i}"], f"b{i}-")
        await page.wait_for_selector(message(offsets[-1]))
        await page.wait_for_function(AT_BOTTOM)
        state = await page.evaluate(FEED_STATE)
        assert state["scrollable"] and state["marker"] is None
        # The feed is tall: most of the window, not a small box.
        assert state["height"] > 0.45 * 900, state
        # Actions are not shown permanently.
        assert await page.is_hidden(message(offsets[-1]) + ' button[data-focus^="del:"]')

        # Scrolled up to read: new messages neither move the view nor are lost; the marker counts them.
        await page.hover("#console-feed-box")
        await page.mouse.wheel(0, -250)
        await page.wait_for_function("() => document.getElementById('console-feed-box').scrollTop > 0"
                                     " && document.getElementById('console-feed-box').scrollHeight"
                                     " - document.getElementById('console-feed-box').scrollTop"
                                     " - document.getElementById('console-feed-box').clientHeight > 100")
        await page.wait_for_timeout(200)   # the scroll event has been handled
        before = await page.evaluate(FEED_STATE)
        more = await say(b, public, ["раз", "два", "три"], "more")
        await page.wait_for_selector(message(more[-1]))
        marker = _("New messages: %(count)s") % {"count": 3} + " \u2193"
        await page.wait_for_function("(text) => document.getElementById('console-new-marker').textContent === text",
                                     arg=marker)
        after = await page.evaluate(FEED_STATE)
        assert after["top"] == before["top"] and after["marker"] == marker
        assert await page.is_visible("#console-new-marker")

        # The marker jumps to the newest message and focuses it; following resumes.
        await page.click("#console-new-marker")
        await page.wait_for_function(AT_BOTTOM)
        assert (await page.evaluate(FEED_STATE))["marker"] is None
        assert await page.evaluate("document.activeElement.getAttribute('data-offset')") == str(more[-1])
        last = await say(a, public, ["четыре"], "last")
        await page.wait_for_selector(message(last[0]))
        await page.wait_for_function(AT_BOTTOM)
        assert (await page.evaluate(FEED_STATE))["marker"] is None

        # By keyboard: one message in the tab order, arrows move, the focused message shows its actions.
        assert await page.locator('#console-feed li.console-msg[tabindex="0"]').count() == 1
        # The focus stayed on the message the marker led to, though a newer one came since.
        await page.mouse.move(0, 0)   # no message is pointed at
        await page.keyboard.press("ArrowUp")
        target = more[-2]   # Boris: "два"
        assert await page.evaluate("document.activeElement.getAttribute('data-offset')") == str(target)
        assert await page.is_visible(message(target) + ' button[data-focus^="del:"]')
        assert await page.is_hidden(message(last[0]) + ' button[data-focus^="del:"]')
        await check_accessibility(page, "a message focused, its actions shown")
        # Enter goes into the actions: reply puts the author's name into the answer.
        await page.keyboard.press("Enter")
        assert await page.evaluate("document.activeElement.getAttribute('data-focus')") == f"reply:{target}"
        await page.keyboard.press("Enter")
        assert await page.input_value("#console-reply") == "@Boris, "
        assert await page.evaluate("document.activeElement.id") == "console-reply"
        # Back to the message (Shift+Tab from the answer leaves the feed; the roving message is still Boris's).
        await page.fill("#console-reply", "")
        await page.focus(message(target))
        await page.keyboard.press("Enter")
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.getAttribute('data-focus')") == f"del:{target}"
        await page.keyboard.press("Enter")   # deletion is still confirmed
        gone = await a.expect("message", room=public, kind="delete", timeout=10)
        assert gone["target"] == target
        assert dialogs == [_("Delete this message for everyone?")]
        await page.wait_for_selector(message(target) + ".is-deleted")
        # The deleted message keeps the focus, and Escape from an action returns to the message.
        assert await page.evaluate("document.activeElement.getAttribute('data-offset')") == str(target)
        await page.keyboard.press("ArrowUp")
        await page.keyboard.press("Enter")
        await page.keyboard.press("Escape")
        assert await page.evaluate("document.activeElement.getAttribute('data-offset')") == str(more[0])
        await screenshot(page, "console-feed-keyboard-desktop")
        # Scrolled up, the moderator's own answer brings the feed back to the newest message.
        await page.eval_on_selector("#console-feed-box", "b => { b.scrollTop = 0; }")
        await page.wait_for_function("() => !document.getElementById('console-feed-box').scrollTop")
        await page.fill("#console-reply", "Спасибо всем!")
        await page.press("#console-reply", "Enter")
        mine = await a.expect("message", room=public, text="Спасибо всем!", timeout=10)
        await page.wait_for_selector(message(mine["offset"]))
        await page.wait_for_function(AT_BOTTOM)
    a.close()
    b.close()


PAGE_WIDTH = "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"


@pytest.mark.parametrize("locale", ["ru", "de", "he"])
@pytest.mark.gen_test(timeout=150)
async def test_console_on_desktop_and_phone_announces_support_and_keeps_filters(
        locale, factory, browser, base_url, db, services, http_server):
    event = await with_schedule(factory, locales=("ru", "de", "he"))
    moderator = await factory.member(R.MODERATOR, event=event, locale=locale, name="Max Moderator")
    user, a = await attendee(factory, browser, base_url, event, locale=locale, name="Anna")
    _, b = await attendee(factory, browser, base_url, event, locale=locale, name="Bernd")
    public = room_names.public_room(event["_id"], locale)
    support = room_names.support_room(event["_id"], locale, user["_id"])
    await joined(a, public, support)
    _ = services.i18n.gettext(locale)
    async with chromium() as chrome:
        page = await signed_in_page(chrome, base_url, moderator["login"], factory.PASSWORD)
        await page.goto(base_url + console_path(event))
        await page.wait_for_selector(room_button(public))
        await page.click(room_button(public))
        await page.wait_for_selector("#console-feed li.console-note")
        for i in range(3):
            await say(a, public, [f"Anna {i}"], f"p{i}")
        # Enough questions to need scrolling: the list scrolls inside its column.
        for i, client in enumerate([a, b] * 6):
            await client.send({"type": "ask", "item": "s1", "text": f"Question {i}: " + "why " * 15,
                               "client_id": f"q{i}", "ref": f"q{i}"})
            await client.expect("ack", ref=f"q{i}")
        await page.wait_for_function("() => document.getElementById('console-q-pending-count').textContent === '12'")

        # A new support conversation is announced at once: a polite live region and a visible notice.
        await a.send({"type": "send", "room": support, "text": "Hilfe! / Помогите / עזרה",
                      "client_id": "s1", "ref": "s1"})
        await a.expect("ack", ref="s1")
        await page.wait_for_selector(room_button(support))
        names = await page.evaluate("() => JSON.parse(document.getElementById('console').dataset.languages)")
        announced = _("New support conversation: %(name)s (%(language)s)") % {"name": "Anna",
                                                                              "language": names[locale]}
        await page.wait_for_function("(t) => document.getElementById('console-announce').textContent === t",
                                     arg=announced)
        assert await page.get_attribute("#console-announce", "aria-live") == "polite"
        assert await page.text_content("#console-toast-text") == announced
        assert await page.is_visible("#console-toast")
        assert await page.is_visible(room_button(support) + " .console-new")
        await check_accessibility(page, "a new support conversation announced")
        await screenshot(page, f"console-{locale}-desktop")
        # Side by side on a wide screen: no tabs, the questions column beside the feed.
        assert await page.is_hidden("#console-tabs")
        feed = await page.locator("#console-feed-box").bounding_box()
        questions = await page.locator("#questions").bounding_box()
        assert questions["y"] < feed["y"] + feed["height"] and (questions["x"] >= feed["x"] + feed["width"]
                                                               or questions["x"] + questions["width"] <= feed["x"])
        await page.click("#console-toast-open")
        await page.wait_for_selector(room_button(support) + '[aria-current="true"]')
        assert await page.is_hidden("#console-toast")
        assert await page.locator(room_button(support) + " .console-new").is_hidden()

        # Filters: one language and only unread rooms; they and the open room survive a reload.
        await page.select_option("#console-language", locale)
        await page.check("#console-unread-only")
        await page.click("#console-q-filter-pending")
        await page.reload()
        await page.wait_for_selector(room_button(support) + '[aria-current="true"]')
        assert await page.input_value("#console-language") == locale
        assert await page.is_checked("#console-unread-only")
        # Only the open room is left: the other rooms have nothing unread, or another language.
        listed = await page.eval_on_selector_all("#console-room-list button", "bs => bs.map(b => b.dataset.room)")
        assert listed == [support]

        # A phone: nothing wider than the screen; Chat and Questions are tabs.
        await page.set_viewport_size({"width": 375, "height": 812})
        await page.evaluate("window.scrollTo(0, 0)")
        assert await page.evaluate(PAGE_WIDTH) <= 375
        assert await page.is_visible("#console-tab-chat")
        assert await page.is_hidden("#questions")
        assert await page.text_content("#console-tab-questions-count") == "12"
        await check_accessibility(page, "the chat tab on a phone")
        await screenshot(page, f"console-{locale}-phone")
        # The filters stay in view while the page scrolls (under the menu, on a phone).
        await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        bar = await page.locator("#console-toolbar").bounding_box()
        assert 0 <= bar["y"] < 2 and await page.is_visible("#console-language"), bar
        await page.evaluate("window.scrollTo(0, 0)")
        height = await page.evaluate("document.documentElement.scrollHeight")
        await page.click("#console-tab-questions")
        assert await page.get_attribute("#console-tab-questions", "aria-selected") == "true"
        assert await page.get_attribute("#questions", "role") == "tabpanel"
        await page.wait_for_selector("#console-q-pending li.console-question >> nth=11")
        assert await page.is_hidden("#console-chat")
        # Twelve long questions scroll inside the column: the page is no taller than with the chat.
        panel = await page.evaluate("() => { const p = document.getElementById('console-q-pending-box');"
                                    " return [p.scrollHeight, p.clientHeight]; }")
        assert panel[0] > panel[1], panel
        assert await page.evaluate("document.documentElement.scrollHeight") <= height + 40
        assert await page.evaluate(PAGE_WIDTH) <= 375
        await check_accessibility(page, "the questions tab on a phone")
        await screenshot(page, f"console-{locale}-phone-questions")
        # The arrow keys move between the tabs (mirrored right to left).
        back = "ArrowRight" if locale == "he" else "ArrowLeft"
        await page.keyboard.press(back)
        assert await page.evaluate("document.activeElement.id") == "console-tab-chat"
        assert await page.is_visible("#console-chat")
    a.close()
    b.close()
