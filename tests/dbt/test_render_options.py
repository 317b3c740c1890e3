"""Where dbt runs and writes: read-only projects, concurrent renders, a separate dbt environment."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rendering_support import CAPTURE, EXAMPLE_PROFILES, EXAMPLE_PROJECT, copy_project

from cosmos_remote.dbt import RenderResult, render_project
from cosmos_remote.dbt.runner import python_for
from cosmos_remote.testing import LocalGCP

DATASET = "render_options"
SELECT = ["+stg_orders"]  # three seeds' worth of work is enough here; the parse covers the whole project


def _listing(root: Path) -> dict[str, tuple[int, float]]:
    return {str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime) for path in root.rglob("*")}


def _set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~bits)


@pytest.fixture(scope="module")
def dataset(local_gcp_session: LocalGCP) -> dict[str, str]:
    local_gcp_session.create_dataset(DATASET)
    return {"COSMOS_REMOTE_BQ_DATASET": DATASET}


_RENDER = """
import json, sys
from pathlib import Path
from cosmos_remote.backends.bigquery import BACKEND
from cosmos_remote.dbt import render_project
project, profiles, work, cache, dataset = sys.argv[1:6]
result = render_project(project_dir=Path(project), profiles_dir=Path(profiles), select=["+stg_orders"],
                        env={"COSMOS_REMOTE_BQ_DATASET": dataset}, work_dir=Path(work), cache_dir=Path(cache),
                        capture_package=BACKEND.capture_package)
print(json.dumps(list(result.nodes)))
"""


def _render_read_only(project: Path, profiles: Path, root: Path) -> list[str]:
    """Render in a process that cannot write ``project`` / ``profiles``.

    Without root, their permissions already forbid it. root ignores permissions, so the process then runs in a
    private mount namespace where both folders are bind-mounted read-only onto themselves (writes fail with EROFS).
    """
    work, cache = root / "work", root / "cache"
    work.mkdir()
    cache.mkdir()
    command = [sys.executable, "-c", _RENDER, str(project), str(profiles), str(work), str(cache), DATASET]
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare: cannot make the project read-only")
        remount = 'mount --bind -o ro "$1" "$1" && mount --bind -o ro "$2" "$2" && shift 2 && exec "$@"'
        command = ["unshare", "--mount", "sh", "-c", remount, "sh", str(project), str(profiles), *command]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert list(work.iterdir()) == []  # the per-render folder is gone after success
    node_ids: list[str] = json.loads(completed.stdout.strip().splitlines()[-1])
    return node_ids


def test_read_only_project_and_profiles(dataset: dict[str, str]) -> None:
    root = Path(tempfile.mkdtemp(prefix="cosmos-remote-readonly-"))
    root.chmod(0o755)
    project = copy_project(EXAMPLE_PROJECT, root / "project")
    profiles = root / "profiles"
    profiles.mkdir()
    shutil.copy(EXAMPLE_PROFILES / "profiles.yml", profiles / "profiles.yml")
    _set_writable(project, False)
    _set_writable(profiles, False)
    before, profiles_before = _listing(project), _listing(profiles)
    try:
        node_ids = _render_read_only(project, profiles, root)
        assert "model.jaffle_shop.stg_orders" in node_ids
        assert _listing(project) == before
        assert _listing(profiles) == profiles_before
    finally:
        _set_writable(project, True)
        _set_writable(profiles, True)
        shutil.rmtree(root)


def test_concurrent_renders_are_isolated_and_agree(dataset: dict[str, str], tmp_path: Path) -> None:
    work, cache = tmp_path / "work", tmp_path / "cache"

    def render(_: int) -> RenderResult:
        return render_project(
            capture_package=CAPTURE,
            project_dir=EXAMPLE_PROJECT,
            profiles_dir=EXAMPLE_PROFILES,
            select=SELECT,
            env=dataset,
            work_dir=work,
            cache_dir=cache,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = list(pool.map(render, range(2)))
    assert {uid: n.script for uid, n in first.nodes.items()} == {uid: n.script for uid, n in second.nodes.items()}
    kinds = sorted(node.resource_type for node in first.nodes.values())
    assert kinds == ["model", "seed", "test", "test", "test", "test", "test"]  # raw_orders, stg_orders, its tests
    assert list(work.iterdir()) == []


def _separate_environment(root: Path) -> Path:
    """A second virtualenv (its own bin/ and pyvenv.cfg) sharing this one's packages, with its own `dbt`."""
    venv = Path(sys.executable).parent.parent
    (root / "bin").mkdir(parents=True)
    shutil.copy(venv / "pyvenv.cfg", root / "pyvenv.cfg")
    (root / "lib").symlink_to(venv / "lib", target_is_directory=True)
    (root / "bin" / "python").symlink_to((venv / "bin" / "python").resolve())
    dbt = root / "bin" / "dbt"
    dbt.write_text(f"#!{root / 'bin' / 'python'}\nfrom dbt.cli.main import cli\ncli()\n", encoding="utf-8")
    dbt.chmod(0o755)
    return dbt


def test_dbt_executable_path_runs_the_capture_with_that_environment(dataset: dict[str, str], tmp_path: Path) -> None:
    dbt = _separate_environment(tmp_path / "dbt-env")
    assert python_for(dbt) == tmp_path / "dbt-env" / "bin" / "python"
    result = render_project(
        capture_package=CAPTURE,
        project_dir=EXAMPLE_PROJECT,
        profiles_dir=EXAMPLE_PROFILES,
        select=["raw_orders"],
        env={**dataset, "PYTHONPATH": "/nonexistent"},
        dbt_executable_path=dbt,
        vars={"unused": 1},
        cache_dir=tmp_path / "cache",
    )
    assert list(result.nodes) == ["seed.jaffle_shop.raw_orders"]
