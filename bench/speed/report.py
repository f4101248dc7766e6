"""Markdown tables and the latency plot, from a results dict (as written to JSON).

``markdown_report`` and ``plot_latency`` render bench_ops results;
``mode_ratios`` and ``modes_report`` render bench_async's (async against threads).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .cpu import CpuProbe
from .stats import fmt_ratio, fmt_us, markdown_table, ratio

__all__ = ["MODES", "MODE_TITLES", "PAIRS", "markdown_report", "mode_ratios", "modes_report", "plot_latency"]

# bench_async's ways of running one operation concurrently, in table order.
MODES = ("async", "threads", "sync")
MODE_TITLES = {"async": "async, {n} tasks", "threads": "{n} threads", "sync": "1 thread"}

GET_OPS = ("exact", "semantic", "miss")
OPS = (*GET_OPS, "set")
OP_TITLES = {
    "exact": "exact hit",
    "semantic": "semantic hit",
    "miss": "miss",
    "set": "set",
    "repeat": "repeated prompt",
    "new": "new prompt",
}

# (ours, peer) rows compared in the ratio table: same storage, same index type.
PAIRS = (
    ("ours Redis FLAT", "RedisVL FLAT"),
    ("ours Redis FLAT", "GPTCache redis"),
    ("ours Redis HNSW", "RedisVL HNSW"),
    ("ours memory", "GPTCache faiss"),
)


def _index(rows: Iterable[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in keys): r for r in rows}


def _systems(rows: Iterable[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["system"] for r in rows))


def _hit_note(op: str, hit_rate: float | None) -> str:
    """Flag a lookup whose outcome differs from the intended one (e.g. approximate HNSW search)."""
    if hit_rate is None:
        return ""
    if op in ("exact", "semantic") and hit_rate < 0.995:
        return f"{hit_rate:.0%} hits"
    if op == "miss" and hit_rate > 0:
        return f"{hit_rate:.0%} hits"
    return ""


def latency_tables(results: dict[str, Any]) -> str:
    rows = results["latency"]
    by = _index(rows, "system", "entries", "op")
    out = []
    for n in results["config"]["sizes"]:
        body = []
        for system in _systems(rows):
            if (system, n, "exact") not in by:
                continue
            cells = [system]
            for op in OPS:
                r = by.get((system, n, op), {})
                cell = f"{fmt_us(r.get('p50_us'))} / {fmt_us(r.get('p99_us'))}"
                note = _hit_note(op, r.get("hit_rate"))
                if note:
                    cell += f" ({note})"
                if r.get("error"):
                    cell = "error"
                cells.append(cell)
            body.append(cells)
        header = ["system", *[f"{OP_TITLES[op]} p50 / p99" for op in OPS]]
        out.append(f"**{n:,} entries** (microseconds)\n\n" + markdown_table(header, body))
    ping = results.get("ping")
    if ping:
        out.append(
            f"Redis `PING` round trip (the floor for any Redis-backed lookup): "
            f"p50 {fmt_us(ping['p50_us'])} µs, p99 {fmt_us(ping['p99_us'])} µs."
        )
    return "\n\n".join(out)


def ratio_table(results: dict[str, Any]) -> str:
    by = _index(results["latency"], "system", "entries", "op")
    body = []
    for ours, peer in PAIRS:
        for n in results["config"]["sizes"]:
            if (ours, n, "exact") not in by or (peer, n, "exact") not in by:
                continue
            cells = [f"{ours} / {peer}", f"{n:,}"]
            for op in OPS:
                a, b = by.get((ours, n, op), {}), by.get((peer, n, op), {})
                cells.append(fmt_ratio(ratio(a.get("p50_us"), b.get("p50_us"))))
            body.append(cells)
    header = ["ours / peer (p50)", "entries", *[OP_TITLES[op] for op in OPS]]
    return markdown_table(header, body, align="llrrrr")


def ping_table(results: dict[str, Any]) -> str:
    """p50 of each Redis-backed system as a multiple of the PING round trip on its own connection."""
    by = _index(results["latency"], "system", "entries", "op")
    body = []
    for system in _systems(results["latency"]):
        for n in results["config"]["sizes"]:
            base = by.get((system, n, "exact"), {}).get("ping_p50_us")
            if base is None:
                continue
            cells = [system, f"{n:,}", fmt_us(base)]
            for op in GET_OPS:
                cells.append(fmt_ratio(ratio(by.get((system, n, op), {}).get("p50_us"), base)))
            body.append(cells)
    header = ["system", "entries", "PING p50 µs", *[f"{OP_TITLES[op]} / PING" for op in GET_OPS]]
    return markdown_table(header, body, align="llrrrr")


def throughput_table(results: dict[str, Any]) -> str:
    rows = results["throughput"]
    threads = results["config"]["threads"]
    by = _index(rows, "system", "entries", "op", "threads")
    body = []
    for system in _systems(rows):
        for n in results["config"]["throughput_sizes"]:
            for op in (*OPS, "ping"):
                if (system, n, op, threads[0]) not in by:
                    continue
                cells = [system, f"{n:,}", OP_TITLES.get(op, op)]
                for t in threads:
                    r = by.get((system, n, op, t), {})
                    value = r.get("ops_per_s")
                    cell = "-" if value is None else f"{value:,.0f}"
                    if r.get("not_run"):
                        cell = "not run (unsafe)"
                    if r.get("errors"):
                        cell += f" ({r['errors']} errors)"
                    cells.append(cell)
                body.append(cells)
    header = ["system", "entries", "operation", *[f"{t} thread{'s' if t > 1 else ''}" for t in threads]]
    return markdown_table(header, body, align="lll" + "r" * len(threads))


def e2e_table(results: dict[str, Any]) -> str:
    e2e = results.get("e2e")
    if not e2e:
        return ""
    rows = e2e["latency"]
    by = _index(rows, "system", "op")
    ops = ("repeat", "new")
    body = []
    for system in _systems(rows):
        cells = [system]
        for op in ops:
            r = by.get((system, op), {})
            cells.append("error" if r.get("error") else f"{fmt_us(r.get('p50_us'))} / {fmt_us(r.get('p99_us'))}")
            hr = r.get("hit_rate")
            cells.append("-" if hr is None else f"{hr:.0%}")
        body.append(cells)
    embed = e2e.get("embed_one")
    if embed:
        body.append(
            ["embedding alone (one prompt)", f"{fmt_us(embed['p50_us'])} / {fmt_us(embed['p99_us'])}", "", "", ""]
        )
    header = ["system", "repeated prompt p50 / p99 µs", "hit rate", "new prompt p50 / p99 µs", "hit rate"]
    return markdown_table(header, body)


def markdown_report(results: dict[str, Any]) -> str:
    parts = [
        "### Latency per operation (precomputed vectors)",
        latency_tables(results),
        "### Ours divided by peer (p50)",
        ratio_table(results),
        "### Against the PING floor (same connection)",
        ping_table(results),
        "### Throughput (ops/s)",
        throughput_table(results),
    ]
    e2e = e2e_table(results)
    if e2e:
        parts += ["### End to end, with embedding", e2e]
    return "\n\n".join(parts) + "\n"


def plot_latency(results: dict[str, Any], path: Path) -> Path:
    """p50 latency against entry count: one panel per lookup kind, one line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["latency"]
    sizes = results["config"]["sizes"]
    fig, axes = plt.subplots(1, len(GET_OPS) + 1, figsize=(18, 4.8), sharey=True)
    for ax, op in zip(axes, OPS, strict=True):
        for system in _systems(rows):
            pts = [
                (r["entries"], r["p50_us"])
                for r in rows
                if r["system"] == system and r["op"] == op and not r.get("error") and r.get("p50_us")
            ]
            if pts:
                style = "-" if system.startswith("ours") else "--"
                ax.plot(*zip(*sorted(pts), strict=True), style, marker="o", label=system)
        ping = results.get("ping")
        if ping:
            ax.axhline(ping["p50_us"], color="grey", linestyle=":", label="Redis PING")
        ax.set_title(OP_TITLES[op])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
        ax.set_xlabel("entries")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("p50 latency (µs)")
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle("Cache operation latency against entry count (precomputed 384-d vectors, one thread)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- bench_async: modes compared ---------------------------------------------------------


def mode_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ops/s ratios between modes: the median of the per-round ratios, over rounds where both cells were clean.

    The three modes of one lookup run back to back within a round, so a ratio
    from one round compares them under about the same conditions.  When no
    round had both cells clean, every round counts.
    """
    by = {
        (r["system"], r["lookup"], r["mode"]): list(zip(r["rounds_ops_per_s"], r["rounds_clean"], strict=True))
        for r in rows
    }

    def paired(a: list[tuple[float, bool]] | None, b: list[tuple[float, bool]] | None) -> float | None:
        if not a or not b:
            return None
        both = [(x, y) for (x, okx), (y, oky) in zip(a, b, strict=False) if okx and oky and y]
        per = [x / y for x, y in (both or [(x, y) for (x, _), (y, _) in zip(a, b, strict=False) if y])]
        return round(statistics.median(per), 3) if per else None

    out = []
    for system, lookup in dict.fromkeys((r["system"], r["lookup"]) for r in rows):
        a, t, s = (by.get((system, lookup, m)) for m in MODES)
        out.append(
            {
                "system": system,
                "lookup": lookup,
                "async_over_threads": paired(a, t),
                "async_over_sync": paired(a, s),
                "threads_over_sync": paired(t, s),
            }
        )
    return out


def modes_report(results: dict[str, Any]) -> str:
    cfg = results["config"]
    n = cfg["concurrency"]
    rows = {(r["system"], r["lookup"], r["mode"]): r for r in results["rows"]}
    titles = [MODE_TITLES[m].format(n=n) for m in MODES]
    ops_rows: list[list[str]] = []
    lat_rows: list[list[str]] = []
    cpu_rows: list[list[str]] = []
    per_op_rows: list[list[str]] = []
    for rt in results["ratios"]:
        cells = [rows.get((rt["system"], rt["lookup"], m)) for m in MODES]
        ops = [f"{c['ops_per_s']:,.0f}" if c else "-" for c in cells]
        ops_rows.append(
            [rt["system"], rt["lookup"], *ops, fmt_ratio(rt["async_over_threads"]), fmt_ratio(rt["async_over_sync"])]
        )
        lat = []
        for c in cells:
            if not c:
                lat.append("-")
                continue
            note = "" if c["hit_rate"] in (None, 1.0, 0.0) else f" ({c['hit_rate']:.0%} hits)"
            note += f" ({c['errors']} errors)" if c["errors"] else ""
            lat.append(f"{fmt_us(c['p50_us'])} / {fmt_us(c['p99_us'])}{note}")
        lat_rows.append([rt["system"], rt["lookup"], *lat])
        cpu_rows.append([rt["system"], rt["lookup"], *(_others(c) for c in cells)])
        per_op = [fmt_us(c.get("client_cpu_us_per_op")) if c else "-" for c in cells]
        per_op_rows.append([rt["system"], rt["lookup"], *per_op])
    rounds = cfg["rounds"]
    how = (
        f"median over {rounds} rounds of {cfg['seconds']:g} s; ratios are the median of the per-round ratios"
        if rounds > 1
        else f"one round of {cfg['seconds']:g} s"
    )
    ours = results["systems"].get("ours Redis FLAT", {})
    path = ours.get("async_path", "?")
    pinning = results["pinning"]
    where = (
        f"benchmark on core {pinning.get('bench_cores')}, server on {pinning.get('server_cores')}"
        if pinning.get("pinned")
        else f"not pinned ({pinning.get('reason')})"
    )
    head = f"{cfg['entries']:,} entries, FLAT index, threshold {cfg['threshold']}; {where}. Our async path: {path}."
    kept = [
        (a, c)
        for r in results["rows"]
        for a, c in zip(r["rounds_attempts"], r["rounds_cpu_taken_by_others"], strict=True)
    ]
    again = sum(1 for a, _c in kept if a > 1)
    busy = sum(1 for _a, c in kept if CpuProbe.busiest(c) > cfg["busy_share_for_retry"])
    head += (
        f" {again} of {len(kept)} cells were measured again because other jobs or VMs took more than "
        f"{cfg['busy_share_for_retry']:.0%} of a core; in {busy} of the cells kept they still did, and those "
        "are left out of the medians, latencies and ratios (unless every round of that cell was busy)."
    )
    cal = [r["calibration_ms"] for r in results.get("rounds", []) if "calibration_ms" in r]
    if cal:
        head += f" A fixed pure-Python loop took {', '.join(f'{c:g}' for c in cal)} ms at the start of each round."
    parts = [
        head,
        "",
        f"**Lookups per second** ({how})",
        "",
        markdown_table(["system", "lookup", *titles, "async / threads", "async / 1 thread"], ops_rows, align="llrrrrr"),
        "",
        "**Client CPU per lookup, µs** (this process's CPU time / lookups, median over rounds; time the core "
        "was taken away does not count)",
        "",
        markdown_table(["system", "lookup", *titles], per_op_rows, align="llrrr"),
        "",
        "**Latency per lookup, p50 / p99 µs** (as each caller sees it, waiting included; rounds pooled)",
        "",
        markdown_table(["system", "lookup", *titles], lat_rows, align="llrrr"),
        "",
        "**CPU used meanwhile**, in shares of one core, median over rounds: benchmark process / Redis server / "
        "other jobs on the benchmark's core + on the server's core / steal (other VMs, both cores)",
        "",
        markdown_table(["system", "lookup", *titles], cpu_rows, align="llrrr"),
        "",
    ]
    return "\n".join(parts)


def _others(row: dict[str, Any] | None) -> str:
    if not row:
        return "-"
    shares = [c for c in row.get("rounds_cpu_taken_by_others", []) if c]
    if not shares:
        return "-"

    def med(key: str) -> str:
        vals = [c[key] for c in shares if key in c]
        return f"{statistics.median(vals):.0%}" if vals else "?"

    mine = f"{med('benchmark_process')} / {med('server_process')}"
    if "others_all_cores" in shares[0]:
        return f"{mine} / {med('others_all_cores')} (all cores) / {med('steal')}"
    return f"{mine} / {med('others_on_bench_core')} + {med('others_on_server_core')} / {med('steal')}"


def describe_async_path(probe: dict[str, Any]) -> str:
    if not probe["default_executor_used"]:
        return "native (no asyncio.to_thread on the loop)"
    return (
        f"asyncio.to_thread (the loop's default executor: {probe['default_executor_max_workers']} workers, "
        f"{probe['default_executor_threads_started']} started)"
    )
