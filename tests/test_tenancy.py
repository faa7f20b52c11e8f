"""The staff of one space against another space's data: every staff page and every live frame.

Two spaces share the installation.  Space A is full of real objects (an
event with days, schedule, materials and slides, attendees, staff, an import
preview, a mailing, an outbox entry, a community page with its discussion,
a quiz with an attempt, questions, chat messages, a sanction, slow mode),
every text of it carrying the marker `MARK`.  Space B's staff, one person
per role, then
- walk every staff route (taken from `routes.MODULES`, as the role matrix
  does) with A's space or event in the URL, and with B's own space or
  event but A's objects for every other id in the URL, in the query string
  and in the form: whatever B's staff send, A's data stays as it was, a
  request naming A's objects is refused, and no answer shows A's texts;
- send every frame type the live side registers, over a socket to B's
  event, aimed at A's rooms, messages, members and questions: refused,
  nothing stored, nothing reaches A's sockets; and a socket to A's event
  is refused at the handshake.

A path parameter, or a frame type, the suite does not know fails it: a new
kind of staff URL or frame has to say here how it is aimed at A.
"""
from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import httpx
import pytest
from bson import ObjectId
from tornado.httpclient import HTTPClientError

from access import roles as R
from accounts import users
from admin import dashboard as admin_dashboard
from admin import events as admin_events
from admin import privacy as admin_privacy
from admin import slides as admin_slides
from admin import staff as admin_staff
from admin.staff_base import StaffHandler
from attendees import csv_import, registry
from chat import moderation, room_names
from chat import store as chat_store
from community import pages
from donations import appeals as donation_appeals
from donations import campaigns as donation_campaigns
from donations import giving as donation_giving
from donations import segments as donation_segments
from events import control, decks, editing, spaces, staffing
from mailings import signin_mailing
from orders import actions as order_actions
from orders import applications, checkout, promo_codes
from orders import tickets as ticket_codes
from payments import attempts as payment_attempts
from payments import invoices as payment_invoices
from payments import seller as payment_seller
from questions import store as questions
from quizzes import authoring, taking
from registration import bulk, form_edit, invitations, requests
from tests import orders_support
from tests.live_client import LiveClient
from tests.support import error_text, translated
from tests.test_role_matrix import staff_routes
from tests.test_slides import png

MARK = "qqalphaqq"                  # in every text of space A; never on a page of B
B_ROLES = (R.SPACE_ADMIN, R.EVENT_ADMIN, R.EVENT_MANAGER, R.MODERATOR, R.COMMENTATOR, R.SPEAKER)
# Values that name nothing (and so cannot name A's objects): the same in both spaces.
PLAIN_PARAMS = {"locale": ["en"], "action": list(control.ACTIONS)}
# Path parameters naming an object: filled with A's real object of that kind.
OBJECT_PARAMS = {"user_id": "attendee", "membership_id": "registration", "import_id": "import", "page_id": "page", "quiz_id": "quiz",
                 "mailing_id": "mailing", "entry_id": "outbox", "job_id": "bulk job", "request_id": "data request",
                 "attempt_id": "payment",
                 "ticket_type_id": "ticket type", "quota_id": "quota", "order_id": "order",
                 "application_id": "application",
                 "promo_code_id": "promo code", "campaign_id": "campaign",
                 "donation_id": "donation", "segment_id": "segment", "appeal_id": "appeal"}
SCOPE_PARAMS = ("event_id", "space_id")
# Handlers that act on an object named in the form (or the query string):
# given B's scope and A's object they must refuse, not merely leave A alone.
FORM_TARGETED = {admin_staff.RevokeHandler, admin_dashboard.SpaceAdminRemoveHandler,
                 admin_events.DayRemoveHandler, admin_events.ScheduleRemoveHandler,
                 admin_events.ScheduleEditHandler, admin_events.MaterialRemoveHandler,
                 admin_slides.MoveSlide, admin_slides.RemoveSlide,
                 admin_privacy.SessionPrivacyHandler, admin_privacy.InvitationLinkHandler,
                 admin_privacy.InvitationRevokeHandler}
FORM_TARGETED_ACTIONS = {"day_on", "day_off"}


# --- the two spaces ---------------------------------------------------------------------

class Alpha:
    """Space A's objects, and every id and text of A that B must never reach."""

    def __init__(self):
        self.strings: set[str] = set()


