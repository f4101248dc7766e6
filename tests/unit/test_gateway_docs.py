"""README's "Use it from any language": its curl example runs against a real gateway, and
its table names every variable the gateway reads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from redis_semcache.gateway import GatewayConfig
from redis_semcache.gateway.app import create_app

from ..gateway_servers import RunningGateway, Upstream
from .test_gateway import memory_cache

ROOT = Path(__file__).resolve().parents[2]


def section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("### Use it from any language")
    return text[start : text.index("\n### ", start + 1)]


def curl_command() -> str:
    """The first curl of the section's console block, its continuation lines joined."""
    lines = section().split("$ curl -si", 1)[1].split("\n")
    command = ["curl -si" + lines[0]]
    while command[-1].endswith("\\"):
        command.append(lines[len(command)])
    return "\n".join(command)


def test_the_readme_curl_example_runs_against_the_gateway():
    with Upstream() as upstream:
        with RunningGateway(create_app(GatewayConfig(upstream=upstream.base_url), cache=memory_cache())) as gateway:
            command = curl_command().replace("http://localhost:8080", gateway.url)
            env = {"OPENAI_API_KEY": "sk-readme", "PATH": "/usr/bin:/bin"}
            outputs = [subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)
                       for _ in range(2)]  # fmt: skip
        assert [re.search(r"x-semcache: (\w+)", o.stdout).group(1) for o in outputs] == ["miss", "exact"]
        assert '"content": "answer to: What is Redis?"' in outputs[1].stdout
        assert upstream.calls == 1 and upstream.chat_headers[0]["authorization"] == "Bearer sk-readme"


def test_the_readme_lists_every_variable_the_gateway_reads():
    source = (ROOT / "redis_semcache" / "gateway" / "config.py").read_text()
    read = set(re.findall(r'"(SEMCACHE_[A-Z_]+|REDIS_URL|ENABLE_SEMANTIC_CACHE)"', source))
    assert {"SEMCACHE_UPSTREAM", "SEMCACHE_TENANT_KEY", "REDIS_URL"} <= read
    table = section()
    assert [name for name in sorted(read) if f"`{name}" not in table] == []


def test_the_compose_healthcheck_passes_against_a_running_gateway():
    from ..docker_files import compose

    command = compose()["services"]["gateway"]["healthcheck"]["test"]
    assert command[0] == "CMD"
    with Upstream() as upstream:
        with RunningGateway(create_app(GatewayConfig(upstream=upstream.base_url), cache=memory_cache())) as gateway:
            argv = [part.replace("http://127.0.0.1:8080", gateway.url) for part in command[1:]]
            argv[0] = sys.executable
            assert subprocess.run(argv, capture_output=True, timeout=60).returncode == 0
        stopped = subprocess.run(argv, capture_output=True, timeout=60)
        assert stopped.returncode != 0  # and fails once nothing answers
