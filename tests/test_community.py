"""Community pages: authoring in the admin, the attendee pages, their discussion rooms, support between sessions."""
import re

import pytest
from tornado.httpclient import HTTPClientError

from access import roles as R
from chat import room_names
from community import pages
from community.render import body_html
from events import control, view
from tests.live_client import LiveClient
from tests.support import error_text, translated
from tests.test_realtime import live, person, seeded

XSS = '<img src=x onerror="window.__xss=1">'


async def staff_browser(factory, browser, event, role=R.EVENT_MANAGER):
    user = await factory.member(role, event=event)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    return user, b


def form(slug="welcome", discussion="open", published=False, **texts):
    data = {"slug": slug, "discussion": discussion, "title_ru": "Добро пожаловать", "title_en": "Welcome",
            "body_ru": "Текст", "body_en": "Text"}
    data.update(texts)
    if published:
        data["published"] = "1"
    return data


async def snapshot(db):
    return {
        "pages": await db.community_pages.find({}).sort("_id", 1).to_list(None),
        "audit": await db.audit.count_documents({}),
        "messages": await db.messages.count_documents({}),
    }


async def make_page(db, actor, event, slug="welcome", discussion="open", published=True, **kwargs):
    return await pages.create(db, actor, event, slug=slug, discussion=discussion, published=published,
                              title=kwargs.get("title", {"ru": f"Страница {slug}", "en": f"Page {slug}"}),
                              body=kwargs.get("body", {"ru": "Текст", "en": "Text"}))


# --- the body renderer -------------------------------------------------------------

def test_body_is_escaped_paragraphs_with_links_only_for_http():
    html = str(body_html(f"Hi {XSS}\nsee https://example.org/a?b=1&c=2.\n\n\nnext javascript:alert(1) "
                         "(https://x.org/p)"))
    assert "<img" not in html and "&lt;img" in html
    assert html.count("<p>") == 2 and "<br>" in html
    assert '<a href="https://example.org/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer nofollow">' in html
    assert "c=2</a>." in html and "(<a href=\"https://x.org/p\"" in html and "</a>)" in html
    assert "javascript:alert(1)" in html and 'href="javascript' not in html
    assert str(body_html("")) == "" and str(body_html(None)) == ""


