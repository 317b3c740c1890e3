"""What a BigQuery node task records for dbt's ``run_results.json``: the job as dbt-bigquery reports it.

dbt-bigquery's ``adapter_response`` of a query job holds ``_message``, ``code``, ``rows_affected``,
``bytes_processed``, ``bytes_billed``, ``location``, ``project_id``, ``job_id`` and ``slot_ms``; the same keys are
filled here from the finished job (plus ``cache_hit`` and ``job_link``), so tools that read dbt's results see what
they see after ``dbt build``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cosmos_remote.backends.bigquery.jobs import human_bytes
from cosmos_remote.dbt.run_results import RESULTS_XCOM_KEY, NodeResult, Status

__all__ = ["adapter_response", "dbt_message", "job_result", "quoted_relation", "record_results"]


def _iso(value: object) -> str | None:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else None


def quoted_relation(name: object) -> str | None:
    """```project`.`dataset`.`table``` (dbt's ``relation_name``) of ``project.dataset.table``."""
    if not isinstance(name, str) or name.count(".") < 2:
        return None
    return ".".join(f"`{part}`" for part in name.split(".", 2))


def dbt_message(summary: Mapping[str, Any]) -> str:
    """dbt-bigquery's message for a finished job: ``CREATE TABLE (21.0 rows, 1.2 kB processed)``."""
    code = str(summary.get("statement_type") or "SCRIPT").replace("_", " ")
    details = []
    rows = summary.get("num_dml_affected_rows")
    if isinstance(rows, int) and not isinstance(rows, bool):
        details.append(f"{rows:,} rows")
    processed = human_bytes(summary.get("total_bytes_processed"))
    if processed is not None:
        details.append(f"{processed} processed")
    return f"{code} ({', '.join(details)})" if details else code


def adapter_response(summary: Mapping[str, Any]) -> dict[str, Any]:
    """dbt-bigquery's ``adapter_response`` keys, from a job summary (unknown figures left out, never ``None``)."""
    values = {
        "_message": dbt_message(summary),
        "code": str(summary.get("statement_type") or "SCRIPT"),
        "rows_affected": summary.get("num_dml_affected_rows"),
        "bytes_processed": summary.get("total_bytes_processed"),
        "bytes_billed": summary.get("total_bytes_billed"),
        "location": summary.get("location"),
        "project_id": summary.get("project_id"),
        "job_id": summary.get("job_id"),
        "slot_ms": summary.get("slot_millis"),
        "cache_hit": summary.get("cache_hit"),
        "job_link": summary.get("job_link"),
    }
    return {key: value for key, value in values.items() if value is not None}


def record_results(context: Any, results: Sequence[NodeResult]) -> None:
    """Keep dbt's results of a task for the run's ``run_results.json`` (its XCom ``dbt_results``)."""
    if results:
        context["ti"].xcom_push(key=RESULTS_XCOM_KEY, value=[result.as_dict() for result in results])


def job_result(
    unique_id: str,
    status: Status,
    job: Any,
    summary: Mapping[str, Any],
    *,
    task_id: str,
    message: str | None = None,
    failures: int | None = None,
    default_message: bool = True,
) -> NodeResult:
    """The :class:`~cosmos_remote.dbt.run_results.NodeResult` of a node whose job has finished (or failed);
    without ``message``, dbt-bigquery's message of the job unless ``default_message`` is false."""
    started = _iso(getattr(job, "started", None) or getattr(job, "created", None))
    return NodeResult(
        unique_id=unique_id,
        status=status,
        message=message if message is not None or not default_message else dbt_message(summary),
        failures=failures,
        started_at=started,
        completed_at=_iso(getattr(job, "ended", None)) or started,
        adapter_response=adapter_response(summary),
        relation_name=quoted_relation(summary.get("relation")),
        thread_id=f"airflow:{task_id}",
    )
