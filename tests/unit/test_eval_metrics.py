"""Hit-quality arithmetic on hand-made numbers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_semcache import InvalidInputError
from redis_semcache.eval import (
    PairwisePoint,
    ReplayPoint,
    equal_right_hits,
    pairwise_curve,
    parse_thresholds,
    recommend,
    replay_curve,
    replay_point,
)
from redis_semcache.eval.metrics import found_at


def test_parse_thresholds_range_includes_stop_without_float_drift():
    ts = parse_thresholds("0.70:0.99:0.01")
    assert len(ts) == 30
    assert ts[0] == 0.7 and ts[-1] == 0.99
    assert 0.82 in ts and 0.83 in ts  # exactly, not 0.8200000000000001
    assert parse_thresholds("0.9, 0.8,0.9") == (0.8, 0.9)
    assert parse_thresholds("0.5:0.6:0.05") == (0.5, 0.55, 0.6)


@pytest.mark.parametrize("bad", ["", "0.9:0.8:0.01", "0.7:0.9", "0.7:0.9:0", "0:0.5:0.1", "1.2", "a,b"])
def test_parse_thresholds_rejects_nonsense(bad):
    with pytest.raises(InvalidInputError, match="bad thresholds"):
        parse_thresholds(bad)


def test_pairwise_precision_and_recall_by_hand():
    sim = np.array([0.95, 0.91, 0.86, 0.80, 0.70])
    dup = np.array([True, False, True, True, False])
    at85, at90, at99 = pairwise_curve(sim, dup, [0.85, 0.9, 0.99])
    assert (at85.true_positives, at85.false_positives, at85.false_negatives, at85.true_negatives) == (2, 1, 1, 1)
    assert at85.precision == pytest.approx(2 / 3) and at85.recall == pytest.approx(2 / 3)
    assert (at90.true_positives, at90.false_positives) == (1, 1)
    assert at90.precision == 0.5 and at90.recall == pytest.approx(1 / 3)
    assert at99.precision is None and at99.recall == 0.0  # nothing predicted: precision undefined
    rejected_first = pairwise_curve(sim, dup, [0.85], accepted=np.array([False, True, True, True, True]))[0]
    assert (rejected_first.true_positives, rejected_first.false_negatives) == (1, 2)


def test_threshold_comparison_has_the_backends_slack():
    # float32 dot products of equal vectors land a hair under the true value
    assert pairwise_curve(np.array([0.9 - 5e-7]), np.array([True]), [0.9])[0].true_positives == 1
    assert pairwise_curve(np.array([0.9 - 5e-6]), np.array([True]), [0.9])[0].true_positives == 0


# Five queries; entries 0..4 are the pairs' own first prompts.
FOUND = np.array([0, 2, 2, -1, 1])
SIM = np.array([0.97, 0.93, 0.88, np.nan, 0.91])
OWN = np.array([0, 1, 2, 3, 4])
DUP = np.array([True, True, False, True, False])


def test_replay_point_classifies_every_query():
    p = replay_point(FOUND, SIM, OWN, DUP, 0.85)
    # q0 right; q1 duplicate but got entry 2: wrong entry; q2 non-duplicate hit: wrong;
    # q3 miss; q4 non-duplicate hit: wrong
    assert (p.right, p.wrong_entry, p.wrong_non_duplicate, p.miss) == (1, 1, 2, 1)
    assert p.wrong == 3
    assert p.precision == 0.25
    assert p.hit_rate == 0.8
    assert p.recall == pytest.approx(1 / 3)


def test_replay_curve_derives_higher_thresholds_by_dropping_weaker_hits():
    at90, at95, at99 = replay_curve(FOUND, SIM, OWN, DUP, [0.9, 0.95, 0.99])
    assert (at90.right, at90.wrong, at90.miss) == (1, 2, 2)
    assert (at95.right, at95.wrong, at95.miss) == (1, 0, 4)
    assert (at99.right, at99.wrong, at99.miss) == (0, 0, 5)
    assert at99.precision is None
    assert found_at(FOUND, SIM, 0.9).tolist() == [0, 2, -1, -1, 1]


def test_equal_right_hits_finds_the_raw_threshold_with_as_many_right_hits():
    # raw best candidates: three right ones (0.99, 0.95, 0.90) and wrong ones at 0.97, 0.93, 0.92, 0.85
    found = np.array([0, 1, 2, 9, 9, 9, 9])
    sim = np.array([0.99, 0.95, 0.90, 0.97, 0.93, 0.92, 0.85])
    own = np.arange(7)
    dup = np.array([True, True, True, False, False, False, True])
    guarded = ReplayPoint(threshold=0.85, queries=7, duplicates=4, right=2, wrong_non_duplicate=1, wrong_entry=0)
    cmp = equal_right_hits(guarded, found, sim, own, dup)
    assert cmp.raw_threshold == pytest.approx(0.95)  # the 2nd best right similarity
    assert (cmp.raw_right, cmp.raw_wrong) == (2, 1)  # only the 0.97 wrong hit is above it
    assert cmp.wrong_cut == 0.0
    more = ReplayPoint(threshold=0.85, queries=7, duplicates=4, right=3, wrong_non_duplicate=1, wrong_entry=0)
    cmp3 = equal_right_hits(more, found, sim, own, dup)
    assert cmp3.raw_threshold == pytest.approx(0.90) and cmp3.raw_wrong == 3
    assert cmp3.wrong_cut == pytest.approx(2 / 3)
    unreachable = ReplayPoint(threshold=0.85, queries=7, duplicates=4, right=4, wrong_non_duplicate=0, wrong_entry=0)
    assert equal_right_hits(unreachable, found, sim, own, dup).raw_threshold is None


def _pw(t, tp, fp):
    return PairwisePoint(t, tp, fp, 0, 0)


def test_recommend_picks_the_lowest_threshold_from_which_precision_holds():
    points = [_pw(0.80, 6, 4), _pw(0.85, 8, 2), _pw(0.90, 7, 3), _pw(0.92, 9, 1), _pw(0.95, 5, 0), _pw(0.99, 0, 0)]
    assert recommend(points, 0.6).threshold == 0.80
    # 0.85 reaches 0.8 but 0.90 falls back under it: the recommendation must hold above it too
    assert recommend(points, 0.8).threshold == 0.92
    assert recommend(points, 1.0).threshold == 0.95  # 0.99 has no hits: it neither qualifies nor disqualifies
    assert recommend([_pw(0.9, 1, 1)], 0.9) is None
    assert recommend([_pw(0.9, 0, 0)], 0.5) is None


def test_recommend_ignores_the_falling_tail_above_the_best_threshold():
    # exact repeats hit at every threshold, so replay precision falls again at the top
    points = [_pw(0.80, 5, 5), _pw(0.85, 7, 3), _pw(0.90, 6, 4), _pw(0.95, 1, 4)]
    assert recommend(points, 0.65).threshold == 0.85
    assert recommend(points, 0.5).threshold == 0.80
    assert recommend(points, 0.75) is None
    with pytest.raises(InvalidInputError):
        recommend(points, 0)


@given(
    st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans(), st.booleans()), min_size=1, max_size=40),
    st.floats(0.5, 1.0),
)
def test_replay_counts_always_add_up_and_fall_with_the_threshold(rows, t):
    sim = np.array([r[0] for r in rows])
    found = np.where(np.array([r[1] for r in rows]), np.arange(len(rows)), (np.arange(len(rows)) + 1) % len(rows))
    dup = np.array([r[2] for r in rows])
    low, high = replay_curve(found, sim, np.arange(len(rows)), dup, [t / 2, t])
    for p in (low, high):
        assert p.right + p.wrong + p.miss == len(rows)
    assert high.right <= low.right and high.wrong <= low.wrong


def test_recommend_bounded_needs_the_upper_bound_within_the_target():
    from redis_semcache.eval.metrics import recommend_bounded

    # 0.80: 10 wrong of 100 (bound 0.164); 0.85: 3 of 80 (0.095); 0.90: 0 of 50 (0.058); 0.95: 0 of 10
    points = [_pw(0.80, 90, 10), _pw(0.85, 77, 3), _pw(0.90, 50, 0), _pw(0.95, 10, 0), _pw(0.99, 0, 0)]
    assert recommend_bounded(points, 0.2).threshold == 0.80
    assert recommend_bounded(points, 0.1).threshold == 0.85  # observed 0.0375, bound 0.095
    assert recommend_bounded(points, 0.06).threshold == 0.90
    assert recommend_bounded(points, 0.05) is None  # no evidence bounds it this low
    # the observed error alone would pick 0.85 for 0.05 (3 / 80 = 0.0375): the bound refuses it
    with pytest.raises(InvalidInputError):
        recommend_bounded(points, 1.0)