# --- authoring ----------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_staff_write_publish_order_and_delete_pages_with_audit(factory, browser, db):
    event = await factory.event(locales=("ru", "en"))
    user, b = await staff_browser(factory, browser, event)
    base = f"/admin/events/{event['_id']}/community"

    r = await b.get(base)
    assert r.status_code == 200 and translated(factory.services, "en", "No community pages yet.") in r.text
    r = await b.get(base + "/new")
    assert r.status_code == 200 and 'name="title_ru"' in r.text and 'name="body_en"' in r.text
    assert 'name="title_de"' not in r.text   # one field per event language only

    r = await b.post(base + "/new", form(body_en=f"Read {XSS} https://example.org"))
    assert r.status_code == 302 and r.headers["location"] == base
    r = await b.post(base + "/new", form(slug="rules", discussion="closed", published=True, title_en="Rules"))
    assert r.status_code == 302
    first, second = await db.community_pages.find({"event_id": event["_id"]}).sort("position", 1).to_list(None)
    assert (first["slug"], first["published"], first["discussion"], first["position"]) == ("welcome", False, "open", 1)
    assert first["title"] == {"ru": "Добро пожаловать", "en": "Welcome"}
    assert (second["slug"], second["published"], second["discussion"], second["position"]) == ("rules", True, "closed", 2)

    listing = await b.get(base)
    assert listing.status_code == 200
    assert listing.text.index("Welcome") < listing.text.index("Rules")
    assert 'data-confirm="' in listing.text and "&lt;img" not in listing.text  # body is not listed

    # Edit: new slug and texts; the audit keeps before and after.
    r = await b.post(f"{base}/{first['_id']}/edit", form(slug="hello", title_en="Hello all", discussion="off"))
    assert r.status_code == 302
    edited = await db.community_pages.find_one({"_id": first["_id"]})
    assert edited["slug"] == "hello" and edited["title"]["en"] == "Hello all" and edited["discussion"] == "off"
    entry = await db.audit.find_one({"action": "community_page_update"})
    assert entry["before"]["slug"] == "welcome" and entry["after"]["slug"] == "hello"
    assert entry["params"] == {"page_id": str(first["_id"])} and entry["actor_id"] == user["_id"]

    # Publish, discussion, order.
    assert (await b.post(f"{base}/{first['_id']}/publish", {"published": "1"})).status_code == 302
    assert (await db.community_pages.find_one({"_id": first["_id"]}))["published"] is True
    assert (await b.post(f"{base}/{first['_id']}/discussion", {"discussion": "closed"})).status_code == 302
    assert (await db.community_pages.find_one({"_id": first["_id"]}))["discussion"] == "closed"
    assert (await b.post(f"{base}/{second['_id']}/move", {"direction": "up"})).status_code == 302
    order = [p["slug"] for p in await pages.list_pages(db, event["_id"])]
    assert order == ["rules", "hello"]
    # At the top already: nothing changes, nothing is logged.
    audits = await db.audit.count_documents({})
    assert (await b.post(f"{base}/{second['_id']}/move", {"direction": "up"})).status_code == 302
    assert await db.audit.count_documents({}) == audits
    assert [p["slug"] for p in await pages.list_pages(db, event["_id"])] == order

    actions = [e["action"] for e in await db.audit.find({"event_id": event["_id"]}).sort("at", 1).to_list(None)]
    assert actions == ["community_page_create", "community_page_create", "community_page_update",
                       "community_page_publish", "community_page_discussion", "community_page_move"]
    publish = await db.audit.find_one({"action": "community_page_publish"})
    assert publish["before"]["published"] is False and publish["after"]["published"] is True

    # Delete: the page and its discussion go; the audit keeps the page and the count.
    room = pages.room(second)
    for i in range(2):
        await db.messages.insert_one({"room": room, "offset": i + 1, "kind": "text", "user_id": user["_id"],
                                      "client_id": f"c{i}", "text": "x", "deleted": False})
    await db.rooms.insert_one({"_id": room, "epoch": "e", "offset": 2})
    r = await b.post(f"{base}/{second['_id']}/delete")
    assert r.status_code == 302
    assert await db.community_pages.find_one({"_id": second["_id"]}) is None
    assert await db.messages.count_documents({"room": room}) == 0 and await db.rooms.find_one({"_id": room}) is None
    gone = await db.audit.find_one({"action": "community_page_delete"})
    assert gone["params"]["messages"] == 2 and gone["before"]["slug"] == "rules" and gone["after"] is None

    # The menu links the page for those who may author; a moderator may not.
    assert f'href="{base}"' in (await b.get(f"/admin/events/{event['_id']}")).text
    _, mb = await staff_browser(factory, browser, event, role=R.MODERATOR)
    assert f'href="{base}"' not in (await mb.get(f"/admin/events/{event['_id']}")).text
    assert (await mb.get(base)).status_code == 403


