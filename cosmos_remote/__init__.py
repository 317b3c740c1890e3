"""cosmos_remote: dbt on Airflow 3 as deferrable BigQuery jobs, with per-model SQL moved through an object store.

Example:
    >>> from cosmos_remote import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig  # doctest: +SKIP

The DAG classes are imported on first use, so ``import cosmos_remote`` stays cheap at DAG parse time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cosmos_remote.config import (
    ExecutionConfig,
    ExecutionMode,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
    TestBehavior,
)

if TYPE_CHECKING:
    from cosmos_remote.airflow.dag import DbtDag
    from cosmos_remote.airflow.task_group import DbtTaskGroup

__all__ = [
    "DbtDag",
    "DbtTaskGroup",
    "ExecutionConfig",
    "ExecutionMode",
    "ProfileConfig",
    "ProjectConfig",
    "RenderConfig",
    "TestBehavior",
]


def __getattr__(name: str) -> Any:
    if name == "DbtDag":
        from cosmos_remote.airflow.dag import DbtDag

        return DbtDag
    if name == "DbtTaskGroup":
        from cosmos_remote.airflow.task_group import DbtTaskGroup

        return DbtTaskGroup
    raise AttributeError(f"module 'cosmos_remote' has no attribute {name!r}")
