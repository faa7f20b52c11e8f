"""`make bench-checkout`: the last tickets of a quota under a rush, and checkouts per second, on this machine.

    .venv/bin/python bench/checkout.py [--contenders 1000] [--last 10] [--sustained 2000] ...

Livehall runs as the other benchmarks run it (bench/targets.py: `server.py
--processes 2` on 127.0.0.1 with Redis and the shared embedded store).
Before any server process starts, the store is filled straight with the
platform's own functions, so preparing is not measured: a public space, two
events selling one ticket type each (free by default: `--price "EUR 15.00"`
sells a priced one, whose orders then wait for their payment), and
`--buyers` accounts, each with a session (the cookie signed as the server
signs it).  Then, each phase bounded in time:

1. **the rush**: the first event's quota has `--quota-size` places of which
   all but `--last` are held by earlier sales; `--contenders` buyers check
   out one ticket each, all at the same moment.  A checkout is what a
   browser does: POST the ticket choice (`/e/<space>/<event>/tickets`,
   answered by a redirect to the checkout page when the ticket is held for
   the buyer, or 409 and the sold-out message), then POST the checkout form
   with the buyer as the holder (answered by a redirect to the order).
   Exactly `--last` must get an order and every other buyer the sold-out
   answer; the figures are how long the refusals and the orders took;
2. **sustained**: checkouts of the second event, whose quota never runs
   out, `--concurrency` at a time for `--sustained-seconds` (at most
   `--sustained`, one buyer each; the checkouts under way at the end
   finish and count): checkouts per second and the latency of one checkout
   (both requests), p50/p95/p99.

Afterwards the store is checked: as many orders as checkouts answered with
one, nothing oversold, each quota's `left` equal to its size less what its
holds hold, and no reservation left held.  A run that fails a check says
FAILED and why, and reports no figures.  The table (Markdown) goes to
stdout, everything to bench/results/checkout-<timestamp>.json.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import re
import secrets
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
from tornado.web import create_signed_value  # noqa: E402

from accounts import sessions, users  # noqa: E402
from events import model  # noqa: E402
from mongo_indexes import ensure_indexes  # noqa: E402
from orders import quotas, ticket_types  # noqa: E402
from storage.shared import SharedClient  # noqa: E402

SPACE = "bench-checkout"
PAGE_BYTES: list[int] = []                  # sizes of the sold-out pages Livehall answered
SOLD_OUT = b"Not enough tickets of"        # the English sold-out refusal (`orders.checkout.SoldOut`)
EARLIER = "earlier-sales"                  # the hold key standing for the rush quota's tickets sold before


# --- what is prepared ---------------------------------------------------------------------------

async def _shop(db, admin, space, slug: str, title: str, price: str, size: int, held_before: int) -> dict:
    """A public event selling one type through one quota of `size`, `held_before` of it already held."""
    event = model.blank_event(space["_id"], slug, ["en", "ru"], "en", {"en": title, "ru": title})
    event["privacy"] = {"level": "public", "emails": []}
    event = await model.create_event(db, event)
    raw = {**ticket_types.blank_form(), "name": {"en": "Standard"}, "prices": price, "max_per_order": "1"}
    ticket = await ticket_types.create(db, admin, event, await ticket_types.clean(db, event, raw))
    event = await db.events.find_one({"_id": event["_id"]})
    quota = await quotas.create(db, admin, event, name="Hall", size=str(size), type_ids=[str(ticket["_id"])])
    if held_before:
        # Earlier sales, as the quota's document records them: `left` is the size less every hold.
        await db.quotas.update_one({"_id": quota["_id"]}, {"$set": {f"holds.{EARLIER}": held_before},
                                                           "$inc": {"left": -held_before}})
    return {"id": str(event["_id"]), "path": f"/e/{SPACE}/{slug}", "type_id": str(ticket["_id"]),
            "quota_id": str(quota["_id"]), "size": size, "held_before": held_before}


async def prepare_store(address: str, args, cookie_secret: str) -> dict:
    clients = [SharedClient(address) for _ in range(P.PARALLEL)]
    db = clients[0][P.DB_NAME]
    try:
        space = await model.create_space(db, slug=SPACE, name="Checkout benchmark")
        admin = await users.create(db, email="organiser@bench.invalid", name="Organiser", locale="en",
                                   login="bench-organiser", platform_admin=True)
        rush = await _shop(db, admin, space, "rush", "The last tickets", args.price, args.quota_size,
                           args.quota_size - args.last)
        steady = await _shop(db, admin, space, "steady", "Plenty of tickets", args.price, quotas.MAX_QUOTA_SIZE, 0)
        ttl = datetime.timedelta(hours=6)

        async def make(db, i):
            user = await users.create(db, email=f"buyer{i}@bench.example.org", name=f"Buyer {i}", locale="en",
                                      login=f"bench-buyer-{i}")
            raw = await sessions.create(db, user["_id"], ttl, "bench", "127.0.0.1")
            cookie = create_signed_value(cookie_secret, sessions.COOKIE, raw).decode()
            return {"i": i, "user_id": str(user["_id"]), "email": user["email"], "cookie": cookie}

        buyers = await P._in_parallel(clients, list(range(args.buyers)), make)
        await ensure_indexes(db)
        return {"events": {"rush": rush, "steady": steady}, "buyers": buyers}
    finally:
        for client in clients:
            await client.close()


# --- one checkout, as a browser makes it ----------------------------------------------------------

def refusal(html: bytes) -> str:
    """The page's error message, if it shows one (a run that fails says why)."""
    m = re.search(rb'class="[^"]*(?:error-message|flash-error|field-error)[^"]*"[^>]*>(.*?)<', html, re.S)
    return f": {m.group(1).decode(errors='replace').strip()[:100]}" if m else ""


