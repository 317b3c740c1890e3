"""The fallback when ``remote_target_path`` is unset: artifacts through XCom, zlib-compressed and base64-encoded.

One XCom value per file (key ``cosmos_remote/{path}``, path as in the object-store layout), a marker pushed first and
the index pushed last, so the contract (:class:`~cosmos_remote.artifacts.contract.ArtifactStore`) is the same as for
object storage: incomplete runs are refused, every fetch is checked against sha256s.

Size guard: every value must stay within :data:`XCOM_VALUE_LIMIT` (48 KiB of base64 text, ~36 KiB compressed, which
is roughly 150-250 KiB of SQL). XCom values live in Airflow's metadata database, the one the scheduler works in:
on MySQL the value column was a 64 KiB BLOB through Airflow 2 and, as JSON in Airflow 3, is still bounded by
``max_allowed_packet``; each value also travels through the Task SDK's execution API and the UI. 48 KiB keeps a
margin below 64 KiB for JSON quoting and keys. A publish that would exceed it fails before pushing anything, with a
message pointing to ``remote_target_path``. The index is one value too, which bounds XCom mode to a few hundred
nodes; object storage has no such limit.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Sequence
from typing import Any, Final, Protocol, runtime_checkable

from cosmos_remote.artifacts._build import prepare_run
from cosmos_remote.artifacts.contract import DEFAULT_INDEX_CACHE_SIZE, IndexCache, PublishAtCommit, locate_file
from cosmos_remote.artifacts.errors import (
    ArtifactMissingError,
    ArtifactTooLargeError,
    ChecksumMismatchError,
    IncompleteRunError,
    RunExistsError,
    RunNotFoundError,
)
from cosmos_remote.artifacts.index import RunIndex, sha256_hex
from cosmos_remote.artifacts.layout import INDEX_NAME, MARKER_NAME, PRIMARY_FILE, RunScope
from cosmos_remote.artifacts.model import ArtifactRef, NodeArtifact, VerifyProblem, VerifyReport

__all__ = [
    "XCOM_KEY_PREFIX",
    "XCOM_VALUE_LIMIT",
    "InMemoryXCom",
    "TaskInstanceXCom",
    "XComArtifactStore",
    "XComChannel",
    "decode_value",
    "encode_value",
]

XCOM_VALUE_LIMIT: Final = 48 * 1024
"""Largest XCom value (characters of base64 text) the fallback pushes; see the module docstring."""
XCOM_KEY_PREFIX: Final = "cosmos_remote/"
_MAX_KEY: Final = 500  # Airflow's xcom.key is String(512)


def encode_value(data: bytes) -> str:
    """zlib (level 9) then base64: the text pushed to XCom."""
    return base64.b64encode(zlib.compress(data, 9)).decode("ascii")


def decode_value(value: str) -> bytes:
    """Inverse of :func:`encode_value`; ValueError if ``value`` is not such text."""
    try:
        return zlib.decompress(base64.b64decode(value, validate=True))
    except (binascii.Error, zlib.error, TypeError) as exc:
        raise ValueError(f"not a compressed artifact value: {exc}") from exc


def _key(relative: str) -> str:
    key = XCOM_KEY_PREFIX + relative
    return key if len(key) <= _MAX_KEY else XCOM_KEY_PREFIX + "~" + sha256_hex(relative.encode())


@runtime_checkable
class XComChannel(Protocol):
    """Where XCom values go: push in the setup task, pull (from the setup task) in model tasks.

    Example:
        >>> isinstance(InMemoryXCom(), XComChannel)
        True
    """

    def push(self, *, key: str, value: str) -> None:
        """Store ``value`` under ``key`` for this DAG run's setup task."""
        ...

    def pull(self, *, key: str) -> str | None:
        """The value under ``key``, or None."""
        ...


