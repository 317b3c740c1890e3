"""The publish algorithm of :class:`~cosmos_remote.artifacts.store.FsspecArtifactStore`, as a session that can start
uploading before it knows every node (see :class:`~cosmos_remote.artifacts.contract.PublishSession`).

:meth:`FsspecPublishSession.add` starts the uploads of one node's files in the background: on fsspec's IO loop for an
async filesystem (gcsfs, s3fs), in a small thread pool otherwise, at most ``max_concurrency`` at a time, create-only
and retried like the batch. Each upload is remembered by path and sha256. :meth:`FsspecPublishSession.commit` lays
out the final nodes, waits for the uploads, writes in one batch whatever is not already there with the same bytes
(plus the run marker), removes uploads the final layout does not use, and writes the index last. So the commit is
what decides the run; the uploads before it only save time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from types import TracebackType
from typing import TYPE_CHECKING, Any

from cosmos_remote.artifacts._build import prepare_run, run_marker
from cosmos_remote.artifacts._fs import progress_logger, run_batch, thread_count, transfer_async, transfer_sync
from cosmos_remote.artifacts.errors import PublishError, RunExistsError
from cosmos_remote.artifacts.index import sha256_hex
from cosmos_remote.artifacts.layout import INDEX_NAME, MARKER_NAME, RunScope, plan_paths
from cosmos_remote.artifacts.model import ArtifactRef, NodeArtifact

if TYPE_CHECKING:
    import asyncio

    from cosmos_remote.artifacts.store import FsspecArtifactStore

__all__ = ["FsspecPublishSession"]

log = logging.getLogger("cosmos_remote.artifacts")


class FsspecPublishSession:
    """One publish of ``scope`` into ``store``; use it as a context manager (it aborts on an exception)."""

    def __init__(self, store: FsspecArtifactStore, *, scope: RunScope) -> None:
        if not isinstance(scope, RunScope):
            raise TypeError(f"scope must be a RunScope, got {type(scope).__name__}")
        self._store = store
        self._scope = scope
        self.uri = store.run_uri(scope=scope)
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._uploads: dict[str, tuple[str, Future[Any]]] = {}  # relative path -> (sha256, outcome)
        self._marker: Future[Any] | None = None  # the early _run.json, so a crashed publish can be found and gc-ed
        self._pool: ThreadPoolExecutor | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._finished = False  # no more add()
        self._settled: dict[str, tuple[str, Any]] | None = None
        self._written: set[str] = set()  # relative paths this session's uploads created and nobody removed yet
        self._committed = False
        self._prefix: str | None = None

    @property
    def prefix(self) -> str:
        """The run prefix as a filesystem path (resolving it builds the filesystem on first use)."""
        if self._prefix is None:
            self._prefix = self._store._path(self.uri)
        return self._prefix

    # -- before the commit -------------------------------------------------------------------------------------

    def add(self, node: NodeArtifact) -> None:
        """Start uploading ``node``'s files (laid out as if no other node clashed with its paths)."""
        if not isinstance(node, NodeArtifact):
            raise TypeError(f"add() takes a NodeArtifact, got {type(node).__name__}")
        planned = plan_paths({node.node_id: (node.package_name, node.resource_path, list(node.files))})[node.node_id]
        contents = node.encoded()
        with self._lock:
            if self._finished:
                raise RuntimeError(f"the publish of {self.uri!r} is already committed or aborted")
            if self._marker is None:
                self._marker = self._submit(f"{self.prefix}/{MARKER_NAME}", run_marker(self._scope))
            for name, relative in planned.items():
                if relative not in self._uploads:
                    data = contents[name]
                    self._uploads[relative] = (sha256_hex(data), self._submit(f"{self.prefix}/{relative}", data))

    def _submit(self, path: str, data: bytes) -> Future[Any]:
        fs = self._store.fs
        retry, kwargs = self._store.retry, self._store._create_kwargs
        if getattr(fs, "async_impl", False):
            import asyncio

            async def upload() -> Any:
                if self._semaphore is None:  # created on the IO loop, by the first upload
                    self._semaphore = asyncio.Semaphore(self._store.max_concurrency)
                async with self._semaphore:
                    return await transfer_async(fs, path, data, retry, kwargs)

            return asyncio.run_coroutine_threadsafe(upload(), fs.loop)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=thread_count(self._store.max_concurrency))
        return self._pool.submit(transfer_sync, fs, path, data, retry, kwargs)

    def _settle(self) -> dict[str, tuple[str, Any]]:
        """Wait for every upload (once); ``relative path -> (sha256, None | exception)``."""
        with self._lock:
            self._finished = True
            if self._settled is not None:
                return self._settled
            uploads = dict(self._uploads)
            if self._marker is not None:
                uploads[MARKER_NAME] = ("", self._marker)
        wait_all([future for _, future in uploads.values()])
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        outcomes: dict[str, tuple[str, Any]] = {}
        for relative, (digest, future) in uploads.items():
            if future.cancelled():
                outcomes[relative] = (digest, RuntimeError("cancelled"))
            else:
                error = future.exception()
                outcomes[relative] = (digest, error if error is not None else future.result())
        with self._lock:
            self._settled = outcomes
            self._written = {relative for relative, (_, outcome) in outcomes.items() if outcome is None}
        return outcomes

    # -- commit --------------------------------------------------------------------------------------------------

    def commit(self, *, nodes: Sequence[NodeArtifact], project_name: str, dbt_version: str) -> ArtifactRef:
        """Publish exactly ``nodes``; see :meth:`FsspecArtifactStore.publish` for the guarantees and errors."""
        prepared = prepare_run(scope=self._scope, nodes=nodes, project_name=project_name, dbt_version=dbt_version)
        outcomes = self._settle()
        reusable = {
            relative
            for relative in self._written
            if relative in prepared.files and outcomes[relative][0] == sha256_hex(prepared.files[relative])
        }
        index_path = f"{self.prefix}/{INDEX_NAME}"
        payload = {f"{self.prefix}/{rel}": data for rel, data in prepared.files.items() if rel not in reusable}
        if MARKER_NAME not in self._written:
            payload[f"{self.prefix}/{MARKER_NAME}"] = prepared.marker
        total = len(prepared.files) + 1
        log.info(
            "publishing %d files (%d bytes) of %d nodes to %s; %d uploaded while the nodes were rendered",
            total,
            sum(len(d) for d in prepared.files.values()) + len(prepared.marker),
            len(prepared.index.nodes),
            self.uri,
            len(reusable),
        )
        try:
            results = self._write_files(index_path=index_path, payload=payload)
        except RunExistsError:
            self._remove_written(keep=set(), why="a committed run already holds this prefix")
            raise
        failed = {path: exc for path, exc in results.items() if exc is not None}
        if failed:
            path, first = sorted(failed.items())[0]
            raise PublishError(
                f"publishing to {self.uri!r} failed for {len(failed)} of {total} files (first: {path!r}: "
                f"{type(first).__name__}: {first}); the run has no index.json, so no consumer will read it. Fix the "
                f"cause and re-run the setup task."
            ) from first
        self._remove_written(keep={*prepared.files, MARKER_NAME}, why="not part of the final run")
        self._commit(index_path=index_path, index_bytes=prepared.index_bytes)
        self._committed = True
        ref = ArtifactRef(uri=self.uri, index_sha256=sha256_hex(prepared.index_bytes))
        self._store.index_cache.put((ref.uri, ref.index_sha256), prepared.index)
        log.info("published %d files to %s in %.2f s", total + 1, self.uri, time.monotonic() - self._started)
        return ref

    def _write_files(self, *, index_path: str, payload: dict[str, bytes]) -> dict[str, BaseException | None]:
        """Write ``payload`` create-only; a name that exists is a committed run (refuse) or leftovers (overwrite)."""
        store = self._store

        def batch(items: Mapping[str, bytes], *, create: bool) -> dict[str, Any]:
            progress = progress_logger(self.uri, self._started) if len(items) == len(payload) else None
            return run_batch(
                store.fs,
                items,
                concurrency=store.max_concurrency,
                retry=store.retry,
                write_kwargs=store._create_kwargs if create else store._write_kwargs,
                progress=progress,
            )

        results = batch(payload, create=True)
        if results and all(isinstance(e, TypeError) for e in results.values()):  # no create-only writes here
            if store._read_or_none(index_path) is not None:
                raise RunExistsError(uri=self.uri)
            return batch(payload, create=False)
        existing = {path for path, e in results.items() if isinstance(e, FileExistsError)}
        if not existing:
            return results
        if store._read_or_none(index_path) is not None:
            self._remove([path for path, e in results.items() if e is None], why="the run is already committed")
            raise RunExistsError(uri=self.uri)
        log.info("overwriting %d files left in %s by an earlier, incomplete publish", len(existing), self.uri)
        return {**results, **batch({path: payload[path] for path in existing}, create=False)}

    def _commit(self, *, index_path: str, index_bytes: bytes) -> None:
        store = self._store
        outcome = run_batch(
            store.fs, {index_path: index_bytes}, concurrency=1, retry=store.retry, write_kwargs=store._create_kwargs
        )
        error = outcome[index_path]
        if isinstance(error, TypeError):  # a backend without create-only writes: existence was checked before
            outcome = run_batch(store.fs, {index_path: index_bytes}, concurrency=1, retry=store.retry)
            error = outcome[index_path]
        if isinstance(error, FileExistsError):
            if store._read_or_none(index_path) == index_bytes:  # our own write, answered late and retried
                return
            raise RunExistsError(uri=self.uri) from error
        if error is not None:
            raise PublishError(f"writing {index_path!r} (the commit marker of {self.uri!r}) failed: {error}") from error

    # -- abort -----------------------------------------------------------------------------------------------------

    def abort(self) -> None:
        """Stop pending uploads and remove, best effort, the files this session wrote (no index was written).

        Does nothing after a successful :meth:`commit`.
        """
        if self._committed:
            return
        with self._lock:
            for _, future in self._uploads.values():
                future.cancel()
        self._settle()
        self._remove_written(keep=set(), why="the publish was aborted")

    def _remove_written(self, *, keep: set[str], why: str) -> None:
        """Remove the files this session's uploads created, except the relative paths in ``keep``."""
        with self._lock:
            doomed = sorted(self._written - keep)
            self._written -= set(doomed)
        if doomed:
            self._remove([f"{self.prefix}/{relative}" for relative in doomed], why=why)

    def _remove(self, paths: list[str], *, why: str) -> None:
        if not paths:
            return
        log.info("removing %d files from %s: %s", len(paths), self.uri, why)
        try:
            self._store.fs.rm(paths)
        except Exception as error:  # best effort: without an index nobody reads them
            log.warning("could not remove %d files from %s (%s): %s", len(paths), self.uri, why, error)

    def __enter__(self) -> FsspecPublishSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is not None:
            self.abort()