@pytest.mark.gen_test(timeout=30)
async def test_refused_input_changes_nothing(factory, browser, db):
    event = await factory.event(locales=("ru", "en"))
    actor, b = await staff_browser(factory, browser, event, role=R.EVENT_ADMIN)
    base = f"/admin/events/{event['_id']}/community"
    page = await make_page(db, actor, event, slug="taken")
    before = await snapshot(db)
    cases = [
        (form(slug="Bad Slug!"), "The address name may use only Latin letters"),
        (form(slug=""), "The address name may use only Latin letters"),
        (form(title_ru=""), "Enter the title in the default language."),
        (form(body_en="x" * (pages.MAX_BODY + 1)), "A text is too long"),
        (form(discussion="maybe"), "Choose whether the page has a discussion."),
        (form(slug="taken"), "Another page of this event already uses this address name."),
    ]
    for data, message in cases:
        r = await b.post(base + "/new", data)
        assert r.status_code == 400, data
        assert error_text(r.text).startswith(message[:30]), (data, error_text(r.text))
        # The form comes back filled in.
        assert 'value="' + data["slug"] + '"' in r.text or not data["slug"]
    assert await snapshot(db) == before
    other = await make_page(db, actor, event, slug="other", published=False)
    before = await snapshot(db)
    r = await b.post(f"{base}/{other['_id']}/edit", form(slug="taken"))
    assert r.status_code == 400
    assert error_text(r.text) == translated(factory.services, "en",
                                            "Another page of this event already uses this address name.")
    for path, data in ((f"{base}/{page['_id']}/publish", {"published": "yes"}),
                       (f"{base}/{page['_id']}/discussion", {"discussion": "loud"}),
                       (f"{base}/{page['_id']}/move", {"direction": "sideways"})):
        r = await b.post(path, data)
        assert r.status_code == 400, path
    assert await snapshot(db) == before
    # Unknown pages and pages of another event are not found.
    foreign_event = await factory.event(locales=("en",))
    foreign = await make_page(db, actor, foreign_event, slug="theirs")
    before = await snapshot(db)
    for suffix in ("/edit", "/publish", "/delete", "/discussion"):
        r = await b.post(f"{base}/{foreign['_id']}{suffix}", {"published": "1", "discussion": "off"})
        assert r.status_code == 404, suffix
    assert (await b.get(f"{base}/{foreign['_id']}/edit")).status_code == 404
    assert await snapshot(db) == before
    # German-speaking staff read the refusal in German.
    de_user = await factory.member(R.EVENT_ADMIN, event=event, locale="de")
    de = browser()
    await de.sign_in(de_user["login"], factory.PASSWORD)
    r = await de.post(base + "/new", form(discussion="maybe"))
    assert error_text(r.text) == translated(factory.services, "de", "Choose whether the page has a discussion.")
    assert await snapshot(db) == before


# --- the attendee side ------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_attendees_see_only_published_pages_and_body_as_text(factory, browser, db, services):
    event = await factory.event(locales=("ru", "en"))
    space = await db.spaces.find_one({"_id": event["space_id"]})
    actor = await factory.member(R.EVENT_ADMIN, event=event)
    path = view.path(space, event)
    _, ab = await person(factory, browser, event, locale="en")

    # No published page: no link from the event page, an empty list.
    draft = await make_page(db, actor, event, slug="draft", published=False)
    r = await ab.get(path)
    assert r.status_code == 200 and f'{path}/community"' not in r.text
    r = await ab.get(path + "/community")
    assert r.status_code == 200 and "Page draft" not in r.text
    assert (await ab.get(path + "/community/draft")).status_code == 404

    shown = await make_page(db, actor, event, slug="shown",
                            body={"en": f"Hello {XSS}\nhttps://example.org/x\n\nSecond", "ru": "Привет"})
    r = await ab.get(path)
    assert f'href="{path}/community"' in r.text
    r = await ab.get(path + "/community")
    assert "Page shown" in r.text and "Page draft" not in r.text and f'href="{path}/community/shown"' in r.text
    r = await ab.get(path + "/community/shown")
    assert r.status_code == 200
    assert "<img src=x" not in r.text and "&lt;img src=x" in r.text
    assert '<a href="https://example.org/x" target="_blank" rel="noopener noreferrer nofollow">' in r.text
    assert f'data-room="{room_names.community_room(event["_id"], shown["_id"])}"' in r.text
    assert f'href="{path}/support"' in r.text
    # Viewers get the texts of their language.
    _, rb = await person(factory, browser, event, locale="ru")
    assert "Страница shown" in (await rb.get(path + "/community/shown")).text
    # Unpublishing hides it again; a discussion switched off shows no chat.
    await pages.set_published(db, actor, event, shown, False)
    assert (await ab.get(path + "/community/shown")).status_code == 404
    await pages.set_published(db, actor, event, draft, True)
    await pages.set_discussion(db, actor, event, {**draft, "published": True}, "off")
    r = await ab.get(path + "/community/draft")
    assert r.status_code == 200 and 'id="chat"' not in r.text and "js/chat.js" not in r.text