class InMemoryXCom:
    """An XCom channel in a dict: for tests and for running without Airflow.

    Example:
        >>> channel = InMemoryXCom()
        >>> channel.push(key="k", value="v")
        >>> channel.pull(key="k")
        'v'
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def push(self, *, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        self.values[key] = value

    def pull(self, *, key: str) -> str | None:
        """The value under ``key``, or None."""
        return self.values.get(key)


class TaskInstanceXCom:
    """An XCom channel over an Airflow task instance; values belong to the setup task ``task_id``.

    Example:
        >>> def execute(context):  # doctest: +SKIP
        ...     channel = TaskInstanceXCom(ti=context["ti"], task_id="dbt_setup")
    """

    def __init__(self, *, ti: Any, task_id: str) -> None:
        self.ti = ti
        self.task_id = task_id

    def push(self, *, key: str, value: str) -> None:
        """``ti.xcom_push`` (call it from the setup task itself)."""
        self.ti.xcom_push(key=key, value=value)

    def pull(self, *, key: str) -> str | None:
        """``ti.xcom_pull`` from the setup task."""
        value = self.ti.xcom_pull(task_ids=self.task_id, key=key)
        return value if isinstance(value, str) else None


class XComArtifactStore:
    """Artifacts through XCom when there is no ``remote_target_path``; implements :class:`ArtifactStore`.

    Args:
        channel: Where values are pushed and pulled (a :class:`TaskInstanceXCom` in Airflow).
        value_limit: Largest value, in characters; see :data:`XCOM_VALUE_LIMIT`.
        index_cache_size: Parsed indexes kept, keyed by ``(uri, index sha256)``.

    Example:
        >>> from cosmos_remote.artifacts import NodeArtifact, RunScope
        >>> store = XComArtifactStore(channel=InMemoryXCom())
        >>> ref = store.publish(scope=RunScope(dag_id="d", run_id="r"), project_name="p", dbt_version="1.11.2",
        ...                     nodes=[NodeArtifact(node_id="model.p.a", files={"script": "select 1"})])
        >>> store.fetch(ref=ref, node_id="model.p.a")
        b'select 1'
    """

    def __init__(
        self,
        *,
        channel: XComChannel,
        value_limit: int = XCOM_VALUE_LIMIT,
        index_cache_size: int = DEFAULT_INDEX_CACHE_SIZE,
    ) -> None:
        self.channel = channel
        self.value_limit = value_limit
        self.index_cache = IndexCache(maxsize=index_cache_size)

    def publish(
        self, *, scope: RunScope, nodes: Sequence[NodeArtifact], project_name: str, dbt_version: str
    ) -> ArtifactRef:
        """Push the marker, every file, then the index (each value size-checked before anything is pushed)."""
        prepared = prepare_run(scope=scope, nodes=nodes, project_name=project_name, dbt_version=dbt_version)
        uri = "xcom://" + scope.relative_prefix
        values = {_key(rel): encode_value(data) for rel, data in prepared.files.items()}
        index_value = encode_value(prepared.index_bytes)
        owners = {_key(f.path): node_id for node_id, n in prepared.index.nodes.items() for f in n.files.values()}
        too_big = sorted((len(v), k) for k, v in values.items() if len(v) > self.value_limit)
        if too_big:
            size, key = too_big[-1]
            raise ArtifactTooLargeError(
                f"{len(too_big)} artifact(s) exceed the XCom limit of {self.value_limit} characters per value after "
                f"zlib+base64 (largest: node {owners[key]!r}, {size} characters). Set remote_target_path (e.g. "
                f"gs://bucket/cosmos) to move SQL through object storage instead of Airflow's metadata database."
            )
        if len(index_value) > self.value_limit:
            raise ArtifactTooLargeError(
                f"the index of {len(prepared.index.nodes)} nodes is {len(index_value)} characters after zlib+base64, "
                f"over the XCom limit of {self.value_limit}. Set remote_target_path (e.g. gs://bucket/cosmos) to "
                f"publish runs of this size through object storage."
            )
        if self.channel.pull(key=_key(INDEX_NAME)) is not None:
            raise RunExistsError(uri=uri)
        self.channel.push(key=_key(MARKER_NAME), value=encode_value(prepared.marker))
        for key, value in values.items():
            self.channel.push(key=key, value=value)
        self.channel.push(key=_key(INDEX_NAME), value=index_value)
        ref = ArtifactRef(uri=uri, index_sha256=sha256_hex(prepared.index_bytes))
        self.index_cache.put((ref.uri, ref.index_sha256), prepared.index)
        return ref

    def read_index(self, *, ref: ArtifactRef) -> RunIndex:
        """The run's index from XCom, checked against ``ref.index_sha256``; cached."""
        key = (ref.uri, ref.index_sha256)
        cached = self.index_cache.get(key)
        if cached is not None:
            return cached
        value = self.channel.pull(key=_key(INDEX_NAME))
        if value is None:
            if self.channel.pull(key=_key(MARKER_NAME)) is not None:
                raise IncompleteRunError(uri=ref.uri, index_path=_key(INDEX_NAME))
            raise RunNotFoundError(uri=ref.uri)
        data = self._decode(ref, INDEX_NAME, value, expected=ref.index_sha256)
        index = RunIndex.from_json(data, source=f"XCom {_key(INDEX_NAME)!r}")
        self.index_cache.put(key, index)
        return index

    def fetch(self, *, ref: ArtifactRef, node_id: str, name: str = PRIMARY_FILE) -> bytes:
        """The verified bytes of file ``name`` of node ``node_id``, from XCom."""
        stored = locate_file(self.read_index(ref=ref), uri=ref.uri, node_id=node_id, name=name)
        value = self.channel.pull(key=_key(stored.path))
        if value is None:
            raise ArtifactMissingError(uri=ref.uri, path=stored.path, node_id=node_id)
        return self._decode(ref, stored.path, value, expected=stored.sha256, node_id=node_id)

    def begin_publish(self, *, scope: RunScope) -> PublishAtCommit:
        """XCom values are pushed at the commit, all at once (see :class:`PublishAtCommit`)."""
        return PublishAtCommit(self, scope=scope)

    def verify(self, *, ref: ArtifactRef) -> VerifyReport:
        """Decode and re-hash every value the index lists."""
        index = self.read_index(ref=ref)
        problems: list[VerifyProblem] = []
        checked = 0
        for node_id, node in sorted(index.nodes.items()):
            for entry in node.files.values():
                checked += 1
                value = self.channel.pull(key=_key(entry.path))
                if value is None:
                    problems.append(VerifyProblem("missing", entry.path, node_id, "listed in the index, not in XCom"))
                    continue
                try:
                    self._decode(ref, entry.path, value, expected=entry.sha256, node_id=node_id)
                except ChecksumMismatchError as exc:
                    problems.append(VerifyProblem("checksum", entry.path, node_id, f"sha256 {exc.actual}"))
        return VerifyReport(uri=ref.uri, files_checked=checked, problems=tuple(problems))

    @staticmethod
    def _decode(ref: ArtifactRef, path: str, value: str, *, expected: str, node_id: str | None = None) -> bytes:
        try:
            data = decode_value(value)
        except ValueError:
            actual = "(not zlib+base64)"
        else:
            actual = sha256_hex(data)
            if actual == expected:
                return data
        raise ChecksumMismatchError(uri=ref.uri, path=path, node_id=node_id, expected=expected, actual=actual)
