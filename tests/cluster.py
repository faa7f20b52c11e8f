"""A real deployment on loopback: the supervisor with two server processes,
a real redis-server and real nginx in front, configured from nginx/livehall.conf."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from tests.servers import RedisServer, free_port, free_port_pair
from tests.support import Browser

# The demo's accounts share one password (server.py --demo).
PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-livehall")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not found:
        pytest.skip("nginx is not installed")
    return found


def render_nginx(ports: list[int], listen: int, workdir: str) -> str:
    """The repository's site config, pointed at these processes and this port.

    Only the addresses change, and ip_hash goes: every test client comes
    from 127.0.0.1, and round-robin is what spreads them over both processes.
    """
    with open(os.path.join(ROOT, "nginx", "livehall.conf")) as f:
        site = f.read()
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n" for p in ports)
    site = re.sub(r"(upstream livehall \{\n)(.*?)(    keepalive)", lambda m: m.group(1) + servers + m.group(3),
                  site, flags=re.S)
    site = re.sub(r"listen \d+[^;]*;", f"listen 127.0.0.1:{listen};", site)
    site = site.replace("alias /srv/livehall/static/;", f"alias {ROOT}/static/;")
    # Started as root (CI), nginx's workers would run as `nobody` and could
    # not read static files from a checkout in a private directory (a
    # mktemp -d clone is 0700): they run as root, as the test run does.
    user = "user root;" if os.geteuid() == 0 else ""
    # The content types of a packaged nginx's http{} block, which the site config expects.
    types = "include /etc/nginx/mime.types;" if os.path.exists("/etc/nginx/mime.types") else ""
    return f"""
{user}
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    {types}
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    {site}
}}
"""


def wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


class Cluster:
    def __init__(self, redis_url: str | None = None):
        """`redis_url`: a Redis (Cluster) run by the caller; by default one redis-server of its own."""
        binary = nginx_binary()
        self.redis = RedisServer() if redis_url is None else None
        self.redis_url = self.redis.url if self.redis is not None else redis_url
        self.dir = tempfile.mkdtemp(prefix="livehall-cluster-")
        self.port = free_port_pair()
        self.ports = [self.port, self.port + 1]
        env = dict(os.environ, PROCESSES="2", REDIS_URL=self.redis_url, ARGON2_TIME_COST="1",
                   ARGON2_MEMORY_KIB="1024", LOG_FORMAT="json", TRUST_PROXY="true")
        self.log = open(os.path.join(self.dir, "servers.log"), "w")  # noqa: SIM115 (closed in stop())
        self.servers = subprocess.Popen([sys.executable, "server.py", "--demo", "--port", str(self.port)],
                                        cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for p in self.ports:
            wait_http(f"http://127.0.0.1:{p}/healthz")
        self.listen = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(render_nginx(self.ports, self.listen, self.dir))
        self.nginx = subprocess.Popen([binary, "-c", conf, "-p", self.dir, "-g", "daemon off;"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"{self.url}/healthz")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen}"

    def stop(self) -> None:
        if self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            self.nginx.wait(10)
        if self.servers.poll() is None:
            self.servers.send_signal(signal.SIGTERM)
            try:
                self.servers.wait(30)
            except subprocess.TimeoutExpired:
                self.servers.kill()
        self.log.close()
        if self.redis is not None:
            self.redis.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    """Two server processes behind a real nginx, shared by a test module."""
    c = Cluster()
    yield c
    c.stop()


async def signed_in(cluster, login):
    b = Browser(cluster.url)
    await b.sign_in(login, PASSWORD)
    return b
