"""Tables and the ratio plot of a head-to-head run (``headtohead.run``), with issue #15's goals.

The goals are p50 ratios ours / RedisVL (lower is better for us) and a bytes
per entry ratio; ``GOALS`` lists them and ``goal_table`` says which hold.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .stats import fmt_ratio, fmt_us, markdown_table, ratio

__all__ = ["GOALS", "MEMORY_GOAL", "goal_table", "markdown_report", "plot_ratios"]

OPS = ("exact", "semantic", "miss", "set")
OP_TITLES = {"exact": "exact hit", "semantic": "semantic hit", "miss": "miss", "set": "set"}
OURS, PEER = "ours", "RedisVL"

# (algorithm, entries, operation) -> the largest p50 ratio ours / RedisVL that meets the goal.
GOALS: dict[tuple[str, int, str], float] = {
    ("FLAT", 10_000, "exact"): 0.2,
    ("FLAT", 10_000, "semantic"): 0.6,
    ("FLAT", 10_000, "miss"): 0.6,
    ("FLAT", 10_000, "set"): 1.0,
    ("FLAT", 100_000, "semantic"): 0.6,
    ("FLAT", 100_000, "miss"): 0.6,
    ("HNSW", 10_000, "semantic"): 1.0,
    ("HNSW", 10_000, "miss"): 1.0,
    ("HNSW", 100_000, "semantic"): 1.0,
    ("HNSW", 100_000, "miss"): 1.0,
}
HNSW_MIN_RECALL = 0.95  # the HNSW goals count only at this recall@1 of our semantic hits
MEMORY_GOAL = ("FLAT", 10_000, 1.0)  # bytes per entry ours / RedisVL, with the defaults


def _latency(results: dict[str, Any]) -> dict[tuple[str, int, str, str], dict[str, Any]]:
    return {(r["algorithm"], r["entries"], r["op"], r["system"]): r for r in results["latency"]}


def bytes_per_entry(results: dict[str, Any], algorithm: str, entries: int, system: str) -> float | None:
    """Bytes per bulk-loaded entry of ``system`` once it held ``entries`` (the last load up to that size)."""
    rows = [
        r
        for r in results["memory"]
        if r["algorithm"] == algorithm and r["system"] == system and r["entries"] <= entries
    ]
    return rows[-1]["bytes_per_entry"] if rows else None


def _goal_cell(value: float | None, goal: float | None) -> str:
    if goal is None:
        return ""
    if value is None:
        return f"≤ {goal:g} (not measured)"
    return f"≤ {goal:g} {'met' if value <= goal else '**missed**'}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def size_table(results: dict[str, Any], algorithm: str, n: int) -> str:
    by = _latency(results)
    here = [r for r in results["ratios"] if (r["algorithm"], r["entries"]) == (algorithm, n)]
    turns = {r["op"]: r.get("turn_ratio") for r in here}
    body = []
    for op in OPS:
        o, p = by.get((algorithm, n, op, OURS)), by.get((algorithm, n, op, PEER))
        if o is None or p is None:
            continue
        r = ratio(o.get("p50_us"), p.get("p50_us"))
        hits = "" if op == "set" else f"{_pct(o.get('hit_rate'))} / {_pct(p.get('hit_rate'))}"
        recall = "" if "recall_at_1" not in o else f"{o['recall_at_1']:.3f} / {p.get('recall_at_1', 0):.3f}"
        errors = " ".join(f"{name} error: {row['error']}" for name, row in ((OURS, o), (PEER, p)) if row.get("error"))
        body.append([
            OP_TITLES[op], fmt_us(o.get("p50_us")), fmt_us(p.get("p50_us")), fmt_ratio(r),
            _goal_cell(r, GOALS.get((algorithm, n, op))), fmt_ratio(turns.get(op)),
            fmt_us(o.get("p99_us")), fmt_us(p.get("p99_us")),
            fmt_ratio(ratio(o.get("p99_us"), p.get("p99_us"))), f"{o['samples']} / {p['samples']}", hits,
            recall + (f" {errors}" if errors else ""),
        ])  # fmt: skip
    mo, mp = (bytes_per_entry(results, algorithm, n, s) for s in (OURS, PEER))
    if mo is not None and mp is not None:
        mr = ratio(mo, mp)
        goal = MEMORY_GOAL[2] if (algorithm, n) == MEMORY_GOAL[:2] else None
        body.append(["bytes / entry", f"{mo:,.0f}", f"{mp:,.0f}", fmt_ratio(mr), _goal_cell(mr, goal),
                     "", "", "", "", "", "", ""])  # fmt: skip
    header = ["", "ours p50 µs", "RedisVL p50 µs", "p50 ratio", "goal", "turn ratio", "ours p99 µs",
              "RedisVL p99 µs", "p99 ratio", "samples", "hits ours / RedisVL", "recall@1 ours / RedisVL"]  # fmt: skip
    return markdown_table(header, body, align="lrrrlrrrrrrr")


def goal_table(results: dict[str, Any]) -> str:
    """Every goal of the issue that this run measured: the value, and whether it holds."""
    by = _latency(results)
    body = []
    for (algorithm, n, op), goal in GOALS.items():
        o, p = by.get((algorithm, n, op, OURS)), by.get((algorithm, n, op, PEER))
        if o is None or p is None:
            continue
        r = ratio(o.get("p50_us"), p.get("p50_us"))
        met = r is not None and r <= goal
        note = ""
        if algorithm == "HNSW":
            rec = by.get((algorithm, n, "semantic", OURS), {}).get("recall_at_1")
            peer_rec = by.get((algorithm, n, "semantic", PEER), {}).get("recall_at_1")
            note = f"semantic recall@1 ours {rec if rec is not None else '-'}, RedisVL {peer_rec}"
            met = met and rec is not None and rec >= HNSW_MIN_RECALL
        body.append([f"{algorithm} {n:,} {OP_TITLES[op]}", f"≤ {goal:g}", fmt_ratio(r), note,
                     "met" if met else "**missed**"])  # fmt: skip
    algorithm, n, goal = MEMORY_GOAL
    mo, mp = (bytes_per_entry(results, algorithm, n, s) for s in (OURS, PEER))
    if mo is not None and mp is not None:
        mr = ratio(mo, mp)
        met = mr is not None and mr <= goal
        body.append([f"{algorithm} {n:,} bytes / entry", f"≤ {goal:g}", fmt_ratio(mr), f"{mo:,.0f} / {mp:,.0f} B",
                     "met" if met else "**missed**"])  # fmt: skip
    header = ["goal (ours / RedisVL)", "target", "measured", "note", ""]
    return markdown_table(header, body, align="lrrll")


def markdown_report(results: dict[str, Any]) -> str:
    s = results["settings"]
    mach = results.get("machine", {})
    src = results.get("source", {})
    la, lb = results.get("load_average_before"), results.get("load_average_after")
    head = [
        f"Command: `{results.get('command', '?')}`",
        "",
        f"Library at commit {str(src.get('library_commit') or src.get('commit'))[:10]}"
        f"{' with uncommitted changes' if src.get('library_modified') else ''} "
        f"(checkout {str(src.get('commit'))[:10]}); "
        f"Redis {mach.get('redis_server', '?')} with {mach.get('redis_modules', {})}; {mach.get('cores', '?')} cores "
        f"({mach.get('cpu', '?')}); load average before {la}, after {lb}; {results.get('duration_s', '?')} s.",
        f"{s['samples']} timed calls per operation and system at most (capped at {s['seconds']:g} s per "
        f"operation for both), in alternating turns of {s['batch']}; cosine threshold {s['threshold']}; "
        f"ours with {s['ours_options'] or 'no extra options'}; RedisVL's HNSW "
        f"{s.get('peer_hnsw') or 'at its defaults'}.",
        "",
    ]
    for e in results.get("errors", []):
        head.append(f"**{e['algorithm']} did not finish:** {e['error']}")
    parts = ["\n".join(head), "**Goals of issue #15**", goal_table(results)]
    for algorithm in s["algorithms"]:
        for n in s["sizes"]:
            loads = [r["load_average_1m"] for r in results["latency"]
                     if r["algorithm"] == algorithm and r["entries"] == n]  # fmt: skip
            ping = next((p for p in results["ping"] if p["algorithm"] == algorithm and p["entries"] == n), None)
            title = f"**{algorithm}, {n:,} entries**"
            if loads:
                title += f" (load average {max(loads):.2f}"
                title += f"; PING p50 {fmt_us(ping['p50_us'])} µs)" if ping else ")"
            parts += [title, size_table(results, algorithm, n)]
    return "\n\n".join(parts) + "\n"


def _minor_label(value: float, _pos: int) -> str:
    """Label the 2, 3 and 5 of each decade of a log axis, as plain numbers."""
    if value <= 0:
        return ""
    lead = round(value / 10 ** math.floor(math.log10(value)))
    return f"{value:g}" if lead in (2, 3, 5) else ""


def plot_ratios(results: dict[str, Any], path: Path) -> Path:
    """p50 ratio ours / RedisVL against entry count, one panel per algorithm, with the goal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullLocator

    s = results["settings"]
    sizes = s["sizes"]
    by = {(r["algorithm"], r["entries"], r["op"]): r["p50_ratio"] for r in results["ratios"]}
    fig, axes = plt.subplots(1, len(s["algorithms"]), figsize=(6.5 * len(s["algorithms"]), 4.8), squeeze=False)
    for ax, algorithm in zip(axes[0], s["algorithms"], strict=True):
        for op in OPS:
            pts = [(n, by[(algorithm, n, op)]) for n in sizes if by.get((algorithm, n, op)) is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=OP_TITLES[op])
        mem = [(n, ratio(bytes_per_entry(results, algorithm, n, OURS), bytes_per_entry(results, algorithm, n, PEER)))
               for n in sizes]  # fmt: skip
        mem_pts = [(n, r) for n, r in mem if r is not None]
        if mem_pts:
            ax.plot(*zip(*mem_pts, strict=True), ":", marker="s", color="grey", label="bytes / entry")
        for goal, style in ((1.0, "-"), (0.6, "--"), (0.2, "-.")):
            ax.axhline(goal, color="black", linestyle=style, linewidth=0.8, alpha=0.6)
            ax.text(sizes[0], goal, f" goal {goal:g}", va="bottom", fontsize=8)
        ax.set_title(f"{algorithm}: ours / RedisVL SemanticCache (p50)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(_minor_label))
        ax.set_xlabel("entries")
        ax.set_ylabel("ratio (below 1: ours faster / smaller)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    src = results.get("source", {})
    commit = str(src.get("library_commit") or src.get("commit"))[:7]
    fig.suptitle(f"Head to head, one Redis, interleaved (library {commit})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
