"""Values passed to and returned by the artifact stores: what to publish, the XCom reference, listings, reports."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cosmos_remote.artifacts.index import Relation
from cosmos_remote.artifacts.layout import PRIMARY_FILE, check_file_name

__all__ = ["ArtifactRef", "NodeArtifact", "RunSummary", "VerifyProblem", "VerifyReport"]

_SHA256: Final = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class NodeArtifact:
    """One dbt node's files to publish.

    Attributes:
        unique_id: The dbt unique id, e.g. ``model.jaffle_shop.stg_orders``.
        files: Named contents; ``"script"`` (what the consumer executes) is required, ``"compiled"`` (the compiled
            SELECT) and ``"csv"`` (a seed's data) are the usual others. ``str`` is stored as UTF-8.
        resource_type: ``model``, ``seed``, ``snapshot``, ``test``...; defaults to the node id's first part.
        package_name: The dbt package; defaults to the node id's second part.
        resource_path: The node's path inside its package as dbt writes it under ``target/run/{package}/``, e.g.
            ``models/staging/stg_orders.sql`` or, for a generic test, ``models/staging/_staging.yml/
            not_null_stg_orders_order_id.sql``. The stored files mirror it. Defaults to ``{resource_type}s/{name}``.
        materialization: ``table``, ``view``, ``incremental``...
        relation: The relation the node builds.

    Example:
        >>> NodeArtifact(unique_id="model.jaffle_shop.stg_orders", files={"script": "select 1"},
        ...              resource_path="models/staging/stg_orders.sql", materialization="view").package_name
        'jaffle_shop'
    """

    unique_id: str
    files: Mapping[str, str | bytes]
    resource_type: str = ""
    package_name: str = ""
    resource_path: str = ""
    materialization: str | None = None
    relation: Relation = field(default_factory=Relation)

    def __post_init__(self) -> None:
        if not isinstance(self.unique_id, str) or not self.unique_id:
            raise ValueError(f"NodeArtifact.unique_id must be a non-empty string, got {self.unique_id!r}")
        if PRIMARY_FILE not in self.files:
            raise ValueError(f"node {self.unique_id!r} has no {PRIMARY_FILE!r} file (files: {sorted(self.files)})")
        for name, content in self.files.items():
            check_file_name(name)
            if not isinstance(content, str | bytes):
                raise TypeError(f"file {name!r} of node {self.unique_id!r} must be str or bytes, got {type(content)}")
        parts = self.unique_id.split(".")
        if not self.resource_type:
            object.__setattr__(self, "resource_type", parts[0] if len(parts) > 1 else "node")
        if not self.package_name:
            object.__setattr__(self, "package_name", parts[1] if len(parts) > 2 else "_")
        if not self.resource_path:
            name = parts[2] if len(parts) > 2 else self.unique_id
            object.__setattr__(self, "resource_path", f"{self.resource_type}s/{name}.sql")

    def encoded(self) -> dict[str, bytes]:
        """The files as bytes (``str`` encoded as UTF-8)."""
        return {name: c.encode("utf-8") if isinstance(c, str) else bytes(c) for name, c in self.files.items()}


@dataclass(frozen=True)
class ArtifactRef:
    """The small reference a publish returns and XCom carries: where the run is and the sha256 of its index.

    Example:
        >>> ref = ArtifactRef(uri="gs://bucket/cosmos/jaffle/run1", index_sha256="0" * 64)
        >>> ArtifactRef.from_xcom(ref.to_xcom()) == ref
        True
    """

    uri: str
    index_sha256: str

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri:
            raise ValueError(f"ArtifactRef.uri must be a non-empty string, got {self.uri!r}")
        if not isinstance(self.index_sha256, str) or not _SHA256.fullmatch(self.index_sha256):
            raise ValueError(f"ArtifactRef.index_sha256 must be 64 lowercase hex digits, got {self.index_sha256!r}")

    def to_xcom(self) -> dict[str, str]:
        """The JSON-serializable value to push to XCom."""
        return {"uri": self.uri, "index_sha256": self.index_sha256}

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any] | Any) -> ArtifactRef:
        """Rebuild a reference from :meth:`to_xcom`'s value (as pulled from XCom)."""
        if not isinstance(value, Mapping) or not {"uri", "index_sha256"} <= set(value):
            raise ValueError(
                f"not an artifact reference: expected a mapping with 'uri' and 'index_sha256', got {value!r}. "
                f"Pull the return value of the setup task."
            )
        return cls(uri=value["uri"], index_sha256=value["index_sha256"])


@dataclass(frozen=True)
class RunSummary:
    """One run found under a root by ``list_runs``.

    Example:
        >>> RunSummary(uri="memory://r/d/1", dag_id="d", task_group=None, run_id="1", created_at=None,
        ...            node_count=0, total_bytes=0, complete=False).complete
        False
    """

    uri: str
    dag_id: str | None
    task_group: str | None
    run_id: str | None
    created_at: str | None
    node_count: int | None
    total_bytes: int
    complete: bool


@dataclass(frozen=True)
class VerifyProblem:
    """One discrepancy between a run's index and its stored files.

    Example:
        >>> VerifyProblem("missing", "pkg/models/a.sql", "model.pkg.a", "listed in the index, not in the store").kind
        'missing'
    """

    kind: Literal["missing", "checksum", "unexpected"]
    path: str
    unique_id: str | None
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found: files checked and every problem.

    Example:
        >>> VerifyReport(uri="memory://r/d/1", files_checked=3, problems=()).ok
        True
    """

    uri: str
    files_checked: int
    problems: tuple[VerifyProblem, ...]

    @property
    def ok(self) -> bool:
        """True when every indexed file is present with the recorded sha256 and no stray file exists."""
        return not self.problems
