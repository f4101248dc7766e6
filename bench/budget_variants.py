"""Candidate bounds for the error budget, replayed on the first queries of an online stream.

The online replay's stream (each query's candidate similarity, corrected label, and
whether it was an exact repeat) does not depend on the rule: the cache never stores
what it looks up, and every candidate is labelled.  So it is computed once, by
``online_replay`` (any budget), kept in ``--stream`` (an ``.npz``), and the rules below
are replayed on it in-process: before each lookup the rule of the labels so far (the
newest ``RECENT`` of them as the change detector's recent labels), then the label.
This is the replay of ``semcache eval --online`` without its 5-second refresh, whose
timing can shift the change detector slightly; the table in docs/quality.md compares
the variants, the ``semcache eval --online`` run is the measurement of the one chosen.

    PYTHONPATH=$PWD python bench/budget_variants.py --pairs ../shared/data/qqp_val.csv --first 3000
"""

from __future__ import annotations

import argparse
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.stats import beta, binom

from redis_semcache.quality.labels import BINS, RECENT, LabelCounts, bin_of, field_of
from redis_semcache.quality.rule import changed, contradicted

Bound = Callable[[np.ndarray, np.ndarray], np.ndarray]


def clopper_pearson(confidence: float) -> Bound:
    return lambda n, k: np.where(k >= n, 1.0, beta.ppf(confidence, k + 1, np.maximum(n - k, 1)))


def mid_p(confidence: float) -> Bound:
    """The p where P(X < k) + P(X = k) / 2 = 1 - confidence: coverage near the nominal on average,
    not at every p (the exact bound's guarantee is given up)."""

    def bound(n: np.ndarray, k: np.ndarray) -> np.ndarray:
        lo, hi = np.zeros(len(n)), np.ones(len(n))
        for _ in range(40):  # bisection: the mid-p tail falls as p rises
            mid = (lo + hi) / 2
            above = binom.cdf(k - 1, n, mid) + 0.5 * binom.pmf(k, n, mid) > 1 - confidence
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        return hi

    return bound


VARIANTS: dict[str, Bound] = {
    "clopper-pearson 95%": clopper_pearson(0.95),
    "clopper-pearson 90% (chosen)": clopper_pearson(0.90),
    "clopper-pearson 85%": clopper_pearson(0.85),
    "clopper-pearson 80%": clopper_pearson(0.80),
    "mid-p 95%": mid_p(0.95),
}


def threshold(counts: LabelCounts, budget: float, bound: Bound) -> float | None:
    """rule.learned_threshold with another upper bound (change test and detector unchanged)."""
    if changed(counts):
        assert counts.recent is not None
        counts = LabelCounts(counts.recent.right, counts.recent.wrong, counts.recent)
    n, k = counts.at_or_above()
    edges = np.flatnonzero((counts.right + counts.wrong) > 0)
    upper = np.ones(BINS)
    upper[edges] = bound(n[edges], k[edges])
    passing = np.flatnonzero((upper <= budget) & ~contradicted(counts, budget))
    passing = np.intersect1d(passing, edges)
    return None if passing.size == 0 else float(passing[0]) / BINS


def replay(stream: dict[str, np.ndarray], budget: float, bound: Bound) -> dict[str, object]:
    right_, wrong_ = np.zeros(BINS, dtype=np.int64), np.zeros(BINS, dtype=np.int64)
    recent: deque[str] = deque(maxlen=RECENT)
    served = np.zeros(len(stream["sim"]), dtype=bool)
    labels, first = 0, None
    for i, (s, right, exact) in enumerate(zip(stream["sim"], stream["right"], stream["exact"], strict=True)):
        if np.isnan(s):
            continue
        rule = threshold(LabelCounts(right_, wrong_).with_recent(recent), budget, bound)
        served[i] = bool(exact) or (rule is not None and s >= rule - 1e-6)
        if served[i] and not exact and first is None:
            first = labels
        labels += 1
        (right_ if right else wrong_)[bin_of(float(s))] += 1
        recent.append(field_of(float(s), bool(right)))
    ok = stream["right"]
    return {"served": int(served.sum()), "right": int((served & ok).sum()), "wrong": int((served & ~ok).sum()),
            "labels_before_first": first}  # fmt: skip


def best_static(stream: dict[str, np.ndarray], budget: float) -> tuple[float, int]:
    """(threshold, right hits) of the static threshold with most right hits and error <= budget."""
    sim = np.nan_to_num(stream["sim"], nan=-2.0)
    best = (1.0, 0)
    for t in np.round(np.arange(0.70, 1.0001, 0.005), 3):
        hit = sim >= t - 1e-6
        if (
            hit.any()
            and (hit & ~stream["right"]).sum() <= budget * hit.sum()
            and (hit & stream["right"]).sum() > best[1]
        ):
            best = (float(t), int((hit & stream["right"]).sum()))
    return best


def load_stream(args: argparse.Namespace) -> dict[str, np.ndarray]:
    if args.stream.exists():
        data = np.load(args.stream)
        return {name: data[name] for name in ("sim", "right", "exact")}
    from redis_semcache.eval import _cli
    from redis_semcache.eval.online import online_replay

    pairs, vectors, _ = _cli.load(args)
    run = online_replay(pairs, vectors.first, vectors.second, 0.5)  # the stream does not depend on it
    np.savez(args.stream, sim=run.similarity, right=run.right, exact=run.exact)
    return {"sim": run.similarity, "right": run.right, "exact": run.exact}


def main() -> None:
    from redis_semcache.eval import _cli

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _cli.add_common(parser, thresholds="0.9")
    parser.add_argument("--first", type=int, default=3000)
    parser.add_argument("--stream", type=Path, default=Path("online_stream.npz"), help="the stream, kept here")
    args = parser.parse_args()
    whole = load_stream(args)
    stream = {name: values[: args.first] for name, values in whole.items()}
    print(
        f"first {args.first} queries: variant | budget | served right wrong error | labels before 1st | vs best static"
    )
    for name, bound in VARIANTS.items():
        for budget in (0.05, 0.10, 0.20):
            r = replay(stream, budget, bound)
            t, best = best_static(stream, budget)
            error = r["wrong"] / max(1, r["served"])  # type: ignore[operator]
            print(f"{name} | {budget:.2f} | {r['served']} {r['right']} {r['wrong']} {error:.3f} | "
                  f"{r['labels_before_first']} | {r['right'] / best:.0%} of {t:.3f} ({best} right)", flush=True)  # type: ignore[operator]  # fmt: skip


if __name__ == "__main__":
    main()
