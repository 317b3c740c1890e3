"""docs/operating.md's "What is guaranteed" names a test for each promise: every named test exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_test_the_guarantees_name_exists() -> None:
    section = (ROOT / "docs" / "operating.md").read_text().split("## What is guaranteed", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(test_\w+)`", section))
    assert len(named) >= 10
    defined = {
        match
        for path in (ROOT / "tests").rglob("test_*.py")
        for match in re.findall(r"^def (test_\w+)\(", path.read_text(), flags=re.MULTILINE)
    }
    assert named - defined == set()
