"""The servers under test: start them on loopback, find their processes, read /proc, stop them.

Every server is started in a session of its own (its own process group), so
stopping it kills the whole group; `stop_all` runs at exit and on Ctrl-C.
Figures come from /proc: RSS is VmRSS of /proc/<pid>/status, CPU is
utime + stime of /proc/<pid>/stat.  Server figures add up the processes that
hold the sockets (Livehall's supervisor children, each peer's processes);
Redis and the embedded store are reported on their own.
"""
from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.join(HERE, "peers")
PYTHON = sys.executable
TICK = os.sysconf("SC_CLK_TCK")
_started: list[subprocess.Popen] = []


# --- ports and processes ---------------------------------------------------------

def _probe() -> socket.socket:
    # As every server here binds (Tornado, uvloop, Node, Redis): with SO_REUSEADDR, so the ports
    # that a previous run's tens of thousands of closed connections left in TIME_WAIT count as free.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


def free_port(span: int = 1) -> int:
    """A port p with p .. p+span-1 free on 127.0.0.1."""
    for _ in range(100):
        with _probe() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + span > 65535:
            continue
        try:
            for k in range(1, span):
                with _probe() as s:
                    s.bind(("127.0.0.1", port + k))
            return port
        except OSError:
            continue
    raise RuntimeError("no free ports")


def _raise_limits() -> None:
    os.setsid()
    for want in (1 << 16, resource.getrlimit(resource.RLIMIT_NOFILE)[1]):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            continue


def start(args: list[str], log_path: str, env=None, cwd=ROOT, pipe_stdout=False) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 (the child writes to it for its whole life)
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE if pipe_stdout else log, stderr=log,
                            preexec_fn=_raise_limits)
    proc.log = log
    _started.append(proc)
    return proc


def wait_ready(proc: subprocess.Popen, port: int, seconds: float = 60) -> None:
    """Until the process prints `READY <port>` (peers' contract)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{proc.args[:2]} exited before READY (see its log)")
        if line.strip() == f"READY {port}".encode():
            # Keep draining stdout into the log so a chatty peer never blocks on a full pipe.
            threading.Thread(target=_drain, args=(proc,), daemon=True).start()
            return
    raise RuntimeError(f"{proc.args[:2]} not ready after {seconds}s")


def _drain(proc: subprocess.Popen) -> None:
    try:
        for line in proc.stdout:
            proc.log.write(line)
    except (OSError, ValueError):
        pass


def wait_port(port: int, seconds: float = 30, path: str | None = None, proc=None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{' '.join(proc.args[:3])} exited with {proc.returncode} (see its log)")
        try:
            if path:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                    if r.status == 200:
                        return
            else:
                socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}{path or ''}")


def stop(proc: subprocess.Popen, seconds: float = 15) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group (children)
    except ProcessLookupError:
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    if proc.stdout:
        proc.stdout.close()
    proc.log.close()
    if proc in _started:
        _started.remove(proc)


def stop_all() -> None:
    for proc in list(reversed(_started)):
        stop(proc, 5)


def children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(name))
            except OSError:
                continue
    return out


def cpu_seconds(pids) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / TICK


def rss_kib(pids) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
            total += int(m.group(1)) if m else 0
        except OSError:
            continue
    return total


def redis_counts(port: int) -> dict:
    """Commands the Redis on `port` has served (INFO stats, this call included) and, of them, the
    publishes (INFO commandstats: SPUBLISH and PUBLISH), which is what a flip or a message costs Redis."""
    import redis
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    try:
        stats = client.info("commandstats")
        publishes = sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("spublish", "publish"))
        return {"redis_commands": int(client.info("stats")["total_commands_processed"]),
                "redis_publishes": publishes}
    finally:
        client.close()


def store_operations(address: str) -> int:
    """Operations the shared embedded store has served (its opcounters, as MongoDB's serverStatus)."""
    from storage.shared import SharedClient

    async def read():
        client = SharedClient(address)
        try:
            return await client.call("opcounters")
        finally:
            await client.close()
    return sum(asyncio.run(read()).values())


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem / 1024 / 1024, 1),
            "kernel": os.uname().release, "python": sys.version.split()[0]}


# --- Redis ----------------------------------------------------------------------------

