"""``FsspecArtifactStore``: artifacts under ``remote_target_path`` on any fsspec backend (gs://, s3://, file://...)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from cosmos_remote.artifacts import _inspect
from cosmos_remote.artifacts._fs import RetryPolicy, open_filesystem, run_batch, split_root
from cosmos_remote.artifacts._session import FsspecPublishSession
from cosmos_remote.artifacts.contract import DEFAULT_INDEX_CACHE_SIZE, IndexCache, locate_file
from cosmos_remote.artifacts.errors import (
    ArtifactMissingError,
    ChecksumMismatchError,
    IncompleteRunError,
    RunNotFoundError,
)
from cosmos_remote.artifacts.index import NodeEntry, RunIndex, sha256_hex
from cosmos_remote.artifacts.layout import INDEX_NAME, PRIMARY_FILE, RunScope
from cosmos_remote.artifacts.model import ArtifactRef, NodeArtifact, RunSummary, VerifyReport

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["DEFAULT_MAX_CONCURRENCY", "FsspecArtifactStore"]

log = logging.getLogger("cosmos_remote.artifacts")

DEFAULT_MAX_CONCURRENCY: Final = 100
"""Requests in flight per publish: gcsfs's aiohttp session opens at most 100 connections per host by default."""

_CONTENT_TYPES: Final = {".sql": "text/plain; charset=utf-8", ".csv": "text/csv", ".json": "application/json"}