def location(headers) -> str:
    return next((v for k, v in headers if k.lower() == "location"), "")


async def checkout(port: int, event: dict, buyer: dict) -> tuple[str, float]:
    """("ordered" | "sold_out" | what went wrong, seconds) for one buyer's checkout of one ticket."""
    xsrf = xsrf_value()
    head = [("Cookie", f"{sessions.COOKIE}={buyer['cookie']}; _xsrf={xsrf}"),
            ("Content-Type", "application/x-www-form-urlencoded")]
    t0 = time.monotonic()
    body = urlencode({"_xsrf": xsrf, f"qty.{event['type_id']}": "1", "currency": "EUR"}).encode()
    status, headers, text = await loadgen.http(port, "POST", event["path"] + "/tickets", head, body)
    if status == 409 and SOLD_OUT in text:
        PAGE_BYTES.append(len(text))
        return "sold_out", time.monotonic() - t0
    where = location(headers)
    if status != 302 or "/checkout/" not in where:
        return f"choice: HTTP {status} to {where or '-'}{refusal(text)}", time.monotonic() - t0
    form = {"_xsrf": xsrf, "buyer_name": f"Buyer {buyer['i']}", "method": "card",
            "idempotency_key": secrets.token_hex(16), "holder_email.0": buyer["email"],
            "holder_name.0": f"Buyer {buyer['i']}", "holder_locale.0": "en"}
    status, headers, text = await loadgen.http(port, "POST", where, head, urlencode(form, quote_via=quote).encode())
    where = location(headers)
    if status != 302 or not where.startswith("/me/orders/"):
        return f"order: HTTP {status} to {where or '-'}{refusal(text)}", time.monotonic() - t0
    return "ordered", time.monotonic() - t0


# --- the phases ---------------------------------------------------------------------------------

