"""The error-budget rule on synthetic labels: what it serves stays within the budget."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_semcache import ConfigurationError, InvalidInputError, LLMCachingManager, from_env
from redis_semcache._errors import BackendUnavailableError
from redis_semcache.backends.memory import InMemoryCacheBackend
from redis_semcache.quality import ErrorBudget, LabelCounts, clopper_pearson_upper, learned_threshold
from redis_semcache.quality.labels import BINS, bin_of, field_of, parse_fields
from redis_semcache.quality.rule import CONFIDENCE, contradicted
from tests.fakes import FakeClock

labels = st.lists(st.tuples(st.floats(0.5, 1.0), st.booleans()), max_size=400)


def test_clopper_pearson_matches_the_closed_forms():
    # k = 0: the bound solves (1 - p)^n = 1 - confidence
    for n in (1, 10, 59, 300):
        assert clopper_pearson_upper(0, n) == pytest.approx(1 - 0.05 ** (1 / n))
    # k = n - 1: P(X <= n-1) = 1 - p^n = 0.05, so p = 0.95^(1/n)
    assert clopper_pearson_upper(4, 5) == pytest.approx(0.95 ** (1 / 5))
    assert clopper_pearson_upper(3, 3) == 1.0
    with pytest.raises(ValueError):
        clopper_pearson_upper(4, 3)


def _bisect_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """The upper bound by its definition: the p with P(X <= k | n, p) = 1 - confidence."""

    def cdf(p: float) -> float:
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))

    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) > 1 - confidence else (lo, mid)
    return lo


@pytest.mark.parametrize(("k", "n"), [(0, 7), (1, 20), (5, 40), (17, 200), (60, 61)])
def test_clopper_pearson_is_the_binomial_tail_bound(k, n):
    assert clopper_pearson_upper(k, n) == pytest.approx(_bisect_upper(k, n), abs=1e-9)


@given(labels, st.sampled_from([0.05, 0.1, 0.2]))
@settings(max_examples=200, deadline=None)
def test_the_rule_serves_only_where_the_labels_bound_the_error(pairs, budget):
    counts = LabelCounts.of(pairs)
    rule = learned_threshold(counts, budget)
    if rule is None:
        return
    served = [correct for similarity, correct in pairs if bin_of(similarity) >= bin_of(rule)]
    wrong = served.count(False)
    assert served, "a rule is learned only from labels"
    assert wrong / len(served) <= budget  # the bound is above the observed rate
    assert clopper_pearson_upper(wrong, len(served), CONFIDENCE) <= budget + 1e-12
    # and it is the lowest labelled edge that passes
    lower = [s for s, _ in pairs if bin_of(s) < bin_of(rule)]
    for s in lower:
        below = [c for t, c in pairs if bin_of(t) >= bin_of(s)]
        assert clopper_pearson_upper(below.count(False), len(below), CONFIDENCE) > budget


@given(labels)
@settings(max_examples=100, deadline=None)
def test_labels_round_trip_through_hash_fields(pairs):
    fields: dict[str, int] = {}
    for similarity, correct in pairs:
        name = field_of(similarity, correct)
        fields[name] = fields.get(name, 0) + 1
    again = parse_fields(fields)
    expected = LabelCounts.of(pairs)
    assert np.array_equal(again.right, expected.right) and np.array_equal(again.wrong, expected.wrong)


def _wrong_rate(similarity: np.ndarray) -> np.ndarray:
    """A synthetic truth: wrong answers fall off linearly from 60% at 0.8 to 0% at 1.0."""
    return np.clip((1.0 - similarity) * 3.0, 0.0, 1.0)


@pytest.mark.parametrize("budget", [0.05, 0.1, 0.2])
def test_served_error_exceeds_the_budget_in_at_most_the_confidence_gap(budget):
    """Monte Carlo over many label sets: the true error of what the learned rule serves
    is within the budget in >= 90% of runs (the rule's confidence), up to sampling slack."""
    rng = np.random.default_rng(17)
    grid = np.linspace(0.8, 1.0, 4001)
    truth = _wrong_rate(grid)
    runs, over, learned = 300, 0, 0
    for _ in range(runs):
        sims = rng.uniform(0.8, 1.0, 2000)
        correct = rng.random(2000) >= _wrong_rate(sims)
        rule = learned_threshold(LabelCounts.of(zip(sims, correct, strict=True)), budget)
        if rule is None:
            continue
        learned += 1
        true_error = truth[grid >= rule].mean()  # queries are uniform in similarity here too
        over += true_error > budget
    assert learned > runs * 0.6  # it does learn a rule from 2,000 labels
    gap = 1.0 - CONFIDENCE
    assert over <= runs * gap + 3 * math.sqrt(runs * gap * CONFIDENCE)


def test_served_error_needs_the_bound_not_the_observed_rate():
    """Planting the naive rule (lowest t whose *observed* error is within budget) fails the same
    Monte Carlo: guards the test above against a rule that is merely optimistic."""
    rng = np.random.default_rng(17)
    grid = np.linspace(0.8, 1.0, 4001)
    truth = _wrong_rate(grid)
    over = 0
    for _ in range(300):
        sims = rng.uniform(0.8, 1.0, 2000)
        counts = LabelCounts.of(zip(sims, rng.random(2000) >= _wrong_rate(sims), strict=True))
        n, k = counts.at_or_above()
        ok = np.flatnonzero((n > 0) & (k <= 0.1 * n) & ((counts.right + counts.wrong) > 0))
        over += truth[grid >= ok[0] / BINS].mean() > 0.1
    assert over > 300 * 0.2


def test_the_default_bound_opens_on_fewer_labels_than_the_95_percent_one():
    """0 wrong of n bounds the error at 1 - (1 - confidence) ** (1 / n): at 90%, 22 labels bound 0.0985
    (21: 0.104); at 95% it took 29.  1 wrong needs 38 at 90% (37: 0.101)."""
    assert CONFIDENCE == 0.90 and ErrorBudget(0.1).confidence == 0.90
    assert learned_threshold(LabelCounts.of([(1.0, True)] * 21), 0.1) is None
    assert learned_threshold(LabelCounts.of([(1.0, True)] * 22), 0.1) == pytest.approx(0.995)
    assert learned_threshold(LabelCounts.of([(1.0, True)] * 22), 0.1, confidence=0.95) is None
    assert learned_threshold(LabelCounts.of([(1.0, True)] * 29), 0.1, confidence=0.95) == pytest.approx(0.995)
    assert learned_threshold(LabelCounts.of([(1.0, True)] * 36 + [(1.0, False)]), 0.1) is None
    assert learned_threshold(LabelCounts.of([(1.0, True)] * 37 + [(1.0, False)]), 0.1) == pytest.approx(0.995)


def test_the_policy_follows_its_own_confidence():
    twenty_two = LabelCounts.of([(1.0, True)] * 22)
    for policy, rule in ((ErrorBudget(0.1), 0.995), (ErrorBudget(0.1, confidence=0.95), None)):
        policy.update("s", twenty_two, twenty_two)
        assert policy.threshold_for("s") == (None if rule is None else pytest.approx(rule))


def test_wrong_labels_just_above_an_edge_keep_it_shut_however_many_right_ones_lie_higher():
    """The bound at an edge pools every label at or above it, the wrong ones just above it too:
    40 right at 0.90 and 6 wrong at 0.905 would read 0.13 wrong from 0.90 (bound 0.22 at 90%);
    22 right exact repeats open 0.995 alone, and still only 0.995."""
    errors_above = [(0.90, True)] * 40 + [(0.905, False)] * 6
    assert learned_threshold(LabelCounts.of(errors_above), 0.1) is None
    assert learned_threshold(LabelCounts.of([*errors_above, *[(1.0, True)] * 22]), 0.1) == pytest.approx(0.995)
    # the same labels with the wrong ones moved far below the edge: 0.90 opens
    moved = [(0.90, True)] * 40 + [(0.6, False)] * 6 + [(1.0, True)] * 22
    assert learned_threshold(LabelCounts.of(moved), 0.1) == pytest.approx(0.90)


def test_the_change_detector_keeps_its_95_percent_when_the_rule_opens_at_90():
    """3,010 labels at 0.95, 52 wrong; the newest 10 hold 2 wrong (Fisher p 0.012: no change).
    Their lower bound is 0.037 at 95%, 0.055 at 90%: with a budget of 0.045 the 95% detector lets
    the pooled bound (0.021) open 0.95; a detector at the rule's 90% would close it."""
    newest = [(0.95, False)] * 2 + [(0.95, True)] * 8
    counts = LabelCounts.of([(0.95, False)] * 50 + [(0.95, True)] * 2950 + newest)
    counts = counts.with_recent([field_of(s, c) for s, c in newest])
    edge = int(0.95 * BINS)
    assert not contradicted(counts, 0.045)[edge] and contradicted(counts, 0.045, 0.90)[edge]
    assert learned_threshold(counts, 0.045) == pytest.approx(0.95)


def test_policy_starts_exact_only_then_follows_scope_or_global_labels():
    clock = FakeClock()
    policy = ErrorBudget(0.2, min_scope_labels=10, refresh_seconds=5, clock=clock)
    assert policy.stale("s") and policy.threshold_for("s") is None
    policy.update("s", LabelCounts.of([(0.9, True)] * 40), LabelCounts.empty())
    assert not policy.stale("s") and policy.threshold_for("s") == pytest.approx(0.9)  # global rule
    policy.add("s", 0.95, False)
    assert policy.threshold_for("s") == pytest.approx(0.9)  # 1 wrong of 41 still passes at 0.2
    for _ in range(10):
        policy.add("s", 0.95, False)
    assert policy.threshold_for("s") is None  # now its own 11 labels, all wrong
    clock.advance(5)
    assert policy.stale("s")


@pytest.mark.parametrize("bad", [{"min_scope_labels": 0}, {"confidence": 1.0}, {"confidence": 0}])
def test_policy_settings_are_checked(bad):
    with pytest.raises(InvalidInputError):
        ErrorBudget(0.1, **bad)


def test_from_env_reads_cache_error_budget():
    cache = from_env({"CACHE_ERROR_BUDGET": "0.05", "ENABLE_SEMANTIC_CACHE": "true"}, embedder=None)
    assert cache.quality.budget is not None and cache.quality.budget.budget == 0.05
    for value in ("0", "1", "-0.1", "lots"):
        with pytest.raises(ConfigurationError, match="CACHE_ERROR_BUDGET"):
            from_env({"CACHE_ERROR_BUDGET": value, "ENABLE_SEMANTIC_CACHE": "true"}, embedder=None)


class _LabelsRefused(InMemoryCacheBackend):
    """An in-memory backend whose label writes fail as a down server's would."""

    def record_label(self, scope: str, similarity: float, correct: bool) -> None:
        raise BackendUnavailableError("labels refused")


def test_a_label_the_backend_refused_is_not_counted_by_the_local_budget():
    cache = LLMCachingManager(_LabelsRefused(), enable_semantic=True, embedder=None, guards=None,
                              error_budget=ErrorBudget(0.2, refresh_seconds=3600))  # fmt: skip
    cache.set("what is redis", "a store", embedding=[1.0, 0.0, 0.0])
    found = cache.lookup("what is redis today", embedding=[0.99, 0.14, 0.0])
    assert found.similarity is not None and found.threshold is None
    for _ in range(20):  # 0 wrong in 14 would open a budget of 0.2, were they counted
        assert cache.feedback(found, True) is False
    assert cache.lookup("what is redis today", embedding=[0.99, 0.14, 0.0]).hit is False


@pytest.mark.parametrize(
    ("wrong", "recent", "budget", "fires"),
    [
        (3, 3, 0.36, True),
        (3, 3, 0.37, False),
        (2, 2, 0.22, True),
        (2, 2, 0.23, False),
        (1, 1, 0.051, False),
        (30, 100, 0.224, True),
        (30, 100, 0.226, False),
        (3, 10, 0.086, True),
        (3, 10, 0.089, False),
    ],
)
def test_the_change_detector_fires_on_the_exact_lower_bound(wrong, recent, budget, fires):
    """All n recent labels wrong: the 95% Clopper-Pearson lower bound is 0.05 ** (1/n) (0.368 for 3,
    0.224 for 2, 0.05 for 1); 30 of 100: 0.2249; 3 of 10: 0.0873.
    Edges at or below the labels' bin fire, none above."""
    from redis_semcache.quality.labels import field_of
    from redis_semcache.quality.rule import contradicted

    fields = [field_of(0.95, False)] * wrong + [field_of(0.95, True)] * (recent - wrong)
    fired = contradicted(LabelCounts.empty().with_recent(fields), budget, 0.95)
    assert bool(fired[int(0.95 * BINS)]) is fires and bool(fired[: int(0.95 * BINS)].all()) is fires
    assert not fired[int(0.95 * BINS) + 1 :].any()


@pytest.mark.parametrize(("recent_wrong", "fires"), [(5, True), (4, False), (3, False)])
def test_the_change_test_is_fishers_exact_test_at_alpha(recent_wrong, fires):
    """Old: 13 wrong of 405 at 0.995; recent: ``recent_wrong`` of 26 there.  One-sided Fisher p:
    0.0027 for 5, 0.0145 for 4, 0.065 for 3 (alpha 0.01); after a change only the recent count."""
    from redis_semcache.quality.labels import field_of
    from redis_semcache.quality.rule import changed

    old = [(0.995, False)] * 13 + [(0.995, True)] * 392
    new = [(0.995, False)] * recent_wrong + [(0.995, True)] * (26 - recent_wrong)
    counts = LabelCounts.of(old + new).with_recent([field_of(s, c) for s, c in new])
    assert changed(counts) is fires
    assert changed(LabelCounts.of(old + new)) is False  # nothing recent known: no change test
    if fires:  # 5 of 26 bound nothing at 0.2, though all 431 labels (18 wrong) would open 0.995
        assert learned_threshold(LabelCounts.of(old + new), 0.1) == pytest.approx(0.995)
        assert learned_threshold(counts, 0.2) is None
