"""Certificate PDFs drawn in worker processes, one per CPU.

A certificate costs WeasyPrint some 30 ms of CPU, nearly all of it Python
and Pango holding the interpreter's lock: in the server's own process ten
thousand of them would take one core for minutes and delay every page and
socket it serves meanwhile.  So PDFs are drawn by a pool of worker
processes (`PDF_WORKERS`, by default one per CPU the process may use),
started on first use (most processes never issue a certificate) with the
spawn method (a fork of a process holding threads and sockets may copy a
lock held by another thread).  Each worker imports WeasyPrint once and keeps
what one layout's certificates share (`certificates.render.prepared`).
A worker that dies breaks the pool: the next PDF starts a new one.  The
pool stops with the services (`close`).
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from certificates import render

log = logging.getLogger(__name__)


def cpus() -> int:
    """The CPUs this process may run on (a container or `taskset` may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class PdfPool:
    def __init__(self, workers: int = 0):
        self.workers = workers if workers > 0 else cpus()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=render.warm)
        return self._pool

    async def render(self, layout: str, values: dict[str, str], locale: str) -> bytes:
        """The PDF (`certificates.render.pdf`), drawn by a worker."""
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            return await loop.run_in_executor(pool, render.pdf, layout, values, locale)
        except BrokenProcessPool:
            log.error("a PDF worker died; starting the pool again")
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            return await loop.run_in_executor(self._executor(), render.pdf, layout, values, locale)

    @property
    def started(self) -> bool:
        return self._pool is not None

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
