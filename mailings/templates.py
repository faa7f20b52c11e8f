"""Organiser-editable mail texts: for each kind of mail a subject and a body per locale, one layout for all.

Every kind (`KINDS`) declares its placeholders, its translated default
texts, a sample recipient for the preview, and where in the event document
the organiser's texts live (`Kind.path`: a mapping {locale: {"subject",
"body"}}).  A text with a `{field}` its kind does not declare is refused with
a translated error and nothing is saved; an empty subject or body means the
translated default in the recipient's locale, so a locale the organiser
never wrote for still gets a whole mail in its own language.

The texts are plain text.  `render` turns a filled text into the mail's
plain-text part and its HTML part: the HTML escapes the text, lays it out
with `templates/email/layout.html`, and has its stylesheet inlined into
`style` attributes by css-inline, because many mail clients drop `<style>`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import css_inline

from access import audit
from core.errors import Refusal
from core.i18n import N_, direction
from events import model
from events.model import EventDoc

MAX_SUBJECT, MAX_BODY = 200, 5000
FIELD = re.compile(r"\{([^{}]*)\}")
AUDIT_ACTION = "mail_templates_update"

UNKNOWN_PLACEHOLDER = N_("Unknown placeholder {%(name)s}. Use only: %(known)s.")
TOO_LONG = N_("This text is too long.")
UNKNOWN_KIND = N_("Unknown kind of mail.")

SAMPLE = {"person_name": "Alex Sample", "event_title": "Livehall Summit", "starts_at": "2030-05-17 10:00 (UTC)",
          "event_url": "https://livehall.example/e/space/summit", "session_title": "Opening keynote",
          "download_url": "https://livehall.example/me/certificates/1", "code": "ABCD-EFGH",
          "verify_url": "https://livehall.example/c/ABCD-EFGH"}

REMINDER_EVENT_BODY = N_("Hello, {person_name}!\n\n{event_title} starts at {starts_at}.\n\n"
                         "Join here: {event_url}")
REMINDER_SESSION_BODY = N_("Hello, {person_name}!\n\n{session_title} ({event_title}) starts at {starts_at}.\n\n"
                           "Join here: {event_url}")
EVENT_FIELDS = ("person_name", "event_title", "starts_at", "event_url")


class TextError(Refusal):
    """A refused text; the message is marked for translation."""


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    placeholders: tuple[str, ...]
    subject: str
    body: str
    path: tuple[str, ...] = ()
    sample: Mapping[str, str] = field(default_factory=lambda: SAMPLE)

    @property
    def where(self) -> tuple[str, ...]:
        return self.path or ("mail_templates", self.key)


def _reminder(key: str, label: str, subject: str, session: bool = False) -> Kind:
    fields = (*EVENT_FIELDS, "session_title") if session else EVENT_FIELDS
    return Kind(f"reminder_{key}", label, fields, subject, REMINDER_SESSION_BODY if session else REMINDER_EVENT_BODY,
                path=("reminders", key, "texts"))


KINDS: dict[str, Kind] = {k.key: k for k in (
    _reminder("event_1d", N_("One day before the event"), N_("Tomorrow: {event_title}")),
    _reminder("event_1h", N_("One hour before the event"), N_("In one hour: {event_title}")),
    _reminder("event_5m", N_("Five minutes before the event"), N_("Starting in five minutes: {event_title}")),
    _reminder("session", N_("Fifteen minutes before each session in a person's programme"),
              N_("Soon in your programme: {session_title}"), session=True),
    Kind("certificate", N_("Certificate issued"), ("person_name", "event_title", "download_url", "code", "verify_url"),
         N_("Your certificate for {event_title}"),
         N_("Hello, {person_name}!\n\nThank you for attending {event_title}. Your certificate is ready.\n\n"
            "Download it (sign in first): {download_url}\n\nAnyone can check it with the code {code}: {verify_url}")),
)}


def kind_of(key: str) -> Kind:
    try:
        return KINDS[key]
    except KeyError:
        raise TextError(UNKNOWN_KIND) from None


def check(kind: Kind, text: str, limit: int) -> None:
    """Refuse a text with a placeholder its kind does not declare, or one that is too long."""
    if len(text) > limit:
        raise TextError(TOO_LONG)
    for name in FIELD.findall(text):
        if name not in kind.placeholders:
            raise TextError(UNKNOWN_PLACEHOLDER, name=name,
                            known=", ".join("{%s}" % k for k in kind.placeholders))


def fill(text: str, values: Mapping[str, str]) -> str:
    """The text with each known field replaced; anything else is left as typed."""
    return FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def stored(event: Mapping[str, Any], kind: Kind) -> dict[str, dict[str, str]]:
    """The organiser's texts of a kind, {locale: {"subject", "body"}}."""
    found: Any = event
    for part in kind.where:
        found = (found or {}).get(part) if isinstance(found, Mapping) else None
    return dict(found or {})