async def build_alpha(factory, services) -> Alpha:
    db = services.db
    a = Alpha()
    a.space = await factory.space(slug=f"{MARK}-space")
    a.admin = await factory.member(R.SPACE_ADMIN, space=a.space, name=f"Adele {MARK}",
                                   email=f"{MARK}-admin@example.org")
    a.space = await spaces.rename_space(db, a.admin, a.space, f"Space {MARK}")
    a.event = await factory.event(a.space, locales=("en", "ru"), slug=f"{MARK}-event")
    await editing.update_settings(db, services.notifier, a.admin, a.event, locales=["en", "ru"],
                                  default_locale="en", timezone="Europe/Riga",
                                  title={"en": f"Event {MARK}", "ru": f"Событие {MARK}"},
                                  description={"en": f"About {MARK}"})
    a.event = await db.events.find_one({"_id": a.event["_id"]})
    a.day = await editing.add_day(db, services.notifier, a.admin, a.event, date="2026-12-05",
                                  title={"en": f"Day {MARK}"})
    a.event = await db.events.find_one({"_id": a.event["_id"]})
    a.item = await editing.add_item(db, a.admin, a.event, day_id=a.day["id"], starts="10:00", ends="11:00",
                                    title={"en": f"Talk {MARK}"}, speaker=f"Speaker {MARK}")
    a.material = await editing.add_material(db, a.admin, a.event, title={"en": f"Notes {MARK}"},
                                            url=f"https://example.org/{MARK}")
    a.event = await decks.add_slides(db, services.notifier, a.event["_id"], a.admin, "en",
                                     [(f"{MARK}.png", png((201, 7, 99)))], 10 * 1024 * 1024)
    a.slide = a.event["slides"]["decks"]["en"][0]

    reg = await registry.register(db, a.event, email=f"{MARK}-ann@example.org", name=f"Ann {MARK}",
                                  locale="en", actor=a.admin)
    a.registration = reg
    a.attendee = await db.users.find_one({"_id": reg["user_id"]})
    reg2 = await registry.register(db, a.event, email=f"{MARK}-bob@example.org", name=f"Bob {MARK}",
                                   locale="en", actor=a.admin)
    a.muted = await db.users.find_one({"_id": reg2["user_id"]})
    a.staff_membership = await staffing.grant_event_role(
        db, a.admin, a.event, email=f"{MARK}-mod@example.org", name=f"Mod {MARK}",
        role=R.MODERATOR, locales=[])
    a.moderator = await db.users.find_one({"_id": a.staff_membership["user_id"]})
    a.admin_membership = await db.memberships.find_one({"user_id": a.admin["_id"], "scope_id": a.space["_id"]})
    a.event = await db.events.find_one({"_id": a.event["_id"]})

    a.import_ = await csv_import.preview(db, a.event, f"email,name\n{MARK}-new@example.org,New {MARK}\n".encode(),
                                         owner=a.admin, filename=f"{MARK}.csv", max_kb=100, max_rows=100)
    made, _ = await invitations.invite(db, a.admin, a.event, [f"{MARK}-guest@example.org"])
    a.invitation = made[0][0]
    a.mailing = await signin_mailing.create(db, a.event, audience=signin_mailing.ALL, locale=None, actor=a.admin)
    a.bulk_job = await bulk.create(db, a.event, action=bulk.MESSAGE, chosen=[str(reg["_id"])], key=f"{MARK}-key",
                                   actor=a.admin, subject=f"Subject {MARK}", text=f"Text {MARK}")
    a.data_request = await requests.create(db, a.admin, a.event, requests.clean(a.event, {
        "title": {"en": f"Request {MARK}"}, "subject": {"en": f"Subject {MARK}"}, "text": {"en": f"Text {MARK}"},
        "starts": "2026-01-01T10:00", "ends": "2099-01-01T10:00", "states": ["registered"], "auto": False}))
    await form_edit.save(db, a.admin, a.event, [{"id": "f_mark", "type": "text", "label": {"en": f"Field {MARK}"}}],
                         expected_version=0, kind=requests.form_kind(a.data_request))
    await requests.answer(services, a.event, a.data_request, a.attendee, {"f_mark": [f"Answer {MARK}"]}, {},
                          submitted_version=1)
    a.outbox = await services.mailer.send(to=f"{MARK}-ann@example.org", subject=f"Sign in {MARK}",
                                          text=f"Password {MARK}", html=f"<p>{MARK}</p>",
                                          event_id=a.event["_id"], kind="signin")
    a.page = await pages.create(db, a.admin, a.event, slug=f"{MARK}-page", title={"en": f"Page {MARK}"},
                                body={"en": f"Body {MARK}"}, discussion=pages.OPEN, published=True)
    a.quiz = await authoring.create(
        db, a.admin, a.event, title={"en": f"Quiz {MARK}"}, intro={"en": MARK}, time_limit_seconds=None,
        questions=[{"kind": authoring.SINGLE, "text": {"en": f"Question {MARK}?"},
                    "options": [{"text": {"en": f"yes {MARK}"}, "correct": True},
                                {"text": {"en": f"no {MARK}"}}]}])
    a.quiz = await authoring.set_status(db, a.admin, a.event, a.quiz, authoring.OPEN)
    await taking.start(db, a.quiz, a.attendee)

    # A payment of A's space: an invoice to an organisation, with A's legal details as the seller.
    if "tenancy" not in services.payments.purposes:
        async def paid(*_args):
            return None
        services.payments.register("tenancy", on_paid=paid)
    await payment_seller.save(db, a.admin, a.space, {
        "country": "RU", "name": f"Seller {MARK}", "inn": "7707083893", "kpp": "773601001", "ogrn": "1027700132195",
        "address": f"Street {MARK}", "bik": "044525225", "account": "40702810638050013199"})
    a.payment = await payment_attempts.start(
        services, purpose="tenancy", ref=f"order-{MARK}", amount=1000, currency="RUB", idempotency_key=MARK,
        payer_email=f"{MARK}-payer@example.org", locale="en", description=f"Tickets {MARK}", method="invoice",
        details={"country": "DE", "name": f"Buyer {MARK}", "address": f"Road {MARK}"}, space_id=a.space["_id"])
    # Paid: A's ledger has an entry too.
    a.payment = await payment_invoices.mark_paid(services, a.payment["_id"], actor=a.admin, confirmed=True)
    for _ in range(100):  # the invoice's mail goes out in the background: A is complete once it is stored
        if await db.outbox.find_one({"kind": "payment_invoice"}):
            break
        await asyncio.sleep(0.05)

    a.question, _ = await questions.ask(db, event_id=a.event["_id"], item=a.item["id"], user=a.attendee,
                                        locale="en", text=f"Why {MARK}?", client="q1")
    a.question, _ = await questions.moderate(db, event_id=a.event["_id"], question=str(a.question["_id"]),
                                             status=questions.APPROVED, actor=a.admin, moderator=True,
                                             speaker=False)
    a.pending, _ = await questions.ask(db, event_id=a.event["_id"], item=a.item["id"], user=a.muted,
                                       locale="en", text=f"Pending {MARK}?", client="q2")

    eid = str(a.event["_id"])
    a.public = room_names.public_room(eid, "en")
    a.support = room_names.support_room(eid, "en", a.attendee["_id"])
    a.discussion = pages.room(a.page)
    a.messages = {}
    for room in (a.public, a.support, a.discussion):
        doc, _ = await chat_store.post(db, room=room, event_id=eid, user=a.attendee, role=R.ATTENDEE,
                                       text=f"Hello {MARK}", client_id="m1")
        a.messages[room] = doc
    await moderation.sanction(db, event=a.event, user_id=a.muted["_id"], kind=moderation.MUTE, minutes=60,
                              actor=a.admin)
    await moderation.set_slow_mode(db, event=a.event, room=a.public, seconds=30, actor=a.admin)
    await moderation.mark_read(db, a.moderator["_id"], a.public, 1)

    # A second event of A sells tickets (its own: A's first event stays open to its registrations):
    # a ticket type, a quota and an order of A's buyer, with a holder.
    a.shop = await factory.event(a.space, locales=("en", "ru"), slug=f"{MARK}-shop")
    a.ticket_type = await orders_support.ticket_type(services, a.shop, a.admin, name=f"Pass {MARK}")
    a.quota = await orders_support.quota(services, a.shop, a.admin, 10, a.ticket_type, name=f"Quota {MARK}")
    a.shop = await db.events.find_one({"_id": a.shop["_id"]})
    reservation = await checkout.reserve(services, a.shop, a.attendee, {str(a.ticket_type["_id"]): "1"},
                                         currency="EUR")
    a.order = await checkout.place(services, a.shop, a.attendee, reservation["_id"], buyer_name=f"Ann {MARK}",
                                   method="invoice", idempotency_key=f"{MARK}-order", locale="en",
                                   holders=[{"email": f"{MARK}-holder@example.org", "name": f"Holder {MARK}",
                                             "locale": "en"}])
    # A free type of it given by application, its form, and an application waiting for a decision.
    a.free_type = await orders_support.ticket_type(services, a.shop, a.admin, name=f"Teacher {MARK}",
                                                   by_application=True)
    await form_edit.save(db, a.admin, a.shop, [{"id": "f_school", "type": "text", "label": {"en": f"School {MARK}"}}],
                         expected_version=0, kind=applications.form_kind(a.free_type["_id"]))
    a.application = await applications.apply(
        services, a.shop, a.free_type, email=f"{MARK}-teacher@example.org", name=f"Teacher {MARK}", locale="en",
        raw={"f_school": [f"School {MARK}"]}, files={}, submitted_version=1, user=None, key=MARK)
    # A promo code of A's shop that reserves seats of its quota.
    a.promo_code = await promo_codes.create(services, a.admin, a.shop, await promo_codes.clean(db, a.shop, {
        **promo_codes.blank_form(), "code": f"{MARK}-code", "note": f"Note {MARK}", "value": "10",
        "scope": promo_codes.QUOTA, "quota_id": str(a.quota["_id"]), "max_uses": "2", "reserve": True}))

    a.campaign = await donation_campaigns.create(db, a.admin, a.space, await donation_campaigns.clean(db, a.space, {
        "title": {"en": f"Campaign {MARK}"}, "story": {"en": f"Story {MARK}"}, "category": "water", "state": "open",
        "goal": "100", "currency": "EUR", "event_id": str(a.event["_id"])}))
    await donation_giving.on_topup_paid(services, str(a.attendee["_id"]),
                                        {"_id": ObjectId(), "amount": 500, "currency": "EUR"})
    a.donation = await donation_giving.give(services, a.campaign, amount="5", currency="EUR", key=f"{MARK}-gift",
                                            method="wallet", user=a.attendee, locale="en",
                                            message=f"Message {MARK}")
    # A donor segment of A, and an appeal to it (by mail: the attendee gave above).
    a.segment = await donation_segments.create(db, a.admin, a.space, donation_segments.clean(
        {**donation_segments.blank_form(), "name": f"Segment {MARK}"}))
    a.appeal = await donation_appeals.create(services, a.admin, a.space, segment_id=str(a.segment["_id"]),
                                             campaign_id=str(a.campaign["_id"]), channel="mail",
                                             message=f"Appeal {MARK}", key=f"{MARK}-appeal")

    # Every id A has now, and the short ids inside its event document.
    for name in await db.list_collection_names():
        async for doc in db[name].find({}, {"_id": 1}):
            a.strings.add(str(doc["_id"]))
    a.strings |= {a.day["id"], a.item["id"], a.material["id"], a.slide["media_id"], MARK}
    return a


