"""cosmos_remote's BigQuery hook and trigger reach the endpoint named in the connection's ``api_endpoint`` extra."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest

from cosmos_remote.backends.bigquery.hooks import BigQueryHook
from cosmos_remote.backends.bigquery.triggers import BigQueryInsertJobTrigger
from cosmos_remote.testing import LocalGCP


@pytest.fixture
def only_connection_endpoint(gcp: LocalGCP, monkeypatch: pytest.MonkeyPatch) -> LocalGCP:
    """No BIGQUERY_EMULATOR_HOST: the endpoint can only come from the Airflow connection."""
    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST")
    return gcp


def _collect_events(trigger: BigQueryInsertJobTrigger) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(run())


def test_hook_client_uses_the_connection_endpoint(only_connection_endpoint: LocalGCP) -> None:
    gcp = only_connection_endpoint
    hook = BigQueryHook(gcp_conn_id=gcp.conn_id)
    assert hook.api_endpoint() == gcp.bigquery_endpoint
    client = hook.get_client(project_id=gcp.project, location=gcp.location)
    assert client._connection.API_BASE_URL == gcp.bigquery_endpoint  # noqa: SIM300
    assert [row.n for row in client.query("select 7 as n").result()] == [7]


def test_hook_without_endpoint_keeps_the_provider_default(gcp: LocalGCP, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PLAIN_GCP", '{"conn_type": "google_cloud_platform", "extra": {"project": "p"}}')
    hook = BigQueryHook(gcp_conn_id="plain_gcp")
    assert hook.api_endpoint() is None
    assert hook.get_client_options().api_endpoint is None


def test_trigger_polls_a_running_job_to_success(only_connection_endpoint: LocalGCP) -> None:
    gcp = only_connection_endpoint
    gcp.set_job_latency(3.0)
    client = BigQueryHook(gcp_conn_id=gcp.conn_id).get_client(project_id=gcp.project, location=gcp.location)
    job = client.query("select 1 as one", job_id_prefix="trigger_ok_", job_retry=None)
    assert job.running()
    trigger = BigQueryInsertJobTrigger(
        conn_id=gcp.conn_id, job_id=job.job_id, project_id=gcp.project, location=gcp.location, poll_interval=0.5
    )
    events = _collect_events(trigger)
    assert events == [{"job_id": job.job_id, "status": "success", "message": "Job completed"}]
    assert gcp.job_log()["running_answers"][job.job_id] >= 2


def test_trigger_turns_a_failed_job_into_an_error_event(only_connection_endpoint: LocalGCP) -> None:
    gcp = only_connection_endpoint
    client = BigQueryHook(gcp_conn_id=gcp.conn_id).get_client(project_id=gcp.project, location=gcp.location)
    job = client.query("select * from no_such_dataset.no_such_table", job_id_prefix="trigger_bad_", job_retry=None)
    trigger = BigQueryInsertJobTrigger(
        conn_id=gcp.conn_id, job_id=job.job_id, project_id=gcp.project, location=gcp.location, poll_interval=0.5
    )
    (event,) = _collect_events(trigger)
    assert event["status"] == "error"
    assert "no_such" in event["message"]


def test_trigger_serializes_to_its_own_importable_class() -> None:
    trigger = BigQueryInsertJobTrigger(
        conn_id="c", job_id="j", project_id="p", location="EU", poll_interval=2.0, impersonation_chain=None
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "cosmos_remote.backends.bigquery.triggers.BigQueryInsertJobTrigger"
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["job_id"] == "j"
    assert kwargs["location"] == "EU"
