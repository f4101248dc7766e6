"""CPU pinning and what other jobs took: for benchmarks on shared cores.

``pin`` puts this process (every thread, present and future) on one core and
the Redis server it started on another; ``CpuProbe`` reads /proc to tell how
much of each core someone else used during a measured window.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CpuProbe", "Window", "pin"]

Window = Callable[[float, float], None] | None  # told the measured window (perf_counter times) as it is set


def _pin(pid: int | str, cores: set[int]) -> int:
    """Pin every thread of process ``pid`` ("self" for this one) to ``cores``; return how many."""
    pinned = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cores)
            pinned += 1
        except ProcessLookupError:  # the thread ended meanwhile
            pass
    return pinned


def pin(server_pid: int | None, enabled: bool) -> dict[str, Any]:
    """This process (every thread, present and future) on one core; the server, if ours, on another."""
    if not enabled:
        return {"pinned": False, "reason": "--no-pin"}
    if not hasattr(os, "sched_setaffinity") or not Path("/proc/self/task").is_dir():
        return {"pinned": False, "reason": "no os.sched_setaffinity or /proc on this platform"}
    avail = sorted(os.sched_getaffinity(0))
    bench_core = avail[0]
    server_core = avail[1] if len(avail) > 1 else avail[0]
    out: dict[str, Any] = {"pinned": True, "cores_available": avail, "method": "os.sched_setaffinity per thread"}
    out["bench_threads_pinned"] = _pin("self", {bench_core})
    out["bench_cores"] = sorted(os.sched_getaffinity(0))
    seen: list[int] = []  # a thread started now (as the timed loops' threads will be) inherits the pinning
    probe = threading.Thread(target=lambda: seen.extend(sorted(os.sched_getaffinity(0))))
    probe.start()
    probe.join()
    out["new_thread_cores"] = seen
    if server_pid is None:
        out["server_cores"] = "not pinned (a server this benchmark did not start)"
        return out
    try:
        out["server_threads_pinned"] = _pin(server_pid, {server_core})
        out["server_cores"] = sorted(os.sched_getaffinity(server_pid))
        out["server_pid"] = server_pid
    except OSError as exc:
        out["server_cores"] = f"not pinned: {type(exc).__name__}: {exc}"
    return out


class CpuProbe:
    """CPU time used during a measured window, from /proc jiffies: by this process, the server, others.

    The cores are shared with other people's jobs.  Busy time on the benchmark's
    core minus this process's own CPU time is what others took from it; the same
    for the server's core and the server process.  Unpinned, only the total over
    all cores is known.  ``steal`` is time the hypervisor gave to other VMs.
    All are fractions of one core.
    """

    def __init__(self, pinning: dict[str, Any], server_pid: int | None) -> None:
        self.hz = os.sysconf("SC_CLK_TCK")
        bench, server = pinning.get("bench_cores"), pinning.get("server_cores")
        self.bench_core = bench[0] if pinning.get("pinned") and isinstance(bench, list) and len(bench) == 1 else None
        ok = isinstance(server, list) and len(server) == 1 and server != bench
        self.server_core = server[0] if self.bench_core is not None and ok else None
        self.server_pid = server_pid
        self.ok = Path("/proc/stat").is_file()

    @staticmethod
    def _cores() -> dict[str, tuple[int, int]]:
        out = {}
        for line in Path("/proc/stat").read_text().splitlines():
            if not line.startswith("cpu"):
                break
            name, *f = line.split()
            v = [int(x) for x in f[:8]] + [0] * (8 - len(f[:8]))
            user, nice, system, _idle, _iowait, irq, softirq, steal = v
            out[name] = (user + nice + system + irq + softirq, steal)
        return out

    @staticmethod
    def _proc(pid: int | str) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    def snap(self) -> dict[str, Any] | None:
        if not self.ok:
            return None
        try:
            server = self._proc(self.server_pid) if self.server_pid else None
            return {"cores": self._cores(), "self": self._proc("self"), "server": server}
        except (OSError, ValueError, IndexError):
            return None

    def share(self, a: dict[str, Any] | None, b: dict[str, Any] | None, seconds: float) -> dict[str, float]:
        """Fractions of one core over the window."""
        if a is None or b is None or seconds <= 0:
            return {}
        span = seconds * self.hz

        def busy(core: str) -> int:
            return b["cores"][core][0] - a["cores"][core][0]

        ours = b["self"] - a["self"]
        server = 0 if a["server"] is None or b["server"] is None else b["server"] - a["server"]
        out = {
            "benchmark_process": round(ours / span, 3),
            "steal": round((b["cores"]["cpu"][1] - a["cores"]["cpu"][1]) / span, 3),
        }
        if a["server"] is not None and b["server"] is not None:
            out["server_process"] = round(server / span, 3)
        if self.bench_core is not None:
            out["others_on_bench_core"] = round(max(0, busy(f"cpu{self.bench_core}") - ours) / span, 3)
        if self.server_core is not None and a["server"] is not None:
            out["others_on_server_core"] = round(max(0, busy(f"cpu{self.server_core}") - server) / span, 3)
        if self.bench_core is None or self.server_core is None:
            out["others_all_cores"] = round(max(0, busy("cpu") - ours - server) / span, 3)
        return out

    def watch(self) -> tuple[Window, Callable[[], dict[str, float]]]:
        """(a callback starting a sampler for a window, a function returning its shares once it ended)."""
        got: dict[str, Any] = {}

        def sample(t0: float, t1: float) -> None:
            time.sleep(max(0.0, t0 - time.perf_counter()))
            got["a"], got["ta"] = self.snap(), time.perf_counter()
            time.sleep(max(0.0, t1 - time.perf_counter()))
            got["b"], got["tb"] = self.snap(), time.perf_counter()

        def start(t0: float, t1: float) -> None:
            got["thread"] = threading.Thread(target=sample, args=(t0, t1), daemon=True)
            got["thread"].start()

        def result() -> dict[str, float]:
            th = got.get("thread")
            if th is None:
                return {}
            th.join()
            return self.share(got["a"], got["b"], got["tb"] - got["ta"])

        return start, result

    @staticmethod
    def busiest(cpu: dict[str, float]) -> float:
        """The largest share of a core someone else took: another job, or (steal) another VM."""
        return max((v for k, v in cpu.items() if k.startswith("others") or k == "steal"), default=0.0)