class Beta:
    """Space B: its space, its event and its space admin."""


async def build_beta(factory, services) -> Beta:
    """Space B with an event of its own; its staff sign in through `sign_in_staff`."""
    b = Beta()
    b.space = await factory.space(slug="beta-space")
    b.event = await factory.event(b.space, locales=("en", "ru"), slug="beta-event")
    b.admin = await factory.member(R.SPACE_ADMIN, space=b.space, name="Beatrice Beta")
    b.event = await services.db.events.find_one({"_id": b.event["_id"]})
    return b


async def sign_in_staff(factory, browser, beta: Beta) -> dict:
    people = {}
    for role in B_ROLES:
        if role == R.SPACE_ADMIN:
            user = beta.admin
        else:
            user = await factory.member(role, event=beta.event, space=beta.space, name=f"Beta {role}",
                                        locales=["en"] if role == R.COMMENTATOR else [])
        person = browser()
        await person.sign_in(user["login"], factory.PASSWORD)
        people[role] = (user, person)
    return people


# --- what changed -------------------------------------------------------------------------

async def snapshot(db) -> dict:
    out = {}
    for name in sorted(await db.list_collection_names()):
        docs = {}
        async for doc in db[name].find({}):
            docs[repr(doc["_id"])] = doc
        out[name] = docs
    return out


