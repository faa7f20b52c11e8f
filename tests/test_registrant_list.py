"""The registrant list for staff: filters, sort, pages, bulk actions, the CSV of exactly the
filtered list, and the live count of registrations.

The registrations answer a real form saved through the builder's action
(`registration.form_edit`), so answers are read as the list and the CSV read them.
"""
from __future__ import annotations

import asyncio
import csv
import datetime
import io
import re

import pytest
from bson import ObjectId
from tornado.httpclient import HTTPClientError

from access import roles as R
from attendees import registry
from registration import bulk, counts, filters, form_edit, forms
from registration import model as M
from tests.live_client import LiveClient
from tests.support import error_text, translated

UTC = datetime.UTC

# The registration form the registrations below answered, saved through the builder's action.
FIELDS = [
    {"id": "f_city", "type": forms.TEXT, "label": {"en": "City", "ru": "Город", "de": "Stadt"}},
    {"id": "f_track", "type": forms.MULTIPLE, "label": {"en": "Track", "ru": "Секция", "de": "Sektion"},
     "options": [{"value": "ai", "label": {"en": "Machine learning", "ru": "Машинное обучение",
                                           "de": "Maschinelles Lernen"}},
                 {"value": "web", "label": {"en": "Web", "ru": "Веб", "de": "Web"}}]},
    {"id": "f_note", "type": forms.TEXT, "label": {"en": "Note", "ru": "Заметка", "de": "Notiz"}},
]


async def save_form(db, event) -> dict:
    admin = {"_id": ObjectId(), "email": "builder@example.org", "name": "Builder"}
    locales = set(event["locales"])
    fields = [{**f, "label": {k: v for k, v in f["label"].items() if k in locales},
               "options": [{**o, "label": {k: v for k, v in o["label"].items() if k in locales}}
                           for o in f.get("options", [])]} for f in FIELDS]
    for f in fields:
        if not f["options"]:
            del f["options"]
    return await form_edit.save(db, admin, event, fields, expected_version=0)


def path(event, rest: str = "") -> str:
    return f"/admin/events/{event['_id']}/attendees{rest}"


async def staff(browser, factory, event, role=R.EVENT_ADMIN, locale="en"):
    person = await factory.member(role, event=event, locale=locale)
    b = browser(locale=locale)
    await b.sign_in(person["login"], factory.PASSWORD)
    return b, person


async def add(db, event, email, name, *, state=None, source=None, answers=None, at=None, locale="en",
              legacy=False):
    """A registration as the registration actions leave it (state, source, answers, date);
    `legacy`: as stored before states and sources existed (neither key)."""
    m = await registry.register(db, event, email=email, name=name, locale=locale)
    if legacy:
        await db.memberships.update_one({"_id": m["_id"]}, {"$unset": {"state": "", "state_at": "", "source": ""}})
    changes = {}
    if state is not None:
        changes["state"] = state
    if source is not None:
        changes["source"] = source
    if answers is not None:
        changes["answers"] = {k: {"v": 1, "value": v} for k, v in answers.items()}
    if at is not None:
        changes["created_at"] = at
    if changes:
        await db.memberships.update_one({"_id": m["_id"]}, {"$set": changes})
    return await db.memberships.find_one({"_id": m["_id"]})


async def seed(db, event) -> dict:
    if (await forms.load(db, event["_id"]))["version"] == 0:
        await save_form(db, event)
    day = lambda d, h=12: datetime.datetime(2026, 5, d, h, tzinfo=UTC)  # noqa: E731
    people = {
        "anna": await add(db, event, "anna@example.org", "Anna", state=M.PENDING, source=M.SOURCE_FORM,
                          answers={"f_city": "Riga", "f_track": ["ai", "web"]}, at=day(1)),
        "boris": await add(db, event, "boris@example.org", "Борис", state=M.WAITING, source=M.SOURCE_ONE_CLICK,
                           answers={"f_city": "Rīga centrs", "f_track": ["web"]}, at=day(2)),
        "chen": await add(db, event, "chen@example.org", "Chen", state=M.REGISTERED, source=M.SOURCE_IMPORT,
                          answers={"f_city": "Tallinn", "f_track": ["ai"]}, at=day(3)),
        "dana": await add(db, event, "dana@example.org", "דנה", legacy=True,
                          answers={"f_city": "riga"}, at=day(4)),      # no state: registered by staff before states
        "erlan": await add(db, event, "erlan@example.org", "Ерлан Әлібек", state=M.CANCELLED,
                           source=M.SOURCE_FORM, answers={"f_note": "=HYPERLINK(\"http://x\")"}, at=day(5)),
        # 23:30 in Riga on the 5th is 20:30 UTC: the 5th in the event's time zone.
        "fay": await add(db, event, "fay@example.org", "Fay", state=M.PENDING, source=M.SOURCE_FORM,
                         answers={"f_city": "Vilnius"}, at=datetime.datetime(2026, 5, 5, 20, 30, tzinfo=UTC)),
    }
    return people


