"""Extra data requests: staff build one with the form builder, mail it now (over real SMTP) or
automatically to new registrants, registrants answer it in its period, and the answers are columns
of the registrant list and its CSV.  Refusals (outside the dates, not targeted, another space's
staff, invalid answers) are translated and write nothing."""
from __future__ import annotations

import asyncio
import csv
import datetime
import io

import pytest

from access import roles as R
from attendees import registry
from core.clock import utcnow
from mailings import templates
from realtime import timers
from registration import actions, bulk, form_edit, forms, requests, states
from tests.support import error_text, translated
from tests.test_mailer import body, settings, smtp_server  # noqa: F401 (the fixtures)

HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
LOCALES = ("en", "ru", "he")
FIELDS = [
    {"id": "f_diet", "type": forms.SINGLE, "required": True,
     "label": {"en": "Diet", "ru": "Питание", "he": "תזונה"},
     "options": [{"value": "veg", "label": {"en": "Vegetarian", "ru": "Вегетарианское", "he": "צמחוני"}},
                 {"value": "any", "label": {"en": "Anything", "ru": "Любое", "he": "הכל"}}]},
    {"id": "f_size", "type": forms.TEXT, "label": {"en": "T-shirt size", "ru": "Размер футболки", "he": "מידה"},
     "max_length": 5},
]


def values(event, *, starts=-HOUR, ends=DAY, states_=("registered",), auto=True, **over) -> dict:
    now, zone = utcnow(), event["timezone"]
    out = {"title": {"en": "Diet and size", "ru": "Питание и размер", "he": "תזונה ומידה"},
           "subject": {"en": "Tell us your diet", "ru": "Расскажите о питании", "he": "ספרו לנו על התזונה"},
           "text": {"en": "Hello!\nPlease answer.", "ru": "Здравствуйте!\nОтветьте, пожалуйста.",
                    "he": "שלום!\nנא לענות."},
           "success_title": {"en": "Thanks <b>a lot</b>", "ru": "Спасибо!"},
           "success_text": {"en": "See you <script>soon</script>.\n\nBring a smile."},
           "starts": requests.local_value(now + starts, zone), "ends": requests.local_value(now + ends, zone),
           "states": list(states_), "auto": auto}
    out.update(over)
    return out


def as_form(v: dict) -> dict:
    """The staff page's form for settings `v`."""
    data: dict = {}
    for name in ("title", "subject", "text", "success_title", "success_text"):
        for code, text in v.get(name, {}).items():
            data[f"{name}_{code}"] = text
    data.update(starts=v["starts"], ends=v["ends"], states=v["states"])
    if v["auto"]:
        data["auto"] = "1"
    return data


async def setup(factory, db, *, auto=True, starts=-HOUR, ends=DAY):
    space = await factory.space()
    event = await factory.event(space, locales=LOCALES)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    request = await requests.create(db, admin, event, requests.clean(event, values(event, auto=auto, starts=starts,
                                                                                    ends=ends)))
    form = await form_edit.save(db, admin, event, FIELDS, expected_version=0, kind=requests.form_kind(request))
    return space, event, admin, request, form


async def registrant(factory, db, event, email, locale="en", *, before=False):
    """A person with a password, registered by staff; `before`: registered an hour before now."""
    user = await factory.user(email=email, locale=locale, name=email.split("@")[0].title())
    membership = await registry.register(db, event, email=email, name=user["name"], locale=locale)
    if before:
        await db.memberships.update_one({"_id": membership["_id"]}, {"$set": {"state_at": utcnow() - 2 * HOUR}})
    return user, await db.memberships.find_one({"_id": membership["_id"]})


async def signed_in(browser, factory, user, locale="en"):
    b = browser(locale=locale)
    await b.sign_in(user["login"], factory.PASSWORD)
    return b


def page_of(space, event, request) -> str:
    return f"/e/{space['slug']}/{event['slug']}/requests/{request['_id']}"


def staff_path(event, rest="") -> str:
    return f"/admin/events/{event['_id']}/requests{rest}"


async def wait_for(db, job_id, timeout=10.0) -> dict:
    for _ in range(int(timeout / 0.05)):
        job = await db.bulk_jobs.find_one({"_id": job_id})
        if job and job["status"] == bulk.FINISHED:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job not finished: {job}")


