"""The bundle of dependencies handed to every handler through `initialize()`.

Built once by `server.make_services`; tests build their own.  Nothing in the
platform reaches for a module-level client: it gets one from here.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import CollectorRegistry

from accounts.passwords import PasswordHasher
from accounts.shared_reads import AccountReads
from accounts.throttle import Throttle
from certificates.pdf_pool import PdfPool
from core.changes import StateChanges
from core.config import Settings
from core.i18n import I18n
from orders.availability import Availability
from payments.registry import Payments
from storage import Storage

if TYPE_CHECKING:
    # Types only: the live side and the mailer are built from this bundle.
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

    from core.metrics import Metrics
    from mailings.mailer import Mailer
    from realtime.broker import Broker
    from realtime.hub import Hub
    from realtime.live import Live

T = TypeVar("T")


@dataclasses.dataclass
class Services:
    settings: Settings
    storage: Storage
    i18n: I18n
    hasher: PasswordHasher
    notifier: StateChanges
    mailer: Mailer
    metrics: Metrics
    registry: CollectorRegistry
    payments: Payments
    redis: Redis | RedisCluster | None = None  # a cluster client when REDIS_URL names one
    broker: Broker | None = None
    hub: Hub | None = None
    live: Live | None = None
    background: set[asyncio.Task[Any]] = dataclasses.field(default_factory=set)
    # Certificate PDFs are drawn in worker processes, started on first use (`certificates.pdf_pool`).
    pdfs: PdfPool = dataclasses.field(default_factory=PdfPool)
    # One read of an event's ticket types and quotas shared by the buyers asking at once
    # (`orders.availability`), so a rush for the last tickets is refused at once.
    availability: Availability = dataclasses.field(default_factory=Availability)
    # Every request's session and account, read once per loop turn for all who ask in it
    # (`accounts.shared_reads`): a rush of requests costs the database a query per turn, not per request.
    account_reads: AccountReads = dataclasses.field(default_factory=AccountReads)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run work beyond a request; kept referenced until done, cancelled at shutdown."""
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    @property
    def db(self):
        return self.storage.db

    def account_throttle(self) -> Throttle:
        # Five wrong passwords for one account per quarter hour, then a pause.
        return Throttle(self.db, 5, datetime.timedelta(minutes=15), "account")

    def ip_throttle(self) -> Throttle:
        # Many accounts share an office NAT, so the per-IP limit is generous.
        return Throttle(self.db, 30, datetime.timedelta(minutes=15), "ip")
