"""``make soak``: the example DAG on a real cluster, run after run, with a CPU-busy neighbour; target: no failed try.

A real scheduler, triggerer, dag-processor and api-server (LocalExecutor, 2 worker slots) on the local emulators run
``examples/dags/jaffle_shop.py`` ``len(LATENCIES)`` times in a row, while a neighbour process keeps one core busy
(production workers are rarely quiet). BigQuery jobs stay RUNNING for 1-3 s (the racy case: the trigger fires
seconds after the deferral, see ``cosmos_remote/backends/bigquery/triggers.py``) or 20 s. Every task instance of
every run must succeed on its first try. The baseline, measured in the same run, is the same DAG with the trigger's
settle time set to 0 (what cosmos_remote did before): its failed tries show the race the settle time closes.

Writes ``benchmarks/results/soak.json``. ``SOAK_LATENCIES=1,2,3`` and ``SOAK_BASELINE_RUNS=3`` shorten it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from benchmarks._common import machine_info, write_results
from cosmos_remote.testing import local_gcp
from cosmos_remote.testing.airflow import SETTLE_ENV
from cosmos_remote.testing.airflow_cluster import airflow_cluster

RESULTS: Final = Path(__file__).parent / "results" / "soak.json"
EXAMPLE: Final = Path(__file__).resolve().parents[1] / "examples" / "dags" / "jaffle_shop.py"
PRELOAD: Final = ("cosmos_remote.backends.bigquery.operators", "cosmos_remote.artifacts", "gcsfs")
LATENCIES: Final = [float(x) for x in os.environ.get("SOAK_LATENCIES", "1,2,3,1,2,3,1,2,3,20").split(",")]
BASELINE_RUNS: Final = int(os.environ.get("SOAK_BASELINE_RUNS", "3"))


def _runs(latencies: list[float], *, settle: str | None, label: str) -> list[dict[str, Any]]:
    """Run the example DAG once per latency on one cluster; what each run did."""
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cosmos-remote-soak-") as work, local_gcp() as gcp:
        dags = Path(work) / "dags"
        dags.mkdir()
        (dags / EXAMPLE.name).symlink_to(EXAMPLE)
        gcp.create_dataset("soak")
        env = {
            **gcp.env,
            "COSMOS_REMOTE_BQ_DATASET": "soak",
            "AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH": f"{gcp.remote_target_path}/soak",
            **({SETTLE_ENV: settle} if settle is not None else {}),
        }
        with airflow_cluster(
            home=Path(work) / "airflow", dags_folder=dags, parallelism=2, env=env, preload=PRELOAD
        ) as c:
            for number, latency in enumerate(latencies, start=1):
                gcp.set_job_latency(latency)
                started = time.monotonic()
                run_id = c.trigger("jaffle_shop")
                state = c.wait("jaffle_shop", run_id, timeout=1200)
                seconds = time.monotonic() - started
                tries = c.task_tries("jaffle_shop", run_id)
                states = c.task_states("jaffle_shop", run_id)
                retried = sorted(task for task, count in tries.items() if count > 1)
                failed = sorted(task for task, value in states.items() if value != "success")
                results.append(
                    {"run": number, "job_latency_s": latency, "state": state, "seconds": round(seconds, 1),
                     "tasks": len(states), "retried": retried, "failed": failed}
                )  # fmt: skip
                print(
                    f"{label} run {number:2d}: job latency {latency:4.1f} s, {state}, {seconds:6.1f} s, "
                    f"{len(states)} tasks, retried {retried or '-'}, failed {failed or '-'}",
                    flush=True,
                )
    return results


def main() -> None:
    load_before = os.getloadavg()[0]
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # one core busy throughout
    try:
        settled = _runs(LATENCIES, settle=None, label="cosmos_remote")
        baseline = _runs(LATENCIES[:BASELINE_RUNS], settle="0", label="baseline (no settle time)")
    finally:
        neighbour.kill()
        neighbour.wait()
    failed_tries = sum(len(r["retried"]) + len(r["failed"]) for r in settled)
    baseline_failed = sum(len(r["retried"]) + len(r["failed"]) for r in baseline)
    print("\n| | runs | failed or retried tries | wall time per run (s) |\n|---|---|---|---|")
    for name, rows, bad in (("cosmos_remote", settled, failed_tries), ("baseline", baseline, baseline_failed)):
        mean = sum(r["seconds"] for r in rows) / max(1, len(rows))
        print(f"| {name} | {len(rows)} | {bad} | {mean:.0f} |")
    write_results(
        RESULTS,
        {
            "benchmark": "soak",
            "description": __doc__.split("\n\n")[0] if __doc__ else "",
            "target": f"0 failed or retried tries in {len(LATENCIES)} consecutive runs with a CPU-busy neighbour",
            "met": failed_tries == 0 and all(r["state"] == "success" for r in settled),
            "failed_or_retried_tries": failed_tries,
            "baseline_failed_or_retried_tries": baseline_failed,
            "runs": settled,
            "baseline_runs": baseline,
            "machine": machine_info(load_before=load_before),
        },
    )
