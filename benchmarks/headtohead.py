"""Head to head with astronomer-cosmos: the same dbt project, the same cluster, the same warehouse latency.

A generated project of 200 models (layers of varying width and depth; tables, views and incrementals; ``not_null``
and ``unique`` tests on every third model) runs once per contender on a real Airflow cluster of its own
(:func:`~cosmos_remote.testing.airflow_cluster.airflow_cluster`: scheduler with LocalExecutor and 4 worker slots, one
triggerer, dag-processor, api-server), every component of it in the contender's own Python environment: ours from
``.venv``, Cosmos 1.15.1 with dbt-bigquery from ``benchmarks/requirements-cosmos.lock``. Every contender's DAG file
is the same text, with only its imports changed (``from cosmos import ...`` / ``from cosmos_remote import ...``):

* ``cosmos_remote`` (its only mode, deferrable jobs; ``ExecutionMode.AIRFLOW_ASYNC``);
* Cosmos ``ExecutionMode.LOCAL`` (dbt in every task, blocking its worker slot; dbtRunner in the worker process);
* Cosmos ``ExecutionMode.WATCHER`` (one ``dbt build`` producer task, deferrable consumer sensors) with the profile's
  ``threads`` 8, then 16;
* Cosmos ``ExecutionMode.AIRFLOW_ASYNC``, run only if its DAG builds (with provider 22.6 it fails: the error is kept).

The warehouse is the BigQuery emulator behind local_gcp's proxy, which keeps the first job writing each model's
relation RUNNING for that model's time (seeded log-normal, median 20 s, clipped at 120 s; the same for every
contender, whatever SQL its client sends) and answers ``getQueryResults`` by waiting, as BigQuery does. dbt talks to
it through the profile's ``api_endpoint``. Each contender writes its own dataset; a plain ``dbt build`` (no held
jobs) writes the reference one.

Reported per contender: ``wall_s`` (trigger to end of the DAG run), ``slot_s`` (seconds task instances spent
``running``, from metadata DB samples every 0.5 s: a worker slot each), ``peak_jobs`` (most held warehouse jobs at
once, from the proxy's log), ``api_requests`` (BigQuery API requests by method, the proxy's counts),
``tables_equal`` (every table and view of its dataset has the reference's rows), ``failed_tries`` (tries that
failed; ``retries=1``). Targets: wall <= 0.5x Cosmos LOCAL and <= 0.8x WATCHER (either thread count); slot-seconds
<= 5% of LOCAL's; tables equal for every contender that runs.

Run: ``make bench BENCH=headtohead`` (about an hour; writes ``benchmarks/results/headtohead.json``). Smaller runs for
a look: ``H2H_MODELS=20 H2H_MEDIAN_S=5 H2H_CONTENDERS=cosmos_remote,cosmos_watcher_8``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from benchmarks._common import machine_info, write_results
from benchmarks._h2h_compare import dataset_rows, peak_concurrent, print_table, request_delta, targets
from benchmarks._h2h_project import generate_project, warehouse_seconds
from benchmarks.parse import COSMOS_VENV, ensure_cosmos_env
from cosmos_remote.testing import emulator_profiles_yml, local_gcp
from cosmos_remote.testing.airflow_cluster import AirflowClusterError, airflow_cluster

__all__ = ["main", "run"]

ROOT: Final = Path(__file__).resolve().parent.parent
RESULTS: Final = Path(__file__).parent / "results" / "headtohead.json"
MODELS: Final = int(os.environ.get("H2H_MODELS", "200"))
MEDIAN_S: Final = float(os.environ.get("H2H_MEDIAN_S", "20"))
TAIL_S: Final = float(os.environ.get("H2H_TAIL_S", "120"))
SEED: Final = 19
SLOTS: Final = 4
RETRIES: Final = 1
SAMPLE_S: Final = 0.5
RUN_TIMEOUT: Final = 3 * 3600.0
#: (contender, library, execution mode, profile threads)
CONTENDERS: Final = (
    ("cosmos_remote", "cosmos_remote", "AIRFLOW_ASYNC", 4),
    ("cosmos_watcher_16", "cosmos", "WATCHER", 16),
    ("cosmos_watcher_8", "cosmos", "WATCHER", 8),
    ("cosmos_local", "cosmos", "LOCAL", 4),
    ("cosmos_airflow_async", "cosmos", "AIRFLOW_ASYNC", 4),
)
PRELOAD: Final = {
    "cosmos_remote": ("cosmos_remote.backends.bigquery.operators", "cosmos_remote.artifacts", "gcsfs"),
    "cosmos": ("cosmos", "cosmos.operators.local", "airflow.providers.google.cloud.hooks.bigquery"),
}
_DAG: Final = """# An Airflow DAG file (Airflow's DAG discovery parses only files that say "airflow" and "dag").
import pendulum

