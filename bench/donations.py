"""`make bench-donations`: gifts at a steady rate while thousands of open campaign pages watch the total climb.

    .venv/bin/python bench/donations.py [--pages 10000] [--rate 100] [--seconds 120] [--paths card,wallet] ...

Livehall runs as the other benchmarks run it (bench/targets.py: `server.py
--processes 2` on 127.0.0.1 with Redis and the shared embedded store), with
its card payments pointed at localstripe (a stand-in for Stripe's API that
sends signed notifications), run by `tests/localstripe_server.py --fast`:
without its pickle-the-whole-store on every write, a debugging aid of
localstripe that would make it the thing measured, without the second it
waits before sending each notification, which Stripe does not, and with
each kind of object kept apart so that listing a charge's refunds does not
scan every object ever made.
Before any server starts, the store is filled straight with the platform's
own functions: a space, one open campaign, and for the wallet path
`--donors` accounts with a session and a wallet topped up.  Then:

1. `--pages` campaign pages open `/ws?campaign=<id>` (spread over the two
   server processes, held by `--workers` generator processes), the first
   of them standing for the fundraising screen;
2. for each path in `--paths`, gifts start at `--rate` a second for
   `--seconds` seconds, whatever the answers take (an open loop, as donors
   arrive); `--concurrency` bounds the gifts in flight:
   - **card**: what a guest's browser does: POST the gift form (answered
     by a redirect to the payment page), GET the payment page (it carries
     the PaymentIntent's client secret), and confirm the payment at the
     provider (localstripe; the card `pm_card_visa`).  The provider then
     notifies the server by a signed webhook, which confirms the donation,
     counts it and pushes the totals.  "Confirmed" is when the provider
     answered the confirmation;
   - **wallet**: a signed-in donor's one click from their wallet (the POST
     answers once the gift is confirmed);
3. then every page must show the store's total within `--drain` seconds.

Latency is measured on every `--sample`-th page (and the screen): for each
gift confirmed at time t (by card: when the provider answered the
confirmation; from the wallet: when the donor clicked), the time until that
page first showed a total at least the sum of every gift confirmed up to t (the page has caught up with
it; totals are coalesced, a few frames a second, so a gift is seen in the
first frame after it was counted).  CPU is read from /proc for the server
processes, the store, Redis and localstripe over each phase.

Afterwards the store is checked: the campaign's counter equals the sum of
its confirmed donations, which equals the ledger (the payments ledger's
charges for card gifts, the wallets' applied gift entries), and the last
total every page received; as many donations confirmed as the generator saw
confirmed, none counted twice.  A run that fails a check says FAILED and
why.  The table (Markdown) goes to stdout, everything to
bench/results/donations-<timestamp>.json.
"""
from __future__ import annotations

import argparse
import array
import asyncio
import base64
import datetime
import multiprocessing
import os
import random
import re
import secrets
import signal
import sys
import time
import traceback
from urllib.parse import quote, urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

import loadgen  # noqa: E402
import prepare as P  # noqa: E402
import report  # noqa: E402
import targets as T  # noqa: E402
from harness import cpu, log, run_and_report, xsrf_value  # noqa: E402

now = time.monotonic
SPACE = "bench-donations"
SECRET_KEY, PUBLISHABLE_KEY, WEBHOOK_SECRET = "sk_test_bench", "pk_test_bench", "whsec_bench_donations"
CLIENT_SECRET = re.compile(rb'data-client-secret="((pi_\w+?)_secret_\w+)"')
RAISED = re.compile(rb'"raised":\s*(\d+)')
PATHS = ("card", "wallet")
# localstripe as the tests run it, and without its habits that would make it the thing measured
# (tests/localstripe_server.py --fast: no store pickled on every write, no second's wait before each
# notification, no scan of every object it holds to list a charge's refunds).
LOCALSTRIPE = os.path.join(ROOT, "tests", "localstripe_server.py")


# --- the pages: generator processes holding WebSocket clients -------------------------------------

