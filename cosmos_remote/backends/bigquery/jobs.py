"""BigQuery jobs of node tasks: deterministic ids, labels, query options, the provider arguments a node task
sets itself, relation names, and the summary recorded for each finished job."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from cosmos_remote.compat import refusal
from cosmos_remote.errors import ConfigError

if TYPE_CHECKING:
    from cosmos_remote.artifacts import Relation as ArtifactRelation
    from cosmos_remote.dbt.manifest import Relation as DbtRelation

__all__ = [
    "FIXED_PROVIDER_ARGUMENTS",
    "MAX_ATTEMPTS",
    "check_poll_interval",
    "human_bytes",
    "job_id_prefix",
    "job_link",
    "job_outcome",
    "job_summary",
    "query_options",
    "refuse_fixed_arguments",
    "relation_from_name",
    "relation_name",
    "sanitize_labels",
]

#: A model is submitted at most this many times in one DAG run (one new job per failed attempt).
MAX_ATTEMPTS: Final = 50
_JOB_ID_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]")
_LABEL_UNSAFE: Final = re.compile(r"[^a-z0-9_-]")
_LABEL_MAX: Final = 63


def _short(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"{value[: limit - 9]}_{digest}"


def job_id_prefix(*, dag_id: str, task_id: str, run_id: str, try_id: str) -> str:
    """The readable start of the job id of one try of a task in a DAG run; :meth:`BigQueryHook.generate_job_id
    <cosmos_remote.backends.bigquery.hooks.BigQueryHook.generate_job_id>` appends the SQL's sha256 and the try number.

    ``try_id`` is the task instance try's own id (Airflow 3 gives each try a UUID), so a DAG run deleted and created
    again with the same run id gets new jobs instead of attaching to the old run's; a retry finds the job of the
    previous try through the task state store, not through the id. BigQuery job ids allow letters, digits, ``_``
    and ``-`` up to 1,024 characters.

    Example:
        >>> job_id_prefix(dag_id="jaffle", task_id="orders.run", run_id="manual__2026-12-01T09:00:00+00:00",
        ...               try_id="0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
        'cosmos_jaffle__orders_run__manual__2026-12-01T09_00_00_00_00__0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'
    """
    raw = f"cosmos_{dag_id}__{task_id}__{run_id}"
    return f"{_short(_JOB_ID_UNSAFE.sub('_', raw), 880)}__{_JOB_ID_UNSAFE.sub('', try_id)[:64]}"


def _label(value: str) -> str:
    cleaned = _LABEL_UNSAFE.sub("_", value.lower())
    return _short(cleaned, _LABEL_MAX)


def sanitize_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels made valid for BigQuery: lowercase letters, digits, ``_`` and ``-``, at most 63 characters, keys
    starting with a letter (long values keep a hash suffix so they stay distinct)."""
    result: dict[str, str] = {}
    for key, value in labels.items():
        clean_key = _label(key)
        if not clean_key or not clean_key[0].isalpha():
            clean_key = _short("l_" + clean_key, _LABEL_MAX)
        result[clean_key] = _label(value)
    return result


def job_link(*, project_id: str, location: str | None, job_id: str) -> str:
    """The BigQuery console page of a job."""
    from airflow.providers.google.cloud.links.base import BASE_LINK
    from airflow.providers.google.cloud.links.bigquery import BIGQUERY_JOB_DETAIL_LINK

    return BASE_LINK + BIGQUERY_JOB_DETAIL_LINK.format(project_id=project_id, job_id=job_id, location=location or "")


def job_summary(job: Any, *, project_id: str | None, location: str | None) -> dict[str, Any]:
    """What a model task records of its finished job (logged and returned as XCom): small and JSON-safe. The
    project is the job's own (where it really ran), else ``project_id``."""
    project = getattr(job, "project", None) or project_id
    return {
        "job_id": job.job_id,
        "project_id": project,
        "job_link": job_link(project_id=str(project), location=location or job.location, job_id=job.job_id),
        "location": job.location or location,
        "state": job.state,
        "statement_type": getattr(job, "statement_type", None),
        "total_bytes_processed": getattr(job, "total_bytes_processed", None),
        "total_bytes_billed": getattr(job, "total_bytes_billed", None),
        "slot_millis": getattr(job, "slot_millis", None),
        "cache_hit": getattr(job, "cache_hit", None),
        "num_dml_affected_rows": getattr(job, "num_dml_affected_rows", None),
    }


#: ``BigQueryInsertJobOperator`` arguments a node task fixes itself (their reasons are in :mod:`cosmos_remote.compat`).
FIXED_PROVIDER_ARGUMENTS: Final = (
    "configuration",
    "job_id",
    "force_rerun",
    "reattach_states",
    "durable",
    "result_timeout",
    "result_retry",
    "deferrable",
)


def refuse_fixed_arguments(kwargs: dict[str, Any], *, task_id: object) -> None:
    """Refuse a provider argument the node task cannot honour, at DAG parse; ``deferrable=True`` is accepted."""
    if kwargs.get("deferrable") is True:
        del kwargs["deferrable"]
    for name in FIXED_PROVIDER_ARGUMENTS:
        if name in kwargs:
            raise ConfigError(f"task {task_id!r}: {refusal('operator_args', name)}")


def human_bytes(size: object) -> str | None:
    """``12.3 MB`` (decimal units, as the BigQuery console shows them); None when unknown.

    Example:
        >>> human_bytes(12_345_678), human_bytes(0), human_bytes(None)
        ('12.3 MB', '0 B', None)
    """
    if isinstance(size, str) and size.isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int | float):
        return None
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def job_outcome(summary: Mapping[str, Any]) -> str:
    """What a finished job did, in words, leaving out what BigQuery did not report (never a ``None``).

    Example:
        >>> job_outcome({"job_id": "j1", "total_bytes_processed": 2_500_000, "total_bytes_billed": 10_485_760,
        ...              "slot_millis": 1234, "statement_type": "CREATE_TABLE_AS_SELECT", "cache_hit": False,
        ...              "num_dml_affected_rows": None})
        'job j1: 2.5 MB processed, 10.5 MB billed, 1,234 slot ms, CREATE_TABLE_AS_SELECT'
    """
    parts = []
    processed, billed = (
        human_bytes(summary.get("total_bytes_processed")),
        human_bytes(summary.get("total_bytes_billed")),
    )
    if processed is not None:
        parts.append(f"{processed} processed")
    if billed is not None:
        parts.append(f"{billed} billed")
    slot_ms = summary.get("slot_millis")
    if isinstance(slot_ms, int) and not isinstance(slot_ms, bool):
        parts.append(f"{slot_ms:,} slot ms")
    rows = summary.get("num_dml_affected_rows")
    if isinstance(rows, int) and not isinstance(rows, bool):
        parts.append(f"{rows:,} rows affected")
    if summary.get("cache_hit") is True:
        parts.append("from the query cache")
    if summary.get("statement_type"):
        parts.append(str(summary["statement_type"]))
    return f"job {summary.get('job_id')}" + (": " + ", ".join(parts) if parts else "")


