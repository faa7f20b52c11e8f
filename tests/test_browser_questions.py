"""In Chromium: questions to speakers, "add to my programme" and the live state
banner on the event page, driven live by a moderator's WebSocket and by
events.control.apply."""
import datetime

import pytest

from access import roles as R
from events import control, view
from tests.browser import check_accessibility, chromium, screenshot, signed_in_page
from tests.test_realtime import live, person, seeded

UTC = datetime.UTC
XSS = "<img src=x onerror=window.__xss=1>"


async def with_schedule(factory, locales=("ru", "de", "he")):
    """An event whose open day has a session running now and one later."""
    event = await seeded(factory, locales=locales)
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    schedule = [
        {"id": "past", "day_id": "d1", "title": {c: f"Morning [{c}]" for c in locales}, "speaker": "Ola",
         "starts_at": now - datetime.timedelta(hours=3), "ends_at": now - datetime.timedelta(hours=2)},
        {"id": "now", "day_id": "d1", "title": {"ru": "Доклад сейчас", "de": "Vortrag jetzt", "he": "הרצאה עכשיו"},
         "speaker": "Anna", "starts_at": now - datetime.timedelta(minutes=10),
         "ends_at": now + datetime.timedelta(minutes=50)},
        {"id": "later", "day_id": "d1", "title": {"ru": "Потом", "de": "Später", "he": "אחר כך"}, "speaker": "",
         "starts_at": now + datetime.timedelta(hours=2), "ends_at": None},
    ]
    await factory.db.events.update_one({"_id": event["_id"]},
                                       {"$set": {"schedule": schedule, "broadcast.on": True}})
    return await factory.db.events.find_one({"_id": event["_id"]})


async def open_page(chrome, base_url, factory, space, event, user, width=1280):
    page = await signed_in_page(chrome, base_url, user["login"], factory.PASSWORD, width=width)
    await page.goto(base_url + view.path(space, event))
    # The question box opens once the socket is up.
    await page.wait_for_selector("#question-text:not([disabled])", state="attached", timeout=10000)
    await page.evaluate("window.__noReload = true")
    return page


def votes_text(services, locale, n):
    return services.i18n.gettext(locale)("Votes: %(count)s") % {"count": n}


