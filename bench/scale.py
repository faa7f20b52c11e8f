"""`make bench-scale`: how each server's cost grows with the audience, drawn as a picture.

    .venv/bin/python bench/scale.py [--viewers 1000,3000,10000,30000] [--targets livehall,socketio-node,floor]

For every audience size, each target in turn runs the first phases of
`make bench` (bench/run.py: every viewer connects and joins its room, then
staff flip slides) on 127.0.0.1, on the same two cores, with nothing else
changed between sizes.  Livehall's viewers are given their sessions
beforehand (`bench/run.py --sessions`): signing in is measured by
`make bench`, holding the audience here.  Per size and
server it records:

- server CPU time per delivered flip frame (all server processes, from
  /proc, over the flip phase), and that figure as a multiple of the floor's
  (bench/peers/floor: one pre-built frame written to every socket, the least
  any server can do per delivered frame);
- flip latency p99 (from the flip to its arrival at every viewer) and flips
  that never arrived;
- server memory per viewer (RSS growth over the connect phase / viewers);
- how long connecting every viewer took.

Small audiences get more flips (`--frames`, at least `--flips`) so that each
CPU figure rests on enough frames for the kernel's 10 ms accounting ticks.
A size a server cannot hold (connections refused or a phase timing out) is
recorded with what it did hold, and the larger sizes are not tried for it.

Writes bench/results/scale-<timestamp>.json, prints a Markdown table and
draws the four curves into `--picture` (SVG, matplotlib), titled with the
date and the machine.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

import loadgen  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import targets as T  # noqa: E402

DEFAULT_TARGETS = ["livehall", "socketio-node", "floor"]
LABELS = {"livehall": "Livehall (2 processes, Redis)", "socketio-node": "Socket.IO on Node (2 processes, Redis)",
          "floor": "floor (2 uvloop processes, no protocol)", "python-socketio": "python-socketio",
          "plain-tornado": "plain Tornado"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def point(result: dict, viewers: int) -> dict:
    """The figures of one (server, size) run."""
    ph = result.get("phases", {})
    connect, flips = ph.get("connect", {}), ph.get("flips", {})
    held = connect.get("held") or 0
    return {
        "viewers": viewers, "held": held, "wanted": connect.get("wanted"),
        "connect_seconds": connect.get("seconds"),
        "rss_per_viewer_kib": connect.get("rss_per_connection_kib"),
        "idle_server_cores": connect.get("idle_server_cores"),
        "rss_all_mib": round(connect["rss_after_kib"] / 1024, 1) if connect.get("rss_after_kib") else None,
        "flips": flips.get("flips"), "delivered": flips.get("delivered"),
        "never_arrived": flips.get("never_arrived"),
        "flip_p50_ms": (flips.get("latency_ms") or {}).get("p50"),
        "flip_p99_ms": (flips.get("latency_ms") or {}).get("p99"),
        "cpu_us_per_frame": flips.get("server_cpu_us_per_frame"),
        "frame_bytes": flips.get("frame_bytes"),
        "server_cpu_s": (flips.get("cpu") or {}).get("server"),
        "redis_cpu_s": (flips.get("cpu") or {}).get("redis"),
        "store_cpu_s": (flips.get("cpu") or {}).get("store"),
        "redis_publishes_per_flip": report._per_flip(result, "redis_publishes"),
        "store_operations_per_flip": report._per_flip(result, "store_operations"),
        "idle_store_operations_per_s": report._idle_rate(result, "store_operations"),
        "error": result.get("error"),
    }



def holds(p: dict) -> bool:
    return not p["error"] and p["held"] >= p["viewers"] and p["never_arrived"] == 0


def run_options(args, viewers: int) -> argparse.Namespace:
    flips = max(args.flips, min(args.max_flips, -(-args.frames // viewers)))
    return run.parse_args([
        "--connections", str(viewers), "--flips", str(flips),
        "--flip-interval", str(args.flip_interval if viewers >= 10000 else args.flip_interval / 4),
        "--chat-seconds", "0", "--storm-window", "0", "--senders", "0",
        "--workers", str(args.workers), "--generator-policy", args.generator_policy,
        "--idle-seconds", str(args.idle_seconds), "--phase-timeout", str(args.phase_timeout),
        "--settle", str(args.settle),
        "--connect-concurrency", str(args.connect_concurrency), "--sessions",
    ])


def table(doc: dict) -> str:
    rows = ["| viewers | server | held | connect all, s | RSS per viewer, KiB | flip p50 / p99, ms | "
            "never arrived | server CPU per frame, µs | × floor |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in doc["viewers"]:
        floor = doc["points"].get("floor", {}).get(str(n), {}).get("cpu_us_per_frame")
        for name in doc["targets"]:
            p = doc["points"].get(name, {}).get(str(n))
            if p is None:
                rows.append(f"| {n:,} | {name} | not tried (a smaller size did not hold) | | | | | | |")
                continue
            ratio = f"{p['cpu_us_per_frame'] / floor:.2f}" if floor and p["cpu_us_per_frame"] else "-"
            note = "" if holds(p) else " (did not hold)"
            rows.append(f"| {n:,} | {name}{note} | {p['held']:,} | {p['connect_seconds']} | "
                        f"{p['rss_per_viewer_kib']} | {p['flip_p50_ms']} / {p['flip_p99_ms']} | "
                        f"{p['never_arrived']} | {p['cpu_us_per_frame']} | {ratio} |")
    return "\n".join(rows)


def draw(doc: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams["svg.hashsalt"] = "livehall"   # stable ids: a redrawn picture diffs cleanly
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    panels = [("cpu_us_per_frame", "server CPU per delivered flip frame, µs"),
              ("flip_p99_ms", "flip latency p99, ms"),
              ("rss_per_viewer_kib", "server memory per viewer, KiB"),
              ("connect_seconds", "time to connect every viewer, s")]
    styles = {"livehall": ("#1f6feb", "o"), "socketio-node": ("#d1242f", "s"), "floor": ("#6e7781", "^"),
              "python-socketio": ("#9a6700", "D"), "plain-tornado": ("#8250df", "v")}
    for ax, (key, title) in zip(axes.flat, panels):
        for name in doc["targets"]:
            pts = [p for p in doc["points"].get(name, {}).values() if p.get(key) is not None and holds(p)]
            if key == "rss_per_viewer_kib" and name == "floor":
                continue  # the floor keeps nothing per viewer: not a server to compare memory with
            if not pts:
                continue
            pts.sort(key=lambda p: p["viewers"])
            colour, marker = styles.get(name, ("black", "x"))
            ax.plot([p["viewers"] for p in pts], [p[key] for p in pts], marker=marker, color=colour,
                    label=LABELS.get(name, name))
        ax.set_xscale("log")
        ax.set_xticks(doc["viewers"])
        ax.set_xticklabels([f"{n // 1000}k" if n >= 1000 else str(n) for n in doc["viewers"]])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("viewers", fontsize=9)
        ax.grid(True, alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    m = doc["machine"]
    fig.suptitle(f"Livehall scaling, {doc['date'][:10]}: {m['cores']} cores ({m['cpu']}), "
                 f"{m['memory_gib']} GiB; servers, Redis, store and load generator on one machine", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bench/scale.py", description=__doc__.splitlines()[0])
    p.add_argument("--viewers", default="1000,3000,10000,30000", help="audience sizes, comma-separated")
    p.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help="servers, comma-separated (bench/run.py's)")
    p.add_argument("--flips", type=int, default=10, help="the fewest flips at any size")
    p.add_argument("--frames", type=int, default=100000, help="aim for this many delivered frames per size")
    p.add_argument("--max-flips", type=int, default=100)
    p.add_argument("--flip-interval", type=float, default=1.0,
                   help="seconds between flips from 10,000 viewers up (a quarter of it below)")
    p.add_argument("--workers", type=int, default=2, help="load generator processes")
    p.add_argument("--generator-policy", choices=["batch", "normal"], default="batch")
    p.add_argument("--idle-seconds", type=float, default=5, help="idle time before reading RSS")
    p.add_argument("--settle", type=float, default=3, help="seconds to wait for late flips")
    p.add_argument("--phase-timeout", type=float, default=240)
    p.add_argument("--connect-concurrency", type=int, default=200)
    p.add_argument("--picture", default=os.path.join(ROOT, "docs", "scale.svg"), help="where the SVG goes")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="directory for the JSON")
    p.add_argument("--redraw", metavar="JSON", help="draw --picture again from an earlier run's JSON; run nothing")
    args = p.parse_args(argv)
    args.viewers = sorted(int(v) for v in args.viewers.split(",") if v.strip())
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in args.targets if t not in T.TARGETS]
    if unknown or not args.viewers or min(args.viewers) < 1:
        p.error(f"unknown targets: {', '.join(unknown)}" if unknown else "--viewers must be positive")
    return args


def kernel_limits(most: int) -> list[str]:
    """What would stop the largest size on this machine before any server does."""
    problems = []
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        if high - low < most // 2 + 2000:   # two server ports share the client side's range
            problems.append(f"net.ipv4.ip_local_port_range is {low} {high}: raise it (e.g. 1024 65535) "
                            f"for {most:,} loopback clients")
    except OSError:
        pass
    limit = loadgen.raise_nofile()
    if limit < most // 2 + 1000:   # every server and the generator run two processes, each holding half
        problems.append(f"open files limit {limit}: {most:,} viewers over two processes need more "
                        f"(raise ulimit -Hn)")
    return problems


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.redraw:
        with open(args.redraw) as f:
            doc = json.load(f)
        draw(doc, args.picture)
        print(doc["table"])
        return 0
    for problem in kernel_limits(max(args.viewers)):
        log("warning: " + problem)
    stamp = datetime.datetime.now(datetime.UTC)
    workdir = tempfile.mkdtemp(prefix="livehall-scale-")

    def interrupted(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    doc = {"date": stamp.isoformat(timespec="seconds"), "machine": T.machine(), "viewers": args.viewers,
           "targets": args.targets, "options": {k: v for k, v in vars(args).items() if k != "out"},
           "load_average_before": os.getloadavg(), "points": {}}
    stopped: set = set()
    try:
        for n in args.viewers:
            for name in args.targets:
                if name in stopped:
                    continue
                log(f"=== {name} at {n:,} viewers ===")
                size = doc["points"].get("livehall", {}).get(str(n), {}).get("frame_bytes") or 0
                result = run.run_target(name, run_options(args, n), workdir, size)
                p = doc["points"].setdefault(name, {})[str(n)] = point(result, n)
                log(f"{name} at {n:,}: held {p['held']}, flip p99 {p['flip_p99_ms']} ms, "
                    f"{p['cpu_us_per_frame']} µs/frame, {p['rss_per_viewer_kib']} KiB/viewer")
                if not holds(p):
                    stopped.add(name)
                    log(f"{name} did not hold {n:,} viewers: larger sizes are not tried")
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        T.stop_all()
        return 130
    finally:
        T.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    doc["table"] = table(doc)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "scale-" + stamp.strftime("%Y%m%dT%H%M%SZ") + ".json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    draw(doc, args.picture)
    m = doc["machine"]
    print(f"Livehall scaling {doc['date']} on {m['cores']} cores ({m['cpu']}), "
          f"load average before the run {' '.join(f'{x:.2f}' for x in doc['load_average_before'])}\n")
    print(doc["table"])
    print(f"\nJSON: {path}\npicture: {args.picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
