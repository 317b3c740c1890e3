"""The parse benchmark's "dag-processor" column: a DAG file run the way Airflow's dag-processor runs it.

Airflow 3's dag-processor forks a child per DAG file from a manager that has already imported Airflow. The child
calls ``airflow.dag_processing.processor._parse_file``: it loads the file through a ``BundleDagBag`` (import of the
library, the DAG construction), serializes every DAG with ``DagSerialization.to_dict`` and sends the result to the
manager as one msgspec frame. This worker does exactly that in a fresh interpreter: it imports the processor module
first (untimed, as the manager's fork has it), then times ``_parse_file`` and the encoding of the frame the child
would send. Both tools get the same DAG file shape, building one DAG from the same manifest.
"""

from __future__ import annotations

import statistics
import textwrap
from pathlib import Path
from typing import Any, Final

from benchmarks._common import run_json_child

__all__ = ["DAGPROCESSOR_RUNS", "run_dagprocessor", "summarize_dagprocessor"]

#: Fresh dag-processor children per size and tool (medians are reported).
DAGPROCESSOR_RUNS: Final = {100: 3, 1_000: 3, 5_000: 3}
TIMEOUT: Final = 600

_WORKER: Final = r"""
import json, sys, time
from pathlib import Path

spec = json.loads(sys.argv[1])
result = {}
try:
    import structlog
    from airflow.dag_processing.processor import DagFileParseRequest, _parse_file
    from airflow.sdk.execution_time.comms import _RequestFrame

    began, began_cpu = time.perf_counter(), time.process_time()
    request = DagFileParseRequest(file=spec["file"], bundle_path=Path(spec["file"]).parent, bundle_name="bench")
    parsed = _parse_file(request, structlog.get_logger())
    parsed_s, parsed_cpu_s = time.perf_counter() - began, time.process_time() - began_cpu
    frame = _RequestFrame(id=0, body=parsed.model_dump(), context_carrier=None).as_bytes()
    result.update(
        total_s=time.perf_counter() - began,
        total_cpu_s=time.process_time() - began_cpu,
        parse_and_serialize_s=parsed_s,
        parse_and_serialize_cpu_s=parsed_cpu_s,
        frame_bytes=len(frame),
        dags=len(parsed.serialized_dags),
        tasks=sum(len(d.data["dag"]["tasks"]) for d in parsed.serialized_dags),
        import_errors={k: str(v)[-400:] for k, v in parsed.import_errors.items()},
    )
    if not parsed.serialized_dags:
        result["error"] = "no DAG parsed: " + json.dumps(result["import_errors"])[:400]
except Exception as exc:
    result["error"] = f"{type(exc).__name__}: {exc}"[:500]
Path(spec["out"]).write_text(json.dumps(result))
"""

_REMOTE_DAG: Final = '''
"""An Airflow DAG of the parse benchmark (cosmos_remote)."""
from pathlib import Path

import pendulum
from cosmos_remote import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig

ROOT = Path({root!r})
dag = DbtDag(
    dag_id="bench_dagprocessor", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    project_config=ProjectConfig(dbt_project_path=ROOT, manifest_path=ROOT / "target" / "manifest.json"),
    profile_config=ProfileConfig(profile_name={profile!r}, target_name={target!r},
                                 profiles_yml_filepath=ROOT / "profiles.yml"),
    execution_config=ExecutionConfig(remote_target_path="gs://bench-bucket/cosmos"),
)
'''

_COSMOS_DAG: Final = '''
"""An Airflow DAG of the parse benchmark (astronomer-cosmos)."""
from pathlib import Path

import pendulum
from cosmos import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, LoadMode

ROOT = Path({root!r})
dag = DbtDag(
    dag_id="bench_dagprocessor", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    project_config=ProjectConfig(dbt_project_path=ROOT, manifest_path=ROOT / "target" / "manifest.json",
                                 project_name="bench"),
    profile_config=ProfileConfig(profile_name={profile!r}, target_name={target!r},
                                 profiles_yml_filepath=ROOT / "profiles.yml"),
    render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST),
    execution_config=ExecutionConfig(execution_mode=ExecutionMode.{mode}),
)
'''


def _dag_file(work: Path, *, tool: str, project_dir: str, profile: str, target: str, mode: str | None) -> Path:
    folder = work / f"dags-{tool}-{Path(project_dir).name}"
    folder.mkdir(parents=True, exist_ok=True)
    template = _REMOTE_DAG if tool == "cosmos_remote" else _COSMOS_DAG
    path = folder / "bench_dag.py"
    path.write_text(textwrap.dedent(template).format(root=project_dir, profile=profile, target=target, mode=mode))
    return path


def run_dagprocessor(
    *,
    tool: str,
    python: Path,
    env: dict[str, str],
    project_dir: str,
    work: Path,
    profile: str,
    target: str,
    mode: str | None,
) -> dict[str, Any]:
    """One fresh dag-processor child for ``tool``'s DAG file over ``project_dir``; its measurements."""
    dag_file = _dag_file(work, tool=tool, project_dir=project_dir, profile=profile, target=target, mode=mode)
    return run_json_child(
        python, _WORKER, {"file": str(dag_file)}, env=env, work=work, name=f"{tool}-dagprocessor", timeout=TIMEOUT
    )


def summarize_dagprocessor(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the children (wall and CPU seconds), with every run."""
    errors = [run["error"] for run in runs if "error" in run]
    if errors:
        return {"dagprocessor_error": errors[0]}
    return {
        "dagprocessor_median_s": statistics.median(run["total_s"] for run in runs),
        "dagprocessor_median_cpu_s": statistics.median(run["total_cpu_s"] for run in runs),
        "dagprocessor_frame_bytes": runs[0]["frame_bytes"],
        "dagprocessor_tasks": runs[0]["tasks"],
        # each run with the load average before it, named as the fresh runs name it
        "dagprocessor_runs": [
            {**{k: v for k, v in run.items() if k != "load_before"}, "load_average_1m": run["load_before"]}
            for run in runs
        ],
    }
