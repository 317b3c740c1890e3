"""The written contract every artifact store implements (:class:`ArtifactStore`), and the index cache they share."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Final, Protocol, runtime_checkable

from cosmos_remote.artifacts.index import FileEntry, RunIndex
from cosmos_remote.artifacts.layout import PRIMARY_FILE, RunScope
from cosmos_remote.artifacts.model import ArtifactRef, NodeArtifact, VerifyReport
from cosmos_remote.errors import NodeNotFoundError

__all__ = [
    "DEFAULT_INDEX_CACHE_SIZE",
    "ArtifactStore",
    "IndexCache",
    "PublishSession",
    "locate_file",
]

DEFAULT_INDEX_CACHE_SIZE: Final = 8


@runtime_checkable
class ArtifactStore(Protocol):
    """Publish a DAG run's per-node SQL once; fetch any node's file by node id, verified.

    The contract, for every implementation:

    * :meth:`publish` writes every file of every node, then the index **last**; the index is the commit marker. A
      run without an index is *incomplete* and no reader uses it. A committed run is immutable: publishing the same
      scope again raises :class:`~cosmos_remote.errors.RunExistsError`. It returns a small
      :class:`ArtifactRef` (``{"uri", "index_sha256"}``): the only thing that goes to XCom.
    * :meth:`fetch` reads the index (at most once per reference while it stays in the store's bounded cache),
      checks it against ``ref.index_sha256``, reads the node's file and checks its sha256. It raises
      ``RunNotFoundError`` / ``IncompleteRunError`` (both ``FileNotFoundError``) for a missing or uncommitted run,
      ``NodeNotFoundError`` (``KeyError``) for an unknown node or file name, ``ChecksumMismatchError``
      (``ValueError``) when bytes differ from what was published.
    * :meth:`verify` re-hashes every file of a run against its index and reports, never raises, on mismatches.
    * dbt's own artifacts (``manifest.json``, ``run_results.json``) sit at the top of the run, outside the index,
      where :attr:`holds_dbt_artifacts`: :meth:`write_dbt_artifact` writes one create-only,
      :meth:`read_dbt_artifact` reads it (``DbtArtifactMissingError`` when the run has none).
    * :meth:`begin_publish` is :meth:`publish` in two steps, for a producer that learns its nodes one by one: it
      may start writing files at each :meth:`PublishSession.add`, but the run is what :meth:`PublishSession.commit`
      is given, with the same guarantees as :meth:`publish`.

    Implemented once by :class:`~cosmos_remote.artifacts.base.BaseArtifactStore` on storage primitives, which
    :class:`~cosmos_remote.artifacts.fsspec_store.FsspecArtifactStore` (``remote_target_path``: any
    fsspec URL) and :class:`~cosmos_remote.artifacts.xcom_store.XComArtifactStore` (the fallback when
    ``remote_target_path`` is unset).

    Example:
        >>> from cosmos_remote.artifacts import FsspecArtifactStore, NodeArtifact, RunScope
        >>> store: ArtifactStore = FsspecArtifactStore(root="memory://doc-contract")
        >>> ref = store.publish(scope=RunScope(dag_id="d", run_id="r1"), project_name="p", dbt_version="1.11.2",
        ...                     nodes=[NodeArtifact(unique_id="model.p.a", files={"script": "select 1"})])
        >>> store.fetch(ref=ref, unique_id="model.p.a")
        b'select 1'
    """

    def publish(
        self, *, scope: RunScope, nodes: Sequence[NodeArtifact], project_name: str, dbt_version: str
    ) -> ArtifactRef:
        """Write every node's files, then the index; return the reference to hand to consumers."""
        ...

    def fetch(self, *, ref: ArtifactRef, unique_id: str, name: str = PRIMARY_FILE) -> bytes:
        """Return the verified bytes of file ``name`` of node ``unique_id`` in the run ``ref`` points at."""
        ...

    def read_index(self, *, ref: ArtifactRef) -> RunIndex:
        """Return the run's index, verified against ``ref.index_sha256`` (cached)."""
        ...

    def verify(self, *, ref: ArtifactRef) -> VerifyReport:
        """Re-hash every file of the run against its index."""
        ...

    def begin_publish(self, *, scope: RunScope) -> PublishSession:
        """Start publishing the run ``scope``; see :class:`PublishSession`."""
        ...

    def run_uri(self, *, scope: RunScope) -> str:
        """The URI the run ``scope`` is (or would be) published at."""
        ...

    def prefix_in_use(self, *, scope: RunScope) -> bool:
        """Whether a run (committed or claimed by a publish) already holds the prefix of ``scope``."""
        ...

    @property
    def holds_dbt_artifacts(self) -> bool:
        """Whether this store keeps dbt's ``manifest.json`` and ``run_results.json`` next to the index."""
        ...

    def write_dbt_artifact(self, *, uri: str, name: str, data: bytes) -> None:
        """Write dbt's artifact ``name`` at the top of the run ``uri``, create-only (``FileExistsError``)."""
        ...

    def read_dbt_artifact(self, *, uri: str, name: str) -> bytes:
        """dbt's artifact ``name`` of the run ``uri``."""
        ...


@runtime_checkable
class PublishSession(Protocol):
    """A publish whose files may be written while the producer still renders the rest (a context manager).

    * :meth:`add` hands over a node as soon as it is known; the store may upload its files in the background.
      Never blocks on storage; never raises for a storage error (the commit retries what failed).
    * :meth:`commit` publishes exactly ``nodes`` (as :meth:`ArtifactStore.publish` would): files added earlier
      with the same path and bytes are not written again, added files that are not part of ``nodes`` are removed
      before the index is written last.
    * :meth:`abort` (also on leaving the ``with`` block with an exception before :meth:`commit`) stops pending
      uploads and removes, best effort, what this session wrote. No index was written, so no reader uses it.
    """

    def add(self, node: NodeArtifact) -> None:
        """Hand over one node whose files will not change (a later :meth:`commit` may still change them)."""
        ...

    def commit(
        self,
        *,
        nodes: Sequence[NodeArtifact],
        project_name: str,
        dbt_version: str,
        dbt_files: Mapping[str, bytes] | None = None,
    ) -> ArtifactRef:
        """Publish ``nodes`` (and dbt's ``dbt_files``, e.g. ``manifest.json``), index last; return the reference."""
        ...

    def abort(self) -> None:
        """Give up: stop uploads, remove what this session wrote (best effort)."""
        ...

    def __enter__(self) -> PublishSession: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None: ...


class IndexCache:
    """A small, thread-safe LRU of parsed indexes keyed by ``(run uri, index sha256)``.

    Each store owns one (no process-global state). A model task fetches one node, so the cache pays off for callers
    that fetch several files or nodes of one run (script and compiled SQL, ``verify``, the CLI). Keying by the sha256
    means a republished index can never be served stale.

    Example:
        >>> cache = IndexCache(maxsize=1)
        >>> cache.get(("memory://r", "0" * 64)) is None
        True
    """

    def __init__(self, *, maxsize: int = DEFAULT_INDEX_CACHE_SIZE) -> None:
        if maxsize < 0:
            raise ValueError(f"index cache maxsize must be >= 0, got {maxsize}")
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str], RunIndex] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> RunIndex | None:
        """The cached index for ``key`` (marking it recently used), or None."""
        with self._lock:
            index = self._entries.get(key)
            if index is not None:
                self._entries.move_to_end(key)
            return index

    def put(self, key: tuple[str, str], index: RunIndex) -> None:
        """Cache ``index``, evicting the least recently used entry beyond ``maxsize``."""
        if self.maxsize == 0:
            return
        with self._lock:
            self._entries[key] = index
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every cached index."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def locate_file(index: RunIndex, *, uri: str, unique_id: str, name: str) -> FileEntry:
    """The index entry of file ``name`` of ``unique_id``; ``NodeNotFoundError`` naming the run when there is none."""
    entry = index.nodes.get(unique_id)
    if entry is None:
        raise NodeNotFoundError(uri=uri, unique_id=unique_id, known=len(index.nodes))
    stored = entry.files.get(name)
    if stored is None:
        raise NodeNotFoundError(uri=uri, unique_id=unique_id, name=name, known=len(entry.files))
    return stored
