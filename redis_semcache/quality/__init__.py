"""Hit quality you can bound: lookup results, labels, and an error budget.

* :mod:`.result`: ``LookupResult``, what ``cache.lookup`` returns;
* :mod:`.labels`: labels counted by similarity bin (what backends store);
* :mod:`.bounds` and :mod:`.rule`: from labels to a threshold whose error is bounded;
* :mod:`.policy`: ``ErrorBudget``, the per-scope / global rule a cache follows;
* :mod:`.equivalent`: ``default_equivalent``, how ``get_or_compute`` labels what it explores;
* :mod:`.control` and :mod:`.judge`: a manager's hit-quality settings, the grey-zone judge.

Maths and policy only: nothing here imports the manager, operations.py or the
backends.  The plans that look up, label and explore with these parts are
:mod:`redis_semcache.quality_plans`; the manager's ``lookup``/``feedback`` are in
:mod:`redis_semcache.quality_api`.  docs/quality.md explains the algorithm and
what it guarantees.
"""

from __future__ import annotations

from .bounds import clopper_pearson_upper
from .equivalent import default_equivalent
from .labels import LabelCounts
from .policy import ErrorBudget
from .result import ForeignResultError, LookupResult
from .rule import learned_threshold

__all__ = [
    "ErrorBudget",
    "ForeignResultError",
    "LabelCounts",
    "LookupResult",
    "clopper_pearson_upper",
    "default_equivalent",
    "learned_threshold",
]
