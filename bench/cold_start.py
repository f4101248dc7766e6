"""A fresh process to its first embedding, and to its first semantic ``get``: this checkout against another revision.

    python -m bench.cold_start                                # 5 repeats, baseline: the commit before the lazy import
    python -m bench.cold_start --baseline HEAD~3 --repeats 8 --out bench/results/cold_start.json

What a new user's process waits for before its first answer, once the ONNX
export is on disk (the first run in this script makes sure it is).  Three
programs, each run in a new interpreter:

* ``import``  - ``import redis_semcache``;
* ``embed``   - ``default_embedder()`` and one embedding (what ``bench_embedder.py --sections cold`` times);
* ``get``     - ``create_redis_cache_manager(url=..., enable_semantic=True)`` and a first ``get`` of a new
                prompt on an empty cache (one throwaway Redis, ``tests/redis_server.LocalRedis``):
                the import, the connection, the index and the embedding.

The baseline is ``git archive``d from ``--baseline`` into a temporary directory
and run the same way; the two alternate, program by program, so other jobs'
load falls on both alike.  Recorded per run: wall seconds from spawn to exit,
seconds inside the process (from before its first import to the answer), the
load average.  The largest imports of each side come from ``python -X
importtime``.  Prints medians and ratios; writes everything to ``--out``.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.speed.record import log, machine, run_record  # noqa: E402
from bench.speed.server import redis_server  # noqa: E402

# The commit before redis_semcache/__init__.py imported its public names lazily (session 7).
DEFAULT_BASELINE = "c51ea5c"
PROMPT = "How do I reset my password?"
PROGRAMS = {
    "import": "import redis_semcache\n",
    "embed": (
        "from redis_semcache.embeddings import default_embedder\n"
        f"e = default_embedder(); e([{PROMPT!r}])\n"
        "assert e.runtime == 'onnxruntime', e.runtime\n"
    ),
    "get": (
        "from redis_semcache import create_redis_cache_manager\n"
        "m = create_redis_cache_manager(url={url!r}, enable_semantic=True, backend_kwargs={{'name': {name!r}}})\n"
        f"assert m.get({PROMPT!r}) is None\n"
    ),
}


def timed(program: str, url: str, cache: str) -> str:
    """``program``'s code, printing the seconds from before its first import to its end as JSON."""
    body = PROGRAMS[program].format(url=url, name=cache) if program == "get" else PROGRAMS[program]
    stop = "print(json.dumps({'in_process_s': time.perf_counter() - _t}))\n"
    return f"import json, time\n_t = time.perf_counter()\n{body}{stop}"


def checkout(rev: str, into: Path) -> Path:
    """``redis_semcache/`` (and ``schemas/``) as of ``rev``, extracted under ``into``."""
    # schemas/ too: redis_semcache/schemas is a symbolic link to it
    tar = subprocess.run(
        ["git", "archive", rev, "redis_semcache", "schemas"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into


def fresh(path: Path, code: str, *flags: str) -> tuple[float, float, str]:
    """Run ``code`` in a new interpreter importing the library from ``path``: wall s, in-process s, stderr."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=path,
        env={**os.environ, "PYTHONPATH": str(path)},
    )
    if out.returncode:
        raise RuntimeError(f"a fresh process failed ({path}):\n{code}\n{out.stderr[-2000:]}")
    wall = time.perf_counter() - started
    return wall, float(json.loads(out.stdout.strip().splitlines()[-1])["in_process_s"]), out.stderr


def largest_imports(stderr: str, top: int = 8) -> dict[str, float]:
    """Top-level packages by import time (ms), from ``-X importtime`` output.

    Summed over a package's top-level import events: a name imported lazily (on
    first use, after its package) is an event of its own, ``pkg.sub``, at the top.
    """
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|", 2)
        if cumulative.strip().isdigit() and not name.startswith("  "):  # one space before a top-level name
            package = name.strip().split(".")[0]
            found[package] = found.get(package, 0.0) + int(cumulative) / 1000.0
    return {k: round(v, 1) for k, v in sorted(found.items(), key=lambda kv: -kv[1])[:top]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare with")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--programs", nargs="+", default=list(PROGRAMS), choices=list(PROGRAMS))
    p.add_argument("--redis-url", default=None)
    p.add_argument("--out", type=Path, default=Path("bench/results/cold_start.json"))
    args = p.parse_args(argv)
    started, t_start, load_before = time.time(), time.perf_counter(), os.getloadavg()
    sides = {"this checkout": ROOT}
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp, redis_server(args.redis_url) as info:
        sides[f"baseline {args.baseline}"] = checkout(args.baseline, Path(tmp))
        for path in sides.values():  # the ONNX export on disk, and every file in the page cache
            fresh(path, timed("embed", info.url, ""))
        for r in range(args.repeats):
            for program in args.programs:
                order = list(sides.items()) if r % 2 == 0 else list(sides.items())[::-1]
                for side, path in order:
                    wall, inside, _ = fresh(path, timed(program, info.url, f"cold{len(runs)}"))
                    runs.append({"side": side, "program": program, "repeat": r, "wall_s": round(wall, 3),
                                 "in_process_s": round(inside, 3),
                                 "load_average_1m": round(os.getloadavg()[0], 2)})  # fmt: skip
                    log(f"{program:6} {side}: {wall:.2f} s wall, {inside:.2f} s in the process")
        last = args.programs[-1]
        imports = {side: largest_imports(fresh(path, timed(last, info.url, "cold-x"), "-X", "importtime")[2])
                   for side, path in sides.items()}  # fmt: skip
        summary = _summary(runs, list(sides))
        for line in summary["lines"]:
            print(line)
        record = run_record("bench.cold_start", argv, started, t_start, load_before, machine(info))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record.update(summary=summary["table"], largest_imports_ms={"program": args.programs[-1], **imports}, runs=runs)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    log(f"wrote {args.out}")
    return 0


def _summary(runs: list[dict[str, Any]], sides: list[str]) -> dict[str, Any]:
    """Median wall and in-process seconds per (program, side), and this checkout / baseline."""
    table: dict[str, Any] = {}
    lines = ["| program | side | wall s (median, min-max) | in process s (median) | / baseline (wall, in process) |",
             "|---|---|---|---|---|"]  # fmt: skip
    for program in dict.fromkeys(r["program"] for r in runs):
        medians = {}
        for side in sides:
            mine = [r for r in runs if (r["program"], r["side"]) == (program, side)]
            walls, inside = [r["wall_s"] for r in mine], [r["in_process_s"] for r in mine]
            medians[side] = (statistics.median(walls), statistics.median(inside))
            table[f"{program} / {side}"] = {
                "wall_median_s": medians[side][0], "wall_min_s": min(walls), "wall_max_s": max(walls),
                "in_process_median_s": medians[side][1],
            }  # fmt: skip
        base = medians[sides[1]]
        for side in sides:
            wall, inside = medians[side]
            ratio = f"{wall / base[0]:.2f}x, {inside / base[1]:.2f}x"
            item = table[f"{program} / {side}"]
            lines.append(f"| {program} | {side} | {wall:.2f} ({item['wall_min_s']:.2f}-{item['wall_max_s']:.2f}) | "
                         f"{inside:.2f} | {ratio} |")  # fmt: skip
    return {"table": table, "lines": lines}


if __name__ == "__main__":
    sys.exit(main())
