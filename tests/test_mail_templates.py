"""Mail templates: declared placeholders, per-locale defaults, preview, and a sent mail's two parts."""
from __future__ import annotations

import datetime
import email
import email.policy
import os
import secrets

import pytest
from aiosmtpd.controller import Controller

from access import roles as R
from core import config
from core.clock import utcnow
from mailings import templates
from reminders import runner
from tests.servers import free_port
from tests.support import error_text

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
