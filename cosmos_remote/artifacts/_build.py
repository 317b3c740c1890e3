"""Turn the nodes to publish into stored bytes: file paths and contents, the run marker and the index."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cosmos_remote.artifacts.index import FORMAT_NAME, FORMAT_VERSION, FileEntry, NodeEntry, RunIndex, sha256_hex
from cosmos_remote.artifacts.layout import RunScope, plan_paths
from cosmos_remote.artifacts.model import NodeArtifact

__all__ = ["PreparedRun", "prepare_run", "run_marker"]


@dataclass(frozen=True)
class PreparedRun:
    """What a publish writes: ``files`` (path relative to the run prefix -> bytes), the marker, then the index."""

    files: dict[str, bytes]
    marker: bytes
    index: RunIndex
    index_bytes: bytes


def prepare_run(*, scope: RunScope, nodes: Sequence[NodeArtifact], project_name: str, dbt_version: str) -> PreparedRun:
    """Validate the nodes, lay out their files and build the index (nothing is written)."""
    if not isinstance(scope, RunScope):
        raise TypeError(f"scope must be a RunScope, got {type(scope).__name__}")
    if not project_name or not isinstance(project_name, str):
        raise ValueError(f"project_name must be the dbt project's name, got {project_name!r}")
    by_id: dict[str, NodeArtifact] = {}
    for node in nodes:
        if not isinstance(node, NodeArtifact):
            raise TypeError(f"nodes must be NodeArtifact instances, got {type(node).__name__}")
        if node.unique_id in by_id:
            raise ValueError(f"node {node.unique_id!r} is listed twice; publish each node once")
        by_id[node.unique_id] = node
    plan = plan_paths({n.unique_id: (n.package_name, n.resource_path, list(n.files)) for n in by_id.values()})
    files: dict[str, bytes] = {}
    entries: dict[str, NodeEntry] = {}
    for unique_id, node in by_id.items():
        contents = node.encoded()
        stored: dict[str, FileEntry] = {}
        for name, data in contents.items():
            path = plan[unique_id][name]
            files[path] = data
            stored[name] = FileEntry(path=path, sha256=sha256_hex(data), bytes=len(data))
        entries[unique_id] = NodeEntry(
            resource_type=node.resource_type,
            package_name=node.package_name,
            materialization=node.materialization,
            relation=node.relation,
            files=stored,
        )
    created_at = datetime.now(UTC).isoformat()
    index = RunIndex(
        project_name=project_name, dbt_version=str(dbt_version), created_at=created_at, scope=scope, nodes=entries
    )
    marker = run_marker(scope, created_at=created_at, project_name=project_name, node_count=len(entries))
    return PreparedRun(files=files, marker=marker, index=index, index_bytes=index.to_json())


def run_marker(
    scope: RunScope,
    *,
    created_at: str | None = None,
    project_name: str | None = None,
    node_count: int | None = None,
    session: str | None = None,
) -> bytes:
    """The ``_run.json`` that claims a prefix for one publish session and makes it findable as a run (by listing
    and ``gc``) before its index exists.

    A publish session writes it create-only before any other file (its claim on the prefix, naming the session,
    host and process), when the project and the node count may not be known yet (``null``); the index has the
    final facts.
    """
    marker: dict[str, object] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created_at": created_at or datetime.now(UTC).isoformat(),
        "project_name": project_name,
        "node_count": node_count,
        "run": {"dag_id": scope.dag_id, "task_group": scope.task_group, "run_id": scope.run_id},
    }
    if session is not None:
        import os
        import socket

        marker["publisher"] = {"session": session, "host": socket.gethostname(), "pid": os.getpid()}
    return json.dumps(marker, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