class Page(loadgen.WSListener):
    """One open campaign page: counts its `donations` frames; a sample page keeps (arrival, total) of each."""

    def __init__(self, i: int, port: int, campaign: str, sample: bool):
        super().__init__()
        self.i, self.port, self.campaign, self.sample = i, port, campaign, sample
        self.frames = 0
        self.raised = -1
        self.times = array.array("d") if sample else None
        self.totals = array.array("q") if sample else None
        self.ready: asyncio.Future | None = None
        self.drops = 0
        self.transport = None

    def on_ws_connected(self, transport):
        self.transport = transport

    def on_ws_disconnected(self, transport):
        self.drops += 1
        if self.ready is not None and not self.ready.done():
            self.ready.set_result(False)

    def on_ws_frame(self, transport, frame):
        if frame.msg_type != loadgen.WSMsgType.TEXT:
            return
        t = now()
        m = RAISED.search(frame.get_payload_as_bytes())
        if m is None:
            return
        self.frames += 1
        self.raised = int(m.group(1))
        if self.sample:
            self.times.append(t)
            self.totals.append(self.raised)
        if self.ready is not None and not self.ready.done():
            self.ready.set_result(True)

    async def connect(self, timeout: float) -> bool:
        self.ready = asyncio.get_running_loop().create_future()
        url = f"ws://127.0.0.1:{self.port}/ws?campaign={self.campaign}"
        try:
            await asyncio.wait_for(loadgen.ws_connect(
                lambda: self, url, extra_headers=[("Origin", f"http://127.0.0.1:{self.port}")],
                websocket_handshake_timeout=timeout), timeout)
            return await asyncio.wait_for(self.ready, timeout)
        except Exception:
            return False


class PageWorker:
    def __init__(self, pipe):
        self.pipe = pipe
        self.pages: list[Page] = []

    async def run(self) -> None:
        await loadgen.serve_commands(self.pipe, self)

    async def cmd_connect(self, specs: list, campaign: str, concurrency: int, timeout: float) -> dict:
        self.pages = [Page(s["i"], s["port"], campaign, s["sample"]) for s in specs]
        sem = asyncio.Semaphore(concurrency)

        async def one(p):
            async with sem:
                return await p.connect(timeout)
        ok = await asyncio.gather(*(one(p) for p in self.pages))
        return {"ok": sum(ok), "wanted": len(self.pages)}

    async def cmd_state(self) -> dict:
        """Frames so far, and how many pages show each total (the drain waits for one total everywhere)."""
        shown: dict = {}
        for p in self.pages:
            shown[p.raised] = shown.get(p.raised, 0) + 1
        return {"frames": sum(p.frames for p in self.pages), "shown": shown,
                "drops": sum(p.drops for p in self.pages)}

    async def cmd_samples(self) -> dict:
        return {"samples": [{"i": p.i, "times": p.times.tobytes(), "totals": p.totals.tobytes()}
                            for p in self.pages if p.sample]}

    async def cmd_exit(self) -> dict:
        for p in self.pages:
            if p.transport is not None:
                p.transport.disconnect()
        await asyncio.sleep(0.2)
        return {"ok": True}


def page_worker(pipe, batch: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if batch:
        loadgen.batch_scheduling()
    loadgen.raise_nofile()
    import gc
    gc.set_threshold(50_000, 20, 20)
    try:
        import uvloop
        uvloop.run(PageWorker(pipe).run())
    except ImportError:
        asyncio.run(PageWorker(pipe).run())


class Pages:
    """The coordinator's side of the page workers."""

    def __init__(self, workers: int, batch: bool):
        ctx = multiprocessing.get_context("spawn")
        self.pipes, self.procs = [], []
        for _ in range(workers):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=page_worker, args=(theirs, batch), daemon=True)
            proc.start()
            self.pipes.append(mine)
            self.procs.append(proc)

    async def ask(self, command: str, per_worker: list[dict] | None = None, **args) -> list[dict]:
        for k, pipe in enumerate(self.pipes):
            pipe.send((command, {**args, **(per_worker[k] if per_worker else {})}))
        loop = asyncio.get_running_loop()
        answers = [await loop.run_in_executor(None, pipe.recv) for pipe in self.pipes]
        for a in answers:
            if "error" in a:
                raise RuntimeError(a["error"])
        return answers

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("exit", {}))
            except OSError:
                pass
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


