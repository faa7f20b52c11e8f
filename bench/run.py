"""`make bench`: Livehall and its peers under one load, side by side, in one table.

    .venv/bin/python bench/run.py [--connections 10000] [--targets livehall,plain-tornado] ...

For each target in turn (Livehall, Socket.IO on Node, python-socketio,
plain Tornado) the runner starts the server on 127.0.0.1, starts the load
generator's worker processes (bench/loadgen.py), and runs the same
scenario:

1. sign-in (Livehall only): every viewer signs in by its link, as a browser
   does; sign-ins per minute;
2. connect: every viewer opens a WebSocket (spread over the server's
   processes) and joins its language's chat room (peers: the same room
   names, plus the room slides are flipped in); connections held, server RSS
   growth per connection after a few idle seconds;
3. slide flips: staff flip `--flips` times (Livehall: POST
   /admin/events/<id>/control/slide_next|prev; peers: a `flip` frame); the
   latency from sending the flip to its arrival at every viewer, percentiles
   over all (viewer, flip) pairs, and how many never arrived; server CPU per
   delivered frame;
4. chat fan-out: `--senders` connections post `--chat-rate` messages a second
   in total into the biggest room for `--chat-seconds` (each sender below
   Livehall's 5 frames/s); sent, delivered, lost and duplicated messages and
   latency (see bench/loadgen.py for exactly what every client and the
   sample clients verify); server CPU per delivered frame;
5. reconnect storm (Livehall only): every viewer drops within a second and
   reconnects within `--storm-window` seconds while chat goes on at
   `--storm-rate`, resuming its room by epoch/offset: when the last one is
   back, how long each waited from its reconnect to its resume, gaps,
   duplicates and chat history reads from the database
   (livehall_history_reads_total on every process's /metrics) per room.

Every phase is bounded in time; everything started is stopped at the end, on
an error and on Ctrl-C.  The table goes to stdout, the full figures to
bench/results/<timestamp>.json.
"""
from __future__ import annotations

import argparse
import array
import asyncio
import atexit
import bisect
import datetime
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

import loadgen  # noqa: E402
import report  # noqa: E402
import targets as T  # noqa: E402