def changes(before: dict, after: dict) -> list[tuple[str, dict | None, dict | None]]:
    out = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, {}), after.get(name, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                out.append((name, old.get(key), new.get(key)))
    return out


def mentions(alpha: Alpha, value) -> list[str]:
    """A's ids and texts found in a document or a page (case-insensitive for the marker)."""
    text = value if isinstance(value, str) else repr(value)
    found = [s for s in alpha.strings if s in text]
    if MARK in text.lower() and MARK not in found:
        found.append(MARK)
    return found


def leaked_text(alpha: Alpha, body: str, url: str = "") -> bool:
    """Whether the page shows A's texts, other than what the request itself carried and the page
    may repeat (the search box, links to switch language, the sign-in `next`)."""
    echoed = {url, *(v for _, v in parse_qsl(urlsplit(url).query))}
    for text in sorted(echoed, key=len, reverse=True):
        for form_ in {text, quote(text, safe=""), quote(text, safe="/"), quote_plus(text),
                      html.escape(text), html.escape(quote(text, safe=""))}:
            if form_:
                body = body.replace(form_, "")
    return MARK in body.lower()


# --- filling staff URLs -------------------------------------------------------------------

def parameters(pattern: str) -> list[str]:
    return re.findall(r"\(\?P<(\w+)>", pattern)


def unknown_parameters(pattern: str) -> list[str]:
    known = set(SCOPE_PARAMS) | set(PLAIN_PARAMS) | set(OBJECT_PARAMS)
    return [name for name in parameters(pattern) if name not in known]


def object_id(alpha: Alpha, kind: str) -> str:
    return str({"attendee": alpha.attendee, "registration": alpha.registration, "import": alpha.import_, "page": alpha.page, "quiz": alpha.quiz,
                "mailing": alpha.mailing, "outbox": alpha.outbox, "bulk job": alpha.bulk_job,
                "data request": alpha.data_request, "payment": alpha.payment,
                "ticket type": alpha.ticket_type, "quota": alpha.quota,
                "order": alpha.order, "application": alpha.application,
                "promo code": alpha.promo_code, "campaign": alpha.campaign,
                "donation": alpha.donation, "segment": alpha.segment, "appeal": alpha.appeal}[kind]["_id"])


def urls(pattern: str, scope_event: dict, scope_space: dict, alpha: Alpha) -> list[tuple[str, dict]]:
    """Every path of `pattern` with the scope given and A's objects for every other id: (path, values)."""
    missing = unknown_parameters(pattern)
    if missing:
        pytest.fail(f"{pattern}: the tenancy suite does not know how to aim {missing} at space A's objects; "
                    f"add them to OBJECT_PARAMS (with a real object of A) or PLAIN_PARAMS")
    names = parameters(pattern)
    choices = []
    for name in names:
        if name == "event_id":
            choices.append([str(scope_event["_id"])])
        elif name == "space_id":
            choices.append([str(scope_space["_id"])])
        elif name in OBJECT_PARAMS:
            choices.append([object_id(alpha, OBJECT_PARAMS[name])])
        else:
            choices.append(PLAIN_PARAMS[name])
    out = []
    for combo in itertools.product(*choices):
        values = dict(zip(names, combo))
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m, values=values: values[m.group(1)], pattern)
        out.append((path.replace("\\.", ".").rstrip("$"), values))
    return out


