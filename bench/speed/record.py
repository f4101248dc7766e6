"""What a benchmark run records besides its numbers, and the inputs shared between scripts.

``run_record`` is the head of a results file (command, time, load, machine,
source commit); ``machine`` describes the hardware and package versions;
``e2e_prompts`` reads the stored and new prompts of an end-to-end run from a
labelled pairs CSV; ``log`` prints a timestamped progress line to stderr.
"""

from __future__ import annotations

import csv
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["e2e_prompts", "log", "machine", "run_record", "source_state"]

ROOT = Path(__file__).resolve().parent.parent.parent


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def e2e_prompts(path: Path, entries: int, samples: int) -> tuple[list[str], list[str]]:
    """Stored prompts (distinct question1) and new prompts (question2 never stored), in file order."""
    stored: dict[str, None] = {}
    second: list[str] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            q1, q2 = row["question1"].strip(), row["question2"].strip()
            if q1 and len(stored) < entries:
                stored[q1] = None
            if q2:
                second.append(q2)
    new = [q for q in dict.fromkeys(second) if q not in stored][:samples]
    if len(stored) < entries or len(new) < samples:
        raise ValueError(f"{path} has too few distinct questions for {entries} entries and {samples} lookups")
    return list(stored), new


def source_state() -> dict[str, Any]:
    """The commit measured, and whether the library's sources differ from it."""
    import subprocess

    def git(*a: str) -> str:
        done = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    import redis_semcache

    return {
        "commit": git("rev-parse", "HEAD") or None,
        "library_commit": git("log", "-1", "--format=%H", "--", "redis_semcache") or None,  # last to touch it
        "library_modified": bool(git("status", "--porcelain", "--", "redis_semcache")),
        "library_path": str(Path(redis_semcache.__file__).parent),
    }


def run_record(
    module: str,
    argv: list[str] | None,
    started: float,
    t_start: float,
    load_before: tuple[float, float, float],
    mach: dict[str, Any],
) -> dict[str, Any]:
    """The head of a results file: the command, when and how long, the load, the machine and the source."""
    return {
        "command": " ".join([f"python -m {module}", *(argv if argv is not None else sys.argv[1:])]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.perf_counter() - t_start, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": mach,
        "source": source_state(),
    }


def machine(redis_info: Any) -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in (
        "redis-semcache",
        "redis",
        "numpy",
        "redisvl",
        "gptcache",
        "faiss-cpu",
        "SQLAlchemy",
        "sentence-transformers",
        "torch",
    ):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis_server": redis_info.redis_version,
        "redis_modules": redis_info.modules,
        "packages": versions,
    }
