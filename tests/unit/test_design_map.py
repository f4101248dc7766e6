"""docs/design.md, "Where things live", names every module of redis_semcache/ and no module that is gone."""

from __future__ import annotations

import re
from pathlib import Path

import redis_semcache

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(redis_semcache.__file__).resolve().parent
ROW = re.compile(r"^\| `(?P<path>[^`]+\.(?:py|lua))` \|", re.MULTILINE)


def section() -> str:
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    start = text.index("## Where things live")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def modules() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*"):
        if path.suffix in (".py", ".lua") and "__pycache__" not in path.parts:
            found.add(path.relative_to(PACKAGE).as_posix())
    return found


def rows() -> list[str]:
    return ROW.findall(section())


def test_every_module_has_a_row():
    missing = sorted(modules() - set(rows()))
    assert missing == [], f"add a row to docs/design.md, 'Where things live', for: {missing}"


def test_every_row_names_a_module_that_exists():
    gone = sorted(set(rows()) - modules())
    assert gone == [], f"docs/design.md, 'Where things live', names modules that are gone: {gone}"


def test_one_row_per_module():
    named = rows()
    assert len(named) == len(set(named))