def query(alpha: Alpha) -> str:
    """Query arguments naming A's objects: search for A's attendee, edit A's schedule item."""
    return f"?q={alpha.attendee['email']}&item={alpha.item['id']}"


def form(alpha: Alpha, space_scoped: bool) -> dict:
    """One form for every staff POST: each field a handler may read, naming A's objects."""
    membership = alpha.admin_membership if space_scoped else alpha.staff_membership
    return {
        "membership_id": str(membership["_id"]), "day_id": alpha.day["id"], "item": alpha.item["id"],
        "material": alpha.material["id"], "media_id": alpha.slide["media_id"], "position": "0",
        "direction": "down", "source": "ru", "user_id": str(alpha.attendee["_id"]),
        "import_id": str(alpha.import_["_id"]), "page_id": str(alpha.page["_id"]),
        "quiz_id": str(alpha.quiz["_id"]), "question": str(alpha.question["_id"]),
        "status": "closed", "published": "0", "discussion": pages.OFF, "action": "commit",
        "name": "Renamed", "locale": "en", "kind": "youtube", "number": "1",
        "invitation": str(alpha.invitation["_id"]),
    }


# Files for the upload forms (slides, attendee CSV): B's own, so that those handlers get past
# "choose a file" and do their work.
FILES = {"images": ("slide.png", png((3, 250, 3)), "image/png"),
         "file": ("people.csv", b"email\nnew-person@example.org\n", "text/csv")}


def encoded(fields: dict) -> tuple[bytes, str]:
    """A multipart body with `fields` and FILES, built once: (bytes, content type)."""
    request = httpx.Request("POST", "http://localhost/", data=fields, files=FILES)
    return request.read(), request.headers["Content-Type"]


async def post_encoded(person, url: str, body: tuple[bytes, str]) -> httpx.Response:
    # The XSRF token goes in its header: the same body serves every person.
    return await person.client.post(url, content=body[0], headers={
        "Content-Type": body[1], "X-XSRFToken": await person.xsrf()})


def methods(handler) -> list[str]:
    return [m for m in ("get", "post") if getattr(handler, m) is not getattr(StaffHandler, m)]


def test_every_staff_path_parameter_can_be_aimed_at_the_other_space():
    """A new kind of id in a staff URL fails here until the suite builds A's object for it."""
    assert staff_routes()
    for pattern, _ in staff_routes():
        assert not unknown_parameters(pattern), (pattern, unknown_parameters(pattern))


def test_an_unknown_path_parameter_fails_the_walk():
    with pytest.raises(pytest.fail.Exception):
        urls(r"/admin/events/(?P<event_id>[0-9a-f]{24})/widgets/(?P<widget_id>[0-9a-f]{24})",
             {"_id": "e"}, {"_id": "s"}, Alpha())


