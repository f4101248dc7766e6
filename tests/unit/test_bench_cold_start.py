"""bench/cold_start.py's pieces that the figures rest on: the import-time attribution and the timed programs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.cold_start import largest_imports, timed

ROOT = Path(__file__).resolve().parents[2]

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        200 |   numpy._core
import time:       300 |       5000 | numpy
import time:       300 |       1000 | redis_semcache
import time:       200 |        700 |     redis.client
import time:       300 |        900 |   redis
import time:       300 |       2500 | redis_semcache.factories
import time:        50 |         50 | json
"""


def test_a_package_counts_its_lazy_submodules_and_not_what_they_import_twice():
    # redis_semcache.factories is imported on first use, after the package: a top-level event of its own;
    # redis, imported inside it, is part of its cumulative time and is not counted again.
    assert largest_imports(IMPORTTIME) == {"numpy": 5.0, "redis_semcache": 3.5, "json": 0.1}
    assert list(largest_imports(IMPORTTIME, top=1)) == ["numpy"]


def test_the_timed_import_program_runs_and_reports_its_seconds():
    out = subprocess.run(
        [sys.executable, "-c", timed("import", "redis://unused", "")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    seconds = json.loads(out.stdout.strip().splitlines()[-1])["in_process_s"]
    assert 0 < seconds < 60


def test_the_get_program_names_its_own_cache_on_the_given_server():
    code = timed("get", "redis://127.0.0.1:1/0", "cold-7")
    assert "url='redis://127.0.0.1:1/0'" in code and "{'name': 'cold-7'}" in code
    compile(code, "<get>", "exec")
