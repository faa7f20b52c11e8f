"""Bidi controls cannot enter through any place where people type text others see.

A name or message carrying U+202E (right-to-left override) or an isolate
would reorder the text shown after it; each entry point is fed one and the
stored (or sent, or exported) text must come out without it.
"""
import csv
import io

import pytest

from access import roles as R
from accounts import preferences, users
from attendees import csv_import, registry
from community import pages
from core.text import BIDI_CONTROLS, strip_bidi
from events import staffing
from questions import store as questions
from tests.test_questions import ask, connect, with_schedule
from tests.test_realtime import two_in_room

RLO, PDF, RLI, PDI, LRE = "\u202e", "\u202c", "\u2067", "\u2069", "\u202a"
SPOOF = f"Anna{RLO}gnp.exe{PDF} {RLI}Berg{PDI}{LRE}"   # what comes out: "Annagnp.exe Berg"
CLEAN = "Annagnp.exe Berg"


def controls_in(text: str) -> set:
    return {c for c in text if c in BIDI_CONTROLS}


def test_strip_bidi_removes_embeddings_overrides_and_isolates_and_keeps_marks():
    every = "".join(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
    assert strip_bidi(f"a{every}b") == "ab"
    assert len(BIDI_CONTROLS) == 9
    # The marks act as one letter of their direction: Hebrew text needs them.
    marks = "שלום\u200f!\u200e 1\u061c2"
    assert strip_bidi(marks) == marks
    assert strip_bidi(None) is None and strip_bidi(5) == 5
    assert strip_bidi(SPOOF) == CLEAN


# --- names -----------------------------------------------------------------------

@pytest.mark.gen_test
async def test_profile_name(browser, factory, db):
    event = await factory.event()
    user = await factory.member(R.ATTENDEE, event=event)
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.post("/profile", {"form": "details", "name": SPOOF, "locale": "en"})
    assert r.status_code == 302
    assert (await db.users.find_one({"_id": user["_id"]}))["name"] == CLEAN
    assert (await db.memberships.find_one({"user_id": user["_id"]}))["name"] == CLEAN
    assert preferences.clean(f"{RLO}{RLO}", "en") == ("", "en")


@pytest.mark.gen_test
async def test_account_created_with_a_name(db):
    user = await users.create(db, email="spoof@example.org", name=SPOOF)
    assert (await db.users.find_one({"_id": user["_id"]}))["name"] == CLEAN


@pytest.mark.gen_test
async def test_staff_added_by_name(browser, factory, db):
    event = await factory.event(locales=("en", "he"))
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    r = await b.post(f"/admin/events/{event['_id']}/staff",
                     {"email": "new@example.org", "name": SPOOF, "role": R.MODERATOR})
    assert r.status_code == 302
    assert (await db.users.find_one({"email": "new@example.org"}))["name"] == CLEAN
    page = await b.get(f"/admin/events/{event['_id']}/staff")
    assert CLEAN in page.text and not controls_in(page.text)
    assert staffing.clean_person("x@example.org", SPOOF) == ("x@example.org", CLEAN)


@pytest.mark.gen_test
async def test_attendee_registered_one_by_one(factory, db):
    event = await factory.event(locales=("en",))
    membership = await registry.register(db, event, email="a@example.org", name=SPOOF)
    assert membership["name"] == CLEAN
    assert (await db.users.find_one({"email": "a@example.org"}))["name"] == CLEAN


@pytest.mark.gen_test
async def test_attendee_csv_import(factory, db):
    event = await factory.event(locales=("en",))
    data = f"email,name\nb@example.org,{SPOOF}\n".encode()
    parsed = csv_import.parse(data, max_kb=8, max_rows=10)
    rows = await csv_import.check_rows(db, event, parsed["rows"])
    assert rows[0]["status"] == "ok" and rows[0]["name"] == CLEAN


@pytest.mark.gen_test
async def test_attendee_csv_export_strips_names_stored_before(factory, db):
    event = await factory.event(locales=("en",))
    await registry.register(db, event, email="c@example.org", name="C")
    await registry.register(db, event, email="d@example.org", name="D")
    # Written as an older version would have kept them.
    await db.memberships.update_one({"email": "c@example.org"}, {"$set": {"name": SPOOF}})
    await db.memberships.update_one({"email": "d@example.org"},
                                    {"$set": {"name": f"{RLO}=HYPERLINK(\"http://evil.example\")"}})
    text = await registry.export_csv(db, event)
    assert not controls_in(text)
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert rows["c@example.org"]["name"] == CLEAN
    # The formula guard sees the text as a spreadsheet will: the control hid the "=".
    assert rows["d@example.org"]["name"] == "'=HYPERLINK(\"http://evil.example\")"


# --- what people write -----------------------------------------------------------

@pytest.mark.gen_test(timeout=20)
async def test_chat_message(factory, browser, base_url, db):
    event, room, (_, a), (_, b), _ = await two_in_room(factory, browser, base_url)
    await a.send({"type": "send", "room": room, "text": f"{RLO}olleh{PDF} there", "client_id": "m1", "ref": 1})
    await a.expect("ack", ref=1)
    got = await b.expect("message", room=room)
    assert got["text"] == "olleh there"
    assert (await db.messages.find_one({"client_id": "m1"}))["text"] == "olleh there"
    # Nothing but controls is an empty message: refused, nothing stored.
    await a.send({"type": "send", "room": room, "text": f"{RLO}{RLI}", "client_id": "m2", "ref": 2})
    error = await a.expect("error", ref=2)
    assert error["code"] == "invalid"
    assert await db.messages.count_documents({"client_id": "m2"}) == 0


@pytest.mark.gen_test(timeout=20)
async def test_question(factory, browser, base_url, db):
    event = await with_schedule(factory)
    _, _, client = await connect(factory, browser, base_url, event)
    await ask(client, text=f"{RLI}Why{PDI} {RLO}not?")
    assert (await db.questions.find_one({}))["text"] == "Why not?"
    with pytest.raises(questions.QuestionError):
        questions.clean_text(f" {RLO} ")


@pytest.mark.gen_test
async def test_community_page_title_and_body(factory, db):
    event = await factory.event(locales=("ru", "en"))
    actor = await factory.member(R.EVENT_ADMIN, event=event)
    page = await pages.create(db, actor, event, slug="hello", discussion="open", published=True,
                              title={"ru": f"Привет{RLO}", "en": f"{RLI}Hello{PDI}"},
                              body={"ru": f"Текст{LRE}", "en": "Text"})
    stored = await db.community_pages.find_one({"_id": page["_id"]})
    assert stored["title"] == {"ru": "Привет", "en": "Hello"} and stored["body"]["ru"] == "Текст"
