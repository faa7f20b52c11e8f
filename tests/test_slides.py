"""Slide decks: upload (all or nothing), reorder, remove, copy; each audited and announced."""
import hashlib
import html
import io
import os
import secrets

import pytest
from PIL import Image

from access import roles as R
from core import config
from tests.support import error_text
from tests.test_control import signed_in


@pytest.fixture
def settings():
    # A 1 MB upload limit, so an oversize file is cheap to make.
    return config.from_env(
        mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1,
        argon2_memory_kib=1024, log_format="text", redis_url="", smtp_host="", max_upload_mb=1,
    )


def png(colour=(10, 120, 200), size=(160, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def noisy_png(size=(800, 600)) -> bytes:
    """Random pixels do not compress: about 1.4 MB, over the 1 MB limit."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, "PNG")
    return out.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def slides_path(event) -> str:
    return f"/admin/events/{event['_id']}/slides"


def listen(services) -> list:
    calls = []

    async def listener(event_id, change):
        calls.append(change)

    services.notifier.subscribe(listener)
    return calls


async def snapshot(db, event) -> dict:
    return {
        "event": await db.events.find_one({"_id": event["_id"]}),
        "media": await db.media.find({}).sort("_id", 1).to_list(None),
        "audit": await db.audit.count_documents({}),
    }


async def deck_ids(db, event, locale) -> list[str]:
    doc = await db.events.find_one({"_id": event["_id"]})
    return [s["media_id"] for s in doc["slides"]["decks"].get(locale) or []]


def translated(services, code: str, source: str) -> str:
    return services.i18n.gettext(code)(source)


async def upload(b, event, locale, files):
    return await b.post(f"{slides_path(event)}/{locale}/upload",
                        files=[("images", (name, data, "application/octet-stream")) for name, data in files])


# --- upload ---------------------------------------------------------------------

@pytest.mark.gen_test
async def test_upload_adds_images_in_order_audited_and_announced(browser, factory, db, services):
    event = await factory.event()
    user, b = await signed_in(browser, factory, event)
    calls = listen(services)
    first, second = png((200, 0, 0)), png((0, 200, 0))
    r = await upload(b, event, "de", [("one.png", first), ("C:\\slides\\two.png", second)])
    assert r.status_code == 302, error_text(r.text)
    assert r.headers["location"] == f"{slides_path(event)}#deck-de"
    stored = await db.events.find_one({"_id": event["_id"]})
    assert stored["slides"]["decks"]["de"] == [{"media_id": sha(first), "name": "one.png"},
                                               {"media_id": sha(second), "name": "two.png"}]
    media = await db.media.find({}, {"data": 0}).to_list(None)
    assert {m["_id"] for m in media} == {sha(first), sha(second)}
    assert all(m["content_type"] == "image/png" and (m["width"], m["height"]) == (160, 90) for m in media)
    entry = await db.audit.find_one({"action": "deck_add"})
    assert entry["actor_id"] == user["_id"] and entry["params"]["locale"] == "de"
    assert entry["before"] == [] and entry["after"] == [sha(first), sha(second)]
    assert len(calls) == 1 and calls[0]["action"] == "deck_add"

    page = await b.get(r.headers["location"])
    assert "2 slides added to Deutsch." in html.unescape(page.text)
    assert f'src="/media/{sha(first)}"' in page.text
    served = await b.get(f"/media/{sha(second)}")
    assert served.status_code == 200 and served.content == second


@pytest.mark.gen_test
@pytest.mark.parametrize("name,data,message", [
    ("notes.txt", b"just some text", "This file is not an image (PNG, JPEG, WebP or GIF)."),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "This file is not an image (PNG, JPEG, WebP or GIF)."),
    ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "This file is not an image (PNG, JPEG, WebP or GIF)."),
    ("huge.png", None, "The image is larger than %(mb)s MB."),
])
async def test_bad_upload_is_refused_translated_and_stores_nothing(browser, factory, db, services,
                                                                  name, data, message):
    event = await factory.event()
    _, b = await signed_in(browser, factory, event, locale="de")
    calls = listen(services)
    data = data if data is not None else noisy_png()
    before = await snapshot(db, event)
    r = await upload(b, event, "ru", [(name, data)])
    assert r.status_code == 400
    text = html.unescape(r.text)
    expected = translated(services, "de", message)
    if "%(mb)s" in message:
        expected = expected % {"mb": "1"}
    assert name in text and expected in text
    assert html.unescape(error_text(r.text)) == translated(
        services, "de", "Nothing was added: some files were not accepted.")
    assert await snapshot(db, event) == before
    assert calls == []


@pytest.mark.gen_test
async def test_mixed_batch_stores_nothing_and_names_the_bad_file(browser, factory, db):
    event = await factory.event()
    _, b = await signed_in(browser, factory, event)
    before = await snapshot(db, event)
    r = await upload(b, event, "en", [("good.png", png()), ("bad.gif", b"GIF89a-not-really"),
                                      ("good2.png", png((1, 2, 3)))])
    assert r.status_code == 400
    failures = r.text.split('class="deck-failures"')[1].split("</ul>")[0]
    assert "bad.gif" in failures and "good.png" not in failures and "good2.png" not in failures
    assert await snapshot(db, event) == before


@pytest.mark.gen_test
async def test_empty_upload_and_too_many_files_are_refused(browser, factory, db):
    event = await factory.event()
    _, b = await signed_in(browser, factory, event)
    before = await snapshot(db, event)
    r = await b.post(f"{slides_path(event)}/en/upload", {})
    assert r.status_code == 400 and error_text(r.text) == "Choose one or more images to upload."
    r = await upload(b, event, "en", [("", b"")])
    assert r.status_code == 400 and error_text(r.text) == "Choose one or more images to upload."
    r = await upload(b, event, "en", [(f"{i}.png", png((i, i, i))) for i in range(51)])
    assert r.status_code == 400 and error_text(r.text) == "Upload at most 50 images at a time."
    assert await snapshot(db, event) == before


@pytest.mark.gen_test
async def test_unknown_language_is_refused(browser, factory, db, services):
    event = await factory.event(locales=("ru", "en"))
    _, b = await signed_in(browser, factory, event, locale="ru")
    before = await snapshot(db, event)
    r = await upload(b, event, "de", [("a.png", png())])
    assert r.status_code == 404
    assert html.unescape(error_text(r.text)) == translated(services, "ru", "This event has no such language.")
    for op in ("move", "remove", "copy"):
        assert (await b.post(f"{slides_path(event)}/fr/{op}", {})).status_code == 404
    assert await snapshot(db, event) == before


# --- arranging ------------------------------------------------------------------

async def with_deck(db, event, locale="en", n=3, index=0) -> list[str]:
    ids = [sha(png((i, 0, 0))) for i in range(n)]
    await db.events.update_one({"_id": event["_id"]}, {"$set": {
        f"slides.decks.{locale}": [{"media_id": m, "name": f"{i}.png"} for i, m in enumerate(ids)],
        "slides.index": index}})
    return ids


@pytest.mark.gen_test
async def test_move_up_and_down(browser, factory, db, services):
    event = await factory.event()
    a, b_, c = await with_deck(db, event)
    _, b = await signed_in(browser, factory, event)
    calls = listen(services)
    r = await b.post(f"{slides_path(event)}/en/move", {"position": "2", "media_id": c, "direction": "up"})
    assert r.status_code == 302
    assert await deck_ids(db, event, "en") == [a, c, b_]
    r = await b.post(f"{slides_path(event)}/en/move", {"position": "0", "media_id": a, "direction": "down"})
    assert r.status_code == 302
    assert await deck_ids(db, event, "en") == [c, a, b_]
    entries = await db.audit.find({"action": "deck_move"}).sort("at", 1).to_list(None)
    assert [(e["before"], e["after"]) for e in entries] == [([a, b_, c], [a, c, b_]), ([a, c, b_], [c, a, b_])]
    assert [c["action"] for c in calls] == ["deck_move", "deck_move"]


@pytest.mark.gen_test
@pytest.mark.parametrize("form", [
    {"position": "0", "direction": "up"},             # already first
    {"position": "2", "direction": "down"},           # already last
    {"position": "1", "direction": "sideways"},
    {"position": "7", "direction": "up"},
    {"position": "x", "direction": "up"},
    {"position": "1", "direction": "up", "media_id": "stale"},  # the deck changed meanwhile
])
async def test_impossible_moves_are_refused_unchanged(browser, factory, db, form):
    event = await factory.event()
    ids = await with_deck(db, event)
    _, b = await signed_in(browser, factory, event)
    pos = int(form["position"]) if form["position"].isdigit() else 0
    form = {"media_id": ids[pos] if pos < len(ids) else ids[0], **form}
    before = await snapshot(db, event)
    r = await b.post(f"{slides_path(event)}/en/move", form)
    assert r.status_code == 400 and error_text(r.text)
    assert await snapshot(db, event) == before


@pytest.mark.gen_test
async def test_remove_and_index_follows_a_shrinking_deck(browser, factory, db, services):
    event = await factory.event()
    a, b_, c = await with_deck(db, event, index=2)
    _, b = await signed_in(browser, factory, event)
    calls = listen(services)
    page = await b.get(slides_path(event))
    assert 'data-confirm="Remove slide 3 from this deck?"' in page.text
    r = await b.post(f"{slides_path(event)}/en/remove", {"position": "2", "media_id": c})
    assert r.status_code == 302
    stored = await db.events.find_one({"_id": event["_id"]})
    assert [s["media_id"] for s in stored["slides"]["decks"]["en"]] == [a, b_]
    assert stored["slides"]["index"] == 1
    entry = await db.audit.find_one({"action": "deck_remove"})
    assert entry["before"] == [a, b_, c] and entry["after"] == [a, b_]
    assert len(calls) == 1
    # A stale click (the slide at that position is no longer the one shown) changes nothing.
    before = await snapshot(db, event)
    r = await b.post(f"{slides_path(event)}/en/remove", {"position": "1", "media_id": c})
    assert r.status_code == 400
    assert error_text(r.text) == "The deck has changed meanwhile; reload the page and try again."
    assert await snapshot(db, event) == before


@pytest.mark.gen_test
async def test_copy_a_deck_to_another_language(browser, factory, db, services):
    event = await factory.event()
    ids = await with_deck(db, event, locale="ru")
    await with_deck(db, event, locale="de", n=1)
    old_de = await deck_ids(db, event, "de")
    _, b = await signed_in(browser, factory, event)
    calls = listen(services)
    r = await b.post(f"{slides_path(event)}/de/copy", {"source": "ru"})
    assert r.status_code == 302
    assert await deck_ids(db, event, "de") == ids
    entry = await db.audit.find_one({"action": "deck_copy"})
    assert entry["params"] == {"locale": "de", "source": "ru"}
    assert entry["before"] == old_de and entry["after"] == ids
    assert len(calls) == 1

    before = await snapshot(db, event)
    for source, message in (("en", "That language has no slides to copy."),
                            ("de", "Choose a different language to copy from."),
                            ("fr", "This event has no such language.")):
        r = await b.post(f"{slides_path(event)}/de/copy", {"source": source})
        assert r.status_code == 400 and error_text(r.text) == message, source
    assert await snapshot(db, event) == before


@pytest.mark.gen_test
async def test_slides_page_lists_every_language(browser, factory, db):
    event = await factory.event(locales=("ru", "en", "he"))
    ids = await with_deck(db, event, locale="he", n=2, index=1)
    _, b = await signed_in(browser, factory, event, locale="he")
    r = await b.get(slides_path(event))
    assert r.status_code == 200 and 'dir="rtl"' in r.text
    for code in ("ru", "en", "he"):
        assert f'id="deck-{code}"' in r.text
        assert f'action="{slides_path(event)}/{code}/upload"' in r.text
    assert 'enctype="multipart/form-data"' in r.text and 'name="images"' in r.text
    assert all(f'src="/media/{m}"' in r.text for m in ids)
    assert 'class="deck-slide is-current"' in r.text


# --- access ---------------------------------------------------------------------

@pytest.mark.gen_test
@pytest.mark.parametrize("role,allowed", [
    (R.EVENT_MANAGER, True), (R.EVENT_ADMIN, True), (R.MODERATOR, False), (R.COMMENTATOR, False),
    (R.ATTENDEE, False),
])
async def test_roles(browser, factory, db, role, allowed):
    event = await factory.event()
    _, b = await signed_in(browser, factory, event, role=role)
    before = await snapshot(db, event)
    page = await b.get(slides_path(event))
    r = await upload(b, event, "en", [("a.png", png())])
    if allowed:
        assert page.status_code == 200 and r.status_code == 302
        assert len(await deck_ids(db, event, "en")) == 1
    else:
        assert page.status_code == 403 and r.status_code == 403 and "error-message" in r.text
        assert await snapshot(db, event) == before


@pytest.mark.gen_test
async def test_upload_without_xsrf_is_refused(browser, factory, db):
    event = await factory.event()
    _, b = await signed_in(browser, factory, event)
    before = await snapshot(db, event)
    r = await b.post(f"{slides_path(event)}/en/upload", xsrf=False,
                     files=[("images", ("a.png", png(), "image/png"))])
    assert r.status_code == 403
    assert await snapshot(db, event) == before
