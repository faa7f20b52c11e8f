"""Certificates: the PDF keeps names of every script in their order, its QR code leads to the
verification page, which confirms it and refuses a forged code; only qualifying attendees get
one, once; the cabinet lists and serves them to their owner; the staff page refuses a bad layout."""
import asyncio
import datetime
import io

import pypdf
import pytest
import zxingcpp
from bson import ObjectId
from PIL import Image

from access import roles as R
from accounts import erase, my_data
from certificates import issuing, render, templates
from registration import model as reg
from tests.support import translated
from tests.test_catalogue import make_event, register

HEBREW = "דוד כהן"
KAZAKH = "Әлия Нұрланқызы"


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def qr_texts(data: bytes) -> list[str]:
    found = []
    for page in pypdf.PdfReader(io.BytesIO(data)).pages:
        for image in page.images:
            picture = Image.open(io.BytesIO(image.data)).convert("L")
            found += [b.text for b in zxingcpp.read_barcodes(picture)]
    return found


def test_a_pdf_keeps_hebrew_and_kazakh_names_in_their_order():
    for locale, name in (("he", HEBREW), ("kk", KAZAKH), ("en", HEBREW)):
        data = render.pdf(templates.DEFAULT_LAYOUT, {"name": name, "event": "Конференция", "date": "2026-12-01",
                                                     "code": "ABCDEFGHJKLM", "url": "https://x.test/c/1"}, locale)
        lines = pdf_text(data).splitlines()
        assert name in lines, (locale, lines)
        assert name[::-1] not in pdf_text(data)


def test_a_layout_with_an_unknown_placeholder_is_refused():
    with pytest.raises(templates.TemplateError):
        templates.check_layout("<p>{name} {nmae}</p>")
    assert templates.check_layout("<p>{name} {qr}</p>") == "<p>{name} {qr}</p>"


async def watched(db, user, event, state=reg.REGISTERED, name=None):
    await register(db, user, event, state)
    await db.memberships.update_one({"user_id": user["_id"], "scope_id": event["_id"], "role": R.ATTENDEE},
                                    {"$set": {"watched_at": datetime.datetime.now(datetime.UTC),
                                              "name": name or user["name"], "email": user["email"]}})


