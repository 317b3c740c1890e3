"""Which backend serves a dbt profile type (``bigquery``, ...).

A backend (:class:`~cosmos_remote.backends.contract.WarehouseBackend`) is registered under its profile type. The
built-in one is ``bigquery``; third-party packages add others through the entry point group
``cosmos_remote.backends``, each entry pointing at a backend instance::

    # pyproject.toml of a package that adds Snowflake
    [project.entry-points."cosmos_remote.backends"]
    snowflake = "cosmos_remote_snowflake:BACKEND"

Operator classes are imported only when a DAG actually uses that backend, so importing cosmos_remote never
imports a provider.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Final

from cosmos_remote.backends.contract import WarehouseBackend
from cosmos_remote.errors import UnknownProfileTypeError

__all__ = ["ENTRY_POINT_GROUP", "UnknownProfileTypeError", "get_backend", "registered_backends"]

ENTRY_POINT_GROUP: Final = "cosmos_remote.backends"


#: The built-in backends, named like entry points (``module:attribute``) and loaded the same way.
BUILT_IN: Final = {"bigquery": "cosmos_remote.backends.bigquery:BACKEND"}


@cache
def registered_backends() -> dict[str, WarehouseBackend]:
    """The built-in backends plus those of the ``cosmos_remote.backends`` entry points (read once per process)."""
    found = [(name, value) for name, value in BUILT_IN.items()]
    found += [(entry.name, entry.value) for entry in entry_points(group=ENTRY_POINT_GROUP)]
    backends: dict[str, WarehouseBackend] = {}
    for name, value in found:
        module, _, attribute = value.partition(":")
        backend = getattr(importlib.import_module(module), attribute)
        if not isinstance(backend, WarehouseBackend):
            raise TypeError(
                f"backend {name!r} ({value}, entry point group {ENTRY_POINT_GROUP!r}) must be a WarehouseBackend "
                f"instance, not {type(backend).__name__}"
            )
        backends[backend.profile_type] = backend
    return backends


def get_backend(profile_type: str) -> WarehouseBackend:
    """The backend for ``profile_type``.

    Raises:
        UnknownProfileTypeError: nothing is registered for it.
    """
    backends = registered_backends()
    try:
        return backends[profile_type]
    except KeyError:
        raise UnknownProfileTypeError(
            f"no cosmos_remote backend for dbt profile type {profile_type!r}; registered: {sorted(backends)}. Add "
            f"one by publishing a WarehouseBackend under the entry point group {ENTRY_POINT_GROUP!r} (see "
            "docs/writing-a-backend.md), or use a profile of a registered type."
        ) from None