# --- HTTP ---------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=180)
async def test_staff_of_one_space_cannot_reach_another_spaces_data(browser, factory, services, db):
    """Every staff route, method and role of B, aimed at A: refused where it names A, A unchanged."""
    alpha = await build_alpha(factory, services)
    beta = await build_beta(factory, services)
    people = await sign_in_staff(factory, browser, beta)
    other = query(alpha)

    bodies = {scoped: encoded(form(alpha, scoped)) for scoped in (False, True)}
    current = await snapshot(db)
    checked = refused = accepted = 0
    xsrf_refusal = translated(services, "en", "This form has expired or did not come from this site. "
                                              "Reload the page and try again.")
    for pattern, handler in staff_routes():
        space_scoped = "space_id" in parameters(pattern)
        # A scope-less page (the dashboard, the platform pages) is B's as much as A's.
        scoped = any(name in SCOPE_PARAMS for name in parameters(pattern))
        # With A's event in the URL every control action is refused alike: one stands for all.
        aimed = [("A", path, values) for path, values in urls(pattern, alpha.event, alpha.space, alpha)
                 if scoped and values.get("action", control.ACTIONS[0]) == control.ACTIONS[0]]
        aimed += [("B", path, values) for path, values in urls(pattern, beta.event, beta.space, alpha)]
        for scope, path, values in aimed:
            names_a = scope == "A" or any(n in OBJECT_PARAMS for n in values)
            must_refuse = names_a or handler in FORM_TARGETED or values.get("action") in FORM_TARGETED_ACTIONS
            url = path + (other if scope == "B" else "")
            for role, (_, person) in people.items():
                for method in methods(handler):
                    if method == "get":
                        r = await person.get(url)
                    else:
                        r = await post_encoded(person, url, bodies[space_scoped])
                        assert xsrf_refusal not in r.text, f"{url}: the form did not pass as B's own"
                        accepted += r.status_code < 400
                    checked += 1
                    where = f"{method.upper()} {url} as B's {role}"
                    assert not leaked_text(alpha, r.text, url), f"{where} shows space A's texts"
                    if must_refuse:
                        assert r.status_code in ((403, 404) if names_a else (400, 403, 404, 409)), \
                            (where, r.status_code)
                        assert error_text(r.text), f"{where}: no translated error on the page"
                        refused += 1
            # One look at the data per URL (every role, every method): each is a full read.
            after = await snapshot(db)
            changed = changes(current, after)
            current = after
            where = f"{'/'.join(methods(handler)).upper()} {url} as B's staff"
            if must_refuse:
                assert not changed, f"{where} was refused but changed {changed}"
            for name, old, new in changed:
                assert not mentions(alpha, old) and not mentions(alpha, new), \
                    f"{where} changed {name}: {old} -> {new}"
    # Refusals are not all there is: B's staff did B's own work with these forms too.
    assert checked > 500 and refused > 300 and accepted > 20, (checked, refused, accepted)


@pytest.mark.gen_test(timeout=60)
async def test_reads_of_one_space_show_nothing_of_another(browser, factory, services, db):
    """Representative pages and files of B, fed A's ids and texts: none of A's names, emails or titles."""
    alpha = await build_alpha(factory, services)
    beta = await build_beta(factory, services)
    # B has an attendee of its own: its searches find something, never anyone of A.
    await registry.register(db, beta.event, email="carol@example.org", name="Carol Beta", locale="en",
                            actor=beta.admin)
    people = await sign_in_staff(factory, browser, beta)
    _, admin = people[R.SPACE_ADMIN]
    event = f"/admin/events/{beta.event['_id']}"
    reads = [
        "/admin", f"/admin/spaces/{beta.space['_id']}", event,
        f"{event}/attendees?q={MARK}", f"{event}/attendees?q={alpha.attendee['email']}",
        f"{event}/attendees?q=ann", f"{event}/attendees/export.csv", f"{event}/attendees/list.csv?q={MARK}",
        f"{event}/attendees/bulk/{alpha.bulk_job['_id']}",
        f"{event}/program/schedule/edit?item={alpha.item['id']}", f"{event}/program",
        f"{event}/audit", f"{event}/audit?action=attendee.register", f"{event}/audit.csv",
        f"{event}/mailings", f"{event}/mailings?audience=all", f"{event}/outbox",
        f"{event}/staff", f"{event}/console", f"{event}/control", f"{event}/slides",
        f"{event}/community", f"{event}/quizzes", f"{event}/requests",
        f"{event}/requests/{alpha.data_request['_id']}", f"{event}/requests/{alpha.data_request['_id']}/form",
        f"/admin/spaces/{beta.space['_id']}/payments", f"/admin/spaces/{beta.space['_id']}/payments?q={MARK}",
        f"/admin/spaces/{beta.space['_id']}/payments.csv",
        f"/admin/spaces/{beta.space['_id']}/payments/ledger.csv", f"/admin/spaces/{beta.space['_id']}/seller",
        f"/admin/spaces/{beta.space['_id']}/payments/{alpha.payment['_id']}",
        f"{event}/applications?q={MARK}", f"{event}/applications.csv?q={MARK}",
        f"{event}/applications/{alpha.application['_id']}",
    ]
    for url in reads:
        for role, (_, person) in people.items():
            r = await person.get(url)
            assert not leaked_text(alpha, r.text, url), f"GET {url} as B's {role} shows space A's texts"
            assert str(alpha.attendee["_id"]) not in r.text, url
    r = await admin.get(f"{event}/control", headers={"Accept": "application/json"})
    assert r.status_code == 200 and not leaked_text(alpha, r.text)
    assert alpha.slide["media_id"] not in r.text
    # The search found B's own attendee, so the page was not simply empty.
    r = await admin.get(f"{event}/attendees?q=carol")
    assert "Carol Beta" in r.text


