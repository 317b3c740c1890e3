"""A wide DAG on a real cluster (scheduler, one triggerer, LocalExecutor) while 5% of BigQuery API requests are
answered 429 or 503 by local_gcp's proxy: every model defers at once, every task succeeds on its first try, one job
per model, and the trigger logs show the polling retries. ``make bench BENCH=triggerer`` runs it with 300 models."""

from __future__ import annotations

import pytest

from benchmarks._wide_cluster import cluster_run

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_a_wide_dag_with_api_faults_runs_every_model_once_without_a_retry() -> None:
    result = cluster_run(60, fault_rate=0.05)
    assert result["state"] == "success", result["failed_or_retried"]
    assert result["failed_or_retried"] == []
    assert result["model_tasks"] == 60
    assert result["jobs_submitted"] == 60, "a fault made a job be submitted twice"
    assert result["insert_attempts_rejected_as_duplicates"] == 0
    assert result["peak_deferred"] == 60, "all models deferred at once"
    assert result["peak_running"] <= result["worker_slots"]
    assert sum(result["faults_injected"].values()) >= 5
    assert result["poll_retries_logged"] >= 1
