"""Real external servers for tests: redis-server (one node, or a six-node Redis Cluster) and
localstripe, each started on a free port.

When the binary is missing the test is skipped, which conftest turns into a
failure under CI=true.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair() -> int:
    """A port p such that p and p + 1 are both free (for two processes on consecutive ports)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


class RedisServer:
    def __init__(self):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.start()

    def start(self) -> None:
        """Start (or start again, on the same port) with an empty data set."""
        self.dir = tempfile.mkdtemp(prefix="livehall-redis-")
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _wait_port(port: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class RedisClusterNode:
    """One redis-server in cluster mode, with its own directory (its nodes.conf survives a kill,
    so a node started again rejoins the cluster as the replica of whoever took over its slots)."""

    def __init__(self, binary: str, node_timeout_ms: int):
        self.binary = binary
        self.node_timeout_ms = node_timeout_ms
        self.port = free_port()
        self.bus_port = free_port()  # the default, port + 10000, may be taken or past 65535
        self.dir = tempfile.mkdtemp(prefix="livehall-redis-cluster-")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--cluster-port", str(self.bus_port),
             "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms), "--save", "", "--appendonly", "no",
             # A replica (re)joining gets its copy at once, not after the default 5 s wait.
             "--repl-diskless-sync-delay", "0", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _wait_port(self.port):
            raise RuntimeError(f"redis-server (cluster node) on {self.port} did not start")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no goodbye to the cluster, as when a machine dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: the process hangs with its connections open, as behind a network cut."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisClusterServers:
    """A real Redis Cluster on loopback: six nodes, three masters with a replica each, created
    with `redis-cli --cluster create`.  `cluster-node-timeout` is short so that a killed master
    is replaced by its replica within a couple of seconds."""

    SIZE = 6

    def __init__(self, node_timeout_ms: int = 1000):
        binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if not binary or not cli:
            pytest.skip("redis-server and redis-cli are not installed")
        self.cli = cli
        self.nodes = [RedisClusterNode(binary, node_timeout_ms) for _ in range(self.SIZE)]
        try:
            for node in self.nodes:
                node.start()
            created = subprocess.run(
                [cli, "--cluster", "create", *(n.address for n in self.nodes), "--cluster-replicas", "1",
                 "--cluster-yes"], capture_output=True, text=True, timeout=60)
            if created.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        """The REDIS_URL naming this cluster (two seeds are enough to find the rest)."""
        return "redis+cluster://" + ",".join(n.address for n in self.nodes[:2])

    def command(self, node: RedisClusterNode, *args: str) -> str:
        out = subprocess.run([self.cli, "-p", str(node.port), *args], capture_output=True, text=True,
                             timeout=10)
        return out.stdout

    def live(self) -> list[RedisClusterNode]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def master_of(self, key: str) -> RedisClusterNode:
        """The live node that serves `key`'s slot now."""
        slot = int(self.command(self.live()[0], "CLUSTER", "KEYSLOT", key).strip())
        for node in self.live():
            for line in self.command(node, "CLUSTER", "NODES").splitlines():
                fields = line.split()
                if "myself" in fields[2] and "master" in fields[2]:
                    for part in fields[8:]:
                        low, _, high = part.partition("-")
                        if not low.startswith("[") and int(low) <= slot <= int(high or low):
                            return node
        raise AssertionError(f"no live master serves slot {slot}")

    def node_id(self, node: RedisClusterNode) -> str:
        return self.command(node, "CLUSTER", "MYID").strip()

    def replica_of(self, master: RedisClusterNode) -> RedisClusterNode:
        master_id = self.node_id(master)
        for node in self.live():
            for line in self.command(node, "CLUSTER", "NODES").splitlines():
                fields = line.split()
                if "myself" in fields[2] and "slave" in fields[2] and fields[3] == master_id:
                    return node
        raise AssertionError(f"{master.address} has no live replica")

    def hand_over(self, master: RedisClusterNode) -> RedisClusterNode:
        """A manual failover (CLUSTER FAILOVER on the replica): the master's slots move to its
        replica with no connection lost; returns the new master once the cluster is healthy."""
        replica = self.replica_of(master)
        self.command(replica, "CLUSTER", "FAILOVER")
        deadline = time.monotonic() + 20
        while "role:master" not in self.command(replica, "INFO", "replication"):
            if time.monotonic() > deadline:
                raise RuntimeError("the manual failover did not happen")
            time.sleep(0.05)
        self.wait_healthy()
        return replica

    def wait_healthy(self, seconds: float = 30) -> None:
        """Every node up, agreeing the cluster is ok, with three masters each having a
        connected replica (ready for the next failover)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._healthy():
                return
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not become healthy: "
                           + self.command(self.live()[0], "CLUSTER", "NODES"))

    def _healthy(self) -> bool:
        for node in self.nodes:
            if node not in self.live() or "cluster_state:ok" not in self.command(node, "CLUSTER", "INFO"):
                return False
        lines = self.command(self.nodes[0], "CLUSTER", "NODES").splitlines()
        if len(lines) != self.SIZE or any("fail" in line.split()[2] for line in lines):
            return False
        masters = {line.split()[0] for line in lines if "master" in line.split()[2]}
        replicated = {line.split()[3] for line in lines if "slave" in line.split()[2]}
        if len(masters) != self.SIZE // 2 or replicated != masters:
            return False
        return all("master_link_status:up" in self.command(n, "INFO", "replication")
                   for n in self.nodes if "role:slave" in self.command(n, "INFO", "replication"))

    def restart(self, node: RedisClusterNode) -> None:
        """Start a killed node again in its own directory: it rejoins as a replica."""
        node.start()
        self.wait_healthy()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class LocalStripe:
    """localstripe (a stateful stand-in for Stripe's API, with signed webhooks and its own Stripe.js)
    on a free port, started from scratch and stopped after."""

    SECRET_KEY = "sk_test_livehall"
    PUBLISHABLE_KEY = "pk_test_livehall"

    def __init__(self):
        try:
            import localstripe  # noqa: F401
        except ImportError:
            pytest.skip("localstripe is not installed (requirements-dev.txt)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="livehall-localstripe-")
        # tests/localstripe_server.py: localstripe, taking the PaymentIntent fields Stripe takes.
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "localstripe_server.py"),
             "--port", str(self.port)],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("localstripe did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def js_url(self) -> str:
        return f"{self.url}/js.stripe.com/v3/"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