@pytest.mark.gen_test(timeout=60)
async def test_a_ticket_of_one_space_is_refused_at_another_spaces_door(browser, factory, services, db):
    """A's paid ticket, its holder's registration admitting, scanned at B's door: refused, A unchanged."""
    alpha = await build_alpha(factory, services)
    order = await order_actions.mark_paid(services, alpha.order["_id"], payment_ref=None, actor=alpha.admin,
                                          why=MARK)
    await orders_support.drain(services)
    order = await db.orders.find_one({"_id": order["_id"]})
    assert order["tickets"][0]["issued"]
    code = ticket_codes.check_in_code(services.settings.cookie_secret, order, order["tickets"][0])
    beta = await build_beta(factory, services)
    people = await sign_in_staff(factory, browser, beta)
    before = await snapshot(db)
    door = f"/admin/events/{beta.event['_id']}/checkin"
    for role in (R.SPACE_ADMIN, R.EVENT_ADMIN, R.EVENT_MANAGER):
        _, person = people[role]
        for accept in ("text/html", "application/json"):
            r = await person.post(door, {"code": code}, headers={"Accept": accept})
            assert r.status_code == 400, (role, accept, r.status_code)
            assert not leaked_text(alpha, r.text) and str(alpha.attendee["_id"]) not in r.text
            assert translated(services, "en", "This ticket is for another event.") in r.text \
                or "This ticket is for another event." in r.text
    # Aimed at A's own door, B's staff are refused before any code is read.
    _, admin = people[R.SPACE_ADMIN]
    r = await admin.post(f"/admin/events/{alpha.shop['_id']}/checkin", {"code": code})
    assert r.status_code == 403 and error_text(r.text)
    assert not changes(before, await snapshot(db))


# --- the live side -----------------------------------------------------------------------------

def frame_cases(alpha: Alpha, beta: Beta) -> dict[str, tuple[str, list[dict]]]:
    """Every frame type, aimed at A: ("refused", frames) must each get an error;
    ("answered", frames) get their answer, which must carry nothing of A."""
    eid = str(beta.event["_id"])
    foreign_rooms = [
        alpha.public, alpha.support, alpha.discussion,
        # B's own event, but A's attendee and A's community page in the name.
        room_names.support_room(eid, "en", alpha.attendee["_id"]),
        room_names.community_room(eid, alpha.page["_id"]),
    ]
    members = [alpha.attendee, alpha.muted, alpha.moderator]
    questions_ = [alpha.question, alpha.pending]
    return {
        "ping": ("answered", [{}]),
        "join": ("refused", [{"room": r} for r in foreign_rooms]),
        "leave": ("refused", [{"room": r} for r in foreign_rooms]),
        "send": ("refused", [{"room": r, "text": "from B", "client_id": "b1"} for r in foreign_rooms]),
        "history": ("refused", [{"room": r} for r in foreign_rooms]),
        "delete": ("refused", [{"room": r, "offset": 1} for r in foreign_rooms]),
        "mute": ("refused", [{"user": str(u["_id"]), "minutes": 5} for u in members]),
        "ban": ("refused", [{"user": str(u["_id"]), "minutes": 5} for u in members]),
        "unmute": ("refused", [{"user": str(u["_id"])} for u in members]),
        "unban": ("refused", [{"user": str(u["_id"])} for u in members]),
        "slow_mode": ("refused", [{"room": r, "seconds": 0} for r in foreign_rooms]
                      + [{"room": r, "seconds": 60} for r in foreign_rooms]),
        "read": ("refused", [{"room": r, "offset": 0} for r in foreign_rooms]
                 + [{"room": r, "offset": 1} for r in foreign_rooms]),
        "rooms": ("answered", [{}, {"after": alpha.public}]),
        "ask": ("refused", [{"item": alpha.item["id"], "text": "from B?", "client_id": "bq"}]),
        "vote": ("refused", [{"question": str(q["_id"])} for q in questions_]),
        "unvote": ("refused", [{"question": str(q["_id"])} for q in questions_]),
        "moderate_question": ("refused", [{"question": str(q["_id"]), "status": s} for q in questions_
                                          for s in questions.MODERATED]),
        "questions": ("answered", [{}, {"item": alpha.item["id"]}]),
        # A heartbeat credits the connection's own event; a field naming A's is not read.
        "watching": ("answered", [{"seconds": 30}, {"seconds": 30, "event": str(alpha.event["_id"])}]),
        # A reaction counts for the connection's own event (accepted ones get no answer to wait for);
        # a field naming A's is not read, and a bad one is refused before anything is counted.
        "react": ("refused", [{"emoji": "nope", "event": str(alpha.event["_id"])},
                              {"emoji": 5, "room": alpha.public}]),
    }


