"""Online replay: an error-budgeted cache learning from feedback on a stream of queries.

Every first prompt is stored; the second prompts then arrive one by one.  Each
is looked up with ``cache.lookup`` on a cache with ``error_budget=``, and its
candidate (served or not) is labelled through ``cache.feedback`` as soon as the
lookup returns - the situation of an application that learns, a moment later,
whether the cached answer would have done.

Labels are the *corrected* ones: a candidate is right when it is the query
itself or in the query's duplicate cluster (duplicate pairs joined
transitively), since Quora's pair labels mark many true paraphrases as
non-duplicates only because nobody paired them.  The strict label (the pair's
own first prompt came back) is reported next to it for the static thresholds.

The reference is the best *static* threshold chosen with hindsight on the same
stream: for each threshold, what it would have served (the candidate of a
lookup does not depend on the threshold), and among those whose error is no
higher than the online run's, the one with the most right hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._keys import normalize_prompt
from ..backends.memory import InMemoryCacheBackend
from ..manager import LLMCachingManager
from ..quality import ErrorBudget
from .pairs import PairSet
from .replay import _store_entries

__all__ = ["BUDGETS", "OnlineRun", "duplicate_clusters", "hindsight", "online_replay", "run_lookalikes", "static_curve"]

BUDGETS = (0.05, 0.10, 0.20)
STATIC_THRESHOLDS = tuple(round(0.70 + 0.005 * i, 3) for i in range(61))  # 0.70 .. 1.00


def duplicate_clusters(pairs: PairSet) -> dict[str, int]:
    """Each prompt's cluster: duplicate pairs joined transitively (union-find)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, dup in zip(pairs.first, pairs.second, pairs.duplicate, strict=True):
        ra, rb = root(normalize_prompt(a)), root(normalize_prompt(b))
        if dup and ra != rb:
            parent[ra] = rb
    ids: dict[str, int] = {}
    return {text: ids.setdefault(root(text), len(ids)) for text in list(parent)}


@dataclass(frozen=True)
class OnlineRun:
    """Per query of the stream: the candidate's similarity (NaN: none), whether it was
    right (corrected and strict labels), and whether the budgeted cache served it."""

    budget: float
    similarity: np.ndarray
    right: np.ndarray
    strict_right: np.ndarray
    served: np.ndarray
    thresholds: np.ndarray  # the rule in force at each lookup (NaN: exact only)
    exact: np.ndarray  # served by exact match (right by construction)

    def prefix(self, n: int) -> OnlineRun:
        """The first ``n`` queries of the stream."""
        return OnlineRun(self.budget, self.similarity[:n], self.right[:n], self.strict_right[:n], self.served[:n],
                         self.thresholds[:n], self.exact[:n])  # fmt: skip

    @property
    def first_semantic_hit(self) -> int | None:
        """The index of the first served semantic hit (None: none)."""
        semantic = self.served & ~self.exact
        return int(np.argmax(semantic)) if semantic.any() else None

    @property
    def labels_before_first_semantic_hit(self) -> int | None:
        first = self.first_semantic_hit
        return None if first is None else int((~np.isnan(self.similarity[:first])).sum())

    @property
    def served_error(self) -> float | None:
        n = int(self.served.sum())
        return None if n == 0 else float((self.served & ~self.right).sum() / n)

    @property
    def right_hits(self) -> int:
        return int((self.served & self.right).sum())

    @property
    def wrong_hits(self) -> int:
        return int((self.served & ~self.right).sum())

    def error_over_stream(self) -> np.ndarray:
        """Cumulative served error after each query (NaN before the first hit)."""
        served = np.cumsum(self.served)
        wrong = np.cumsum(self.served & ~self.right)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(served > 0, wrong / served, np.nan)