async def watched(db, event, membership, minutes: dict) -> None:
    """Watch time as the live side stores it (`registration.watch_time`)."""
    await db.watch_time.insert_one({"event_id": event["_id"], "user_id": membership["user_id"], "minutes": minutes})


async def emails(db, event, args: dict, sort: str = "email") -> list[str]:
    chosen = filters.parse(args, filters.answer_fields(await forms.load(db, event["_id"]), "en"))
    rows, _ = await registry.search(db, event, sort=sort, filters=chosen, per_page=100)
    return [r["email"].split("@")[0] for r in rows]


# --- filters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    ({}, ["anna", "boris", "chen", "dana", "erlan", "fay"]),
    ({"state": "pending"}, ["anna", "fay"]),
    ({"state": "registered"}, ["chen", "dana"]),          # no state counts as registered
    ({"state": "expired"}, []),
    ({"source": "form"}, ["anna", "erlan", "fay"]),
    ({"source": "staff"}, ["dana"]),                       # no source: staff registered them
    ({"source": "import"}, ["chen"]),
    ({"field": "f_city", "value": "RIGA"}, ["anna", "dana"]),             # equals, whatever the case
    ({"field": "f_city", "op": "contains", "value": "rīga"}, ["boris"]),
    ({"field": "f_city", "op": "contains", "value": "i"}, ["anna", "chen", "dana", "fay"]),
    ({"field": "f_track", "value": "web"}, ["anna", "boris"]),            # a choice, by its option
    ({"field": "f_track", "value": "Machine learning"}, ["anna", "chen"]),  # ... or by its label
    ({"field": "f_city", "op": "contains", "value": ".*"}, []),           # typed text, never a pattern
    ({"since": "2026-05-02", "until": "2026-05-04"}, ["boris", "chen", "dana"]),
    ({"since": "2026-05-05"}, ["erlan", "fay"]),
    ({"until": "2026-05-01"}, ["anna"]),
    ({"q": "Борис"}, ["boris"]),
    ({"state": "pending", "source": "form", "field": "f_city", "value": "riga"}, ["anna"]),
    ({"state": "pending", "since": "2026-05-02"}, ["fay"]),
    ({"q": "a", "state": "registered", "field": "f_city", "op": "contains", "value": "riga"}, ["dana"]),
])
@pytest.mark.gen_test
async def test_each_filter_alone_and_combined(db, factory, args, expected):
    event = await factory.event(locales=("en", "ru"))
    await seed(db, event)
    other = await factory.event()
    await add(db, other, "anna@example.org", "Anna elsewhere", state=M.PENDING, source=M.SOURCE_FORM,
              answers={"f_city": "Riga"})
    assert await emails(db, event, args) == expected


