"""Run URIs under a root, and the listing of every run under it, for
:class:`~cosmos_remote.artifacts.fsspec_store.FsspecArtifactStore`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cosmos_remote.artifacts._fs import RetryPolicy, run_batch
from cosmos_remote.artifacts.index import RunIndex
from cosmos_remote.artifacts.layout import INDEX_NAME, MARKER_NAME, check_relative_path, safe_segment
from cosmos_remote.artifacts.model import RunSummary
from cosmos_remote.errors import IndexFormatError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["list_runs", "relative_to_root"]


def relative_to_root(root: str, uri: str) -> str:
    """The part of ``uri`` below ``root``; ValueError if ``uri`` is not inside ``root``."""
    uri = uri.rstrip("/")
    if uri == root:
        return ""
    if not uri.startswith(root + "/"):
        raise ValueError(
            f"{uri!r} is not under this store's root {root!r}; build the store with the remote_target_path (and "
            f"conn_id) the setup task published with."
        )
    relative = uri[len(root) + 1 :]
    check_relative_path(relative, what="run URI part")
    return relative


def list_runs(
    fs: AbstractFileSystem, *, root: str, dag_id: str | None, concurrency: int, retry: RetryPolicy
) -> list[RunSummary]:
    """List every run prefix under ``root`` (or one DAG): one recursive listing plus one batched read."""
    root_path = str(fs._strip_protocol(root)).rstrip("/")
    base = root_path if dag_id is None else f"{root_path}/{safe_segment(dag_id)}"
    fs.invalidate_cache(base)
    try:
        found: dict[str, dict[str, Any]] = fs.find(base, detail=True)
    except FileNotFoundError:
        found = {}
    sizes = {path.rstrip("/"): int(info.get("size") or 0) for path, info in found.items()}
    candidates = sorted(
        {p.rsplit("/", 1)[0] for p in sizes if p.endswith((f"/{INDEX_NAME}", f"/{MARKER_NAME}"))}, key=len
    )
    runs: list[str] = []
    for candidate in candidates:  # shortest first: a candidate below a known run is not a run
        if not any(candidate.startswith(run + "/") for run in runs):
            runs.append(candidate)
    totals = dict.fromkeys(runs, 0)
    for path, size in sizes.items():
        parent = path.rsplit("/", 1)[0]
        while parent and parent not in totals and len(parent) > len(base):
            parent = parent.rsplit("/", 1)[0]
        if parent in totals:
            totals[parent] += size
    wanted = {f"{run}/{INDEX_NAME}": None for run in runs if f"{run}/{INDEX_NAME}" in sizes}
    wanted |= {f"{run}/{MARKER_NAME}": None for run in runs if f"{run}/{INDEX_NAME}" not in sizes}
    contents = run_batch(fs, wanted, concurrency=concurrency, retry=retry)
    summaries = [_summary(root + run[len(root_path) :], run, totals[run], contents) for run in runs]
    return sorted(summaries, key=lambda s: (s.created_at or "", s.uri))


def _summary(uri: str, run: str, total: int, contents: dict[str, Any]) -> RunSummary:
    index_data = contents.get(f"{run}/{INDEX_NAME}")
    if isinstance(index_data, bytes):
        try:
            index = RunIndex.from_json(index_data, source=f"{uri}/{INDEX_NAME}")
        except IndexFormatError:
            index = None
        if index is not None:
            scope = index.scope
            return RunSummary(
                uri=uri, dag_id=scope.dag_id, task_group=scope.task_group, run_id=scope.run_id,
                created_at=index.created_at, node_count=len(index.nodes), total_bytes=total, complete=True,
            )  # fmt: skip
    marker: dict[str, Any] = {}
    marker_data = contents.get(f"{run}/{MARKER_NAME}")
    if isinstance(marker_data, bytes):
        try:
            loaded = json.loads(marker_data)
            marker = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            marker = {}
    run_info = marker.get("run")
    scope_info: dict[str, Any] = run_info if isinstance(run_info, dict) else {}
    return RunSummary(
        uri=uri,
        dag_id=scope_info.get("dag_id"),
        task_group=scope_info.get("task_group"),
        run_id=scope_info.get("run_id"),
        created_at=marker.get("created_at"),
        node_count=marker.get("node_count"),
        total_bytes=total,
        complete=False,
    )
