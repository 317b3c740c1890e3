"""``FsspecArtifactStore``: artifacts under ``remote_target_path`` on any fsspec backend (gs://, s3://, file://...)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from cosmos_remote.artifacts._fs import (
    RetryPolicy,
    open_filesystem,
    progress_logger,
    run_batch,
    split_root,
    thread_count,
    transfer_async,
    transfer_sync,
)
from cosmos_remote.artifacts._listing import list_runs, relative_to_root
from cosmos_remote.artifacts.base import BaseArtifactStore
from cosmos_remote.artifacts.contract import DEFAULT_INDEX_CACHE_SIZE
from cosmos_remote.artifacts.layout import INDEX_NAME, MARKER_NAME, RunScope, check_relative_path
from cosmos_remote.artifacts.model import RunSummary
from cosmos_remote.errors import RunNotFoundError

if TYPE_CHECKING:
    import asyncio

    from fsspec import AbstractFileSystem

__all__ = ["DEFAULT_MAX_CONCURRENCY", "FsspecArtifactStore"]

log = logging.getLogger("cosmos_remote.artifacts")

DEFAULT_MAX_CONCURRENCY: Final = 100
"""Requests in flight per publish: gcsfs's aiohttp session opens at most 100 connections per host by default."""

_CONTENT_TYPES: Final = {".sql": "text/plain; charset=utf-8", ".csv": "text/csv", ".json": "application/json"}


