"""Mail templates: declared placeholders, per-locale defaults, preview, and a sent mail's two parts."""
from __future__ import annotations

import datetime
import email
import email.policy
import os
import re
import secrets

import pytest
from aiosmtpd.controller import Controller

from access import roles as R
from attendees import registry
from core import config
from core.clock import utcnow
from mailings import templates
from reminders import runner
from tests.servers import free_port
from tests.support import error_text, translated

CERT = templates.KINDS["certificate"]


class Collector:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    controller = Controller(Collector(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def settings(smtp_server):
    return config.from_env(mongodb_db=f"livehall_test_{secrets.token_hex(4)}", argon2_time_cost=1,
                           argon2_memory_kib=1024, log_format="text",
                           redis_url=os.environ.get("TEST_REDIS_URL", ""),
                           smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_tls="none",
                           smtp_user="", smtp_password="", mail_from="Livehall <events@example.org>")


def test_an_unknown_or_foreign_placeholder_is_refused():
    with pytest.raises(templates.TextError) as refused:
        templates.check(CERT, "Hi {person_nme}", templates.MAX_BODY)
    assert refused.value.params["name"] == "person_nme" and "{verify_url}" in refused.value.params["known"]
    # A field of another kind is not declared for this one.
    with pytest.raises(templates.TextError):
        templates.check(templates.KINDS["reminder_event_1d"], "{session_title}", templates.MAX_BODY)
    templates.check(templates.KINDS["reminder_session"], "{session_title}", templates.MAX_BODY)


def test_each_locale_falls_back_to_its_own_translated_default(services):
    event = {"locales": ["ru", "en", "de"], "default_locale": "ru",
             "mail_templates": {"certificate": {"ru": {"subject": "Сертификат: {event_title}", "body": ""}}}}
    ru = templates.texts_for(event, CERT, "ru", services.i18n.gettext("ru"))
    de = templates.texts_for(event, CERT, "de", services.i18n.gettext("de"))
    assert ru[0] == "Сертификат: {event_title}"
    assert ru[1] == services.i18n.gettext("ru")(CERT.body) != CERT.body  # the empty body: the Russian default
    assert de == (services.i18n.gettext("de")(CERT.subject), services.i18n.gettext("de")(CERT.body))
    assert de[0] != CERT.subject  # German, not the English msgid nor the Russian text


def test_the_preview_renders_both_parts_with_the_sample_recipient_and_inlined_styles(services):
    event = templates.with_texts({"locales": ["en"]}, CERT, {"en": {"subject": "", "body": "Dear {person_name} <b>&"}})
    shown = templates.preview(services.i18n, event, CERT, "en", site_url="https://livehall.example")
    assert shown["subject"] == "Your certificate for Livehall Summit"
    assert "Dear Alex Sample <b>&" in shown["text"]
    assert "Dear Alex Sample &lt;b&gt;&amp;" in shown["html"]  # user text is never markup
    assert "<style" not in shown["html"] and 'style="' in shown["html"]
    assert "class=\"card\"" in shown["html"] and "max-width: 560px" in shown["html"]


@pytest.mark.gen_test(timeout=60)
async def test_a_sent_reminder_has_a_plain_and_an_html_part_with_inlined_styles(services, factory, db, smtp_server):
    event = await factory.event(locales=("en", "de"), gate_open=False)
    start = (utcnow() + datetime.timedelta(minutes=40)).replace(microsecond=0)
    await db.events.update_one({"_id": event["_id"]}, {"$set": {"gate.official_start": start,
                                                                 "updated_at": utcnow()}})
    event = await db.events.find_one({"_id": event["_id"]})
    kind = templates.KINDS["reminder_event_1h"]
    event = await templates.save(db, event, kind, {"en": {"subject": "Soon: {event_title}", "body": "Hi {person_name}"}},
                                 None)
    person = await factory.member(R.ATTENDEE, event=event, locale="en", name="Ann <O'Brien>")
    german = await factory.member(R.ATTENDEE, event=event, locale="de")
    sweeper = runner.Runner(services)
    await sweeper.sweep()
    import asyncio
    await asyncio.gather(*sweeper.working.values())
    got = {m["To"]: m for m in (email.message_from_bytes(e.content, policy=email.policy.default)
                                for e in smtp_server.handler.envelopes)}
    msg = got[person["email"]]
    assert msg["Subject"] == "Soon: " + event["title"]["en"]
    plain = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "Hi Ann <O'Brien>" in plain
    assert "Hi Ann &lt;O&#39;Brien&gt;" in html or "Hi Ann &lt;O'Brien&gt;" in html
    assert "<style" not in html and 'style="' in html and "background: #1f5fbf" in html
    # The German recipient gets the German default, not the English text.
    de = got[german["email"]]
    assert de["Subject"] == services.i18n.gettext("de")(kind.subject).format(event_title=event["title"]["de"])


@pytest.mark.gen_test(timeout=60)
async def test_the_staff_page_refuses_an_unknown_placeholder_previews_and_saves(services, factory, db, browser):
    event = await factory.event(locales=("en", "de"))
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="de")
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    page = f"/admin/events/{event['_id']}/mail-templates"
    listing = await b.get(page)
    assert listing.status_code == 200 and all(f'data-kind="{k}"' in listing.text for k in templates.KINDS)
    assert (await b.get(page + "?kind=certificate")).status_code == 200
    assert (await b.get(page + "?kind=nothing")).status_code == 404
    before = await db.events.find_one({"_id": event["_id"]})
    bad = await b.post(page, {"kind": "certificate", "body_en": "Hi {nmae}"})
    assert bad.status_code == 400
    assert "{nmae}" in error_text(bad.text) and "Unknown placeholder" not in error_text(bad.text)  # German
    assert (await db.events.find_one({"_id": event["_id"]}))["state_version"] == before["state_version"]
    shown = await b.post(page, {"kind": "certificate", "body_en": "Dear {person_name}", "preview": "en"})
    assert shown.status_code == 200 and "Dear Alex Sample" in shown.text and "data-preview-html" in shown.text
    assert "mail_templates" not in await db.events.find_one({"_id": event["_id"]})
    saved = await b.post(page, {"kind": "certificate", "subject_de": "Ihr Zertifikat: {event_title}"})
    assert saved.status_code == 302
    stored = await db.events.find_one({"_id": event["_id"]})
    assert stored["mail_templates"]["certificate"] == {"de": {"subject": "Ihr Zertifikat: {event_title}", "body": ""}}
    assert (await db.audit.find_one({"action": templates.AUDIT_ACTION}))["actor_id"] == admin["_id"]


# --- every kind through the code that sends it ------------------------------------------------

NEW_KINDS = ("signin", "registration_confirm", "registration_registered", "registration_waiting",
             "registration_offered", "registration_rejected", "registration_cancelled", "session_seat_offered",
             "invitation", "data_request", "certificate", "application_approved", "application_rejected")
HOUR = datetime.timedelta(hours=1)


def own_text(kind: templates.Kind) -> str:
    """An organiser's text naming every placeholder of the kind, each value findable again in the mail."""
    return "Own text for {person_name}.\n\n" + "\n".join(f"<<{p}={{{p}}}>>" for p in kind.placeholders)


def as_pattern(text: str) -> re.Pattern:
    """A filled text as a pattern: each {placeholder} captures its value (the same value where it repeats)."""
    out, seen, at = [], set(), 0
    for m in templates.FIELD.finditer(text):
        out.append(re.escape(text[at:m.start()]))
        name = m.group(1)
        out.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
        seen.add(name)
        at = m.end()
    out.append(re.escape(text[at:]))
    return re.compile("".join(out) + r"\n\n", re.S)


async def send_kind(key: str, services, factory, db, event, people: list[dict]) -> None:
    """Make the platform send the mail of kind `key` to each person ({"email", "name", "locale"})."""
    from certificates import issuing
    from invitations import campaigns
    from mailings import signin_mailing
    from registration import mails, requests

    staff = await factory.member(R.EVENT_ADMIN, event=event)
    if key == "invitation":
        mailing = await campaigns.create(db, staff, event, [{**p, "user_id": None} for p in people], "csv")
        assert await campaigns.run(services, mailing["_id"]) == len(people)
        return
    if key == "registration_confirm":
        for p in people:
            await mails.send_confirmation(services, event, email=p["email"], name=p["name"], locale=p["locale"],
                                          raw_token=secrets.token_urlsafe(16), hours=24)
        return
    if key.startswith("application_"):
        from orders import application_mails
        from tests.orders_support import ticket_type
        teacher = await ticket_type(services, event, staff, name="Teacher", by_application=True)
        for p in people:
            application = {"_id": None, **p, "reason": "Thank you, Sample."}
            await application_mails.send(services, event, application, teacher, key.split("_", 1)[1])
        return
    if key == "certificate":
        for p in people:
            doc = {"email": p["email"], "name": p["name"], "event_title": event["title"][p["locale"]],
                   "code": secrets.token_hex(6).upper(), "locale": p["locale"], "mailed_at": None,
                   "event_id": event["_id"], "user_id": (await factory.user(email=p["email"]))["_id"]}
            doc["_id"] = (await db.certificates.insert_one(doc)).inserted_id
            await issuing._mail(services, event, doc)
        return
    members = []
    for p in people:
        await factory.user(email=p["email"], locale=p["locale"], name=p["name"])
        members.append(await registry.register(db, event, email=p["email"], name=p["name"], locale=p["locale"]))
    if key == "signin":
        mailing = await signin_mailing.create(db, event, audience="all", locale=None, actor=staff)
        await signin_mailing.run(services, mailing["_id"])
    elif key.startswith("registration_"):
        for m in members:
            await mails.send_state(services, event, {**m, "offer_expires_at": utcnow() + HOUR}, key.split("_", 1)[1])
    elif key == "session_seat_offered":
        item = {"id": "w1", "title": {"en": "Workshop", "de": "Werkstatt"}}
        for m in members:
            await mails.send_seat_offer(services, event, item, {"user_id": m["user_id"],
                                                                "offer_expires_at": utcnow() + HOUR})
    elif key == "data_request":
        now, zone = utcnow(), event["timezone"]
        raw = {"title": {"en": "Diet", "de": "Ernährung"}, "subject": {}, "text": {}, "states": ["registered"],
               "starts": requests.local_value(now - HOUR, zone), "ends": requests.local_value(now + 24 * HOUR, zone)}
        request = await requests.create(db, staff, event, requests.clean(event, raw))
        for m in members:
            await requests.mail_one(services, event, request, m["_id"], send="now")


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("key", NEW_KINDS)
async def test_each_kind_sends_the_organisers_text_or_the_translated_default_and_hides_secrets_from_staff(
        key, services, factory, db, smtp_server):
    kind = templates.KINDS[key]
    event = await factory.event(locales=("en", "de"))
    event = await templates.save(db, event, kind, {"en": {"subject": "Own: {event_title}", "body": own_text(kind)}},
                                 None)
    ann = {"email": "ann@example.org", "name": "Ann", "locale": "en"}
    hans = {"email": "hans@example.org", "name": "Hans", "locale": "de"}
    await send_kind(key, services, factory, db, event, [ann, hans])

    got = {e.rcpt_tos[0]: email.message_from_bytes(e.content, policy=email.policy.default)
           for e in smtp_server.handler.envelopes}
    assert sorted(got) == [ann["email"], hans["email"]]
    hidden = {loc: "[%s]" % services.i18n.gettext(loc)(templates.HIDDEN) for loc in ("en", "de")}
    for person in (ann, hans):
        msg, loc = got[person["email"]], person["locale"]
        plain = msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
        html = msg.get_body(preferencelist=("html",)).get_content()
        # Both parts; the HTML laid out with its styles inlined.
        assert f"{person['name']}" in plain and f'lang="{loc}"' in html
        assert "<style" not in html and 'style="' in html and "max-width: 560px" in html
        if loc == "en":  # the organiser's own text
            assert msg["Subject"] == f"Own: {event['title']['en']}"
            assert "Own text for Ann." in plain and "Own text for Ann." in html
            values = dict(re.findall(r"<<(\w+)=(.*?)>>", plain))
            assert sorted(values) == sorted(kind.placeholders)
        else:  # no own text in German: the German default, whole
            gettext = services.i18n.gettext("de")
            assert gettext(kind.body) != kind.body
            assert as_pattern(gettext(kind.subject)).fullmatch(msg["Subject"] + "\n\n")
            found = as_pattern(gettext(kind.body)).match(plain)
            assert found, repr(plain)
            values = found.groupdict()
            assert values["person_name"] == "Hans" and values.get("event_title") in (None, event["title"]["de"])
        # Staff read the outbox copy: every secret of the kind is hidden there, never shown.
        entry = await db.outbox.find_one({"to": person["email"]})
        shown = entry["subject"] + entry["text"] + (entry["html"] or "")
        assert entry["redacted"] is bool(kind.secrets)
        for name in kind.secrets:
            assert len(values[name]) > 5 and values[name] not in shown, name
        if kind.secrets:
            assert hidden[loc] in entry["text"]
        assert not templates.FIELD.search(entry["subject"] + entry["text"])  # every placeholder filled


def test_an_empty_value_takes_its_comma_along_and_addresses_become_links(services):
    kind = templates.KINDS["registration_registered"]
    values = {"person_name": "", "event_title": "Summit", "event_url": "https://livehall.example/e/s/summit."}
    for loc, hello in (("en", "Hello!"), ("ru", "Здравствуйте!"), ("he", "שלום!")):
        subject, text, html = templates.render(services.i18n, {}, kind, loc, values)
        assert text.startswith(hello + "\n\n"), text
    subject, text, html = templates.render(services.i18n, {}, kind, "en", values)
    # The address is a link; the full stop after it is not part of it.
    assert 'href="https://livehall.example/e/s/summit"' in html and "summit</a>." in html


def test_the_staff_copy_hides_every_secret_whatever_the_caller_passes(services):
    kind = templates.KINDS["signin"]
    values = {**templates.SAMPLE, "link_valid_for": "72 hours"}
    subject, text, html = templates.render(services.i18n, {}, kind, "en", values, staff=True)
    for name in kind.secrets:
        assert values[name] not in subject + text + html, name
    assert text.count("[hidden: sent only to the recipient]") == 3
    # The button to a hidden link is no link at all.
    assert 'class="button"' not in html
    subject, text, html = templates.render(services.i18n, {}, kind, "en", values)
    # The recipient's copy: the link in the text (once: the text shows it already) and as the button.
    assert re.search(r'<a class="button" href="%s"' % re.escape(values["signin_link"]), html)
    assert text.count(values["signin_link"]) == 1


@pytest.mark.gen_test(timeout=60)
async def test_every_kind_is_listed_in_its_group_and_refuses_an_unknown_placeholder(services, factory, db, browser):
    event = await factory.event(locales=("en", "de"))
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="de")
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    page = f"/admin/events/{event['_id']}/mail-templates"
    listing = await b.get(page)
    gettext = services.i18n.gettext("de")
    for label, members in templates.grouped():
        assert members and f">{translated(services, 'de', label)}</h2>" in listing.text
    assert sum(len(members) for _, members in templates.grouped()) == len(templates.KINDS)
    before = await db.events.find_one({"_id": event["_id"]})
    for key, kind in templates.KINDS.items():
        shown = await b.get(f"{page}?kind={key}")
        assert shown.status_code == 200 and translated(services, "de", kind.label) in shown.text
        assert all(f"<code>{{{name}}}</code>" in shown.text for name in kind.secrets)
        bad = await b.post(page, {"kind": key, "subject_en": "Fine", "body_de": "Hallo {nobody}"})
        assert bad.status_code == 400, key
        assert error_text(bad.text).startswith(gettext(templates.UNKNOWN_PLACEHOLDER).split("{")[0]) and \
            "{nobody}" in error_text(bad.text)
        preview = await b.post(page, {"kind": key, "preview": "de"})
        assert preview.status_code == 200 and "data-preview-html" in preview.text
        assert "Alex Sample" in preview.text
    after = await db.events.find_one({"_id": event["_id"]})
    assert after["state_version"] == before["state_version"] and "mail_templates" not in after