async def rush_phase(port_of, event: dict, buyers: list[dict], seconds: float) -> dict:
    """Every buyer at the same moment: the outcomes and their latencies."""
    start = asyncio.Event()
    took: dict[str, list[float]] = {}

    async def one(k: int):
        await start.wait()
        try:
            outcome, spent = await checkout(port_of(k), event, buyers[k])
        except Exception as exc:
            outcome, spent = f"{type(exc).__name__}: {str(exc)[:60]}", 0.0
        took.setdefault(outcome, []).append(spent)

    tasks = [asyncio.ensure_future(one(k)) for k in range(len(buyers))]
    await asyncio.sleep(0)
    t0 = time.monotonic()
    start.set()
    done, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    wall = time.monotonic() - t0
    answered = sum(len(v) for v in took.values())
    outcomes = {k: len(v) for k, v in took.items()}
    if answered < len(buyers):
        outcomes["not answered within the phase's time"] = len(buyers) - answered
    return {"count": len(buyers), "outcomes": outcomes, "seconds": round(wall, 3),
            "sold_out_ms": report.percentiles(took.get("sold_out", []), 1000),
            "ordered_ms": report.percentiles(took.get("ordered", []), 1000)}


async def sustained_phase(port_of, event: dict, buyers: list[dict], concurrency: int, seconds: float,
                          grace: float) -> dict:
    """Checkouts `concurrency` at a time, a new one started only within `seconds`; those under way then
    finish (within `grace`), so every order made is counted and none is left half done."""
    queue = iter(range(len(buyers)))
    took: list[float] = []
    wrong: dict[str, int] = {}
    t0 = time.monotonic()
    deadline = t0 + seconds

    async def lane():
        for k in queue:
            try:
                outcome, spent = await checkout(port_of(k), event, buyers[k])
            except Exception as exc:
                outcome, spent = f"{type(exc).__name__}: {str(exc)[:60]}", 0.0
            if outcome == "ordered":
                took.append(spent)
            else:
                wrong[outcome] = wrong.get(outcome, 0) + 1
            if time.monotonic() >= deadline:
                return

    lanes = [asyncio.ensure_future(lane()) for _ in range(max(1, concurrency))]
    done, pending = await asyncio.wait(lanes, timeout=seconds + grace)
    for task in pending:
        task.cancel()
    wall = time.monotonic() - t0
    if pending:
        wrong["still under way after the grace time"] = len(pending)
    return {"count": len(took) + sum(wrong.values()), "ok": len(took), "wrong": wrong, "seconds": round(wall, 3),
            "per_second": round(len(took) / wall, 1) if wall else None,
            "latency_ms": report.percentiles(took, 1000)}


# --- checks afterwards ----------------------------------------------------------------------------

async def verify(address: str, data: dict, expected: dict[str, int]) -> tuple[dict, list[str]]:
    """What the store holds for each event, and every way it differs from what must be."""
    from bson import ObjectId
    client = SharedClient(address)
    db = client[P.DB_NAME]
    problems: list[str] = []
    found: dict = {}
    try:
        for key, event in data["events"].items():
            eid = ObjectId(event["id"])
            orders = await db.orders.count_documents({"event_id": eid})
            states: dict = {}
            async for r in db.reservations.find({"event_id": eid}, {"state": 1}):
                states[r["state"]] = states.get(r["state"], 0) + 1
            quota = await db.quotas.find_one({"_id": ObjectId(event["quota_id"])})
            held = sum(quota["holds"].values())
            sold = held - event["held_before"]
            found[key] = {"orders": orders, "reservations": states, "left": quota["left"], "sold": sold,
                          "holds": len(quota["holds"])}
            if orders != expected[key]:
                problems.append(f"{key}: {orders} orders, expected {expected[key]}")
            if sold != expected[key]:
                problems.append(f"{key}: {sold} tickets held in the quota, expected {expected[key]}")
            if quota["left"] != quota["size"] - held or quota["left"] < 0:
                problems.append(f"{key}: quota left {quota['left']} is not its size {quota['size']} less "
                                f"its holds {held}")
            if states.get("held") or states.get("taking") or states.get("ordering"):
                problems.append(f"{key}: reservations left unfinished: {states}")
        return found, problems
    finally:
        await client.close()


# --- the run ---------------------------------------------------------------------------------------

def measured(target, coro_factory, count_key: str) -> dict:
    before = cpu(target)
    result = asyncio.run(coro_factory())
    after = cpu(target)
    result["cpu_seconds"] = {k: round(after[k] - before[k], 2) for k in before}
    n = result.get(count_key) or 0
    if n:
        for part in ("server", "store"):
            if part in result["cpu_seconds"]:
                result[f"{part}_cpu_ms_each"] = round(result["cpu_seconds"][part] * 1000 / n, 2)
    return result