class Redis:
    def __init__(self, workdir: str):
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=workdir)
        self.proc = start([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", self.dir, "--maxclients", "20000"],
                          os.path.join(workdir, "redis.log"))
        wait_port(self.port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop(self.proc)


# --- targets -----------------------------------------------------------------------------

class Target:
    """A server under test; `kind` names the generator adapter; `chat`: it relays chat."""
    name = kind = ""
    chat = True

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []
        self.redis: Redis | None = None
        self.ports: list[int] = []

    def server_pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def helper_pids(self) -> dict:
        return {"redis": [self.redis.proc.pid]} if self.redis else {}

    def load_counters(self) -> dict:
        """Work done by the shared services so far: Redis commands and (Livehall) database operations."""
        return redis_counts(self.redis.port) if self.redis else {}

    def log(self, name: str) -> str:
        return os.path.join(self.workdir, f"{self.name}-{name}.log")

    def stop(self) -> None:
        for proc in self.procs:
            stop(proc)
        if self.redis:
            self.redis.stop()


class Livehall(Target):
    """`server.py --processes 2` with Redis and the shared embedded store (started here, filled first)."""
    name, kind = "livehall", "livehall"

    def start_store(self) -> str:
        self.store_port = free_port()
        self.store = start([PYTHON, "server.py", "store-server", "--port", str(self.store_port)],
                           self.log("store"))
        wait_port(self.store_port, proc=self.store)
        return f"127.0.0.1:{self.store_port}"

    def start(self) -> None:
        self.redis = Redis(self.workdir)
        port = free_port(2)
        self.ports = [port, port + 1]
        # A benchmark that makes sessions itself (bench/registration.py) signs their cookies with
        # `cookie_secret`, and may point the mail at its own SMTP sink (`extra_env`).
        self.cookie_secret = getattr(self, "cookie_secret", None) or "bench-" + os.urandom(16).hex()
        env = dict(os.environ, PROCESSES="2", REDIS_URL=self.redis.url,
                   EMBEDDED_STORE_ADDRESS=f"127.0.0.1:{self.store_port}",
                   COOKIE_SECRET=self.cookie_secret, LOG_LEVEL="WARNING",
                   LOG_FORMAT="json", HOST="127.0.0.1", PORT=str(port))
        env.pop("MONGODB_URI", None)
        env.pop("BASE_URL", None)
        env.update(getattr(self, "extra_env", None) or {})
        self.supervisor = start([PYTHON, "server.py", "--port", str(port)], self.log("server"), env=env)
        for p in self.ports:
            wait_port(p, 60, "/healthz", proc=self.supervisor)

    def server_pids(self) -> list[int]:
        sup = getattr(self, "supervisor", None)
        return children(sup.pid) if sup is not None and sup.poll() is None else []

    def helper_pids(self) -> dict:
        return {"redis": [self.redis.proc.pid] if self.redis else [],
                "store": [self.store.pid] if getattr(self, "store", None) else []}

    def load_counters(self) -> dict:
        out = super().load_counters()
        if getattr(self, "store", None):
            out["store_operations"] = store_operations(f"127.0.0.1:{self.store_port}")
        return out

    def stop(self) -> None:
        if getattr(self, "supervisor", None):
            stop(self.supervisor, 30)
        if getattr(self, "store", None):
            stop(self.store)
        if self.redis:
            self.redis.stop()


class SocketIONode(Target):
    name, kind = "socketio-node", "socketio"

    def start(self) -> None:
        node = shutil.which("node")
        if not node:
            raise RuntimeError("node is not installed")
        self.redis = Redis(self.workdir)
        port = free_port(2)
        self.ports = [port, port + 1]
        for p in self.ports:
            proc = start([node, "server.js", "--port", str(p), "--redis", self.redis.url],
                         self.log(str(p)), cwd=os.path.join(PEERS, "socketio-node"), pipe_stdout=True)
            self.procs.append(proc)
            wait_ready(proc, p)


class PythonSocketIO(Target):
    name, kind = "python-socketio", "socketio"

    def start(self) -> None:
        self.redis = Redis(self.workdir)
        port = free_port(2)
        self.ports = [port, port + 1]
        for p in self.ports:
            proc = start([PYTHON, "server.py", "--port", str(p), "--redis", self.redis.url],
                         self.log(str(p)), cwd=os.path.join(PEERS, "python-socketio"), pipe_stdout=True)
            self.procs.append(proc)
            wait_ready(proc, p)


class PlainTornado(Target):
    name, kind = "plain-tornado", "plain"

    def start(self) -> None:
        port = free_port()
        self.ports = [port]
        proc = start([PYTHON, "server.py", "--port", str(port)], self.log(str(port)),
                     cwd=os.path.join(PEERS, "plain-tornado"), pipe_stdout=True)
        self.procs.append(proc)
        wait_ready(proc, port)


class Floor(Target):
    """The least any server can do per delivered frame (bench/peers/floor): no protocol, no rooms."""
    name, kind = "floor", "plain"
    chat = False   # it carries flips only: the chat and storm phases are not its to measure
    frame_bytes = 0  # pad flips to this size: the size of Livehall's flip frame when it ran first

    def start(self) -> None:
        port = free_port(2)
        self.ports = [port, port + 1]
        for p in self.ports:
            siblings = ",".join(str(q) for q in self.ports if q != p)
            proc = start([PYTHON, "server.py", "--port", str(p), "--siblings", siblings,
                          "--frame-bytes", str(self.frame_bytes)],
                         self.log(str(p)), cwd=os.path.join(PEERS, "floor"), pipe_stdout=True)
            self.procs.append(proc)
            wait_ready(proc, p)


class BareShop(Target):
    """The checkout floor (bench/peers/bare-shop): Tornado refusing every buyer with nothing behind it."""
    name, kind = "bare-shop", "http"
    chat = False
    cookie_secret = ""   # the secret Livehall's session cookies were signed with in the same run
    page_bytes = 2048    # the size of Livehall's sold-out page in the same run

    def start(self) -> None:
        port = free_port(2)
        self.ports = [port, port + 1]
        for p in self.ports:
            proc = start([PYTHON, "server.py", "--port", str(p), "--cookie-secret", self.cookie_secret,
                          "--page-bytes", str(self.page_bytes)],
                         self.log(str(p)), cwd=os.path.join(PEERS, "bare-shop"), pipe_stdout=True)
            self.procs.append(proc)
            wait_ready(proc, p)


TARGETS = {t.name: t for t in (Livehall, SocketIONode, PythonSocketIO, PlainTornado, Floor)}


def scrape_history_reads(ports) -> float:
    """Sum of livehall_history_reads_total over the server processes' /metrics."""
    total = 0.0
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("livehall_history_reads_total{"):
                    total += float(line.rsplit(" ", 1)[1])
    return total
