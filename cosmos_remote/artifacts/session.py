"""The publish algorithm, written once for every store, as a session that may upload before it knows every node
(see :class:`~cosmos_remote.artifacts.contract.PublishSession`).

:meth:`StorePublishSession.add` hands a node's files to the store's background uploads when it has any
(:meth:`~cosmos_remote.artifacts.base.BaseArtifactStore.open_uploads`: the fsspec store uploads on fsspec's IO loop
or a small thread pool); each upload is remembered by path and sha256. :meth:`StorePublishSession.commit` lays out
the final nodes, waits for the uploads, writes in one batch whatever is not already there with the same bytes,
removes uploads the final layout does not use, and writes the index last. So the commit decides the run; uploads
before it only save time.

One publisher per prefix: before it writes anything else, a session claims the prefix by writing its run marker
(``_run.json``, naming the session) create-only. A session that finds another session's marker writes nothing and
raises :class:`~cosmos_remote.errors.RunClaimedError` (or :class:`~cosmos_remote.errors.RunExistsError` when that
run is committed), and a session only ever removes files it wrote itself. So a racing publisher can neither
overwrite nor delete any file of a run it does not own; a claim left by a dead publisher is removed only by an
explicit ``cosmos-remote gc``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_all
from types import TracebackType
from typing import TYPE_CHECKING

from cosmos_remote.artifacts._build import prepare_run, run_marker
from cosmos_remote.artifacts.index import sha256_hex
from cosmos_remote.artifacts.layout import INDEX_NAME, MARKER_NAME, RunScope, check_dbt_artifact, plan_paths
from cosmos_remote.artifacts.model import ArtifactRef, NodeArtifact
from cosmos_remote.errors import PublishError, RunClaimedError, RunExistsError

if TYPE_CHECKING:
    from cosmos_remote.artifacts.base import BaseArtifactStore, Uploads

__all__ = ["StorePublishSession"]

log = logging.getLogger("cosmos_remote.artifacts")


class StorePublishSession:
    """One publish of ``scope`` into ``store``; use it as a context manager (it aborts on an exception)."""

    def __init__(self, store: BaseArtifactStore, *, scope: RunScope) -> None:
        if not isinstance(scope, RunScope):
            raise TypeError(f"scope must be a RunScope, got {type(scope).__name__}")
        self._store = store
        self._scope = scope
        self.uri = store.run_uri(scope=scope)
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, Future[BaseException | None]]] = {}  # path -> (sha256, outcome)
        self._uploads: Uploads | None = None
        self._opened = False
        self._finished = False  # no more add()
        self._settled: dict[str, tuple[str, BaseException | None]] | None = None
        self._written: set[str] = set()  # paths this session's uploads created and nobody removed yet
        self._committed = False
        self.session_id = uuid.uuid4().hex
        self._claimed = False

    # -- the claim -------------------------------------------------------------------------------------------------

    def _claim(self) -> None:
        """Own the prefix before writing anything: the marker naming this session, create-only (once)."""
        if self._claimed:
            return
        store = self._store
        marker = run_marker(self._scope, session=self.session_id)
        try:
            error = store.put_files(self.uri, {MARKER_NAME: marker}, create=True)[MARKER_NAME]
        except NotImplementedError:  # no create-only writes (XCom: one writer per task): check, then write
            existing = store.get_files(self.uri, [MARKER_NAME])[MARKER_NAME]
            error = FileExistsError(MARKER_NAME) if isinstance(existing, bytes) else None
            if error is None:
                error = store.put_files(self.uri, {MARKER_NAME: marker}, create=False)[MARKER_NAME]
        if isinstance(error, FileExistsError):
            existing = store.get_files(self.uri, [MARKER_NAME])[MARKER_NAME]
            if existing != marker:  # (equal: our own write, answered late and retried)
                if self._index_exists():
                    raise RunExistsError(uri=self.uri)
                raise RunClaimedError(uri=self.uri, publisher=_publisher(existing))
        elif error is not None:
            raise PublishError(
                f"claiming {self.uri!r} (writing {MARKER_NAME}, before any other file) failed: "
                f"{type(error).__name__}: {error}. {store.describe_failure(error)}"
            ) from error
        with self._lock:
            self._written.add(MARKER_NAME)
        self._claimed = True
        if self._index_exists():  # committed by a publisher that did not claim (an older cosmos_remote)
            self._remove_written(keep=set(), why="a committed run already holds this prefix")
            raise RunExistsError(uri=self.uri)

    # -- before the commit -------------------------------------------------------------------------------------

    def add(self, node: NodeArtifact) -> None:
        """Start uploading ``node``'s files (laid out as if no other node clashed with its paths), if the store
        uploads in the background; otherwise nothing happens before the commit."""
        if not isinstance(node, NodeArtifact):
            raise TypeError(f"add() takes a NodeArtifact, got {type(node).__name__}")
        with self._lock:
            if self._finished:
                raise RuntimeError(f"the publish of {self.uri!r} is already committed or aborted")
            if not self._opened:
                self._opened = True
                self._uploads = self._store.open_uploads(self.uri)
            if self._uploads is None:
                return
        self._claim()
        with self._lock:
            planned = plan_paths({node.unique_id: (node.package_name, node.resource_path, list(node.files))})
            contents = node.encoded()
            for name, path in planned[node.unique_id].items():
                if path not in self._pending:
                    data = contents[name]
                    self._pending[path] = (sha256_hex(data), self._uploads.submit(path, data))

    def _settle(self) -> dict[str, tuple[str, BaseException | None]]:
        """Wait for every upload (once); ``path -> (sha256, None | exception)``."""
        with self._lock:
            self._finished = True
            if self._settled is not None:
                return self._settled
            pending = dict(self._pending)
        wait_all([future for _, future in pending.values()])
        if self._uploads is not None:
            self._uploads.close()
        outcomes: dict[str, tuple[str, BaseException | None]] = {}
        for path, (digest, future) in pending.items():
            outcomes[path] = (digest, RuntimeError("cancelled") if future.cancelled() else future.result())
        with self._lock:
            self._settled = outcomes
            self._written |= {path for path, (_, outcome) in outcomes.items() if outcome is None}
        return outcomes

    # -- commit --------------------------------------------------------------------------------------------------

    def commit(
        self,
        *,
        nodes: Sequence[NodeArtifact],
        project_name: str,
        dbt_version: str,
        dbt_files: Mapping[str, bytes] | None = None,
    ) -> ArtifactRef:
        """Publish exactly ``nodes``; see :meth:`~cosmos_remote.artifacts.base.BaseArtifactStore.publish`.
        ``dbt_files`` (e.g. ``{"manifest.json": ...}``) are written with them, before the index, where the store
        keeps dbt artifacts (:attr:`~cosmos_remote.artifacts.base.BaseArtifactStore.holds_dbt_artifacts`)."""
        prepared = prepare_run(scope=self._scope, nodes=nodes, project_name=project_name, dbt_version=dbt_version)
        for name in dbt_files or {}:
            check_dbt_artifact(name)
        extra = dict(dbt_files or {}) if self._store.holds_dbt_artifacts else {}
        self._store.check_run(prepared)
        self._claim()
        outcomes = self._settle()
        reusable = {
            path
            for path in self._written
            if path in prepared.files and outcomes[path][0] == sha256_hex(prepared.files[path])
        }
        payload = {path: data for path, data in prepared.files.items() if path not in reusable} | extra
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
            results = self._write_files(payload)
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
        self._remove_written(keep={*prepared.files, *extra, MARKER_NAME}, why="not part of the final run")
        self._write_index(prepared.index_bytes)
        self._committed = True
        ref = ArtifactRef(uri=self.uri, index_sha256=sha256_hex(prepared.index_bytes))
        self._store.index_cache.put((ref.uri, ref.index_sha256), prepared.index)
        log.info("published %d files to %s in %.2f s", total + 1, self.uri, time.monotonic() - self._started)
        return ref

    def _index_exists(self) -> bool:
        return isinstance(self._store.get_files(self.uri, [INDEX_NAME])[INDEX_NAME], bytes)

    def _write_files(self, payload: dict[str, bytes]) -> dict[str, BaseException | None]:
        """Write ``payload`` create-only into the prefix this session owns (a name that exists there was left by a
        publisher without a claim, or by this session's own retried write: overwrite it)."""
        store = self._store
        try:
            results = store.put_files(self.uri, payload, create=True)
        except NotImplementedError:  # no create-only writes here; the claim made this session the only writer
            results = store.put_files(self.uri, payload, create=False)
            with self._lock:
                self._written |= {path for path, e in results.items() if e is None}
            return results
        with self._lock:
            self._written |= {path for path, e in results.items() if e is None}
        existing = {path for path, e in results.items() if isinstance(e, FileExistsError)}
        if not existing:
            return results
        if self._index_exists():
            self._remove_written(keep=set(), why="the run is already committed")
            raise RunExistsError(uri=self.uri)
        log.info("overwriting %d files of %s that this session's claim owns", len(existing), self.uri)
        again = store.put_files(self.uri, {path: payload[path] for path in existing}, create=False)
        with self._lock:
            self._written |= {path for path, e in again.items() if e is None}
        return {**results, **again}

    def _write_index(self, index_bytes: bytes) -> None:
        store = self._store
        try:
            error = store.put_files(self.uri, {INDEX_NAME: index_bytes}, create=True)[INDEX_NAME]
        except NotImplementedError:  # existence was checked before the files were written
            error = store.put_files(self.uri, {INDEX_NAME: index_bytes}, create=False)[INDEX_NAME]
        if isinstance(error, FileExistsError):
            if store.get_files(self.uri, [INDEX_NAME])[INDEX_NAME] == index_bytes:  # our own write, retried
                return
            raise RunExistsError(uri=self.uri) from error
        if error is not None:
            raise PublishError(f"writing {INDEX_NAME!r} (the commit marker of {self.uri!r}) failed: {error}") from error

    # -- abort -----------------------------------------------------------------------------------------------------

    def abort(self) -> None:
        """Stop pending uploads and remove, best effort, the files this session wrote (no index was written).

        Does nothing after a successful :meth:`commit`.
        """
        if self._committed:
            return
        with self._lock:
            cancelled = {path for path, (_, future) in self._pending.items() if future.cancel()}
        self._settle()
        if cancelled:
            # An upload cancelled while its request was in flight may have reached the store before it stopped. The
            # session claimed this prefix before its first upload, so what the listing shows of them is its own.
            try:
                listed = self._store.list_files(self.uri) or []
            except Exception as error:  # best effort, as the removal is
                log.warning("could not list %s to find uploads cancelled in flight: %s", self.uri, error)
                listed = []
            with self._lock:
                self._written |= cancelled & set(listed)
        self._remove_written(keep=set(), why="the publish was aborted")

    def _remove_written(self, *, keep: set[str], why: str) -> None:
        """Remove the files this session wrote, except the paths in ``keep``; its claim (the marker) goes last."""
        with self._lock:
            doomed = sorted(self._written - keep, key=lambda path: path == MARKER_NAME)
            self._written -= set(doomed)
        self._remove(doomed, why=why)

    def _remove(self, paths: list[str], *, why: str) -> None:
        if not paths:
            return
        log.info("removing %d files from %s: %s", len(paths), self.uri, why)
        try:
            self._store.remove_files(self.uri, paths)
        except Exception as error:  # best effort: without an index nobody reads them
            log.warning("could not remove %d files from %s (%s): %s", len(paths), self.uri, why, error)

    def __enter__(self) -> StorePublishSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is not None:
            self.abort()


def _publisher(marker: bytes | BaseException) -> str:
    """Who owns a prefix, from its marker: ``session 1f2e... on host h, pid 42, since 2026-...``."""
    import json

    if not isinstance(marker, bytes):
        return f"unreadable marker: {marker}"
    try:
        loaded = json.loads(marker)
    except ValueError:
        return "a marker that is not JSON"
    publisher = loaded.get("publisher") if isinstance(loaded, dict) else None
    since = loaded.get("created_at") if isinstance(loaded, dict) else None
    if not isinstance(publisher, dict):
        return f"a publisher that does not name itself, since {since}"
    return (
        f"session {publisher.get('session')} on host {publisher.get('host')}, pid {publisher.get('pid')}, since {since}"
    )
