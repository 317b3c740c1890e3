"""Triggers that run in Airflow's triggerer; they live in the installed package so the triggerer can import them."""

from __future__ import annotations

__all__: list[str] = []
