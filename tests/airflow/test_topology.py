"""The production topology (CeleryExecutor with 2 workers, PostgreSQL, Redis, 2 triggerers) and what survives when a
part of it dies: the scenarios of ``benchmarks/e2e.py`` on one cluster, each asserted here (``make bench BENCH=e2e``
writes their figures to ``benchmarks/results/e2e.json``)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.e2e import SCENARIOS, run_scenarios
from cosmos_remote.testing.airflow_cluster import missing_packages

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.timeout(2700),  # the first test sets up the fixture: all five scenarios, ~15 min on 2 cores
    pytest.mark.skipif(
        bool(missing_packages()),
        reason=f"not installed: {' '.join(missing_packages())} (apt-get install them; make e2e does where it can)",
    ),
]


@pytest.fixture(scope="module")
def scenarios() -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in run_scenarios()["scenarios"]}


@pytest.mark.parametrize("name", [scenario.__name__ for scenario in SCENARIOS])
def test_scenario_on_celery_postgres_and_two_triggerers(scenarios: dict[str, dict[str, Any]], name: str) -> None:
    row = scenarios[name]
    assert row["ok"], row
    assert row["jobs_per_model_max"] == 1, "a model had two jobs in one DAG run (or one try)"
    assert row["failed_tasks"] == 0, row["failed_task_ids"]
