"""One device at a time: which browser session watches an event, per account.

A device is a browser session (the server-side session behind the cookie):
tabs of one browser share it and count as one device; another browser,
phone or computer signs in with its own session.  When a session connects to
an event it claims the record for (event, account); every other session's
connection of that account to that event is then taken over.

The record is the one source of truth.  Processes are told that a claim
happened and then read the record, so when two devices connect at the same
moment the last claim wins in every process, whatever order the notices
arrive in.

Records live in Redis when it is configured (shared by every process) and in
this process's memory otherwise, behind the same three calls.  A record
expires `TTL` seconds after its last refresh; the live side refreshes the
records of the sessions it is serving (which also tells it about takeovers
whose notice it missed), and a connection finding no record simply claims it.
"""
from __future__ import annotations

import time
from collections.abc import Iterable

from storage import batching

TTL = 600  # seconds

# Extend a record's life while it still names the same session, and claim
# it again when it is gone (Redis restarted with no data): 1.  A record
# naming another session is left alone: 0, the caller has been taken over.
_REFRESH = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""


def key(event_id, user_id) -> str:
    # The event's hash tag keeps one event's keys in one Redis Cluster slot.
    return f"device:{{{event_id}}}:{user_id}"


class MemoryDevices:
    """The records of one process (no Redis: there is no other process)."""

    def __init__(self, ttl: float = TTL, clock=time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._records: dict[tuple[str, str], tuple[str, float]] = {}

    async def claim(self, event_id, user_id, session: str) -> str | None:
        """Make `session` the current one; returns the session that was current before."""
        previous = await self.current(event_id, user_id)
        self._records[(str(event_id), str(user_id))] = (session, self._clock() + self.ttl)
        return previous

    async def current(self, event_id, user_id) -> str | None:
        k = (str(event_id), str(user_id))
        record = self._records.get(k)
        if record is None:
            return None
        if record[1] <= self._clock():
            del self._records[k]
            return None
        return record[0]

    async def refresh(self, watching: Iterable[tuple[str, str, str]]) -> set[tuple[str, str]]:
        """Keep the records of the (event_id, user_id, session) being served alive.

        A missing record is claimed again.  Returns the (event_id, user_id)
        pairs whose record names another session: those were taken over
        (a notice that never arrived), and their connections must go.
        """
        now = self._clock()
        for k in [k for k, (_, until) in self._records.items() if until <= now]:
            del self._records[k]
        lost: set[tuple[str, str]] = set()
        for event_id, user_id, session in watching:
            k = (str(event_id), str(user_id))
            record = self._records.get(k)
            if record is None or record[0] == session:
                self._records[k] = (session, now + self.ttl)
            else:
                lost.add(k)
        return lost


class RedisDevices:
    """The records shared by every process: one string key per (event, account)."""

    BATCH = 500

    def __init__(self, client, ttl: int = TTL):
        self.client = client
        self.ttl = int(ttl)
        self._refresh = client.register_script(_REFRESH)
        # Claims and reads come in bursts (every viewer reconnecting at
        # once): one pipeline per loop turn instead of a round trip each.
        self._batch = batching.redis_pipeline(client)

    async def claim(self, event_id, user_id, session: str) -> str | None:
        k = key(event_id, user_id)
        return _text(await self._batch.submit(lambda pipe: pipe.set(k, session, ex=self.ttl, get=True)))

    async def current(self, event_id, user_id) -> str | None:
        k = key(event_id, user_id)
        return _text(await self._batch.submit(lambda pipe: pipe.get(k)))

    async def refresh(self, watching: Iterable[tuple[str, str, str]]) -> set[tuple[str, str]]:
        items = list(watching)
        lost: set[tuple[str, str]] = set()
        for start in range(0, len(items), self.BATCH):
            batch = items[start:start + self.BATCH]
            async with self.client.pipeline(transaction=False) as pipe:
                for event_id, user_id, session in batch:
                    await self._refresh(keys=[key(event_id, user_id)], args=[session, self.ttl], client=pipe)
                results = await pipe.execute()
            lost.update((str(e), str(u)) for (e, u, _), ok in zip(batch, results) if not ok)
        return lost


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def store(redis_client=None, ttl: int = TTL):
    """Redis-backed records when a client is given, else this process's memory."""
    return RedisDevices(redis_client, ttl) if redis_client is not None else MemoryDevices(ttl)