@pytest.mark.gen_test(timeout=30)
async def test_access_is_the_event_pages(factory, browser, db):
    event = await factory.event(locales=("en",))
    space = await db.spaces.find_one({"_id": event["space_id"]})
    actor = await factory.member(R.EVENT_ADMIN, event=event)
    await make_page(db, actor, event, slug="info")
    path = view.path(space, event)
    paths = (path + "/community", path + "/community/info", path + "/support")
    anonymous = browser()
    stranger = browser()
    await stranger.sign_in((await factory.user())["login"], factory.PASSWORD)
    for p in paths:
        r = await anonymous.get(p)
        assert r.status_code == 302 and r.headers["location"].startswith("/signin?next=")
        assert (await stranger.get(p)).status_code == 403
    # Another event's member sees nothing of this event, not even through their own event's address.
    other = await factory.event(space, locales=("en",))
    _, ob = await person(factory, browser, other, locale="en")
    assert (await ob.get(path + "/community/info")).status_code == 403
    assert (await ob.get(view.path(space, other) + "/community/info")).status_code == 404
    # Before the gate opens attendees get the countdown; staff may enter early.
    closed = await factory.event(space, locales=("en",), gate_open=False)
    await make_page(db, actor, closed, slug="info")
    _, cb = await person(factory, browser, closed, locale="en")
    r = await cb.get(view.path(space, closed) + "/community/info")
    assert r.status_code == 200 and 'id="gate"' in r.text and "Page info" not in r.text
    _, sb = await person(factory, browser, closed, role=R.SPEAKER, locale="en")
    assert "Page info" in (await sb.get(view.path(space, closed) + "/community/info")).text


# --- the discussion room ----------------------------------------------------------------

async def joined(client, room, **extra):
    await client.send({"type": "join", "room": room, "ref": "j", **extra})
    return await client.expect("joined", room=room)