async def settle(services):
    while jobs := [t for t in services.background if not timers.is_timer(t)]:
        await asyncio.gather(*jobs)


# --- building -------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_staff_build_a_request_with_the_registration_form_builder(browser, factory, db, services):
    space = await factory.space()
    event = await factory.event(space, locales=LOCALES)
    # An event manager works on registrants but may not edit the event: the one permission requests need.
    manager = await factory.member(R.EVENT_MANAGER, event=event, locale="de")
    b = await signed_in(browser, factory, manager, locale="de")
    new = await b.get(staff_path(event, "/new"))
    assert new.status_code == 200 and 'name="title_en"' in new.text and 'type="datetime-local"' in new.text

    # Refused: no title in the default language; another state than those a request may be for.
    before = await db.data_requests.count_documents({})
    r = await b.post(staff_path(event, "/new"), as_form(values(event, title={"ru": "Только по-русски"})))
    assert r.status_code == 400
    assert error_text(r.text) == translated(services, "de", requests.NO_TITLE, language="en")
    assert error_text(r.text) != translated(services, "en", requests.NO_TITLE, language="en")
    r = await b.post(staff_path(event, "/new"), as_form(values(event, states_=("cancelled",))))
    assert r.status_code == 400 and error_text(r.text) == translated(services, "de", requests.NO_STATES)
    r = await b.post(staff_path(event, "/new"), as_form(values(event, starts=DAY, ends=HOUR)))
    assert r.status_code == 400 and error_text(r.text) == translated(services, "de", requests.END_BEFORE_START)
    assert await db.data_requests.count_documents({}) == before

    r = await b.post(staff_path(event, "/new"), as_form(values(event)))
    assert r.status_code == 302
    request = await db.data_requests.find_one({"event_id": event["_id"]})
    builder = staff_path(event, f"/{request['_id']}/form")
    assert r.headers["location"] == builder
    assert request["states"] == ["registered"] and request["auto"] is True
    assert request["title"]["ru"] == "Питание и размер"

    # The builder is the registration form's page, for the request's own form.
    page = await b.get(builder)
    assert page.status_code == 200 and 'id="form-fields"' in page.text
    assert translated(services, "de", "Fields of the request “%(title)s”", title="Diet and size") in page.text
    assert (await b.get(f"/admin/events/{event['_id']}/form")).status_code == 403  # the registration form: EVENT_EDIT
    r = await b.post(builder, {"op": "add", "type": "text", "label": "Size", "version": "0"})
    assert r.status_code == 302
    form = await forms.load(db, event["_id"], requests.form_kind(request))
    assert [f["label"]["en"] for f in form["fields"]] == ["Size"] and form["version"] == 1
    assert (await forms.load(db, event["_id"]))["fields"] == []   # the registration form is untouched
    # A stale builder page is refused like the registration form's.
    r = await b.post(builder, {"op": "add", "type": "text", "label": "Again", "version": "0"})
    assert r.status_code == 409
    audit = await db.audit.find_one({"action": "form.save", "params.kind": requests.form_kind(request)})
    assert audit is not None


