"""Writing an evaluation report: JSON, a PNG plot, and text tables for the terminal."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["format_tables", "pick", "plot", "write_json"]

KEY_THRESHOLDS = (0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.95)


def write_json(report: dict[str, Any], path: Path) -> Path:
    """Write atomically (temp file, then rename) so a crash never leaves half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def pick(points: Sequence[dict[str, Any]], thresholds: Sequence[float] = KEY_THRESHOLDS) -> list[dict[str, Any]]:
    """The points at the given thresholds (those present), in order."""
    wanted = {round(t, 6) for t in thresholds}
    return [p for p in points if round(p["threshold"], 6) in wanted]


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_tables(report: dict[str, Any], thresholds: Sequence[float] = KEY_THRESHOLDS) -> str:
    """Markdown tables of the report at a few key thresholds (all of them if none match)."""
    lines: list[str] = []
    all_ts = report.get("thresholds", [])
    ts = [t for t in all_ts if any(abs(t - k) < 1e-9 for k in thresholds)] or all_ts
    if "pairwise" in report:
        lines += ["Pairwise (each pair's own cosine similarity)", ""]
        lines += ["| guards | threshold | precision | recall | TP | FP |", "|---|---|---|---|---|---|"]
        for name, points in report["pairwise"].items():
            for p in pick(points, ts):
                lines.append(
                    f"| {name} | {p['threshold']:.2f} | {_fmt(p['precision'])} | {_fmt(p['recall'])} "
                    f"| {p['true_positives']} | {p['false_positives']} |"
                )
        lines.append("")
    if "replay" in report:
        lines += ["Cache replay (store every first prompt, look up every second prompt)", ""]
        lines += [
            "| guards | threshold | right | wrong | miss | precision | hit rate |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, run in report["replay"].items():
            for p in pick(run["points"], ts):
                lines.append(
                    f"| {name} | {p['threshold']:.2f} | {p['right']} | {p['wrong']} | {p['miss']} "
                    f"| {_fmt(p['precision'])} | {_fmt(p['hit_rate'])} |"
                )
        lines.append("")
    if report.get("equal_right_hits"):
        lines += ["Guards against the raw threshold that serves as many right hits", ""]
        lines += [
            "| guards | threshold | right | wrong | raw threshold | raw wrong | wrong cut |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, rows in report["equal_right_hits"].items():
            for r in pick(rows, ts):
                cut = r["wrong_cut"]
                lines.append(
                    f"| {name} | {r['threshold']:.2f} | {r['right']} | {r['wrong']} | {_fmt(r['raw_threshold'], 4)} "
                    f"| {r['raw_wrong']} | {'-' if cut is None else f'{100 * cut:.1f}%'} |"
                )
        lines.append("")
    for check in report.get("derivation_checks", []):
        lit = check["literal"]
        lines.append(
            f"Literal replay at {check['threshold']:.2f} through cache.get (guards: {check['guards']}): "
            f"{lit['right']} right, {lit['wrong']} wrong, {lit['miss']} miss - equal to the derived numbers."
        )
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path, *, title: str | None = None) -> Path:
    """Left: precision and hit rate against threshold.  Right: wrong against right hits per guard set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_trade_off = "replay" in report and len(report["replay"]) > 1
    fig, axes = plt.subplots(1, 2 if has_trade_off else 1, figsize=(13 if has_trade_off else 7, 5), squeeze=False)
    ax = axes[0][0]
    if "replay" in report:
        for i, (name, run) in enumerate(report["replay"].items()):
            if name not in ("none", _main_guarded(report)):
                continue
            ts = [p["threshold"] for p in run["points"]]
            color = f"C{i}"
            label = "raw" if name == "none" else f"guards: {name}"
            ax.plot(ts, [p["precision"] for p in run["points"]], color=color, label=f"replay precision ({label})")
            ax.plot(ts, [p["hit_rate"] for p in run["points"]], "--", color=color, label=f"replay hit rate ({label})")
    if "pairwise" in report:
        points = report["pairwise"]["none"]
        ts = [p["threshold"] for p in points]
        ax.plot(ts, [p["precision"] for p in points], ":", color="k", label="pairwise precision (raw)")
        ax.plot(ts, [p["recall"] for p in points], "-.", color="grey", label="pairwise recall (raw)")
    ax.set_xlabel("cosine similarity threshold")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("precision and hit rate against threshold")
    if has_trade_off:
        ax2 = axes[0][1]
        for i, (name, run) in enumerate(report["replay"].items()):
            rights = [p["right"] for p in run["points"]]
            wrongs = [p["wrong"] for p in run["points"]]
            raw = name == "none"
            ax2.plot(rights, wrongs, "-" if raw else "--", color=f"C{i}", label=name, lw=2 if raw else 1)
        ax2.set_xlabel("right hits")
        ax2.set_ylabel("wrong hits")
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8, title="guards")
        ax2.set_title("wrong against right hits, one point per threshold")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _main_guarded(report: dict[str, Any]) -> str | None:
    """The guard set drawn on the left panel: the one combining the most guards."""
    names = [n for n in report.get("replay", {}) if n != "none"]
    return max(names, key=lambda n: n.count("+"), default=None)
