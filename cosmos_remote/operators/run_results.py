"""The DAG run's last task: dbt's ``run_results.json`` next to the run's artifacts, and the run's outcome.

It runs whatever the other tasks' states (``trigger_rule="all_done"``), as ``dbt build`` writes its results also
after a failure. It reads what every node task recorded (:data:`~cosmos_remote.dbt.run_results.RESULTS_XCOM_KEY`)
and the final task states, writes ``run_results.json`` create-only into the run prefix, logs dbt's summary line, and
fails when a node or a run-level hook failed, so the DAG run fails as ``dbt build`` exits 1 (a last task that
succeeded would otherwise make the DAG run succeed).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from cosmos_remote.artifacts.layout import RUN_RESULTS_FILE
from cosmos_remote.artifacts.reference import ArtifactSource
from cosmos_remote.dbt.run_results import RESULTS_XCOM_KEY, PlannedResult, invocation_id, run_results

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["RUN_RESULTS_TASK_ID", "DbtRunResultsOperator"]

RUN_RESULTS_TASK_ID = "dbt_run_results"
_FAILED = frozenset({"error", "fail"})


class DbtRunResultsOperator(BaseOperator):
    """Writes ``run_results.json`` for the DAG run and fails when any node or run-level hook failed.

    Args:
        artifacts: Where the run's artifacts are (the setup task's reference).
        planned: Every node the DAG has a task for, and its task.
        hook_task_ids: The run-level hook tasks (``dbt_on_run_start``, ``dbt_on_run_end``), whose failure fails the
            run too.
        scope_group: The task group of the dbt tasks, part of the run's ``invocation_id``.
    """

    ui_color = "#ede7f6"

    def __init__(
        self,
        *,
        artifacts: ArtifactSource,
        planned: Sequence[PlannedResult],
        hook_task_ids: Sequence[str] = (),
        scope_group: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.artifacts = artifacts
        self.planned = tuple(planned)
        self.hook_task_ids = tuple(hook_task_ids)
        self.scope_group = scope_group

    def _states(self, ti: Any) -> dict[str, str | None]:
        task_ids = sorted({p.task_id for p in self.planned} | set(self.hook_task_ids))
        found = ti.get_task_states(dag_id=ti.dag_id, task_ids=task_ids, run_ids=[ti.run_id]) if task_ids else {}
        by_task = found.get(ti.run_id, {}) if isinstance(found, Mapping) else {}
        return {task_id: by_task.get(task_id) for task_id in task_ids}

    def _recorded(self, ti: Any) -> dict[str, Mapping[str, Any]]:
        recorded: dict[str, Mapping[str, Any]] = {}
        for task_id in sorted({p.task_id for p in self.planned}):
            for result in ti.xcom_pull(task_ids=task_id, key=RESULTS_XCOM_KEY) or ():
                if isinstance(result, Mapping) and result.get("unique_id"):
                    recorded[str(result["unique_id"])] = result
        return recorded

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        states, recorded = self._states(ti), self._recorded(ti)
        try:
            store, ref = self.artifacts.open(ti)
        except LookupError as error:
            raise AirflowException(f"no run_results.json: the setup task published nothing ({error})") from error
        index = store.read_index(ref=ref)
        dag_run = context.get("dag_run")
        document = run_results(
            planned=self.planned,
            recorded=recorded,
            states=states,
            dbt_version=index.dbt_version,
            invocation=invocation_id(ti.dag_id, ti.run_id, self.scope_group),
            started_at=getattr(dag_run, "start_date", None),
        )
        written = self._write(store, ref.uri, json.dumps(document, indent=2, default=str).encode("utf-8"))

        results = document["results"]
        counts = Counter(str(r["status"]) for r in results)
        self.log.info(
            "Done. PASS=%d WARN=%d ERROR=%d SKIP=%d TOTAL=%d",
            counts["success"] + counts["pass"],
            counts["warn"],
            counts["error"] + counts["fail"],
            counts["skipped"],
            len(results),
        )
        failed = [f"{r['unique_id']}: {r['message'] or r['status']}" for r in results if r["status"] in _FAILED]
        failed += [
            f"task {t} {states[t]}" for t in self.hook_task_ids if states.get(t) in ("failed", "upstream_failed")
        ]
        if failed:
            raise AirflowException(f"{len(failed)} of the dbt run's nodes or hooks failed:\n" + "\n".join(failed))
        return {"run_results": written, "counts": dict(counts)}

    def _write(self, store: Any, uri: str, data: bytes) -> str | None:
        if not store.holds_dbt_artifacts:
            self.log.warning(
                "run_results.json is not kept: the artifacts of this run are in XCom (no remote_target_path); set "
                "remote_target_path to keep dbt's artifacts with the run"
            )
            return None
        target = f"{uri}/{RUN_RESULTS_FILE}"
        try:
            store.write_dbt_artifact(uri=uri, name=RUN_RESULTS_FILE, data=data)
        except FileExistsError:
            self.log.warning(
                "%s exists (written by an earlier try of this task): it is kept, as every artifact of a run is "
                "immutable; this try's results are only in its log",
                target,
            )
            return target
        self.log.info("wrote %s (%d bytes)", target, len(data))
        return target
