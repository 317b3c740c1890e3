"""Path guards, run listing and verification for :class:`~cosmos_remote.artifacts.store.FsspecArtifactStore`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cosmos_remote.artifacts._fs import log, run_batch
from cosmos_remote.artifacts.errors import IndexFormatError, RunNotFoundError
from cosmos_remote.artifacts.index import RunIndex, sha256_hex
from cosmos_remote.artifacts.layout import INDEX_NAME, MARKER_NAME, safe_segment
from cosmos_remote.artifacts.model import ArtifactRef, RunSummary, VerifyProblem, VerifyReport

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from cosmos_remote.artifacts.store import FsspecArtifactStore

__all__ = ["delete_run", "has_files", "join_relative", "list_runs", "relative_to_root", "verify"]


def _check_relative(relative: str, *, what: str) -> None:
    segments = relative.split("/")
    if relative.startswith("/") or "\\" in relative or any(s in ("", ".", "..") for s in segments):
        raise ValueError(f"{what} {relative!r} is not a plain relative path; refusing to leave the run prefix")


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
    _check_relative(relative, what="run URI part")
    return relative


def join_relative(prefix: str, relative: str) -> str:
    """``prefix/relative``, refusing absolute paths, ``..`` and empty segments (e.g. from a forged index)."""
    _check_relative(relative, what="artifact path")
    return f"{prefix}/{relative}"


def has_files(fs: AbstractFileSystem, prefix: str) -> bool:
    """Whether anything is stored below ``prefix``."""
    fs.invalidate_cache(prefix)
    try:
        return bool(fs.find(prefix, maxdepth=None, withdirs=False))
    except (FileNotFoundError, NotADirectoryError):
        return False


def _to_uri(store: FsspecArtifactStore, root_path: str, path: str) -> str:
    return store.root + path[len(root_path) :]


def list_runs(store: FsspecArtifactStore, *, dag_id: str | None) -> list[RunSummary]:
    """List every run prefix under the store root (or one DAG): one recursive listing plus one batched read."""
    fs = store.fs
    root_path = str(fs._strip_protocol(store.root)).rstrip("/")
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
    contents = run_batch(fs, wanted, concurrency=store.max_concurrency, retry=store.retry)
    summaries = [_summary(store, root_path, run, totals[run], contents) for run in runs]
    return sorted(summaries, key=lambda s: (s.created_at or "", s.uri))


def _summary(store: FsspecArtifactStore, root_path: str, run: str, total: int, contents: dict[str, Any]) -> RunSummary:
    uri = _to_uri(store, root_path, run)
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


def verify(store: FsspecArtifactStore, *, ref: ArtifactRef, index: RunIndex) -> VerifyReport:
    """Read every indexed file in one batch, compare size and sha256, and list files the index does not know."""
    fs = store.fs
    prefix = store._path(ref.uri)
    owners = {
        join_relative(prefix, f.path): (node_id, f)
        for node_id, node in index.nodes.items()
        for f in node.files.values()
    }
    contents = run_batch(fs, dict.fromkeys(owners), concurrency=store.max_concurrency, retry=store.retry)
    problems: list[VerifyProblem] = []
    for path, (node_id, entry) in sorted(owners.items()):
        data = contents[path]
        if isinstance(data, FileNotFoundError):
            problems.append(VerifyProblem("missing", entry.path, node_id, "listed in the index, not in the store"))
        elif isinstance(data, BaseException):
            raise data
        elif sha256_hex(data) != entry.sha256:
            detail = f"sha256 {sha256_hex(data)} != indexed {entry.sha256} ({len(data)} vs {entry.bytes} bytes)"
            problems.append(VerifyProblem("checksum", entry.path, node_id, detail))
    known = set(owners) | {f"{prefix}/{INDEX_NAME}", f"{prefix}/{MARKER_NAME}"}
    fs.invalidate_cache(prefix)
    for path in sorted(fs.find(prefix)):
        if path not in known:
            problems.append(VerifyProblem("unexpected", path[len(prefix) + 1 :], None, "not in the index"))
    return VerifyReport(uri=ref.uri, files_checked=len(owners), problems=tuple(problems))


def delete_run(store: FsspecArtifactStore, *, uri: str) -> int:
    """Remove every object of the run at ``uri``, ``index.json`` first; return how many were removed."""
    if not relative_to_root(store.root, uri):
        raise ValueError(f"refusing to delete the store root {store.root!r}; pass a run URI")
    fs = store.fs
    prefix = store._path(uri)
    paths = sorted(fs.find(prefix)) if has_files(fs, prefix) else []
    index_path, marker_path = f"{prefix}/{INDEX_NAME}", f"{prefix}/{MARKER_NAME}"
    if index_path not in paths and marker_path not in paths:
        raise RunNotFoundError(uri=uri)
    if index_path in paths:
        fs.rm_file(index_path)
    rest = [p for p in paths if p != index_path]
    if rest:
        fs.rm(rest)
    log.info("deleted %d objects of the run %s", len(paths), uri)
    return len(paths)
