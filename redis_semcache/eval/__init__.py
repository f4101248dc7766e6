"""Hit-quality evaluation: how often semantic lookups serve a right or a wrong answer.

Used by ``semcache eval`` and ``semcache calibrate``; importable for notebooks
and tests.  Nothing here loads a model unless asked: every function takes the
embedder or the vectors as an argument.
"""

from .metrics import (
    EqualRightHits,
    PairwisePoint,
    ReplayPoint,
    equal_right_hits,
    pairwise_curve,
    parse_thresholds,
    recommend,
    replay_curve,
    replay_point,
)
from .pairs import PairFileError, PairSet, load_pairs, pairs_from_rows
from .replay import ReplayRun, make_manager, replay
from .run import DerivationMismatch, EvalVectors, calibrate, embed_pairs, evaluate, pairwise_points, replay_points

__all__ = [
    "DerivationMismatch",
    "EqualRightHits",
    "EvalVectors",
    "PairFileError",
    "PairSet",
    "PairwisePoint",
    "ReplayPoint",
    "ReplayRun",
    "calibrate",
    "embed_pairs",
    "equal_right_hits",
    "evaluate",
    "load_pairs",
    "make_manager",
    "pairs_from_rows",
    "pairwise_curve",
    "pairwise_points",
    "parse_thresholds",
    "recommend",
    "replay",
    "replay_curve",
    "replay_point",
    "replay_points",
]