@pytest.mark.gen_test(timeout=150)
async def test_ask_approve_vote_answer_live(factory, browser, base_url, services):
    event = await with_schedule(factory)
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    asker = await factory.member(R.ATTENDEE, event=event, locale="ru", name=XSS)
    voter = await factory.member(R.ATTENDEE, event=event, locale="de")
    _, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    moderator, _, _ = await live(base_url, mb, event)
    ru, de = services.i18n.gettext("ru"), services.i18n.gettext("de")

    async with chromium() as chrome:
        a = await open_page(chrome, base_url, factory, space, event, asker)
        b = await open_page(chrome, base_url, factory, space, event, voter, width=375)

        # The tab sits beside Chat and Support, reached with the arrow keys.
        assert await a.inner_text("#chat-tab-questions") == ru("Questions")
        await a.focus("#chat-tab-sup")
        await a.keyboard.press("ArrowRight")
        assert await a.evaluate("document.activeElement.id") == "chat-tab-questions"
        assert await a.get_attribute("#chat-tab-questions", "aria-selected") == "true"
        assert await a.locator("#chat-pane-pub").is_hidden()
        assert await a.locator("#chat-pane-questions").is_visible()
        await a.keyboard.press("Home")
        assert await a.get_attribute("#chat-tab-pub", "aria-selected") == "true"
        await a.keyboard.press("End")
        assert await a.get_attribute("#chat-tab-questions", "aria-selected") == "true"
        await b.click("#stage-tab-questions")  # a phone: the tab bar under the player
        # The session running now is chosen to begin with.
        assert await a.input_value("#question-item") == "now"
        assert await b.input_value("#question-item") == "now"
        assert await a.locator("#chat-pane-questions .question-empty").is_visible()

        # Ask: the counter follows, the box empties, the question waits for moderation.
        question = "Будут ли слайды? " + XSS
        await a.fill("#question-text", question)
        assert await a.inner_text("#chat-pane-questions .question-count") == f"{len(question)} / 500"
        await a.click("#chat-pane-questions button[type=submit]")
        got = await moderator.expect("question", status="pending")
        assert got["text"] == question and got["item"] == "now" and got["author"]["name"] == XSS
        qid = got["id"]
        mine = a.locator(f".question-list li[data-id='{qid}']")
        await mine.wait_for()
        assert await a.input_value("#question-text") == ""
        assert await mine.locator(".question-note").inner_text() == ru("Your question awaits moderation.")
        assert await mine.locator(".question-text").inner_text() == question
        assert await mine.locator(".chat-name").inner_text() == XSS
        assert await a.locator("#chat-pane-questions .question-notice").inner_text() == \
            ru("Your question was sent. Everyone sees it once a moderator approves it.")
        # Nobody else sees a pending question.
        await b.wait_for_timeout(500)
        assert await b.locator(f".question-list li[data-id='{qid}']").count() == 0
        await screenshot(a, "event-questions-pending-ru-desktop")
        await check_accessibility(a, "questions tab, own question pending")

        # Approved: both pages show it live; the author cannot vote for it.
        await moderator.send({"type": "moderate_question", "question": qid, "status": "approved", "ref": "m1"})
        await moderator.expect("ack", ref="m1")
        theirs = b.locator(f".question-list li[data-id='{qid}']")
        await theirs.wait_for(timeout=10000)
        await a.wait_for_selector(f".question-list li[data-id='{qid}'] .question-note", state="hidden")
        assert await mine.locator(".question-vote").is_hidden()
        assert await theirs.locator(".question-text").inner_text() == question
        assert await theirs.locator(".question-votes").inner_text() == votes_text(services, "de", 0)
        vote = theirs.locator(".question-vote")
        assert await vote.get_attribute("aria-pressed") == "false"
        assert await vote.inner_text() == de("Vote")

        # A vote: the toggle is pressed, and the count changes on both pages.
        await vote.click()
        await b.wait_for_function(
            f"() => document.querySelector(\".question-list li[data-id='{qid}'] .question-vote\").getAttribute('aria-pressed') === 'true'")
        await theirs.locator(".question-votes").filter(has_text=votes_text(services, "de", 1)).wait_for()
        await mine.locator(".question-votes").filter(has_text=votes_text(services, "ru", 1)).wait_for(timeout=10000)
        assert (await services.db.questions.find_one())["votes"] == 1
        await screenshot(b, "event-questions-voted-de-phone")
        await check_accessibility(b, "questions tab, a question voted for")
        # And back: unvote.
        await vote.click()
        await b.wait_for_function(
            f"() => document.querySelector(\".question-list li[data-id='{qid}'] .question-vote\").getAttribute('aria-pressed') === 'false'")
        await mine.locator(".question-votes").filter(has_text=votes_text(services, "ru", 0)).wait_for(timeout=10000)
        await vote.click()
        await mine.locator(".question-votes").filter(has_text=votes_text(services, "ru", 1)).wait_for(timeout=10000)

        # Another session shows its own (empty) list; back to the first.
        await b.select_option("#question-item", "later")
        await theirs.wait_for(state="detached")
        await b.select_option("#question-item", "now")
        await theirs.wait_for()

        # Answered: marked on both pages, no more votes.
        await moderator.send({"type": "moderate_question", "question": qid, "status": "answered", "ref": "m2"})
        await moderator.expect("ack", ref="m2")
        await theirs.locator(".question-status").filter(has_text=de("Answered")).wait_for(timeout=10000)
        await mine.locator(".question-status").filter(has_text=ru("Answered")).wait_for(timeout=10000)
        assert await theirs.locator(".question-vote").is_hidden()

        # A reload loads the list again (with the vote remembered on the server).
        await b.reload()
        await b.wait_for_selector("#question-text:not([disabled])", state="attached")
        await b.click("#stage-tab-questions")  # a phone: the tab bar under the player
        await theirs.wait_for()
        assert await theirs.locator(".question-votes").inner_text() == votes_text(services, "de", 1)

        # A question whose frame is lost with a dying connection is sent again
        # after the reconnect, once: the client keeps it until its ack.
        await b.evaluate("() => { Livehall.client.ws.send = function () {}; }")
        await b.fill("#question-text", "Lost on the way?")
        await b.click("#chat-pane-questions button[type=submit]")
        await b.wait_for_timeout(300)
        assert await services.db.questions.count_documents({"text": "Lost on the way?"}) == 0
        await b.evaluate("() => Livehall.client.ws.close()")
        resent = await moderator.expect("question", status="pending", text="Lost on the way?", timeout=15)
        await b.locator(f".question-list li[data-id='{resent['id']}'] .question-note").wait_for(timeout=10000)
        assert await services.db.questions.count_documents({"text": "Lost on the way?"}) == 1
        assert await b.evaluate("Object.keys(Livehall.client.unacked).length") == 0

        # Refusals come back translated, and the text returns to the box.
        await a.select_option("#question-item", "later")
        for n in range(10):
            await a.fill("#question-text", f"Вопрос {n}")
            await a.click("#chat-pane-questions button[type=submit]")
            await a.locator(".question-list li.question-pending").nth(n).wait_for()
        await a.fill("#question-text", "ещё один")
        await a.click("#chat-pane-questions button[type=submit]")
        error = a.locator("#chat-pane-questions .question-error")
        await error.wait_for()
        assert await error.inner_text() == ru(
            "%(count)s of your questions are already waiting for moderation. "
            "You can ask more once the moderators have handled them.") % {"count": 10}
        assert await a.input_value("#question-text") == "ещё один"
        await screenshot(a, "event-questions-refused-ru-desktop")
        assert await a.evaluate("typeof window.__xss") == "undefined"
        assert await a.locator("#chat-pane-questions img").count() == 0
        assert await a.evaluate("window.__noReload") is True


