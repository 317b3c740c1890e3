"""The written contract of a warehouse backend: everything cosmos_remote needs that depends on the warehouse.

A backend serves one dbt adapter type (``type:`` in profiles.yml). cosmos_remote asks it, and nothing else, for:

1. **Render capture** (the setup task): :attr:`WarehouseBackend.capture_package`, a folder holding a Python
   package that the capture process loads *by file path* in dbt's own environment. Its module ``invoke`` defines
   ``run_capture(args: list[str], *, stream_path: str | None) -> dict``: run dbt with ``args`` (``build ...``)
   so that every write is recorded per node instead of executed, and return ``{"ok", "dbt_version",
   "project_name", "on_run_start", "on_run_end", "on_run_start_script", "on_run_end_script", "nodes": [...],
   "errors": [...]}`` (see ``cosmos_remote/dbt/render.py`` for the node fields). It may import only the
   standard library, dbt and sqlglot: the dbt environment need not have cosmos_remote installed.
2. **Profile from a connection**: :meth:`~WarehouseBackend.parse_target` (a placeholder target for ``dbt parse``
   at DAG parse: no connection, no secret) and :meth:`~WarehouseBackend.run_target` (the real target at run
   time, read from the Airflow connection of :class:`~cosmos_remote.ProfileConfig`).
3. **Operators**: :attr:`~WarehouseBackend.run_operator`, :attr:`~WarehouseBackend.test_operator` and, for
   projects with ``on-run-start`` / ``on-run-end`` hooks, :attr:`~WarehouseBackend.hooks_operator`, import
   paths ``"module:Class"`` of subclasses of
   :class:`~cosmos_remote.operators.factory.DbtRunAirflowAsyncFactoryOperator` /
   :class:`~cosmos_remote.operators.factory.DbtTestAirflowAsyncFactoryOperator`, imported only when a DAG uses
   the backend. They take ``node=``, ``profile_config=``, ``artifacts=`` (and ``tests=`` for tests) and fetch the
   node's published files through :class:`~cosmos_remote.artifacts.reference.ArtifactSource`.
4. **Assets**: :meth:`~WarehouseBackend.asset_uri`, the Airflow Asset URI of the relation a node builds (the
   outlet of its run task), or None when it builds none.
5. **Job links**: :meth:`~WarehouseBackend.job_link`, the console page of one warehouse job.
6. **Limits** (optional): :attr:`~WarehouseBackend.max_script_bytes`, checked by the setup task.

A backend is published under the entry point group ``cosmos_remote.backends`` (see
:mod:`cosmos_remote.backends.registry`); ``docs/writing-a-backend.md`` walks through a complete one.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from cosmos_remote.dbt.manifest import DbtNode, Relation
    from cosmos_remote.profile_config import ProfileConfig

__all__ = ["OperatorRole", "WarehouseBackend"]

OperatorRole = Literal["run", "test", "hooks"]


class WarehouseBackend(ABC):
    """One warehouse's implementation of the contract above; subclass it, fill every abstract member.

    Importing a backend's module must stay cheap (no provider imports at module level): the registry imports it
    at DAG parse time.
    """

    #: The dbt adapter type this backend runs.
    profile_type: ClassVar[str]
    #: ``"module:Class"`` of the operator that runs a model, seed or snapshot from its published script.
    run_operator: ClassVar[str]
    #: ``"module:Class"`` of the operator that runs a node's dbt tests.
    test_operator: ClassVar[str]
    #: ``"module:Class"`` of the operator that runs the project's on-run-start or on-run-end hooks as one job
    #: (a subclass of ``DbtRunHooksAirflowAsyncFactoryOperator``); None: projects with such hooks are refused.
    hooks_operator: ClassVar[str | None] = None
    #: The largest script (UTF-8 bytes) one job of this warehouse accepts; the setup task refuses a run with a
    #: larger one, naming the node, before any job starts. None: no limit.
    max_script_bytes: ClassVar[int | None] = None

    @property
    @abstractmethod
    def capture_package(self) -> Path:
        """The folder of the render-capture package (module ``invoke`` with ``run_capture``)."""

    @abstractmethod
    def parse_target(self, profile_config: ProfileConfig) -> dict[str, Any]:
        """A dbt target for ``dbt parse`` at DAG parse time: no connection is read, no secret is written."""

    @abstractmethod
    def run_target(self, profile_config: ProfileConfig) -> dict[str, Any]:
        """The dbt target of a connection-built profile at run time (reads ``profile_config.conn_id``)."""

    @abstractmethod
    def asset_uri(self, relation: Relation) -> str | None:
        """The Asset URI of ``relation`` (e.g. ``bigquery://project/dataset/table``), or None for no asset."""

    @abstractmethod
    def job_link(self, *, project: str | None, location: str | None, job_id: str) -> str:
        """The console page of the job ``job_id``."""

    def node_asset(self, node: DbtNode) -> Asset | None:
        """The outlet of ``node``'s run task: an Asset of :meth:`asset_uri`, none for ephemeral models and tests."""
        if node.relation is None or node.is_ephemeral or node.resource_type == "test":
            return None
        uri = self.asset_uri(node.relation)
        if uri is None:
            return None
        from airflow.sdk import Asset

        return Asset(uri=uri)

    def load_operator(self, role: OperatorRole) -> type:
        """Import the operator class of ``role``."""
        path = {"run": self.run_operator, "test": self.test_operator, "hooks": self.hooks_operator}[role]
        if path is None:
            from cosmos_remote.errors import ConfigError

            raise ConfigError(
                f"the {self.profile_type!r} backend cannot run on-run-start / on-run-end hooks (it has no "
                "hooks_operator); remove the hooks from dbt_project.yml or use a backend that runs them"
            )
        module, _, name = path.partition(":")
        cls: type = getattr(importlib.import_module(module), name)
        return cls

    def __repr__(self) -> str:
        return f"{type(self).__name__}(profile_type={self.profile_type!r})"