@pytest.mark.gen_test
async def test_the_page_applies_the_filters_and_keeps_them_in_every_link(browser, factory, db):
    event = await factory.event(locales=("en", "ru"))
    await seed(db, event)
    for i in range(60):
        await add(db, event, f"wait{i:02d}@example.org", f"Waiting {i:02d}", state=M.WAITING, source=M.SOURCE_FORM)
    b, _ = await staff(browser, factory, event)

    r = await b.get(path(event, "?state=waiting&source=form&sort=email"))
    assert r.status_code == 200
    assert r.text.count('class="bulk-row"') == 50 and "Page 1 of 2" in r.text
    assert "boris@example.org" not in r.text           # waiting, but one-click
    links = re.findall(r'href="([^"]*)"', r.text)
    nxt = [h for h in links if "page=2" in h]
    assert nxt and all("state=waiting" in h and "source=form" in h and "sort=email" in h for h in nxt)
    sorts = [h for h in links if "sort=name" in h]
    assert sorts and all("state=waiting" in h and "source=form" in h for h in sorts)
    export = [h for h in links if "list.csv" in h]
    assert export and "state=waiting" in export[0] and "source=form" in export[0]

    r2 = await b.get(path(event, "?state=waiting&source=form&sort=email&page=2"))
    assert r2.text.count('class="bulk-row"') == 10 and "wait59@example.org" in r2.text
    assert "wait00@example.org" in r.text and "wait00@example.org" not in r2.text

    # Counts per state are chips linking to the state, other filters kept.
    assert 'data-count-state="waiting">61<' in r.text and 'data-count-state="pending">2<' in r.text
    assert "data-count-total>66<" in r.text


@pytest.mark.gen_test
async def test_sort_by_name_email_registered_and_state(db, factory):
    event = await factory.event()
    await seed(db, event)
    assert await emails(db, event, {}, "email") == ["anna", "boris", "chen", "dana", "erlan", "fay"]
    assert await emails(db, event, {}, "name") == ["anna", "chen", "fay", "boris", "erlan", "dana"]
    assert await emails(db, event, {}, "registered") == ["fay", "erlan", "dana", "chen", "boris", "anna"]
    by_state = await emails(db, event, {}, "state")
    assert by_state[0] == "dana"                                  # no state first
    assert by_state.index("erlan") < by_state.index("anna") < by_state.index("chen") < by_state.index("boris")


@pytest.mark.parametrize("query, message, params", [
    ("state=bogus", "“%(state)s” is not a registration state.", {"state": "bogus"}),
    ("source=fax", "“%(source)s” is not a way of registering.", {"source": "fax"}),
    ("field=shoe&value=42", "The registration form has no field “%(field)s”.", {"field": "shoe"}),
    ("field=%24where&value=1", "The registration form has no field “%(field)s”.", {"field": "$where"}),
    ("field=f_city.value&value=1", "The registration form has no field “%(field)s”.", {"field": "f_city.value"}),
    ("field=f_city&op=regex&value=1", "Choose whether the answer equals or contains the value.", {}),
    ("field=f_city&value=" + "x" * 201, "The value is longer than %(max)s characters.", {"max": 200}),
    ("field=f_city", "Type the answer to look for.", {}),
    ("since=2026-13-01", "“%(date)s” is not a date (year-month-day).", {"date": "2026-13-01"}),
    ("until=yesterday", "“%(date)s” is not a date (year-month-day).", {"date": "yesterday"}),
    ("since=2026-05-05&until=2026-05-01", "The first date is after the last one.", {}),
])
@pytest.mark.gen_test
async def test_a_bad_filter_is_explained_in_the_staff_language_and_shows_nobody(
        browser, factory, db, services, query, message, params):
    event = await factory.event(locales=("en", "de"))
    await seed(db, event)
    b, _ = await staff(browser, factory, event, locale="de")
    r = await b.get(path(event, "?" + query))
    assert r.status_code == 400 and 'lang="de"' in r.text
    expected = translated(services, "de", message, **params)
    assert error_text(r.text) == expected and expected != translated(services, "en", message, **params)
    assert 'class="bulk-row"' not in r.text and "anna@example.org" not in r.text
    export = await b.get(path(event, "/list.csv?" + query))
    assert export.status_code == 400 and "text/csv" not in export.headers.get("content-type", "")


# --- bulk actions ---------------------------------------------------------------------------

async def wait_for(db, job_id, timeout=10.0) -> dict:
    for _ in range(int(timeout / 0.05)):
        job = await db.bulk_jobs.find_one({"_id": job_id})
        if job and job["status"] == bulk.FINISHED:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job not finished: {job}")


async def post_bulk(b, event, data: dict, ids=()) -> tuple:
    body = {**data, "_xsrf": await b.xsrf()}
    if ids:
        body["id"] = [str(i) for i in ids]
    return await b.client.post(path(event, "/bulk"), data=body)