ORDER = ["livehall", "socketio-node", "python-socketio", "plain-tornado", "floor"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- workers -----------------------------------------------------------------------------

class Workers:
    """The generator's processes; `call` sends one command to some or all and gathers replies."""

    def __init__(self, count: int, batch_policy: bool = True):
        ctx = multiprocessing.get_context("spawn")
        self.pipes, self.procs = [], []
        for wid in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=loadgen.worker_main, args=(child, wid, batch_policy), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def send(self, command: str, which=None, **args) -> list:
        chosen = range(len(self.pipes)) if which is None else which
        for i in chosen:
            self.pipes[i].send((command, args))
        return list(chosen)

    def gather(self, chosen, timeout: float) -> list:
        out = []
        for i in chosen:
            if not self.pipes[i].poll(timeout):
                raise TimeoutError(f"worker {i} did not answer in {timeout}s")
            reply = self.pipes[i].recv()
            if isinstance(reply, dict) and "error" in reply:
                raise RuntimeError(f"worker {i}: {reply['error']}")
            out.append(reply)
        return out

    def call(self, command: str, which=None, timeout: float = 600, **args) -> list:
        return self.gather(self.send(command, which, **args), timeout)

    def stop(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("exit", {}))
            except OSError:
                pass
        deadline = time.monotonic() + 10
        for proc in self.procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(2)


# --- one target -----------------------------------------------------------------------------

def plan_clients(n: int, locales: list[str], senders: int, sample_every: int, room_locale: str,
                 accounts: dict | None) -> list[dict]:
    specs = []
    for i in range(n):
        locale = locales[i]
        role = "sample" if locale == room_locale and i % sample_every == 0 else "viewer"
        spec = {"i": i, "role": role, "locale": locale}
        if accounts:
            spec["token"] = accounts["attendees"][i]["token"]
            spec["cookie"] = accounts["attendees"][i].get("cookie")
        specs.append(spec)
    for k in range(senders):
        spec = {"i": n + k, "role": "sender", "locale": room_locale, "sid": k + 1}
        if accounts:
            spec["token"] = accounts["senders"][k]["token"]
            spec["cookie"] = accounts["senders"][k].get("cookie")
        specs.append(spec)
    staff = {"i": n + senders, "role": "staff", "locale": room_locale}
    if accounts:
        staff["token"] = accounts["staff"]["token"]
    specs.append(staff)
    return specs


class Meter:
    """CPU seconds of the server, helper and generator processes between two points."""

    def __init__(self, target, workers):
        self.target, self.workers = target, workers

    def read(self) -> dict:
        helpers = self.target.helper_pids()
        return {"t": time.monotonic(), "server": T.cpu_seconds(self.target.server_pids()),
                "generator": T.cpu_seconds(self.workers.pids()),
                **{k: T.cpu_seconds(v) for k, v in helpers.items()}, **self.target.load_counters()}

    @staticmethod
    def delta(a: dict, b: dict) -> dict:
        return {k: round(b[k] - a[k], 3) for k in a if k in b}


def wait_stable(workers: Workers, seconds: float, quiet: float, ack_wanted: bool, key: str = "chat") -> list:
    """Poll counts until `key` stops growing for `quiet` s and (Livehall) every send is acked.

    At most `seconds`: what has not arrived by then counts as lost.
    """
    deadline = time.monotonic() + seconds
    last, since = None, time.monotonic()
    while True:
        counts = workers.call("counts", timeout=30)
        value = (sum(c[key] for c in counts), sum(c["acks"] for c in counts))
        unanswered = ack_wanted and value[1] < sum(c["sent"] for c in counts)
        if value != last:
            last, since = value, time.monotonic()
        elif (time.monotonic() - since >= quiet and not unanswered) or time.monotonic() > deadline:
            return counts
        if time.monotonic() > deadline:
            return counts
        time.sleep(0.25)


def chat_figures(replies: list, kind: str, room_viewers: int, sent_window: float) -> dict:
    """Turn the workers' chat reports into sent / delivered / lost / duplicated / latency."""
    sent_ids, stored_ids, offsets = set(), set(), []
    for r in replies:
        for sid, blob in r["sent"].items():
            sent_ids.update(sid * loadgen.ID_BASE + s for s in array.array("q", blob))
        for sid, acks in r["acks"].items():
            stored_ids.update(sid * loadgen.ID_BASE + s for s in acks)
            offsets.extend(acks.values())
    expected_ids = stored_ids if kind == "livehall" else sent_ids
    delivered = sum(r["chat"] for r in replies)
    expected = len(expected_ids) * room_viewers
    lat = array.array("d")
    sample_lost = sample_dups = sample_extra = n_samples = 0
    for r in replies:
        for s in r["samples"]:
            ids = array.array("q", s["ids"])
            got = set(ids)
            n_samples += 1
            sample_lost += len(expected_ids - got)
            sample_dups += len(ids) - len(got)
            sample_extra += len(got - expected_ids)
            lat.extend(array.array("d", s["lat"]))
    out = {
        "sent": len(sent_ids), "stored": len(stored_ids) if kind == "livehall" else None,
        "unanswered": len(sent_ids - stored_ids) if kind == "livehall" else None,
        "send_rate": round(len(sent_ids) / sent_window, 1) if sent_window else None,
        "room_viewers": room_viewers, "expected": expected, "delivered": delivered,
        "missing_all": max(0, expected - delivered), "sample_clients": n_samples,
        "sample_lost": sample_lost, "sample_dups": sample_dups, "sample_unexpected": sample_extra,
        "latency_ms": report.percentiles(lat, 1000), "others_chat": sum(r["others_chat"] for r in replies),
        "senders_chat": sum(r["senders_chat"] for r in replies),
        "errors": report.merge_counts(r["errors"] for r in replies),
    }
    if kind == "livehall":
        out["duplicate_acks"] = sum(r["duplicate_acks"] for r in replies)
        out["offsets"] = sorted(offsets)
        out["dups_all"] = sum(r["dups"] for r in replies)
        out["jumps"] = [j for r in replies for j in r["jumps"]]
        out["fills"] = [f for r in replies for f in r.get("fills", [])]
        out["final_offsets"] = [o for r in replies for o in r["offsets"]]
    return out


def livehall_gaps(fig: dict, all_offsets: list) -> tuple[int, int]:
    """Stored entries a viewer skipped (jumps over existing offsets) and viewers behind at the end."""
    gaps = 0
    for a, b in fig.pop("jumps", []):
        gaps += bisect.bisect_left(all_offsets, b) - bisect.bisect_right(all_offsets, a)
    known = set(all_offsets)
    gaps -= sum(1 for f in fig.pop("fills", []) if f in known)   # arrived late, not lost
    newest = all_offsets[-1] if all_offsets else 0
    behind = 0
    for o in fig.pop("final_offsets", []):
        if o < newest:
            behind += 1
            gaps += len(all_offsets) - bisect.bisect_right(all_offsets, o)
    return gaps, behind


def run_target(name: str, args, workdir: str, frame_bytes: int = 0) -> dict:
    """One server through the scenario; `frame_bytes`: the floor pads its flips to this size."""
    target = T.TARGETS[name](workdir)
    target.frame_bytes = frame_bytes
    mix = [(part.split(":")[0], float(part.split(":")[1])) for part in args.locales.split(",")]
    room_locale = mix[0][0]
    import prepare
    locales = prepare.spread_locales(args.connections, mix)
    result: dict = {"target": name, "phases": {}}
    workers = None
    try:
        accounts = None
        t0 = time.monotonic()
        if name == "livehall":
            address = target.start_store()
            if args.sessions:   # sessions made beforehand, signed with the secret the server is given
                target.cookie_secret = "bench-" + os.urandom(16).hex()
            accounts = asyncio.run(prepare.prepare(address, locales, room_locale, args.senders,
                                                   [m[0] for m in mix],
                                                   cookie_secret=target.cookie_secret if args.sessions else None))
            result["prepare_seconds"] = round(time.monotonic() - t0, 2)
            log(f"{name}: {args.connections} attendees, {args.senders} senders and their links prepared "
                f"in {result['prepare_seconds']} s")
        target.start()
        log(f"{name}: serving on ports {target.ports}")
        specs = plan_clients(args.connections, locales, args.senders, args.sample_every, room_locale, accounts)
        workers = Workers(args.workers, args.generator_policy == "batch")
        slices = [[] for _ in range(args.workers)]
        for spec in specs[:-1]:
            slices[spec["i"] % args.workers].append(spec)
        slices[0].append(specs[-1])  # staff (the flipper) lives in worker 0
        tinfo = {"kind": target.kind, "ports": target.ports, "flip_room": "ev",
                 "event_id": accounts["event_id"] if accounts else None}
        for i, chunk in enumerate(slices):
            workers.call("init", [i], target=tinfo, clients=chunk)
        meter = Meter(target, workers)
        phases = result["phases"]
        viewers_n = args.connections
        room_viewers = sum(1 for loc in locales if loc == room_locale)

        # 1. sign-in by link
        if name == "livehall":
            m0 = meter.read()
            replies = workers.call("signin", concurrency=args.signin_concurrency, seconds=args.phase_timeout,
                                   timeout=args.phase_timeout + 60)
            m1 = meter.read()
            took = array.array("d")
            for r in replies:
                took.extend(array.array("d", r["took"]))
            ok = sum(r["ok"] for r in replies)
            wall = max(r["ended"] for r in replies) - min(r["started"] for r in replies)
            phases["signin"] = {"ok": ok, "failed": report.merge_counts(r["failed"] for r in replies),
                                "seconds": round(wall, 2), "per_minute": round(ok / wall * 60) if wall else None,
                                "latency_ms": report.percentiles(took, 1000), "cpu": Meter.delta(m0, m1)}
            log(f"{name}: {ok} sign-ins in {wall:.1f} s")

        # 2. connect and hold
        time.sleep(0.5)
        rss0 = T.rss_kib(target.server_pids())
        m0 = meter.read()
        replies = workers.call("connect", concurrency=args.connect_concurrency, timeout=args.phase_timeout + 60,
                               connect_timeout=args.connect_timeout, seconds=args.phase_timeout)
        m1 = meter.read()
        held = sum(r["ok"] for r in replies)
        wanted = sum(r["wanted"] for r in replies)
        took = array.array("d")
        for r in replies:
            took.extend(array.array("d", r["took"]))
        wall = max(r["ended"] for r in replies) - min(r["started"] for r in replies)
        time.sleep(min(1.0, args.idle_seconds))   # the last connects settle
        i0 = meter.read()
        time.sleep(max(0.0, args.idle_seconds - 1.0))
        i1 = meter.read()
        rss1 = T.rss_kib(target.server_pids())
        helpers = {k: T.rss_kib(v) for k, v in target.helper_pids().items()}
        phases["connect"] = {"wanted": wanted, "held": held, "seconds": round(wall, 2),
                             "latency_ms": report.percentiles(took, 1000),
                             "errors": report.merge_counts(r["errors"] for r in replies),
                             "rss_before_kib": rss0, "rss_after_kib": rss1,
                             "rss_per_connection_kib": round((rss1 - rss0) / held, 2) if held else None,
                             "helpers_rss_kib": helpers, "cpu": Meter.delta(m0, m1),
                             # What holding the audience costs with nothing happening (pings, timers).
                             "idle_server_cores": round((i1["server"] - i0["server"]) / (i1["t"] - i0["t"]), 4)
                             if i1["t"] > i0["t"] else None,
                             # Counters' rates with the audience idle (device refreshes, presence, pings):
                             # what a flip or a message costs is counted net of these.
                             "idle_rates": {k: round((i1[k] - i0[k]) / (i1["t"] - i0["t"]), 2) for k in i0
                                            if k in i1 and k != "t"} if i1["t"] > i0["t"] else {}}
        log(f"{name}: {held}/{wanted} connections held ({wall:.1f} s), "
            f"RSS {rss0 // 1024} -> {rss1 // 1024} MiB")

        # 3. slide flips
        base = max(r["version"] for r in replies) if name == "livehall" else 0
        sent: dict = {}
        statuses = []
        m0 = meter.read()
        for k in range(1, args.flips + 1):
            reply = workers.call("flip", [0], n=base + k, forward=k % 2 == 1, timeout=60)[0]
            sent[base + k] = reply["t0"]
            statuses.append(reply["status"])
            time.sleep(args.flip_interval)
        time.sleep(args.settle)
        m1 = meter.read()
        replies = workers.call("flip_report", sent=sent, timeout=120)
        lat = array.array("d")
        for r in replies:
            lat.extend(array.array("d", r["lat"]))
        missing = sum(r["missing"] for r in replies)
        cpu = Meter.delta(m0, m1)
        delivered = len(lat)
        phases["flips"] = {"flips": args.flips, "viewers": sum(r["viewers"] for r in replies), "delivered": delivered,
                           "never_arrived": missing, "latency_ms": report.percentiles(lat, 1000),
                           "http_status": sorted(set(statuses)), "cpu": cpu,
                           "frame_bytes": max(r.get("frame_bytes", 0) for r in replies),
                           "server_cpu_us_per_frame": round(cpu["server"] / delivered * 1e6, 2) if delivered else None}
        log(f"{name}: flips delivered {delivered}, never arrived {missing}, "
            f"p99 {phases['flips']['latency_ms'].get('p99')} ms")

        # 4. chat fan-out
        all_offsets: list = []    # every chat offset stored, for the storm's gaps too (none if chat is skipped)
        if target.chat and args.chat_seconds > 0:
            senders_per = [sum(1 for s in sl if s["role"] == "sender") for sl in slices]
            rate_each = args.chat_rate / max(1, args.senders)
            m0 = meter.read()
            workers.call("chat_start", rate_per_sender=rate_each, seconds=args.chat_seconds, timeout=30)
            time.sleep(args.chat_seconds)
            wait_stable(workers, args.drain, args.quiet, target.kind == "livehall")
            m1 = meter.read()
            replies = workers.call("chat_report", locale=room_locale, timeout=120)
            chat = chat_figures(replies, target.kind, room_viewers, args.chat_seconds)
            cpu = Meter.delta(m0, m1)
            frames = chat["delivered"] + chat["senders_chat"]
            chat.update(cpu=cpu, senders=sum(senders_per), seconds=round(m1["t"] - m0["t"], 2),
                        server_cpu_us_per_frame=round(cpu["server"] / frames * 1e6, 2) if frames else None,
                        generator_busy=round(cpu["generator"] / (m1["t"] - m0["t"]), 2))
            all_offsets = chat.pop("offsets", [])
            if name == "livehall":
                chat["gaps_all"], chat["behind_all"] = livehall_gaps(chat, all_offsets)
            phases["chat"] = chat
            log(f"{name}: chat sent {chat['sent']}, delivered {chat['delivered']}/{chat['expected']}, "
                f"p99 {chat['latency_ms'].get('p99')} ms")

        # 5. reconnect storm (Livehall)
        if name == "livehall" and args.storm_window > 0:
            reads0 = T.scrape_history_reads(target.ports)
            m0 = meter.read()
            storm_chat = args.storm_window + 1
            workers.call("chat_start", rate_per_sender=args.storm_rate / max(1, args.senders),
                         seconds=storm_chat, timeout=30)
            started = time.monotonic()
            stormed = workers.call("storm", drop_spread=min(1.0, args.storm_window / 4), window=args.storm_window,
                         concurrency=args.connect_concurrency, connect_timeout=args.connect_timeout, timeout=30)
            deadline = started + args.storm_window + args.connect_timeout + 10
            while time.monotonic() < deadline:
                status = workers.call("storm_status", timeout=30)
                if sum(s["done"] + s["failed"] for s in status) >= sum(s["viewers"] for s in stormed):
                    break
                time.sleep(0.5)
            time.sleep(max(0.0, started + storm_chat - time.monotonic()))
            wait_stable(workers, args.drain, args.quiet, target.kind == "livehall")
            m1 = meter.read()
            reads1 = T.scrape_history_reads(target.ports)
            storm = workers.call("storm_report", timeout=60)
            waits = [w for s in storm for w in array.array("d", s.pop("waits"))]
            replies = workers.call("chat_report", locale=room_locale, timeout=120)
            schat = chat_figures(replies, target.kind, room_viewers, storm_chat)
            all_offsets = sorted(all_offsets + schat.pop("offsets", []))
            gaps, behind = livehall_gaps(schat, all_offsets)
            last = max(s["last_rejoin"] for s in storm)
            rooms = len({loc for loc in locales})
            phases["storm"] = {
                "viewers": sum(s["viewers"] for s in stormed), "rejoined": sum(s["rejoined"] for s in storm),
                "failed": sum(s["failed"] for s in storm),
                "recovered": sum(s["recovered"] for s in storm),
                "not_recovered": sum(s["not_recovered"] for s in storm),
                "missed_replayed": sum(s["missed"] for s in storm),
                "all_back_seconds": round(last - started, 2) if last else None,
                # The part the server controls: the reconnects themselves are spread over the window.
                "back_after_last_reconnect_seconds":
                    round(last - max(s["last_reconnect"] for s in storm), 2) if last else None,
                "resume_wait_ms": report.percentiles(waits, 1000),
                "chat_stored": schat["stored"], "chat_delivered": schat["delivered"],
                "chat_expected": schat["expected"], "gaps": gaps, "viewers_behind": behind,
                "dups": schat["dups_all"], "sample_lost": schat["sample_lost"],
                "sample_dups": schat["sample_dups"],
                "history_reads": reads1 - reads0, "rooms": rooms, "processes": len(target.ports),
                "history_reads_per_room": round((reads1 - reads0) / rooms, 2),
                "errors": report.merge_counts(s["errors"] for s in storm), "cpu": Meter.delta(m0, m1),
            }
            log(f"{name}: storm rejoined {phases['storm']['rejoined']}/{phases['storm']['viewers']} in "
                f"{phases['storm']['all_back_seconds']} s, gaps {gaps}, dups {schat['dups_all']}, "
                f"history reads {reads1 - reads0}")
        result["generator_cpu_seconds"] = round(T.cpu_seconds(workers.pids()), 2)
        result["server_rss_kib_end"] = T.rss_kib(target.server_pids())
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
        log(f"{name}: FAILED: {result['error']} (logs in {workdir})")
    finally:
        if workers is not None:
            workers.stop()
        target.stop()
        result["seconds"] = round(time.monotonic() - t0, 1) if "t0" in locals() else None
    return result


# --- command line ----------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bench/run.py", description="Livehall load benchmark against its peers")
    p.add_argument("--connections", type=int, default=10000, help="viewers per target")
    p.add_argument("--targets", default=",".join(ORDER), help="comma-separated: " + ", ".join(ORDER))
    p.add_argument("--workers", type=int, default=2, help="load generator processes")
    p.add_argument("--generator-policy", choices=["batch", "normal"], default="batch",
                   help="scheduling policy of the generator's processes (batch: their wake-ups do not "
                        "preempt the servers, as clients on other machines would not)")
    p.add_argument("--locales", default="en:0.9,ru:0.05,de:0.05",
                   help="viewers' languages and shares; the first is the chat room")
    p.add_argument("--flips", type=int, default=20)
    p.add_argument("--flip-interval", type=float, default=1.0, help="seconds between flips")
    p.add_argument("--senders", type=int, default=50)
    p.add_argument("--chat-rate", type=float, default=200, help="chat messages per second, all senders")
    p.add_argument("--chat-seconds", type=float, default=20)
    p.add_argument("--storm-window", type=float, default=8,
                   help="Livehall reconnect storm: every viewer is back within this many seconds (0: skip)")
    p.add_argument("--storm-rate", type=float, default=20, help="chat messages per second during the storm")
    p.add_argument("--sample-every", type=int, default=100, help="1 in N room viewers checks every message")
    p.add_argument("--sessions", action="store_true",
                   help="Livehall: give viewers sessions beforehand instead of signing each in by link "
                        "(the staff still signs in)")
    p.add_argument("--signin-concurrency", type=int, default=16, help="sign-ins in flight per worker")
    p.add_argument("--connect-concurrency", type=int, default=200, help="connects in flight per worker")
    p.add_argument("--connect-timeout", type=float, default=60)
    p.add_argument("--idle-seconds", type=float, default=5, help="idle time before reading RSS")
    p.add_argument("--settle", type=float, default=3, help="seconds to wait for late flips")
    p.add_argument("--drain", type=float, default=30, help="at most this long waiting for chat to arrive")
    p.add_argument("--quiet", type=float, default=2,
                   help="chat has drained when nothing arrived for this many seconds")
    p.add_argument("--phase-timeout", type=float, default=180,
                   help="sign-in and connect phases stop after this many seconds; the rest count as failed")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="directory for the JSON")
    p.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (path printed)")
    args = p.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in args.targets if t not in T.TARGETS]
    if unknown:
        p.error(f"unknown targets: {', '.join(unknown)}")
    if args.senders and args.chat_rate / args.senders > 5:
        p.error("each sender must stay under Livehall's 5 frames a second: add --senders")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    loadgen.raise_nofile()
    workdir = tempfile.mkdtemp(prefix="livehall-bench-")
    atexit.register(T.stop_all)

    def interrupted(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    stamp = datetime.datetime.now(datetime.UTC)
    results = {}
    try:
        for name in args.targets:
            log(f"=== {name} ===")
            size = report._get(results.get("livehall", {}), "phases", "flips", "frame_bytes") or 0
            results[name] = run_target(name, args, workdir, size)
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        T.stop_all()
        return 130
    finally:
        T.stop_all()
    doc = {"date": stamp.isoformat(timespec="seconds"), "machine": T.machine(),
           "options": {k: v for k, v in vars(args).items() if k not in ("out",)}, "results": results}
    table = report.table(doc)
    doc["table"] = table
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, stamp.strftime("%Y%m%dT%H%M%SZ") + ".json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    print(table)
    print(f"\nJSON: {path}")
    if args.keep_logs:
        print(f"logs: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
