"""``semcache eval --chat``: the chat-wrapped replay variants, with a fake embedder that has a window."""

from __future__ import annotations

import json

import numpy as np

from redis_semcache.cli import main
from redis_semcache.eval import _cli
from redis_semcache.eval.chat import VARIANTS, chat_replay
from redis_semcache.eval.pairs import PairSet

from ..chat_contract import WindowedEmbedder


class WideWindow(WindowedEmbedder):
    max_tokens = 40  # the questions fit, the preamble does not


PAIRS = PairSet(
    first=("how do I learn python fast", "what is the capital of france", "best way to cook rice"),
    second=("fast python learn how do I", "what is the capital of spain", "rice cook best way to"),
    duplicate=np.array([True, False, True]),
)


def test_chat_variants_match_plain_and_the_json_wrapping_does_not():
    rows = {row["variant"]: row for row in chat_replay(PAIRS, WideWindow(), threshold=0.9)}
    assert list(rows) == list(VARIANTS)
    plain = rows["plain"]
    assert (plain["right"], plain["wrong"]) == (2, 0)  # the reordered questions hit, france/spain misses
    for name in ("chat", "chat+preamble"):
        assert (rows[name]["right"], rows[name]["wrong"], rows[name]["semantic_skipped_long"]) == (2, 0, 0)
    # one JSON string: the shared wrapping makes france and spain look alike
    assert rows["json"]["wrong"] == 1
    # too long for the window: exact match only, counted, never a wrong hit
    assert (rows["json+preamble"]["right"], rows["json+preamble"]["wrong"]) == (0, 0)
    assert rows["json+preamble"]["semantic_skipped_long"] == 3
    # the same prompts embedded truncated (window hidden): every query hits something
    truncated = rows["json+preamble/truncated"]
    assert truncated["right"] + truncated["wrong"] == 3 and truncated["wrong"] >= 1


def test_the_cli_prints_and_writes_the_variants(tmp_path, monkeypatch, capsys):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "question1,question2,is_duplicate\n"
        + "".join(f"{a},{b},{int(d)}\n" for a, b, d in zip(PAIRS.first, PAIRS.second, PAIRS.duplicate, strict=True))
    )
    monkeypatch.setattr(_cli, "make_embedder", lambda model: WideWindow())
    argv = [
        "eval",
        "--chat",
        "--pairs",
        str(pairs),
        "--out",
        str(tmp_path),
        "--chat-pairs",
        "2",
        "--chat-threshold",
        "0.9",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| chat+preamble | 1 | 0 |" in out
    report = json.loads((tmp_path / "chat_pairs.json").read_text())
    assert report["pairs"] == 2 and [r["variant"] for r in report["variants"]] == list(VARIANTS)
