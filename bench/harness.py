"""What the benchmark scripts share: free ports, starting `server.py` processes, XSRF tokens, CPU readings, a log.

Each benchmark (`registration.py`, `checkout.py`, `reminders.py`,
`certificates.py`) starts its own servers on 127.0.0.1, drives them, and
reads their CPU; the small pieces they have in common live here.
"""
from __future__ import annotations

import binascii
import os
import socket
import subprocess
import sys
import time

import targets as T

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def spawn(args: list[str], env: dict, log_path: str) -> subprocess.Popen:
    """A `server.py` process writing its output to `log_path`."""
    with open(log_path, "w") as out:
        return subprocess.Popen([sys.executable, os.path.join(ROOT, "server.py"), *args], env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def _masked(mask: bytes, token: bytes) -> bytes:
    """The XSRF token's version-2 masking (each byte XORed with the 4-byte mask, cycled), as Tornado writes it."""
    return bytes(b ^ mask[i % 4] for i, b in enumerate(token))


def xsrf_value() -> str:
    """An XSRF token as Tornado's version 2 writes it (the cookie and the form field carry the same)."""
    token, mask = os.urandom(16), os.urandom(4)
    return "2|%s|%s|%d" % (binascii.b2a_hex(mask).decode(), binascii.b2a_hex(_masked(mask, token)).decode(),
                           int(time.time()))


def cpu(target) -> dict:
    """CPU seconds so far of a running target's server processes and of each of its helpers."""
    return {"server": T.cpu_seconds(target.server_pids()),
            **{k: T.cpu_seconds(v) for k, v in target.helper_pids().items()}}


def run_and_report(name: str, args, run, table) -> int:
    """A benchmark's whole life: `run(args, workdir)` bounded by `args.max_seconds`, every server it
    started stopped whatever happens, the JSON written to `args.out/<name>-<timestamp>.json` and
    `table(doc)` printed; the exit status says whether the run failed (its logs are then kept)."""
    import atexit
    import datetime
    import json
    import shutil
    import signal
    import tempfile

    import loadgen
    loadgen.raise_nofile()
    workdir = tempfile.mkdtemp(prefix=f"livehall-bench-{name}-")
    atexit.register(T.stop_all)

    def interrupted(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGALRM, interrupted)
    signal.alarm(int(args.max_seconds))
    stamp = datetime.datetime.now(datetime.UTC)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        result = run(args, workdir)
    except KeyboardInterrupt:
        log("interrupted or out of time: stopping everything")
        T.stop_all()
        result = {"error": f"stopped: interrupted or longer than {args.max_seconds} s"}
    finally:
        signal.alarm(0)
        T.stop_all()
    doc = {"date": stamp.isoformat(timespec="seconds"), "machine": T.machine(), "load_average": load,
           "options": {k: v for k, v in vars(args).items() if k not in ("out",)}, "result": result}
    doc["table"] = table(doc)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{name}-" + stamp.strftime("%Y%m%dT%H%M%SZ") + ".json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    print(doc["table"])
    print(f"\nJSON: {path}")
    if args.keep_logs or "error" in result:
        print(f"logs: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if "error" in result else 0
