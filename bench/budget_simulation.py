"""Monte Carlo of the error budget's guarantee under stationary traffic (docs/quality.md).

Synthetic truth as in tests/unit/test_error_budget.py: wrong answers fall off linearly
from 60% at similarity 0.8 to 0% at 1.0, similarities uniform.  Per budget and number of
labels: in how many of 300 runs the true error above the learned threshold exceeds the
budget, how many runs learn a rule at all, and the mean learned threshold, with the
change detector (the newest ``RECENT`` labels, as the stores keep them) and without it,
at the rule's default confidence (90%) and at 95%.

    PYTHONPATH=$PWD python bench/budget_simulation.py
"""

from __future__ import annotations

import json

import numpy as np

from redis_semcache.quality.labels import RECENT, LabelCounts, field_of
from redis_semcache.quality.rule import CONFIDENCE, learned_threshold


def run(budget: float, labels: int, detector: bool, confidence: float, runs: int = 300) -> dict[str, float]:
    rng = np.random.default_rng(17)
    grid = np.linspace(0.8, 1.0, 4001)
    truth = np.clip((1.0 - grid) * 3.0, 0.0, 1.0)
    over = learned = 0
    thresholds = []
    for _ in range(runs):
        sims = rng.uniform(0.8, 1.0, labels)
        correct = rng.random(labels) >= np.clip((1.0 - sims) * 3.0, 0.0, 1.0)
        counts = LabelCounts.of(zip(sims, correct, strict=True))
        if detector:
            tail = zip(sims[-RECENT:], correct[-RECENT:], strict=True)
            counts = counts.with_recent([field_of(float(s), bool(c)) for s, c in tail])
        rule = learned_threshold(counts, budget, confidence)
        if rule is None:
            continue
        learned += 1
        thresholds.append(rule)
        over += bool(truth[grid >= rule].mean() > budget)
    mean = float(np.mean(thresholds)) if thresholds else float("nan")
    return {"over": over, "learned": learned, "mean_threshold": round(mean, 4)}


def main() -> None:
    rows = []
    for confidence in (CONFIDENCE, 0.95):
        for labels in (300, 2000):
            for budget in (0.05, 0.1, 0.2):
                row = {"confidence": confidence, "budget": budget, "labels": labels}
                for detector in (False, True):
                    row["with_detector" if detector else "without"] = run(budget, labels, detector, confidence)
                rows.append(row)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
