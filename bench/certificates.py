"""`make bench-certificates`: how long issuing certificates to many attendees takes on this machine.

    .venv/bin/python bench/certificates.py [--people 10000] [--max-seconds 900]

Starts the shared embedded store (`server.py store-server`) on 127.0.0.1 and
fills it straight, unmeasured: one event in four languages (Russian, English,
Hebrew, Kazakh: names in four scripts), `--people` registered attendees who
opened the event page and watched 40 minutes of the broadcast, and one in a
hundred more who watched only 10; the certificate template asks for 30
minutes, and its issuing job is recorded as started.  Then it starts one
server process (`server.py serve`, mail kept in the outbox: no SMTP server),
which resumes the job at its start as after a restart, and measures from
that start until the job is done: every certificate made, its PDF drawn by
the process pool (one worker per CPU) and stored, its mail written.

Afterwards it checks the store: one certificate per qualifying attendee and
none for the others, every one with a PDF (a sample read back with pypdf
names its holder), one mail each, the job's counts right.  A run that fails
a check says FAILED and gives no figures.  The target: `--people` 10,000 in
under 10 minutes on 2 cores.  The table (Markdown) goes to stdout,
everything to bench/results/certificates-<timestamp>.json.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import io
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

import targets as T  # noqa: E402
from bson import ObjectId  # noqa: E402
from harness import free_port, spawn, wait_for_port  # noqa: E402

from core import config  # noqa: E402
from events import model  # noqa: E402

TARGET_SECONDS = 600.0
LOCALES = ("ru", "en", "he", "kk")
NAMES = {"ru": "Анна Иванова", "en": "Mary Smith", "he": "דוד כהן", "kk": "Әлия Нұрланқызы"}
WATCHED, SHORT, CONDITION = 40, 10, 30   # minutes
FIRST_MINUTE = 29_000_000


async def fill(settings: config.Settings, people: int) -> dict:
    """The event, its attendees, their watch time and the template with its job started."""
    import server
    from certificates import issuing
    services = await server.make_services(settings)
    try:
        db = services.db
        space = await model.create_space(db, slug="bench", name="Bench")
        event = model.blank_event(space["_id"], "certificates", list(LOCALES), "ru",
                                  {"ru": "Конференция", "en": "Conference", "he": "כנס", "kk": "Конференция"},
                                  "Europe/Riga")
        event["days"] = [{"id": "d1", "date": "2026-12-01", "title": {c: "1" for c in LOCALES}, "enabled": True}]
        event = await model.create_event(db, event)
        now = datetime.datetime.now(datetime.UTC)
        short = people // 100
        qualifying, others = [], []
        users, memberships, watched = [], [], []
        for i in range(people + short):
            uid, locale = ObjectId(), LOCALES[i % len(LOCALES)]
            address = f"person{i}@bench.example.org"
            name = f"{NAMES[locale]} {i}"
            users.append({"_id": uid, "email": address, "name": name, "login": f"bench{i}", "locale": locale,
                          "password_hash": None, "platform_admin": False, "created_at": now, "last_login_at": None})
            memberships.append({"user_id": uid, "scope": "event", "scope_id": event["_id"], "role": "attendee",
                                "locales": [locale], "email": address, "name": name, "state": "registered",
                                "created_at": now, "mailed_at": None, "watched_at": now})
            minutes = WATCHED if i < people else SHORT
            watched.append({"event_id": event["_id"], "user_id": uid, "updated_at": now,
                            "minutes": {str(FIRST_MINUTE + m): 60 for m in range(minutes)}})
            (qualifying if i < people else others).append(str(uid))
        for i in range(0, len(users), 1000):
            await db.users.insert_many(users[i:i + 1000])
            await db.memberships.insert_many(memberships[i:i + 1000])
            await db.watch_time.insert_many(watched[i:i + 1000])
        await db.certificate_templates.insert_one({"event_id": event["_id"], "layouts": {}, "quiz_id": None,
                                                   "min_percent": None, "min_minutes": CONDITION, "version": 1})
        assert await issuing.start_job(db, event)
        return {"event_id": str(event["_id"]), "qualifying": qualifying, "others": others}
    finally:
        await server.close_services(services)


async def watch(settings: config.Settings, event_id: str, server: subprocess.Popen, seconds: float) -> dict:
    """Follow the job until it is done (or `seconds` pass); the server's and its workers' CPU meanwhile."""
    from storage import open_database
    storage = await open_database(settings)
    out: dict = {"job": {}, "workers": [], "cpu": {"server": 0.0, "workers": 0.0}}
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            if server.poll() is not None:
                raise RuntimeError(f"the server stopped (exit {server.returncode})")
            # The workers' CPU is read while they live (they stop with the server).
            out["workers"] = pdf_workers(server.pid) or out["workers"]
            out["cpu"] = {"server": T.cpu_seconds([server.pid]), "workers": T.cpu_seconds(out["workers"])}
            doc = await storage.db.certificate_templates.find_one({"event_id": ObjectId(event_id)}, {"job": 1})
            out["job"] = (doc or {}).get("job") or {}
            if out["job"].get("status") == "done":
                break
        return out
    finally:
        await storage.close()


async def check(settings: config.Settings, filled: dict) -> dict:
    """What the store holds after the job: counts, duplicates, a sample of PDFs read back."""
    from storage import open_database
    storage = await open_database(settings)
    db = storage.db
    try:
        event_id = ObjectId(filled["event_id"])
        docs = await db.certificates.find({"event_id": event_id}, {"pdf": 0}).to_list(None)
        holders = [str(d["user_id"]) for d in docs]
        with_pdf = await db.certificates.count_documents({"event_id": event_id, "pdf": {"$exists": True}})
        mails = await db.outbox.find({"event_id": event_id, "kind": "certificate_issued"}, {"to": 1}).to_list(None)
        sample = await db.certificates.find({"event_id": event_id}).limit(200).to_list(None)
        sizes = [len(d["pdf"]) for d in sample if d.get("pdf")]
        named = None
        try:
            import pypdf
        except ImportError:
            pypdf = None
        if pypdf is not None:
            # The name without its number: a number beside Hebrew may come out on either side of it.
            named = sum(1 for d in sample[:20] if d.get("pdf") and NAMES[d["locale"]] in "\n".join(
                p.extract_text() for p in pypdf.PdfReader(io.BytesIO(bytes(d["pdf"]))).pages))
        job = (await db.certificate_templates.find_one({"event_id": event_id}))["job"]
        wanted, others = set(filled["qualifying"]), set(filled["others"])
        return {
            "certificates": len(docs), "distinct_holders": len(set(holders)),
            "missing": len(wanted - set(holders)), "unqualified": len(set(holders) & others),
            "with_pdf": with_pdf, "mails": len(mails), "distinct_mails": len({m["to"] for m in mails}),
            "job_status": job.get("status"), "job_issued": job.get("issued"),
            "sample_named": named, "sample_size": min(20, len(sample)),
            "pdf_kib_avg": round(sum(sizes) / len(sizes) / 1024, 1) if sizes else None,
        }
    finally:
        await storage.close()


def pdf_workers(pid: int) -> list[int]:
    """The server's PDF workers (its children started by multiprocessing's spawn, not its resource tracker)."""
    out = []
    for child in T.children(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    out.append(child)
        except OSError:
            continue
    return out


def table(result: dict) -> str:
    if "error" in result:
        return result["error"]
    m, c = result["machine"], result["checks"]
    return "\n".join([
        "| certificates | value |", "| --- | --- |",
        f"| certificates issued (PDF drawn, stored, mail written) | {c['certificates']} |",
        f"| PDF workers | {result['workers']} |",
        f"| **from server start to the last one** | **{result['seconds']} s** "
        f"(target {TARGET_SECONDS:g} s for 10,000) |",
        f"| certificates per second | {result['per_second']} |",
        f"| CPU per certificate: server / PDF workers / store, ms | {result['cpu_ms_each']['server']} / "
        f"{result['cpu_ms_each']['workers']} / {result['cpu_ms_each']['store']} |",
        f"| PDF size, average | {c['pdf_kib_avg']} KiB |",
        f"| machine | {m['cores']} cores, {m['cpu'] or 'unknown CPU'} |"])


def main() -> int:
    # The store's address is given on purpose: its warning at every connection says nothing here.
    logging.getLogger("storage").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10000)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()

    logs = tempfile.mkdtemp(prefix="livehall-bench-certificates-")
    store_port, port = free_port(), free_port()
    env = dict(os.environ, COOKIE_SECRET=secrets.token_hex(16), PROCESSES="1", MONGODB_DB="bench",
               EMBEDDED_STORE_ADDRESS=f"127.0.0.1:{store_port}", SMTP_HOST="", REDIS_URL="",
               LOG_FORMAT="text", BASE_URL="https://events.bench.example.org")
    env.pop("MONGODB_URI", None)
    children: list[subprocess.Popen] = []
    result: dict = {"people": args.people, "target_seconds": TARGET_SECONDS, "machine": T.machine(),
                    "logs": logs}
    try:
        children.append(spawn(["store-server", "--port", str(store_port)], env, os.path.join(logs, "store.log")))
        wait_for_port(store_port)
        settings = config.from_env(env)
        started = time.monotonic()
        filled = asyncio.run(fill(settings, args.people))
        result["fill_seconds"] = round(time.monotonic() - started, 1)
        store_cpu = T.cpu_seconds([children[0].pid])

        started = time.monotonic()
        server = spawn(["serve", "--port", str(port)], env, os.path.join(logs, "server.log"))
        children.append(server)
        followed = asyncio.run(watch(settings, filled["event_id"], server, args.max_seconds))
        seconds = time.monotonic() - started
        job, workers, cpu = followed["job"], followed["workers"], followed["cpu"]
        if job.get("status") != "done":
            raise RuntimeError(f"the job was not done after {args.max_seconds:g} s: {job}")
        store_cpu = T.cpu_seconds([children[0].pid]) - store_cpu
        checks = result["checks"] = asyncio.run(check(settings, filled))
        n = args.people
        ok = (checks["certificates"] == n and checks["distinct_holders"] == n and not checks["missing"]
              and not checks["unqualified"] and checks["with_pdf"] == n and checks["mails"] == n
              and checks["distinct_mails"] == n and checks["job_issued"] == n
              and checks["sample_named"] in (None, checks["sample_size"]))
        if not ok:
            result["error"] = "FAILED: " + json.dumps(checks)
        else:
            result.update(
                seconds=round(seconds, 1), per_second=round(n / seconds, 1), workers=len(workers),
                within_target=seconds * 10000 / n < TARGET_SECONDS if n else None,
                cpu_seconds={"server": round(cpu["server"], 1), "workers": round(cpu["workers"], 1),
                             "store": round(store_cpu, 1)},
                cpu_ms_each={k: round(v * 1000 / n, 1) for k, v in
                             (("server", cpu["server"]), ("workers", cpu["workers"]), ("store", store_cpu))})
    except Exception as exc:  # a benchmark reports what went wrong rather than a traceback alone
        result["error"] = f"FAILED: {exc}"
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
    text = table(result)
    print(text, flush=True)
    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(args.out, f"certificates-{stamp}.json"), "w") as f:
        json.dump({"result": result, "table": text}, f, indent=2)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