async def answer(client: LiveClient, ref: str, seen: list) -> dict:
    while True:
        frame = await client.next(5.0)
        assert frame is not None, f"closed while waiting for the answer to {ref}"
        seen.append(frame)
        if frame.get("ref") == ref:
            return frame


async def connect(base_url, person, event) -> LiveClient:
    client = await LiveClient.connect(base_url, person, event["_id"])
    await client.expect("welcome")
    await client.expect("state")
    return client


@pytest.mark.gen_test(timeout=120)
async def test_live_frames_of_one_space_cannot_reach_another(browser, factory, services, db, base_url):
    # Many frames per socket: the per-connection rate limit is not what is tested here.
    services.live.rate, services.live.burst = 10000.0, 10000
    alpha = await build_alpha(factory, services)
    beta = await build_beta(factory, services)
    people = await sign_in_staff(factory, browser, beta)

    # A's own people, in A's rooms, who must hear nothing of what B does.
    watchers = []
    for user in (alpha.moderator, alpha.attendee):
        # Registered by A's staff without a password: they choose one, as people do.
        await users.set_password_hash(db, user["_id"], await services.hasher.hash(factory.PASSWORD))
        person = browser()
        await person.sign_in(user["login"], factory.PASSWORD)
        client = await connect(base_url, person, alpha.event)
        for room in (alpha.public, alpha.discussion) + ((alpha.support,) if user is alpha.attendee else ()):
            await client.send({"type": "join", "room": room, "ref": room})
            await client.expect("joined", room=room)
        watchers.append(client)

    # A socket to A's event: refused at the handshake, for every role of B.
    for role, (_, person) in people.items():
        with pytest.raises(HTTPClientError) as refused:
            await LiveClient.connect(base_url, person, alpha.event["_id"])
        assert refused.value.code == 403, role

    cases = frame_cases(alpha, beta)
    registered = set(services.live.frames)
    unclassified = registered - set(cases)
    assert not unclassified, (f"frame types {sorted(unclassified)} are not aimed at space A by this suite; "
                              f"add them to frame_cases")
    assert not set(cases) - registered, sorted(set(cases) - registered)

    before = await snapshot(db)
    sent = 0
    for role, (_, person) in people.items():
        client = await connect(base_url, person, beta.event)
        seen: list = []
        for type_ in sorted(registered):
            kind, frames = cases[type_]
            for i, fields in enumerate(frames):
                ref = f"{type_}-{i}"
                await client.send({**fields, "type": type_, "ref": ref})
                reply = await answer(client, ref, seen)
                where = f"{type_} {fields} from B's {role}"
                if kind == "refused":
                    assert reply["type"] == "error", (where, reply)
                # An answer may repeat what it answers (`room`, `item`): anything else of A is a leak.
                seen[-1] = {k: v for k, v in reply.items() if fields.get(k, object()) != v}
                sent += 1
            after = await snapshot(db)
            assert after == before, f"{type_} frames from B's {role} changed {changes(before, after)}"
        seen += await client.quiet(0.2)
        for frame in seen:
            assert not mentions(alpha, json.dumps(frame)), (role, frame)
        client.close()
    assert sent > 100

    for client in watchers:
        heard = [f for f in await client.quiet(0.3)
                 if not (f.get("type") == "presence" and f.get("event") == str(alpha.event["_id"]))]
        assert heard == [], heard
    assert await snapshot(db) == before
