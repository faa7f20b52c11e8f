"""Password hashing (argon2 through the passlib API) and generated credentials.

Hashing costs tens of milliseconds of CPU by design, so it runs in a worker
thread and never blocks the event loop.  The cost is configurable so tests and
bulk imports on small machines stay fast; production keeps the defaults.
"""
from __future__ import annotations

import asyncio
import secrets

from passlib.hash import argon2

# No 0/O, 1/l/I: people type these from an email on another device.
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_LOGIN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


class PasswordHasher:
    def __init__(self, time_cost: int = 3, memory_kib: int = 65536):
        self._hasher = argon2.using(rounds=time_cost, memory_cost=memory_kib)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password: str, hashed: str | None) -> bool:
        if not hashed or not password or len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            return await asyncio.to_thread(self._hasher.verify, password, hashed)
        except (ValueError, TypeError):
            return False


def generate_password(length: int = 10) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def generate_login(prefix: str = "") -> str:
    suffix = "".join(secrets.choice(_LOGIN_ALPHABET) for _ in range(7))
    return f"{prefix}{suffix}" if prefix else suffix
