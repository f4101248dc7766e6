"""The compose healthcheck, run as written against real servers (only the port is added)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import redis

from ..docker_files import healthcheck_shell
from ..redis_server import LocalRedis

PASSWORD = "hc-Secret-42"


def check(port: int, password: str | None) -> int:
    command = healthcheck_shell().replace("redis-cli ", f"redis-cli -p {port} ")
    env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
    if password is not None:
        env["REDISCLI_AUTH"] = password
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, timeout=30).returncode


@pytest.fixture(scope="module")
def protected():
    assert shutil.which("redis-cli"), "redis-cli (redis-tools) is needed, as for the cluster tests"
    with LocalRedis() as server:
        redis.Redis(port=server.port).config_set("requirepass", PASSWORD)
        yield server


def test_healthy_with_the_password_and_the_search_module(protected):
    assert check(protected.port, PASSWORD) == 0


@pytest.mark.parametrize("password", ["wrong", None], ids=["wrong password", "no password"])
def test_unhealthy_without_the_right_password(protected, password):
    assert check(protected.port, password) != 0


def test_unhealthy_without_the_search_module():
    with LocalRedis(search=False) as server:
        assert check(server.port, None) != 0


def loading(port: int) -> bool | None:
    """True/False from INFO persistence (served while loading); None before the server answers."""
    done = subprocess.run(["redis-cli", "-p", str(port), "INFO", "persistence"], capture_output=True, text=True)
    if "loading:1" in done.stdout:
        return True
    return False if "loading:0" in done.stdout else None


def test_unhealthy_while_loading_its_data():
    # key-load-delay: 20 ms per key, so loading 200 keys takes ~4 s; events are served every 1 KB loaded.
    server = LocalRedis(extra_args=("--key-load-delay", "20000", "--loading-process-events-interval-bytes", "1024"))
    with server:
        client = redis.Redis(port=server.port)
        for i in range(200):
            client.set(f"k{i}", "x" * 2000)
        client.save()
        client.close()
        server.stop()
        proc = subprocess.Popen(server.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=server.dir)
        try:
            for _ in range(400):  # wait for the state, not for a time
                if loading(server.port):
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the server never reported loading:1")
            assert check(server.port, None) != 0
            assert loading(server.port), "loading ended during the check: the check proved nothing"
            while loading(server.port) is not False:
                time.sleep(0.05)
            assert check(server.port, None) == 0
        finally:
            proc.terminate()
            proc.wait()
