"""The PROCESSES=N supervisor stops together even when SIGTERM comes while it restarts a process."""
import os
import signal
import subprocess
import sys
import time
import urllib.request

from tests.servers import free_port_pair

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, ARGON2_TIME_COST="1", ARGON2_MEMORY_KIB="1024", LOG_FORMAT="json", PROCESSES="2")


def wait_for(url: str, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def children(pid: int) -> dict[int, str]:
    out = subprocess.run(["ps", "ww", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return {int(line.split(None, 1)[0]): line.split(None, 1)[1] for line in out.splitlines() if line.strip()}


def test_sigterm_while_a_process_is_being_restarted_stops_everything():
    port = free_port_pair()
    env = dict(ENV)
    env.pop("MONGODB_URI", None)
    proc = subprocess.Popen([sys.executable, "server.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = []
    try:
        for p in (port, port + 1):
            wait_for(f"http://127.0.0.1:{p}/healthz")
        started = list(children(proc.pid))
        first = next(pid for pid, args in children(proc.pid).items() if f"--port {port}" in args)
        os.kill(first, signal.SIGKILL)
        # The supervisor notices within 0.2 s and waits 1 s before the restart: stop it in between.
        time.sleep(0.6)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        leftovers = [pid for pid in set(started) | set(children(proc.pid)) if _alive(pid)]
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert not leftovers, leftovers


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