# --- dates ----------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_before_during_changed_and_ended_early(browser, factory, db, services):
    space, event, admin, request, form = await setup(factory, db, starts=DAY, ends=2 * DAY)
    user, membership = await registrant(factory, db, event, "ruth@example.org", locale="ru")
    b = await signed_in(browser, factory, user, locale="ru")
    url = page_of(space, event, request)
    answer = {"f_diet": "veg", "f_size": "M", "form_version": str(form["version"])}

    # Before the start: a clear message, no form, an answer refused and nothing stored.
    r = await b.get(url)
    assert r.status_code == 200 and 'data-step="closed"' in r.text and 'name="f_diet"' not in r.text
    assert translated(services, "ru", "This request opens on %(when)s. Please come back then.", when="")[:20] in r.text
    r = await b.post(url, answer)
    assert r.status_code == 403 and "request_answers" not in await db.memberships.find_one({"_id": membership["_id"]})
    assert requests.status(request) == requests.SCHEDULED

    # Staff move the start to an hour ago: it is active, the answer is taken.
    staff = await signed_in(browser, factory, admin)
    changed = values(event, starts=-HOUR, ends=2 * DAY)
    r = await staff.post(staff_path(event, f"/{request['_id']}"), {**as_form(changed), "version": "1"})
    assert r.status_code == 302
    request = await db.data_requests.find_one({"_id": request["_id"]})
    assert requests.status(request) == requests.ACTIVE and request["version"] == 2
    # The same change from a page made before it: refused as stale, nothing changed.
    r = await staff.post(staff_path(event, f"/{request['_id']}"), {**as_form(values(event, ends=HOUR)), "version": "1"})
    assert r.status_code == 409 and (await db.data_requests.find_one({"_id": request["_id"]}))["version"] == 2
    r = await b.get(url)
    assert 'data-step="form"' in r.text and 'name="f_diet"' in r.text
    assert (await b.post(url, answer)).status_code == 302

    # Ended early: no more answers or changes; the answers given stay and are shown.
    r = await staff.post(staff_path(event, f"/{request['_id']}/end"))
    assert r.status_code == 302
    request = await db.data_requests.find_one({"_id": request["_id"]})
    assert requests.status(request) == requests.ENDED and request["ended_early_at"] is not None
    r = await b.get(url)
    assert 'data-step="closed"' in r.text and "Вегетарианское" in r.text
    r = await b.post(url, {**answer, "f_diet": "any"})
    assert r.status_code == 403
    stored = await db.memberships.find_one({"_id": membership["_id"]})
    assert stored["request_answers"][str(request["_id"])]["f_diet"]["value"] == "veg"
    # Ending it again: refused; sending it: refused.
    r = await staff.post(staff_path(event, f"/{request['_id']}/end"))
    assert r.status_code == 409 and error_text(r.text) == translated(services, "en", requests.ENDED_ALREADY)
    r = await staff.post(staff_path(event, f"/{request['_id']}/send"), {"key": "k"})
    assert r.status_code == 409 and error_text(r.text) == translated(services, "en", requests.NOT_ACTIVE)
    assert await db.audit.count_documents({"action": {"$in": ["request.create", "request.update",
                                                              "request.end", "request.answer"]}}) == 4


# --- sending now ----------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_send_now_mails_each_targeted_person_once_in_their_language(browser, factory, db, services,
                                                                           smtp_server):
    space, event, admin, request, form = await setup(factory, db, auto=False)
    people = {}
    for email, locale in (("anna@example.org", "en"), ("boris@example.org", "ru"), ("dana@example.org", "he")):
        people[email] = await registrant(factory, db, event, email, locale, before=True)
    answered, m = await registrant(factory, db, event, "done@example.org", before=True)
    await requests.answer(services, event, request, answered, {"f_diet": ["any"]}, {},
                          submitted_version=form["version"])
    gone, m_gone = await registrant(factory, db, event, "gone@example.org", before=True)
    await actions.cancel(services, event, m_gone, actor_kind=states.ATTENDEE, actor=gone)
    await settle(services)
    smtp_server.handler.envelopes.clear()

    staff = await signed_in(browser, factory, admin)
    page = await staff.get(staff_path(event, f"/{request['_id']}"))
    assert page.status_code == 200 and "1 of the 4 registrations" in page.text
    r = await staff.post(staff_path(event, f"/{request['_id']}/send"), {"key": "send-1"})
    assert r.status_code == 302 and "/attendees/bulk/" in r.headers["location"]
    job = await wait_for(db, (await db.bulk_jobs.find_one({"key": "send-1"}))["_id"])
    assert job["action"] == bulk.REQUEST and job["done"] == 3 and job["total"] == 3
    report = await staff.get(r.headers["location"])
    assert report.status_code == 200 and translated(services, "en", "Send a data request") in report.text

    link = await requests.answer_url(services, event, request)
    delivered = {rcpts[0]: msg for rcpts, msg in smtp_server.handler.messages()}
    assert sorted(delivered) == sorted(people)
    expected = {"anna@example.org": ("Tell us your diet", "Please answer."),
                "boris@example.org": ("Расскажите о питании", "Ответьте, пожалуйста."),
                "dana@example.org": ("ספרו לנו על התזונה", "נא לענות.")}
    for email, (subject, line) in expected.items():
        msg = delivered[email]
        text = body(msg, "plain")
        locale = {"anna@example.org": "en", "boris@example.org": "ru", "dana@example.org": "he"}[email]
        assert msg["Subject"] == subject and line in text and link in text
        assert translated(services, locale, requests.ANSWER_HERE, link="")[:12] in text
        # A plain link: nothing in the mail signs anyone in.
        assert "token" not in text and "/signin" not in text

    # The same form sent again finds the same job; running it again (a resumed job) mails nobody.
    r = await staff.post(staff_path(event, f"/{request['_id']}/send"), {"key": "send-1"})
    assert r.headers["location"].endswith(str(job["_id"]))
    await db.bulk_jobs.update_one({"_id": job["_id"]}, {"$set": {"status": bulk.RUNNING, "position": 0,
                                                                 "lease_until": None}})
    await bulk.run(services, job["_id"])
    again = await db.bulk_jobs.find_one({"_id": job["_id"]})
    assert again["reasons"] == {requests.MAILED: 3}
    assert len(smtp_server.handler.envelopes) == 3
    with pytest.raises(requests.NotSent) as caught:
        await requests.mail_one(services, event, request, people["anna@example.org"][1]["_id"], send=str(job["_id"]))
    assert caught.value.reason == requests.MAILED
    with pytest.raises(requests.NotSent) as caught:
        await requests.mail_one(services, event, request, m["_id"], send="other")
    assert caught.value.reason == requests.ANSWERED
    with pytest.raises(requests.NotSent) as caught:
        await requests.mail_one(services, event, request, m_gone["_id"], send="other")
    assert caught.value.reason == "state:cancelled"

    # A later send is a reminder: those who still have not answered get it once more.
    r = await staff.post(staff_path(event, f"/{request['_id']}/send"), {"key": "send-2"})
    await wait_for(db, (await db.bulk_jobs.find_one({"key": "send-2"}))["_id"])
    assert len(smtp_server.handler.envelopes) == 6


