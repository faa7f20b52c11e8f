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

import asyncio
import time
from collections.abc import Iterable

from storage import batching, redis_client

TTL = 600  # seconds

# For each record (KEYS[i], its session ARGV[i + 1]; ARGV[1] the TTL): extend
# its life while it still names the same session, and claim it again when it
# is gone (Redis restarted with no data): 1.  A record naming another session
# is left alone: 0, the caller has been taken over.  One call carries records
# of one event only: they share the event's hash tag, so on a Redis Cluster
# they sit in one slot, which is what lets one script touch them all.
_REFRESH = """
local answers = {}
for i, key in ipairs(KEYS) do
  local session = ARGV[i + 1]
  local current = redis.call('GET', key)
  if current == session then
    redis.call('EXPIRE', key, ARGV[1])
    answers[i] = 1
  elseif not current then
    redis.call('SET', key, session, 'EX', ARGV[1])
    answers[i] = 1
  else
    answers[i] = 0
  end
end
return answers
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

    BATCH = 500   # records per script call
    CALLS = 50    # script calls per round trip (a pipeline, or concurrent calls on a cluster)

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
        # One script call per event and BATCH records (a cluster slot each).
        calls: list[list[tuple[str, str, str]]] = []
        by_event: dict[str, list[tuple[str, str, str]]] = {}
        for event_id, user_id, session in watching:
            by_event.setdefault(str(event_id), []).append((str(event_id), str(user_id), session))
        for items in by_event.values():
            calls.extend(items[start:start + self.BATCH] for start in range(0, len(items), self.BATCH))
        lost: set[tuple[str, str]] = set()
        for start in range(0, len(calls), self.CALLS):
            group = calls[start:start + self.CALLS]
            for batch, answers in zip(group, await self._run(group)):
                lost.update((e, u) for (e, u, _), ok in zip(batch, answers) if not ok)
        return lost

    async def _run(self, group: list[list[tuple[str, str, str]]]) -> list[list[int]]:
        def staged(batch, client=None):
            return self._refresh(keys=[key(e, u) for e, u, _ in batch],
                                 args=[self.ttl, *(s for _, _, s in batch)], client=client)

        if redis_client.is_cluster(self.client):
            # A cluster pipeline refuses scripts; the calls go side by side instead.
            return list(await asyncio.gather(*(staged(batch) for batch in group)))
        async with self.client.pipeline(transaction=False) as pipe:
            for batch in group:
                await staged(batch, pipe)
            return await pipe.execute()


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def store(redis_client=None, ttl: int = TTL):
    """Redis-backed records when a client is given, else this process's memory."""
    return RedisDevices(redis_client, ttl) if redis_client is not None else MemoryDevices(ttl)