# --- what is prepared ---------------------------------------------------------------------------

async def prepare_store(address: str, args, cookie_secret: str) -> dict:
    from tornado.web import create_signed_value

    from accounts import sessions, users
    from donations import campaigns, wallet
    from events import model
    from mongo_indexes import ensure_indexes
    from storage.shared import SharedClient
    clients = [SharedClient(address) for _ in range(P.PARALLEL)]
    db = clients[0][P.DB_NAME]
    try:
        await ensure_indexes(db)
        space = await model.create_space(db, slug=SPACE, name="Donations benchmark")
        admin = await users.create(db, email="organiser@bench.invalid", name="Organiser", locale="en",
                                   login="bench-organiser", platform_admin=True)
        raw = {**campaigns.blank_form(), "title": {"en": "Clean water"}, "story": {"en": "Wells for villages."},
               "category": "water", "state": campaigns.OPEN, "goal": "10000000", "currency": "EUR"}
        campaign = await campaigns.create(db, admin, space, await campaigns.clean(db, space, raw))
        ttl = datetime.timedelta(hours=6)
        donors = args.donors if "wallet" in args.paths else 0

        async def make(db, i):
            user = await users.create(db, email=f"donor{i}@bench.example.org", name=f"Donor {i}", locale="en",
                                      login=f"bench-donor-{i}")
            await wallet.credit(db, user["_id"], "EUR", 10 ** 9, key=f"bench-topup-{i}")
            raw = await sessions.create(db, user["_id"], ttl, "bench", "127.0.0.1")
            return create_signed_value(cookie_secret, sessions.COOKIE, raw).decode()

        cookies = await P._in_parallel(clients, list(range(donors)), make)
        return {"campaign": str(campaign["_id"]), "cookies": cookies, "session_cookie": sessions.COOKIE}
    finally:
        for client in clients:
            await client.close()


# --- one gift, as a donor's browser makes it -----------------------------------------------------

def location(headers) -> str:
    return next((v for k, v in headers if k.lower() == "location"), "")


async def give_by_card(port: int, stripe_port: int, campaign: str, i: int, amount: int) -> float:
    """Give as a guest by card; the time the provider confirmed the payment.  Raises on anything unexpected."""
    xsrf = xsrf_value()
    head = [("Cookie", f"_xsrf={xsrf}"), ("Content-Type", "application/x-www-form-urlencoded")]
    form = {"_xsrf": xsrf, "key": f"bench-{secrets.token_hex(8)}", "currency": "EUR", "amount": str(amount),
            "email": f"guest{i}@bench.example.org", "name": f"Guest {i}", "method": "card"}
    status, headers, body = await loadgen.http(port, "POST", f"/campaigns/{campaign}/give", head,
                                               urlencode(form, quote_via=quote).encode())
    where = location(headers)
    if status != 302 or not where.startswith("/pay/"):
        raise RuntimeError(f"give: HTTP {status} to {where or '-'}")
    status, _, page = await loadgen.http(port, "GET", where, [("Cookie", f"_xsrf={xsrf}")])
    found = CLIENT_SECRET.search(page)
    if status != 200 or found is None:
        raise RuntimeError(f"payment page: HTTP {status}, no client secret")
    # The card given to the intent, then the intent confirmed (as `payments.card.CardProvider.execute` does).
    head = [("Authorization", "Basic " + base64.b64encode(f"{SECRET_KEY}:".encode()).decode()),
            ("Content-Type", "application/x-www-form-urlencoded")]
    intent = f"/v1/payment_intents/{found.group(2).decode()}"
    status, _, answer = await loadgen.http(stripe_port, "POST", intent, head, b"payment_method=pm_card_visa")
    if status != 200:
        raise RuntimeError(f"card at the provider: HTTP {status} {answer[:100]!r}")
    status, _, answer = await loadgen.http(stripe_port, "POST", intent + "/confirm", head, b"")
    if status != 200 or b'"succeeded"' not in answer:
        raise RuntimeError(f"confirm at the provider: HTTP {status} {answer[:100]!r}")
    return now()


