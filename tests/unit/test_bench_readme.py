"""bench/README.md names every bench script, its links resolve, and results files carry no history in their names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
README = BENCH / "README.md"
LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#(?P<anchor>[^)\s]+))?\)")
# A results path in the docs: `bench/results/x.json` or a link ](../bench/results/x.png); not `git show REV:bench/...`.
RESULT_REF = re.compile(r"(?<![:/\w])bench/results/(?P<name>[\w.{},*\-]+)")
HISTORY_IN_NAME = re.compile(r"-(run\d+|before|after|s\d+|[0-9a-f]{7})(?=[.-])")


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in doc.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


def test_every_script_is_in_the_readme():
    text = README.read_text(encoding="utf-8")
    scripts = sorted(p.name for p in BENCH.glob("*.py") if p.name != "__init__.py")
    assert scripts, "no bench scripts found"
    missing = [name for name in scripts if f"`{name}`" not in text]
    assert missing == [], f"bench/README.md does not name: {missing}"


def test_readme_links_resolve():
    for match in LINK.finditer(README.read_text(encoding="utf-8")):
        target = match["target"]
        if target.startswith("http"):
            continue
        path = (BENCH / target).resolve()  # relative to bench/, as a Markdown viewer reads it
        assert path.exists(), f"bench/README.md links to a missing file: {target}"
        if match["anchor"]:
            assert match["anchor"] in anchors(path), f"no heading #{match['anchor']} in {target}"


def test_make_bench_is_defined():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^bench:", makefile, re.MULTILINE), "the Makefile declares `bench` but does not define it"


DOCS = ["README.md", "bench/README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCS)
def test_results_files_named_in_docs_exist(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    for match in RESULT_REF.finditer(text):
        name = match["name"].rstrip(".,")
        line = text[text.rfind("\n", 0, match.start()) + 1 : text.find("\n", match.end())]
        if "--out" in line or "git show" in line or name.endswith(("-quick.json", "-quick.*")):
            continue  # a command's output path, or a file read back from git history
        pattern = re.sub(r"\{[^}]*\}", "*", name)
        assert list((BENCH / "results").glob(pattern)), f"{doc} names bench/results/{name}, which does not exist"


def test_results_files_carry_no_history_in_their_names():
    named = sorted(p.name for p in (BENCH / "results").iterdir() if HISTORY_IN_NAME.search(p.name))
    assert named == [], f"keep history in git, not in file names: {named}"