@pytest.mark.gen_test(timeout=40)
async def test_discussion_rooms_follow_the_page(factory, browser, base_url, db, services):
    event = await seeded(factory, locales=("ru", "en"))
    actor = await factory.member(R.EVENT_ADMIN, event=event)
    page = await make_page(db, actor, event, slug="talk")
    closed = await make_page(db, actor, event, slug="archive", discussion="closed")
    off = await make_page(db, actor, event, slug="quiet", discussion="off")
    draft = await make_page(db, actor, event, slug="draft", published=False)
    room, closed_room = pages.room(page), pages.room(closed)

    ru_user, rb = await person(factory, browser, event, locale="ru")
    en_user, eb = await person(factory, browser, event, locale="en")
    ru, ru_welcome, _ = await live(base_url, rb, event)
    en, _, _ = await live(base_url, eb, event)
    assert room not in ru_welcome["rooms"]   # joined by the page, not by default

    # Members of every language meet in one room.
    await joined(ru, room)
    await joined(en, room)
    await ru.send({"type": "send", "room": room, "text": XSS, "client_id": "c1", "ref": "s1"})
    ack = await ru.expect("ack", ref="s1")
    got = await en.expect("message", room=room)
    assert got["text"] == XSS and got["user"]["id"] == str(ru_user["_id"])
    await ru.send({"type": "send", "room": room, "text": XSS, "client_id": "c1", "ref": "s2"})
    again = await ru.expect("ack", ref="s2")
    assert again["duplicate"] is True and again["offset"] == ack["offset"]
    assert await db.messages.count_documents({"room": room}) == 1

    # Resume: a member who was away gets exactly what was missed.
    en.close()
    await ru.send({"type": "send", "room": room, "text": "while away", "client_id": "c2", "ref": "s3"})
    await ru.expect("ack", ref="s3")
    en, _, _ = await live(base_url, eb, event)
    back = await joined(en, room, epoch=got["epoch"], offset=got["offset"])
    assert back["recovered"] is True and back["missed"] == 1
    assert (await en.expect("message", room=room))["text"] == "while away"

    # Closed: joined and read, but not written to; nothing is stored.
    await ru.send({"type": "join", "room": closed_room, "ref": "jc"})
    settings = await ru.expect("room_settings", room=closed_room)
    assert settings["read_only"] is True
    await ru.expect("joined", room=closed_room)
    before = await db.messages.count_documents({})
    await ru.send({"type": "send", "room": closed_room, "text": "hi", "client_id": "c3", "ref": "s4"})
    assert (await ru.expect("error", ref="s4"))["code"] == "read_only"
    assert await db.messages.count_documents({}) == before

    # Off, unpublished, unknown or another event's: no room.
    for name in (pages.room(off), pages.room(draft), room_names.community_room(event["_id"], "0" * 24)):
        await ru.send({"type": "join", "room": name, "ref": "x"})
        assert (await ru.expect("error", ref="x"))["code"] == "unknown_room", name
        await ru.send({"type": "send", "room": name, "text": "x", "client_id": "x", "ref": "y"})
        assert (await ru.expect("error", ref="y"))["code"] in ("unknown_room", "not_joined")
    other = await seeded(factory, locales=("ru",))
    _, ob = await person(factory, browser, other, locale="ru")
    o, _, _ = await live(base_url, ob, other)
    await o.send({"type": "join", "room": room, "ref": "o"})
    assert (await o.expect("error", ref="o"))["code"] == "forbidden"
    # ... and a stranger cannot even connect to this event.
    stranger = browser()
    await stranger.sign_in((await factory.user())["login"], factory.PASSWORD)
    with pytest.raises(HTTPClientError) as refused:
        await LiveClient.connect(base_url, stranger, event["_id"])
    assert refused.value.code == 403
    assert await db.messages.count_documents({}) == before

    # Staff close the open discussion: members are told at once and sends are refused.
    _, admin_b = await staff_browser(factory, browser, event, role=R.EVENT_ADMIN)
    base = f"/admin/events/{event['_id']}/community/{page['_id']}"
    assert (await admin_b.post(base + "/discussion", {"discussion": "closed"})).status_code == 302
    assert (await en.expect("room_settings", room=room))["read_only"] is True
    await en.send({"type": "send", "room": room, "text": "late", "client_id": "c4", "ref": "s5"})
    assert (await en.expect("error", ref="s5"))["code"] == "read_only"
    assert (await admin_b.post(base + "/discussion", {"discussion": "open"})).status_code == 302
    assert (await en.expect("room_settings", room=room))["read_only"] is False
    # ... switch it off: members leave the room and cannot come back.
    assert (await admin_b.post(base + "/discussion", {"discussion": "off"})).status_code == 302
    left = await en.expect("left", room=room)
    assert left["reason"] == "discussion_off"
    await en.send({"type": "send", "room": room, "text": "gone", "client_id": "c5", "ref": "s6"})
    assert (await en.expect("error", ref="s6"))["code"] in ("not_joined", "unknown_room")
    await en.send({"type": "join", "room": room, "ref": "again"})
    assert (await en.expect("error", ref="again"))["code"] == "unknown_room"
    assert await db.messages.count_documents({"room": room}) == 2


