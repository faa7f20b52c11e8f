"""Free tickets through a moderated application: people apply with the type's form, staff approve or reject,
an approval issues the ticket (and the account) through the quotas, which close the form when full."""
import asyncio
import dataclasses
import datetime
import re
import secrets

import pytest

from access import roles as R
from mailings import templates
from mongo_indexes import ensure_indexes
from orders import actions, applications, checkout, states
from registration import form_edit
from storage import Storage
from storage.shared import SharedClient, StoreServer
from tests.orders_support import drain, quota, ticket_type, ticketed_event
from tests.support import error_text, translated
from tests.test_orders_holders import refused, signin_by_mail, watch

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n"
FIELDS = [
    {"id": "f_school", "type": "text", "label": {"en": "School", "ru": "Школа"}, "required": True,
     "max_length": "100"},
    {"id": "f_proof", "type": "file", "label": {"en": "Proof of employment", "ru": "Справка с работы"},
     "extensions": ["pdf"], "max_bytes": 100_000},
]


async def teachers(services, factory, *, size: int | None = 5, locales=("en", "ru")):
    """(event, its admin, the type "Teacher" given by application with its form, its quota, the event's path)."""
    db = services.db
    event, admin = await ticketed_event(services, factory, locales=locales)
    teacher = await ticket_type(services, event, admin, name="Teacher", by_application=True)
    q = await quota(services, event, admin, size, teacher, name="Teachers") if size is not None else None
    await form_edit.save(db, admin, event, FIELDS, expected_version=0, kind=applications.form_kind(teacher["_id"]))
    event = await db.events.find_one({"_id": event["_id"]})
    space = await db.spaces.find_one({"_id": event["space_id"]})
    return event, admin, teacher, q, f"/e/{space['slug']}/{event['slug']}"


async def apply(services, event, teacher, n: int, locale="en", key: str | None = None):
    return await applications.apply(services, event, teacher, email=f"teacher{n}@example.org", name=f"Teacher {n}",
                                    locale=locale, raw={"f_school": [f"School {n}"]}, files={},
                                    submitted_version=1, user=None, key=key or f"key-{n}")


async def staff(factory, browser, event, role=R.EVENT_MANAGER, locale="en"):
    person = await factory.member(role, event=event, locale=locale)
    b = browser(locale=locale)
    await b.sign_in(person["login"], factory.PASSWORD)
    return person, b


async def stored(db) -> dict:
    """What an application touches: applications, their files, orders, quotas, registrations, accounts."""
    return {name: await db[name].find({}).sort("_id", 1).to_list(None)
            for name in ("applications", "registration_files", "registration_file_chunks", "orders", "quotas",
                         "memberships", "users")}


def form_key(html: str) -> str:
    return re.search(r'name="key" value="([^"]+)"', html).group(1)