def job_id_of(r) -> str:
    assert r.status_code == 302, (r.status_code, error_text(r.text))
    return r.headers["location"].rsplit("/", 1)[1]


@pytest.mark.gen_test(timeout=30)
async def test_bulk_approve_a_mixed_selection_reports_done_and_skipped_with_reasons(browser, factory, db):
    event = await factory.event()
    p = await seed(db, event)
    other = await factory.event()
    theirs = await add(db, other, "x@example.org", "X", state=M.PENDING)
    b, admin = await staff(browser, factory, event)
    ids = [p["anna"]["_id"], p["fay"]["_id"], p["chen"]["_id"], p["boris"]["_id"], theirs["_id"], "nonsense"]
    r = await post_bulk(b, event, {"action": "approve", "key": "k1"}, ids)
    job = await wait_for(db, bulk.users.as_id(job_id_of(r)))
    assert (job["done"], job["skipped"]) == (2, 4)
    assert job["reasons"] == {"state:registered": 1, "state:waiting": 1, "gone": 2}
    states = {k: M.state_of(await db.memberships.find_one({"_id": v["_id"]})) for k, v in p.items()}
    assert states["anna"] == states["fay"] == M.REGISTERED and states["boris"] == M.WAITING
    assert (await db.memberships.find_one({"_id": theirs["_id"]}))["state"] == M.PENDING
    # Approving is the registration's own transition, audited under the state it leads to.
    entries = await db.audit.find({"action": "registration.registered"}).to_list(None)
    assert len(entries) == 2 and all(e["actor_id"] == admin["_id"] and e["after"] == {"state": "registered"}
                                     for e in entries)

    page = await b.get(r.headers["location"])
    assert page.status_code == 200 and "2 done, 4 skipped" in page.text
    assert "no longer registered for this event" in page.text and "On the waiting list" in page.text
    j = await b.get(r.headers["location"], headers={"Accept": "application/json"})
    assert j.json()["status"] == "finished" and j.json()["done"] == 2 and len(j.json()["reasons"]) == 3


@pytest.mark.gen_test(timeout=30)
async def test_destructive_actions_ask_first_and_change_nothing_until_confirmed(browser, factory, db):
    event = await factory.event()
    p = await seed(db, event)
    b, _ = await staff(browser, factory, event)
    before = await db.memberships.find({}, {"state": 1}).sort("_id", 1).to_list(None)
    for action in ("reject", "cancel"):
        r = await post_bulk(b, event, {"action": action, "key": f"c-{action}"}, [p["boris"]["_id"]])
        assert r.status_code == 200 and 'name="confirmed" value="1"' in r.text
        assert f'name="id" value="{p["boris"]["_id"]}"' in r.text
    assert await db.memberships.find({}, {"state": 1}).sort("_id", 1).to_list(None) == before
    assert await db.bulk_jobs.count_documents({}) == 0

    r = await post_bulk(b, event, {"action": "reject", "key": "c-reject", "confirmed": "1"}, [p["boris"]["_id"]])
    await wait_for(db, bulk.users.as_id(job_id_of(r)))
    assert (await db.memberships.find_one({"_id": p["boris"]["_id"]}))["state"] == M.REJECTED


@pytest.mark.gen_test(timeout=30)
async def test_retry_is_idempotent(browser, factory, db):
    event = await factory.event()
    p = await seed(db, event)
    b, _ = await staff(browser, factory, event)
    data = {"action": "cancel", "key": "same-form", "confirmed": "1"}
    first = job_id_of(await post_bulk(b, event, data, [p["chen"]["_id"], p["dana"]["_id"]]))
    await wait_for(db, bulk.users.as_id(first))
    # The same form again (a double click, a reload): the same job, nothing done twice.
    again = job_id_of(await post_bulk(b, event, data, [p["chen"]["_id"], p["dana"]["_id"]]))
    assert again == first and await db.bulk_jobs.count_documents({}) == 1
    assert await db.audit.count_documents({"action": "registration.cancelled"}) == 2
    # A new form for the same people: each skipped, already cancelled.
    other = await wait_for(db, bulk.users.as_id(job_id_of(await post_bulk(
        b, event, {**data, "key": "second"}, [p["chen"]["_id"], p["dana"]["_id"]]))))
    assert (other["done"], other["skipped"], other["reasons"]) == (0, 2, {"state:cancelled": 2})
    assert await db.audit.count_documents({"action": "registration.cancelled"}) == 2