def online_replay(
    pairs: PairSet,
    first_vectors: np.ndarray,
    second_vectors: np.ndarray,
    budget: float,
    *,
    refresh_seconds: float = 5.0,
    progress: bool = False,
    prior_labels: Sequence[tuple[float, bool]] = (),
) -> OnlineRun:
    """Stream the second prompts through a budgeted in-memory cache, labelling each candidate.
    ``prior_labels`` (similarity, right) are recorded first: a warm start from other traffic."""
    cluster = duplicate_clusters(pairs)
    texts, own = _entry_texts(pairs)
    texts = [normalize_prompt(t) for t in texts]
    cache = LLMCachingManager(
        InMemoryCacheBackend(max_size=None), enable_semantic=True, embedder=None, default_ttl=None, guards=None,
        strict=True, error_budget=ErrorBudget(budget, refresh_seconds=refresh_seconds),
    )  # fmt: skip
    try:
        _store_entries(pairs, first_vectors, cache, progress)
        if len(prior_labels):
            scope = cache.lookup(normalize_prompt(pairs.second[0]), embedding=second_vectors[0]).scope
            for similarity_, correct in prior_labels:
                cache.backend.record_label(scope, float(similarity_), bool(correct))
            assert cache.quality.budget is not None
            cache.quality.budget.update(scope, *cache.backend.label_counts(scope))  # seen at once
        n = len(pairs)
        similarity = np.full(n, np.nan)
        right = np.zeros(n, dtype=bool)
        strict = np.zeros(n, dtype=bool)
        served = np.zeros(n, dtype=bool)
        thresholds = np.full(n, np.nan)
        exact = np.zeros(n, dtype=bool)
        for i in _bar(range(n), progress, f"budget {budget}"):
            query = normalize_prompt(pairs.second[i])
            found = cache.lookup(query, embedding=second_vectors[i])
            thresholds[i] = np.nan if found.threshold is None else found.threshold
            if found.candidate_prompt is None:
                continue
            similarity[i] = found.similarity
            candidate = found.candidate_prompt
            right[i] = candidate == query or cluster.get(candidate, -1) == cluster.get(query, -2)
            strict[i] = bool(pairs.duplicate[i]) and candidate == texts[own[i]]
            served[i] = found.hit
            exact[i] = found.kind == "exact"
            cache.feedback(found, bool(right[i]))
        return OnlineRun(budget, similarity, right, strict, served, thresholds, exact)
    finally:
        cache.close()


def static_curve(run: OnlineRun, thresholds: Sequence[float] = STATIC_THRESHOLDS) -> list[dict[str, Any]]:
    """What each static threshold would have served on the same stream (same candidates)."""
    sim = np.nan_to_num(run.similarity, nan=-2.0)
    rows = []
    for t in thresholds:
        hit = sim >= t - 1e-6
        served = int(hit.sum())
        rows.append({
            "threshold": float(t),
            "served": served,
            "right": int((hit & run.right).sum()),
            "wrong": int((hit & ~run.right).sum()),
            "error": None if served == 0 else float((hit & ~run.right).sum() / served),
            "strict_right": int((hit & run.strict_right).sum()),
            "strict_error": None if served == 0 else float((hit & ~run.strict_right).sum() / served),
        })  # fmt: skip
    return rows


def hindsight(curve: Sequence[dict[str, Any]], max_error: float) -> dict[str, Any] | None:
    """The static threshold with the most right hits among those with error <= ``max_error``."""
    within = [row for row in curve if row["error"] is not None and row["error"] <= max_error + 1e-12]
    return max(within, key=lambda row: (row["right"], -row["threshold"]), default=None)


def summary(run: OnlineRun, curve: Sequence[dict[str, Any]]) -> dict[str, Any]:
    error = run.served_error
    oracle = hindsight(curve, error if error is not None else 0.0)
    at_budget = hindsight(curve, run.budget)
    final = run.thresholds[-1]
    return {
        "budget": run.budget,
        "served": int(run.served.sum()),
        "right_hits": run.right_hits,
        "wrong_hits": run.wrong_hits,
        "served_error": error,
        "final_threshold": None if np.isnan(final) else float(final),
        "first_hit_at": int(np.argmax(run.served)) if run.served.any() else None,
        "first_semantic_hit_at": run.first_semantic_hit,
        "labels_before_first_semantic_hit": run.labels_before_first_semantic_hit,
        "oracle_same_error": oracle,
        "right_share_of_oracle": None if not oracle or not oracle["right"] else run.right_hits / oracle["right"],
        "oracle_at_budget": at_budget,
    }


