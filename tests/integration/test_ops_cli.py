"""The operator commands (semcache stats/top/health/invalidate/clear/drop) on a real Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from redis_semcache import __version__, create_redis_cache_manager
from redis_semcache.cli import main
from redis_semcache.counters import COUNTER_NAMES

from ..redis_server import LocalRedis, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def filled(redis_url, cache_names):
    """A cache with three entries, read so that their access counts differ (3, 1, 0)."""
    name = cache_names.new("ops")
    cache = create_redis_cache_manager(url=redis_url, backend_kwargs={"name": name}, embedder=None, strict=True)
    cache.set("alpha", "A", tags=["red"])
    cache.set("beta", "B", version="old")
    cache.set("gamma", "C", tags=["red"])
    for prompt in ("alpha", "alpha", "alpha", "beta", "nothing"):
        cache.get(prompt)
    yield cache, name
    cache.close()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stats_prints_the_shared_statistics(filled, redis_url, capsys):
    cache, name = filled
    code, out, err = run(capsys, "stats", "--redis-url", redis_url, "--name", name, "--json")
    assert code == 0 and err == ""
    shown = json.loads(out)
    stats = cache.get_statistics()
    assert shown == {k: stats[k] for k in shown}
    assert set(COUNTER_NAMES) <= set(shown)  # every counter of the table (redis_semcache/counters.py)
    assert (shown["exact_hits"], shown["misses"], shown["cache_size"]) == (4, 1, 3)
    assert "p99_latency_ms" not in shown  # latencies are per process: not the CLI's to report
    code, out, _ = run(capsys, "stats", "--redis-url", redis_url, "--name", name)
    assert code == 0 and "exact_hits" in out and "hit_rate" in out


def test_top_sorts_and_limits(filled, redis_url, capsys):
    _, name = filled
    code, out, _ = run(capsys, "top", "--redis-url", redis_url, "--name", name, "--limit", "2", "--json")
    assert code == 0
    assert [(e["prompt"], e["access_count"]) for e in json.loads(out)] == [("alpha", 3), ("beta", 1)]
    code, out, _ = run(capsys, "top", "--redis-url", redis_url, "--name", name, "--sort-by", "created_at")
    assert code == 0 and out.index("'gamma'") < out.index("'beta'") < out.index("'alpha'")
    code, out, _ = run(capsys, "top", "--redis-url", redis_url, "--name", name, "--limit", "1", "--json")
    assert code == 0 and [e["prompt"] for e in json.loads(out)] == ["alpha"]  # 1 is the smallest limit
    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as exited:
            run(capsys, "top", "--redis-url", redis_url, "--name", name, "--limit", bad)
        assert exited.value.code == 2 and "--limit" in capsys.readouterr().err


def test_health_exit_codes(filled, redis_url, capsys):
    _, name = filled
    code, out, _ = run(capsys, "health", "--redis-url", redis_url, "--name", name, "--json")
    assert code == 0 and json.loads(out)["status"] == "healthy" and json.loads(out)["entries"] == 3
    code, out, _ = run(capsys, "health", "--redis-url", f"redis://127.0.0.1:{free_port()}/0", "--name", name)
    assert code == 1 and "unhealthy" in out and "unavailable" in out
    code, out, _ = run(capsys, "health", "--redis-url", redis_url, "--name", "no-such-cache", "--json")
    assert code == 1 and "no cache named 'no-such-cache'" in json.loads(out)["reason"]


def test_invalidate_prints_the_count(filled, redis_url, capsys):
    cache, name = filled
    code, out, _ = run(capsys, "invalidate", "--redis-url", redis_url, "--name", name, "--tag", "red")
    assert (code, out.strip()) == (0, "deleted 2 entries")
    code, out, _ = run(capsys, "invalidate", "--redis-url", redis_url, "--name", name, "--version", "old", "--json")
    assert code == 0 and json.loads(out) == {"deleted": 1}
    assert cache.get_statistics()["cache_size"] == 0
    code, _, err = run(capsys, "invalidate", "--redis-url", redis_url, "--name", name)
    assert code == 2 and "--tag" in err


def test_invalidate_by_pattern_and_key(filled, redis_url, capsys):
    cache, name = filled
    key = cache.get_top_entries(limit=1)[0]["key"]
    code, out, _ = run(capsys, "invalidate", "--redis-url", redis_url, "--name", name, "--key", key)
    assert (code, out.strip()) == (0, "deleted 1 entries")
    code, out, _ = run(capsys, "invalidate", "--redis-url", redis_url, "--name", name, "--pattern", "b*")
    assert (code, out.strip()) == (0, "deleted 1 entries")
    assert [e["prompt"] for e in cache.get_top_entries()] == ["gamma"]


def test_clear_and_drop_need_yes(filled, redis_url, redis_client, capsys):
    cache, name = filled
    for command in ("clear", "drop"):
        code, out, err = run(capsys, command, "--redis-url", redis_url, "--name", name)
        assert code == 2 and "--yes" in err and out == ""
    assert cache.get_statistics()["cache_size"] == 3
    code, out, _ = run(capsys, "clear", "--redis-url", redis_url, "--name", name, "--yes")
    assert code == 0 and "3 entries" in out and cache.get_statistics()["cache_size"] == 0
    code, _, _ = run(capsys, "drop", "--redis-url", redis_url, "--name", name, "--yes")
    assert code == 0
    assert list(redis_client.scan_iter(match=f"semcache:{{{name}:*")) == []
    assert not [i for i in redis_client.execute_command("FT._LIST") if f"{{{name}:".encode() in i]


def test_an_unknown_name_is_an_error_and_creates_nothing(redis_url, redis_client, capsys):
    code, out, err = run(capsys, "stats", "--redis-url", redis_url, "--name", "never-made")
    assert code == 1 and out == "" and "no cache named 'never-made'" in err
    assert list(redis_client.scan_iter(match="semcache:{never-made:*")) == []


def test_errors_are_one_line_without_traceback(capsys, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    code, _, err = run(capsys, "stats")
    assert code == 1 and err.strip() == "semcache stats: error: no Redis to talk to: pass --redis-url or set REDIS_URL"
    code, _, err = run(capsys, "top", "--redis-url", f"redis://127.0.0.1:{free_port()}/0")
    assert code == 1 and err.count("\n") == 1 and "unavailable" in err and "Traceback" not in err
    code, _, err = run(capsys, "stats", "--redis-url", "http://nope")
    assert code == 1 and "invalid Redis URL" in err


def test_redis_url_from_the_environment(filled, redis_url, capsys, monkeypatch):
    _, name = filled
    monkeypatch.setenv("REDIS_URL", redis_url)
    code, out, _ = run(capsys, "stats", "--name", name, "--json")
    assert code == 0 and json.loads(out)["cache_size"] == 3


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"semcache {__version__}"


def test_no_command_prints_a_password():
    """Right, wrong and missing passwords, through every command: the password never shows."""
    password = "pw-Zk3q9-secret"
    with LocalRedis() as server:
        redis.Redis(port=server.port).config_set("requirepass", password)
        good = f"redis://:{password}@127.0.0.1:{server.port}/0"
        cache = create_redis_cache_manager(url=good, backend_kwargs={"name": "guarded"}, embedder=None, strict=True)
        cache.set("q", "a", tags=["t"])
        cache.close()
        wrong = f"redis://:{password}-wrong@127.0.0.1:{server.port}/0"
        bare = f"redis://127.0.0.1:{server.port}/0"
        commands = (["stats"], ["top"], ["health"], ["invalidate", "--tag", "x"], ["clear", "--yes"], ["drop"])
        seen = []
        for url in (good, wrong, bare):
            for command in commands:
                done = subprocess.run(
                    [sys.executable, "-m", "redis_semcache", *command, "--redis-url", url, "--name", "guarded"],
                    capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                    timeout=60,
                )  # fmt: skip
                assert password not in done.stdout + done.stderr
                assert "Traceback" not in done.stderr
                seen.append((url is good, command[0], done.returncode, done.stdout + done.stderr))
    assert all(code == 0 for ok, cmd, code, _ in seen if ok and cmd != "drop")  # drop without --yes: refused
    assert all(code != 0 for ok, cmd, code, _ in seen if not ok)
    assert any("authentication required" in text for ok, _, _, text in seen if not ok)
    assert any("invalid username-password" in text for ok, _, _, text in seen if not ok)


def test_top_and_health_as_text(filled, redis_url, capsys):
    """The human-readable forms: top's table (reads, last access in UTC, key, prompt cut at 60
    characters) and health's aligned lines without this process's own counters."""
    cache, name = filled
    long_prompt = "a prompt of more than sixty characters, which the table shortens to fit"
    cache.set(long_prompt, "L")
    for _ in range(5):
        cache.get(long_prompt)
    code, out, _ = run(capsys, "top", "--redis-url", redis_url, "--name", name, "--limit", "2")
    header, first, second = out.rstrip("\n").split("\n")
    assert code == 0 and header.split() == ["reads", "last", "access", "(UTC)", "key", "prompt"]
    entry = cache.get_top_entries(limit=1)[0]
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["last_access"]))
    assert first == f"{5:>6}  {when:<19}  {entry['key']:<40}  {long_prompt[:57] + '...'!r}"
    assert second.split()[0] == "3" and second.endswith("  'alpha'")  # a short prompt is shown whole
    code, out, _ = run(capsys, "health", "--redis-url", redis_url, "--name", name)
    lines = dict(line.split(None, 1) for line in out.strip().split("\n"))
    assert code == 0 and lines["status"] == '"healthy"' and lines["entries"] == "4"
    assert not {"errors", "semantic_enabled", "embedder_loaded"} & set(lines)  # this process's, not the cache's
    code, out, _ = run(capsys, "health", "--redis-url", redis_url, "--name", name, "--json")
    assert not {"errors", "semantic_enabled", "embedder_loaded"} & set(json.loads(out))
