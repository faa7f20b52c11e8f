"""Calls made during one turn of the event loop, carried out together.

When ten thousand viewers reconnect within seconds, each connection asks
Redis and the database the same small questions (claim my device record,
read this event).  One round trip per question costs more in client
overhead than in the answer: redis-py takes a pooled connection, packs,
sends and releases for every command.  A `TickBatch` collects what is
asked during one loop turn and does it all at the end of that turn in one
call, then hands every caller its own answer.

Freshness is not weakened: the shared call starts after every call it
answers was made, so no caller gets an answer older than its question.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from storage import redis_client


class TickBatch:
    """`await batch.submit(item)`; `run(items)` answers a whole turn's items, in order.

    `run` returns one result per item; a result that is an exception is
    raised to that item's caller only.  If `run` itself fails, every
    caller of that turn gets the error.
    """

    def __init__(self, run: Callable[[list], Awaitable[Sequence]], limit: int = 1000):
        self._run = run
        self.limit = limit
        self._items: list = []
        self._handle: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task] = set()

    async def submit(self, item):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._items.append((item, future))
        if len(self._items) >= self.limit:
            self._start()
        elif self._handle is None:
            self._handle = loop.call_soon(self._start)
        return await future

    def _start(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        items, self._items = self._items, []
        if not items:
            return
        task = asyncio.ensure_future(self._answer(items))
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, items: list) -> None:
        try:
            results = await self._run([item for item, _ in items])
        except Exception as exc:
            for _, future in items:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(items, results):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


def redis_pipeline(client, limit: int = 1000) -> TickBatch:
    """Redis commands sent as one pipeline per loop turn.

    An item is a function that stages its command on the pipeline it is
    given (`lambda pipe: pipe.get(key)`), so redis-py builds and parses it
    exactly as it would a single call.

    On a Redis Cluster redis-py splits the pipeline per master and puts the
    answers back in the order of the commands, so each caller still gets
    its own.  A master that is failing over answers its share with errors
    (connection lost, CLUSTERDOWN): those commands alone are sent again,
    with a growing pause, until the replica has taken over or the cluster
    client's failover wait is spent (`storage.redis_client`).
    """
    wait = redis_client.failover_wait(client)

    async def once(commands: list) -> list:
        async with client.pipeline(transaction=False) as pipe:
            for stage in commands:
                stage(pipe)
            return await pipe.execute(raise_on_error=False)

    async def run(commands: list) -> list:
        if not wait:
            return await once(commands)
        results: list = [None] * len(commands)
        todo = list(range(len(commands)))

        async def attempt() -> None:
            answers = await once([commands[i] for i in todo])
            for i, answer in zip(list(todo), answers):
                results[i] = answer
            todo[:] = [i for i in todo if isinstance(results[i], redis_client.TRANSIENT)]
            if todo:
                raise results[todo[0]]

        try:
            await redis_client.ride_out(attempt, wait)
        except redis_client.TRANSIENT as exc:
            for i in todo:
                results[i] = exc if results[i] is None else results[i]
        return results

    return TickBatch(run, limit)


def keyed_reads(read_many: Callable[[list], Awaitable[dict]], limit: int = 1000) -> TickBatch:
    """Reads by key: one `read_many(distinct keys) -> {key: value}` per loop turn."""

    async def run(keys: list) -> list:
        found = await read_many(list(dict.fromkeys(keys)))
        return [found.get(key) for key in keys]

    return TickBatch(run, limit)
