"""Page arithmetic for long lists (attendees, outbox, audit log)."""
from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Page:
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def skip(self) -> int:
        return (self.number - 1) * self.per_page

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def parse_page(raw: str | None) -> int:
    try:
        n = int(raw or 1)
    except ValueError:
        return 1
    return n if 1 <= n <= 1_000_000 else 1
