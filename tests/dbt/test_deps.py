"""cosmos_remote.dbt.deps against real dbt (``dbt deps`` / ``dbt parse``), offline: local and file:// git packages."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_remote.dbt.deps import DbtDepsError, declared_packages, prepare_project

DBT = [sys.executable, "-c", "from dbt.cli.main import cli; cli()"]
FAILS = [sys.executable, "-c", "import sys; sys.exit(3)"]  # proves no `dbt deps` runs: it would raise
ENV = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
PROFILES = """proj:
  target: t
  outputs:
    t: {type: bigquery, method: oauth-secrets, token: x, project: p, dataset: d, threads: 1}
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _package(folder: Path, name: str, macro: str, body: str = "42") -> Path:
    _write(folder / "dbt_project.yml", f"name: {name}\nversion: '1.0'\nconfig-version: 2\n")
    _write(folder / "macros" / f"{macro}.sql", f"{{% macro {macro}() %}}{body}{{% endmacro %}}\n")
    return folder


def _project(folder: Path, packages: str | None, model: str = "select {{ answer() }} as a") -> Path:
    _write(folder / "dbt_project.yml", "name: proj\nversion: '1.0'\nprofile: proj\nconfig-version: 2\n")
    _write(folder / "models" / "m.sql", model + "\n")
    if packages is not None:
        _write(folder / "packages.yml", packages)
    return folder


def _git_package(folder: Path, body: str) -> str:
    """A file:// git repo holding package ``git_macros``; returns the new commit."""
    _package(folder, "git_macros", "git_answer", body)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout

    if not (folder / ".git").exists():
        git("init", "-q", "-b", "main")
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", body)
    return git("rev-parse", "HEAD").strip()


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def _parse(view: Path, profiles: Path) -> dict[str, object]:
    done = subprocess.run(
        [*DBT, "parse", "--project-dir", str(view), "--profiles-dir", str(profiles)],
        capture_output=True, text=True, env=ENV, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    manifest: dict[str, object] = json.loads((view / "target" / "manifest.json").read_text())
    return manifest


@pytest.fixture
def read_only() -> Iterator[list[Path]]:
    """Folders appended here are made read-only (chmod -R a-w) by the test and writable again on teardown."""
    folders: list[Path] = []
    yield folders
    for folder in folders:
        subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)


def _lock_down(folder: Path, read_only: list[Path]) -> None:
    subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
    read_only.append(folder)


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    _write(tmp_path / "profiles" / "profiles.yml", PROFILES)
    return tmp_path / "profiles"


LOCAL = "packages:\n  - local: ../shared_macros\n"


def test_local_package_read_only_project(tmp_path: Path, profiles: Path, read_only: list[Path]) -> None:
    _package(tmp_path / "shared_macros", "shared_macros", "answer")
    project = _project(tmp_path / "proj", LOCAL)
    _lock_down(project, read_only)
    before = _snapshot(project)
    cache = tmp_path / "cache"

    with pytest.raises(DbtDepsError, match="install_dbt_deps") as caught:
        prepare_project(project_dir=project, install_deps=False, cache_dir=cache, dbt_command=DBT)
    assert str(project) in str(caught.value)
    assert "dbt deps" in str(caught.value)
    assert "manifest_path" in str(caught.value)

    view = prepare_project(project_dir=project, install_deps=True, cache_dir=cache, dbt_command=DBT, env=ENV)
    assert view.is_relative_to(cache)
    assert (view / "models").resolve() == project / "models"
    assert (view / "dbt_packages" / "shared_macros").resolve() == tmp_path / "shared_macros"
    manifest = _parse(view, profiles)
    assert "macro.shared_macros.answer" in manifest["macros"]  # type: ignore[operator]
    assert "model.proj.m" in manifest["nodes"]  # type: ignore[operator]

    assert _snapshot(project) == before
    assert not (project / "dbt_packages").exists()
    assert not (project / "package-lock.yml").exists()
    assert not (project / "target").exists()
    assert [p.name for p in cache.iterdir()] == [view.parent.name]  # no scratch folder left behind


def test_second_call_reuses_cache_and_refreshes_view(tmp_path: Path) -> None:
    _package(tmp_path / "shared_macros", "shared_macros", "answer")
    project = _project(tmp_path / "proj", LOCAL)
    cache = tmp_path / "cache"
    view = prepare_project(project_dir=project, install_deps=True, cache_dir=cache, dbt_command=DBT, env=ENV)
    (view / "target").mkdir()  # what dbt writes into the view must survive refreshes

    again = prepare_project(project_dir=project, install_deps=True, cache_dir=cache, dbt_command=FAILS, env=ENV)
    assert again == view

    _write(project / "seeds" / "s.csv", "a\n1\n")
    (project / "models" / "m.sql").unlink()
    (project / "models").rmdir()
    refreshed = prepare_project(project_dir=project, install_deps=True, cache_dir=cache, dbt_command=FAILS)
    assert refreshed == view
    assert (view / "seeds").resolve() == project / "seeds"
    assert not (view / "models").is_symlink()
    assert (view / "target").is_dir()
    assert (view / "dbt_packages" / "shared_macros").resolve() == tmp_path / "shared_macros"


