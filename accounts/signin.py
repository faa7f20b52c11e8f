"""Signing in: by password, by a mailed link, and by resetting a password.

Handlers call these functions and translate the exceptions they raise; the
messages are marked with `N_` and carry their placeholders separately.

Security decisions made here:
- password attempts are throttled per account and per IP, and a blocked key
  is refused *before* the password is checked, so guessing stops costing us
  hash time and the attacker learns nothing from a right guess;
- the account key is the account's email when the identifier names an
  account (login and email share one budget), otherwise the normalised
  identifier, so unknown and known accounts are throttled alike;
- a wrong password and an unknown account give the same answer and cost the
  same hashing time, so neither the message nor the timing tells which.
"""
from __future__ import annotations

import datetime
import math

from accounts import sessions, tokens, users
from accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from accounts.throttle import Throttle
from accounts.users import AccountDoc
from core.clock import utcnow
from core.errors import Refusal
from core.i18n import N_


class SigninError(Refusal):
    """A refused sign-in or password change; `message` is marked for translation."""


class BadCredentials(SigninError):
    def __init__(self):
        super().__init__(N_("The login, email or password is not right."))


class Throttled(SigninError):
    """Too many failures; `minutes` until the pause ends (at least 1)."""

    def __init__(self, minutes: int):
        super().__init__("throttled", minutes=minutes)
        self.minutes = minutes


class PasswordProblem(SigninError):
    pass


class TokenRefused(SigninError):
    """A link that cannot be used; `state` is 'unknown', 'used' or 'expired'."""

    def __init__(self, state: str):
        super().__init__(state)
        self.state = state


def normalize_identifier(raw: str) -> str:
    raw = (raw or "").strip()
    if "@" in raw:
        return users.normalize_email(raw) or raw.lower()
    return raw.lower()


def account_key(identifier: str, user: AccountDoc | None) -> str:
    return user["email"] if user else normalize_identifier(identifier)


async def minutes_blocked(throttle: Throttle, key: str) -> int:
    """Minutes until `key` may try again, or 0 when it is not blocked."""
    if not await throttle.blocked(key):
        return 0
    doc = await throttle.db.throttle.find_one({"_id": throttle._id(key)})
    if not doc:
        return 0
    left = (doc["expires_at"] - utcnow()).total_seconds()
    return max(1, math.ceil(left / 60))


async def check_throttles(checks: list[tuple[Throttle, str]]) -> None:
    """Raise Throttled when any (throttle, key) is blocked."""
    minutes = 0
    for throttle, key in checks:
        minutes = max(minutes, await minutes_blocked(throttle, key))
    if minutes:
        raise Throttled(minutes)


async def by_password(db, hasher, account_throttle: Throttle, ip_throttle: Throttle,
                      identifier: str, password: str, ip: str) -> AccountDoc:
    """The user whose login or email and password match, or BadCredentials/Throttled."""
    if not identifier or not password:
        raise SigninError(N_("Enter your login or email and your password."))
    user = await users.by_login_or_email(db, identifier)
    key = account_key(identifier, user)
    await check_throttles([(ip_throttle, ip), (account_throttle, key)])
    if user:
        ok = await hasher.verify(password, user.get("password_hash"))
    else:
        # Spend the same hashing time as a real check: timing must not tell
        # an unknown account from a wrong password.
        await hasher.hash(password[:MAX_PASSWORD_LENGTH])
        ok = False
    if not ok or user is None:  # no account: ok is False already
        await account_throttle.fail(key)
        await ip_throttle.fail(ip)
        raise BadCredentials()
    await account_throttle.clear(key)
    return user


def check_new_password(new: str, confirm: str) -> None:
    """Raise PasswordProblem unless `new` is acceptable and typed twice the same."""
    if len(new) < MIN_PASSWORD_LENGTH:
        raise PasswordProblem(N_("The new password needs at least %(count)s characters."),
                              count=MIN_PASSWORD_LENGTH)
    if len(new) > MAX_PASSWORD_LENGTH:
        raise PasswordProblem(N_("The new password is too long."))
    if new != confirm:
        raise PasswordProblem(N_("The two new passwords do not match."))


async def change_password(db, hasher, account_throttle: Throttle, user: AccountDoc, current: str,
                          new: str, confirm: str, keep_session: str | None) -> int:
    """Verify the current password, set the new one and sign out other devices.

    Wrong current passwords count against the account like sign-in failures:
    a stolen session must not become a way to guess the password.
    Returns how many other sessions were ended.
    """
    key = user["email"]
    await check_throttles([(account_throttle, key)])
    if not await hasher.verify(current, user.get("password_hash")):
        await account_throttle.fail(key)
        raise PasswordProblem(N_("The current password is not right."))
    check_new_password(new, confirm)
    await users.set_password_hash(db, user["_id"], await hasher.hash(new))
    return await sessions.revoke_others(db, user["_id"], keep_raw=keep_session)


async def link_user(db, raw: str, purpose: str) -> tuple[dict, AccountDoc]:
    """(token, user) for a usable link, without consuming it; else TokenRefused."""
    token = await tokens.peek(db, raw, purpose)
    user = await users.by_id(db, token["user_id"]) if token else None
    if not token or not user:
        raise TokenRefused(await tokens.state(db, raw, purpose) if not token else "unknown")
    return token, user


async def consume_link(db, raw: str, purpose: str) -> tuple[dict, AccountDoc]:
    """Use a link once (atomically) and return (token, user); else TokenRefused."""
    token = await tokens.consume(db, raw, purpose)
    if not token:
        raise TokenRefused(await tokens.state(db, raw, purpose))
    user = await users.by_id(db, token["user_id"])
    if not user:
        raise TokenRefused("unknown")
    return token, user


async def start_reset(db, account_throttle: Throttle, email: str,
                      ttl: datetime.timedelta) -> tuple[AccountDoc, str] | None:
    """(user, raw token) for a reset mail, or None when no mail should go out.

    None covers both an unknown address and an address that already got
    several mails this quarter hour; the caller answers the same either way.
    """
    user = await users.by_email(db, email)
    if not user:
        return None
    key = "reset:" + user["email"]
    if await account_throttle.blocked(key):
        return None
    await account_throttle.fail(key)
    raw = await tokens.issue(db, user["_id"], tokens.RESET, ttl)
    return user, raw


async def finish_reset(db, hasher, account_throttle: Throttle, raw: str,
                       new: str, confirm: str) -> AccountDoc:
    """Set a new password through a reset link; every session of the user ends.

    The password is checked before the link is used, so a typo does not
    burn the link.  Returns the user.
    """
    check_new_password(new, confirm)
    _, user = await consume_link(db, raw, tokens.RESET)
    await users.set_password_hash(db, user["_id"], await hasher.hash(new))
    await sessions.revoke_others(db, user["_id"])
    # Proving control of the mailbox lifts a pause caused by wrong guesses.
    await account_throttle.clear(user["email"])
    return user
