"""Pure helpers: latency summaries, ratios and Markdown tables.  No I/O, no timing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Summary", "fmt_ratio", "fmt_us", "markdown_table", "percentile", "ratio", "summarize"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values, linearly interpolated.

    Same definition as numpy's default ("linear"); NaN for no values.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    n = len(sorted_values)
    if n == 0:
        return math.nan
    pos = (n - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class Summary:
    """Latency of one measured operation, in microseconds."""

    samples: int
    p50_us: float
    p99_us: float
    mean_us: float
    min_us: float
    max_us: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarize(seconds: Sequence[float]) -> Summary:
    """Summarise per-operation durations given in seconds."""
    if not seconds:
        nan = math.nan
        return Summary(0, nan, nan, nan, nan, nan)
    us = sorted(s * 1e6 for s in seconds)
    return Summary(
        samples=len(us),
        p50_us=percentile(us, 50),
        p99_us=percentile(us, 99),
        mean_us=sum(us) / len(us),
        min_us=us[0],
        max_us=us[-1],
    )


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs, or None when either side is missing, NaN or the divisor is zero."""
    if ours is None or theirs is None or math.isnan(ours) or math.isnan(theirs) or theirs == 0:
        return None
    return ours / theirs


def fmt_ratio(value: float | None) -> str:
    """A ratio for a table: whole above 10, two decimals above 0.1, two significant digits below; '-' if missing."""
    if value is None or math.isnan(value):
        return "-"
    if value >= 10:
        return f"{value:.0f}x"
    if value >= 0.1:
        return f"{value:.2f}x"
    return f"{value:.2g}x"


def fmt_us(value: float | None) -> str:
    """Microseconds for a table: whole numbers with thousands separators, '-' when missing."""
    if value is None or math.isnan(value):
        return "-"
    if value < 10:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str | None = None) -> str:
    """A GitHub Markdown table; ``align`` has one of 'l'/'r' per column (default: first left, rest right)."""
    if align is None:
        align = "l" + "r" * (len(header) - 1)
    if len(align) != len(header) or any(len(r) != len(header) for r in rows):
        raise ValueError("every row and the alignment need one entry per column")
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = [header, rule, *[[str(c) for c in r] for r in rows]]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)