async def give_from_wallet(port: int, cookie_name: str, cookie: str, campaign: str, amount: int) -> float:
    """Give from a signed-in donor's wallet; the time of the click (the gift is confirmed within the request,
    and its total may reach the pages before the answer reaches the donor)."""
    clicked = now()
    xsrf = xsrf_value()
    head = [("Cookie", f"{cookie_name}={cookie}; _xsrf={xsrf}"),
            ("Content-Type", "application/x-www-form-urlencoded")]
    form = {"_xsrf": xsrf, "key": f"bench-{secrets.token_hex(8)}", "currency": "EUR", "amount": str(amount),
            "method": "wallet"}
    status, headers, _ = await loadgen.http(port, "POST", f"/campaigns/{campaign}/give", head,
                                            urlencode(form, quote_via=quote).encode())
    where = location(headers)
    if status != 302 or "?gift=" not in where:
        raise RuntimeError(f"give: HTTP {status} to {where or '-'}")
    return clicked


# --- the phases ---------------------------------------------------------------------------------

async def giving_phase(args, path: str, ports: list[int], stripe_port: int, data: dict, first: int) -> dict:
    """Gifts started at `rate` a second for `seconds` (open loop); each confirmed one as (time, amount)."""
    confirmed: list[tuple[float, int]] = []
    wrong: dict[str, int] = {}
    sem = asyncio.Semaphore(args.concurrency)
    rng = random.Random(first)
    tasks = []
    skipped = 0

    async def one(k: int, amount: int):
        async with sem:
            try:
                if path == "card":
                    t = await give_by_card(ports[k % len(ports)], stripe_port, data["campaign"], first + k, amount)
                else:
                    cookies = data["cookies"]
                    t = await give_from_wallet(ports[k % len(ports)], data["session_cookie"],
                                               cookies[k % len(cookies)], data["campaign"], amount)
                confirmed.append((t, amount * 100))
            except Exception as exc:
                what = f"{type(exc).__name__}: {str(exc)[:80]}"
                wrong[what] = wrong.get(what, 0) + 1

    t0 = now()
    total = int(args.rate * args.seconds)
    for k in range(total):
        due = t0 + k / args.rate
        delay = due - now()
        if delay > 0:
            await asyncio.sleep(delay)
        if sem.locked() and len(tasks) - len(confirmed) - sum(wrong.values()) >= args.concurrency * 4:
            skipped += 1   # the server (or the provider) cannot keep up: do not pile up more
            continue
        tasks.append(asyncio.ensure_future(one(k, rng.randint(1, 50))))
    started_for = now() - t0
    done, pending = await asyncio.wait(tasks, timeout=args.phase_timeout) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    if pending:
        wrong["not answered within the phase's time"] = len(pending)
    wall = now() - t0
    # The rate: gifts confirmed over the time from the first start to the last confirmation.
    span = max((t for t, _ in confirmed), default=t0) - t0
    return {"path": path, "started": len(tasks), "not_started_backlog": skipped, "confirmed": confirmed,
            "wrong": wrong, "seconds": round(wall, 2), "start_seconds": round(started_for, 2),
            "per_second": round(len(confirmed) / max(span, started_for), 1) if started_for else None}


async def drain(pages: Pages, want: int, seconds: float) -> tuple[bool, dict]:
    deadline = now() + seconds
    while True:
        states = await pages.ask("state")
        shown: dict = {}
        for s in states:
            for total, n in s["shown"].items():
                shown[int(total)] = shown.get(int(total), 0) + n
        if set(shown) == {want} or now() > deadline:
            return set(shown) == {want}, {"shown": shown, "frames": sum(s["frames"] for s in states),
                                          "drops": sum(s["drops"] for s in states)}
        await asyncio.sleep(0.25)


def latencies(confirmed: list[tuple[float, int]], base: int, samples: list[dict]) -> tuple[list[float], int]:
    """Per sample page and gift: seconds from the gift's confirmation until the page showed at least the sum of
    every gift confirmed by then; and how many (page, gift) pairs never got there."""
    gifts = sorted(confirmed)
    out: list[float] = []
    never = 0
    for s in samples:
        times, totals = array.array("d"), array.array("q")
        times.frombytes(s["times"])
        totals.frombytes(s["totals"])
        j, running = 0, base
        for t, amount in gifts:
            running += amount
            while j < len(totals) and totals[j] < running:
                j += 1
            if j == len(totals):
                never += 1
                continue
            out.append(max(0.0, times[j] - t))
    return out, never