@pytest.mark.gen_test
async def test_page_actions_announce_after_saving_and_only_real_changes(factory, db):
    event = await seeded(factory)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    heard = []

    async def announce(before, after):
        # Called once the change is stored and audited.
        page = after or before
        stored = await db.community_pages.find_one({"_id": page["_id"]})
        audited = await db.audit.count_documents({"event_id": event["_id"]})
        heard.append((before and before["discussion"], after and after["discussion"], bool(stored), audited))

    page = await pages.create(db, admin, event, slug="talk", title={"ru": "Т", "en": "T"}, body={},
                              discussion="open", published=True, announce=announce)
    closed = await pages.set_discussion(db, admin, event, page, "closed", announce=announce)
    await pages.set_discussion(db, admin, event, closed, "closed", announce=announce)  # no change
    with pytest.raises(pages.EditError):
        await pages.set_discussion(db, admin, event, closed, "loud", announce=announce)
    await pages.delete(db, admin, event, closed, announce=announce)
    assert heard == [(None, "open", True, 1), ("open", "closed", True, 2), ("closed", None, False, 3)]

    async def failing(before, after):
        raise RuntimeError("the live side is down")

    # The change is saved either way; the page shows it on its next load.
    page = await pages.create(db, admin, event, slug="other", title={"ru": "Д", "en": "O"}, body={},
                              discussion="open", published=True, announce=failing)
    assert await pages.get_page(db, event["_id"], page["_id"])


@pytest.mark.gen_test(timeout=40)
async def test_moderators_see_and_moderate_discussions(factory, browser, base_url, db):
    event = await seeded(factory, locales=("ru", "en"))
    actor = await factory.member(R.EVENT_ADMIN, event=event)
    page = await make_page(db, actor, event, slug="talk")
    await make_page(db, actor, event, slug="quiet", discussion="off")
    room = pages.room(page)
    att, ab = await person(factory, browser, event, locale="ru")
    _, mb = await person(factory, browser, event, role=R.MODERATOR, locale="en")
    _, cb = await person(factory, browser, event, role=R.COMMENTATOR, locale="en", locales=["ru"])
    a, _, _ = await live(base_url, ab, event)
    m, _, _ = await live(base_url, mb, event)
    c, _, _ = await live(base_url, cb, event)

    await m.send({"type": "rooms", "ref": "r"})
    listed = {x["room"]: x for x in (await m.expect("rooms", ref="r"))["rooms"]}
    assert room in listed and listed[room]["kind"] == "com" and listed[room]["locale"] is None
    assert next(iter(listed)) == room   # community discussions come first
    assert len([r for r in listed if ":com:" in r]) == 1   # the one switched off is not listed
    await c.send({"type": "rooms", "ref": "r"})
    assert room not in {x["room"] for x in (await c.expect("rooms", ref="r"))["rooms"]}

    await joined(a, room)
    await joined(m, room)
    await joined(c, room)
    await a.send({"type": "send", "room": room, "text": "spam", "client_id": "s", "ref": "s"})
    offset = (await a.expect("ack", ref="s"))["offset"]
    await m.expect("message", room=room)
    # Commentators take part but do not moderate a discussion of every language.
    await c.send({"type": "delete", "room": room, "offset": offset, "ref": "cd"})
    assert (await c.expect("error", ref="cd"))["code"] == "forbidden"
    await c.send({"type": "slow_mode", "room": room, "seconds": 30, "ref": "cs"})
    assert (await c.expect("error", ref="cs"))["code"] == "forbidden"
    await m.send({"type": "delete", "room": room, "offset": offset, "ref": "md"})
    await m.expect("ack", ref="md")
    assert (await a.expect("message", room=room, kind="delete"))["target"] == offset
    await m.send({"type": "read", "room": room, "offset": offset + 1, "ref": "rd"})
    await m.expect("ack", ref="rd")
    # Slow mode and bans hold here too.
    await m.send({"type": "slow_mode", "room": room, "seconds": 60, "ref": "sm"})
    await m.expect("ack", ref="sm")
    await a.send({"type": "send", "room": room, "text": "one", "client_id": "o1", "ref": "o1"})
    await a.expect("ack", ref="o1")
    await a.send({"type": "send", "room": room, "text": "two", "client_id": "o2", "ref": "o2"})
    assert (await a.expect("error", ref="o2"))["code"] == "slow_mode"
    await m.send({"type": "ban", "user": str(att["_id"]), "minutes": 10, "ref": "b"})
    await m.expect("ack", ref="b")
    assert (await a.expect("left", room=room))["reason"] == "banned"
    await a.send({"type": "join", "room": room, "ref": "j2"})
    assert (await a.expect("error", ref="j2"))["code"] == "banned"


