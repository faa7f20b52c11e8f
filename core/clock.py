"""The platform's one clock: the current moment as an aware UTC datetime."""
from __future__ import annotations

import datetime


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
