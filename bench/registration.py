"""`make bench-registration`: registrations per second and the latency of one click, on this machine.

    .venv/bin/python bench/registration.py [--people 800] [--capacity 640] [--one-click 400] ...

Livehall runs as `make bench` runs it (bench/targets.py: `server.py
--processes 2` on 127.0.0.1 with Redis and the shared embedded store).
Before any server process starts, the store is filled straight with the
platform's own functions, so preparing is not measured: a public space, three
events with registration open and their forms (built by
`registration.form_edit.save`), and `--people` accounts, each with a reusable
profile and a session (the session cookie is signed as the server signs it).
Then, each phase bounded in time:

1. **form registrations**: every person submits the registration form of the
   first event once (POST /e/<space>/<event>/register, multipart as a
   browser sends it, with the XSRF cookie and field, nine fields of which
   one is shown only for one answer), `--concurrency` at a time; the event
   holds `--capacity` places, so the rest go to the waiting list.
   Registrations per second and the latency of a submission;
2. **one click**: `--one-click` people press "I'm going" for the second
   event, whose form their profile answers (POST .../register/one-click),
   `--one-click-concurrency` at a time: latency p50/p95/p99;
3. **visitors** (`--visitors`, 0 skips it): people without an account submit
   the third event's form with a name and an address: an account, an
   unconfirmed registration and a confirmation mail, delivered over SMTP to
   a sink this script runs (aiosmtpd).

Afterwards the store is checked: exactly the expected number registered and
waiting, one registration per person and event, every answer stored, the
places counter equal to the registrations, every mail delivered, and every
response the one a browser would get.  A run that fails any check says
FAILED and why, and reports no figures.  The table (Markdown) goes to
stdout, everything to bench/results/registration-<timestamp>.json.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import secrets
import sys
import time
import traceback
from urllib.parse import quote

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

from access import roles as R  # noqa: E402
from accounts import profile_fields, sessions, users  # noqa: E402
from events import model  # noqa: E402
from mongo_indexes import ensure_indexes  # noqa: E402
from registration import form_edit  # noqa: E402
from registration import forms as F  # noqa: E402
from storage.shared import SharedClient  # noqa: E402

SPACE = "bench-reg"


ROLES = ("teacher", "student", "other")
COUNTRIES = ("LV", "LT", "EE", "KZ", "DE", "IL")


# --- what is prepared ---------------------------------------------------------------------

def _f(fid, kind, en, ru, **more) -> dict:
    return {"id": fid, "type": kind, "label": {"en": en, "ru": ru}, "required": True, **more}


def _options(*pairs) -> list[dict]:
    return [{"value": v, "label": {"en": en, "ru": ru}} for v, en, ru in pairs]


def full_form() -> list[dict]:
    """Nine answers, five of them kept in the profile, one shown only to teachers."""
    return [
        _f("f_name", F.TEXT, "Name", "Имя", profile_key="name"),
        _f("f_company", F.TEXT, "Organisation", "Организация", profile_key="company"),
        _f("f_title", F.TEXT, "Job title", "Должность", required=False),
        _f("f_phone", F.PHONE, "Phone", "Телефон", profile_key="phone"),
        _f("f_country", F.COUNTRY, "Country", "Страна", profile_key="country"),
        _f("f_role", F.SINGLE, "Role", "Роль", profile_key="role",
           options=_options(("teacher", "Teacher", "Учитель"), ("student", "Student", "Студент"),
                            ("other", "Other", "Другое"))),
        _f("f_school", F.TEXT, "School", "Школа", condition={"field": "f_role", "values": ["teacher"]}),
        _f("f_topics", F.MULTIPLE, "Topics", "Темы", required=False,
           options=_options(("ai", "AI", "ИИ"), ("data", "Data", "Данные"), ("web", "Web", "Веб"))),
        _f("f_terms", F.CONSENT, "Terms", "Условия", consent={"text": {"en": "I agree", "ru": "Согласен"},
                                                               "version": 1}),
    ]


def profile_form() -> list[dict]:
    """Only what a profile answers: one click registers."""
    return [f for f in full_form() if f.get("profile_key")] + [
        _f("f_diet", F.TEXT, "Diet", "Питание", required=False)]


def answers_of(i: int) -> list[tuple[str, str]]:
    role = ROLES[i % len(ROLES)]
    out = [("f_name", f"Person {i}"), ("f_company", f"Company {i % 97}"), ("f_title", "Engineer"),
           ("f_phone", f"+371 2{i:07d}"), ("f_country", COUNTRIES[i % len(COUNTRIES)]), ("f_role", role)]
    if role == "teacher":
        out.append(("f_school", f"School {i % 31}"))
    out += [("f_topics", "ai"), ("f_topics", "web"), ("f_terms", "yes")]
    return out


def profile_of(i: int) -> dict:
    return {"company": f"Company {i % 97}", "phone": f"+371 2{i:07d}", "country": COUNTRIES[i % len(COUNTRIES)],
            "role": ROLES[i % len(ROLES)]}


async def _event(db, space, slug: str, title: str, capacity: int | None) -> dict:
    event = model.blank_event(space["_id"], slug, ["en", "ru"], "en", {"en": title, "ru": title})
    event["privacy"] = {"level": "public", "emails": []}
    event["registration"] = {"open": True, "capacity": capacity, "approval": False, "offer_hours": 24}
    return await model.create_event(db, event)


async def prepare(address: str, people: int, capacity: int, cookie_secret: str) -> dict:
    """The space, three events and their forms, and `people` accounts with profiles and sessions."""
    clients = [SharedClient(address) for _ in range(P.PARALLEL)]
    db = clients[0][P.DB_NAME]
    try:
        space = await model.create_space(db, slug=SPACE, name="Registration benchmark")
        staff = await users.create(db, email="organiser@bench.invalid", name="Organiser", locale="en",
                                   login="bench-organiser", platform_admin=True)
        events = {}
        for key, title, cap, fields in (("form", "Form registrations", capacity, full_form()),
                                        ("one_click", "One click", None, profile_form()),
                                        ("visitors", "Visitors", None, full_form())):
            event = await _event(db, space, key.replace("_", "-"), title, cap)
            form = await form_edit.save(db, staff, event, fields, expected_version=0)
            events[key] = {"id": str(event["_id"]), "slug": event["slug"], "form_version": form["version"],
                           "path": f"/e/{SPACE}/{event['slug']}/register"}
        ttl = datetime.timedelta(hours=6)

        async def make(db, i):
            user = await users.create(db, email=f"person{i}@bench.invalid", name=f"Person {i}", locale="en",
                                      login=f"bench-person-{i}")
            await profile_fields.save_values(db, user["_id"], profile_of(i))
            raw = await sessions.create(db, user["_id"], ttl, "bench", "127.0.0.1")
            cookie = create_signed_value(cookie_secret, sessions.COOKIE, raw).decode()
            return {"i": i, "user_id": str(user["_id"]), "cookie": cookie}

        accounts = await P._in_parallel(clients, list(range(people)), make)
        await ensure_indexes(db)
        return {"space": SPACE, "events": events, "people": accounts}
    finally:
        for client in clients:
            await client.close()


def multipart(fields: list[tuple[str, str]]) -> tuple[str, bytes]:
    boundary = "----livehallbench" + secrets.token_hex(8)
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n')
    parts.append(f"--{boundary}--\r\n")
    return f"multipart/form-data; boundary={boundary}", "".join(parts).encode()


# --- the load -------------------------------------------------------------------------------

async def run_requests(count: int, concurrency: int, seconds: float, request) -> dict:
    """`request(k)` for k in range(count), `concurrency` at a time, within `seconds`.
    Returns latencies of the answered ones, the unexpected answers, and the wall time."""
    queue = iter(range(count))
    took: list[float] = []
    wrong: dict[str, int] = {}
    started = time.monotonic()

    async def lane():
        for k in queue:
            t0 = time.monotonic()
            try:
                problem = await request(k)
            except Exception as exc:
                problem = f"{type(exc).__name__}: {str(exc)[:60]}"
            if problem:
                wrong[problem] = wrong.get(problem, 0) + 1
            else:
                took.append(time.monotonic() - t0)

    lanes = [asyncio.ensure_future(lane()) for _ in range(max(1, concurrency))]
    done, pending = await asyncio.wait(lanes, timeout=seconds)
    for task in pending:
        task.cancel()
    wall = time.monotonic() - started
    answered = len(took) + sum(wrong.values())
    if answered < count:
        wrong["not sent or not answered within the phase's time"] = count - answered
    return {"count": count, "ok": len(took), "wrong": wrong, "seconds": round(wall, 3),
            "per_second": round(len(took) / wall, 1) if wall else None, "latency_ms": report.percentiles(took, 1000)}


def expect_redirect(status: int, headers, location: str) -> str | None:
    where = next((v for k, v in headers if k.lower() == "location"), "")
    if status == 302 and where == location:
        return None
    return f"HTTP {status} to {where or '-'}"


async def form_phase(port_of, data: dict, people: list[dict], args) -> dict:
    event = data["events"]["form"]

    async def submit(k):
        person = people[k]
        xsrf = xsrf_value()
        ctype, body = multipart([("_xsrf", xsrf), ("form_version", str(event["form_version"]))]
                                + answers_of(person["i"]))
        status, headers, _ = await loadgen.http(port_of(k), "POST", event["path"], [
            ("Cookie", f"{sessions.COOKIE}={person['cookie']}; _xsrf={xsrf}"), ("Content-Type", ctype)], body)
        return expect_redirect(status, headers, event["path"])

    return await run_requests(len(people), args.concurrency, args.phase_timeout, submit)


async def one_click_phase(port_of, data: dict, people: list[dict], args) -> dict:
    event = data["events"]["one_click"]
    path = event["path"] + "/one-click"

    async def click(k):
        person = people[k]
        xsrf = xsrf_value()
        status, headers, _ = await loadgen.http(port_of(k), "POST", path, [
            ("Cookie", f"{sessions.COOKIE}={person['cookie']}; _xsrf={xsrf}"),
            ("Content-Type", "application/x-www-form-urlencoded")], ("_xsrf=" + quote(xsrf, safe="")).encode())
        return expect_redirect(status, headers, event["path"])

    return await run_requests(len(people), args.one_click_concurrency, args.phase_timeout, click)


async def visitor_phase(port_of, data: dict, count: int, args) -> dict:
    event = data["events"]["visitors"]

    async def submit(k):
        xsrf = xsrf_value()
        ctype, body = multipart([("_xsrf", xsrf), ("form_version", str(event["form_version"])),
                                 ("name", f"Visitor {k}"), ("email", f"visitor{k}@example.org")]
                                + answers_of(k))
        status, _, text = await loadgen.http(port_of(k), "POST", event["path"], [
            ("Cookie", f"_xsrf={xsrf}"), ("Content-Type", ctype)], body)
        # The "check your mail" page (the same whatever the address).
        return None if status == 200 and b"visitor" in text else f"HTTP {status}"

    return await run_requests(count, args.concurrency, args.phase_timeout, submit)


# --- checks afterwards ------------------------------------------------------------------------

async def verify(address: str, data: dict, args, mails_received) -> tuple[dict, list[str]]:
    """What the store holds after the run, and every way it differs from what must be."""
    from bson import ObjectId
    client = SharedClient(address)
    db = client[P.DB_NAME]
    problems: list[str] = []
    try:
        ids = {k: ObjectId(e["id"]) for k, e in data["events"].items()}

        async def states(event_id) -> dict:
            out: dict = {}
            async for m in db.memberships.find({"scope_id": event_id, "role": R.ATTENDEE}, {"state": 1}):
                out[m["state"]] = out.get(m["state"], 0) + 1
            return out

        async def duplicates(event_id) -> int:
            seen, dups = set(), 0
            async for m in db.memberships.find({"scope_id": event_id, "role": R.ATTENDEE}, {"user_id": 1}):
                dups += m["user_id"] in seen
                seen.add(m["user_id"])
            return dups

        found: dict = {}
        want_registered = min(args.people, args.capacity)
        want_waiting = args.people - want_registered
        s = found["form"] = {"states": await states(ids["form"]), "duplicates": await duplicates(ids["form"])}
        if s["states"] != {k: v for k, v in (("registered", want_registered), ("waiting", want_waiting)) if v}:
            problems.append(f"form event: states {s['states']}, expected {want_registered} registered "
                            f"and {want_waiting} waiting")
        positions = [m.get("position") async for m in db.memberships.find({"scope_id": ids["form"],
                                                                           "state": "waiting"})]
        if len(set(positions)) != len(positions) or None in positions:
            problems.append("form event: waiting list positions missing or repeated")
        counter = await db.registration_counters.find_one({"_id": f"event:{ids['form']}"}) or {}
        s["counter"] = {k: counter.get(k) for k in ("taken", "waiting", "next_position")}
        if (counter.get("taken"), counter.get("waiting")) != (want_registered, want_waiting):
            problems.append(f"form event: places counter {s['counter']}, expected {want_registered} taken "
                            f"and {want_waiting} waiting")
        incomplete = 0
        async for m in db.memberships.find({"scope_id": ids["form"]}, {"answers": 1, "source": 1}):
            given = m.get("answers") or {}
            if m.get("source") != "form" or not {"f_name", "f_phone", "f_role", "f_terms"} <= set(given):
                incomplete += 1
        if incomplete:
            problems.append(f"form event: {incomplete} registrations without their answers or source")

        s = found["one_click"] = {"states": await states(ids["one_click"]),
                                  "duplicates": await duplicates(ids["one_click"]),
                                  "sources": await db.memberships.distinct("source", {"scope_id": ids["one_click"]})}
        if s["states"] != ({"registered": args.one_click} if args.one_click else {}):
            problems.append(f"one-click event: states {s['states']}, expected {args.one_click} registered")
        if args.one_click and s["sources"] != ["one_click"]:
            problems.append(f"one-click event: sources {s['sources']}")

        if args.visitors:
            s = found["visitors"] = {"states": await states(ids["visitors"]),
                                     "duplicates": await duplicates(ids["visitors"]),
                                     "accounts": await db.users.count_documents(
                                         {"email": {"$regex": r"^visitor\d+@example\.org$"}})}
            outbox = {}
            async for e in db.outbox.find({"kind": "registration_confirm"}, {"status": 1}):
                outbox[e["status"]] = outbox.get(e["status"], 0) + 1
            s["outbox"] = outbox
            if s["states"] != {"unconfirmed": args.visitors} or s["accounts"] != args.visitors:
                problems.append(f"visitors: states {s['states']}, {s['accounts']} accounts, "
                                f"expected {args.visitors} unconfirmed")
            want_status = "sent" if args.smtp else "stored"
            if outbox != {want_status: args.visitors}:
                problems.append(f"visitors: confirmation mails {outbox}, expected {args.visitors} {want_status}")
        # Every mail (confirmations, and the notices of registrations and waiting places) left.
        mail: dict = {}
        async for e in db.outbox.find({}, {"status": 1}):
            mail[e["status"]] = mail.get(e["status"], 0) + 1
        found["mail"] = {"outbox": mail, "smtp_received": mails_received()}
        if args.smtp and (set(mail) - {"sent"} or mail.get("sent", 0) != found["mail"]["smtp_received"]):
            problems.append(f"mail: outbox {mail}, the SMTP sink received {found['mail']['smtp_received']}")
        for key, s in found.items():
            if s.get("duplicates"):
                problems.append(f"{key}: {s['duplicates']} duplicate registrations")
        return found, problems
    finally:
        await client.close()


async def wait_for_mail(address: str, count: int, seconds: float) -> None:
    """Mails leave in the background: until `count` confirmations are in the outbox and none is queued."""
    client = SharedClient(address)
    db = client[P.DB_NAME]
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await db.outbox.count_documents({"kind": "registration_confirm"}) >= count and \
                    not await db.outbox.count_documents({"status": "queued"}):
                return
            await asyncio.sleep(0.25)
    finally:
        await client.close()


# --- the run ------------------------------------------------------------------------------------

class SmtpSink:
    """An SMTP server on 127.0.0.1 that counts what it is given (aiosmtpd, from the dev requirements)."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        class Count:
            received = 0

            async def handle_DATA(self, server, session, envelope):
                Count.received += 1
                return "250 OK"

        self.handler = Count
        self.port = T.free_port()
        self.controller = Controller(Count(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def received(self) -> int:
        return self.handler.received

    def stop(self) -> None:
        self.controller.stop()


def measured(target, coro_factory) -> dict:
    before, t0 = cpu(target), time.monotonic()
    result = asyncio.run(coro_factory())
    after = cpu(target)
    result["cpu_seconds"] = {k: round(after[k] - before[k], 2) for k in before}
    if result["ok"]:
        for part in ("server", "store"):
            result[f"{part}_cpu_ms_each"] = round(result["cpu_seconds"][part] * 1000 / result["ok"], 2)
    result["wall_with_setup"] = round(time.monotonic() - t0, 2)
    return result


def run(args, workdir: str) -> dict:
    target = T.Livehall(workdir)
    target.cookie_secret = "bench-" + secrets.token_hex(16)
    sink = SmtpSink() if args.smtp else None
    target.extra_env = ({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink.port), "SMTP_TLS": "none",
                         "SMTP_USER": "", "SMTP_PASSWORD": "", "MAIL_FROM": "Livehall <bench@bench.invalid>"}
                        if sink else {"SMTP_HOST": ""})
    result: dict = {"phases": {}}
    t0 = time.monotonic()
    try:
        address = target.start_store()
        data = asyncio.run(prepare(address, args.people, args.capacity, target.cookie_secret))
        result["prepare_seconds"] = round(time.monotonic() - t0, 2)
        log(f"{args.people} people with profiles and sessions, 3 events and forms prepared in "
            f"{result['prepare_seconds']} s")
        target.start()
        log(f"serving on ports {target.ports}")
        ports = target.ports

        def port_of(k):
            return ports[k % len(ports)]   # spread as a load balancer would

        if args.generator_policy == "batch":
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        people = data["people"]
        phases = result["phases"]
        phases["form"] = measured(target, lambda: form_phase(port_of, data, people, args))
        log(f"form: {phases['form']['ok']}/{args.people} in {phases['form']['seconds']} s")
        phases["one_click"] = measured(target, lambda: one_click_phase(port_of, data, people[:args.one_click], args))
        log(f"one click: {phases['one_click']['ok']}/{args.one_click} in {phases['one_click']['seconds']} s")
        if args.visitors:
            phases["visitors"] = measured(target, lambda: visitor_phase(port_of, data, args.visitors, args))
            log(f"visitors: {phases['visitors']['ok']}/{args.visitors} in {phases['visitors']['seconds']} s")
        asyncio.run(wait_for_mail(address, args.visitors, args.phase_timeout))
        result["store"], problems = asyncio.run(verify(address, data, args, sink.received if sink else lambda: 0))
        for name, phase in phases.items():
            for what, n in phase["wrong"].items():
                problems.append(f"{name}: {n} × {what}")
        if problems:
            result["error"] = "; ".join(problems)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    finally:
        target.stop()
        if sink:
            sink.stop()
        result["seconds"] = round(time.monotonic() - t0, 1)
    return result


def _ms(phase: dict, p: str):
    return (phase.get("latency_ms") or {}).get(p)


def _trio(phase: dict, *ps: str) -> str:
    return " / ".join(report.fmt(_ms(phase, p)) for p in ps)


def _cpu(phase: dict) -> str:
    return f"{report.fmt(phase.get('server_cpu_ms_each'))} / {report.fmt(phase.get('store_cpu_ms_each'))}"


def table(doc: dict) -> str:
    """The Markdown table of a successful run; a failed one says FAILED and why."""
    m, o, r = doc["machine"], doc["options"], doc["result"]
    head = (f"Livehall registration benchmark {doc['date']} on {m['cores']} cores ({m['cpu'] or 'unknown CPU'}), "
            f"{o['people']} people, {o['capacity']} places")
    if "error" in r:
        return head + "\n\nFAILED: " + r["error"]
    ph = r["phases"]
    f, c = ph["form"], ph["one_click"]
    rows = [
        (f"form registrations per second ({o['concurrency']} concurrent)", f["per_second"]),
        ("form: registered / waiting list (checked in the store)",
         f"{min(o['people'], o['capacity'])} / {o['people'] - min(o['people'], o['capacity'])}"),
        ("form submission latency p50 / p95 / p99, ms", _trio(f, "p50", "p95", "p99")),
        ("form: server / store CPU per registration, ms", _cpu(f)),
        (f"one-click latency p50, ms ({o['one_click_concurrency']} concurrent)", _ms(c, "p50")),
        ("one-click latency p95, ms", _ms(c, "p95")),
        ("one-click latency p99, ms", _ms(c, "p99")),
        ("one-click latency max, ms", _ms(c, "max")),
        ("one-click registrations per second", c["per_second"]),
        ("one-click: server / store CPU per registration, ms", _cpu(c)),
    ]
    if "visitors" in ph:
        v = ph["visitors"]
        rows += [(f"visitor registrations per second (unconfirmed + mail, {o['concurrency']} concurrent)",
                  v["per_second"]),
                 ("visitor submission latency p50 / p95, ms", _trio(v, "p50", "p95")),
                 ("visitors: server / store CPU per registration, ms", _cpu(v)),
                 ("confirmation mails delivered over SMTP" if o["smtp"] else "confirmation mails stored",
                  o["visitors"])]
    rows.append(("duplicates, errors, lost registrations", 0))
    lines = [head, "", "| figure | value |", "|---|---:|"]
    lines += [f"| {label} | {report.fmt(value) if not isinstance(value, str) else value} |" for label, value in rows]
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bench/registration.py", description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=800, help="accounts; each submits the form once")
    p.add_argument("--capacity", type=int, default=640, help="places of the form event (the rest wait)")
    p.add_argument("--concurrency", type=int, default=32, help="form submissions in flight")
    p.add_argument("--one-click", type=int, default=400, help="people who register by one click")
    p.add_argument("--one-click-concurrency", type=int, default=16)
    p.add_argument("--visitors", type=int, default=200, help="registrations without an account (0: skip)")
    p.add_argument("--no-smtp", dest="smtp", action="store_false",
                   help="keep the mails in the outbox instead of sending them to the SMTP sink")
    p.add_argument("--generator-policy", choices=["batch", "normal"], default="batch",
                   help="scheduling policy of this process while it makes the load (as bench/run.py)")
    p.add_argument("--phase-timeout", type=float, default=90, help="each phase stops after this many seconds")
    p.add_argument("--max-seconds", type=float, default=300, help="the whole run stops after this many seconds")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="directory for the JSON")
    p.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (path printed)")
    args = p.parse_args(argv)
    if min(args.people, args.capacity, args.concurrency, args.one_click_concurrency) < 1 or args.visitors < 0:
        p.error("--people, --capacity and the concurrencies must be positive")
    if not 0 <= args.one_click <= args.people:
        p.error("--one-click must be between 0 and --people")
    if args.smtp:
        try:
            import aiosmtpd  # noqa: F401
        except ImportError:
            p.error("aiosmtpd is not installed (requirements-dev.txt); or run with --no-smtp")
    return args


def main(argv=None) -> int:
    return run_and_report("registration", parse_args(argv), run, table)


if __name__ == "__main__":
    sys.exit(main())