def _entry_texts(pairs: PairSet) -> tuple[list[str], np.ndarray]:
    from .replay import entry_numbers

    return entry_numbers(pairs)


def _bar(items: Any, enabled: bool, desc: str) -> Any:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="query")


# -- the command line: semcache eval --online ---------------------------------------


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--online",
        action="store_true",
        help="online replay: stream the second prompts through caches with error_budget= for each of --budgets, "
        "labelling every candidate through feedback (corrected labels), against the best static threshold in hindsight",
    )
    parser.add_argument("--budgets", default="0.05,0.10,0.20", help="error budgets for --online (comma list)")
    parser.add_argument("--first", type=int, default=3000, help="--online also reports the first N queries")
    parser.add_argument("--plots", type=Path, default=None, help="where --online puts its PNGs (default: --out)")
    parser.add_argument(
        "--lookalikes",
        action="store_true",
        help="--online also streams the lookalikes (non-duplicates at cosine >= 0.88, a quarter duplicates), "
        "cold and warm-started with the other queries' labels",
    )


def run(args: Any) -> int:
    from . import _cli
    from .report import write_json

    errors: tuple[type[BaseException], ...] = (*_cli.ERRORS, ValueError)
    try:
        budgets = tuple(float(b) for b in args.budgets.split(","))
        pairs, vectors, _ = _cli.load(args)
        runs = [online_replay(pairs, vectors.first, vectors.second, b, progress=not args.quiet) for b in budgets]
    except errors as exc:
        return _cli.fail("eval --online", exc)
    first = [r.prefix(args.first) for r in runs]
    report = {
        "dataset": {"source": pairs.source, "pairs": len(pairs), "duplicates": pairs.positives},
        "embedder": vectors.embedder,
        "labels": "corrected (query itself or its duplicate cluster, joined transitively)",
        "runs": [summary(r, static_curve(runs[0])) for r in runs],
        "first": {"queries": args.first, "runs": [summary(r, static_curve(first[0])) for r in first]},
        "static": static_curve(runs[0]),
        "error_over_stream": {str(r.budget): _thin(r.error_over_stream()) for r in runs},
        "machine": _cli.machine(),
    }
    stem = f"online_{Path(args.pairs).stem}"
    json_path = write_json(report, args.out / f"{stem}.json")
    print(f"first {args.first} queries:\n{format_runs(report['first']['runs'])}\n\nwhole file:")
    print(format_online(report))
    print(f"\nwrote {json_path}")
    title = f"{Path(args.pairs).stem}, {len(pairs)} queries"
    plots = args.plots or args.out
    _cli.plot_if_possible(lambda: plot_online(runs, plots / f"{stem}.png", title=title))
    if args.lookalikes:
        run_lookalikes(pairs, vectors, runs, args.out / f"{stem}_lookalikes.json", plots / f"{stem}_lookalikes.png")
    return 0