def with_texts(event: Mapping[str, Any], kind: Kind, texts: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A copy of the event holding `texts` for the kind (a preview of unsaved texts); the event is left as is."""
    copy = dict(event)
    target = copy
    for step in kind.where[:-1]:
        target[step] = dict(target.get(step) or {})
        target = target[step]
    target[kind.where[-1]] = texts
    return copy


def texts_for(event: Mapping[str, Any], kind: Kind, locale: str, gettext) -> tuple[str, str]:
    """(subject, body) templates for the locale: the organiser's, else the defaults translated to the locale."""
    own = stored(event, kind).get(locale) or {}
    return own.get("subject") or gettext(kind.subject), own.get("body") or gettext(kind.body)


def parse(event: EventDoc, kind: Kind, form: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The texts a staff form describes (`subject_<locale>`, `body_<locale>`); `TextError` before any write."""
    texts = {}
    for locale in event["locales"]:
        subject = " ".join((form.get(f"subject_{locale}") or "").split())
        body = (form.get(f"body_{locale}") or "").replace("\r\n", "\n").strip()
        check(kind, subject, MAX_SUBJECT)
        check(kind, body, MAX_BODY)
        if subject or body:
            texts[locale] = {"subject": subject, "body": body}
    return texts


async def save(db, event: EventDoc, kind: Kind, texts: dict[str, dict[str, str]],
               actor: Mapping[str, Any] | None) -> EventDoc:
    """Store validated texts (from `parse`) on the event, versioned like every edit of it, and audit it."""
    where = ".".join(kind.where)
    before, after = await model.versioned_update(db, event["_id"], lambda _current: {where: texts})
    await audit.record(db, actor=actor, action=AUDIT_ACTION, event=after,
                       before={kind.key: stored(before, kind)}, after={kind.key: texts})
    return after


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def render(i18n, event: Mapping[str, Any], kind: Kind, locale: str, values: Mapping[str, str], *,
           action: tuple[str, str] | None = None, footer: Sequence[tuple[str, str]] = (),
           site_url: str = "") -> tuple[str, str, str]:
    """(subject, text, html) of one mail: the organiser's or default texts filled with `values`.

    `action` (label, url) becomes a button in the HTML and a line in the text;
    `footer` lines (text, url or "") close both parts.
    """
    subject_t, body_t = texts_for(event, kind, locale, i18n.gettext(locale))
    subject = " ".join(fill(subject_t, values).split())
    body = fill(body_t, values)
    text = "\n\n".join(paragraphs(body))
    if action:
        text += f"\n\n{action[0]}: {action[1]}"
    lines = [f"{words}: {url}" if url else words for words, url in footer]
    text += "\n\n-- \n" + "\n".join([*lines, f"Livehall · {site_url}".strip()]) + "\n"
    html = i18n.env(locale).get_template("email/layout.html").render(
        locale_code=locale, direction=direction(locale), subject=subject, paragraphs=paragraphs(body),
        action=action, footer=footer, site_url=site_url)
    return subject, text, inline(html)


def inline(html: str) -> str:
    """The HTML with its stylesheet moved into style attributes (kept in <head> for clients that read it)."""
    return css_inline.inline(html, keep_style_tags=False)


def preview(i18n, event: Mapping[str, Any], kind: Kind, locale: str, site_url: str = "") -> dict[str, str]:
    """The mail as the sample recipient would get it."""
    subject, text, html = render(i18n, event, kind, locale, kind.sample,
                                 action=None, footer=(), site_url=site_url)
    return {"kind": kind.key, "locale": locale, "subject": subject, "text": text, "html": html}