# --- automatic sending --------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_automatic_sending_to_new_registrants_while_active_and_not_after(factory, db, services):
    space, event, admin, request, form = await setup(factory, db, auto=True)
    early, _ = await registrant(factory, db, event, "early@example.org", before=True)
    await actions.sweep(services)
    assert await db.outbox.count_documents({"kind": "data_request"}) == 0  # registered before it started

    late, m = await registrant(factory, db, event, "late@example.org", locale="ru")
    await actions.sweep(services)
    await actions.sweep(services)   # a second round (or a second process) mails nobody again
    mails = await db.outbox.find({"kind": "data_request"}).to_list(None)
    assert [e["to"] for e in mails] == ["late@example.org"] and mails[0]["subject"] == "Расскажите о питании"
    assert (await db.memberships.find_one({"_id": m["_id"]}))["request_mails"][str(request["_id"])].keys() == {"auto"}

    # Two sweeps at once (two processes): still one mail each.
    twins = [await registrant(factory, db, event, f"twin{i}@example.org") for i in range(3)]
    await asyncio.gather(requests.sweep_automatic(services), requests.sweep_automatic(services))
    for _, twin in twins:
        assert await db.outbox.count_documents({"kind": "data_request", "to": twin["email"]}) == 1

    # Not automatic: a new registrant is not mailed it.
    await requests.update(db, admin, event, request, {**requests.clean(event, values(event, auto=False))},
                          expected_version=request["version"])
    await registrant(factory, db, event, "manual@example.org")
    await actions.sweep(services)
    assert await db.outbox.count_documents({"to": "manual@example.org"}) == 0

    # Ended: nobody registering after is mailed it.
    request = await db.data_requests.find_one({"_id": request["_id"]})
    await requests.update(db, admin, event, request, requests.clean(event, values(event, auto=True)),
                          expected_version=request["version"])
    request = await requests.end_now(db, admin, event, await db.data_requests.find_one({"_id": request["_id"]}))
    await registrant(factory, db, event, "after@example.org")
    await actions.sweep(services)
    assert await db.outbox.count_documents({"to": {"$in": ["after@example.org", "manual@example.org"]}}) == 0


