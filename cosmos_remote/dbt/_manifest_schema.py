"""The few fields of a dbt ``manifest.json`` that cosmos_remote reads, as typed msgspec structs.

A manifest of 5,000 models is ~28 MB of JSON, most of it SQL, columns and docs that the DAG does not need. Decoding
into these structs skips every other field without building Python objects for it: ~0.05 s where ``json.loads`` of
the whole file takes ~0.5 s, paid on every parse of the DAG file. The metadata is decoded first, so a manifest of an
unsupported schema version is refused by its version rather than by a field of an unexpected type.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = ["ManifestHead", "RawConfig", "RawNode", "decode_head", "decode_nodes"]


class RawConfig(msgspec.Struct):
    """``node.config``: only what tasks are built from."""

    materialized: str | None = None
    severity: str | None = None


class RawDependsOn(msgspec.Struct):
    """``node.depends_on``."""

    nodes: list[str] = msgspec.field(default_factory=list)


class RawNode(msgspec.Struct):
    """One entry of ``manifest["nodes"]``."""

    unique_id: str
    resource_type: str
    name: str
    package_name: str = ""
    original_file_path: str = ""
    database: str | None = None
    schema: str | None = None
    alias: str | None = None
    config: RawConfig | None = None
    depends_on: RawDependsOn | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    fqn: list[str] = msgspec.field(default_factory=list)
    attached_node: str | None = None


class ManifestHead(msgspec.Struct):
    """The manifest's metadata, with its nodes left undecoded until the version is known to be supported."""

    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    nodes: msgspec.Raw = msgspec.Raw(b"{}")


_HEAD: Final = msgspec.json.Decoder(ManifestHead)
_NODES: Final = msgspec.json.Decoder(dict[str, RawNode])

#: What decoding raises for bytes that are not JSON, or JSON of another shape.
DecodeError: Final = msgspec.DecodeError


def decode_head(data: bytes) -> ManifestHead:
    """Decode ``data`` (a whole manifest) down to its metadata."""
    return _HEAD.decode(data)


def decode_nodes(head: ManifestHead) -> dict[str, RawNode]:
    """Decode the nodes of a manifest whose metadata was checked."""
    return _NODES.decode(head.nodes)