async def store_figures(address: str, campaign_id: str) -> dict:
    from bson import ObjectId

    from donations import totals
    from storage.shared import SharedClient
    client = SharedClient(address)
    db = client[P.DB_NAME]
    try:
        cid = ObjectId(campaign_id)
        confirmed = await db.donations.find({"campaign_id": cid, "state": "confirmed"},
                                            {"amount": 1, "method": 1, "uncounted": 1}).to_list(None)
        ids = {str(d["_id"]) for d in confirmed if d["method"] == "card"}
        ledger_card = sum(e["amount"] for e in await db.payments_ledger.find({"purpose": "donation"}).to_list(None)
                          if e["ref"] in ids)
        wallet_ids = {d["_id"] for d in confirmed if d["method"] == "wallet"}
        ledger_wallet = sum(-e["amount"] for e in await db.wallet_entries.find(
            {"kind": "gift", "state": "applied"}).to_list(None) if e.get("donation_id") in wallet_ids)
        counter = await totals.counter(db, cid)
        return {"confirmed": len(confirmed), "sum": sum(d["amount"] for d in confirmed),
                "card": len(ids), "wallet": len(wallet_ids), "ledger": ledger_card + ledger_wallet,
                "counter_raised": counter["raised"].get("EUR", 0), "counter_gifts": counter["gifts"],
                "owed": sum(1 for d in confirmed if d.get("uncounted")),
                "pending": len(await db.donations.find({"campaign_id": cid, "state": "pending"},
                                                       {"_id": 1}).to_list(None))}
    finally:
        await client.close()


async def confirmed_in_store(address: str, campaign_id: str, seen: int, seconds: float) -> dict:
    """The store's figures once it holds `seen` confirmed gifts with nothing owed (or after `seconds`)."""
    deadline = now() + seconds
    while True:
        figures = await store_figures(address, campaign_id)
        if (figures["confirmed"] >= seen and not figures["owed"]) or now() > deadline:
            return figures
        await asyncio.sleep(0.25)


# --- the run ---------------------------------------------------------------------------------------

def start_localstripe(workdir: str) -> tuple:
    port = T.free_port()
    proc = T.start([T.PYTHON, LOCALSTRIPE, "--port", str(port), "--fast"], os.path.join(workdir, "localstripe.log"),
                   cwd=workdir)
    T.wait_port(port, 30, proc=proc)
    return proc, port