@pytest.mark.gen_test(timeout=120)
async def test_issuing_verification_and_the_cabinet(browser, factory, db, services):
    space = await factory.space("cert")
    event = await make_event(factory, db, space, starts_in_days=-1, locales=("en", "he", "kk"),
                             title={"en": "Summit", "he": "כנס", "kk": "Конференция"})
    hebrew = await factory.user(locale="he", name=HEBREW)
    kazakh = await factory.user(locale="kk", name=KAZAKH)
    await watched(db, hebrew, event, name=HEBREW)
    await watched(db, kazakh, event, name=KAZAKH)
    never_opened = await factory.user()
    await register(db, never_opened, event)
    waiting = await factory.user()
    await watched(db, waiting, event, state=reg.WAITING)

    assert await issuing.start_job(db, event)
    await issuing.run(services, event["_id"])
    docs = await db.certificates.find({"event_id": event["_id"]}).to_list(None)
    assert {d["user_id"] for d in docs} == {hebrew["_id"], kazakh["_id"]}
    mails = await db.outbox.count_documents({"kind": issuing.MAIL})
    assert mails == 2

    # Issuing again makes nothing new and mails nobody twice.
    assert await issuing.start_job(db, event)
    await issuing.run(services, event["_id"])
    assert await db.certificates.count_documents({"event_id": event["_id"]}) == 2
    assert await db.outbox.count_documents({"kind": issuing.MAIL}) == 2
    job = (await db.certificate_templates.find_one({"event_id": event["_id"]}))["job"]
    assert job["status"] == "done" and job["existing"] == 2 and job["issued"] == 0

    mine = next(d for d in docs if d["user_id"] == hebrew["_id"])
    assert mine["locale"] == "he" and mine["event_title"] == "כנס"
    url = issuing.verification_url(services, mine["code"])
    assert HEBREW in pdf_text(bytes(mine["pdf"])).splitlines()
    assert qr_texts(bytes(mine["pdf"])) == [url]
    kz = next(d for d in docs if d["user_id"] == kazakh["_id"])
    assert KAZAKH in pdf_text(bytes(kz["pdf"])).splitlines()

    visitor = browser(locale="de")
    assert url.endswith(f"/certificates/{mine['code']}")
    r = await visitor.get(f"/certificates/{mine['code']}")
    assert r.status_code == 200 and HEBREW in r.text and "כנס" in r.text and f'data-certificate="{mine["code"]}"' in r.text
    forged = mine["code"][:-1] + ("A" if mine["code"][-1] != "A" else "B")
    r = await visitor.get(f"/certificates/{forged}")
    assert r.status_code == 404
    assert translated(services, "de", "No certificate has this code. Check that you typed it as printed.") in r.text
    assert (await visitor.get(f"/me/certificates/{mine['code']}.pdf")).status_code == 404

    owner = browser()
    await owner.sign_in(hebrew["login"], factory.PASSWORD)
    r = await owner.get("/me")
    assert f'href="/me/certificates/{mine["code"]}.pdf"' in r.text and kz["code"] not in r.text
    r = await owner.get(f"/me/certificates/{mine['code']}.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content == bytes(mine["pdf"])
    other = browser()
    await other.sign_in(kazakh["login"], factory.PASSWORD)
    assert (await other.get(f"/me/certificates/{mine['code']}.pdf")).status_code == 404

    # The person's data download lists it; erasing the account removes it, and its code stops verifying.
    exported = await my_data.collect(db, hebrew)
    assert [c["code"] for c in exported["certificates"]] == [mine["code"]]
    await erase.STEPS["certificates"](db, erase.Identity(hebrew, [HEBREW]))
    assert (await visitor.get(f"/certificates/{mine['code']}")).status_code == 404


@pytest.mark.gen_test(timeout=120)
async def test_a_quiz_condition_and_the_staff_page(browser, factory, db, services):
    space = await factory.space("certq")
    event = await make_event(factory, db, space, starts_in_days=-1)
    quiz_id = ObjectId()
    await db.quizzes.insert_one({"_id": quiz_id, "event_id": event["_id"], "title": {"en": "Check"}, "status": "closed",
                                 "questions": [], "created_at": datetime.datetime.now(datetime.UTC)})
    passed, failed, late, none = [await factory.user() for _ in range(4)]
    now = datetime.datetime.now(datetime.UTC)
    for person, score, is_late in ((passed, 8, False), (failed, 5, False), (late, 10, True)):
        await db.quiz_attempts.insert_one({"quiz_id": quiz_id, "event_id": event["_id"], "user_id": person["_id"],
                                           "score": score, "max_score": 10, "submitted_at": now, "late": is_late,
                                           "started_at": now})
    for person in (passed, failed, late, none):
        await watched(db, person, event)

    editor = await factory.member(R.EVENT_ADMIN, event=event)
    b = browser()
    await b.sign_in(editor["login"], factory.PASSWORD)
    base = f"/admin/events/{event['_id']}/certificates"
    r = await b.get(base)
    assert r.status_code == 200 and 'name="min_minutes"' in r.text
    r = await b.post(base, {"layout_en": "<p>{name} {surname}</p>", "quiz_id": str(quiz_id), "min_percent": "70"})
    assert r.status_code == 400 and "{surname}" in r.text
    assert await db.certificate_templates.find_one({"event_id": event["_id"]}) is None
    r = await b.post(base, {"layout_en": "<h1>Well done</h1><p>{name}</p>{qr}", "quiz_id": str(quiz_id),
                            "min_percent": "70"})
    assert r.status_code == 302
    r = await b.get(base + "/preview.pdf?locale=en")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert "Well done" in pdf_text(r.content)

    r = await b.post(base + "/issue")
    assert r.status_code == 302
    for _ in range(200):
        template = await db.certificate_templates.find_one({"event_id": event["_id"]})
        if template["job"]["status"] == "done":
            break
        await asyncio.sleep(0.05)
    holders = {d["user_id"] for d in await db.certificates.find({"event_id": event["_id"]}).to_list(None)}
    assert holders == {passed["_id"]}
    attendee = browser()
    await attendee.sign_in(failed["login"], factory.PASSWORD)
    assert (await attendee.post(base + "/issue")).status_code in (403, 404)


async def watched_minutes(db, event, user, minutes: int):
    """Watch time as the live side stores it: `minutes` full minutes of wall time."""
    first = 29_000_000
    await db.watch_time.insert_one({"event_id": event["_id"], "user_id": user["_id"],
                                    "minutes": {str(first + i): 60 for i in range(minutes)}})


@pytest.mark.gen_test(timeout=120)
async def test_only_those_who_watched_long_enough_get_a_certificate(browser, factory, db, services):
    """Two attendees watched 5 and 50 minutes; the condition is 30: only the second gets one."""
    space = await factory.space("certw")
    event = await make_event(factory, db, space, starts_in_days=-1)
    short, long_ = await factory.user(), await factory.user()
    for person, minutes in ((short, 5), (long_, 50)):
        await watched(db, person, event)
        await watched_minutes(db, event, person, minutes)

    editor = await factory.member(R.EVENT_ADMIN, event=event, locale="de")
    b = browser()
    await b.sign_in(editor["login"], factory.PASSWORD)
    base = f"/admin/events/{event['_id']}/certificates"
    for bad in ("-1", "thirty", "10001", "2.5"):
        r = await b.post(base, {"layout_en": "", "quiz_id": "", "min_percent": "", "min_minutes": bad})
        assert r.status_code == 400, bad
        assert translated(services, "de", "The minutes watched are a whole number from 0 to %(most)s.") \
            % {"most": "10000"} in r.text.replace("10,000", "10000").replace("10.000", "10000")
    assert await db.certificate_templates.find_one({"event_id": event["_id"]}) is None
    r = await b.post(base, {"layout_en": "", "quiz_id": "", "min_percent": "", "min_minutes": "30"})
    assert r.status_code == 302
    template = await db.certificate_templates.find_one({"event_id": event["_id"]})
    assert template["min_minutes"] == 30
    assert 'value="30"' in (await b.get(base)).text

    assert await issuing.start_job(db, event)
    await issuing.run(services, event["_id"])
    holders = {d["user_id"] for d in await db.certificates.find({"event_id": event["_id"]}, {"pdf": 0}).to_list(None)}
    assert holders == {long_["_id"]}

    # Watching more later qualifies the first one at the next issue; the second keeps the one they have.
    await db.watch_time.delete_one({"user_id": short["_id"]})
    await watched_minutes(db, event, short, 31)
    assert await issuing.start_job(db, event)
    await issuing.run(services, event["_id"])
    docs = await db.certificates.find({"event_id": event["_id"]}).to_list(None)
    assert {d["user_id"] for d in docs} == {short["_id"], long_["_id"]}
    assert all(bytes(d["pdf"]).startswith(b"%PDF") for d in docs)
    job = (await db.certificate_templates.find_one({"event_id": event["_id"]}))["job"]
    assert job["issued"] == 1 and job["existing"] == 1


@pytest.mark.gen_test(timeout=120)
async def test_issuing_in_batches_renders_each_pdf_once_and_resumes_after_a_failure(factory, db, services,
                                                                                    monkeypatch):
    monkeypatch.setattr(issuing, "BATCH", 2)   # several batches under way at once,
    monkeypatch.setattr(issuing, "PAGE", 3)    # from several pages of registrations
    space = await factory.space("certb")
    event = await make_event(factory, db, space, starts_in_days=-1)
    people = [await factory.user() for _ in range(7)]
    for person in people:
        await watched(db, person, event)

    drawn = []
    render = services.pdfs.render

    async def failing(layout, values, locale):
        drawn.append(values["code"])
        if len(drawn) == 4:
            raise RuntimeError("the PDF worker failed")
        return await render(layout, values, locale)
    monkeypatch.setattr(services.pdfs, "render", failing)

    assert await issuing.start_job(db, event)
    await issuing.run(services, event["_id"])
    job = (await db.certificate_templates.find_one({"event_id": event["_id"]}))["job"]
    assert job["status"] == "running" and job["lease_until"] is None   # failed: another run takes it over
    assert job["issued"] < 7
    await issuing.run(services, event["_id"])
    docs = await db.certificates.find({"event_id": event["_id"]}).to_list(None)
    assert sorted(d["user_id"] for d in docs) == sorted(p["_id"] for p in people)
    assert all(bytes(d["pdf"]).startswith(b"%PDF") and d["rendered_at"] for d in docs)
    # Every certificate drawn once, except the one whose drawing failed (drawn again on resuming).
    assert len(drawn) == 8 and len(set(drawn)) == 7
    assert await db.outbox.count_documents({"kind": issuing.MAIL}) == 7
    assert len(set(await db.outbox.distinct("to", {"kind": issuing.MAIL}))) == 7
    job = (await db.certificate_templates.find_one({"event_id": event["_id"]}))["job"]
    assert job["status"] == "done" and job["issued"] + job["existing"] == 7