# --- answering -------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_answering_validated_translated_stored_with_versions_and_editable(browser, factory, db, services):
    space, event, admin, request, form = await setup(factory, db)
    user, membership = await registrant(factory, db, event, "ruth@example.org", locale="ru")
    url = page_of(space, event, request)
    # Not signed in: sent to sign in, and back here after.
    r = await browser().get(url)
    assert r.status_code == 302 and r.headers["location"].startswith("/signin?next=")
    assert (await browser().post(url, {"f_diet": "veg"})).status_code == 403

    b = await signed_in(browser, factory, user, locale="ru")
    page = await b.get(url)
    assert page.status_code == 200 and 'name="f_diet"' in page.text and "Вегетарианское" in page.text
    before = await db.memberships.find_one({"_id": membership["_id"]})
    r = await b.post(url, {"f_size": "XXXXXXL", "form_version": str(form["version"])})
    assert r.status_code == 400
    assert translated(services, "ru", forms.REQUIRED_CHOICE) in r.text
    assert translated(services, "ru", forms.TOO_LONG, max=5) in r.text
    assert translated(services, "ru", forms.REQUIRED_CHOICE) != translated(services, "en", forms.REQUIRED_CHOICE)
    r = await b.post(url, {"f_diet": "veg", "form_version": "0"})   # a forged or stale version
    assert r.status_code == 400 and translated(services, "ru", forms.STALE_FORM) in r.text
    assert await db.memberships.find_one({"_id": membership["_id"]}) == before

    r = await b.post(url, {"f_diet": "veg", "f_size": "M", "form_version": str(form["version"])})
    assert r.status_code == 302 and r.headers["location"] == url
    stored = (await db.memberships.find_one({"_id": membership["_id"]}))
    given = stored["request_answers"][str(request["_id"])]
    assert given == {"f_diet": {"v": 1, "value": "veg"}, "f_size": {"v": 1, "value": "M"}}
    assert stored["request_answered_at"][str(request["_id"])] is not None
    # The success screen: the request's own words in the reader's language (or the default one), as text.
    done = await b.get(url)
    assert 'data-step="done"' in done.text and "Спасибо!" in done.text
    await db.users.update_one({"_id": user["_id"]}, {"$set": {"locale": "en"}})   # she reads English now
    done_en = await b.get(url)
    assert "Thanks &lt;b&gt;a lot&lt;/b&gt;" in done_en.text and "<b>a lot</b>" not in done_en.text
    assert "See you &lt;script&gt;soon&lt;/script&gt;." in done_en.text and "<p>Bring a smile.</p>" in done_en.text

    await db.users.update_one({"_id": user["_id"]}, {"$set": {"locale": "ru"}})
    # Editable until the end: the form comes back filled in; a change replaces the answers.
    edit = await b.get(url + "?edit=1")
    assert 'value="veg"' in edit.text and 'checked' in edit.text and 'value="M"' in edit.text
    r = await b.post(url, {"f_diet": "any", "form_version": str(form["version"])})
    assert r.status_code == 302
    given = (await db.memberships.find_one({"_id": membership["_id"]}))["request_answers"][str(request["_id"])]
    assert given == {"f_diet": {"v": 1, "value": "any"}}

    # The form changes later: the answer stays readable with the wording it was given for.
    changed = [{**FIELDS[0], "label": {"en": "Food", "ru": "Еда", "he": "אוכל"}}, FIELDS[1]]
    form = await form_edit.save(db, admin, event, changed, expected_version=form["version"],
                                kind=requests.form_kind(request))
    assert form["fields"][0]["v"] == 2
    assert forms.readable(form, given, "ru") == [("Питание", "Любое")]

    # The cabinet lists the request, answered.
    me = await b.get("/me")
    assert url in me.text and "Питание и размер" in me.text