# --- support between sessions ---------------------------------------------------------------

@pytest.mark.gen_test(timeout=40)
async def test_support_works_with_the_broadcast_off_and_no_day_open(factory, browser, base_url, db, services):
    event = await seeded(factory, locales=("ru", "en"))
    space = await db.spaces.find_one({"_id": event["space_id"]})
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    await control.apply(db, services.notifier, event["_id"], admin, "broadcast_on")
    await control.apply(db, services.notifier, event["_id"], admin, "broadcast_off")
    await control.apply(db, services.notifier, event["_id"], admin, "day_off", {"day_id": "d1"})
    event = await db.events.find_one({"_id": event["_id"]})
    assert not event["broadcast"]["on"] and not [d for d in event["days"] if d["enabled"]]

    att, ab = await person(factory, browser, event, locale="ru")
    path = view.path(space, event)
    r = await ab.get(path + "/support")
    assert r.status_code == 200 and 'id="chat-pane-sup"' in r.text and 'data-join-rooms="false"' in r.text
    assert 'id="chat-tab-pub"' not in r.text
    # The event page still offers its support tab.
    assert 'id="chat-tab-sup"' in (await ab.get(path)).text

    a, welcome, state = await live(base_url, ab, event)
    assert state["state"]["broadcast"]["on"] is False and state["state"]["day"] is None
    support = room_names.support_room(event["_id"], "ru", att["_id"])
    assert support in welcome["rooms"]
    await joined(a, support)
    await a.send({"type": "send", "room": support, "text": "Когда следующая сессия?", "client_id": "q", "ref": "q"})
    await a.expect("ack", ref="q")

    # The operator (a commentator of Russian) finds the room in the console's list and answers.
    _, ob = await person(factory, browser, event, role=R.COMMENTATOR, locale="en", locales=["ru"])
    console_page = await ob.get(f"/admin/events/{event['_id']}/console")
    assert console_page.status_code == 200
    o, _, _ = await live(base_url, ob, event)
    await o.send({"type": "rooms", "ref": "r"})
    listed = {x["room"]: x for x in (await o.expect("rooms", ref="r"))["rooms"]}
    assert listed[support]["unread"] == 1 and listed[support]["user"]["id"] == str(att["_id"])
    await joined(o, support)
    await o.send({"type": "history", "room": support, "ref": "h"})
    assert [m["text"] for m in (await o.expect("history", ref="h"))["messages"]] == ["Когда следующая сессия?"]
    await o.send({"type": "send", "room": support, "text": "В 15:00", "client_id": "a", "ref": "a"})
    await o.expect("ack", ref="a")
    reply = await a.expect("message", room=support, text="В 15:00")
    assert reply["text"] == "В 15:00" and reply["user"]["role"] == R.COMMENTATOR
    # Another attendee of the same language sees nothing of it.
    _, xb = await person(factory, browser, event, locale="ru")
    x, _, _ = await live(base_url, xb, event)
    await x.send({"type": "join", "room": support, "ref": "j"})
    assert (await x.expect("error", ref="j"))["code"] == "forbidden"


@pytest.mark.gen_test(timeout=30)
async def test_console_names_the_discussions(factory, browser, db):
    event = await factory.event(locales=("ru", "en"))
    actor = await factory.member(R.EVENT_ADMIN, event=event)
    page = await make_page(db, actor, event, slug="talk", title={"ru": "Обсуждение", "en": f"Talk {XSS}"})
    _, mb = await staff_browser(factory, browser, event, role=R.MODERATOR)
    r = await mb.get(f"/admin/events/{event['_id']}/console")
    assert r.status_code == 200
    m = re.search(r"data-community='([^']*)'", r.text)
    assert m and pages.room(page) in m.group(1) and "<img" not in m.group(1)
