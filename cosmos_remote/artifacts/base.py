"""``BaseArtifactStore``: index, fetch, verify and publish written once, on a handful of storage primitives.

The fsspec way: :class:`~cosmos_remote.artifacts.contract.ArtifactStore` is the contract, this base implements it,
and an implementation only says how to get, put, list and remove the files of one run (paths relative to the run
prefix). The two implementations are :class:`~cosmos_remote.artifacts.fsspec_store.FsspecArtifactStore` (any
fsspec URL) and :class:`~cosmos_remote.artifacts.xcom_store.XComArtifactStore` (the fallback without
``remote_target_path``); one test suite runs over both.

Primitives (every one takes the run URI and paths relative to it; none raises per file):

* :meth:`~BaseArtifactStore.get_files`: ``path -> bytes``, or the exception of that path (``FileNotFoundError``
  when missing, ``ValueError`` when the stored value cannot be decoded).
* :meth:`~BaseArtifactStore.put_files`: ``path -> None | exception``. With ``create=True`` a name that exists
  yields ``FileExistsError`` (a server-side precondition), and a store without create-only writes raises
  ``NotImplementedError`` before writing anything; the base then checks for a committed index itself.
* :meth:`~BaseArtifactStore.list_files`: the relative paths under the run, or None when the store cannot list.
* :meth:`~BaseArtifactStore.remove_files`: best effort, for files of a publish that did not commit.

Optional hooks: :meth:`~BaseArtifactStore.check_run` refuses a run before anything is written (the XCom size guard),
:meth:`~BaseArtifactStore.open_uploads` lets a session upload nodes while the producer still renders the rest,
:meth:`~BaseArtifactStore.describe_failure` explains a failed first write (a bucket that does not exist).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Protocol

from cosmos_remote.artifacts.contract import DEFAULT_INDEX_CACHE_SIZE, IndexCache, locate_file
from cosmos_remote.artifacts.index import NodeEntry, RunIndex, sha256_hex
from cosmos_remote.artifacts.layout import (
    DBT_ARTIFACTS,
    INDEX_NAME,
    MARKER_NAME,
    PRIMARY_FILE,
    RunScope,
    check_dbt_artifact,
    check_relative_path,
)
from cosmos_remote.artifacts.model import ArtifactRef, NodeArtifact, VerifyProblem, VerifyReport
from cosmos_remote.errors import (
    ArtifactMissingError,
    ChecksumMismatchError,
    DbtArtifactMissingError,
    IncompleteRunError,
    RunNotFoundError,
)

if TYPE_CHECKING:
    from cosmos_remote.artifacts._build import PreparedRun
    from cosmos_remote.artifacts.session import StorePublishSession

__all__ = ["BaseArtifactStore", "Uploads"]


class Uploads(Protocol):
    """Background uploads of one publish session (see :meth:`BaseArtifactStore.open_uploads`)."""

    def submit(self, path: str, data: bytes) -> Future[BaseException | None]:
        """Start writing ``data`` create-only to ``path`` (relative to the run); the future never raises."""
        ...

    def close(self) -> None:
        """Release the resources of the uploads (after every future is done)."""
        ...


class BaseArtifactStore(ABC):
    """Everything of :class:`~cosmos_remote.artifacts.contract.ArtifactStore` on the primitives of the module docs.

    Args:
        index_cache_size: Parsed indexes kept per store, keyed by ``(run uri, index sha256)``; 0 disables.
    """

    #: Whether the store keeps dbt's own artifacts (``manifest.json``, ``run_results.json``) next to the index.
    holds_dbt_artifacts: bool = True

    def __init__(self, *, index_cache_size: int = DEFAULT_INDEX_CACHE_SIZE) -> None:
        self.index_cache = IndexCache(maxsize=index_cache_size)

    # -- primitives ------------------------------------------------------------------------------------------------

    @abstractmethod
    def run_uri(self, *, scope: RunScope) -> str:
        """The URI of the run ``scope``."""

    @abstractmethod
    def get_files(self, uri: str, paths: Sequence[str]) -> dict[str, bytes | BaseException]:
        """Read ``paths`` of the run ``uri`` as one batch."""

    @abstractmethod
    def put_files(self, uri: str, files: Mapping[str, bytes], *, create: bool) -> dict[str, BaseException | None]:
        """Write ``files`` of the run ``uri`` as one batch (in the mapping's order where order matters)."""

    @abstractmethod
    def list_files(self, uri: str) -> list[str] | None:
        """Every path stored under the run ``uri``, or None when this store cannot list."""

    def remove_files(self, uri: str, paths: Sequence[str]) -> None:  # noqa: B027 - optional primitive
        """Remove ``paths`` of the run ``uri`` (best effort; a store that cannot remove leaves them)."""

    def check_run(self, prepared: PreparedRun) -> None:  # noqa: B027 - optional hook
        """Refuse ``prepared`` before anything of it is written (default: accept)."""

    def describe_failure(self, error: BaseException) -> str:
        """What a failed first write most likely means and how to fix it (default: nothing to add)."""
        return ""

    def open_uploads(self, uri: str) -> Uploads | None:
        """Background uploads for a session on ``uri``, or None to write everything at the commit (default)."""
        return None

    # -- the contract ----------------------------------------------------------------------------------------------

    def publish(
        self, *, scope: RunScope, nodes: Sequence[NodeArtifact], project_name: str, dbt_version: str
    ) -> ArtifactRef:
        """Write every node's files in one batch, then the index; see the contract.

        Raises:
            RunExistsError: The run was already published (its index exists).
            PublishError: Some files could not be written (after retries); the run stays incomplete.
        """
        with self.begin_publish(scope=scope) as session:
            return session.commit(nodes=nodes, project_name=project_name, dbt_version=dbt_version)

    def begin_publish(self, *, scope: RunScope) -> StorePublishSession:
        """A publish in two steps (see :class:`~cosmos_remote.artifacts.session.StorePublishSession`).

        Example:
            >>> from cosmos_remote.artifacts import FsspecArtifactStore, NodeArtifact, RunScope
            >>> store = FsspecArtifactStore(root="memory://doc-session")
            >>> node = NodeArtifact(unique_id="model.p.a", files={"script": "select 1"})
            >>> with store.begin_publish(scope=RunScope(dag_id="d", run_id="r1")) as session:
            ...     session.add(node)  # uploading starts
            ...     ref = session.commit(nodes=[node], project_name="p", dbt_version="1.11.2")
            >>> store.fetch(ref=ref, unique_id="model.p.a")
            b'select 1'
        """
        from cosmos_remote.artifacts.session import StorePublishSession

        return StorePublishSession(self, scope=scope)

    def prefix_in_use(self, *, scope: RunScope) -> bool:
        """Whether the prefix of ``scope`` holds a run already (its claim or its index), e.g. of a DAG run that was
        deleted and created again with the same run id; one batched read."""
        found = self.get_files(self.run_uri(scope=scope), [MARKER_NAME, INDEX_NAME])
        return any(isinstance(outcome, bytes) for outcome in found.values())

    def read_index(self, *, ref: ArtifactRef) -> RunIndex:
        """The run's index, checked against ``ref.index_sha256``; cached (see :class:`IndexCache`)."""
        key = (ref.uri, ref.index_sha256)
        cached = self.index_cache.get(key)
        if cached is not None:
            return cached
        data = self.index_bytes(ref.uri)
        digest = sha256_hex(data)
        if digest != ref.index_sha256:
            raise ChecksumMismatchError(uri=ref.uri, path=INDEX_NAME, expected=ref.index_sha256, actual=digest)
        index = RunIndex.from_json(data, source=f"{ref.uri}/{INDEX_NAME}")
        self.index_cache.put(key, index)
        return index

    def fetch(self, *, ref: ArtifactRef, unique_id: str, name: str = PRIMARY_FILE) -> bytes:
        """The verified bytes of file ``name`` of node ``unique_id`` in the run ``ref`` points at."""
        stored = locate_file(self.read_index(ref=ref), uri=ref.uri, unique_id=unique_id, name=name)
        check_relative_path(stored.path, what="artifact path")
        outcome = self.get_files(ref.uri, [stored.path])[stored.path]
        if isinstance(outcome, FileNotFoundError):
            raise ArtifactMissingError(uri=ref.uri, path=stored.path, unique_id=unique_id)
        actual = _digest(outcome)
        if actual != stored.sha256:
            raise ChecksumMismatchError(
                uri=ref.uri, path=stored.path, unique_id=unique_id, expected=stored.sha256, actual=actual
            )
        assert isinstance(outcome, bytes)
        return outcome

    def open_run(self, *, uri: str) -> ArtifactRef:
        """A reference to the committed run at ``uri`` (for tools that start from a URI, not from XCom)."""
        uri = uri.rstrip("/")
        data = self.index_bytes(uri)
        ref = ArtifactRef(uri=uri, index_sha256=sha256_hex(data))
        self.index_cache.put((ref.uri, ref.index_sha256), RunIndex.from_json(data, source=f"{uri}/{INDEX_NAME}"))
        return ref

    def write_dbt_artifact(self, *, uri: str, name: str, data: bytes) -> None:
        """Write dbt's artifact ``name`` (one of :data:`DBT_ARTIFACTS`) at the top of the run ``uri``, create-only.

        Raises:
            FileExistsError: The run already has it.
            NotImplementedError: This store keeps no dbt artifacts (:attr:`holds_dbt_artifacts`).
        """
        check_dbt_artifact(name)
        if not self.holds_dbt_artifacts:
            raise NotImplementedError(f"{type(self).__name__} keeps no dbt artifacts; set remote_target_path")
        error = self.put_files(uri, {name: data}, create=True)[name]
        if error is not None:
            raise error

    def read_dbt_artifact(self, *, uri: str, name: str) -> bytes:
        """dbt's artifact ``name`` of the run ``uri``; ``ArtifactMissingError`` when the run has none."""
        check_dbt_artifact(name)
        outcome = self.get_files(uri.rstrip("/"), [name])[name]
        if isinstance(outcome, FileNotFoundError):
            raise DbtArtifactMissingError(uri=uri, name=name)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def list_nodes(self, *, ref: ArtifactRef) -> Mapping[str, NodeEntry]:
        """``unique_id -> NodeEntry`` of the run."""
        return self.read_index(ref=ref).nodes

    def verify(self, *, ref: ArtifactRef) -> VerifyReport:
        """Re-hash every file of the run against its index; report missing, changed and unexpected files."""
        index = self.read_index(ref=ref)
        owners = {f.path: (unique_id, f) for unique_id, node in index.nodes.items() for f in node.files.values()}
        for path in owners:
            check_relative_path(path, what="artifact path")
        contents = self.get_files(ref.uri, sorted(owners))
        problems: list[VerifyProblem] = []
        for path, (unique_id, entry) in sorted(owners.items()):
            data = contents[path]
            if isinstance(data, FileNotFoundError):
                problems.append(VerifyProblem("missing", path, unique_id, "listed in the index, not in the store"))
            elif isinstance(data, BaseException) and not isinstance(data, ValueError):
                raise data
            elif (actual := _digest(data)) != entry.sha256:
                size = f" ({len(data)} vs {entry.bytes} bytes)" if isinstance(data, bytes) else ""
                problems.append(
                    VerifyProblem("checksum", path, unique_id, f"sha256 {actual} != indexed {entry.sha256}{size}")
                )
        listed = self.list_files(ref.uri)
        for path in sorted(set(listed or ()) - set(owners) - {INDEX_NAME, MARKER_NAME, *DBT_ARTIFACTS}):
            problems.append(VerifyProblem("unexpected", path, None, "not in the index"))
        return VerifyReport(uri=ref.uri, files_checked=len(owners), problems=tuple(problems))

    def index_bytes(self, uri: str) -> bytes:
        """The stored index of the run ``uri``; ``IncompleteRunError`` / ``RunNotFoundError`` when there is none."""
        outcome = self.get_files(uri, [INDEX_NAME])[INDEX_NAME]
        if isinstance(outcome, bytes):
            return outcome
        if not isinstance(outcome, FileNotFoundError):
            raise outcome
        listed = self.list_files(uri)
        if listed is None:
            listed = [MARKER_NAME] if isinstance(self.get_files(uri, [MARKER_NAME])[MARKER_NAME], bytes) else []
        if listed:
            raise IncompleteRunError(uri=uri, index_path=f"{uri}/{INDEX_NAME}")
        raise RunNotFoundError(uri=uri)


def _digest(outcome: bytes | BaseException) -> str:
    """The sha256 of read bytes; for a value that could not be decoded, a note saying so (never equal to a hash)."""
    if isinstance(outcome, bytes):
        return sha256_hex(outcome)
    if isinstance(outcome, ValueError):
        return f"(unreadable: {outcome})"
    raise outcome
