"""A manager's hit-quality settings: its error budget, exploration and identity."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from typing import Any

from .._errors import ConfigurationError, InvalidInputError
from .equivalent import default_equivalent
from .judge import GreyZoneJudge
from .policy import ErrorBudget

__all__ = ["DEFAULT_EXPLORE", "Explorer", "QualityControl"]

# With an error budget and no explore= given: the share of get_or_compute calls with a
# semantic candidate that compute anyway to label it.  Without labels the rule stays
# "exact only", so some exploration is what lets the budget ever serve a semantic hit.
DEFAULT_EXPLORE = 0.1

Equivalent = Callable[[Any, Any], bool]


class Explorer:
    """Decides when get_or_compute computes anyway to label a candidate."""

    def __init__(self, rate: float, equivalent: Equivalent | None = None, rng: random.Random | None = None) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= float(rate) <= 1.0:
            raise InvalidInputError(f"explore must be a number in [0, 1], got {rate!r}")
        if equivalent is not None and not callable(equivalent):
            raise InvalidInputError("equivalent must be a callable (a, b) -> bool")
        self.rate = float(rate)
        self.equivalent: Equivalent = equivalent or default_equivalent  # meaning, not bytes
        self._rng = rng or random.Random()

    def should(self) -> bool:
        return self.rate > 0.0 and self._rng.random() < self.rate


class QualityControl:
    """What ``lookup``, ``feedback`` and the error budget of one manager share."""

    def __init__(
        self,
        *,
        error_budget: float | ErrorBudget | None,
        explore: float | None,
        equivalent: Equivalent | None,
        rng: random.Random | None,
        judge: Any = None,
        enable_semantic: bool,
        backend: Any,
    ) -> None:
        self.origin = secrets.token_hex(8)  # results carry it: feedback refuses another manager's
        if error_budget is None or isinstance(error_budget, ErrorBudget):
            self.budget = error_budget
        else:
            self.budget = ErrorBudget(error_budget)
        if self.budget is not None:
            if not enable_semantic:
                raise ConfigurationError("error_budget needs enable_semantic=True: it learns a semantic threshold")
            if not callable(getattr(backend, "label_counts", None)):
                raise ConfigurationError(
                    f"error_budget needs a backend that stores labels; {type(backend).__name__} does not"
                )
        rate = (DEFAULT_EXPLORE if self.budget is not None else 0.0) if explore is None else explore
        self.explorer = Explorer(rate, equivalent, rng)
        self.judge = judge if judge is None or isinstance(judge, GreyZoneJudge) else GreyZoneJudge(judge)

    @property
    def owns_lookups(self) -> bool:
        """Whether ``get`` must go through :func:`.plans.lookup_plan` (learned rule, judge)."""
        return self.budget is not None or self.judge is not None

    @property
    def active(self) -> bool:
        """Whether lookups must go through the learned rule and exploration."""
        return self.owns_lookups or self.explorer.rate > 0.0