from {library} import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from {library}.constants import ExecutionMode, LoadMode

dag = DbtDag(
    dag_id="h2h",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=1000,
    project_config=ProjectConfig(dbt_project_path={project!r}, manifest_path={manifest!r}),
    profile_config=ProfileConfig(profile_name="h2h", target_name="dev", profiles_yml_filepath={profiles!r}),
    execution_config=ExecutionConfig(execution_mode=ExecutionMode.{mode}),
    render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST),
    default_args={{"retries": {retries}, "retry_delay": 10}},
)
"""


def _prepare(work: Path, base: Path, name: str, threads: int, gcp: Any) -> tuple[Path, Path, Path]:
    """The contender's copy of the project and its profile (its own dataset), parsed by dbt (manifest and the
    partial-parse file Cosmos's tasks reuse): (project, profiles.yml, manifest)."""
    project = work / name / "project"
    shutil.copytree(base, project)
    profiles = work / name / "profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(emulator_profiles_yml("h2h", dataset=f"h2h_{name}", threads=threads))
    gcp.create_dataset(f"h2h_{name}")
    _dbt(["parse"], project, profiles, gcp)
    return project, profiles / "profiles.yml", project / "target" / "manifest.json"


def _dbt(args: list[str], project: Path, profiles: Path, gcp: Any) -> None:
    dbt = str(ROOT / ".venv" / "bin" / "dbt")
    command = [dbt, *args, "--project-dir", str(project), "--profiles-dir", str(profiles)]
    done = subprocess.run(command, env={**os.environ, **gcp.env}, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} in {project} failed:\n{(done.stdout + done.stderr)[-3000:]}")


