"""The compose healthcheck, run as written against real servers (only the port is added)."""

from __future__ import annotations

import os
import shutil
import subprocess

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