class FsspecArtifactStore(BaseArtifactStore):
    """Artifacts of DAG runs under one root URL, through fsspec: the primitives of
    :class:`~cosmos_remote.artifacts.base.BaseArtifactStore` on one fsspec filesystem.

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
        ...     dbt_version="1.11.2", nodes=[NodeArtifact(unique_id="model.jaffle_shop.stg_orders",
        ...     files={"script": "select 1"}, resource_path="models/staging/stg_orders.sql")])
        >>> ref.to_xcom()["uri"]
        'memory://doc-store/jaffle/manual__1'
        >>> store.fetch(ref=ref, unique_id="model.jaffle_shop.stg_orders").decode()
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
        super().__init__(index_cache_size=index_cache_size)
        self.protocol, self.root = split_root(root)
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.conn_id = conn_id
        self.storage_options: dict[str, Any] = dict(storage_options or {})
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
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

    # -- primitives ----------------------------------------------------------------------------------------------

    def path_of(self, uri: str) -> str:
        """The filesystem path of a URI under the root; ValueError for anything outside it."""
        relative = relative_to_root(self.root, uri)
        root_path = str(self.fs._strip_protocol(self.root)).rstrip("/")
        return f"{root_path}/{relative}" if relative else root_path

    def get_files(self, uri: str, paths: Sequence[str]) -> dict[str, bytes | BaseException]:
        """Read ``paths`` of the run in one concurrent, retried batch."""
        prefix = self.path_of(uri)
        outcomes = run_batch(
            self.fs, {f"{prefix}/{p}": None for p in paths}, concurrency=self.max_concurrency, retry=self.retry
        )
        return {p: outcomes[f"{prefix}/{p}"] for p in paths}

    def put_files(self, uri: str, files: Mapping[str, bytes], *, create: bool) -> dict[str, BaseException | None]:
        """Write ``files`` in one concurrent, retried batch; ``create`` uses ``mode="create"`` (a GCS/S3
        precondition, atomic on the server). A backend without it answers TypeError for every file: that is
        NotImplementedError here, and nothing was written."""
        prefix = self.path_of(uri)
        progress = progress_logger(uri, time.monotonic()) if len(files) > 1 else None
        outcomes = run_batch(
            self.fs,
            {f"{prefix}/{p}": data for p, data in files.items()},
            concurrency=self.max_concurrency,
            retry=self.retry,
            write_kwargs=self.create_kwargs if create else self.write_kwargs,
            progress=progress,
        )
        results: dict[str, BaseException | None] = {p: outcomes[f"{prefix}/{p}"] for p in files}
        if create and results and all(isinstance(e, TypeError) for e in results.values()):
            raise NotImplementedError(f"{type(self.fs).__name__} has no create-only writes")
        return results

    def list_files(self, uri: str) -> list[str]:
        """Every path stored under the run (one recursive listing, never from fsspec's listings cache)."""
        prefix = self.path_of(uri)
        self.fs.invalidate_cache(prefix)
        try:
            found = self.fs.find(prefix, maxdepth=None, withdirs=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(str(path)[len(prefix) + 1 :] for path in found if str(path).startswith(prefix + "/"))

    def remove_files(self, uri: str, paths: Sequence[str]) -> None:
        """Remove ``paths`` of the run in one call."""
        prefix = self.path_of(uri)
        for path in paths:
            check_relative_path(path, what="artifact path")
        self.fs.rm([f"{prefix}/{p}" for p in paths])

    def describe_failure(self, error: BaseException) -> str:
        """For a missing bucket: say so, naming it (one metadata request; unknown when it cannot be read)."""
        if not isinstance(error, FileNotFoundError) or self.protocol not in ("gs", "gcs", "s3", "s3a", "az", "abfs"):
            return ""
        bucket = self.root.split("://", 1)[1].split("/", 1)[0]
        try:
            exists = bool(self.fs.exists(bucket))
        except Exception:  # no permission to read bucket metadata: no verdict
            return ""
        if exists:
            return ""
        return (
            f"The bucket {bucket!r} of remote_target_path {self.root!r} does not exist: create it (the Terraform "
            "module in terraform/ does) or fix remote_target_path."
        )

    def open_uploads(self, uri: str) -> _Uploads:
        """Uploads on fsspec's IO loop (gcsfs, s3fs) or a small thread pool, ``max_concurrency`` at a time."""
        return _Uploads(self, prefix=self.path_of(uri))

    def create_kwargs(self, path: str) -> Mapping[str, Any]:
        return {**self.write_kwargs(path), "mode": "create"}

    def write_kwargs(self, path: str) -> Mapping[str, Any]:
        content_type = _CONTENT_TYPES.get(path[path.rfind(".") :], "application/octet-stream")
        module = type(self.fs).__module__
        if module.startswith("gcsfs"):
            return {"content_type": content_type}
        if module.startswith("s3fs"):
            return {"ContentType": content_type}
        return {}

    # -- runs (for tools: the CLI's runs, ls and gc) -------------------------------------------------------------

    def list_runs(self, *, dag_id: str | None = None) -> list[RunSummary]:
        """Every run under the root (or under one DAG), complete or not, oldest first."""
        return list_runs(self.fs, root=self.root, dag_id=dag_id, concurrency=self.max_concurrency, retry=self.retry)

    def delete_run(self, *, uri: str) -> int:
        """Delete a run (for retention tools such as ``cosmos-remote gc``); return the number of objects removed.

        The index goes first, so a reader racing the deletion sees an incomplete run, never a half-deleted one.

        Raises:
            RunNotFoundError: ``uri`` holds no run (no index.json and no _run.json).
        """
        if not relative_to_root(self.root, uri):
            raise ValueError(f"refusing to delete the store root {self.root!r}; pass a run URI")
        paths = self.list_files(uri)
        if INDEX_NAME not in paths and MARKER_NAME not in paths:
            raise RunNotFoundError(uri=uri)
        prefix = self.path_of(uri)
        if INDEX_NAME in paths:
            self.fs.rm_file(f"{prefix}/{INDEX_NAME}")
        rest = [f"{prefix}/{p}" for p in paths if p != INDEX_NAME]
        if rest:
            self.fs.rm(rest)
        self.index_cache.clear()
        log.info("deleted %d objects of the run %s", len(paths), uri)
        return len(paths)


class _Uploads:
    """Background create-only uploads of one publish session into ``prefix`` (see ``open_uploads``)."""

    def __init__(self, store: FsspecArtifactStore, *, prefix: str) -> None:
        self._store = store
        self._prefix = prefix
        self._pool: ThreadPoolExecutor | None = None
        self._semaphore: asyncio.Semaphore | None = None

    def submit(self, path: str, data: bytes) -> Future[BaseException | None]:
        store = self._store
        fs, retry, kwargs, target = store.fs, store.retry, store.create_kwargs, f"{self._prefix}/{path}"
        if getattr(fs, "async_impl", False):
            import asyncio

            async def upload() -> BaseException | None:
                if self._semaphore is None:  # created on the IO loop, by the first upload
                    self._semaphore = asyncio.Semaphore(store.max_concurrency)
                async with self._semaphore:
                    outcome: BaseException | None = await transfer_async(fs, target, data, retry, kwargs)
                    return outcome

            return asyncio.run_coroutine_threadsafe(upload(), fs.loop)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=thread_count(store.max_concurrency))
        return self._pool.submit(transfer_sync, fs, target, data, retry, kwargs)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