@pytest.mark.gen_test(timeout=120)
async def test_an_approved_applicant_gets_an_account_a_ticket_and_gets_in(services, factory, browser, base_url, db):
    event, admin, teacher, q, path = await teachers(services, factory)
    apply_url = f"{path}/apply/{teacher['_id']}"
    # The tickets page offers the type as an application, not as something to buy.
    shop = await browser().get(f"{path}/tickets")
    assert f'href="{apply_url}"' in shop.text and f'name="qty.{teacher["_id"]}"' not in shop.text

    # Someone with no account applies, in Russian, with a file.
    b = browser(locale="ru")
    page = await b.get(apply_url)
    assert page.status_code == 200 and "Школа" in page.text
    fields = {"name": "Анна Учитель", "email": "Anna.Teacher@example.org", "locale": "ru", "f_school": "Школа 57",
              "form_version": "1", "key": form_key(page.text)}
    proof = {"f_proof": ("справка.pdf", PDF, "application/pdf")}
    r = await b.post(apply_url, fields, files=proof)
    assert r.status_code == 200 and 'data-application-state="pending"' in r.text, error_text(r.text)
    assert await db.users.find_one({"email": "anna.teacher@example.org"}) is None
    # A retried submit (the same form) is the same application; another one for the address is refused.
    again = await b.post(apply_url, fields, files=proof)
    assert again.status_code == 200 and 'data-application-state="pending"' in again.text
    assert await db.applications.count_documents({}) == 1 and await db.registration_files.count_documents({}) == 1
    second = await browser(locale="ru").post(apply_url, {**fields, "key": "another"}, files=proof)
    assert second.status_code == 409
    assert error_text(second.text) == translated(services, "ru", applications.AlreadyPending("").message,
                                                 email="anna.teacher@example.org")
    assert await db.registration_files.count_documents({}) == 1
    application = await db.applications.find_one({})
    assert application["state"] == "pending" and application["locale"] == "ru" and application["user_id"] is None
    assert application["answers"]["f_school"]["value"] == "Школа 57"

    # A manager approves it from the queue.
    manager, sb = await staff(factory, browser, event)
    queue = await sb.get(f"/admin/events/{event['_id']}/applications")
    assert queue.status_code == 200 and "anna.teacher@example.org" in queue.text
    one = await sb.get(f"/admin/events/{event['_id']}/applications/{application['_id']}")
    assert one.status_code == 200 and "Школа 57" in one.text and "/files/" in one.text
    r = await sb.post(f"/admin/events/{event['_id']}/applications/{application['_id']}/approve")
    assert r.status_code == 302, error_text(r.text)
    # Approving twice takes once.
    r = await sb.post(f"/admin/events/{event['_id']}/applications/{application['_id']}/approve")
    assert r.status_code == 302
    await drain(services)

    application = await db.applications.find_one({})
    user = await db.users.find_one({"email": "anna.teacher@example.org"})
    assert application["state"] == "approved" and application["user_id"] == user["_id"]
    assert user["name"] == "Анна Учитель" and user["locale"] == "ru"
    orders = await db.orders.find({}).to_list(None)
    assert len(orders) == 1
    order = orders[0]
    assert order["_id"] == application["order_id"] and order["state"] == states.PAID and order["total"] == 0
    assert order["method"] == "free" and order["buyer_id"] == user["_id"]
    assert order["tickets"][0]["holder"]["email"] == "anna.teacher@example.org" and order["tickets"][0]["issued"]
    counted = await db.quotas.find_one({"_id": q["_id"]})
    assert counted["left"] == 4 and counted["holds"] == {str(application["_id"]): 1}
    registration = await db.memberships.find_one({"user_id": user["_id"], "scope_id": event["_id"]})
    assert registration["ticket_type_id"] == teacher["_id"] and registration.get("state") == "registered"
    # Her file is hers now.
    assert (await db.registration_files.find_one({}))["owner_id"] == user["_id"]
    # The decision, in Russian, and the ticket; no receipt for a free ticket.
    mails = {m["kind"]: m async for m in db.outbox.find({"to": "anna.teacher@example.org"})}
    assert set(mails) == {"application_approved", "order_ticket"}
    subject = services.i18n.gettext("ru")("Your application for {event_title} is approved")
    assert subject != "Your application for {event_title} is approved"
    assert mails["application_approved"]["subject"] == subject.replace("{event_title}", event["title"]["ru"])
    audit = [e["action"] async for e in db.audit.find({"params.application_id": str(application["_id"])})]
    assert "application.submitted" in audit and "application.approved" in audit

    # She signs in from her ticket's mail and enters the event, over the WebSocket too.
    anna = await signin_by_mail(services, browser, "anna.teacher@example.org")
    assert (await anna.get(path)).status_code == 200
    client = await watch(base_url, anna, event)
    client.close()
    assert (await anna.get(apply_url)).text.count('data-application-state="approved"') == 1

    # Rejecting it now is refused: the ticket is taken back by cancelling its order.
    r = await sb.post(f"/admin/events/{event['_id']}/applications/{application['_id']}/reject",
                      {"reason": "Changed our mind", "confirm": "yes"})
    assert r.status_code == 409 and error_text(r.text) == translated(services, "en", applications.CannotReject().message)
    assert (await db.applications.find_one({}))["state"] == "approved"
    await actions.cancel(services, event, order, by=states.STAFF, actor=admin, why="left the school")
    await drain(services)
    assert (await db.quotas.find_one({"_id": q["_id"]}))["left"] == 5
    assert await refused(base_url, anna, event) == 403


