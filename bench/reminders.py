"""`make bench-reminders`: how soon after their due time reminders for many registrants leave.

    .venv/bin/python bench/reminders.py [--people 10000] [--processes 2] [--lead-seconds 20]

Starts the shared embedded store (`server.py store-server`), fills it straight
with one event and `--people` registered attendees (half Russian, half
English), sets the event's start so that its one-hour reminder falls due
`--lead-seconds` after the fill (time for the servers to start), then
starts `--processes` server processes (`server.py serve`, mail over SMTP)
and an SMTP sink (aiosmtpd) in this process that notes when each mail
arrives.  The figure is how long after the due time the mails arrived: the
median, p95 and the last one; the target is every mail within 30 s.

The run checks that every registrant got exactly one mail and that no mail
went to anyone else, waiting a few seconds after the last one for
duplicates; a run that fails a check says FAILED and gives no figures.  The
table (Markdown) goes to stdout, everything to bench/results/reminders-<timestamp>.json.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from aiosmtpd.controller import Controller  # noqa: E402
from bson import ObjectId  # noqa: E402
from harness import free_port, spawn, wait_for_port  # noqa: E402

from core import config  # noqa: E402
from events import model  # noqa: E402

TARGET_SECONDS = 30.0


class Sink:
    """An SMTP server's handler that notes the recipient and arrival time of each mail."""

    def __init__(self):
        self.arrivals: list[tuple[str, float]] = []

    async def handle_DATA(self, server, session, envelope):
        now = time.time()
        self.arrivals.extend((rcpt, now) for rcpt in envelope.rcpt_tos)
        return "250 OK"


async def fill(settings: config.Settings, people: int, lead: float) -> tuple[list[str], datetime.datetime]:
    """One event and `people` registered attendees; then the event's start is set so that its
    one-hour reminder falls due `lead` seconds later.  Returns the addresses and the due time."""
    import server
    services = await server.make_services(settings)
    try:
        db = services.db
        space = await model.create_space(db, slug="bench", name="Bench")
        event = model.blank_event(space["_id"], "reminders", ["ru", "en"], "ru",
                                  {"ru": "Напоминания", "en": "Reminders"}, "Europe/Riga")
        await model.create_event(db, event)
        emails, users, memberships = [], [], []
        now = datetime.datetime.now(datetime.UTC)
        for i in range(people):
            uid, address = ObjectId(), f"person{i}@bench.example.org"
            locale = "ru" if i % 2 else "en"
            users.append({"_id": uid, "email": address, "name": f"Person {i}", "login": f"bench{i}",
                          "locale": locale, "password_hash": None, "platform_admin": False,
                          "created_at": now, "last_login_at": None})
            memberships.append({"user_id": uid, "scope": "event", "scope_id": event["_id"], "role": "attendee",
                                "locales": [locale], "email": address, "name": f"Person {i}", "state": "registered",
                                "created_at": now, "mailed_at": None})
            emails.append(address)
        for i in range(0, people, 1000):
            await db.users.insert_many(users[i:i + 1000])
            await db.memberships.insert_many(memberships[i:i + 1000])
        due = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=lead)).replace(microsecond=0)
        start = due + datetime.timedelta(hours=1)
        await model.versioned_update(db, event["_id"], lambda _e: {"gate.official_start": start})
        return emails, due
    finally:
        await server.close_services(services)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--lead-seconds", type=float, default=20.0)
    parser.add_argument("--max-seconds", type=float, default=180.0)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()

    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    logs = tempfile.mkdtemp(prefix="livehall-bench-reminders-")
    store_port = free_port()
    env = dict(os.environ, COOKIE_SECRET=secrets.token_hex(16), PROCESSES="1", MONGODB_DB="bench",
               EMBEDDED_STORE_ADDRESS=f"127.0.0.1:{store_port}", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port),
               SMTP_TLS="none", SMTP_USER="", SMTP_PASSWORD="", REDIS_URL="", LOG_FORMAT="text",
               MAIL_FROM="Livehall <events@bench.example.org>")
    env.pop("MONGODB_URI", None)
    children = []
    result: dict = {"people": args.people, "processes": args.processes, "target_seconds": TARGET_SECONDS}
    try:
        children.append(spawn(["store-server", "--port", str(store_port)], env, os.path.join(logs, "store.log")))
        wait_for_port(store_port)
        settings = config.from_env(env)
        started = time.monotonic()
        emails, due = asyncio.run(fill(settings, args.people, args.lead_seconds))
        result["fill_seconds"] = round(time.monotonic() - started, 1)
        for i in range(args.processes):
            port = free_port()
            children.append(spawn(["serve", "--port", str(port)], env, os.path.join(logs, f"server-{i}.log")))
        deadline = time.monotonic() + args.max_seconds
        while len(sink.arrivals) < args.people and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(5)  # any duplicate would arrive by now
        due_ts = due.timestamp()
        delays = [t - due_ts for _, t in sink.arrivals]
        copies = Counter(r for r, _ in sink.arrivals)
        wanted = set(emails)
        checks = {"received": len(sink.arrivals), "distinct": len(copies),
                  "duplicates": sum(n - 1 for n in copies.values() if n > 1),
                  "missing": len(wanted - set(copies)), "unexpected": len(set(copies) - wanted),
                  "early": sum(1 for d in delays if d < 0)}
        result["checks"] = checks
        ok = checks["received"] == args.people and not any(checks[k] for k in ("duplicates", "missing",
                                                                                  "unexpected", "early"))
        if not ok:
            result["error"] = "FAILED: " + json.dumps(checks)
        else:
            result["delay_seconds"] = {"p50": round(percentile(delays, 50), 2), "p95": round(percentile(delays, 95), 2),
                                       "last": round(max(delays), 2), "first": round(min(delays), 2)}
            result["within_target"] = max(delays) <= TARGET_SECONDS
    except Exception as exc:  # a benchmark reports what went wrong rather than a traceback alone
        result["error"] = f"FAILED: {exc}"
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        smtp.stop()
    result["logs"] = logs
    if "error" in result:
        table = result["error"]
    else:
        d = result["delay_seconds"]
        table = "\n".join([
            "| reminders | value |", "| --- | --- |",
            f"| registrants, processes | {args.people}, {args.processes} |",
            f"| first mail after due time | {d['first']} s |",
            f"| median | {d['p50']} s |", f"| p95 | {d['p95']} s |",
            f"| last mail after due time | {d['last']} s (target {TARGET_SECONDS:g} s) |"])
    print(table, flush=True)
    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(args.out, f"reminders-{stamp}.json"), "w") as f:
        json.dump({"result": result, "table": table}, f, indent=2)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
