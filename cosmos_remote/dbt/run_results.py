"""dbt's ``run_results.json`` for a DAG run, from what each node task recorded.

Each node task records, as the XCom :data:`RESULTS_XCOM_KEY`, a list of :class:`NodeResult` dicts: one for a
model / seed / snapshot task, one per test for a test task, written before the task ends (also when it fails). The
DAG run's last task (:class:`~cosmos_remote.operators.run_results.DbtRunResultsOperator`) reads them with the final
task states and builds the file with :func:`run_results`: tasks that never ran are ``skipped``, as in ``dbt build``
after a failure; a task that failed before it recorded anything is an ``error`` naming the task.

The file follows dbt's run-results schema v6 (dbt 1.8 - 1.11): ``dbt.artifacts.schemas.run.RunResultsArtifact``
reads it, so dbt docs, ``--state`` selection and tools such as elementary or dbt_artifacts can use a run's results.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

__all__ = [
    "RESULTS_XCOM_KEY",
    "RUN_RESULTS_SCHEMA",
    "NodeResult",
    "PlannedResult",
    "invocation_id",
    "run_results",
]

#: The XCom key under which a node task records its results (a list of :class:`NodeResult` dicts).
RESULTS_XCOM_KEY: Final = "dbt_results"
RUN_RESULTS_SCHEMA: Final = "https://schemas.getdbt.com/dbt/run-results/v6.json"

#: Task states of a task that did not run because of what happened upstream.
_NOT_RUN: Final = frozenset({"upstream_failed", "skipped", "removed", "none", "scheduled", "queued"})

Status = Literal["success", "error", "skipped", "pass", "fail", "warn"]


@dataclass(frozen=True)
class NodeResult:
    """One node's outcome, as a node task records it (JSON-safe through :meth:`as_dict`).

    Attributes:
        unique_id: dbt's node id.
        status: ``success`` / ``error`` for models, seeds and snapshots; ``pass`` / ``warn`` / ``fail`` / ``error``
            for tests.
        message: What dbt would print (``CREATE TABLE (21 rows, 1.2 kB processed)``, ``Got 3 results, configured to
            fail if != 0``, an error).
        failures: A test's failing rows (``None`` for other nodes).
        started_at: When the node's job started (ISO 8601, UTC).
        completed_at: When it ended.
        adapter_response: What the warehouse's dbt adapter reports for the job (for BigQuery: job id, bytes
            processed and billed, slot ms, location, project, rows affected).
        relation_name: The relation as dbt quotes it (```project`.`dataset`.`table```), ``None`` for tests.
        thread_id: Where it ran: ``airflow:{task_id}``.
    """

    unique_id: str
    status: Status
    message: str | None = None
    failures: int | None = None
    started_at: str | None = None
    completed_at: str | None = None
    adapter_response: Mapping[str, Any] = field(default_factory=dict)
    relation_name: str | None = None
    thread_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "adapter_response": dict(self.adapter_response)}


@dataclass(frozen=True)
class PlannedResult:
    """A node the DAG has a task for: where its result comes from.

    Attributes:
        unique_id: dbt's node id.
        task_id: The Airflow task that runs it (a test task runs several tests).
        resource_type: ``model``, ``seed``, ``snapshot`` or ``test``.
    """

    unique_id: str
    task_id: str
    resource_type: str


def invocation_id(dag_id: str, run_id: str, task_group: str | None = None) -> str:
    """The run's dbt ``invocation_id``: a UUID derived from the DAG run, the same in every task of it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cosmos_remote:{dag_id}/{task_group or ''}/{run_id}"))


def _seconds(started: str | None, completed: str | None) -> float:
    if not started or not completed:
        return 0.0
    return max((datetime.fromisoformat(completed) - datetime.fromisoformat(started)).total_seconds(), 0.0)


def _result(planned: PlannedResult, recorded: Mapping[str, Any] | None, state: str | None) -> dict[str, Any]:
    is_test = planned.resource_type == "test"
    if recorded is None:
        if state in _NOT_RUN or state is None:
            status, message = "skipped", "skipped: an upstream task failed or did not run"
        elif state == "success":  # an older node task that recorded nothing
            status, message = ("pass" if is_test else "success"), None
        else:
            status, message = "error", f"task {planned.task_id} ended {state} before its job finished; see its log"
        recorded = {"status": status, "message": message}
    started, completed = recorded.get("started_at"), recorded.get("completed_at")
    timing = []
    if started and completed:
        timing = [
            {"name": "compile", "started_at": started, "completed_at": started},
            {"name": "execute", "started_at": started, "completed_at": completed},
        ]
    return {
        "status": recorded["status"],
        "timing": timing,
        "thread_id": recorded.get("thread_id") or f"airflow:{planned.task_id}",
        "execution_time": _seconds(started, completed),
        "adapter_response": dict(recorded.get("adapter_response") or {}),
        "message": recorded.get("message"),
        "failures": recorded.get("failures") if is_test else None,
        "unique_id": planned.unique_id,
        "compiled": True,
        "compiled_code": None,
        "relation_name": recorded.get("relation_name"),
        "batch_results": None,
    }


def run_results(
    *,
    planned: Sequence[PlannedResult],
    recorded: Mapping[str, Mapping[str, Any]],
    states: Mapping[str, str | None],
    dbt_version: str,
    invocation: str,
    started_at: datetime | None,
    args: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``run_results.json`` document of a DAG run, one result per planned node (``json.dumps`` it to write).

    Args:
        planned: Every node the DAG has a task for.
        recorded: ``unique_id -> NodeResult dict`` as the node tasks recorded them.
        states: ``task_id -> final task state``.
        dbt_version: The dbt version the setup task rendered with.
        invocation: The run's :func:`invocation_id`.
        started_at: When the DAG run started (``elapsed_time`` counts from it).
        args: dbt's ``args`` (``which`` defaults to ``build``).
    """
    now = datetime.now(UTC)
    results = [_result(p, recorded.get(p.unique_id), states.get(p.task_id)) for p in planned]
    document: dict[str, Any] = {
        "metadata": {
            "dbt_schema_version": RUN_RESULTS_SCHEMA,
            "dbt_version": dbt_version,
            "generated_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "invocation_id": invocation,
            "invocation_started_at": started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if started_at is not None
            else None,
            "env": {},
        },
        "results": results,
        "elapsed_time": (now - started_at).total_seconds() if started_at is not None else 0.0,
        "args": {"which": "build", **dict(args or {})},
    }
    return document