@pytest.mark.gen_test(timeout=90)
async def test_the_quota_closes_the_form_and_refuses_approvals_when_full(services, factory, browser, db):
    event, admin, teacher, q, path = await teachers(services, factory, size=1)
    first = await apply(services, event, teacher, 1)
    second = await apply(services, event, teacher, 2)
    await applications.approve(services, event, first, actor=admin)
    await drain(services)

    # The form says it is closed and refuses new applications, nothing stored.
    apply_url = f"{path}/apply/{teacher['_id']}"
    b = browser(locale="ru")
    page = await b.get(apply_url)
    assert 'data-applications="closed"' in page.text and 'name="f_school"' not in page.text
    before = await stored(db)
    r = await b.post(apply_url, {"name": "Late", "email": "late@example.org", "locale": "ru", "f_school": "X",
                                 "form_version": "1", "key": "late"},
                     files={"f_proof": ("p.pdf", PDF, "application/pdf")})
    assert r.status_code == 409
    assert error_text(r.text) == translated(services, "ru", applications.QuotaClosed("").message, name="Teacher")
    assert await stored(db) == before

    # Approving the pending one is refused, and nothing changes.
    manager, sb = await staff(factory, browser, event, locale="ru")
    before = await stored(db)
    r = await sb.post(f"/admin/events/{event['_id']}/applications/{second['_id']}/approve")
    assert r.status_code == 409
    assert error_text(r.text) == translated(services, "ru", applications.QuotaFull("").message, name="Teacher")
    assert await stored(db) == before
    # Still waiting in the queue.
    queue = await sb.get(f"/admin/events/{event['_id']}/applications?state=pending")
    assert "teacher2@example.org" in queue.text and "teacher1@example.org" not in queue.text

    # The first ticket's order is cancelled: the place is free, the form opens, the second is approved.
    order = await db.orders.find_one({"application_id": first["_id"]})
    await actions.cancel(services, event, order, by=states.STAFF, actor=admin, why="")
    assert 'name="f_school"' in (await b.get(apply_url)).text
    after = await applications.approve(services, event, second, actor=admin)
    assert after["state"] == "approved"
    assert (await db.quotas.find_one({"_id": q["_id"]}))["left"] == 0


@pytest.mark.gen_test(timeout=240)
async def test_concurrent_approvals_never_exceed_the_quota_and_approving_twice_takes_once(services, factory):
    """Twenty applications for five places, each approved by two staff at once over four connections to one
    shared store: five approved, five tickets, five holds; the rest wait, nothing held for them."""
    store = StoreServer()
    port = await store.start()
    name = f"apps_{secrets.token_hex(3)}"
    clients = [SharedClient(f"127.0.0.1:{port}") for _ in range(4)]
    views = [dataclasses.replace(services, storage=Storage(c, c[name], "embedded-shared"),
                                 background=set()) for c in clients]
    try:
        db = views[0].db
        await ensure_indexes(db)
        shared = type(factory)(views[0])
        event, admin, teacher, q, _ = await teachers(views[0], shared, size=5)
        pending = [await apply(views[0], event, teacher, n) for n in range(20)]
        deciders = [await shared.member(R.EVENT_ADMIN, event=event) for _ in range(3)]

        async def attempt(n, application):
            try:
                return (await applications.approve(views[n % 4], event, application,
                                                   actor=deciders[n % 3]))["state"]
            except applications.QuotaFull:
                return "full"

        done = await asyncio.gather(*(attempt(n, a) for n, a in enumerate(pending + pending)))
        for view in views:
            await drain(view)
        assert await db.applications.count_documents({"state": "approved"}) == 5
        assert await db.applications.count_documents({"state": "pending"}) == 15
        assert done.count("full") >= 15
        counted = await db.quotas.find_one({"_id": q["_id"]})
        assert counted["left"] == 0 and len(counted["holds"]) == 5
        approved_ids = {a["_id"] async for a in db.applications.find({"state": "approved"})}
        assert set(counted["holds"]) == {str(i) for i in approved_ids}
        orders = await db.orders.find({}).to_list(None)
        assert len(orders) == 5 and all(o["state"] == states.PAID for o in orders)
        assert {o["application_id"] for o in orders} == approved_ids
        assert await db.memberships.count_documents({"scope_id": event["_id"],
                                                     "ticket_type_id": teacher["_id"]}) == 5
        # Once more, in bulk: the five stay as they are, the rest are refused for want of room.
        approved_now, refusals = await applications.approve_many(
            views[1], event, [str(a["_id"]) for a in pending], actor=admin)
        assert approved_now == 5 and len(refusals) == 15
        assert all(isinstance(exc, applications.QuotaFull) for _, exc in refusals)
        assert await db.orders.count_documents({}) == 5
        assert (await db.quotas.find_one({"_id": q["_id"]}))["left"] == 0
    finally:
        for c in clients:
            await c.close()
        await store.close()


