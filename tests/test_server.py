"""The entry point as an operator runs it: sub-commands, demo start, SIGTERM."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from tests.servers import free_port, free_port_pair

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, ARGON2_TIME_COST="1", ARGON2_MEMORY_KIB="1024", LOG_FORMAT="json")


def run(*args, timeout=60, env=None):
    return subprocess.run([sys.executable, "server.py", *args], cwd=ROOT, env=env or ENV,
                          capture_output=True, text=True, timeout=timeout)


def wait_for(url, deadline=30):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.status, r.read().decode()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_ensure_indexes_command():
    r = run("ensure-indexes")
    assert r.returncode == 0, r.stderr
    assert "indexes ensured" in r.stdout


def test_create_admin_command_validates_and_creates():
    bad = run("create-admin", "--email", "not-an-email", "--password", "long enough pw")
    assert bad.returncode == 2 and "not an email" in bad.stderr
    short = run("create-admin", "--email", "boss@example.org", "--password", "short")
    assert short.returncode == 2
    ok = run("create-admin", "--email", "boss@example.org", "--password", "long enough pw")
    assert ok.returncode == 0, ok.stderr
    assert "platform admin boss@example.org created" in ok.stdout


def test_several_processes_share_one_store_and_stop_together():
    """PROCESSES=2 without MongoDB: the supervisor starts the shared embedded store,
    seeds the demo once, serves on two ports, and SIGTERM stops everything."""
    import http.cookiejar
    port = free_port_pair()
    env = dict(ENV, PROCESSES="2")
    env.pop("MONGODB_URI", None)
    proc = subprocess.Popen([sys.executable, "server.py", "--demo", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for p in (port, port + 1):
            status, body = wait_for(f"http://127.0.0.1:{p}/healthz")
            assert status == 200 and json.loads(body)["database"]["backend"] == "embedded-shared"
        # Signed in on one process, the same browser is signed in on the other.
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(f"http://127.0.0.1:{port}/signin").read()
        xsrf = next(c.value for c in jar if c.name == "_xsrf")
        data = urllib.parse.urlencode({"_xsrf": xsrf, "identifier": "attendee-de",
                                       "password": "demo-livehall"}).encode()
        opener.open(f"http://127.0.0.1:{port}/signin", data).read()
        page = opener.open(f"http://127.0.0.1:{port + 1}/profile").read().decode()
        assert "attendee-de" in page
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


def test_demo_serves_then_sigterm_drains_and_exits_cleanly():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "server.py", "serve", "--demo", "--port", str(port)],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        status, body = wait_for(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, page = wait_for(f"http://127.0.0.1:{port}/signin")
        assert status == 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "data is not kept across restarts" in out
    assert "attendee-ru" in out and "demo-livehall" in out
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(entry["message"] == "stopped" for entry in logged)