@pytest.mark.gen_test(timeout=60)
async def test_select_everyone_matching_the_filter_in_batches_with_progress(browser, factory, db, services,
                                                                            monkeypatch):
    event = await factory.event()
    await seed(db, event)
    for i in range(130):
        await add(db, event, f"w{i:03d}@example.org", f"W {i:03d}", state=M.WAITING, source=M.SOURCE_FORM)
    monkeypatch.setattr(bulk, "BATCH", 40)
    seen = []
    real = bulk.apply

    async def watching(db_, services_, event_, membership_id, action, *, actor):
        job = await db.bulk_jobs.find_one({}, {"position": 1})
        seen.append(job["position"])
        return await real(db_, services_, event_, membership_id, action, actor=actor)
    monkeypatch.setattr(bulk, "apply", watching)
    b, _ = await staff(browser, factory, event)
    r = await post_bulk(b, event, {"action": "offer", "key": "all", "all": "1", "state": "waiting",
                                   "source": "form"}, ["ignored-when-all"])
    job = await wait_for(db, bulk.users.as_id(job_id_of(r)))
    assert (job["total"], job["done"], job["skipped"]) == (130, 130, 0)
    assert sorted(set(seen)) == [0, 40, 80, 120]          # progress saved after each batch
    assert await db.memberships.count_documents({"state": M.OFFERED}) == 130
    assert (await db.memberships.find_one({"email": "boris@example.org"}))["state"] == M.WAITING
    offered = await db.memberships.find_one({"state": M.OFFERED})
    assert offered["offer_expires_at"] > offered["state_at"]


@pytest.mark.gen_test(timeout=30)
async def test_a_job_survives_its_page_and_a_restart(factory, db, services):
    event = await factory.event()
    p = await seed(db, event)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    job = await bulk.create(db, event, action=bulk.APPROVE, chosen=[str(p["anna"]["_id"]), str(p["fay"]["_id"])],
                            key="restart", actor=admin)
    # A runner died holding it: its lease lapses, and the next start carries on.
    await db.bulk_jobs.update_one({"_id": job["_id"]}, {"$set": {
        "runner": "gone", "lease_until": datetime.datetime.now(UTC) - datetime.timedelta(seconds=1)}})
    tasks = await bulk.resume_all(services)
    await asyncio.gather(*tasks)
    job = await db.bulk_jobs.find_one({"_id": job["_id"]})
    assert job["status"] == bulk.FINISHED and job["done"] == 2
    # Finished jobs are not run again.
    assert await bulk.resume_all(services) == []


@pytest.mark.gen_test(timeout=30)
async def test_send_a_message_each_in_their_language_once(browser, factory, db, services):
    event = await factory.event(locales=("ru", "en", "de"))
    p = {
        "olga": await add(db, event, "olga@example.org", "Olga", state=M.REGISTERED, locale="ru"),
        "hans": await add(db, event, "hans@example.org", "Hans", state=M.WAITING, locale="de"),
    }
    b, _ = await staff(browser, factory, event)
    ids = [p["olga"]["_id"], p["hans"]["_id"]]
    compose = await post_bulk(b, event, {"action": "message", "key": "m1"}, ids)
    assert compose.status_code == 200 and 'name="subject"' in compose.text and 'name="compose"' in compose.text
    r = await post_bulk(b, event, {"action": "message", "key": "m1", "compose": "1", "subject": " ", "text": "x"},
                        ids)
    assert r.status_code == 400 and error_text(r.text) and await db.bulk_jobs.count_documents({}) == 0
    data = {"action": "message", "key": "m1", "compose": "1", "subject": "Room change",
            "text": "We meet in <b>hall 2</b> & not 3."}
    job = await wait_for(db, bulk.users.as_id(job_id_of(await post_bulk(b, event, data, ids))))
    assert job["done"] == 2
    mails = {m["to"]: m for m in await db.outbox.find({"kind": "registrants"}).to_list(None)}
    assert set(mails) == {"olga@example.org", "hans@example.org"}
    assert mails["olga@example.org"]["html"] is None
    assert "We meet in <b>hall 2</b> & not 3." in mails["olga@example.org"]["text"]
    ru = services.i18n.gettext("ru")("You receive this message because you registered for %(event)s.")
    de = services.i18n.gettext("de")("You receive this message because you registered for %(event)s.")
    assert ru != de
    assert ru % {"event": event["title"]["ru"]} in mails["olga@example.org"]["text"]
    assert de % {"event": event["title"]["de"]} in mails["hans@example.org"]["text"]
    # Run again (a restart after the mails went out, before the job was marked): nobody mailed twice.
    await db.bulk_jobs.update_one({"_id": job["_id"]}, {"$set": {"status": bulk.RUNNING, "position": 0}})
    await bulk.run(services, job["_id"])
    assert await db.outbox.count_documents({"kind": "registrants"}) == 2


