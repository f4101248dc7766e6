"""`semcache eval` and `semcache calibrate`: argument parsing, errors, and one real run."""

from __future__ import annotations

import json
import sys

import pytest

from redis_semcache.cli import build_parser, main
from redis_semcache.eval.cmd_eval import DEFAULT_GUARD_SETS


def test_eval_arguments_and_defaults():
    args = build_parser().parse_args(["eval", "--pairs", "p.csv", "--out", "out"])
    assert (args.mode, args.backend, args.thresholds) == ("both", "memory", "0.70:0.99:0.01")
    assert args.guards == list(DEFAULT_GUARD_SETS)
    assert args.check_threshold == 0.9 and not args.no_check
    assert str(args.pairs) == "p.csv" and str(args.out) == "out"
    args = build_parser().parse_args(
        ["eval", "--pairs", "p.json", "--out", "o", "--mode", "replay", "--guards", "numbers", "negation,entities",
         "--backend", "redis", "--redis-url", "redis://localhost:6379", "--thresholds", "0.8,0.9", "--no-check"]
    )  # fmt: skip
    assert args.guards == ["numbers", "negation,entities"]
    assert (args.mode, args.backend, args.no_check) == ("replay", "redis", True)
    assert args.redis_url == "redis://localhost:6379"


def test_calibrate_arguments_and_defaults():
    args = build_parser().parse_args(["calibrate", "--pairs", "p.csv", "--target-precision", "0.8"])
    assert (args.target_precision, args.metric, args.guards) == (0.8, "replay", "none")
    assert args.thresholds == "0.50:0.99:0.005"


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "--pairs", "p.csv"],  # --out is required
        ["eval", "--pairs", "p.csv", "--out", "o", "--mode", "fast"],
        ["calibrate", "--pairs", "p.csv"],  # --target-precision is required
        ["calibrate", "--pairs", "p.csv", "--target-precision", "0.9", "--metric", "f1"],
    ],
)
def test_bad_arguments_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_subcommands_are_listed_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "eval" in out and "calibrate" in out


@pytest.mark.parametrize("command", ["eval", "calibrate"])
def test_a_bad_pairs_file_fails_cleanly_before_any_model_loads(command, tmp_path, capsys):
    bad = tmp_path / "pairs.csv"
    bad.write_text("q1,q2\na,b\n")
    extra = ["--out", str(tmp_path)] if command == "eval" else ["--target-precision", "0.9"]
    assert main([command, "--pairs", str(bad), *extra]) == 2
    err = capsys.readouterr().err
    assert f"semcache {command}: error:" in err and "missing question1" in err
    assert main([command, "--pairs", str(tmp_path / "missing.csv"), *extra]) == 2
    assert "not found" in capsys.readouterr().err


def test_bad_thresholds_and_a_redis_backend_without_url_fail_cleanly(tmp_path, capsys):
    pairs = tmp_path / "p.csv"
    pairs.write_text("question1,question2,is_duplicate\na?,b?,1\n")
    assert main(["eval", "--pairs", str(pairs), "--out", str(tmp_path), "--thresholds", "0.9:0.1:0.1"]) == 2
    assert "bad thresholds" in capsys.readouterr().err
    assert main(["eval", "--pairs", str(pairs), "--out", str(tmp_path), "--backend", "redis"]) == 2
    assert "redis URL" in capsys.readouterr().err


TINY = """question1,question2,is_duplicate
How do I reset my password?,I forgot my password. How can I change it?,1
What is the capital of France?,What is the capital of Germany?,0
How do I learn to play the guitar?,What is the best way to learn guitar?,1
Which phone is best under $500?,Which phone is best under $1000?,0
How do I cook rice?,What is the weather in Tokyo tomorrow?,0
"""


@pytest.mark.model
def test_eval_and_calibrate_end_to_end_with_the_real_model(tmp_path, capsys):
    pairs = tmp_path / "tiny.csv"
    pairs.write_text(TINY)
    out = tmp_path / "out"
    common = ["--pairs", str(pairs), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    code = main(["eval", *common, "--out", str(out), "--thresholds", "0.5:0.95:0.05", "--guards", "numbers"])
    assert code == 0
    report = json.loads((out / "quality_tiny.json").read_text())
    assert (out / "quality_tiny.png").stat().st_size > 10_000
    assert report["dataset"]["pairs"] == 5 and report["embedder"].endswith("all-MiniLM-L6-v2")
    assert report["derivation_checks"][0]["equal"] is True
    raw = {p["threshold"]: p for p in report["replay"]["none"]["points"]}
    guarded = {p["threshold"]: p for p in report["replay"]["numbers"]["points"]}
    # the $500 / $1000 pair is a wrong hit at 0.8 without guards, and the numbers guard removes it
    assert guarded[0.8]["wrong"] == raw[0.8]["wrong"] - 1
    assert "| none | 0.90 |" in capsys.readouterr().out
    # the $500 / $1000 pair scores above every right hit, so no threshold alone is always right ...
    assert main(["calibrate", *common, "--target-precision", "1.0"]) == 1
    assert "No threshold in 0.50:0.99:0.005 reaches precision 1.0" in capsys.readouterr().out
    # ... but with the numbers guard one is
    cal_json = tmp_path / "cal.json"
    code = main(["calibrate", *common, "--target-precision", "1.0", "--guards", "numbers", "--json", str(cal_json)])
    printed = capsys.readouterr().out
    cal = json.loads(cal_json.read_text())
    assert code == 0 and cal["recommended"]["precision"] == 1.0 and cal["recommended"]["right"] == 2
    assert f"Recommended semantic_threshold: {cal['recommended']['threshold']:.3f}" in printed
    # --max-error: 2 right hits and no wrong one bound the error at 1 - 0.05 ** (1/2) = 0.776 ...
    code = main(["calibrate", *common, "--max-error", "0.8", "--guards", "numbers", "--json", str(cal_json)])
    cal = json.loads(cal_json.read_text())
    assert code == 0 and cal["recommended"]["error_upper_bound"] == pytest.approx(1 - 0.05**0.5)
    assert "error upper bound (one-sided 95% Clopper-Pearson): 0.7764" in capsys.readouterr().out
    # ... which no threshold brings within 0.5 on five pairs: not enough evidence
    assert main(["calibrate", *common, "--max-error", "0.5", "--guards", "numbers"]) == 1
    assert "reaches an error bound (95% Clopper-Pearson) of 0.5" in capsys.readouterr().out


@pytest.mark.model
def test_eval_without_matplotlib_keeps_its_results_and_limit_takes_the_first_pairs(tmp_path, capsys, monkeypatch):
    pairs = tmp_path / "tiny.csv"
    pairs.write_text(TINY)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the cli extra were not installed
    argv = ["eval", "--pairs", str(pairs), "--out", str(tmp_path), "--quiet", "--no-cache", "--limit", "3",
            "--thresholds", "0.8,0.9", "--guards", "numbers"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "quality_tiny.json").read_text())
    assert report["dataset"]["pairs"] == 3
    assert "| none | 0.90 |" in out and "pip install 'redis-semcache[cli]'" in out
    assert not (tmp_path / "quality_tiny.png").exists()


def test_limit_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--pairs", "p.csv", "--out", "o", "--limit", "0"])
    assert "must be a positive integer" in capsys.readouterr().err