@pytest.mark.gen_test(timeout=90)
async def test_a_rejection_needs_a_confirmation_and_a_reason_mailed_in_the_applicants_language(
        services, factory, browser, db):
    event, admin, teacher, q, path = await teachers(services, factory, locales=("en", "de"))
    application = await apply(services, event, teacher, 1, locale="de")
    manager, sb = await staff(factory, browser, event)
    url = f"/admin/events/{event['_id']}/applications/{application['_id']}/reject"
    before = await stored(db)
    # No reason: refused.  A reason without confirming: the confirmation, nothing changed.
    r = await sb.post(url, {"reason": "  "})
    assert r.status_code == 400 and error_text(r.text) == translated(services, "en",
                                                                   applications.ReasonNeeded().message)
    r = await sb.post(url, {"reason": "Private schools are not in the programme."})
    assert r.status_code == 200 and 'name="confirm" value="yes"' in r.text
    assert await stored(db) == before
    r = await sb.post(url, {"reason": "Private schools are not in the programme.", "confirm": "yes"})
    assert r.status_code == 302
    # Again: the same, once.
    r = await sb.post(url, {"reason": "Private schools are not in the programme.", "confirm": "yes"})
    assert r.status_code == 302
    await drain(services)
    application = await db.applications.find_one({"_id": application["_id"]})
    assert application["state"] == "rejected" and application["reason"] == "Private schools are not in the programme."
    assert application["decided_by"] == manager["_id"]
    mails = await db.outbox.find({"to": "teacher1@example.org"}).to_list(None)
    assert [m["kind"] for m in mails] == ["application_rejected"]
    subject = services.i18n.gettext("de")("Your application for {event_title}")
    assert subject != "Your application for {event_title}"
    assert mails[0]["subject"] == subject.replace("{event_title}", event["title"]["de"])
    assert "Private schools are not in the programme." in mails[0]["text"]
    kind = templates.KINDS["application_rejected"]
    assert mails[0]["text"].startswith(services.i18n.gettext("de")(kind.body).split("{")[0] + "Teacher 1")
    assert await db.audit.find_one({"action": "application.rejected", "params.application_id": str(application["_id"]),
                                    "actor_id": manager["_id"]})
    # A rejected application is not approved later, and the address cannot apply again.
    with pytest.raises(applications.CannotApprove):
        await applications.approve(services, event, application, actor=admin)
    with pytest.raises(applications.AlreadyRejected):
        await apply(services, event, teacher, 1, key="another")
    assert await db.orders.count_documents({}) == 0