def run(args, workdir: str) -> dict:
    target = T.Livehall(workdir)
    target.cookie_secret = "bench-" + secrets.token_hex(16)
    result: dict = {"phases": {}}
    t0 = now()
    pages = None
    try:
        stripe, stripe_port = start_localstripe(workdir)
        stripe_url = f"http://127.0.0.1:{stripe_port}"
        target.extra_env = {"SMTP_HOST": "", "STRIPE_SECRET_KEY": SECRET_KEY,
                            "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                            "STRIPE_API_BASE": stripe_url, "STRIPE_JS_URL": f"{stripe_url}/js.stripe.com/v3/"}
        address = target.start_store()
        data = asyncio.run(prepare_store(address, args, target.cookie_secret))
        log(f"campaign and {len(data['cookies'])} donors prepared in {now() - t0:.1f} s")
        target.start()
        ports = target.ports
        log(f"serving on ports {ports}; localstripe on {stripe_port}")
        # The provider notifies one of the processes, as it would the address of a load balancer.
        status, _, body = asyncio.run(loadgen.http(
            stripe_port, "POST", "/_config/webhooks/livehall", [("Content-Type", "application/x-www-form-urlencoded")],
            urlencode({"url": f"http://127.0.0.1:{ports[0]}/payments/stripe/webhook",
                       "secret": WEBHOOK_SECRET}).encode()))
        if status != 200:
            raise RuntimeError(f"localstripe refused the webhook: HTTP {status} {body[:200]!r}")
        if args.generator_policy == "batch":
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))

        pages = Pages(args.workers, args.generator_policy == "batch")
        specs: list[list[dict]] = [[] for _ in range(args.workers)]
        for i in range(args.pages):
            specs[i % args.workers].append({"i": i, "port": ports[i % len(ports)],
                                            "sample": i % args.sample == 0})
        c0 = now()
        connected = asyncio.run(pages.ask("connect", [{"specs": s} for s in specs], campaign=data["campaign"],
                                          concurrency=200, timeout=30))
        held = sum(c["ok"] for c in connected)
        result["pages"] = {"held": held, "wanted": args.pages, "seconds": round(now() - c0, 2)}
        log(f"{held} of {args.pages} pages open in {result['pages']['seconds']} s")
        if held < args.pages:
            raise RuntimeError(f"only {held} of {args.pages} pages connected")

        def procs():
            return {**cpu(target), "localstripe": T.cpu_seconds([stripe.pid]),
                    "generator": T.cpu_seconds(pages.pids())}

        base = first = seen = 0
        for path in args.paths:
            frames_before = asyncio.run(pages.ask("state"))
            before = procs()
            phase = asyncio.run(giving_phase(args, path, ports, stripe_port, data, first))
            first += phase["started"]
            seen += len(phase["confirmed"])
            # The provider's last notifications may still be on their way: wait for them (within the drain).
            figures = asyncio.run(confirmed_in_store(address, data["campaign"], seen, args.drain))
            settled, shown = asyncio.run(drain(pages, figures["counter_raised"], args.drain))
            after = procs()
            confirmed = phase.pop("confirmed")
            samples = asyncio.run(pages.ask("samples"))
            lat, never = latencies(confirmed, base, [s for a in samples for s in a["samples"]])
            base = figures["counter_raised"]
            frames = shown["frames"] - sum(s["frames"] for s in frames_before)
            spent = {k: round(after[k] - before[k], 2) for k in after}
            n = len(confirmed)
            phase.update(confirmed=n, latency_ms=report.percentiles(lat, 1000), never_seen=never,
                         frames=frames, settled=settled, shown=shown["shown"], drops=shown["drops"],
                         cpu_seconds=spent, store=figures,
                         server_cpu_ms_per_gift=round(spent["server"] * 1000 / n, 2) if n else None,
                         server_cpu_us_per_frame=round(spent["server"] * 1e6 / frames, 1) if frames else None,
                         frames_per_page_per_second=round(frames / args.pages / phase["seconds"], 2))
            result["phases"][path] = phase
            log(f"{path}: {n} gifts confirmed in {phase['start_seconds']} s ({phase['per_second']}/s), "
                f"latency {phase['latency_ms']}, {frames} frames, settled={settled}")
        result["store"] = figures = asyncio.run(store_figures(address, data["campaign"]))
        problems = []
        if not figures["sum"] == figures["counter_raised"] == figures["ledger"]:
            problems.append(f"donations {figures['sum']}, counter {figures['counter_raised']}, ledger "
                            f"{figures['ledger']} differ")
        if figures["confirmed"] != seen or figures["counter_gifts"] != seen:
            problems.append(f"{seen} gifts confirmed to donors, {figures['confirmed']} confirmed in the store, "
                            f"{figures['counter_gifts']} counted")
        if figures["owed"]:
            problems.append(f"{figures['owed']} gifts still owe their count")
        for path, p in result["phases"].items():
            if not p["settled"]:
                problems.append(f"{path}: pages show {p['shown']}, the store {figures['counter_raised']}")
            if p["never_seen"]:
                problems.append(f"{path}: {p['never_seen']} (page, gift) pairs never shown")
            if p["drops"]:
                problems.append(f"{path}: {p['drops']} pages dropped")
            for what, k in p["wrong"].items():
                problems.append(f"{path}: {k} × {what}")
        if problems:
            result["error"] = "; ".join(problems)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    finally:
        if pages is not None:
            pages.stop()
        target.stop()
        result["seconds"] = round(now() - t0, 1)
    return result