@pytest.mark.gen_test(timeout=150)
async def test_programme_toggle_and_live_banner(factory, browser, base_url, services):
    event = await with_schedule(factory)
    space = await services.db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    people = {(loc, w): await factory.member(R.ATTENDEE, event=event, locale=loc)
              for loc, w in (("de", 1280), ("he", 375))}
    async with chromium() as chrome:
        pages = {}
        for (loc, width), user in people.items():
            pages[loc] = await open_page(chrome, base_url, factory, space, event, user, width=width)
        de, he = pages["de"], pages["he"]
        tr = {loc: services.i18n.gettext(loc) for loc in pages}

        # Live: the banner says so.
        for loc, page in pages.items():
            assert await page.get_attribute("#live-banner", "data-kind") == "live"
            assert await page.inner_text("#live-banner .live-banner-text") == tr[loc]("LIVE")

        # "Add to my programme": toggles without a reload, lists the session, survives a reload.
        button = de.locator("#item-now .programme-button")
        assert await button.get_attribute("aria-pressed") == "false"
        assert await button.inner_text() == tr["de"]("Add to my programme")
        assert await de.locator("#programme .programme-empty").is_visible()
        await button.click()
        await de.wait_for_selector("#item-now .programme-button[aria-pressed=true]")
        await de.locator("#programme .programme-list li[data-item-id='now']").wait_for()
        assert await de.locator("#programme .programme-empty").is_hidden()
        assert await de.inner_text("#programme .programme-notice") == tr["de"]("Added to your programme.")
        await de.click("#item-later .programme-button")
        await de.locator("#programme .programme-list li[data-item-id='later']").wait_for()
        titles = await de.locator("#programme .programme-list .schedule-title").all_inner_texts()
        assert titles == ["Vortrag jetzt", "Später"]
        assert await de.evaluate("window.__noReload") is True
        await de.click("#item-later .programme-button")
        await de.locator("#programme .programme-list li[data-item-id='later']").wait_for(state="detached")
        assert await de.get_attribute("#item-later .programme-button", "aria-pressed") == "false"
        await screenshot(de, "event-programme-de-desktop")
        await de.reload()
        await de.wait_for_selector("#question-text:not([disabled])", state="attached")
        assert await de.get_attribute("#item-now .programme-button", "aria-pressed") == "true"
        assert await de.get_attribute("#item-later .programme-button", "aria-pressed") == "false"
        assert await de.locator("#programme .programme-list li").count() == 1
        await de.evaluate("window.__noReload = true")
        # The other attendee's page knows nothing of it.
        assert await he.get_attribute("#item-now .programme-button", "aria-pressed") == "false"
        await he.click("#stage-tab-programme")     # a phone: the schedule is in its tab under the player
        await he.click("#item-later .programme-button")
        await he.wait_for_selector("#item-later .programme-button[aria-pressed=true]")

        # The banner follows the admin's switches without reloading.
        await control.apply(services.db, services.notifier, event["_id"], admin, "broadcast_off")
        for loc, page in pages.items():
            await page.locator("#live-banner").filter(has_text=tr[loc]("The broadcast is paused.")).wait_for(timeout=10000)
            assert await page.get_attribute("#live-banner", "role") == "status"
        await screenshot(he, "event-banner-paused-he-phone")
        await control.apply(services.db, services.notifier, event["_id"], admin, "day_off", {"day_id": "d1"})
        for loc, page in pages.items():
            await page.locator("#live-banner").filter(has_text=tr[loc]("No day is open right now.")).wait_for(timeout=10000)
        start = datetime.datetime.now(UTC) + datetime.timedelta(days=1, hours=2)
        await control.apply(services.db, services.notifier, event["_id"], admin, "gate_start", {"official_start": start})
        for loc, page in pages.items():
            await page.locator("#live-banner").filter(has_text=tr[loc]("The event has not started yet.")).wait_for(timeout=10000)
            clock = page.locator("#live-banner .live-banner-clock")
            await page.wait_for_function(
                "() => document.querySelector('#live-banner .live-banner-clock').textContent.length > 0")
            assert await clock.get_attribute("aria-hidden") == "true"
            first = await clock.inner_text()
            assert tr[loc]("Starts in %(time)s").split("%(time)s")[0].strip() in first
            await page.wait_for_function("t => document.querySelector('#live-banner .live-banner-clock').textContent !== t",
                                         arg=first, timeout=5000)
        await screenshot(de, "event-banner-countdown-de-desktop")
        await screenshot(he, "event-banner-countdown-he-phone")
        await control.apply(services.db, services.notifier, event["_id"], admin, "gate_start", {"official_start": None})
        await control.apply(services.db, services.notifier, event["_id"], admin, "day_on", {"day_id": "d1"})
        await control.apply(services.db, services.notifier, event["_id"], admin, "broadcast_on")
        for loc, page in pages.items():
            await page.locator("#live-banner").filter(has_text=tr[loc]("LIVE")).wait_for(timeout=10000)
            assert await page.evaluate("window.__noReload") is True
