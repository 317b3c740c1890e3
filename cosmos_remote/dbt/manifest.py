"""Read a dbt ``manifest.json`` into the small graph cosmos_remote builds tasks from.

This runs at DAG parse time: it reads one JSON file and nothing else. When no manifest is given,
:func:`parse_project` runs ``dbt parse`` once in a subprocess and keeps the result in a cache folder keyed by the
project's content hash, so later parses of the same project read the cached file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cosmos_remote.dbt._manifest_schema import DecodeError, RawConfig, RawNode, decode_head, decode_nodes
from cosmos_remote.dbt.runner import dbt_command, default_cache_dir, run_dbt
from cosmos_remote.errors import ManifestError

__all__ = [
    "RUN_HOOK_PHASES",
    "SUPPORTED_MANIFEST_VERSIONS",
    "DbtGraph",
    "DbtNode",
    "ManifestError",
    "Relation",
    "load_manifest",
    "parse_project",
    "run_hooks_node",
]

#: manifest schema versions this reader understands (dbt 1.8 - 1.11 write v12).
SUPPORTED_MANIFEST_VERSIONS: Final = frozenset({12})
_RUNNABLE: Final = frozenset({"model", "seed", "snapshot", "test"})
#: dbt's run-level hook phases, as they appear in the ids of its hook operations.
RUN_HOOK_PHASES: Final = ("on-run-start", "on-run-end")
_IGNORED_DIRS: Final = frozenset({"target", "logs", "dbt_packages", ".git", "__pycache__", ".venv"})


@dataclass(frozen=True)
class Relation:
    """Where a node's result lives in the warehouse (after aliases and custom schemas)."""

    database: str
    schema: str
    identifier: str

    def __str__(self) -> str:
        return f"{self.database}.{self.schema}.{self.identifier}"


@dataclass(frozen=True)
class DbtNode:
    """One dbt resource of the manifest."""

    unique_id: str
    resource_type: str
    name: str
    package_name: str
    original_file_path: str
    materialized: str
    relation: Relation | None
    depends_on: tuple[str, ...]
    tags: tuple[str, ...]
    fqn: tuple[str, ...]
    attached_node: str | None = None
    severity: str = "ERROR"

    @property
    def is_ephemeral(self) -> bool:
        return self.materialized == "ephemeral"


