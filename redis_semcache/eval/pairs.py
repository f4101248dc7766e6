"""Labelled prompt pairs: loading them from CSV or JSON.

Two formats are accepted, told apart by the file's content rather than its name:

* CSV with a header containing ``question1,question2,is_duplicate``
  (``is_duplicate`` is 1 when both questions mean the same, 0 otherwise);
* JSON: a list of ``{"origin": ..., "similar": ...}`` objects, all paraphrases
  (GPTCache's benchmark format), optionally with an ``is_duplicate`` field.

Prompts are normalised the way the cache normalises them, so an evaluation
embeds and looks up exactly what the cache would.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import InvalidInputError, PairFileError
from .._keys import normalize_prompt

__all__ = ["PairFileError", "PairSet", "load_pairs", "pairs_from_rows"]

CSV_COLUMNS = ("question1", "question2", "is_duplicate")
JSON_FIELDS = ("origin", "similar")


@dataclass(frozen=True)
class PairSet:
    """Labelled pairs: ``first[i]`` and ``second[i]`` mean the same when ``duplicate[i]``.

    In a cache replay ``first`` is what gets stored and ``second`` what gets asked.
    """

    first: tuple[str, ...]
    second: tuple[str, ...]
    duplicate: np.ndarray  # bool, one per pair
    source: str = "<memory>"

    def __post_init__(self) -> None:
        if not (len(self.first) == len(self.second) == len(self.duplicate)):
            raise InvalidInputError("first, second and duplicate must have the same length")

    def __len__(self) -> int:
        return len(self.first)

    def head(self, n: int) -> PairSet:
        """The first ``n`` pairs."""
        return PairSet(self.first[:n], self.second[:n], self.duplicate[:n], self.source)

    @property
    def positives(self) -> int:
        return int(self.duplicate.sum())

    def digest(self) -> str:
        """A content hash of the (normalised) pairs and labels."""
        h = hashlib.sha256()
        for a, b, d in zip(self.first, self.second, self.duplicate, strict=True):
            h.update(f"{a}\x00{b}\x00{int(d)}\x01".encode())
        return h.hexdigest()


def pairs_from_rows(rows: Iterable[tuple[Any, Any, Any]], *, source: str = "<memory>") -> PairSet:
    """Build a PairSet from (first, second, is_duplicate) rows, checking every value.

    ``is_duplicate`` may be a bool, 0/1, or the strings "0"/"1"/"true"/"false".
    Raises PairFileError naming the offending row (1-based, data rows only).
    """
    first: list[str] = []
    second: list[str] = []
    labels: list[bool] = []
    for n, (a, b, d) in enumerate(rows, start=1):
        try:
            first.append(normalize_prompt(a))
            second.append(normalize_prompt(b))
        except InvalidInputError as exc:
            raise PairFileError(f"{source}: row {n}: {exc}") from exc
        labels.append(_label(d, f"{source}: row {n}"))
    if not first:
        raise PairFileError(f"{source}: no pairs found")
    return PairSet(tuple(first), tuple(second), np.array(labels, dtype=bool), source)


def load_pairs(path: str | Path) -> PairSet:
    """Read labelled pairs from a CSV or JSON file (see the module docstring)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise PairFileError(f"pairs file not found: {p}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PairFileError(f"cannot read pairs file {p}: {exc}") from exc
    stripped = text.lstrip()
    if not stripped:
        raise PairFileError(f"{p}: file is empty")
    if stripped[0] in "[{":
        return _from_json(text, str(p))
    return _from_csv(text, str(p))


def _label(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("1", "true"):
            return True
        if v in ("0", "false"):
            return False
    raise PairFileError(f"{where}: is_duplicate must be 0 or 1, got {value!r}")


def _from_csv(text: str, source: str) -> PairSet:
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise PairFileError(
            f"{source}: CSV header must contain {','.join(CSV_COLUMNS)}; missing {', '.join(missing)} "
            f"(found: {','.join(header) or 'nothing'})"
        )

    def rows() -> Iterable[tuple[Any, Any, Any]]:
        for row in reader:
            if None in row or any(row[c] is None for c in CSV_COLUMNS):
                raise PairFileError(f"{source}: line {reader.line_num}: wrong number of fields")
            yield row["question1"], row["question2"], row["is_duplicate"]

    return pairs_from_rows(rows(), source=source)


def _from_json(text: str, source: str) -> PairSet:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PairFileError(f"{source}: invalid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise PairFileError(f"{source}: JSON must be a list of {{'origin': ..., 'similar': ...}} objects")

    def rows() -> Iterable[tuple[Any, Any, Any]]:
        for n, item in enumerate(data, start=1):
            if not isinstance(item, dict) or any(f not in item for f in JSON_FIELDS):
                raise PairFileError(f"{source}: item {n}: expected an object with 'origin' and 'similar'")
            yield item["origin"], item["similar"], item.get("is_duplicate", 1)

    return pairs_from_rows(rows(), source=source)
