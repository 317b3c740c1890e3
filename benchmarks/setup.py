"""Setup-task render time: the example project and a generated 1,000-model project, on the local emulators.

For each project: a cold render (no partial-parse file yet) and a warm one (dbt reuses the cached partial parse),
each split into the time inside ``dbtRunner().invoke`` (parse, compile, capture) and the rest (process start, dbt
imports, result conversion). The baseline, measured in the same run, is a plain ``dbt compile`` of the same project
with the same flags (cold: fresh target folder; warm: second compile into the same folder): rendering does what
compile does plus running every materialization in capture mode. Then the rendered artifacts are published as the
setup task does (``node_artifacts`` + ``FsspecArtifactStore.publish``) to gs:// on the GCS emulator behind a proxy
adding 50 ms to every request (real GCS round trips); target: publish time <= 10% of dbt time.

Run: ``python -m benchmarks setup`` (writes ``benchmarks/results/setup.json``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from cosmos_remote.artifacts import FsspecArtifactStore, RunScope
from cosmos_remote.dbt import RenderResult, render_project
from cosmos_remote.operators._publish import node_artifacts
from cosmos_remote.testing import LocalGCP, local_gcp

__all__ = ["main"]

ROOT: Final = Path(__file__).resolve().parent.parent
EXAMPLE_PROJECT: Final = ROOT / "examples" / "dbt" / "jaffle_shop"
EXAMPLE_PROFILES: Final = ROOT / "examples" / "dbt"
RESULTS: Final = Path(__file__).resolve().parent / "results" / "setup.json"
CHAINS: Final = 10
CHAIN_LENGTH: Final = 100

_PROFILE: Final = """bench:
  target: dev
  outputs:
    dev:
      type: bigquery
      method: oauth-secrets
      token: dummy
      project: "{{ env_var('COSMOS_REMOTE_BQ_PROJECT') }}"
      dataset: "{{ env_var('COSMOS_REMOTE_BQ_DATASET') }}"
      api_endpoint: "{{ env_var('COSMOS_REMOTE_BQ_ENDPOINT') }}"
      location: US
      threads: 4
      job_retries: 0
