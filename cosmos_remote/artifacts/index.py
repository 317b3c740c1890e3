"""The run index (``index.json``): a versioned, self-describing table of contents, written last as the commit marker.

Format (version 1), compact JSON with sorted keys::

    {
      "format": "cosmos-remote-artifacts",
      "format_version": 1,
      "project_name": "jaffle_shop",
      "dbt_version": "1.11.2",
      "created_at": "2026-11-02T10:00:00.123456+00:00",
      "run": {"dag_id": "jaffle", "task_group": null, "run_id": "manual__2026-11-02T10:00:00+00:00"},
      "nodes": {
        "model.jaffle_shop.stg_orders": {
          "resource_type": "model",
          "package_name": "jaffle_shop",
          "materialization": "view",
          "relation": {"database": "my-project", "schema": "analytics", "identifier": "stg_orders"},
          "files": {
            "script": {"path": "jaffle_shop/models/staging/stg_orders.sql", "sha256": "9f86d0...", "bytes": 412}
          }
        }
      }
    }

``path`` is relative to the run prefix. Readers accept every ``format_version`` up to :data:`FORMAT_VERSION` and
refuse newer ones with a hint to upgrade; unknown keys are ignored so later versions can add fields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cosmos_remote.artifacts.layout import RunScope
from cosmos_remote.errors import IndexFormatError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "FileEntry", "NodeEntry", "Relation", "RunIndex", "sha256_hex"]

FORMAT_NAME: Final = "cosmos-remote-artifacts"
FORMAT_VERSION: Final = 1


def sha256_hex(data: bytes) -> str:
    """The lowercase hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Relation:
    """The warehouse relation a node builds (``database.schema.identifier``); any part may be unknown.

    Example:
        >>> Relation(database="my-project", schema="analytics", identifier="stg_orders").to_json()["identifier"]
        'stg_orders'
    """

    database: str | None = None
    schema: str | None = None
    identifier: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """The JSON object stored in the index."""
        return {"database": self.database, "schema": self.schema, "identifier": self.identifier}


@dataclass(frozen=True)
class FileEntry:
    """One stored file of a node: its path relative to the run prefix, sha256 and size.

    Example:
        >>> FileEntry(path="pkg/models/a.sql", sha256=sha256_hex(b"select 1"), bytes=8).bytes
        8
    """

    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class NodeEntry:
    """Everything the index records about one dbt node.

    Example:
        >>> file = FileEntry(path="pkg/a.sql", sha256="0" * 64, bytes=1)
        >>> entry = NodeEntry(resource_type="model", package_name="pkg", materialization="view",
        ...                   relation=Relation(), files={"script": file})
        >>> entry.files["script"].path
        'pkg/a.sql'
    """

    resource_type: str
    package_name: str
    materialization: str | None
    relation: Relation
    files: Mapping[str, FileEntry]


@dataclass(frozen=True)
class RunIndex:
    """The parsed ``index.json`` of one run.

    Example:
        >>> index = RunIndex(project_name="p", dbt_version="1.11.2", created_at="2026-01-01T00:00:00+00:00",
        ...                  scope=RunScope(dag_id="d", run_id="r"), nodes={})
        >>> RunIndex.from_json(index.to_json()) == index
        True
    """

    project_name: str
    dbt_version: str
    created_at: str
    scope: RunScope
    nodes: Mapping[str, NodeEntry]
    format_version: int = FORMAT_VERSION
    total_bytes: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        total = sum(f.bytes for node in self.nodes.values() for f in node.files.values())
        object.__setattr__(self, "total_bytes", total)

    def to_json(self) -> bytes:
        """Serialize to the stored bytes (compact, sorted keys: the same index always gives the same bytes)."""
        document = {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "project_name": self.project_name,
            "dbt_version": self.dbt_version,
            "created_at": self.created_at,
            "run": {"dag_id": self.scope.dag_id, "task_group": self.scope.task_group, "run_id": self.scope.run_id},
            "nodes": {
                unique_id: {
                    "resource_type": node.resource_type,
                    "package_name": node.package_name,
                    "materialization": node.materialization,
                    "relation": node.relation.to_json(),
                    "files": {
                        name: {"path": f.path, "sha256": f.sha256, "bytes": f.bytes} for name, f in node.files.items()
                    },
                }
                for unique_id, node in self.nodes.items()
            },
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, *, source: str = "index.json") -> RunIndex:
        """Parse stored bytes; raise :class:`IndexFormatError` naming ``source`` if they are not a valid index."""
        try:
            document = json.loads(data)
            return _parse(document)
        except IndexFormatError as exc:
            raise IndexFormatError(f"{source}: {exc}") from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise IndexFormatError(
                f"{source} is not a valid artifact index ({type(exc).__name__}: {exc}). It was damaged or written "
                f"by something else; re-run the setup task of this DAG run."
            ) from exc


def _parse(document: Any) -> RunIndex:
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise IndexFormatError(f"not an artifact index: the 'format' field is not {FORMAT_NAME!r}")
    version = document["format_version"]
    if not isinstance(version, int) or version < 1:
        raise IndexFormatError(f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise IndexFormatError(
            f"format_version {version} is newer than this cosmos_remote reads ({FORMAT_VERSION}); upgrade "
            f"cosmos-remote on the workers to the version the setup task used."
        )
    run = document["run"]
    nodes = {
        str(unique_id): NodeEntry(
            resource_type=str(node["resource_type"]),
            package_name=str(node["package_name"]),
            materialization=node["materialization"],
            relation=Relation(**{k: node["relation"].get(k) for k in ("database", "schema", "identifier")}),
            files={
                str(name): FileEntry(path=str(f["path"]), sha256=str(f["sha256"]), bytes=int(f["bytes"]))
                for name, f in node["files"].items()
            },
        )
        for unique_id, node in document["nodes"].items()
    }
    return RunIndex(
        project_name=str(document["project_name"]),
        dbt_version=str(document["dbt_version"]),
        created_at=str(document["created_at"]),
        scope=RunScope(dag_id=run["dag_id"], run_id=run["run_id"], task_group=run.get("task_group")),
        nodes=nodes,
        format_version=version,
    )
