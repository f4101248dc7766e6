"""The deployment files under docker/, read for the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker" / "docker-compose.yml"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def healthcheck_shell() -> str:
    """The redis service's healthcheck, as the shell command Docker runs."""
    kind, command = compose()["services"]["redis"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    return command