def floor_rush(args, workdir: str, cookie_secret: str, event: dict, buyers: list[dict]) -> dict:
    """The same rush sent to the checkout floor (bench/peers/bare-shop), Livehall stopped: what
    answering these requests costs any Tornado shop before it reads anything."""
    floor = T.BareShop(workdir)
    floor.cookie_secret = cookie_secret
    floor.page_bytes = max(PAGE_BYTES) if PAGE_BYTES else floor.page_bytes
    floor.start()
    try:
        ports = floor.ports
        result = measured(floor, lambda: rush_phase(lambda k: ports[k % len(ports)], event, buyers,
                                                    args.phase_timeout), "count")
        result["page_bytes"] = floor.page_bytes
        return result
    finally:
        floor.stop()


def run(args, workdir: str) -> dict:
    target = T.Livehall(workdir)
    target.cookie_secret = "bench-" + secrets.token_hex(16)
    target.extra_env = {"SMTP_HOST": ""}
    result: dict = {"phases": {}}
    t0 = time.monotonic()
    try:
        address = target.start_store()
        data = asyncio.run(prepare_store(address, args, target.cookie_secret))
        result["prepare_seconds"] = round(time.monotonic() - t0, 2)
        log(f"{args.buyers} buyers with sessions and two events prepared in {result['prepare_seconds']} s")
        target.start()
        log(f"serving on ports {target.ports}")
        ports = target.ports

        def port_of(k):
            return ports[k % len(ports)]   # spread as a load balancer would

        if args.generator_policy == "batch":
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        buyers = data["buyers"]
        phases = result["phases"]
        events = data["events"]
        rush = phases["rush"] = measured(
            target, lambda: rush_phase(port_of, events["rush"], buyers[:args.contenders], args.phase_timeout),
            "count")
        log(f"rush: {rush['outcomes']} in {rush['seconds']} s")
        steady = phases["sustained"] = measured(
            target, lambda: sustained_phase(port_of, events["steady"], buyers[:args.sustained], args.concurrency,
                                            args.sustained_seconds, args.phase_timeout), "ok")
        log(f"sustained: {steady['ok']} checkouts in {steady['seconds']} s")
        expected = {"rush": min(args.last, args.contenders), "steady": steady["ok"]}
        result["store"], problems = asyncio.run(verify(address, data, expected))
        want = {"ordered": expected["rush"], "sold_out": args.contenders - expected["rush"]}
        got = rush["outcomes"]
        if {k: v for k, v in got.items() if v} != {k: v for k, v in want.items() if v}:
            problems.append(f"rush: outcomes {got}, expected {want}")
        for what, n in steady["wrong"].items():
            problems.append(f"sustained: {n} × {what}")
        if problems:
            result["error"] = "; ".join(problems)
        else:
            target.stop()
            phases["floor"] = floor_rush(args, workdir, target.cookie_secret, events["rush"], buyers[:args.contenders])
            log(f"floor rush: {phases['floor']['outcomes']} in {phases['floor']['seconds']} s")
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    finally:
        target.stop()
        result["seconds"] = round(time.monotonic() - t0, 1)
    return result


def _ms(d: dict, p: str):
    return (d or {}).get(p)


