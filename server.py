"""Livehall: the one entry point.

    python server.py [serve] [--demo] [--port N] [--processes N]
    python server.py ensure-indexes
    python server.py shard-collections      (a sharded cluster: `mongo_indexes.sharding`)
    python server.py create-admin --email E [--name N] [--password P]
    python server.py seed-demo
    python server.py count-donations        (once after upgrading: `donations.totals.adopt`)

`serve` reads the configuration from the environment (see the README's table),
builds the services and the app with the factories below, and serves until
SIGTERM or SIGINT, on which it stops accepting connections, closes every
live socket with 1001 ("going away") and waits for them to go, closes the
remaining HTTP connections and every client, and exits 0.  With --processes N it
starts N server processes on consecutive ports (for nginx to balance) and
supervises them.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import tornado.httpserver
import tornado.web
from prometheus_client import CollectorRegistry

from accounts import erase
from accounts.passwords import PasswordHasher
from app import routes
from app.services import Services
from certificates import issuing
from certificates.pdf_pool import PdfPool
from core import config, logs
from core.changes import StateChanges
from core.gcpolicy import CollectorPolicy
from core.i18n import I18n
from core.metrics import Metrics
from donations import giving as donation_giving
from donations import pledges as donation_pledges
from handlers.base import NotFoundHandler, StaticFileHandler
from invitations import campaigns
from mailings import mailer, signin_mailing, space_mail
from mailings.mailer import Mailer
from mongo_indexes import ensure_indexes
from orders import actions as order_actions
from orders import applications as order_applications
from orders import payments as order_payments
from payments import reconcile as payments_reconcile
from payments.registry import Payments
from realtime import (
    chat_frames,
    device_frames,
    discussion_frames,
    donation_frames,
    keepalive,
    moderation_frames,
    presence,
    protocol,
    question_frames,
    reaction_frames,
    registration_frames,
    ticket_frames,
    timers,
    watch_frames,
)
from realtime.broker import Broker, InProcessBroker
from realtime.broker_cluster import ClusterBroker
from realtime.broker_redis import RedisBroker
from realtime.hub import Hub
from realtime.live import Live
from realtime.protocol import HARD_FRAME_BYTES
from registration import actions as registration_actions
from registration import bulk
from reminders import runner as reminders_runner
from storage import open_database
from storage import redis_client as redis_clients

ROOT = os.path.dirname(os.path.abspath(__file__))
log = logging.getLogger("livehall")
DRAIN_SECONDS = 10


REDIS_POOL_SIZE = 2000  # connections to Redis per process at most (Redis allows 10,000 clients)


async def make_services(settings: config.Settings, storage=None) -> Services:
    """Open every client the platform needs; `storage` lets tests share one database."""
    storage = storage or await open_database(settings)
    await ensure_indexes(storage.db)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    redis_client = None
    if settings.redis_url:
        # Ten thousand sockets opening at once each claim their device and
        # publish: hundreds of commands in flight.  redis-py's async pool fails
        # with "Too many connections" past its cap, and a small blocking pool
        # starves the opens, so the cap is set well above such a burst (on a
        # cluster, per master).
        redis_client = redis_clients.connect(settings.redis_url, socket_connect_timeout=2,
                                             health_check_interval=15, max_connections=REDIS_POOL_SIZE)
    i18n = I18n()
    missing = i18n.missing_catalogs()
    if missing:
        log.warning("compiled translations missing; run `make translations`",
                    extra={"locales": missing})
    services = Services(
        settings=settings, storage=storage, i18n=i18n,
        hasher=PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_kib),
        notifier=StateChanges(), mailer=Mailer(storage.db, settings, metrics,
                                                   fernet=space_mail.cipher(settings.mail_settings_key)),
        metrics=metrics, registry=registry, redis=redis_client, payments=Payments(settings),
        pdfs=PdfPool(settings.pdf_workers),
    )
    # What each purpose of a payment is told when money arrives, fails or goes back.
    order_payments.install(services.payments)
    donation_giving.install(services.payments)
    broker: Broker
    if isinstance(redis_client, redis_clients.FailoverCluster):
        broker = ClusterBroker(redis_client, settings.redis_shards)
    elif redis_client is not None:
        broker = RedisBroker(redis_client, settings.redis_shards)
    else:
        broker = InProcessBroker()
    services.broker = broker
    await broker.start()
    hub = services.hub = Hub(broker)
    live = services.live = Live(services, hub)
    chat_frames.install(live)
    device_frames.install(live)
    presence.install(live)
    question_frames.install(live)
    moderation_frames.install(live)
    discussion_frames.install(live)
    registration_frames.install(live)
    ticket_frames.install(live)
    donation_frames.install(live)
    keepalive.install(live)
    watch_frames.install(live)
    reaction_frames.install(live)
    live.start()
    return services


async def close_services(services: Services) -> None:
    if services.live is not None and services.live.watching is not None:
        # Watch time added up since the last write is not lost on a clean stop.
        try:
            await services.live.watching.flush()
        except Exception:
            log.exception("watch time not written at stop")
    for task in list(services.background):
        task.cancel()
    if services.background:
        await asyncio.gather(*services.background, return_exceptions=True)
    await services.payments.close()
    await services.pdfs.close()
    if services.broker is not None:
        await services.broker.close()
    if services.redis is not None:
        await services.redis.aclose()
    await services.mailer.close()
    await services.storage.close()


def make_app(services: Services) -> tornado.web.Application:
    s = services.settings
    return tornado.web.Application(
        routes.build(services),
        cookie_secret=s.cookie_secret,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"samesite": "Lax"},
        static_path=os.path.join(ROOT, "static"),
        static_url_prefix="/static/",
        static_handler_class=StaticFileHandler,
        default_handler_class=NotFoundHandler,
        default_handler_args={"services": services},
        login_url="/signin",
        log_function=logs.log_request,
        debug=False,
        services=services,
        websocket_max_message_size=HARD_FRAME_BYTES,
        # gzip for pages, styles, scripts and JSON (Tornado picks the text types and
        # skips small bodies); the live socket has its own permessage-deflate.
        compress_response=True,
    )


async def start_background(services: Services) -> None:
    """Resume work that outlives a request (sign-in and invitation mailings, bulk actions and account
    deletions interrupted by a restart) and start periodic work.

    The registration sweep (expired offers, recounted places, promotions)
    runs in every process; it claims each piece of work atomically, so
    several processes share it without doing anything twice.
    """
    await signin_mailing.resume_all(services)
    await campaigns.resume_all(services)
    await bulk.resume_all(services)
    await issuing.resume_all(services)
    live = services.live
    services.spawn(erase.resume_pending(services.db, live.account_erased if live is not None else None))
    # Queued mail (rate slots, retries, and what a stopped process held) goes out from every
    # process; each entry is claimed atomically, so none is sent twice.
    timers.start(services, timers.every(lambda: mailer.POLL_SECONDS, services.mailer.tick, "mail"), "mail")
    timers.start(services, timers.every(lambda: registration_actions.SWEEP_SECONDS,
                                        lambda: registration_actions.sweep(services), "registration"),
                 "registration")
    # Tickets: reservations and unpaid orders past their deadline give their tickets back; every
    # process sweeps, each reservation and order is claimed by a guarded transition (`orders.actions`).
    timers.start(services, timers.every(lambda: order_actions.SWEEP_SECONDS,
                                        lambda: order_actions.sweep(services), "orders"), "orders")
    # Approvals of applications for free tickets a stopped process left half done (`orders.applications`).
    timers.start(services, timers.every(lambda: order_applications.SWEEP_SECONDS,
                                        lambda: order_applications.sweep(services), "applications"), "applications")
    # Reminders: every process sweeps; each mail is claimed before it is written (`reminders.runner`).
    # Payments: callbacks a dead process left queued, and card payments whose notification never
    # came; each claimed atomically (`payments.reconcile`).
    timers.start(services, timers.every(lambda: payments_reconcile.SWEEP_SECONDS,
                                        lambda: payments_reconcile.sweep(services), "payments"), "payments")
    # Donations: wallet gifts a stopped process left debited but not confirmed (`donations.giving.sweep`).
    timers.start(services, timers.every(lambda: donation_giving.SWEEP_SECONDS,
                                        lambda: donation_giving.sweep(services), "donations"), "donations")
    # Monthly pledges: each due one charged once for its period (`donations.pledges`).
    timers.start(services, timers.every(lambda: donation_pledges.SWEEP_SECONDS,
                                        lambda: donation_pledges.sweep(services), "pledges"), "pledges")
    reminder_sweep = reminders_runner.Runner(services)
    timers.start(services, timers.every(lambda: reminders_runner.SWEEP_SECONDS, reminder_sweep.sweep, "reminders"),
                 "reminders")


LISTEN_BACKLOG = 4096


async def serve(settings: config.Settings, demo: bool) -> None:
    services = await make_services(settings)
    if services.storage.kind != "mongodb":
        print("Embedded store in use: data is not kept across restarts "
              "(set MONGODB_URI to use MongoDB).", flush=True)
    if demo:
        from app import demo as demo_mod
        summary = await demo_mod.seed(services)
        print(demo_mod.describe(summary, settings), flush=True)
    app = make_app(services)
    server = tornado.httpserver.HTTPServer(app, xheaders=settings.trust_proxy,
                                           max_body_size=64 * 1024 * 1024)
    # A reconnect storm (every viewer back after a network blip) opens
    # thousands of connections within a second; Tornado's default backlog
    # of 128 drops the rest of the SYNs, and each dropped one costs its
    # client a 1 s retransmission.  The kernel caps this at somaxconn.
    server.listen(settings.port, settings.host, backlog=LISTEN_BACKLOG)
    await start_background(services)
    log.info("listening", extra={"url": settings.public_url, "port": settings.port,
                                 "store": services.storage.kind})
    print(f"Livehall is serving on http://{settings.host}:{settings.port}", flush=True)
    # Everything built so far lives as long as the process: move it out of
    # the collector's generations so that full collections, which otherwise
    # walk every object at each run, only walk what came later.
    gc.collect()
    gc.freeze()
    CollectorPolicy(services.metrics).install(services.live)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("draining")
    server.stop()
    # Every live socket is told "going away" (1001) and given time to close:
    # its client reconnects to another process and resumes by offset.
    assert services.hub is not None  # make_services builds the live side
    closed = await services.hub.drain(protocol.CLOSE_GOING_AWAY, "server shutting down", DRAIN_SECONDS)
    log.info("live sockets closed", extra={"sockets": closed})
    try:
        await asyncio.wait_for(server.close_all_connections(), DRAIN_SECONDS)
    except TimeoutError:
        log.warning("connections still open after drain timeout")
    await close_services(services)
    log.info("stopped")


def supervise(settings: config.Settings, args) -> int:
    """Run N single-process servers on consecutive ports; restart any that dies; stop together.

    Without MONGODB_URI the processes need one shared database: the
    supervisor then starts the embedded store server first and points every
    process at it.
    """
    env = dict(os.environ, COOKIE_SECRET=settings.cookie_secret, PROCESSES="1")
    helpers = []
    if settings.embedded_store and not settings.embedded_store_address:
        port = _free_port()
        helpers.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "server.py"),
                                         "store-server", "--port", str(port)], env=env))
        _wait_for_port(port)
        env["EMBEDDED_STORE_ADDRESS"] = f"127.0.0.1:{port}"
    if getattr(args, "demo", False):
        subprocess.run([sys.executable, os.path.join(ROOT, "server.py"), "seed-demo"], env=env, check=True)

    def spawn(i):
        return subprocess.Popen([sys.executable, os.path.join(ROOT, "server.py"), "serve",
                                 "--port", str(settings.port + i)], env=env)

    children = [spawn(i) for i in range(args.processes)]
    stopping = False

    def forward(signum, _frame):
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes: list[int | None] = [None] * len(children)
    while not stopping:
        for i, child in enumerate(children):
            if child.poll() is not None and not stopping:
                log.error("server process exited; restarting",
                          extra={"port": settings.port + i, "code": child.returncode})
                time.sleep(1)
                if stopping:
                    break
                children[i] = spawn(i)
        time.sleep(0.2)
    # A child spawned while the signal was being forwarded missed it, and
    # waiting for it would hang: signal every child still running once more
    # (a second signal to one that is draining changes nothing).
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for i, child in enumerate(children):
        codes[i] = child.wait()
    for helper in helpers:
        helper.terminate()
        helper.wait(10)
    return max((c for c in codes if c is not None and c > 0), default=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


async def cmd_ensure_indexes(settings) -> int:
    services = await make_services(settings)
    try:
        from mongo_indexes import INDEXES
        print(f"indexes ensured on {services.storage.kind}: "
              f"{sum(len(v) for v in INDEXES.values())} in {len(INDEXES)} collections")
    finally:
        await close_services(services)
    return 0


async def cmd_shard_collections(settings) -> int:
    """Shard the collections `mongo_indexes.sharding` declares, on a sharded cluster (through a mongos)."""
    from mongo_indexes import sharding
    if not settings.mongodb_uri:
        print("error: set MONGODB_URI to a sharded cluster's mongos", file=sys.stderr)
        return 2
    storage = await open_database(settings)
    try:
        hello = await storage.db.command("hello")
        if hello.get("msg") != "isdbgrid":
            print("error: MONGODB_URI names no mongos: only a sharded cluster's collections are sharded",
                  file=sys.stderr)
            return 2
        # The declared unique indexes first: MongoDB checks them against each shard key.
        await ensure_indexes(storage.db)
        for line in await sharding.apply(storage.client, settings.mongodb_db):
            print(line)
    finally:
        await storage.close()
    return 0


async def cmd_count_donations(settings) -> int:
    """Count into the campaigns' counters the gifts confirmed before there were counters (idempotent)."""
    from donations import totals
    services = await make_services(settings)
    try:
        print(f"{await totals.adopt(services.db)} donations counted")
    finally:
        await close_services(services)
    return 0


