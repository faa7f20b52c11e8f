"""A space's own mail server: its settings, the password kept encrypted, and the test message.

Each space may name the SMTP server its events' mail goes through (host,
port, TLS mode, login, from-address and name) and a sending rate.  The
settings live in `space_mail`, one document per space (`_id` is the space's
id), apart from the space document so that no page reading a space ever
loads them.  The password is encrypted with Fernet under the key in
MAIL_SETTINGS_KEY; without that key nothing can be stored, and the password
is never shown again, only whether one is set.

`transport` answers, for an event's mail, which server and from-address to
use: the space's when it named a server, the platform's otherwise.
"""
from __future__ import annotations

import dataclasses
import email.utils
import re
from email.message import EmailMessage

import aiosmtplib
from cryptography.fernet import Fernet, InvalidToken

from access import audit
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_

TLS_MODES = ("none", "starttls", "tls")
MAX_RATE = 10000
TEST_TIMEOUT = 10.0  # seconds the test button waits for the server
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:.]+\]$")
_ADDRESS = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]{1,253}$")


class MailSettingsError(Refusal):
    """Settings that cannot be stored, or a test that could not be run."""


def cipher(key: str) -> Fernet | None:
    """The cipher for stored passwords, or None when no (usable) key is configured."""
    if not key:
        return None
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError):
        return None


@dataclasses.dataclass(frozen=True)
class Transport:
    """Where one message goes: a server, its login, the From header and the space's rate."""

    host: str
    port: int
    tls: str
    user: str
    password: str
    sender: str
    rate: int = 0                # messages per minute; 0 means no limit
    space_id: object = None      # None: the platform's server

    @property
    def enabled(self) -> bool:
        return bool(self.host)


def platform_transport(settings) -> Transport:
    return Transport(host=settings.smtp_host, port=settings.smtp_port, tls=settings.smtp_tls,
                     user=settings.smtp_user, password=settings.smtp_password, sender=settings.mail_from)


async def load(db, space_id) -> dict | None:
    return await db.space_mail.find_one({"_id": space_id})


def shown(doc: dict | None) -> dict:
    """What the settings page may show: everything but the password, which is only "set"."""
    doc = doc or {}
    return {"host": doc.get("host", ""), "port": doc.get("port", 587), "tls": doc.get("tls", "starttls"),
            "user": doc.get("user", ""), "from_address": doc.get("from_address", ""),
            "from_name": doc.get("from_name", ""), "rate": doc.get("rate", 0),
            "password_set": bool(doc.get("password"))}


def _parse(values: dict) -> dict:
    host = values.get("host", "").strip()
    if host and not _HOST.match(host):
        raise MailSettingsError(N_("The server name is not a host name or an address."))
    try:
        port = int(values.get("port", "") or 587)
    except ValueError:
        raise MailSettingsError(N_("The port must be a number from 1 to 65535.")) from None
    if not 1 <= port <= 65535:
        raise MailSettingsError(N_("The port must be a number from 1 to 65535."))
    tls = values.get("tls", "starttls")
    if tls not in TLS_MODES:
        raise MailSettingsError(N_("Choose how the connection is encrypted."))
    address = values.get("from_address", "").strip()
    if host and not _ADDRESS.match(address):
        raise MailSettingsError(N_("Give the address mail is sent from."))
    if address and not _ADDRESS.match(address):
        raise MailSettingsError(N_("Give the address mail is sent from."))
    name = " ".join(values.get("from_name", "").split())[:120]
    try:
        rate = int(values.get("rate", "") or 0)
    except ValueError:
        raise MailSettingsError(N_("The rate must be a number of messages per minute (0: no limit).")) from None
    if not 0 <= rate <= MAX_RATE:
        raise MailSettingsError(N_("The rate must be a number of messages per minute (0: no limit)."))
    return {"host": host, "port": port, "tls": tls, "user": values.get("user", "").strip()[:254],
            "from_address": address, "from_name": name, "rate": rate}