# --- CSV ------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["sort=name", "state=pending&sort=registered", "field=f_city&op=contains&value=i",
                                   "source=form&sort=state", "q=%D0%91%D0%BE%D1%80%D0%B8%D1%81"])
@pytest.mark.gen_test(timeout=30)
async def test_the_csv_is_exactly_the_filtered_list_with_every_script_intact(browser, factory, db, query,
                                                                             monkeypatch):
    monkeypatch.setattr(registry, "EXPORT_BATCH", 2)   # several pieces even for a short list
    event = await factory.event(locales=("en", "ru", "kk", "he"))
    p = await seed(db, event)
    await db.memberships.update_one({"_id": p["dana"]["_id"]}, {"$set": {"answers.f_note": {"v": 1, "value": "שלום עולם"}}})
    await db.memberships.update_one({"_id": p["erlan"]["_id"]}, {"$set": {"answers.f_city": {"v": 1, "value": "Қарағанды"}}})
    await db.memberships.update_one({"_id": p["boris"]["_id"]}, {"$set": {"answers.f_note": {"v": 1, "value": "Привет, мир"}}})
    # Dana watched 7 minutes and 30 s (two minutes of it on two processes at once), Chen 3 minutes.
    await watched(db, event, p["dana"], {"100": 60, "101": 90, "102": 60, "103": 60, "104": 60, "105": 60,
                                         "106": 60, "107": 30})
    await watched(db, event, p["chen"], {"5000": 60, "5001": 60, "5002": 60})
    b, _ = await staff(browser, factory, event)

    page_emails, n = [], 1
    while True:
        page = await b.get(path(event, f"?{query}&page={n}"))
        assert page.status_code == 200
        page_emails += re.findall(r"<td>([a-z0-9.]+@example\.org)</td>", page.text)
        if "rel=\"next\"" not in page.text:
            break
        n += 1
    r = await b.get(path(event, f"/list.csv?{query}"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header == [*registry.LIST_COLUMNS, "City", "Track", "Note"]
    assert [row[0] for row in body] == page_emails and page_emails
    by_email = {row[0]: dict(zip(header, row)) for row in body}
    expected = {
        "boris@example.org": {"name": "Борис", "Note": "Привет, мир", "state": "waiting", "source": "one_click"},
        "dana@example.org": {"name": "דנה", "Note": "שלום עולם", "state": "registered", "source": "staff"},
        "erlan@example.org": {"name": "Ерлан Әлібек", "City": "Қарағанды", "Note": "'=HYPERLINK(\"http://x\")"},
        "anna@example.org": {"Track": "Machine learning; Web", "City": "Riga", "state": "pending",
                             "minutes_watched": "0"},
        "chen@example.org": {"minutes_watched": "3"},
    }
    if "dana@example.org" in by_email:
        assert by_email["dana@example.org"]["minutes_watched"] == "7"
    # The list shows the same minutes.
    assert 'data-minutes-watched="7"' in (await b.get(path(event, "?q=dana"))).text
    for email, cells in expected.items():
        if email in by_email:
            assert {k: by_email[email][k] for k in cells} == cells
    for row in by_email.values():
        assert row["registered_at"].endswith("Z")


# --- the live count ---------------------------------------------------------------------------

async def live(base_url, b, event) -> LiveClient:
    client = await LiveClient.connect(base_url, b, event["_id"])
    await client.expect("welcome")
    return client


@pytest.mark.gen_test(timeout=30)
async def test_the_count_arrives_over_the_websocket_after_a_registration(browser, factory, db, base_url, services):
    event = await factory.event()
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"registration": {"open": True}}})
    await seed(db, event)
    b, _ = await staff(browser, factory, event)
    page = await b.get(path(event))
    assert 'data-live="1"' in page.text and "js/registrants.js" in page.text
    client = await live(base_url, b, event)
    first = await client.expect("registrations")
    assert first["event"] == str(event["_id"]) and first["total"] == 6
    assert first["states"]["pending"] == 2 and first["states"]["registered"] == 2 and first["holding"] == 2

    # An attendee of the event hears nothing of it.
    attendee = await factory.member(R.ATTENDEE, event=event)
    ab = browser()
    await ab.sign_in(attendee["login"], factory.PASSWORD)
    watcher = await live(base_url, ab, event)

    r = await b.post(path(event, "/new"), {"email": "new@example.org", "name": "New", "locale": "ru"})
    assert r.status_code == 302
    frame = await client.expect("registrations", total=8)   # the attendee registered above, and this one
    assert frame["states"]["registered"] == 4
    assert not [f for f in await watcher.quiet(0.8) if f.get("type") == "registrations"]
    client.close()
    watcher.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_burst_is_coalesced_and_ends_with_the_final_numbers(browser, factory, db, base_url, services):
    event = await factory.event()
    b, _ = await staff(browser, factory, event)
    client = await live(base_url, b, event)
    await client.expect("registrations", total=0)
    # Forty registrations spread over about 1.2 seconds: pushed one by one they would be forty frames.
    for i in range(40):
        await registry.register(db, event, email=f"burst{i}@example.org", services=services)
        await asyncio.sleep(0.03)
    frames = [f for f in await client.quiet(1.5) if f.get("type") == "registrations"]
    assert 2 <= len(frames) <= 5, [f["total"] for f in frames]
    assert frames[-1]["total"] == 40
    client.close()


