"""How often default_equivalent calls two answers the same when they differ, and the reverse.

Answer pairs (docs/quality.md, "Labels from get_or_compute"):

* ``mock_data.json`` (GPTCache's 999 sentence / rewording pairs) as stand-ins for
  answers: each origin with its own rewording is "same"; each origin with the
  rewording of a random other item is "different" (easy), and with the most
  similar rewording of another item "different (nearest)" (hard: often the same
  topic; a few are rewordings of each other, so this rate is an upper bound);
* ``bench/data/answer_pairs.json``: 30 hand-written pairs of LLM-style answers
  worded two ways, and 30 pairs of answers that must not be taken for each
  other (same topic, another fact; another number).

For each threshold it prints the share of "same" pairs called different and of
"different" pairs called same, by the whole rule (equal text, numbers, cosine).

    PYTHONPATH=$PWD python bench/answer_equivalence.py --pairs ../shared/data/mock_data.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from redis_semcache.embeddings.sentence_transformer import default_embedder
from redis_semcache.eval.pairs import load_pairs
from redis_semcache.eval.vectors import embed_texts
from redis_semcache.quality.equivalent import ANSWER_THRESHOLD, same_answer

HERE = Path(__file__).parent
THRESHOLDS = (0.70, 0.75, 0.78, 0.80, 0.82, 0.85, 0.88, 0.90, 0.95)


def _cosines(a: list[str], b: list[str], vector: dict[str, np.ndarray]) -> np.ndarray:
    return np.array([float(vector[x] @ vector[y]) for x, y in zip(a, b, strict=True)])


def _called_same(a: list[str], b: list[str], threshold: float, cos: np.ndarray) -> np.ndarray:
    """default_equivalent's rule at ``threshold``, with the cosines already computed."""
    return np.array(
        [same_answer(x, y, threshold, lambda _x, _y, c=c: float(c)) for x, y, c in zip(a, b, cos, strict=True)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=Path("../shared/data/mock_data.json"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "answer_equivalence.json")
    args = parser.parse_args()
    mock = load_pairs(args.pairs)
    origin, similar = list(mock.first), list(mock.second)
    rng = np.random.default_rng(7)
    shift = rng.integers(1, len(origin), len(origin))
    other = [similar[(i + s) % len(similar)] for i, s in enumerate(shift)]
    hand = json.loads((HERE / "data" / "answer_pairs.json").read_text())
    texts = [*origin, *similar, *(t for pair in hand["same"] + hand["different"] for t in pair)]
    everything = embed_texts(texts, default_embedder())  # one pass, cached on disk
    vector = dict(zip(texts, everything, strict=True))
    sims = np.array([vector[t] for t in origin]) @ np.array([vector[t] for t in similar]).T
    np.fill_diagonal(sims, -2.0)
    nearest = [similar[j] for j in sims.argmax(axis=1)]
    sets = {
        "mock same": (origin, similar, True),
        "mock different (random)": (origin, other, False),
        "mock different (nearest)": (origin, nearest, False),
        "hand same": ([a for a, _ in hand["same"]], [b for _, b in hand["same"]], True),
        "hand different": ([a for a, _ in hand["different"]], [b for _, b in hand["different"]], False),
    }
    cos = {name: _cosines(a, b, vector) for name, (a, b, _) in sets.items()}
    rows = []
    for t in THRESHOLDS:
        row: dict[str, float] = {"threshold": t}
        for name, (a, b, same) in sets.items():
            called = _called_same(a, b, t, cos[name])
            row[name] = float(np.mean(~called if same else called))  # the error rate on this set
        rows.append(row)
    names = list(sets)
    print("error rate per set: 'same' sets = called different; 'different' sets = called same")
    print("| threshold | " + " | ".join(f"{n} ({len(sets[n][0])})" for n in names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for row in rows:
        mark = " (default)" if abs(row["threshold"] - ANSWER_THRESHOLD) < 1e-9 else ""
        print(f"| {row['threshold']:.2f}{mark} | " + " | ".join(f"{row[n]:.3f}" for n in names) + " |")
    wrong = {n: [(a, b, round(float(c), 3)) for (a, b, c) in zip(*sets[n][:2], cos[n], strict=True)] for n in names}
    at = {n: _called_same(*sets[n][:2], ANSWER_THRESHOLD, cos[n]) for n in names}
    mistakes = {n: [w for w, c in zip(wrong[n], at[n], strict=True) if c != sets[n][2]] for n in names if "hand" in n}
    for n, items in mistakes.items():
        print(f"\n{n}: wrong at {ANSWER_THRESHOLD}:")
        for a, b, c in items:
            print(f"  {c}  {a!r} / {b!r}")
    args.out.write_text(json.dumps({"threshold": ANSWER_THRESHOLD, "rows": rows, "hand_mistakes": mistakes}, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