def table(doc: dict) -> str:
    """The Markdown table of a successful run; a failed one says FAILED and why."""
    m, o, r = doc["machine"], doc["options"], doc["result"]
    load = doc.get("load_average")
    head = (f"Livehall checkout benchmark {doc['date']} on {m['cores']} cores ({m['cpu'] or 'unknown CPU'})"
            + (f", load average before the run {load}" if load else "")
            + f", tickets priced {o['price']}")
    if "error" in r:
        return head + "\n\nFAILED: " + r["error"]
    rush, steady = r["phases"]["rush"], r["phases"]["sustained"]
    s, d = rush["sold_out_ms"], rush["ordered_ms"]
    st = r["store"]["rush"]
    rows = [
        (f"rush: {o['contenders']} checkouts at once for the last {o['last']} tickets: ordered / sold out",
         f"{rush['outcomes'].get('ordered', 0)} / {rush['outcomes'].get('sold_out', 0)}"),
        ("rush: tickets sold beyond the quota; quota left (checked in the store)",
         f"{max(0, st['sold'] - o['last'])}; {st['left']}"),
        ("rush: \"sold out\" answered in p50 / p99 / max, ms",
         " / ".join(report.fmt(_ms(s, p)) for p in ("p50", "p99", "max"))),
        ("rush: the orders took p50 / max, ms", " / ".join(report.fmt(_ms(d, p)) for p in ("p50", "max"))),
        ("rush: all answered within, s", rush["seconds"]),
        (f"sustained checkouts per second ({o['concurrency']} concurrent, {steady['ok']} in {steady['seconds']} s)",
         steady["per_second"]),
        ("checkout latency p50 / p95 / p99, ms",
         " / ".join(report.fmt(_ms(steady["latency_ms"], p)) for p in ("p50", "p95", "p99"))),
        ("server / store CPU per checkout, ms",
         f"{report.fmt(steady.get('server_cpu_ms_each'))} / {report.fmt(steady.get('store_cpu_ms_each'))}"),
        ("errors, lost or duplicate orders", 0),
    ]
    floor = r["phases"].get("floor")
    if floor:
        f = floor["sold_out_ms"]
        rows[5:5] = [
            ("rush at the checkout floor (bench/peers/bare-shop: Tornado refusing everyone, nothing read): "
             "\"sold out\" p50 / p99 / max, ms", " / ".join(report.fmt(_ms(f, p)) for p in ("p50", "p99", "max"))),
            ("rush: server CPU per answer, Livehall / floor, ms",
             f"{report.fmt(rush.get('server_cpu_ms_each'))} / {report.fmt(floor.get('server_cpu_ms_each'))}"),
        ]
    lines = [head, "", "| figure | value |", "|---|---:|"]
    lines += [f"| {label} | {report.fmt(value) if not isinstance(value, str) else value} |" for label, value in rows]
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bench/checkout.py", description=__doc__.splitlines()[0])
    p.add_argument("--contenders", type=int, default=1000, help="buyers checking out at once in the rush")
    p.add_argument("--last", type=int, default=10, help="tickets left in the rush quota")
    p.add_argument("--quota-size", type=int, default=500, help="the rush quota's size (the rest sold before)")
    p.add_argument("--sustained", type=int, default=4000,
                   help="the most checkouts in the sustained phase (one buyer each)")
    p.add_argument("--sustained-seconds", type=float, default=60,
                   help="the sustained phase starts checkouts for this long (those under way then finish)")
    p.add_argument("--concurrency", type=int, default=16, help="sustained checkouts in flight")
    p.add_argument("--buyers", type=int, default=None, help="accounts (default: the larger of the two phases)")
    p.add_argument("--price", default="EUR 0.00", help='price of the ticket type, e.g. "EUR 15.00" (default free)')
    p.add_argument("--generator-policy", choices=["batch", "normal"], default="batch",
                   help="scheduling policy of this process while it makes the load (as bench/run.py)")
    p.add_argument("--phase-timeout", type=float, default=120, help="each phase stops after this many seconds")
    p.add_argument("--max-seconds", type=float, default=420, help="the whole run stops after this many seconds")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="directory for the JSON")
    p.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (path printed)")
    args = p.parse_args(argv)
    if min(args.contenders, args.last, args.concurrency, args.sustained) < 1:
        p.error("--contenders, --last, --sustained and --concurrency must be positive")
    if not args.last <= args.quota_size <= quotas.MAX_QUOTA_SIZE:
        p.error("--quota-size must be at least --last")
    args.buyers = args.buyers or max(args.contenders, args.sustained)
    if args.buyers < max(args.contenders, args.sustained):
        p.error("--buyers must cover both phases (one ticket per buyer and event)")
    return args


def main(argv=None) -> int:
    return run_and_report("checkout", parse_args(argv), run, table)


if __name__ == "__main__":
    sys.exit(main())
