"""Organiser-editable mail texts: for each kind of mail a subject and a body per locale, one layout for all.

Every mail an event sends to a person is one of `KINDS`: the sign-in mail,
the registration mails (address confirmation, each change of state, a seat
in a session offered), the receipt of a paid order, the invitation, the
reminders, the data request and the certificate mail, and the decisions on
applications for free tickets.  Each kind declares its placeholders, its translated
default texts, a sample recipient for the preview, the group it is listed
under on the staff page, and where in the event document the organiser's
texts live (`Kind.path`: a mapping {locale: {"subject", "body"}}).  A text
with a `{field}` its kind does not declare is refused with a translated
error and nothing is saved; an empty subject or body means the translated
default in the recipient's locale, so a locale the organiser never wrote for
still gets a whole mail in its own language.

The texts are plain text.  `render` turns a filled text into the mail's
plain-text part and its HTML part: the HTML escapes the text (addresses in
it become links), lays it out with `templates/email/layout.html` (a kind's
`action` becomes a button, then the footer lines and, for an invitation, the
tracking pixel, which no text can remove), and has its stylesheet inlined
into `style` attributes by css-inline, because many mail clients drop
`<style>`.

Some placeholders are secrets (`Kind.secrets`: a sign-in link, a login, a
password, a personal confirmation or invitation link).  The copy staff may
read in the outbox is rendered from the same texts with `staff=True`: every
secret becomes the translated "hidden" marker whatever value was passed, so
no organiser's text can carry one there.

Platform mails that no organiser owns, such as the password reset, are not
kinds: they stay Jinja templates rendered by `mailings.messages`.
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
from mailings.messages import HIDDEN

MAX_SUBJECT, MAX_BODY = 200, 5000
FIELD = re.compile(r"\{([^{}]*)\}")
# A placeholder with the comma and blanks just before it: an empty value takes them along.
FIELD_WITH_LEAD = re.compile(r"(,?[ \t]*)\{([^{}]*)\}")
URL = re.compile(r"https?://[^\s<>\"']+")
AUDIT_ACTION = "mail_templates_update"

UNKNOWN_PLACEHOLDER = N_("Unknown placeholder {%(name)s}. Use only: %(known)s.")
TOO_LONG = N_("This text is too long.")
UNKNOWN_KIND = N_("Unknown kind of mail.")
# The value of {password} for an account that keeps the password it has.
OWN_PASSWORD = N_("the one you already use for this account (if you have forgotten it, choose a new one here: "
                  "%(url)s)")

SAMPLE = {"person_name": "Alex Sample", "event_title": "Livehall Summit", "starts_at": "2030-05-17 10:00 (UTC)",
          "event_url": "https://livehall.example/e/space/summit", "session_title": "Opening keynote",
          "download_url": "https://livehall.example/me/certificates/1", "code": "ABCD-EFGH",
          "verify_url": "https://livehall.example/c/ABCD-EFGH",
          "signin_link": "https://livehall.example/signin/link/SAMPLE", "signin_url": "https://livehall.example/signin",
          "login": "alex.sample", "password": "Sample-Pass-2030", "link_valid_for": "",
          "confirm_url": "https://livehall.example/register/confirm?token=SAMPLE",
          "deadline": "2030-05-16 18:00 (UTC)", "invitation_url": "https://livehall.example/i/c/SAMPLE",
          "request_title": "A few questions before the event",
          "answer_url": "https://livehall.example/e/space/summit/requests/1",
          "ticket_type": "Teacher's pass", "reason": "Thank you for applying.",
          "lines": "2 × Standard: €15.00 = €30.00\n1 × VIP: €80.00 = €80.00", "total": "€110.00",
          "holders_note": "1 ticket has no holder yet: name its holder on your order page.",
          "order_url": "https://livehall.example/me/orders/1"}
# Hours a sample link lasts: {link_valid_for} is said in the preview's language.
SAMPLE_HOURS = 72

SIGNIN, REGISTRATION, TICKETS, INVITATIONS, REMINDERS, REQUESTS, CERTIFICATES, APPLICATIONS = (
    "signin", "registration", "tickets", "invitations", "reminders", "requests", "certificates", "applications")
GROUPS: dict[str, str] = {SIGNIN: N_("Sign-in"), REGISTRATION: N_("Registration"), TICKETS: N_("Tickets"),
                          INVITATIONS: N_("Invitations"), REMINDERS: N_("Reminders"), REQUESTS: N_("Data requests"),
                          CERTIFICATES: N_("Certificates"), APPLICATIONS: N_("Applications for free tickets")}

REMINDER_EVENT_BODY = N_("Hello, {person_name}!\n\n{event_title} starts at {starts_at}.\n\n"
                         "Join here: {event_url}")
REMINDER_SESSION_BODY = N_("Hello, {person_name}!\n\n{session_title} ({event_title}) starts at {starts_at}.\n\n"
                           "Join here: {event_url}")
EVENT_FIELDS = ("person_name", "event_title", "starts_at", "event_url")
STATE_FIELDS = ("person_name", "event_title", "event_url")
APPLICATION_FIELDS = ("person_name", "event_title", "ticket_type", "reason", "event_url")


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
    group: str = ""
    # Placeholders only the recipient may read: hidden in the staff copy.
    secrets: tuple[str, ...] = ()
    # (label, placeholder): a button to the placeholder's address in the HTML part.
    action: tuple[str, str] | None = None

    @property
    def where(self) -> tuple[str, ...]:
        return self.path or ("mail_templates", self.key)


def _reminder(key: str, label: str, subject: str, session: bool = False) -> Kind:
    fields = (*EVENT_FIELDS, "session_title") if session else EVENT_FIELDS
    return Kind(f"reminder_{key}", label, fields, subject, REMINDER_SESSION_BODY if session else REMINDER_EVENT_BODY,
                path=("reminders", key, "texts"), group=REMINDERS)


def _state(state: str, label: str, subject: str, body: str, **more: Any) -> Kind:
    return Kind(f"registration_{state}", label, more.pop("placeholders", STATE_FIELDS), subject, body,
                group=REGISTRATION, **more)


KINDS: dict[str, Kind] = {k.key: k for k in (
    Kind("signin", N_("Sign-in link, login and password"),
         ("person_name", "event_title", "signin_link", "link_valid_for", "signin_url", "login", "password"),
         N_("Your access to {event_title}"),
         N_("Hello, {person_name}!\n\nYou are registered for {event_title}. Open this link to sign in and go "
            "straight to the event:\n{signin_link}\n\nThe link works once, within {link_valid_for}.\n\n"
            "On another device, sign in at {signin_url} with:\nLogin: {login}\nPassword: {password}\n\n"
            "One account can watch from one device at a time: signing in on a new device ends the viewing on the "
            "previous one.\n\nPlease do not share this email: the link and the sign-in details give access to "
            "your account."),
         group=SIGNIN, secrets=("signin_link", "login", "password"),
         action=(N_("Sign in to the event"), "signin_link")),
    Kind("registration_confirm", N_("Address confirmation"),
         ("person_name", "event_title", "confirm_url", "link_valid_for"),
         N_("Confirm your registration for {event_title}"),
         N_("Hello, {person_name}!\n\nSomeone, probably you, registered this address for {event_title}. "
            "Open this link to confirm your address; your registration counts from then on:\n{confirm_url}\n\n"
            "The link works once, within {link_valid_for}, and signs you in.\n\n"
            "If it was not you, ignore this email: nothing happens without the link."),
         group=REGISTRATION, secrets=("confirm_url",), action=(N_("Confirm my registration"), "confirm_url")),
    _state("registered", N_("Registration complete"), N_("You are registered for {event_title}"),
           N_("Hello, {person_name}!\n\nYou are registered for {event_title}.\n\nYour registration: {event_url}")),
    _state("waiting", N_("On the waiting list"), N_("You are on the waiting list for {event_title}"),
           N_("Hello, {person_name}!\n\n{event_title} is full, so you are on the waiting list. When a place frees "
              "up, it is offered to the people waiting in the order they registered, and we write to you.\n\n"
              "Your registration: {event_url}")),
    _state("offered", N_("A place offered from the waiting list"), N_("A place for you at {event_title}"),
           N_("Hello, {person_name}!\n\nA place at {event_title} has freed up and is offered to you until "
              "{deadline}. After that it passes to the next person waiting.\n\nAccept it here: {event_url}"),
           placeholders=(*STATE_FIELDS, "deadline"), action=(N_("Accept the place"), "event_url")),
    _state("rejected", N_("Registration declined"), N_("Your registration for {event_title} was declined"),
           N_("Hello, {person_name}!\n\nThe organisers of {event_title} have declined your registration.\n\n"
              "Your registration: {event_url}")),
    _state("cancelled", N_("Registration cancelled by the organisers"),
           N_("Your registration for {event_title} was cancelled"),
           N_("Hello, {person_name}!\n\nThe organisers of {event_title} have cancelled your registration.\n\n"
              "Your registration: {event_url}")),
    Kind("session_seat_offered", N_("A seat in a session offered from its waiting list"),
         ("person_name", "event_title", "session_title", "deadline", "event_url"),
         N_("A seat for you at {session_title}"),
         N_("Hello, {person_name}!\n\nA seat at {session_title} ({event_title}) has freed up and is offered to you "
            "until {deadline}. After that it passes to the next person waiting.\n\nAccept it here: {event_url}"),
         group=REGISTRATION, action=(N_("Accept the seat"), "event_url")),
    Kind("order_receipt", N_("Receipt of a paid order"),
         ("person_name", "event_title", "code", "lines", "total", "holders_note", "order_url"),
         N_("Your order {code} for {event_title}"),
         N_("Hello, {person_name}!\n\nThank you for your order {code} for {event_title}: it is paid.\n\n"
            "{lines}\nTotal: {total}\n\n{holders_note}\n\nYour order, its tickets and their holders: {order_url}"),
         group=TICKETS, action=(N_("See your order"), "order_url")),
    Kind("invitation", N_("Invitation"), ("person_name", "event_title", "invitation_url"),
         N_("You are invited: {event_title}"),
         N_("Hello, {person_name}!\n\nYou are invited to {event_title}.\n\n"
            "See the event and register: {invitation_url}"),
         group=INVITATIONS, secrets=("invitation_url",), action=(N_("See the event and register"), "invitation_url")),
    _reminder("event_1d", N_("One day before the event"), N_("Tomorrow: {event_title}")),
    _reminder("event_1h", N_("One hour before the event"), N_("In one hour: {event_title}")),
    _reminder("event_5m", N_("Five minutes before the event"), N_("Starting in five minutes: {event_title}")),
    _reminder("session", N_("Fifteen minutes before each session in a person's programme"),
              N_("Soon in your programme: {session_title}"), session=True),
    Kind("data_request", N_("Data request without a text of its own"),
         ("person_name", "event_title", "request_title", "answer_url"),
         N_("{request_title} ({event_title})"),
         N_("Hello, {person_name}!\n\nThe organisers of {event_title} ask you for a few more answers: "
            "{request_title}.\n\nAnswer here (sign in to the site if asked): {answer_url}"),
         group=REQUESTS, action=(N_("Answer the request"), "answer_url")),
    Kind("certificate", N_("Certificate issued"), ("person_name", "event_title", "download_url", "code", "verify_url"),
         N_("Your certificate for {event_title}"),
         N_("Hello, {person_name}!\n\nThank you for attending {event_title}. Your certificate is ready.\n\n"
            "Download it (sign in first): {download_url}\n\nAnyone can check it with the code {code}: {verify_url}"),
         group=CERTIFICATES, action=(N_("Download the certificate"), "download_url")),
    # {reason}: the staff's note on an approval (often empty), their reason for a rejection.
    Kind("application_approved", N_("Application approved"), APPLICATION_FIELDS,
         N_("Your application for {event_title} is approved"),
         N_("Hello, {person_name}!\n\nYour application for the ticket “{ticket_type}” to {event_title} is "
            "approved. Your ticket, with a link that signs you in, comes in a separate email.\n\n"
            "The event: {event_url}"),
         group=APPLICATIONS, action=(N_("Go to the event"), "event_url")),
    Kind("application_rejected", N_("Application declined"), APPLICATION_FIELDS,
         N_("Your application for {event_title}"),
         N_("Hello, {person_name}!\n\nThe organisers of {event_title} have declined your application for the "
            "ticket “{ticket_type}”.\n\nTheir reason: {reason}\n\nThe event: {event_url}"),
         group=APPLICATIONS),
)}


def grouped() -> list[tuple[str, list[Kind]]]:
    """The kinds under their groups' labels, in the order of `GROUPS` (the staff page's list)."""
    return [(label, [k for k in KINDS.values() if k.group == key]) for key, label in GROUPS.items()]


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
    """The text with each known field replaced; anything else is left as typed.

    An empty value takes the comma and blanks just before it along, so
    "Hello, {person_name}!" reads "Hello!" for someone whose name is unknown.
    """
    def one(m: re.Match) -> str:
        lead, name = m.group(1), m.group(2)
        if name not in values:
            return m.group(0)
        return lead + values[name] if values[name] else ""
    return FIELD_WITH_LEAD.sub(one, text)


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


def linked(paragraph: str) -> list[tuple[str, str]]:
    """A paragraph as (text, address) pieces: each web address found in it is a link in the HTML part."""
    pieces, at = [], 0
    for m in URL.finditer(paragraph):
        url = m.group(0).rstrip(".,;:!?)")
        if m.start() > at:
            pieces.append((paragraph[at:m.start()], ""))
        pieces.append((url, url))
        at = m.start() + len(url)
    if at < len(paragraph):
        pieces.append((paragraph[at:], ""))
    return pieces


def hidden(i18n, locale: str) -> str:
    """What a staff copy shows instead of a secret."""
    return "[%s]" % i18n.gettext(locale)(HIDDEN)


def link_valid_for(i18n, locale: str, hours: int) -> str:
    """The {link_valid_for} value: "72 hours" in the recipient's language."""
    return i18n.translations(locale).ngettext("%(num)s hour", "%(num)s hours", hours) % {"num": hours}


