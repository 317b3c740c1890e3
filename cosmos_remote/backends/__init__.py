"""Warehouse backends: the contract (:mod:`.contract`), the registry (:mod:`.registry`), and BigQuery, the built-in
one (:mod:`.bigquery`). A second warehouse is one more package implementing the contract, and an entry point."""

from __future__ import annotations

from cosmos_remote.backends.contract import OperatorRole, WarehouseBackend
from cosmos_remote.backends.registry import ENTRY_POINT_GROUP, UnknownProfileTypeError, get_backend, registered_backends

__all__ = [
    "ENTRY_POINT_GROUP",
    "OperatorRole",
    "UnknownProfileTypeError",
    "WarehouseBackend",
    "get_backend",
    "registered_backends",
]