@dataclass(frozen=True)
class DbtGraph:
    """The runnable nodes of a project (models, seeds, snapshots, tests) and their dependencies."""

    project_name: str
    dbt_version: str
    adapter_type: str | None
    nodes: Mapping[str, DbtNode]
    #: dbt's hook operations of the project and its packages, by phase: ``{"on-run-start": (unique_id, ...),
    #: "on-run-end": (...)}`` (a phase without hooks is absent).
    run_hooks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def children(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {uid: [] for uid in self.nodes}
        for node in self.nodes.values():
            for parent in node.depends_on:
                if parent in result:
                    result[parent].append(node.unique_id)
        return result

    def test_attachments(self) -> dict[str, str]:
        """Which node each test belongs to: dbt's ``attached_node``, else (singular tests) its last model parent."""
        result: dict[str, str] = {}
        for node in self.nodes.values():
            if node.resource_type != "test":
                continue
            parents = sorted(p for p in node.depends_on if p in self.nodes)
            owner = node.attached_node or (parents[-1] if parents else None)
            if owner is not None:
                result[node.unique_id] = owner
        return result


def _node(raw: RawNode) -> DbtNode:
    config = raw.config or RawConfig()
    identifier = raw.alias or raw.name
    relation = None
    if raw.database is not None and raw.schema is not None and identifier:
        relation = Relation(raw.database, raw.schema, identifier)
    return DbtNode(
        unique_id=raw.unique_id,
        resource_type=raw.resource_type,
        name=raw.name,
        package_name=raw.package_name,
        original_file_path=raw.original_file_path,
        materialized=config.materialized or raw.resource_type,
        relation=relation,
        depends_on=tuple(raw.depends_on.nodes) if raw.depends_on else (),
        tags=tuple(raw.tags),
        fqn=tuple(raw.fqn),
        attached_node=raw.attached_node,
        severity=(config.severity or "ERROR").upper(),
    )


def run_hooks_node(project_name: str, phase: str) -> DbtNode:
    """The run-level node of ``phase`` (``on-run-start`` / ``on-run-end``): every hook of that phase, of the project
    and its packages, as one script, published under ``operation.{project}.{phase}``.

    Example:
        >>> run_hooks_node("jaffle_shop", "on-run-end").unique_id
        'operation.jaffle_shop.on-run-end'
    """
    if phase not in RUN_HOOK_PHASES:
        raise ValueError(f"phase must be one of {RUN_HOOK_PHASES}, got {phase!r}")
    return DbtNode(
        unique_id=f"operation.{project_name}.{phase}",
        resource_type="operation",
        name=phase,
        package_name=project_name,
        original_file_path="dbt_project.yml",
        materialized="operation",
        relation=None,
        depends_on=(),
        tags=(),
        fqn=(project_name, "hooks", phase),
    )


def _schema_version(metadata: Mapping[str, Any]) -> int | None:
    url = str(metadata.get("dbt_schema_version", ""))
    stem = url.rsplit("/", 1)[-1].removesuffix(".json")
    return int(stem[1:]) if stem.startswith("v") and stem[1:].isdigit() else None


def load_manifest(path: Path) -> DbtGraph:
    """Read ``path`` (a dbt ``manifest.json``) into a :class:`DbtGraph`.

    Raises:
        ManifestError: the file is missing, not JSON, or from an unsupported dbt version.
    """
    try:
        head = decode_head(path.read_bytes())
    except FileNotFoundError as exc:
        raise ManifestError(f"manifest {path} does not exist; run `dbt parse` to create it") from exc
    except DecodeError as exc:
        raise ManifestError(f"manifest {path} is not a dbt manifest ({exc}); rebuild it with `dbt parse`") from exc
    metadata = head.metadata
    version = _schema_version(metadata)
    if version not in SUPPORTED_MANIFEST_VERSIONS:
        raise ManifestError(
            f"manifest {path} has schema version {metadata.get('dbt_schema_version')!r} "
            f"(dbt {metadata.get('dbt_version', '?')}); cosmos_remote reads manifest "
            f"v{', v'.join(map(str, sorted(SUPPORTED_MANIFEST_VERSIONS)))} (dbt 1.8 - 1.11). "
            "Rebuild it with the dbt version installed for your DAGs."
        )
    try:
        raw_nodes = decode_nodes(head)
    except DecodeError as exc:
        raise ManifestError(f"manifest {path} is not a dbt manifest ({exc}); rebuild it with `dbt parse`") from exc
    nodes = {uid: _node(node) for uid, node in raw_nodes.items() if node.resource_type in _RUNNABLE}
    hooks: dict[str, list[str]] = {}
    for uid, node in sorted(raw_nodes.items()):
        if node.resource_type == "operation":
            phase = next((p for p in RUN_HOOK_PHASES if p in uid), None)
            if phase is not None:
                hooks.setdefault(phase, []).append(uid)
    return DbtGraph(
        project_name=str(metadata.get("project_name") or ""),
        dbt_version=str(metadata.get("dbt_version") or ""),
        adapter_type=metadata.get("adapter_type"),
        nodes=nodes,
        run_hooks={phase: tuple(ids) for phase, ids in hooks.items()},
    )


def _project_files(project_dir: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED_DIRS)
        for name in sorted(files):
            yield Path(root) / name


_ENV_VAR_CALL: Final = re.compile(rb"""env_var\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]""")


def project_hash(
    project_dir: Path,
    *,
    extra: Mapping[str, Any] | None = None,
    also: Iterable[Path] = (),
    environ: Mapping[str, str] | None = None,
) -> str:
    """sha256 over every file of the project (paths and bytes), ``extra`` (vars, target) and the values (in
    ``environ``, default ``os.environ``) of the environment variables the project and the ``also`` files
    (profiles.yml) read with ``env_var()``."""
    digest = hashlib.sha256()
    env_names: set[bytes] = set()
    for file in _project_files(project_dir):
        data = file.read_bytes()
        env_names.update(_ENV_VAR_CALL.findall(data))
        digest.update(str(file.relative_to(project_dir)).encode() + b"\0")
        digest.update(data + b"\0")
    for file in also:
        if file.is_file():
            data = file.read_bytes()
            env_names.update(_ENV_VAR_CALL.findall(data))
            digest.update(data + b"\0")
    values = os.environ if environ is None else environ
    env = {name.decode(): values.get(name.decode()) for name in sorted(env_names)}
    digest.update(json.dumps({"extra": extra or {}, "env": env}, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def parse_project(
    *,
    project_dir: Path,
    profiles_dir: Path | None,
    profile: str | None,
    target: str | None,
    dbt_vars: Mapping[str, Any] | None = None,
    dbt_executable: Path | None = None,
    cache_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    content_dir: Path | None = None,
) -> Path:
    """Run ``dbt parse`` once for this project content and return the cached ``manifest.json``.

    ``content_dir`` is the folder whose files key the cache when ``project_dir`` is a view of it (the symlinked
    project that :func:`cosmos_remote.dbt.deps.prepare_project` returns); default ``project_dir``.

    The cache key is the sha256 of every project file, the profiles file, the vars, the target and the values of the
    environment variables they read with ``env_var()``, so an edited model or a changed dataset variable re-parses
    and an unchanged project never does. Nothing is written into ``project_dir``.
    """
    profiles = [profiles_dir / "profiles.yml"] if profiles_dir is not None else []
    key = project_hash(
        content_dir or project_dir,
        extra={"vars": dict(dbt_vars or {}), "profile": profile, "target": target, "dir": str(project_dir)},
        also=profiles,
        environ={**os.environ, **(env or {})},
    )
    cache = (cache_dir or default_cache_dir()) / "manifests" / key[:32]
    manifest = cache / "manifest.json"
    if manifest.is_file():
        return manifest
    work = Path(tempfile.mkdtemp(prefix="dbt-parse-", dir=_ensure(cache.parent)))
    args = ["parse", "--project-dir", str(project_dir), "--target-path", str(work / "target")]
    args += ["--log-path", str(work / "logs")]
    if profiles_dir is not None:
        args += ["--profiles-dir", str(profiles_dir)]
    if profile:
        args += ["--profile", profile]
    if target:
        args += ["--target", target]
    if dbt_vars:
        args += ["--vars", json.dumps(dict(dbt_vars))]
    result = run_dbt(dbt_command(dbt_executable), args, env={**os.environ, **(env or {})})
    produced = work / "target" / "manifest.json"
    if result.returncode != 0 or not produced.is_file():
        shutil.rmtree(work, ignore_errors=True)
        raise ManifestError(f"`dbt parse` of {project_dir} failed (exit {result.returncode}):\n{result.output[-3000:]}")
    cache.mkdir(parents=True, exist_ok=True)
    os.replace(produced, manifest)
    shutil.rmtree(work, ignore_errors=True)
    return manifest


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