@pytest.mark.gen_test(timeout=60)
async def test_someone_not_targeted_gets_404(browser, factory, db, services):
    space, event, admin, request, form = await setup(factory, db)
    url = page_of(space, event, request)
    stranger = await factory.user(email="stranger@example.org", locale="ru")
    waiting, m = await registrant(factory, db, event, "wait@example.org", locale="ru")
    await db.memberships.update_one({"_id": m["_id"]}, {"$set": {"state": "waiting"}})   # not a targeted state
    cancelled, m2 = await registrant(factory, db, event, "cancel@example.org", locale="ru")
    await actions.cancel(services, event, m2, actor_kind=states.ATTENDEE, actor=cancelled)
    other_space, other_event, *_ = await setup(factory, db)
    for person in (stranger, waiting, cancelled):
        b = await signed_in(browser, factory, person, locale="ru")
        for r in (await b.get(url), await b.post(url, {"f_diet": "veg", "form_version": "1"})):
            assert r.status_code == 404
            assert error_text(r.text) == translated(services, "ru", requests.NOT_FOUND)
        assert url not in (await b.get("/me")).text
    # The request's id under another event's address: no such request there.
    targeted, _ = await registrant(factory, db, other_event, "other@example.org")
    b = await signed_in(browser, factory, targeted)
    assert (await b.get(page_of(other_space, other_event, request))).status_code == 404
    assert (await b.get(f"/e/{space['slug']}/{event['slug']}/requests/{'0' * 24}")).status_code == 404
    assert not await db.memberships.count_documents({"request_answers": {"$exists": True}})


# --- the registrant list ---------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_answers_are_columns_of_the_list_and_the_csv_and_can_be_filtered(browser, factory, db, services):
    space, event, admin, request, form = await setup(factory, db)
    answers = {"anna@example.org": ("veg", "=1+1"), "boris@example.org": ("any", "XL"), "dana@example.org": None}
    for email, given in answers.items():
        user, _ = await registrant(factory, db, event, email)
        if given:
            await requests.answer(services, event, request, user, {"f_diet": [given[0]], "f_size": [given[1]]}, {},
                                  submitted_version=form["version"])
    staff = await signed_in(browser, factory, admin)
    page = await staff.get(f"/admin/events/{event['_id']}/attendees")
    assert page.status_code == 200
    assert "Diet and size: Diet" in page.text and "Diet and size: T-shirt size" in page.text
    assert "Vegetarian" in page.text and "Anything" in page.text

    r = await staff.get(f"/admin/events/{event['_id']}/attendees/list.csv?sort=email")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    header = rows[0]
    assert header[-2:] == ["Diet and size: Diet", "Diet and size: T-shirt size"]
    by_email = {row[0]: row for row in rows[1:]}
    assert by_email["anna@example.org"][-2:] == ["Vegetarian", "'=1+1"]
    assert by_email["boris@example.org"][-2:] == ["Anything", "XL"]
    assert by_email["dana@example.org"][-2:] == ["", ""]

    # A request's field is a filter like the form's: by the label staff see, or the stored value.
    key = f"{request['_id']}-f_diet"
    filtered = await staff.get(f"/admin/events/{event['_id']}/attendees?field={key}&value=Vegetarian")
    assert filtered.status_code == 200 and "anna@example.org" in filtered.text
    assert "boris@example.org" not in filtered.text and "dana@example.org" not in filtered.text
    r = await staff.get(f"/admin/events/{event['_id']}/attendees/list.csv?field={key}&value=any")
    assert [row[0] for row in csv.reader(io.StringIO(r.content.decode("utf-8-sig")))][1:] == ["boris@example.org"]

    # The staff list of requests: its state and how many answered.
    listing = await staff.get(staff_path(event))
    assert listing.status_code == 200 and "Diet and size" in listing.text
    assert translated(services, "en", "Active") in listing.text and "2 of 3" in listing.text
    await requests.create(db, admin, event, requests.clean(event, values(event, starts=DAY, ends=2 * DAY,
                                                                         title={"en": "Later"})))
    listing = await staff.get(staff_path(event))
    assert translated(services, "en", "Scheduled") in listing.text