@pytest.mark.gen_test
async def test_counts_by_state_count_stateless_registrations_as_registered(db, factory):
    event = await factory.event()
    await seed(db, event)
    found = await counts.by_state(db, event["_id"])
    assert found == {**dict.fromkeys(M.STATES, 0), "pending": 2, "waiting": 1, "registered": 2, "cancelled": 1}


# --- other spaces ---------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_staff_of_another_space_see_nothing_and_their_ids_do_nothing(browser, factory, db, base_url):
    mine = await factory.event()
    theirs = await factory.event()
    p = await seed(db, theirs)
    their_admin = await factory.member(R.EVENT_ADMIN, event=theirs)
    their_job = await bulk.create(db, theirs, action=bulk.APPROVE, chosen=[str(p["anna"]["_id"])], key="t",
                                  actor=their_admin)
    b, _ = await staff(browser, factory, mine)
    assert (await b.get(path(mine, f"/bulk/{their_job['_id']}"))).status_code == 404
    assert (await b.get(path(theirs, f"/bulk/{their_job['_id']}"))).status_code == 403
    assert (await b.get(path(theirs, "/list.csv"))).status_code == 403
    before = await db.memberships.find({"scope_id": theirs["_id"]}).sort("_id", 1).to_list(None)
    r = await post_bulk(b, mine, {"action": "cancel", "key": "x", "confirmed": "1"},
                        [v["_id"] for v in p.values()])
    job = await wait_for(db, bulk.users.as_id(job_id_of(r)))
    assert (job["done"], job["reasons"]) == (0, {"gone": 6})
    r = await post_bulk(b, mine, {"action": "cancel", "key": "y", "confirmed": "1", "all": "1"})
    assert r.status_code == 400 and error_text(r.text)     # nobody of mine matches
    assert await db.memberships.find({"scope_id": theirs["_id"]}).sort("_id", 1).to_list(None) == before
    csv_text = (await b.get(path(mine, "/list.csv"))).content.decode("utf-8-sig")
    assert "example.org" not in csv_text
    with pytest.raises(HTTPClientError) as refused:
        await LiveClient.connect(base_url, b, theirs["_id"])
    assert refused.value.code == 403
