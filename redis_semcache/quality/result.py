"""LookupResult: what a lookup found, served or not, and the rule it applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .._errors import ForeignResultError

__all__ = ["ForeignResultError", "LookupResult"]


@dataclass(frozen=True)
class LookupResult:
    """The outcome of ``cache.lookup``.

    ``hit`` and ``response`` say what was served; ``kind`` is "exact",
    "semantic" or None.  ``similarity``, ``candidate_prompt`` and
    ``candidate_key`` describe the best semantic candidate the guards kept,
    also when it was below ``threshold`` and not served (None when there was
    none).  ``threshold`` is the similarity a semantic candidate needed: None
    when the rule was "exact matches only" (an error budget without evidence
    yet, or semantic caching off).
    """

    hit: bool
    kind: Literal["exact", "semantic"] | None
    response: Any
    similarity: float | None
    candidate_prompt: str | None
    candidate_key: str | None
    threshold: float | None
    scope: str = field(default="", repr=False)
    origin: str = field(default="", repr=False, compare=False)  # the manager that made it (feedback checks)

    @property
    def has_candidate(self) -> bool:
        return self.candidate_key is not None
