"""Airflow operators: the setup task (producer) and the per-node warehouse operators (consumers)."""

from __future__ import annotations

__all__: list[str] = []
