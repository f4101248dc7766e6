"""docker/: a healthcheck that can fail, no password in `ps`, a CPU torch, no .venv in the image.

There is no Docker engine in CI; tests/integration/test_docker_healthcheck.py runs the
healthcheck command itself against real servers.
"""

from __future__ import annotations

import re

from ..docker_files import ROOT, compose, healthcheck_shell


def test_healthcheck_fails_on_error_replies_and_checks_search_and_loading():
    command = healthcheck_shell()
    calls = re.findall(r"redis-cli[^|&>]*", command)
    assert calls and all(" -e " in f"{c} " for c in calls)  # -e: an error reply is a failure
    assert "FT._LIST" in command and "loading:0" in command


def test_no_password_on_any_command_line():
    redis = compose()["services"]["redis"]
    assert "REDISCLI_AUTH" in redis["environment"]
    assert " -a " not in healthcheck_shell() and "--pass" not in healthcheck_shell()
    app = compose()["services"]["app"]
    assert "REDIS_URL" in app["environment"]
    dockerfile = (ROOT / app["build"]["dockerfile"]).read_text()
    assert '"--from-env"' in dockerfile and "$REDIS_URL" not in dockerfile


def test_app_image_pins_the_cpu_torch_the_project_uses():
    app = compose()["services"]["app"]
    assert app["build"]["context"] == ".."
    dockerfile = (ROOT / app["build"]["dockerfile"]).read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    pin = re.search(r'"torch==([0-9.]+)"', pyproject)
    assert pin and f"torch=={pin.group(1)}" in dockerfile
    assert "--index-url https://download.pytorch.org/whl/cpu" in dockerfile
    torch_line = dockerfile.index(f"torch=={pin.group(1)}")
    assert torch_line < dockerfile.index('".[embeddings]"')  # CPU torch first, so the extra finds it
    assert "COPY . " not in dockerfile and "COPY .. " not in dockerfile


def test_dockerignore_keeps_a_local_venv_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv/" in ignored or ".venv" in ignored


def test_the_gateway_service_reads_secrets_from_the_environment_and_drains_on_stop():
    gateway = compose()["services"]["gateway"]
    env = gateway["environment"]
    assert {"SEMCACHE_UPSTREAM", "REDIS_URL", "SEMCACHE_TENANT_KEY"} <= set(env)
    assert env["SEMCACHE_TENANT_KEY"].startswith("${SEMCACHE_TENANT_KEY")  # from the host, never in the file
    assert env["SEMCACHE_HOST"] == "0.0.0.0" and gateway["ports"] == [f"127.0.0.1:{env['SEMCACHE_PORT']}:8080"]
    assert "/healthz" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["stop_grace_period"] and gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    dockerfile = (ROOT / gateway["build"]["dockerfile"]).read_text()
    pin = re.search(r'"torch==([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin and f"torch=={pin.group(1)}" in dockerfile and "download.pytorch.org/whl/cpu" in dockerfile
    assert '".[embeddings,gateway]"' in dockerfile and '["semcache", "serve"]' in dockerfile
    assert "COPY . " not in dockerfile and "$REDIS_URL" not in dockerfile