class FsspecArtifactStore:
    """Artifacts of DAG runs under one root URL, through fsspec; implements :class:`ArtifactStore`.

    Nothing touches storage or resolves credentials until the first publish/fetch, so building a store at DAG-parse
    time is free. The filesystem is private to this store (see :mod:`cosmos_remote.artifacts._fs` for why).

    Args:
        root: ``remote_target_path``: ``gs://bucket/prefix``, ``s3://...``, ``file:///path``, ``memory://name``.
        conn_id: An Airflow connection id for the credentials; None uses the backend's defaults (ADC on GCP).
        storage_options: Passed to the fsspec filesystem, e.g. ``{"token": "anon"}`` or ``{"project": "p"}``.
        filesystem: An already built filesystem to use instead (``root`` must match its protocol).
        max_concurrency: Requests in flight during publish, verify and listing.
        retry: Per-file retries of transient errors.
        index_cache_size: Parsed indexes kept per store, keyed by ``(run uri, index sha256)``; 0 disables.

    Example:
        >>> from cosmos_remote.artifacts import FsspecArtifactStore, NodeArtifact, RunScope
        >>> store = FsspecArtifactStore(root="memory://doc-store")
        >>> ref = store.publish(scope=RunScope(dag_id="jaffle", run_id="manual__1"), project_name="jaffle_shop",
        ...     dbt_version="1.11.2", nodes=[NodeArtifact(node_id="model.jaffle_shop.stg_orders",
        ...     files={"script": "select 1"}, resource_path="models/staging/stg_orders.sql")])
        >>> ref.to_xcom()["uri"]
        'memory://doc-store/jaffle/manual__1'
        >>> store.fetch(ref=ref, node_id="model.jaffle_shop.stg_orders").decode()
        'select 1'
    """

    def __init__(
        self,
        *,
        root: str,
        conn_id: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        filesystem: AbstractFileSystem | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        retry: RetryPolicy | None = None,
        index_cache_size: int = DEFAULT_INDEX_CACHE_SIZE,
    ) -> None:
        self.protocol, self.root = split_root(root)
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.conn_id = conn_id
        self.storage_options: dict[str, Any] = dict(storage_options or {})
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
        self.index_cache = IndexCache(maxsize=index_cache_size)
        if filesystem is not None:
            protocols = filesystem.protocol if isinstance(filesystem.protocol, tuple) else (filesystem.protocol,)
            if self.protocol not in protocols:
                raise ValueError(f"filesystem {type(filesystem).__name__} serves {protocols}, not {self.root!r}")
        self._fs = filesystem
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FsspecArtifactStore(root={self.root!r}, conn_id={self.conn_id!r})"

    @property
    def fs(self) -> AbstractFileSystem:
        """The filesystem, built (and credentials resolved) on first access."""
        if self._fs is None:
            with self._lock:
                if self._fs is None:
                    self._fs = open_filesystem(
                        protocol=self.protocol, conn_id=self.conn_id, storage_options=self.storage_options
                    )
        return self._fs

    def run_uri(self, *, scope: RunScope) -> str:
        """The URI of the run prefix ``{root}/{dag_id}[/{task_group}]/{run_id}``."""
        return f"{self.root}/{scope.relative_prefix}"

    # -- publish -------------------------------------------------------------------------------------------------

    def publish(
        self, *, scope: RunScope, nodes: Sequence[NodeArtifact], project_name: str, dbt_version: str
    ) -> ArtifactRef:
        """Write every node's files in one concurrent batch, then ``index.json``; see :class:`ArtifactStore`.

        Files are written create-only (``mode="create"``: a GCS/S3 precondition, atomic on the server), so a
        committed run can never be overwritten, even by a racing publisher, and a fresh run costs no extra round
        trip for an existence check. A name that already exists means either a committed run (its index exists:
        refuse, and remove what this attempt created) or the leftovers of an earlier, incomplete attempt
        (overwrite them). Backends without create-only writes get an existence check first instead.

        Raises:
            RunExistsError: The run was already published (its index exists).
            PublishError: Some files could not be written (after retries); the run stays incomplete.
        """
        with self.begin_publish(scope=scope) as session:
            return session.commit(nodes=nodes, project_name=project_name, dbt_version=dbt_version)

    def begin_publish(self, *, scope: RunScope) -> FsspecPublishSession:
        """A publish that uploads each node's files from :meth:`~FsspecPublishSession.add` on, in the background,
        while the producer renders the rest; :meth:`~FsspecPublishSession.commit` decides the run (as
        :meth:`publish`). The setup task adds each node as soon as dbt has rendered it.

        Example:
            >>> from cosmos_remote.artifacts import FsspecArtifactStore, NodeArtifact, RunScope
            >>> store = FsspecArtifactStore(root="memory://doc-session")
            >>> node = NodeArtifact(node_id="model.p.a", files={"script": "select 1"})
            >>> with store.begin_publish(scope=RunScope(dag_id="d", run_id="r1")) as session:
            ...     session.add(node)  # uploading starts
            ...     ref = session.commit(nodes=[node], project_name="p", dbt_version="1.11.2")
            >>> store.fetch(ref=ref, node_id="model.p.a")
            b'select 1'
        """
        return FsspecPublishSession(self, scope=scope)

    def _create_kwargs(self, path: str) -> Mapping[str, Any]:
        return {**self._write_kwargs(path), "mode": "create"}

    def _write_kwargs(self, path: str) -> Mapping[str, Any]:
        content_type = _CONTENT_TYPES.get(path[path.rfind(".") :], "application/octet-stream")
        module = type(self.fs).__module__
        if module.startswith("gcsfs"):
            return {"content_type": content_type}
        if module.startswith("s3fs"):
            return {"ContentType": content_type}
        return {}

    # -- fetch ---------------------------------------------------------------------------------------------------

    def fetch(self, *, ref: ArtifactRef, node_id: str, name: str = PRIMARY_FILE) -> bytes:
        """Return the verified bytes of file ``name`` of node ``node_id``; see :class:`ArtifactStore`."""
        stored = locate_file(self.read_index(ref=ref), uri=ref.uri, node_id=node_id, name=name)
        path = _inspect.join_relative(self._path(ref.uri), stored.path)
        data = self._read_or_none(path)
        if data is None:
            raise ArtifactMissingError(uri=ref.uri, path=stored.path, node_id=node_id)
        digest = sha256_hex(data)
        if digest != stored.sha256:
            raise ChecksumMismatchError(
                uri=ref.uri, path=stored.path, node_id=node_id, expected=stored.sha256, actual=digest
            )
        return data

    def read_index(self, *, ref: ArtifactRef) -> RunIndex:
        """The run's index, checked against ``ref.index_sha256``; cached (see :class:`IndexCache`)."""
        key = (ref.uri, ref.index_sha256)
        cached = self.index_cache.get(key)
        if cached is not None:
            return cached
        data = self._index_bytes(ref.uri)
        digest = sha256_hex(data)
        if digest != ref.index_sha256:
            raise ChecksumMismatchError(uri=ref.uri, path=INDEX_NAME, expected=ref.index_sha256, actual=digest)
        index = RunIndex.from_json(data, source=f"{ref.uri}/{INDEX_NAME}")
        self.index_cache.put(key, index)
        return index

    def open_run(self, *, uri: str) -> ArtifactRef:
        """A reference to the committed run at ``uri`` (for tools that start from a URI, not from XCom)."""
        uri = uri.rstrip("/")
        data = self._index_bytes(uri)
        ref = ArtifactRef(uri=uri, index_sha256=sha256_hex(data))
        self.index_cache.put((ref.uri, ref.index_sha256), RunIndex.from_json(data, source=f"{uri}/{INDEX_NAME}"))
        return ref

    def list_nodes(self, *, ref: ArtifactRef) -> Mapping[str, NodeEntry]:
        """``node_id -> NodeEntry`` of the run."""
        return self.read_index(ref=ref).nodes

    def list_runs(self, *, dag_id: str | None = None) -> list[RunSummary]:
        """Every run under the root (or under one DAG), complete or not, oldest first."""
        return _inspect.list_runs(self, dag_id=dag_id)

    def verify(self, *, ref: ArtifactRef) -> VerifyReport:
        """Re-hash every file of the run against its index; report missing, changed and unexpected files."""
        return _inspect.verify(self, ref=ref, index=self.read_index(ref=ref))

    def delete_run(self, *, uri: str) -> int:
        """Delete a run (for retention tools such as ``cosmos-remote gc``); return the number of objects removed.

        The index goes first, so a reader racing the deletion sees an incomplete run, never a half-deleted one.

        Raises:
            RunNotFoundError: ``uri`` holds no run (no index.json and no _run.json).
        """
        removed = _inspect.delete_run(self, uri=uri)
        self.index_cache.clear()
        return removed

    # -- internals -----------------------------------------------------------------------------------------------

    def _path(self, uri: str) -> str:
        """The filesystem path of a URI under the root; refuse anything outside it."""
        relative = _inspect.relative_to_root(self.root, uri)
        root_path: str = self.fs._strip_protocol(self.root)
        return _inspect.join_relative(root_path.rstrip("/"), relative) if relative else root_path

    def _read_or_none(self, path: str) -> bytes | None:
        outcome = run_batch(self.fs, {path: None}, concurrency=1, retry=self.retry)[path]
        if isinstance(outcome, FileNotFoundError):
            return None
        if isinstance(outcome, BaseException):
            raise outcome
        data: bytes = outcome
        return data

    def _index_bytes(self, uri: str) -> bytes:
        prefix = self._path(uri)
        data = self._read_or_none(f"{prefix}/{INDEX_NAME}")
        if data is not None:
            return data
        if _inspect.has_files(self.fs, prefix):
            raise IncompleteRunError(uri=uri, index_path=f"{uri}/{INDEX_NAME}")
        raise RunNotFoundError(uri=uri)