def _builds(python: Path, dag_file: Path, env: dict[str, str]) -> str | None:
    """None if the DAG file builds in that environment, else the error it raises (its last line)."""
    done = subprocess.run(
        [str(python), str(dag_file)], env=env, capture_output=True, text=True, timeout=600, cwd=dag_file.parent
    )
    if done.returncode == 0:
        return None
    lines = [line for line in (done.stdout + done.stderr).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit {done.returncode}")[:400]


def _run_one(
    work: Path, base: Path, gcp: Any, holds: dict[str, float], contender: tuple[str, str, str, int]
) -> dict[str, Any]:
    name, library, mode, threads = contender
    row: dict[str, Any] = {"contender": name, "library": library, "execution_mode": mode, "threads": threads}
    project, profiles, manifest = _prepare(work, base, name, threads, gcp)
    dags = work / name / "dags"
    dags.mkdir()
    source = _DAG.format(library=library, project=str(project), manifest=str(manifest), profiles=str(profiles),
                         mode=mode, retries=RETRIES)  # fmt: skip
    (dags / "h2h.py").write_text(source)
    python = ROOT / ".venv" / "bin" / "python" if library == "cosmos_remote" else COSMOS_VENV / "bin" / "python"
    env = {
        **gcp.env,
        "AIRFLOW__COSMOS__REMOTE_TARGET_PATH": f"{gcp.remote_target_path}/{name}",
        "AIRFLOW__COSMOS__REMOTE_TARGET_PATH_CONN_ID": gcp.conn_id,
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "SCARF_NO_ANALYTICS": "true",
    }
    if (error := _builds(python, dags / "h2h.py", {**os.environ, **env})) is not None:
        print(f"  {name}: does not run: {error}", flush=True)
        return row | {"runs": False, "error": error}
    gcp.hold_relations(holds)
    requests_before = gcp.job_log()["requests"]
    try:
        with airflow_cluster(
            home=work / name / "airflow", dags_folder=dags, parallelism=SLOTS, env=env, timeout=600,
            preload=PRELOAD[library], python=python,
        ) as cluster:  # fmt: skip
            started_at, started = time.time(), time.monotonic()
            run_id = cluster.trigger("h2h")
            with cluster.record_states("h2h", run_id, interval=SAMPLE_S) as samples:
                state = cluster.wait("h2h", run_id, timeout=RUN_TIMEOUT)
            wall = time.monotonic() - started
            tries, states = cluster.task_tries("h2h", run_id), cluster.task_states("h2h", run_id)
    except AirflowClusterError as exc:
        print(f"  {name}: does not run: {str(exc)[:300]}", flush=True)
        return row | {"runs": False, "error": str(exc)[:1000]}
    log = gcp.job_log()
    failed = sum(max(0, tries.get(task, 1) - 1) for task in states) + sum(1 for s in states.values() if s == "failed")
    row |= {
        "runs": state == "success",
        "error": None if state == "success" else f"DAG run ended {state}",
        "tasks": len(states),
        "wall_s": round(wall, 1),
        "slot_s": round(sum(samples.seconds_in("running").values()), 1),
        "peak_running_tasks": samples.peak_running,
        "peak_deferred_tasks": samples.peak_deferred,
        "peak_jobs": peak_concurrent(log["held"], since=started_at),
        "held_jobs": sum(1 for entry in log["held"] if entry["start"] >= started_at),
        "api_requests": request_delta(requests_before, log["requests"]),
        "failed_tries": failed,
    }
    print(f"  {name}: {state} in {wall:.0f} s, {row['slot_s']:.0f} slot-s, peak {row['peak_jobs']} jobs", flush=True)
    return row


def run() -> dict[str, Any]:
    """Every contender in turn on the same warehouse; the results document."""
    load_before = os.getloadavg()[0]
    install_s, install_error = ensure_cosmos_env()
    if install_error:
        raise RuntimeError(f"the Cosmos environment could not be installed: {install_error}")
    wanted = [c for c in os.environ.get("H2H_CONTENDERS", "").split(",") if c]
    contenders = [c for c in CONTENDERS if not wanted or c[0] in wanted]
    with tempfile.TemporaryDirectory(prefix="bench-h2h-") as tmp, local_gcp() as gcp:
        work = Path(tmp)
        base = generate_project(work, models=MODELS, seed=SEED)
        names = sorted(path.stem for path in (base / "models").glob("*.sql"))
        holds = warehouse_seconds(names, seed=SEED, median_s=MEDIAN_S, tail_s=TAIL_S)
        print(f"{len(names)} models, {sum(holds.values()):.0f} warehouse seconds in all; reference dbt build ...")
        reference_project, reference_profiles, _ = _prepare(work, base, "reference", 8, gcp)
        gcp.hold_relations({})
        _dbt(["build"], reference_project, reference_profiles.parent, gcp)
        reference = dataset_rows(gcp, "h2h_reference")
        rows = [_run_one(work, base, gcp, holds, contender) for contender in contenders]
        for row in rows:
            if row.get("runs"):
                row["tables_equal"] = dataset_rows(gcp, f"h2h_{row['contender']}") == reference
    return {
        "benchmark": "headtohead",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(load_before=load_before),
        "setup": {
            "models": MODELS,
            "tables_in_reference": len(reference),
            "warehouse_seconds": {"median": MEDIAN_S, "max": TAIL_S, "seed": SEED, "total": round(sum(holds.values()))},
            "worker_slots": SLOTS,
            "triggerers": 1,
            "airflow": "3.3.2 airflow_cluster: LocalExecutor + SQLite, each contender in its own Python environment",
            "cosmos": "astronomer-cosmos 1.15.1, dbt-core 1.11.16, dbt-bigquery 1.12.1",
            "retries": RETRIES,
            "sample_interval_s": SAMPLE_S,
            "cosmos_env_install_s": install_s,
        },
        "rows": rows,
        "targets": targets(rows),
    }


def main() -> None:
    result = run()
    print_table(result["rows"])
    write_results(RESULTS, result)