def table(doc: dict) -> str:
    """The Markdown table of a successful run (a row per figure, a column per path); a failed one says why."""
    m, o, r = doc["machine"], doc["options"], doc["result"]
    head = (f"Livehall donations benchmark {doc['date']} on {m['cores']} cores ({m['cpu'] or 'unknown CPU'})"
            + (f", load average before the run {doc['load_average']}" if doc.get("load_average") else "")
            + f", {o['pages']} open campaign pages, {o['rate']} gifts a second for {o['seconds']} s")
    if "error" in r:
        return head + "\n\nFAILED: " + r["error"]
    phases = r["phases"]
    names = list(phases)
    rows = [
        ("gifts confirmed", lambda p: p["confirmed"]),
        ("gifts started (the rest not started: too many in flight)",
         lambda p: f"{p['started']} ({p['not_started_backlog']})"),
        ("gifts per second sustained", lambda p: p["per_second"]),
        ("confirmation (card) or click (wallet) to every page p50 / p99, ms",
         lambda p: f"{report.fmt(p['latency_ms'].get('p50'))} / {report.fmt(p['latency_ms'].get('p99'))}"),
        ("frames per page per second", lambda p: p["frames_per_page_per_second"]),
        ("server CPU per gift, ms", lambda p: p["server_cpu_ms_per_gift"]),
        ("server CPU per delivered total frame, us", lambda p: p["server_cpu_us_per_frame"]),
        ("store / Redis / localstripe CPU, s",
         lambda p: " / ".join(report.fmt(p["cpu_seconds"][k]) for k in ("store", "redis", "localstripe"))),
        ("every page's total = counter = donations = ledger", lambda p: "yes" if p["settled"] else "no"),
    ]
    lines = [head, "", "| figure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, get in rows:
        cells = []
        for n in names:
            value = get(phases[n])
            cells.append(value if isinstance(value, str) else report.fmt(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    s = r["store"]
    lines.append(f"\nIn the store: {s['confirmed']} gifts confirmed, total {s['sum']} = counter "
                 f"{s['counter_raised']} = ledger {s['ledger']}; none lost, none counted twice.")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bench/donations.py", description=__doc__.splitlines()[0])
    p.add_argument("--pages", type=int, default=10000, help="open campaign pages (the first is the screen)")
    p.add_argument("--rate", type=float, default=100, help="gifts started per second (100 = 6,000 a minute)")
    p.add_argument("--seconds", type=float, default=120, help="how long gifts are started, per path")
    p.add_argument("--paths", default="card,wallet", help="card, wallet or both (card,wallet), in that order")
    p.add_argument("--concurrency", type=int, default=64, help="gifts in flight at most")
    p.add_argument("--donors", type=int, default=500, help="accounts giving from their wallets")
    p.add_argument("--workers", type=int, default=2, help="generator processes holding the pages")
    p.add_argument("--sample", type=int, default=100, help="every n-th page records every frame (latency)")
    p.add_argument("--drain", type=float, default=15, help="seconds for every page to show the final total")
    p.add_argument("--generator-policy", choices=["batch", "normal"], default="batch",
                   help="scheduling policy of the generator (as bench/run.py)")
    p.add_argument("--phase-timeout", type=float, default=120, help="seconds for the gifts under way to finish")
    p.add_argument("--max-seconds", type=float, default=900, help="the whole run stops after this many seconds")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="directory for the JSON")
    p.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (path printed)")
    args = p.parse_args(argv)
    args.paths = [x.strip() for x in args.paths.split(",") if x.strip()]
    if not args.paths or any(x not in PATHS for x in args.paths):
        p.error("--paths is card, wallet or card,wallet")
    if min(args.pages, args.concurrency, args.workers, args.sample) < 1 or args.rate <= 0 or args.seconds <= 0:
        p.error("sizes, rate and duration must be positive")
    if "wallet" in args.paths and args.donors < 1:
        p.error("--donors must be positive for the wallet path")
    return args


def main(argv=None) -> int:
    return run_and_report("donations", parse_args(argv), run, table)


if __name__ == "__main__":
    sys.exit(main())