def run_lookalikes(pairs: PairSet, vectors: Any, runs: Sequence[Any], json_path: Path, png: Path) -> None:
    """``semcache eval --online --lookalikes``: the stream cold, and warm-started with the labels the
    whole-file ``runs`` gathered on every other query; a JSON report, tables and a plot."""
    from . import _cli
    from .lookalike import lookalike_stream
    from .report import write_json

    stream = lookalike_stream(pairs, vectors.first, vectors.second)
    others = np.ones(len(pairs), dtype=bool)
    others[stream.source_index] = False
    done: dict[str, list[Any]] = {"cold": [], "warm": []}
    for whole in runs:
        keep = others & ~np.isnan(whole.similarity)
        prior = list(zip(whole.similarity[keep].tolist(), whole.right[keep].tolist(), strict=True))
        done["cold"].append(online_replay(stream.pairs, stream.first, stream.second, whole.budget))
        done["warm"].append(online_replay(stream.pairs, stream.first, stream.second, whole.budget, prior_labels=prior))
    curve = static_curve(done["cold"][0])
    report: dict[str, Any] = {
        "stream": {"pairs": len(stream.pairs), "duplicates": int(stream.pairs.duplicate.sum()),
                   "min_similarity": 0.88, "warm_start_labels": int((others & ~np.isnan(runs[0].similarity)).sum())},
        "cold": [summary(r, curve) for r in done["cold"]],
        "warm": [summary(r, curve) for r in done["warm"]],
        "static": curve,
    }  # fmt: skip
    path = write_json(report, json_path)
    for kind in ("cold", "warm"):
        print(f"\nlookalike stream ({len(stream.pairs)} queries), {kind} start:\n{format_runs(report[kind])}")
    print(f"\nwrote {path}")
    every = [*done["warm"], *done["cold"]]
    names = [f"budget {r.budget:.2f}, {kind} start" for kind in ("warm", "cold") for r in done[kind]]
    dashed = [False] * len(done["warm"]) + [True] * len(done["cold"])
    title = f"lookalikes: {len(stream.pairs)} queries"
    _cli.plot_if_possible(lambda: plot_online(every, png, title=title, names=names, dashed=dashed))


def _thin(values: np.ndarray, points: int = 400) -> list[float | None]:
    step = max(1, len(values) // points)
    return [None if np.isnan(v) else round(float(v), 5) for v in values[::step]]


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def format_runs(runs: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| budget | served | right | wrong | served error | labels before 1st semantic hit | final threshold "
        "| best static (error <= budget) | right vs it |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        b = r["oracle_at_budget"]
        at = "none" if b is None else f"{b['threshold']:.3f}: {b['right']} right, error {_pct(b['error'])}"
        final = "exact only" if r["final_threshold"] is None else f"{r['final_threshold']:.3f}"
        vs_budget = "n/a" if b is None or not b["right"] else f"{r['right_hits'] / b['right']:.0%}"
        before = r["labels_before_first_semantic_hit"]
        lines.append(
            f"| {r['budget']:.2f} | {r['served']} | {r['right_hits']} | {r['wrong_hits']} | {_pct(r['served_error'])} "
            f"| {'none served' if before is None else before} | {final} | {at} | {vs_budget} |"
        )
    return "\n".join(lines)


def format_online(report: dict[str, Any]) -> str:
    lines = [format_runs(report["runs"])]
    lines += ["", "| static threshold | served | right | error (corrected) | error (strict) |", "|---|---|---|---|---|"]
    for row in report["static"]:
        if round(row["threshold"] * 100, 3) % 2 == 0 and row["threshold"] >= 0.8:
            lines.append(
                f"| {row['threshold']:.2f} | {row['served']} | {row['right']} | {_pct(row['error'])} "
                f"| {_pct(row['strict_error'])} |"
            )
    return "\n".join(lines)


def plot_online(
    runs: Sequence[OnlineRun], path: Any, *, title: str, names: Sequence[str] | None = None, dashed: Sequence[bool] = ()
) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    budgets = sorted({r.budget for r in runs})
    palette = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    for i, r in enumerate(runs):
        color = palette[budgets.index(r.budget) % len(palette)]
        name = names[i] if names else f"budget {r.budget:.2f}: served error so far"
        style = "--" if i < len(dashed) and dashed[i] else "-"
        ax.plot(r.error_over_stream(), color=color, linestyle=style, label=name)
        ax.axhline(r.budget, color=color, linestyle=":", linewidth=1)
    ax.set_xlabel("queries streamed")
    ax.set_ylabel("share of served hits that were wrong")
    worst = max(
        (float(np.nanmax(e)) for e in (r.error_over_stream() for r in runs) if not np.isnan(e).all()), default=0
    )
    ax.set_ylim(0, min(1.0, max(0.3, max(r.budget for r in runs) * 1.5, worst + 0.05)))
    ax.set_title(f"Online replay with an error budget ({title})")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