def check_poll_interval(value: object, *, task_id: object) -> None:
    """Refuse, at DAG parse, a ``poll_interval`` that is not a positive number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(
            f"task {task_id!r}: poll_interval must be a positive number of seconds (how often the triggerer polls "
            f"the job), got {value!r}; e.g. operator_args={{'poll_interval': 10}}."
        )


def relation_name(relation: ArtifactRelation | DbtRelation | None) -> str | None:
    """``database.schema.identifier``, when all three are known."""
    if relation is None or not (relation.database and relation.schema and relation.identifier):
        return None
    return f"{relation.database}.{relation.schema}.{relation.identifier}"


def relation_from_name(name: object) -> ArtifactRelation | None:
    from cosmos_remote.artifacts import Relation

    if not isinstance(name, str) or name.count(".") < 2:
        return None
    database, schema, identifier = name.split(".", 2)
    return Relation(database=database, schema=schema, identifier=identifier)


def query_options(profile_args: Mapping[str, Any]) -> dict[str, Any]:
    """Query-job settings dbt-bigquery takes from the profile (``priority``, ``maximum_bytes_billed``), so that the
    jobs run as ``dbt run`` would have run them."""
    options: dict[str, Any] = {}
    priority = profile_args.get("priority")
    if isinstance(priority, str) and priority.lower() in ("interactive", "batch"):
        options["priority"] = priority.upper()
    limit = profile_args.get("maximum_bytes_billed")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        options["maximumBytesBilled"] = str(limit)
    return options
