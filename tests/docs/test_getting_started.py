"""The documentation: the getting-started page's snippets run, and ``mkdocs build --strict`` passes.

How the getting-started page marks its code blocks (an HTML comment on the line before the fence; invisible on the
site):

* ```` ```python ```` blocks have no marker: every one is executed, in page order, each in a fresh namespace, from
  the repository root.
* ``<!-- test: run -->`` before a ```` ```console ```` / ```` ```bash ```` block: the block's commands (console:
  the lines starting with ``$ ``; bash: every line) run as one ``bash -euo pipefail`` script from the repository
  root, after the Python blocks above them, and must exit 0.
* ``<!-- test: make-target -->``: each ``make TARGET`` command must name a target of the Makefile (used for
  ``make demo``, which takes minutes: the test checks the target and the module it runs instead).
* ``<!-- test: skip: REASON -->``: not run (it needs a cloud project); the reason is mandatory.

Every non-Python block must carry one of these markers, so a new snippet cannot go untested by accident. The page's
scratch folder ``/tmp/cosmos-preview`` is replaced by a temporary folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

import pytest

REPO: Final = Path(__file__).resolve().parents[2]
PAGE: Final = REPO / "docs" / "getting-started.md"
SCRATCH: Final = "/tmp/cosmos-preview"
_FENCE: Final = re.compile(
    r"^(?P<fence>```+)(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL
)
_MARKER: Final = re.compile(r"^<!--\s*test:\s*(?P<kind>[a-z-]+)\s*(?::\s*(?P<reason>.*?))?\s*-->$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    language: str
    body: str
    line: int
    marker: str | None
    reason: str | None

    def commands(self) -> list[str]:
        """The shell commands: ``$ `` lines of a console block, every non-comment line of a bash block."""
        lines = self.body.splitlines()
        if self.language == "console":
            return [line[2:] for line in lines if line.startswith("$ ")]
        return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page`` with the marker on the line before it."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        marker = _MARKER.match(before)
        found.append(
            Block(
                language=match["info"].strip().split(" ")[0],
                body=match["body"],
                line=text.count("\n", 0, match.start()) + 1,
                marker=marker["kind"] if marker else None,
                reason=marker["reason"] if marker else None,
            )
        )
    return found


def test_every_block_is_run_or_has_a_reason() -> None:
    page_blocks = blocks(PAGE)
    assert {b.language for b in page_blocks} >= {"python", "console", "bash"}
    for block in page_blocks:
        where = f"{PAGE.name}:{block.line}"
        if block.language == "python":
            assert block.marker is None, f"{where}: Python blocks are always executed; remove the marker"
            continue
        assert block.marker in ("run", "make-target", "skip"), f"{where}: mark the {block.language} block"
        if block.marker == "skip":
            assert block.reason, f"{where}: a skipped block needs a reason: <!-- test: skip: REASON -->"
        if block.marker == "run":
            assert block.commands(), f"{where}: a run block needs commands"


def test_make_targets_exist() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    checked = []
    for block in blocks(PAGE):
        if block.marker != "make-target":
            continue
        for command in block.commands():
            target = command.split()[1]
            assert command.split()[0] == "make"
            rule = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)*)", makefile, re.MULTILINE)
            assert rule, f"the Makefile has no target {target!r} (getting-started.md:{block.line})"
            checked.append((target, rule[1]))
    assert [target for target, _ in checked] == ["demo"]
    # The demo itself takes minutes; check what it runs instead.
    assert "-m cosmos_remote.demo" in checked[0][1]
    demo = importlib.import_module("cosmos_remote.demo")
    assert callable(demo.main)


def _cosmos_remote_on_path(bin_dir: Path) -> str:
    """PATH with ``cosmos-remote``: the installed console script if there is one, else a shim for ``python -m``."""
    installed = Path(sys.executable).parent / "cosmos-remote"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    if installed.exists():
        return path
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "cosmos-remote"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cosmos_remote.cli "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return f"{bin_dir}{os.pathsep}{path}"


def test_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python blocks and ``test: run`` shell blocks, in page order, from the repository root."""
    scratch = tmp_path / "cosmos-preview"
    monkeypatch.chdir(REPO)
    env = {**os.environ, "PATH": _cosmos_remote_on_path(tmp_path / "bin")}
    env.pop("FORCE_COLOR", None)
    ran = []
    for block in blocks(PAGE):
        body = block.body.replace(SCRATCH, str(scratch))
        where = f"{PAGE.name}:{block.line}"
        if block.language == "python":
            exec(compile(body, where, "exec"), {"__name__": "__getting_started__"})
        elif block.marker == "run":
            script = "\n".join(command.replace(SCRATCH, str(scratch)) for command in block.commands())
            completed = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert completed.returncode == 0, f"{where}\n{completed.stdout}\n{completed.stderr}"
            assert "create or replace table" in completed.stdout.lower()  # `show orders` printed the script
            assert "OK:" in completed.stderr  # `verify` passed
        else:
            continue
        ran.append(block.language)
    assert ran == ["python", "console", "python"]


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_gen_benchmarks", REPO / "docs" / "_gen_benchmarks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_tables_render_any_results(tmp_path: Path) -> None:
    hook = _hook()
    assert "No results yet" in hook.render_results(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "No results yet" in hook.render_results(tmp_path / "empty")

    results = tmp_path / "results"
    results.mkdir()
    (results / "broken.json").write_text("{not json")
    (results / "demo.json").write_text(
        '{"benchmark": "demo", "when": "2026-01-01T00:00:00Z", "setup": {"files": 3, "note": "a|b"},'
        ' "rows": [{"files": 10, "seconds": 0.25, "nested": {"ok": true}}, {"files": 1000, "seconds": 12.5}]}'
    )
    (tmp_path / "demo.py").write_text('"""A demo benchmark.\n\nHow it measures."""\n')  # benchmarks/<name>.py
    markdown = hook.render_results(results)
    assert "`benchmarks/results/broken.json` could not be read" in markdown
    assert "A demo benchmark." in markdown
    assert "measured 2026-01-01T00:00:00Z" in markdown
    assert "| `files` | `seconds` | `nested.ok` |" in markdown
    assert "| 1,000 | 12.50 | n/a |" in markdown
    assert "| `setup.note` | a\\|b |" in markdown

    real = hook.render_results(REPO / "benchmarks" / "results")
    for path in sorted((REPO / "benchmarks" / "results").glob("*.json")):
        assert f"## {path.stem}" in real


def test_mkdocs_build_is_strict_and_clean(tmp_path: Path) -> None:
    site = tmp_path / "site"
    command = [
        sys.executable,
        "-m",
        "mkdocs",
        "build",
        "--strict",
        "--config-file",
        "mkdocs.yml",
        "--site-dir",
        str(site),
    ]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "WARNING" not in output, output
    for page in ("getting-started", "configuration", "how-it-works", "inspecting", "terraform", "artifacts",
                 "operating", "limitations", "migrating", "benchmarks", "install", "testing"):  # fmt: skip
        assert (site / page / "index.html").is_file(), page
    benchmarks = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    assert "benchmark-results" not in benchmarks  # the marker was replaced
    for path in (REPO / "benchmarks" / "results").glob("*.json"):
        assert f'id="{path.stem}"' in benchmarks, path.name
    assert not (site / "_gen_benchmarks.py").exists()
