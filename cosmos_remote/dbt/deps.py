"""Install a dbt project's packages (``dbt deps``) into a cache keyed by content, never into the project folder.

``dbt deps`` runs in a scratch project inside the cache (symlinks to the project's entries, copies of its package
files). dbt resolves relative ``local:`` paths against the project root, so the scratch project sits in a tree that
mirrors the project's parents as far up as those paths reach, linking what they name. The package files stay
byte-for-byte the same: the lock's ``sha1_hash`` still matches and dbt installs what ``package-lock.yml`` pins.
Cache entry ``<cache_dir>/<key>/``: ``packages/``, ``package-lock.yml``, ``deps.log`` and the view ``project/``.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from cosmos_remote.dbt.runner import run_dbt
from cosmos_remote.errors import DbtDepsError

__all__ = ["DbtDepsError", "declared_packages", "prepare_project"]

_PACKAGE_FILES = ("packages.yml", "dependencies.yml", "package-lock.yml")
_KEY_VERSION = b"cosmos_remote.deps/1"
_TMP_LINK = ".cosmos-remote-tmp-"
_TIMEOUT_S = 900
_TAIL_LINES = 30


def _yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DbtDepsError(f"Cannot read {path}: {exc}. Fix the file (it must be valid YAML).") from exc
    return data if isinstance(data, dict) else {}


def _specs(folder: Path) -> tuple[str, list[Any]]:
    """The file declaring the packages and its entries, as dbt picks them (dependencies.yml's key wins)."""
    for name in ("dependencies.yml", "packages.yml"):
        if "packages" in (data := _yaml(folder / name)):
            return name, data["packages"] if isinstance(data["packages"], list) else []
    return "packages.yml", []


def declared_packages(project_dir: Path) -> bool:
    """Whether the project declares dbt packages.

    Args:
        project_dir: The dbt project folder.

    Returns:
        True when ``packages.yml``, or ``dependencies.yml``, has a non-empty ``packages`` list.

    Raises:
        DbtDepsError: One of those files is not valid YAML.
    """
    return bool(_specs(project_dir)[1])


def _settings(project: Path) -> tuple[str, set[str]]:
    """The packages-install-path, and the top-level names a view must not link (dbt writes or installs there)."""
    config = _yaml(project / "dbt_project.yml")

    def plain(key: str, default: str) -> str:
        value = config.get(key)
        return value if isinstance(value, str) and value and "{{" not in value else default

    install = plain("packages-install-path", "dbt_packages")
    skip = {"target", "logs", Path(install).parts[0]}
    skip |= {Path(plain("target-path", "target")).parts[0], Path(plain("log-path", "logs")).parts[0]}
    return install, skip


def _key(project: Path, install: str) -> str:
    chunks = [(project / n).read_bytes() if (project / n).is_file() else b"\xff" for n in _PACKAGE_FILES]
    digest = hashlib.sha256(_KEY_VERSION)
    for chunk in [*chunks, install.encode(), str(project).encode()]:
        digest.update(len(chunk).to_bytes(8, "big") + chunk)
    return digest.hexdigest()


def _link(path: Path, target: str) -> None:
    """Make ``path`` a symlink to ``target`` atomically (readers never see it missing)."""
    if path.is_symlink() and os.readlink(path) == target:
        return
    tmp = path.with_name(f"{_TMP_LINK}{uuid.uuid4().hex}")
    os.symlink(target, tmp)
    os.replace(tmp, path)


def _sync_links(folder: Path, project: Path, skip: set[str], extra: Mapping[str, str]) -> None:
    """Link every top-level entry of ``project`` (but ``skip``) and ``extra`` into ``folder``; drop stale links."""
    wanted = {entry.name: str(entry) for entry in project.iterdir() if entry.name not in skip}
    wanted.update(extra)
    for entry in folder.iterdir():
        if entry.is_symlink() and entry.name not in wanted and not entry.name.startswith(_TMP_LINK):
            entry.unlink(missing_ok=True)
    for name, target in wanted.items():
        _link(folder / name, target)


def _ups(local: str) -> int:
    parts = Path(os.path.normpath(local)).parts
    return next((i for i, part in enumerate(parts) if part != ".."), len(parts))


def _relative_locals(project: Path) -> list[str]:
    """Relative ``local:`` paths of the project and, transitively, of its local packages (all root-relative)."""
    found: list[str] = []
    todo = [project]
    while todo:
        folder = todo.pop()
        entries = [*_specs(folder)[1], *(_yaml(folder / "package-lock.yml").get("packages") or [])]
        for spec in entries:
            local = spec.get("local") if isinstance(spec, dict) else None
            if not isinstance(local, str) or "{{" in local or os.path.isabs(os.path.expanduser(local)):
                continue
            if local not in found:
                found.append(local)
                todo.append(Path(os.path.normpath(project / local)))
    return found


def _scratch_project(work: Path, project: Path) -> Path:
    """The scratch project: mirror folders named like ``project``'s parents link what relative locals name."""
    locals_ = [local for local in _relative_locals(project) if _ups(local) <= len(project.parents)]
    depth = max(map(_ups, locals_), default=0)
    scratch = work.joinpath(*reversed([project.parents[i].name or "_" for i in range(depth)]), project.name or "_")
    scratch.mkdir(parents=True)
    for local in locals_:
        ups, parts = _ups(local), Path(os.path.normpath(local)).parts
        if ups == 0 or ups == len(parts):
            continue
        here, there = scratch.parents[ups - 1], project.parents[ups - 1]
        for name in parts[ups:]:
            here, there = here / name, there / name
            if here == scratch:  # back into the project, whose entries the scratch folder links
                break
            if here not in scratch.parents:
                if not here.is_symlink():
                    here.symlink_to(there)
                break
    return scratch


def _failure(project: Path, command: Sequence[str], returncode: int | None, output: str) -> DbtDepsError:
    tail = "\n".join(output.strip().splitlines()[-_TAIL_LINES:]) or "(no output)"
    status = {None: "could not start", 0: "installed no packages"}.get(returncode, f"failed (exit code {returncode})")
    return DbtDepsError(
        f"`dbt deps` {status} for the dbt project {project}, run by cosmos_remote because install_dbt_deps is on "
        f"(command: {shlex.join(command)}). dbt's output ends with:\n{tail}\n"
        "Hint: hub and git packages need network access (and git credentials for private repositories) at install "
        "time. Where that is not available, pre-install the packages in the image by running `dbt deps` in "
        f"{project} when building it, or give ProjectConfig(manifest_path=...)."
    )


def _install(
    project: Path, install: str, skip: set[str], entry: Path, dbt_command: Sequence[str], env: Mapping[str, str] | None
) -> None:
    """Run ``dbt deps`` in a scratch project inside the cache, then publish it as ``entry`` by one rename."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name[:16]}-", dir=entry.parent))
    try:
        scratch = _scratch_project(tmp / "work", project)
        _sync_links(scratch, project, skip | set(_PACKAGE_FILES), {})
        for name in _PACKAGE_FILES:
            if (project / name).is_file():
                shutil.copyfile(project / name, scratch / name)
        done = run_dbt(dbt_command, ["deps", "--project-dir", str(scratch)], env=env, cwd=scratch, timeout=_TIMEOUT_S)
        returncode, output = done.returncode, done.output
        installed = scratch / install
        if returncode != 0 or not installed.is_dir():
            raise _failure(project, done.command, returncode, output)
        (tmp / "deps.log").write_text(output, encoding="utf-8")
        for package in installed.iterdir():  # dbt links local packages via the scratch tree: point at the real folder
            if package.is_symlink():
                _link(package, os.path.realpath(package))
        installed.rename(tmp / "packages")
        if (scratch / "package-lock.yml").is_file():
            shutil.copyfile(scratch / "package-lock.yml", tmp / "package-lock.yml")
        shutil.rmtree(tmp / "work")
        tmp.chmod(0o755)  # mkdtemp made it private; other users of a shared cache read it
        try:
            tmp.rename(entry)
        except OSError:
            if not (entry / "packages").is_dir():  # not a lost race with a concurrent install
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # symlinks are removed, never followed


def prepare_project(
    *,
    project_dir: Path,
    install_deps: bool,
    cache_dir: Path,
    dbt_command: Sequence[str],
    env: Mapping[str, str] | None = None,
) -> Path:
    """The folder to pass to dbt as ``--project-dir``, with the project's packages installed.

    Args:
        project_dir: The dbt project folder; only read, never written.
        install_deps: Whether cosmos_remote may run ``dbt deps`` (``ProjectConfig(install_dbt_deps=...)``).
        cache_dir: Where installs and project views live; created when missing.
        dbt_command: How to run dbt, e.g. ``[sys.executable, "-c", "from dbt.cli.main import cli; cli()"]``.
        env: The environment of ``dbt deps``; the current one when None.

    Returns:
        ``project_dir`` when it declares no packages or has them installed already; otherwise a stable view in the
        cache: symlinks to the project's top-level entries, its packages-install-path linking the cached packages.

    Raises:
        DbtDepsError: Packages are not installed and ``install_deps`` is off, or ``dbt deps`` failed.
    """
    if not declared_packages(project_dir):
        return project_dir
    install, skip = _settings(project_dir)
    installed = project_dir / install
    if installed.is_dir() and any(installed.iterdir()):
        return project_dir
    project = project_dir.resolve()
    if not install_deps:
        raise DbtDepsError(
            f"The dbt project {project_dir} declares packages in {_specs(project)[0]} that are not installed (no "
            f"non-empty {install}/ folder in it). Set ProjectConfig(install_dbt_deps=True) (or "
            "operator_args={'install_deps': True}) to let cosmos_remote install them into its cache, or run "
            f"`dbt deps` in {project_dir} when building your image, or give ProjectConfig(manifest_path=...)."
        )
    if len(Path(install).parts) != 1 or Path(install).is_absolute():
        msg = f"cosmos_remote installs packages only into a plain folder name, not packages-install-path: {install}"
        raise DbtDepsError(f"{msg} (dbt project {project}). Run `dbt deps` in the project when building your image.")
    entry = cache_dir.resolve() / _key(project, install)[:32]
    if not (entry / "packages").is_dir():
        _install(project, install, skip, entry, dbt_command, env)
    view = entry / "project"
    view.mkdir(exist_ok=True)
    _sync_links(view, project, skip, {install: os.path.join("..", "packages")})
    return view