async def cmd_create_admin(settings, args) -> int:
    from accounts import users
    services = await make_services(settings)
    try:
        email = users.normalize_email(args.email)
        if not email:
            print("error: not an email address", file=sys.stderr)
            return 2
        password = args.password or getpass.getpass("Password: ")
        if len(password) < 8:
            print("error: the password needs at least 8 characters", file=sys.stderr)
            return 2
        hashed = await services.hasher.hash(password)
        existing = await users.by_email(services.db, email)
        if existing:
            await services.db.users.update_one({"_id": existing["_id"]},
                                               {"$set": {"platform_admin": True, "password_hash": hashed}})
            print(f"{email} is now a platform admin (password updated)")
        else:
            await users.create(services.db, email=email, name=args.name or "", password_hash=hashed,
                               platform_admin=True, locale=settings.default_locale)
            print(f"platform admin {email} created")
        if services.storage.kind == "embedded":
            print("note: the embedded store keeps nothing after this command; set MONGODB_URI")
    finally:
        await close_services(services)
    return 0


async def cmd_seed_demo(settings) -> int:
    from app import demo as demo_mod
    services = await make_services(settings)
    try:
        summary = await demo_mod.seed(services)
        print(demo_mod.describe(summary, settings))
    finally:
        await close_services(services)
    return 0