async def save(db, fernet: Fernet | None, actor, space: dict, values: dict) -> dict:
    """Store the space's settings; an empty password keeps the one stored, `clear_password` drops it."""
    if fernet is None:
        raise MailSettingsError(N_("Mail settings cannot be stored: the platform has no key to encrypt "
                                   "passwords (MAIL_SETTINGS_KEY)."))
    parsed = _parse(values)
    update: dict = {"$set": {**parsed, "updated_at": utcnow()}}
    password = values.get("password", "")
    if password:
        update["$set"]["password"] = fernet.encrypt(password.encode()).decode()
    elif values.get("clear_password"):
        update["$set"]["password"] = ""
    await db.space_mail.update_one({"_id": space["_id"]}, update, upsert=True)
    # The audit names what changed, never the password.
    await audit.record(db, actor=actor, action="space_mail_update", space_id=space["_id"],
                       after={**parsed, "password_changed": bool(password or values.get("clear_password"))})
    return shown(await load(db, space["_id"]))


def _sender(doc: dict) -> str:
    return email.utils.formataddr((doc.get("from_name", ""), doc["from_address"]))


async def own_transport(db, fernet: Fernet | None, space_id) -> Transport | None:
    """The space's own server, or None when it named none or its password cannot be read."""
    doc = await load(db, space_id)
    if not doc or not doc.get("host"):
        return None
    password = ""
    if doc.get("password"):
        if fernet is None:
            return None
        try:
            password = fernet.decrypt(doc["password"].encode()).decode()
        except InvalidToken:
            # Encrypted under another key: the space's server cannot be logged into.
            return None
    return Transport(host=doc["host"], port=doc["port"], tls=doc["tls"], user=doc.get("user", ""),
                     password=password, sender=_sender(doc), rate=int(doc.get("rate") or 0), space_id=space_id)


async def space_transport(db, fernet: Fernet | None, settings, space_id) -> Transport:
    """The space's server when it named one (and its password can be read), else the platform's.

    The space's rate holds either way: it is the space's pace, whichever server carries it.
    """
    if space_id is None:
        return platform_transport(settings)
    own = await own_transport(db, fernet, space_id)
    if own is not None:
        return own
    doc = await load(db, space_id)
    if not doc:
        return platform_transport(settings)
    return dataclasses.replace(platform_transport(settings), rate=int(doc.get("rate") or 0), space_id=space_id)


async def event_transport(db, fernet: Fernet | None, settings, event_id) -> Transport:
    """The transport for an event's mail: its space's server, or the platform's."""
    if event_id is None:
        return platform_transport(settings)
    event = await db.events.find_one({"_id": event_id}, {"space_id": 1})
    return await space_transport(db, fernet, settings, event["space_id"] if event else None)


@dataclasses.dataclass(frozen=True)
class TestResult:
    """The test's outcome: the server's answer (`code`, `text`), or `problem` when none came."""

    ok: bool
    code: int | None
    text: str
    problem: str = ""   # "timeout" | "connect" | "other" when the server gave no answer


async def send_test(transport: Transport, to: str, subject: str, body: str,
                    timeout: float | None = None) -> TestResult:
    """Send one message now and report the server's answer, or why no server answered."""
    if not transport.enabled:
        raise MailSettingsError(N_("This space has no mail server of its own."))
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = transport.sender, to, subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain="livehall")
    msg.set_content(body)
    try:
        refused, answer = await deliver(transport, msg, timeout=timeout or TEST_TIMEOUT)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        return TestResult(False, exc.recipients[0].code, exc.recipients[0].message)
    except aiosmtplib.SMTPResponseException as exc:
        return TestResult(False, exc.code, exc.message)
    except TimeoutError as exc:
        return TestResult(False, None, str(exc), "timeout")
    except ConnectionError as exc:
        return TestResult(False, None, str(exc), "connect")
    except (aiosmtplib.SMTPException, OSError) as exc:
        return TestResult(False, None, str(exc) or type(exc).__name__, "other")
    if refused:
        code, text = next(iter(refused.values()))
        return TestResult(False, code, text)
    return TestResult(True, 250, answer)


async def deliver(transport: Transport, msg: EmailMessage, timeout: float = 30):
    """Hand one message to the transport's server: (refused recipients, the server's answer)."""
    return await aiosmtplib.send(
        msg, hostname=transport.host, port=transport.port,
        username=transport.user or None, password=transport.password or None,
        use_tls=transport.tls == "tls", start_tls=transport.tls == "starttls",
        timeout=timeout,
    )
