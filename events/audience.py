"""Who is in the audience of an event right now: the viewer rule and live counts.

Viewers are accounts whose role in the event is attendee and nothing more
(`access.rules.is_viewer`).  Staff (admins, managers, moderators,
commentators, speakers) are not counted, so the number an organiser sees is
the audience, not the crew, and they are not held to one device at a time:
a moderator may keep the console open on a laptop and watch on a phone.

Each server process knows only its own connections.  It publishes its
numbers here under its own process id and refreshes them at least every
heartbeat; `counts` sums the entries of every live process.  An entry not
refreshed for `ttl` seconds (a crashed or frozen process) no longer counts
and is removed by the next reader.  In Redis the ages are measured with the
Redis server's clock, so clocks of different machines never matter.  Without
Redis there is one process and the entries stay in its memory.
"""
from __future__ import annotations

import json
import math
import time

from accounts.users import as_id
from events import model
from events.model import EventDoc

TTL = 30  # seconds without a refresh before a process's numbers stop counting

# Entries are "<server time> <json>": stamped with the Redis clock, and the
# whole hash expires when no process has written for a TTL.
_PUT = """
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], t[1] .. '.' .. string.format('%06d', t[2]) .. ' ' .. ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
_READ = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local all = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #all, 2 do
  local at = tonumber(string.match(all[i + 1], '^([%d.]+) '))
  if at and now - at < tonumber(ARGV[1]) then
    table.insert(live, all[i])
    table.insert(live, all[i + 1])
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return live
"""


def key(event_id) -> str:
    return f"presence:{{{event_id}}}"


def local_counts(viewers) -> dict:
    """One process's numbers from (user_id, locale) pairs: each account once, in its locale."""
    locale_of: dict[str, str] = {}
    for user_id, locale in viewers:
        locale_of.setdefault(user_id, locale)
    locales: dict[str, int] = {}
    for locale in locale_of.values():
        locales[locale] = locales.get(locale, 0) + 1
    return {"locales": locales}


def summarize(entries, event: EventDoc | None) -> dict:
    """{"total", "locales", "days"} from every process's entry.

    `locales` has every language of the event (0 when nobody watches in it).
    Everybody watching now watches the event's current day (the last day
    switched on, as the event page shows it), so `days` maps that day's id
    to the total, and is empty when no day is on.
    """
    locales = {loc: 0 for loc in (event.get("locales", []) if event else [])}
    for entry in entries:
        for locale, n in (entry.get("locales") or {}).items():
            locales[locale] = locales.get(locale, 0) + int(n)
    total = sum(locales.values())
    enabled = model.enabled_days(event) if event else []
    days = {enabled[-1]["id"]: total} if enabled else {}
    return {"total": total, "locales": locales, "days": days}


async def event_outline(db, event_id) -> EventDoc | None:
    """The parts of the event a presence round reads: languages and days (`summarize`), and
    whether the count is shown to attendees (`model.viewers_shown`)."""
    oid = as_id(event_id)
    return await db.events.find_one({"_id": oid}, {"locales": 1, "days": 1, "banner": 1}) if oid else None


class MemoryPresence:
    """Entries of the one process there is (no Redis)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._entries: dict[str, dict[str, tuple[float, dict]]] = {}

    async def put(self, event_id, process_id: str, counts: dict, ttl: float) -> None:
        self._entries.setdefault(str(event_id), {})[process_id] = (self._clock(), counts)

    async def forget(self, event_id, process_id: str) -> None:
        """The process's entry goes: it has no viewers of the event left, or it stops."""
        entries = self._entries.get(str(event_id))
        if entries is not None:
            entries.pop(process_id, None)
            if not entries:
                del self._entries[str(event_id)]

    async def read(self, event_id, ttl: float) -> dict[str, dict]:
        """process id -> counts, for the processes that refreshed within `ttl`."""
        entries = self._entries.get(str(event_id), {})
        now = self._clock()
        for process_id in [p for p, (at, _) in entries.items() if now - at >= ttl]:
            del entries[process_id]
        return {p: counts for p, (_, counts) in entries.items()}


class RedisPresence:
    """Entries of every process, in one hash per event: field = process id."""

    def __init__(self, client):
        self.client = client
        self._put = client.register_script(_PUT)
        self._read = client.register_script(_READ)

    async def put(self, event_id, process_id: str, counts: dict, ttl: float) -> None:
        await self._put(keys=[key(event_id)],
                        args=[process_id, json.dumps(counts, separators=(",", ":")), max(1, math.ceil(ttl))])

    async def forget(self, event_id, process_id: str) -> None:
        await self.client.hdel(key(event_id), process_id)

    async def read(self, event_id, ttl: float) -> dict[str, dict]:
        flat = await self._read(keys=[key(event_id)], args=[ttl])
        out = {}
        for i in range(0, len(flat), 2):
            field, value = flat[i], flat[i + 1]
            field = field.decode() if isinstance(field, bytes) else field
            value = value.decode() if isinstance(value, bytes) else value
            try:
                out[field] = json.loads(value.split(" ", 1)[1])
            except (IndexError, ValueError):
                continue
        return out


def store(redis_client=None):
    """Redis-backed entries when a client is given, else this process's memory."""
    return RedisPresence(redis_client) if redis_client is not None else MemoryPresence()