# --- tenancy --------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_another_spaces_staff_get_nothing(browser, factory, db, services):
    space, event, admin, request, form = await setup(factory, db)
    user, _ = await registrant(factory, db, event, "anna@example.org")
    await requests.answer(services, event, request, user, {"f_diet": ["veg"]}, {}, submitted_version=form["version"])
    other_space = await factory.space()
    other_event = await factory.event(other_space, locales=LOCALES)
    other_admin = await factory.member(R.SPACE_ADMIN, space=other_space)
    b = await signed_in(browser, factory, other_admin)
    before = await db.data_requests.find_one({"_id": request["_id"]})
    for url in (staff_path(event), staff_path(event, f"/{request['_id']}"),
                staff_path(event, f"/{request['_id']}/form")):
        assert (await b.get(url)).status_code == 403
    for url in (staff_path(other_event, f"/{request['_id']}"), staff_path(other_event, f"/{request['_id']}/form")):
        r = await b.get(url)
        assert r.status_code == 404 and "Diet and size" not in r.text
    for rest in ("/send", "/end", ""):
        r = await b.post(staff_path(other_event, f"/{request['_id']}{rest}"), as_form(values(event)))
        assert r.status_code == 404
    assert await db.data_requests.find_one({"_id": request["_id"]}) == before
    listing = await b.get(staff_path(other_event))
    assert listing.status_code == 200 and "Diet and size" not in listing.text
    csv_text = (await b.get(f"/admin/events/{other_event['_id']}/attendees/list.csv")).text
    assert "Diet" not in csv_text and "Vegetarian" not in csv_text


# --- the mail's text: the request's own, else the event's template ----------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_a_request_without_a_mail_of_its_own_is_mailed_with_the_events_template(browser, factory, db,
                                                                                     services):
    space, event, admin, request, form = await setup(factory, db)
    event = await templates.save(db, event, requests.MAIL_KIND, {"en": {
        "subject": "Please answer: {request_title}", "body": "Dear {person_name}, see {answer_url} soon."}}, None)
    link = await requests.answer_url(services, event, request)
    # Its own mail: that text, in the reader's language or else the default one, even with the template set.
    subject, text, html = requests.render_mail(services, event, request, "en", "Ann", link)
    assert subject == "Tell us your diet" and "Please answer." in text and "Dear Ann" not in text
    assert translated(services, "en", requests.ANSWER_HERE, link=link) in text and f'href="{link}"' in html
    assert requests.render_mail(services, event, request, "ru", "Boris", link)[0] == "Расскажите о питании"

    # Without one (left empty in every language): the event's template, else the translated default.
    staff = await signed_in(browser, factory, admin)
    bare = values(event, subject={}, text={})
    r = await staff.post(staff_path(event, f"/{request['_id']}"), {**as_form(bare), "version": "1"})
    assert r.status_code == 302, error_text(r.text)
    request = await db.data_requests.find_one({"_id": request["_id"]})
    assert request["mail_subject"] == {} and request["mail_text"] == {}
    subject, text, html = requests.render_mail(services, event, request, "en", "Ann", link)
    assert subject == "Please answer: Diet and size" and f"Dear Ann, see {link} soon." in text
    assert text.count(link) == 1  # the text shows the link: no line added
    gettext = services.i18n.gettext("ru")
    subject, text, html = requests.render_mail(services, event, request, "ru", "Борис", link)
    assert subject == gettext(requests.MAIL_KIND.subject).format(request_title="Питание и размер",
                                                                 event_title=event["title"]["ru"])
    assert text.startswith(gettext(requests.MAIL_KIND.body).split("\n\n")[0].format(person_name="Борис"))
    assert "<style" not in html and 'style="' in html


@pytest.mark.gen_test(timeout=60)
async def test_a_requests_own_mail_is_refused_with_an_unknown_placeholder_or_without_its_default_language(
        browser, factory, db, services):
    space, event, admin, request, form = await setup(factory, db)
    staff = await signed_in(browser, factory, await factory.member(R.EVENT_ADMIN, event=event, locale="ru"), "ru")
    before = await db.data_requests.find_one({"_id": request["_id"]})
    for changed, message, params in (
            (values(event, text={"en": "Hi {nobody}", "ru": "Привет"}), templates.UNKNOWN_PLACEHOLDER,
             {"name": "nobody", "known": ", ".join("{%s}" % p for p in requests.MAIL_KIND.placeholders)}),
            (values(event, subject={"ru": "Тема"}, text={"ru": "Текст"}), requests.NO_MAIL, {"language": "en"})):
        r = await staff.post(staff_path(event, f"/{request['_id']}"), {**as_form(changed), "version": "1"})
        assert r.status_code == 400 and error_text(r.text) == translated(services, "ru", message, **params)
    assert await db.data_requests.find_one({"_id": request["_id"]}) == before