@pytest.mark.skipif(shutil.which("git") is None, reason="the pinned package is a file:// git repository")
def test_installs_what_the_lock_pins(tmp_path: Path, profiles: Path, read_only: list[Path]) -> None:
    _package(tmp_path / "shared_macros", "shared_macros", "answer")
    repo = tmp_path / "git_macros"
    pinned = _git_package(repo, "1")
    packages = LOCAL + f"  - git: file://{repo}\n    revision: main\n"
    model = "select {{ answer() }} as a, {{ git_answer() }} as b"
    writable = _project(tmp_path / "writable", packages, model)
    subprocess.run([*DBT, "deps", "--project-dir", str(writable)], check=True, capture_output=True, env=ENV)
    lock = (writable / "package-lock.yml").read_text()
    assert pinned in lock

    project = _project(tmp_path / "proj", packages, model)
    _write(project / "package-lock.yml", lock)
    _lock_down(project, read_only)
    _git_package(repo, "2")  # main moves on: without the lock dbt would install "2"

    view = prepare_project(project_dir=project, install_deps=True, cache_dir=tmp_path / "cache", dbt_command=DBT)
    assert (
        (view / "dbt_packages" / "git_macros" / "macros" / "git_answer.sql")
        .read_text()
        .startswith("{% macro git_answer() %}1{%")
    )
    assert (view / "dbt_packages" / "shared_macros").resolve() == tmp_path / "shared_macros"
    assert (view.parent / "package-lock.yml").read_text() == lock  # dbt did not re-lock
    manifest = _parse(view, profiles)
    assert {"macro.shared_macros.answer", "macro.git_macros.git_answer"} <= set(manifest["macros"])  # type: ignore[call-overload]


def test_changed_packages_yml_gets_a_new_view(tmp_path: Path) -> None:
    _package(tmp_path / "shared_macros", "shared_macros", "answer")
    _package(tmp_path / "other" / "more_macros", "more_macros", "more")
    project = _project(tmp_path / "proj", LOCAL)
    cache = tmp_path / "cache"
    first = prepare_project(project_dir=project, install_deps=True, cache_dir=cache, dbt_command=DBT, env=ENV)

    _write(project / "packages.yml", LOCAL + "  - local: ../other/more_macros\n")
    with pytest.raises(DbtDepsError, match="exit code 3"):  # a new key: the cache entry does not fit
        prepare_project(project_dir=project, install_deps=True, cache_dir=cache, dbt_command=FAILS, env=ENV)
    second = prepare_project(project_dir=project, install_deps=True, cache_dir=cache, dbt_command=DBT, env=ENV)
    assert second != first
    assert sorted(p.name for p in (second / "dbt_packages").iterdir()) == ["more_macros", "shared_macros"]
    assert [p.name for p in (first / "dbt_packages").iterdir()] == ["shared_macros"]


def test_concurrent_callers_share_one_entry(tmp_path: Path) -> None:
    _package(tmp_path / "shared_macros", "shared_macros", "answer")
    project = _project(tmp_path / "proj", LOCAL)
    cache = tmp_path / "cache"
    views: list[Path] = []

    def call() -> None:
        views.append(prepare_project(project_dir=project, install_deps=True, cache_dir=cache, dbt_command=DBT))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(views) == 2
    assert views[0] == views[1]
    assert [p.name for p in cache.iterdir()] == [views[0].parent.name]
    assert (views[0] / "dbt_packages" / "shared_macros").resolve() == tmp_path / "shared_macros"


def test_deps_failure_names_project_and_hint(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj", "packages:\n  - local: ../missing\n")
    cache = tmp_path / "cache"
    with pytest.raises(DbtDepsError) as caught:
        prepare_project(project_dir=project, install_deps=True, cache_dir=cache, dbt_command=DBT, env=ENV)
    message = str(caught.value)
    assert str(project) in message
    assert "missing/dbt_project.yml" in message  # the tail of dbt's output
    assert "network" in message
    assert list(cache.iterdir()) == []


def test_packages_installed_in_project(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj", LOCAL)
    _package(project / "dbt_packages" / "shared_macros", "shared_macros", "answer")
    got = prepare_project(project_dir=project, install_deps=True, cache_dir=tmp_path / "cache", dbt_command=FAILS)
    assert got == project
    assert not (tmp_path / "cache").exists()

    custom = _project(tmp_path / "custom", "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n")
    _write(custom / "dbt_project.yml", (custom / "dbt_project.yml").read_text() + "packages-install-path: vendor\n")
    _package(custom / "vendor" / "dbt_utils", "dbt_utils", "noop")
    got = prepare_project(project_dir=custom, install_deps=False, cache_dir=tmp_path / "cache", dbt_command=FAILS)
    assert got == custom


def test_no_packages_declared(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj", None, "select 1 as a")
    assert not declared_packages(project)
    got = prepare_project(project_dir=project, install_deps=False, cache_dir=tmp_path / "cache", dbt_command=FAILS)
    assert got == project
    _write(project / "packages.yml", "packages: []\n")
    assert not declared_packages(project)
    _write(project / "dependencies.yml", "projects:\n  - name: upstream\n")
    assert not declared_packages(project)
    (project / "packages.yml").unlink()
    _write(project / "dependencies.yml", "packages:\n  - local: ../x\n")
    assert declared_packages(project)
    with pytest.raises(DbtDepsError, match=r"dependencies\.yml"):
        prepare_project(project_dir=project, install_deps=False, cache_dir=tmp_path / "cache", dbt_command=FAILS)
