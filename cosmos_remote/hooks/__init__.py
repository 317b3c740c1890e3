"""Airflow hooks for the warehouses cosmos_remote runs dbt models on."""

from __future__ import annotations

__all__: list[str] = []
