"""User accounts: creation, lookup and password changes.

Emails are stored lower-cased and are unique across the installation; every
account also has a unique login, generated when not given, so an attendee can
sign in on a second device with the login and password from their email.
"""
from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, TypedDict

from bson import ObjectId
from email_validator import EmailNotValidError, validate_email
from pymongo.errors import DuplicateKeyError

from accounts.passwords import generate_login
from core.clock import utcnow
from core.text import strip_bidi

MAX_NAME_LENGTH = 120


class AccountDoc(TypedDict):
    """A stored account, as `create` writes it."""
    _id: ObjectId
    email: str  # normalised, unique
    name: str
    login: str  # unique
    locale: str
    password_hash: str | None  # None until a password is chosen or mailed
    platform_admin: bool
    created_at: datetime.datetime
    last_login_at: datetime.datetime | None


class DuplicateUser(Exception):
    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


def normalize_email(raw: str) -> str | None:
    """The canonical form of an email address, or None if it is not one."""
    raw = (raw or "").strip()
    if not raw or len(raw) > 254:
        return None
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def as_id(value: Any) -> ObjectId | None:
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(value)
    except Exception:
        return None


async def create(db, *, email: str, name: str = "", locale: str = "en",
                 password_hash: str | None = None, login: str | None = None,
                 platform_admin: bool = False) -> AccountDoc:
    user: AccountDoc = {
        "_id": ObjectId(), "email": email, "name": strip_bidi(name or "")[:MAX_NAME_LENGTH],
        "login": login or generate_login(), "locale": locale,
        "password_hash": password_hash, "platform_admin": platform_admin,
        "created_at": utcnow(), "last_login_at": None,
    }
    try:
        await db.users.insert_one(user)
    except DuplicateKeyError as exc:
        raise DuplicateUser("login" if "login" in str(exc) else "email") from None
    return user


async def by_id(db, user_id: object) -> AccountDoc | None:
    oid = as_id(user_id)
    return await db.users.find_one({"_id": oid}) if oid else None


async def find_by_ids(collection: Any, ids: Iterable[Any]) -> dict[Any, Any]:
    """Documents by id in one query: {id as given (string or ObjectId): document}."""
    wanted: dict[ObjectId, list[Any]] = {}
    for given in ids:
        oid = as_id(given)
        if oid is not None:
            wanted.setdefault(oid, []).append(given)
    found: dict[Any, Any] = {}
    if wanted:
        async for doc in collection.find({"_id": {"$in": list(wanted)}}):
            for given in wanted[doc["_id"]]:
                found[given] = doc
    return found


async def by_ids(db, user_ids: Iterable[Any]) -> dict[Any, AccountDoc]:
    return await find_by_ids(db.users, user_ids)


async def by_email(db, email: str) -> AccountDoc | None:
    norm = normalize_email(email)
    return await db.users.find_one({"email": norm}) if norm else None


async def by_login_or_email(db, identifier: str) -> AccountDoc | None:
    identifier = (identifier or "").strip()
    if not identifier or len(identifier) > 254:
        return None
    if "@" in identifier:
        return await by_email(db, identifier)
    return await db.users.find_one({"login": identifier.lower()})


async def set_password_hash(db, user_id, password_hash: str) -> None:
    await db.users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})


async def set_first_password_hash(db, user_id, password_hash: str) -> bool:
    """Set a password only on an account that has none; False when it had one.

    What a sign-in mailing uses: a password its owner chose (or one from an
    earlier mail) is never replaced by whoever sends a mailing.
    """
    result = await db.users.update_one({"_id": user_id, "password_hash": None},
                                       {"$set": {"password_hash": password_hash}})
    return result.modified_count == 1


async def mark_signed_in(db, user_id) -> None:
    await db.users.update_one({"_id": user_id}, {"$set": {"last_login_at": utcnow()}})


async def set_locale(db, user_id, locale: str) -> None:
    await db.users.update_one({"_id": user_id}, {"$set": {"locale": locale}})