def parse_args(argv):
    p = argparse.ArgumentParser(prog="server.py", description="Livehall event platform")
    sub = p.add_subparsers(dest="command")
    for name in ("serve", None):
        target = sub.add_parser("serve", help="serve HTTP (the default)") if name else p
        target.add_argument("--demo", action="store_true", help="seed the demo event at start")
        target.add_argument("--port", type=int, help="port (default: PORT or 8888)")
        target.add_argument("--processes", type=int, help="server processes on consecutive ports")
    sub.add_parser("ensure-indexes", help="create every declared MongoDB index")
    sub.add_parser("shard-collections", help="shard the declared collections on a sharded cluster (mongos)")
    ca = sub.add_parser("create-admin", help="create or promote a platform admin")
    ca.add_argument("--email", required=True)
    ca.add_argument("--name", default="")
    ca.add_argument("--password", help="asked for when omitted")
    sub.add_parser("seed-demo", help="seed the demo space, event and accounts")
    sub.add_parser("count-donations", help="count the donations confirmed before campaigns had counters")
    ss = sub.add_parser("store-server", help="serve the embedded store to local processes (no MongoDB)")
    ss.add_argument("--host", default="127.0.0.1")
    ss.add_argument("--port", type=int, default=27117)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    overrides = {}
    if getattr(args, "port", None):
        overrides["port"] = args.port
    if getattr(args, "processes", None):
        overrides["processes"] = args.processes
    settings = config.from_env(**overrides)
    logs.setup(settings.log_level, settings.log_format)
    command = args.command or "serve"
    if command == "ensure-indexes":
        return asyncio.run(cmd_ensure_indexes(settings))
    if command == "shard-collections":
        return asyncio.run(cmd_shard_collections(settings))
    if command == "create-admin":
        return asyncio.run(cmd_create_admin(settings, args))
    if command == "seed-demo":
        return asyncio.run(cmd_seed_demo(settings))
    if command == "count-donations":
        return asyncio.run(cmd_count_donations(settings))
    if command == "store-server":
        from storage.shared import run_store_server
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            asyncio.run(run_store_server(args.host, args.port))
        except (KeyboardInterrupt, SystemExit):
            pass
        return 0
    if settings.processes > 1:
        args.processes = settings.processes
        return supervise(settings, args)
    run_loop(serve(settings, getattr(args, "demo", False)), settings.event_loop)
    return 0


def run_loop(main_coro, kind: str) -> None:
    """uvloop when asked for and installed: cheaper socket writes for fan-out."""
    if kind not in ("uvloop", "asyncio"):
        raise SystemExit(f"EVENT_LOOP must be uvloop or asyncio, not {kind!r}")
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop is not installed; using asyncio's loop")
        else:
            uvloop.run(main_coro)
            return
    asyncio.run(main_coro)


if __name__ == "__main__":
    sys.exit(main())