"""


@dataclass(frozen=True)
class Measure:
    """One render or compile, in seconds (``dbt`` / ``other`` only for renders)."""

    wall: float
    dbt: float | None = None
    capture: float | None = None
    other: float | None = None


@dataclass(frozen=True)
class ProjectResult:
    """Everything measured for one project."""

    project: str
    models: int
    rendered_nodes: int
    render_cold: Measure
    render_warm: Measure
    compile_cold: Measure
    compile_warm: Measure
    publish_seconds: float | None = None


def generate_project(root: Path) -> Path:
    """A dbt project with 2 seeds, 1 source and CHAINS x CHAIN_LENGTH models (every 10th a table, else views)."""
    (root / "models").mkdir(parents=True)
    (root / "seeds").mkdir()
    (root / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\nmodels:\n  bench:\n    +materialized: view\n",
        encoding="utf-8",
    )
    (root / "profiles.yml").write_text(_PROFILE, encoding="utf-8")
    (root / "seeds" / "customers.csv").write_text(
        "id,name,segment\n" + "".join(f"{i},customer {i},{'abc'[i % 3]}\n" for i in range(200)), encoding="utf-8"
    )
    (root / "seeds" / "orders.csv").write_text(
        "id,customer_id,amount\n" + "".join(f"{i},{i % 200},{i * 1.5}\n" for i in range(2000)), encoding="utf-8"
    )
    (root / "models" / "sources.yml").write_text(
        'version: 2\nsources:\n  - name: raw\n    schema: "{{ target.schema }}"\n    tables:\n      - name: events\n',
        encoding="utf-8",
    )
    heads = ["{{ ref('customers') }}", "{{ ref('orders') }}", "{{ source('raw', 'events') }}"]
    tests = ["version: 2", "models:"]
    for chain in range(CHAINS):
        for step in range(CHAIN_LENGTH):
            name = f"m_{chain:02d}_{step:03d}"
            upstream = heads[chain % len(heads)] if step == 0 else f"{{{{ ref('m_{chain:02d}_{step - 1:03d}') }}}}"
            config = "{{ config(materialized='table') }}\n" if step % 10 == 9 else ""
            (root / "models" / f"{name}.sql").write_text(
                f"{config}select *, {step} as step_{step} from {upstream}\n" if step else f"select * from {upstream}\n",
                encoding="utf-8",
            )
        tests += [f"  - name: m_{chain:02d}_000", "    columns:", "      - name: id", "        data_tests: [not_null]"]
    (root / "models" / "tests.yml").write_text("\n".join(tests) + "\n", encoding="utf-8")
    return root


def _render(project: Path, profiles: Path, env: dict[str, str], cache: Path) -> tuple[RenderResult, Measure]:
    result = render_project(project_dir=project, profiles_dir=profiles, env=env, cache_dir=cache)
    timings = result.timings
    measure = Measure(timings.total_seconds, timings.dbt_seconds, timings.capture_seconds, timings.other_seconds)
    return result, measure


def _compile(project: Path, profiles: Path, env: dict[str, str], target: Path) -> Measure:
    command = [
        str(Path(sys.executable).parent / "dbt"), "compile", "--project-dir", str(project),
        "--profiles-dir", str(profiles), "--target-path", str(target), "--log-path", str(target / "logs"),
        "--no-write-json", "--no-use-colors", "--quiet",
    ]  # fmt: skip
    started = time.perf_counter()
    completed = subprocess.run(
        command, env={**os.environ, **env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}, capture_output=True, check=False
    )
    if completed.returncode:
        raise RuntimeError(f"dbt compile failed: {completed.stdout.decode()[-2000:]}")
    return Measure(time.perf_counter() - started)


def _publish(result: RenderResult, gcp: LocalGCP, label: str) -> float:
    store = FsspecArtifactStore(root=f"gs://{gcp.bucket}/bench-setup", storage_options={"token": "anon"})
    started = time.perf_counter()
    store.publish(
        scope=RunScope(dag_id=label, run_id=f"bench-{time.time_ns()}"),
        nodes=node_artifacts(result),
        project_name=result.project_name,
        dbt_version=result.dbt_version,
    )
    return time.perf_counter() - started


def measure_project(
    label: str, project: Path, profiles: Path, dataset: str, work: Path, gcp: LocalGCP
) -> ProjectResult:
    """Cold and warm render, cold and warm compile of one project into ``dataset``, and the publish of its render."""
    env = {"COSMOS_REMOTE_BQ_DATASET": dataset}
    cache = work / f"{label}-cache"
    result, cold = _render(project, profiles, env, cache)
    _, warm = _render(project, profiles, env, cache)
    target = work / f"{label}-compile"
    compile_cold = _compile(project, profiles, env, target)
    compile_warm = _compile(project, profiles, env, target)
    models = sum(1 for node in result.nodes.values() if node.resource_type == "model")
    publish = _publish(result, gcp, label)
    return ProjectResult(label, models, len(result.nodes), cold, warm, compile_cold, compile_warm, publish)


def _row(name: str, render: Measure, baseline: Measure) -> str:
    dbt, capture, other = render.dbt or 0.0, render.capture or 0.0, render.other or 0.0
    ratio = render.wall / baseline.wall
    return (
        f"| {name:<28} | {render.wall:8.1f} | {dbt:7.1f} | {capture:7.2f} | {other:7.1f} "
        f"| {baseline.wall:8.1f} | {ratio:5.2f}x |"
    )


def print_table(results: list[ProjectResult]) -> None:
    """The results as a Markdown table (seconds)."""
    print("| project / run                | render s |   dbt s | capture |  rest s | compile s | ratio |")
    print("|------------------------------|----------|---------|---------|---------|-----------|-------|")
    for item in results:
        label = f"{item.project} ({item.models} models)"
        print(_row(f"{label} cold", item.render_cold, item.compile_cold))
        print(_row(f"{label} warm", item.render_warm, item.compile_warm))
    print("ratio = render wall / plain `dbt compile` wall (same project, same flags, same run)")
    print("\n| project                      | nodes | publish s | warm dbt s | publish / dbt | target <= 10% |")
    print("|------------------------------|-------|-----------|------------|---------------|---------------|")
    for item in results:
        share = (item.publish_seconds or 0.0) / (item.render_warm.dbt or 1.0)
        print(
            f"| {item.project:<28} | {item.rendered_nodes:5d} | {item.publish_seconds or 0.0:9.2f} "
            f"| {item.render_warm.dbt or 0.0:10.1f} | {share:12.1%} | {'met' if share <= 0.10 else 'NOT met':>13} |"
        )


def main() -> None:
    """Run the benchmark, print the table, write ``benchmarks/results/setup.json``."""
    with (
        tempfile.TemporaryDirectory(prefix="cosmos-remote-bench-setup-") as folder,
        local_gcp(gcs_request_delay=0.05) as gcp,
    ):
        work = Path(folder)
        results = [measure_project("jaffle_shop", EXAMPLE_PROJECT, EXAMPLE_PROFILES, "bench_jaffle", work, gcp)]
        generated = generate_project(work / "generated")
        gcp.create_dataset("bench_generated")
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        client = bigquery.Client(
            project=gcp.project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": gcp.bigquery_endpoint},
        )
        client.query(
            f"create or replace table `{gcp.project}`.`bench_generated`.`events` as "
            "select 1 as id, 'click' as kind union all select 2, 'view'"
        ).result()
        results.append(measure_project("generated", generated, generated, "bench_generated", work, gcp))
    print_table(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "benchmark": "setup",
        "unit": "seconds",
        "baseline": "plain `dbt compile` of the same project with the same flags, measured in the same run",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "projects": [asdict(item) for item in results],
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