@pytest.mark.gen_test(timeout=90)
async def test_bad_input_is_refused_in_the_visitors_language_and_nothing_is_stored(services, factory, browser, db):
    event, admin, teacher, q, path = await teachers(services, factory)
    sold = await ticket_type(services, event, admin, name="Standard")
    other_event, other_admin, other_type, _, _ = await teachers(services, factory)
    b = browser(locale="ru")
    good = {"name": "Анна", "email": "anna@example.org", "locale": "ru", "f_school": "Школа", "form_version": "1",
            "key": "k"}
    before = await stored(db)
    cases = [
        (f"{path}/apply/{'0' * 24}", good, 404, ("This ticket type does not exist.", {})),
        (f"{path}/apply/{other_type['_id']}", good, 404, ("This ticket type does not exist.", {})),
        (f"{path}/apply/{sold['_id']}", good, 404, (applications.NotByApplication().message, {})),
        (f"{path}/apply/{teacher['_id']}", {**good, "f_school": ""}, 400,
         ("Please correct the answers marked below.", {})),
        (f"{path}/apply/{teacher['_id']}", {**good, "f_school": "x" * 101}, 400,
         ("Please correct the answers marked below.", {})),
        (f"{path}/apply/{teacher['_id']}", {**good, "email": "not an address"}, 400,
         ("This is not a valid email address.", {})),
        (f"{path}/apply/{teacher['_id']}", {**good, "locale": "fr"}, 400, None),
        (f"{path}/apply/{teacher['_id']}", {**good, "name": " "}, 400, (applications.NameNeeded().message, {})),
        (f"{path}/apply/{teacher['_id']}", {**good, "form_version": "0"}, 400, None),
    ]
    for url, data, status, message in cases:
        r = await b.post(url, data, files={"f_proof": ("p.pdf", PDF, "application/pdf")})
        assert r.status_code == status, (url, data, r.status_code)
        if message:
            assert error_text(r.text) == translated(services, "ru", message[0], **message[1]), (url, data)
        else:
            assert error_text(r.text) and error_text(r.text) != "Please correct the answers marked below.", data
    # The field errors say which answer and why.
    r = await b.post(f"{path}/apply/{teacher['_id']}", {**good, "f_school": "x" * 101})
    assert translated(services, "ru", "Please use at most %(max)s characters.", max=100) in r.text
    r = await b.post(f"{path}/apply/{teacher['_id']}", {**good, "f_school": ""})
    assert translated(services, "ru", "Please fill in this field.") in r.text
    # A file the field does not take.
    r = await b.post(f"{path}/apply/{teacher['_id']}", good, files={"f_proof": ("p.exe", b"MZ\x90\x00", "x/y")})
    assert r.status_code == 400
    assert await stored(db) == before
    # Checkout does not sell a type given by application.
    buyer = await factory.user()
    with pytest.raises(checkout.NoPrice):
        await checkout.reserve(services, event, buyer, {str(teacher["_id"]): "1"}, currency="EUR")
    # Outside the type's window the form says applications are not open, and refuses them.
    await db.ticket_types.update_one({"_id": teacher["_id"]}, {"$set": {
        "sale_ends_at": datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)}})
    assert 'data-applications="not-open"' in (await b.get(f"{path}/apply/{teacher['_id']}")).text
    before = await stored(db)
    r = await b.post(f"{path}/apply/{teacher['_id']}", good, files={"f_proof": ("p.pdf", PDF, "application/pdf")})
    assert r.status_code == 409
    assert error_text(r.text) == translated(services, "ru", applications.NotOpen("").message, name="Teacher")
    assert await stored(db) == before
    # The staff pages of another event's application or type are unknown.
    application = await apply(services, other_event, other_type, 1)
    manager, sb = await staff(factory, browser, event)
    assert (await sb.get(f"/admin/events/{event['_id']}/applications/{application['_id']}")).status_code == 404
    assert (await sb.post(f"/admin/events/{event['_id']}/applications/{application['_id']}/approve")).status_code \
        == 404
    assert (await db.applications.find_one({"_id": application["_id"]}))["state"] == "pending"


@pytest.mark.gen_test(timeout=90)
async def test_the_queue_filters_searches_pages_and_exports(services, factory, browser, db):
    event, admin, teacher, q, path = await teachers(services, factory)
    made = [await apply(services, event, teacher, n) for n in range(4)]
    await applications.approve(services, event, made[0], actor=admin)
    await applications.reject(services, event, made[1], actor=admin, reason="=HYPERLINK(\"x\")")
    await drain(services)
    manager, sb = await staff(factory, browser, event)
    base = f"/admin/events/{event['_id']}/applications"
    for state, shown, hidden in (("pending", ["teacher2@", "teacher3@"], ["teacher0@", "teacher1@"]),
                                 ("approved", ["teacher0@"], ["teacher1@", "teacher2@"]),
                                 ("rejected", ["teacher1@"], ["teacher0@", "teacher3@"])):
        r = await sb.get(f"{base}?state={state}")
        assert r.status_code == 200
        assert all(s in r.text for s in shown) and not any(h in r.text for h in hidden), state
    r = await sb.get(f"{base}?q=TEACHER 3")
    assert "teacher3@" in r.text and "teacher2@" not in r.text
    r = await sb.get(f"{base}.csv?state=")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    lines = r.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("applied_at,state,ticket_type,email") and "Teacher: School" in lines[0]
    assert len(lines) == 5 and any("School 2" in line for line in lines)
    assert any("'=HYPERLINK" in line for line in lines)   # a formula stays text
    assert await db.audit.find_one({"action": "applications.export", "params.rows": 4})
    # Bulk approval of the ticked ones.
    r = await sb.post(f"{base}/approve", {"chosen": [str(made[2]["_id"]), str(made[3]["_id"])]})
    assert r.status_code == 302
    assert await db.applications.count_documents({"state": "approved"}) == 3
    r = await sb.post(f"{base}/approve", {})
    assert r.status_code == 400 and error_text(r.text) == translated(services, "en",
                                                                   applications.NothingChosen().message)