def render(i18n, event: Mapping[str, Any], kind: Kind, locale: str, values: Mapping[str, str], *,
           action: tuple[str, str] | None = None, footer: Sequence[tuple[str, str]] = (),
           site_url: str = "", pixel_url: str = "", staff: bool = False) -> tuple[str, str, str]:
    """(subject, text, html) of one mail: the organiser's or default texts filled with `values`.

    `action` (label, url) becomes a button in the HTML and a line in the
    text; without one, the kind's own action is used, whose line the text
    gets only when it does not show the address already.  `footer` lines
    (text, url or "") close both parts; `pixel_url` is an image the HTML
    part loads (an invitation's open tracking).  `staff`: the copy staff may
    read, every secret placeholder replaced by the hidden marker.
    """
    gettext = i18n.gettext(locale)
    if staff:
        values = {**values, **{name: hidden(i18n, locale) for name in kind.secrets}}
    subject_t, body_t = texts_for(event, kind, locale, gettext)
    subject = " ".join(fill(subject_t, values).split())
    body = fill(body_t, values)
    text = "\n\n".join(paragraphs(body))
    button: dict[str, Any] | None = None
    if action:
        text += f"\n\n{action[0]}: {action[1]}"
        button = {"label": action[0], "url": action[1], "link": True}
    elif kind.action and values.get(kind.action[1]):
        label, url = gettext(kind.action[0]), values[kind.action[1]]
        if url not in text:
            text += f"\n\n{label}: {url}"
        button = {"label": label, "url": url, "link": not (staff and kind.action[1] in kind.secrets)}
    parts = paragraphs(body)
    if button and not button["link"] and button["url"] in body:
        button = None  # the staff copy's text says "hidden" there already
    if button:
        # The button stands under the paragraph that gives its address, else after the text.
        button["after"] = next((n for n, p in enumerate(parts) if button["url"] in p), len(parts) - 1)
    lines = [f"{words}: {url}" if url else words for words, url in footer]
    text += "\n\n-- \n" + "\n".join([*lines, "Livehall" + (f" · {site_url}" if site_url else "")]) + "\n"
    html = i18n.env(locale).get_template("email/layout.html").render(
        locale_code=locale, direction=direction(locale), subject=subject,
        paragraphs=[linked(p) for p in parts], action=button, footer=footer, site_url=site_url,
        pixel_url=pixel_url)
    return subject, text, inline(html)


def inline(html: str) -> str:
    """The HTML with its stylesheet moved into style attributes (kept in <head> for clients that read it)."""
    return css_inline.inline(html, keep_style_tags=False)


def sample(i18n, kind: Kind, locale: str) -> dict[str, str]:
    """The sample recipient's values in `locale`."""
    return {**kind.sample, "link_valid_for": link_valid_for(i18n, locale, SAMPLE_HOURS)}


def preview(i18n, event: Mapping[str, Any], kind: Kind, locale: str, site_url: str = "") -> dict[str, str]:
    """The mail as the sample recipient would get it (sample values only: nothing of a real person)."""
    subject, text, html = render(i18n, event, kind, locale, sample(i18n, kind, locale), footer=(),
                                 site_url=site_url)
    return {"kind": kind.key, "locale": locale, "subject": subject, "text": text, "html": html}
