"""Airflow integration: DbtDag, DbtTaskGroup and the dbt-graph-to-tasks conversion."""

from __future__ import annotations

__all__: list[str] = []