@pytest.mark.gen_test(timeout=60)
async def test_an_approval_a_stopped_process_left_half_done_is_finished_by_the_sweep(services, factory, db):
    from orders import quotas
    event, admin, teacher, q, _ = await teachers(services, factory, size=2)
    application = await apply(services, event, teacher, 1)
    # A process claimed it and took its place, then stopped.
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    wanted = {str(q["_id"]): 1}
    await db.applications.update_one({"_id": application["_id"]}, {"$set": {
        "state": "approving", "state_at": long_ago, "quotas": wanted}})
    assert await quotas.take_all(db, wanted, str(application["_id"])) is None
    # Another click meanwhile is told it is under way, and changes nothing.
    fresh = await db.applications.find_one({"_id": application["_id"]})
    assert applications.shown_state(fresh) == "pending"
    assert await applications.sweep(services) == 1
    await drain(services)
    after = await db.applications.find_one({"_id": application["_id"]})
    assert after["state"] == "approved" and await db.orders.count_documents({}) == 1
    counted = await db.quotas.find_one({"_id": q["_id"]})
    assert counted["left"] == 1 and counted["holds"] == {str(application["_id"]): 1}
    assert await applications.sweep(services) == 0


@pytest.mark.gen_test(timeout=60)
async def test_the_organiser_builds_the_form_and_marks_the_type(services, factory, browser, db):
    event, admin = await ticketed_event(services, factory, locales=("en", "ru"))
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    base = f"/admin/events/{event['_id']}/tickets"
    r = await b.post(f"{base}/new", {"name.en": "Teacher", "prices": "", "by_application": "1", "visibility": "public",
                                     "channels_all": "1", "sessions_all": "1"})
    assert r.status_code == 302, error_text(r.text)
    teacher = await db.ticket_types.find_one({"event_id": event["_id"]})
    assert teacher["by_application"] is True and teacher["prices"] == {}
    form_url = f"{base}/{teacher['_id']}/form"
    assert (await b.get(form_url)).status_code == 200
    r = await b.post(form_url, {"op": "add", "type": "text", "label": "School", "version": "0"})
    assert r.status_code == 302
    form = await db.forms.find_one({"event_id": event["_id"], "kind": applications.form_kind(teacher["_id"])})
    assert [f["label"]["en"] for f in form["fields"]] == ["School"]
    # The registration form is untouched.
    assert await db.forms.find_one({"event_id": event["_id"], "kind": "registration"}) is None
    # A type with applications cannot be removed.
    event = await db.events.find_one({"_id": event["_id"]})
    await applications.apply(services, event, teacher, email="a@example.org", name="A", locale="en", raw={},
                             files={}, submitted_version=form["version"], user=None, key="k")
    r = await b.post(f"{base}/{teacher['_id']}/remove")
    assert r.status_code == 409 and await db.ticket_types.find_one({"_id": teacher["_id"]})
    # Managers moderate, but do not build forms.
    manager = await factory.member(R.EVENT_MANAGER, event=event)
    mb = browser()
    await mb.sign_in(manager["login"], factory.PASSWORD)
    assert (await mb.get(form_url)).status_code == 403
    assert (await mb.get(f"/admin/events/{event['_id']}/applications")).status_code == 200
