"""Small things a new user ran into (issue 16): messages, exit codes, logging."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from redis import exceptions as rx

from redis_semcache.backends.redis.errors import classify
from redis_semcache.cli import main
from redis_semcache.config import read_env

from ..redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
HELLO = (
    "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> "
    "option can be used to authenticate the client and select the RESP protocol version at the same time"
)


def test_no_password_says_authentication_required():
    for exc in (rx.AuthenticationError(HELLO), rx.AuthenticationError("Authentication required.")):
        message = str(classify(exc, "127.0.0.1:6379/0"))
        assert "authentication required" in message and "HELLO" not in message


def test_a_wrong_password_keeps_the_server_reason():
    exc = rx.AuthenticationError("invalid username-password pair or user is disabled.")
    assert "invalid username-password pair" in str(classify(exc, "h:1/0"))


def test_demo_against_a_dead_server_fails(capsys):
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    assert main(["demo", "--redis-url", url]) == 1
    out, err = capsys.readouterr()
    assert "stored" not in out
    assert err.count("\n") == 1 and "unreachable" in err and "hunter2" not in err


def test_the_library_logger_has_a_null_handler():
    """Without the app configuring logging, a library warning must not reach stderr."""
    code = "import logging, redis_semcache; logging.getLogger('redis_semcache').warning('boo')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("redis_semcache").handlers)


def test_redis_cluster_from_the_environment():
    assert read_env({"REDIS_CLUSTER": "true"}).redis_cluster is True
    assert read_env({}).redis_cluster is None
