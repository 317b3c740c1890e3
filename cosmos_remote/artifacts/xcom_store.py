"""The fallback when ``remote_target_path`` is unset: artifacts through XCom, zlib-compressed and base64-encoded.

One XCom value per file (key ``cosmos_remote/{path}``, path as in the object-store layout), a marker pushed first and
the index pushed last, so the contract (:class:`~cosmos_remote.artifacts.contract.ArtifactStore`, implemented once by
:class:`~cosmos_remote.artifacts.base.BaseArtifactStore`) is the same as for object storage: incomplete runs
are refused, every fetch is checked against sha256s.

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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from cosmos_remote.artifacts.base import BaseArtifactStore
from cosmos_remote.artifacts.contract import DEFAULT_INDEX_CACHE_SIZE
from cosmos_remote.artifacts.index import sha256_hex
from cosmos_remote.artifacts.layout import RunScope
from cosmos_remote.errors import ArtifactTooLargeError

if TYPE_CHECKING:
    from cosmos_remote.artifacts._build import PreparedRun

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


class XComArtifactStore(BaseArtifactStore):
    """Artifacts through XCom when there is no ``remote_target_path``: the primitives of
    :class:`~cosmos_remote.artifacts.base.BaseArtifactStore` on one XCom channel (one setup task, so one run).

    Args:
        channel: Where values are pushed and pulled (a :class:`TaskInstanceXCom` in Airflow).
        value_limit: Largest value, in characters; see :data:`XCOM_VALUE_LIMIT`.
        index_cache_size: Parsed indexes kept, keyed by ``(uri, index sha256)``.

    Example:
        >>> from cosmos_remote.artifacts import NodeArtifact, RunScope
        >>> store = XComArtifactStore(channel=InMemoryXCom())
        >>> ref = store.publish(scope=RunScope(dag_id="d", run_id="r"), project_name="p", dbt_version="1.11.2",
        ...                     nodes=[NodeArtifact(unique_id="model.p.a", files={"script": "select 1"})])
        >>> store.fetch(ref=ref, unique_id="model.p.a")
        b'select 1'
    """

    def __init__(
        self,
        *,
        channel: XComChannel,
        value_limit: int = XCOM_VALUE_LIMIT,
        index_cache_size: int = DEFAULT_INDEX_CACHE_SIZE,
    ) -> None:
        super().__init__(index_cache_size=index_cache_size)
        self.channel = channel
        self.value_limit = value_limit

    def run_uri(self, *, scope: RunScope) -> str:
        """``xcom://{dag_id}[/{task_group}]/{run_id}``."""
        return "xcom://" + scope.relative_prefix

    def check_run(self, prepared: PreparedRun) -> None:
        """Refuse, before anything is pushed, a file or an index over :attr:`value_limit` after zlib+base64."""
        sizes = {path: len(encode_value(data)) for path, data in prepared.files.items()}
        owners = {f.path: unique_id for unique_id, n in prepared.index.nodes.items() for f in n.files.values()}
        too_big = sorted((size, path) for path, size in sizes.items() if size > self.value_limit)
        if too_big:
            size, path = too_big[-1]
            raise ArtifactTooLargeError(
                f"{len(too_big)} artifact(s) exceed the XCom limit of {self.value_limit} characters per value after "
                f"zlib+base64 (largest: node {owners[path]!r}, {size} characters). Set remote_target_path (e.g. "
                f"gs://bucket/cosmos) to move SQL through object storage instead of Airflow's metadata database."
            )
        index_size = len(encode_value(prepared.index_bytes))
        if index_size > self.value_limit:
            raise ArtifactTooLargeError(
                f"the index of {len(prepared.index.nodes)} nodes is {index_size} characters after zlib+base64, "
                f"over the XCom limit of {self.value_limit}. Set remote_target_path (e.g. gs://bucket/cosmos) to "
                f"publish runs of this size through object storage."
            )

    def get_files(self, uri: str, paths: Sequence[str]) -> dict[str, bytes | BaseException]:
        """Pull and decode each value; a missing one is FileNotFoundError, an undecodable one ValueError."""
        outcomes: dict[str, bytes | BaseException] = {}
        for path in paths:
            value = self.channel.pull(key=_key(path))
            if value is None:
                outcomes[path] = FileNotFoundError(f"no XCom {_key(path)!r} for {uri}")
                continue
            try:
                outcomes[path] = decode_value(value)
            except ValueError as exc:
                outcomes[path] = exc
        return outcomes

    holds_dbt_artifacts = False  # manifest.json alone is far above the size of one XCom value

    def put_files(self, uri: str, files: Mapping[str, bytes], *, create: bool) -> dict[str, BaseException | None]:
        """Push each value in order; XCom has no create-only push (NotImplementedError for ``create``)."""
        if create:
            raise NotImplementedError("XCom has no create-only push")
        for path, data in files.items():
            self.channel.push(key=_key(path), value=encode_value(data))
        return dict.fromkeys(files)

    def list_files(self, uri: str) -> None:
        """XCom values of a task cannot be listed through the Task SDK: None."""
        return None
