"""Which operator classes run dbt nodes for a dbt profile type (``bigquery``, ...).

A backend is registered under its profile type. The built-in one is ``bigquery``; third-party packages add others
through the entry point group ``cosmos_remote.async_backends``, each entry pointing at a :class:`AsyncBackend`::

    # pyproject.toml of a package that adds Snowflake
    [project.entry-points."cosmos_remote.async_backends"]
    snowflake = "cosmos_remote_snowflake:BACKEND"

Operator classes are referenced by import path and imported only when a DAG actually uses that backend, so
importing cosmos_remote never imports a provider.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Final

__all__ = ["ENTRY_POINT_GROUP", "AsyncBackend", "UnknownProfileTypeError", "get_backend", "registered_backends"]

ENTRY_POINT_GROUP: Final = "cosmos_remote.async_backends"


class UnknownProfileTypeError(ValueError):
    """No backend is registered for a profile type; the message lists the registered ones and how to add one."""


@dataclass(frozen=True)
class AsyncBackend:
    """The operator classes of one warehouse, as ``"module:Class"`` import paths.

    Attributes:
        profile_type: The dbt adapter type this backend runs (``type:`` in profiles.yml).
        run_operator: Runs a model, snapshot or seed from its published script.
        test_operator: Runs the failure-count queries of dbt tests.
    """

    profile_type: str
    run_operator: str
    test_operator: str

    def load(self, role: str) -> type:
        """Import the operator class for ``role`` (``"run"`` or ``"test"``)."""
        path = {"run": self.run_operator, "test": self.test_operator}[role]
        module, _, name = path.partition(":")
        cls: type = getattr(importlib.import_module(module), name)
        return cls


BIGQUERY: Final = AsyncBackend(
    profile_type="bigquery",
    run_operator="cosmos_remote.operators.bigquery:DbtRunBigQueryOperator",
    test_operator="cosmos_remote.operators.bigquery:DbtTestBigQueryOperator",
)


@cache
def registered_backends() -> dict[str, AsyncBackend]:
    """Built-in backends plus those of the ``cosmos_remote.async_backends`` entry points (read once per process)."""
    backends = {BIGQUERY.profile_type: BIGQUERY}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        backend = entry.load()
        if not isinstance(backend, AsyncBackend):
            raise TypeError(
                f"entry point {entry.name!r} of group {ENTRY_POINT_GROUP!r} ({entry.value}) must point at an "
                f"AsyncBackend, not {type(backend).__name__}"
            )
        backends[backend.profile_type] = backend
    return backends


def get_backend(profile_type: str) -> AsyncBackend:
    """The backend for ``profile_type``.

    Raises:
        UnknownProfileTypeError: nothing is registered for it.
    """
    backends = registered_backends()
    try:
        return backends[profile_type]
    except KeyError:
        raise UnknownProfileTypeError(
            f"no cosmos_remote async backend for dbt profile type {profile_type!r}; registered: "
            f"{sorted(backends)}. Add one by publishing an AsyncBackend under the entry point group "
            f"{ENTRY_POINT_GROUP!r}, or use a profile of a registered type."
        ) from None
