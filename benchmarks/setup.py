"""Setup-task render time: the example project and generated 100- and 1,000-model projects, on the local emulators.

For each project: a cold render (no partial-parse file yet) and warm ones (dbt reuses the cached partial parse),
each split into the time inside ``dbtRunner().invoke`` (parse, compile, capture) and the rest (process start, dbt
imports, result conversion). The baseline, measured in the same run, is a plain ``dbt compile`` of the same project
with the same flags (cold: fresh target folder; warm: later compiles into the same folder, one before each warm
render, so that compile and render see the same machine): rendering does what compile does plus running every
materialization in capture mode. Each figure comes with the CPU seconds of the dbt process, which other load on a
shared machine changes less than wall time. The BigQuery API requests of one warm render are counted per method by
the emulator proxy; the metadata ones (datasets, tables) depend on the schemas, not on the number of models.

Publishing goes to gs:// on the GCS emulator behind a relay that holds every request 50 ms (real GCS round trips), a
fresh bucket each time, two ways:

* after dbt: the whole render published once dbt is done (``FsspecArtifactStore.publish``);
* while dbt renders, as the setup task does: a warm render whose nodes go to ``begin_publish(...).add`` as dbt
  finishes them, then ``commit``. Its publish time is what the setup task spends after dbt ends (the commit: the
  files not uploaded yet, the index); the uploads before it overlap dbt's own work. Warm renders without and with
  uploading alternate ``ROUNDS`` times (medians reported), so the table also shows what the overlapping uploads
  cost dbt on this machine, where the emulators share two cores with dbt, and the CPU the uploads cost the setup
  task's own process (what stays on an Airflow worker against real GCS).

Targets: publish time <= 10% of dbt time (the warm render's time inside dbt, measured without publishing); the
warm render of 1,000 models <= 1.4x the warm compile (``targets`` in the results, wall and CPU); the metadata
requests of a render the same at 100 and 1,000 models.

Run: ``python -m benchmarks setup`` (writes ``benchmarks/results/setup.json``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from benchmarks._common import machine_info, write_results
from cosmos_remote.artifacts import FsspecArtifactStore, RunScope
from cosmos_remote.backends.bigquery import BACKEND
from cosmos_remote.dbt import RenderedNode, RenderResult, render_project
from cosmos_remote.dbt.render import NodeRendered
from cosmos_remote.publish import node_artifact, node_artifacts
from cosmos_remote.testing import LocalGCP, emulator_profiles_yml, local_gcp

CAPTURE = BACKEND.capture_package

__all__ = ["main"]

ROOT: Final = Path(__file__).resolve().parent.parent
EXAMPLE_PROJECT: Final = ROOT / "examples" / "dbt" / "jaffle_shop"
EXAMPLE_PROFILES: Final = ROOT / "examples" / "dbt"
RESULTS: Final = Path(__file__).resolve().parent / "results" / "setup.json"
ROUNDS: Final = 3
CHAINS: Final = 10
CHAIN_LENGTH: Final = 100
#: The render of the 1,000-model project may take at most this many times a plain `dbt compile` (warm, same run).
RENDER_TARGET: Final = 1.4
_METADATA: Final = frozenset({"datasets", "tables", "tabledata"})


@dataclass(frozen=True)
class Measure:
    """One render or compile, in seconds (``dbt`` / ``other`` only for renders)."""

    wall: float
    dbt: float | None = None
    capture: float | None = None
    other: float | None = None
    cpu: float | None = None  # CPU seconds of the dbt process (children of this one)


@dataclass(frozen=True)
class Streamed:
    """One warm render that uploads nodes as dbt finishes them, then commits."""

    render: Measure
    commit_seconds: float
    early_files: int
    uploader_cpu_seconds: float

    @property
    def setup_wall(self) -> float:
        return self.render.wall + self.commit_seconds


@dataclass(frozen=True)
class ProjectResult:
    """Everything measured for one project (medians over ``rounds`` alternating warm renders where it says so)."""

    project: str
    models: int
    rendered_nodes: int
    files: int
    rounds: int
    render_cold: Measure
    render_warm: Measure
    compile_cold: Measure
    compile_warm: Measure
    publish_after_seconds: float
    streamed: Streamed
    render_warm_walls: list[float]
    streamed_setup_walls: list[float]
    compile_warm_walls: list[float]
    api_calls_per_render: dict[str, int]
    metadata_calls_per_render: int


def generate_project(root: Path, *, chain_length: int = CHAIN_LENGTH) -> Path:
    """A dbt project with 2 seeds, 1 source and CHAINS x chain_length models (every 10th a table, else views)."""
    (root / "models").mkdir(parents=True)
    (root / "seeds").mkdir()
    (root / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\nmodels:\n  bench:\n    +materialized: view\n",
        encoding="utf-8",
    )
    (root / "profiles.yml").write_text(emulator_profiles_yml("bench"), encoding="utf-8")
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
        for step in range(chain_length):
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


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def _render(
    project: Path, profiles: Path, env: dict[str, str], cache: Path, on_node: NodeRendered | None = None
) -> tuple[RenderResult, Measure]:
    cpu = _children_cpu()
    result = render_project(
        project_dir=project, profiles_dir=profiles, env=env, cache_dir=cache, on_node=on_node, capture_package=CAPTURE
    )
    timings = result.timings
    measure = Measure(
        timings.total_seconds,
        timings.dbt_seconds,
        timings.capture_seconds,
        timings.other_seconds,
        cpu=_children_cpu() - cpu,
    )
    return result, measure


def _compile(project: Path, profiles: Path, env: dict[str, str], target: Path) -> Measure:
    command = [
        str(Path(sys.executable).parent / "dbt"), "compile", "--project-dir", str(project),
        "--profiles-dir", str(profiles), "--target-path", str(target), "--log-path", str(target / "logs"),
        "--no-write-json", "--no-use-colors", "--quiet",
    ]  # fmt: skip
    cpu, started = _children_cpu(), time.perf_counter()
    completed = subprocess.run(
        command, env={**os.environ, **env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}, capture_output=True, check=False
    )
    if completed.returncode:
        raise RuntimeError(f"dbt compile failed: {completed.stdout.decode()[-2000:]}")
    return Measure(time.perf_counter() - started, cpu=_children_cpu() - cpu)


def _fresh_store(gcp: LocalGCP, label: str) -> FsspecArtifactStore:
    """A store on a bucket of its own: fake-gcs-server's in-memory backend slows down as a bucket fills up."""
    bucket = f"bench-setup-{label}-{time.time_ns()}"
    gcp.create_bucket(bucket)
    return FsspecArtifactStore(root=f"gs://{bucket}/cosmos", storage_options={"token": "anon"})


def _publish_after(result: RenderResult, gcp: LocalGCP, label: str) -> float:
    store = _fresh_store(gcp, label)
    started = time.perf_counter()
    store.publish(
        scope=RunScope(dag_id=label, run_id="after"),
        nodes=node_artifacts(result),
        project_name=result.project_name,
        dbt_version=result.dbt_version,
    )
    return time.perf_counter() - started


def _publish_while_rendering(
    project: Path, profiles: Path, env: dict[str, str], cache: Path, gcp: LocalGCP, label: str
) -> Streamed:
    """A warm render that uploads each node as dbt finishes it, then the commit, as the setup task does."""
    store = _fresh_store(gcp, label)
    early = 0

    def add(node: RenderedNode) -> None:
        nonlocal early
        artifact = node_artifact(node)
        session.add(artifact)
        early += len(artifact.files)

    cpu_started = time.process_time()  # every thread of this process: the tail reader and fsspec's IO loop
    with store.begin_publish(scope=RunScope(dag_id=label, run_id="streamed")) as session:
        result, render = _render(project, profiles, env, cache, on_node=add)
        started = time.perf_counter()
        session.commit(nodes=node_artifacts(result), project_name=result.project_name, dbt_version=result.dbt_version)
        commit = time.perf_counter() - started
    return Streamed(render, commit, early, time.process_time() - cpu_started)


def _median_measure(items: list[Measure]) -> Measure:
    def median(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    return Measure(
        wall=statistics.median(m.wall for m in items),
        dbt=median([m.dbt for m in items]),
        capture=median([m.capture for m in items]),
        other=median([m.other for m in items]),
        cpu=median([m.cpu for m in items]),
    )


def _api_calls(gcp: LocalGCP, before: dict[str, int]) -> dict[str, int]:
    """BigQuery API requests per method since ``before`` (the emulator proxy counts them)."""
    after: dict[str, int] = gcp.job_log()["requests"]
    return {method: count - before.get(method, 0) for method, count in after.items() if count != before.get(method, 0)}


def measure_project(
    label: str, project: Path, profiles: Path, dataset: str, work: Path, gcp: LocalGCP
) -> ProjectResult:
    """Cold render and cold compile; then ROUNDS x (warm compile, warm render, warm render uploading meanwhile),
    interleaved so that both see the same machine; one publish of the whole render after dbt. The BigQuery API
    requests of the first warm render are counted."""
    env = {"COSMOS_REMOTE_BQ_DATASET": dataset}
    cache = work / f"{label}-cache"
    target = work / f"{label}-compile"
    result, cold = _render(project, profiles, env, cache)
    compile_cold = _compile(project, profiles, env, target)
    warm: list[Measure] = []
    compiles: list[Measure] = []
    streamed: list[Streamed] = []
    calls: dict[str, int] = {}
    for round_ in range(ROUNDS):
        compiles.append(_compile(project, profiles, env, target))
        before = dict(gcp.job_log()["requests"])
        warm.append(_render(project, profiles, env, cache)[1])
        if round_ == 0:
            calls = _api_calls(gcp, before)
        streamed.append(_publish_while_rendering(project, profiles, env, cache, gcp, f"{label}-{round_}"))
    after = _publish_after(result, gcp, label)  # gcsfs is imported and warm by now: only flatters this baseline
    median_streamed = Streamed(
        render=_median_measure([s.render for s in streamed]),
        commit_seconds=statistics.median(s.commit_seconds for s in streamed),
        early_files=min(s.early_files for s in streamed),
        uploader_cpu_seconds=statistics.median(s.uploader_cpu_seconds for s in streamed),
    )
    return ProjectResult(
        project=label,
        models=sum(1 for node in result.nodes.values() if node.resource_type == "model"),
        rendered_nodes=len(result.nodes),
        files=sum(len(artifact.files) for artifact in node_artifacts(result)) + 2,  # + marker and index
        rounds=ROUNDS,
        render_cold=cold,
        render_warm=_median_measure(warm),
        compile_cold=compile_cold,
        compile_warm=_median_measure(compiles),
        publish_after_seconds=after,
        streamed=median_streamed,
        render_warm_walls=[m.wall for m in warm],
        streamed_setup_walls=[s.setup_wall for s in streamed],
        compile_warm_walls=[m.wall for m in compiles],
        api_calls_per_render=calls,
        metadata_calls_per_render=sum(n for method, n in calls.items() if method.split(".")[0] in _METADATA),
    )


def _row(name: str, render: Measure, baseline: Measure) -> str:
    dbt, capture, other = render.dbt or 0.0, render.capture or 0.0, render.other or 0.0
    ratio = render.wall / baseline.wall
    cpu_ratio = (render.cpu or 0.0) / (baseline.cpu or 1.0)
    return (
        f"| {name:<32} | {render.wall:8.1f} | {dbt:7.1f} | {capture:7.2f} | {other:7.1f} "
        f"| {baseline.wall:9.1f} | {ratio:5.2f}x | {cpu_ratio:5.2f}x |"
    )


def print_table(results: list[ProjectResult]) -> None:
    """The results as a Markdown table (seconds)."""
    print("| project / run                    | render s |   dbt s | capture |  rest s | compile s | ratio |   cpu |")
    print("|----------------------------------|----------|---------|---------|---------|-----------|-------|-------|")
    for item in results:
        label = f"{item.project} ({item.models} models)"
        print(_row(f"{label} cold", item.render_cold, item.compile_cold))
        print(_row(f"{label} warm", item.render_warm, item.compile_warm))
    print(
        "ratio = render wall / plain `dbt compile` wall (same project, same flags, same run); cpu ratio = the same "
        "for the CPU seconds of the dbt process"
    )
    for item in results:
        print(f"{item.project}: BigQuery API requests of one warm render: {item.api_calls_per_render}")
    print(
        "\n| project      | files | warm dbt s | after dbt: publish s | share | while dbt: publish s | share "
        "| target <= 10% | uploader cpu s | setup wall: after / while |"
    )
    print(
        "|--------------|-------|------------|----------------------|-------|----------------------|-------"
        "|---------------|----------------|---------------------------|"
    )
    for item in results:
        dbt = item.render_warm.dbt or 1.0
        after, streamed = item.publish_after_seconds, item.streamed
        share = streamed.commit_seconds / dbt
        print(
            f"| {item.project:<12} | {item.files:5d} | {dbt:10.1f} | {after:20.2f} | {after / dbt:5.1%} "
            f"| {streamed.commit_seconds:20.2f} | {share:5.1%} | {'met' if share <= 0.10 else 'NOT met':>13} "
            f"| {streamed.uploader_cpu_seconds:14.2f} "
            f"| {item.render_warm.wall + after:11.1f} / {streamed.setup_wall:11.1f} |"
        )
    print(
        f"medians of {ROUNDS} rounds, each a warm render without publishing then one uploading while dbt renders.\n"
        "after dbt: the whole render published once dbt is done. while dbt: nodes uploaded as dbt finishes them, as "
        "the setup task does;\npublish s = the commit after dbt ends (files not uploaded yet, the index). uploader "
        "cpu = CPU of the setup task's process\nduring the render + commit (dbt runs in a subprocess). setup wall = "
        "render + publish (the emulators share the 2 cores with dbt)."
    )
    for item in results:
        walls = ", ".join(f"{w:.1f}" for w in item.render_warm_walls)
        streamed_walls = ", ".join(f"{w:.1f}" for w in item.streamed_setup_walls)
        print(f"{item.project}: warm render walls {walls} s; setup walls uploading meanwhile {streamed_walls} s")


def render_targets(results: list[ProjectResult]) -> list[dict[str, Any]]:
    """The render of the 1,000-model project against a plain compile (wall, and CPU of the dbt process), and the
    metadata calls per render at 100 and 1,000 models (the same count: they depend on the schemas)."""
    by_name = {item.project: item for item in results}
    large, small = by_name["generated"], by_name["generated-100"]
    wall = large.render_warm.wall / large.compile_warm.wall
    cpu = (large.render_warm.cpu or 0.0) / (large.compile_warm.cpu or 1.0)
    return [
        {
            "name": "render_vs_compile_1000",
            "metric": "render_warm.wall / compile_warm.wall, 1,000 models (medians of interleaved rounds)",
            "target": f"<= {RENDER_TARGET}",
            "value": round(wall, 3),
            "met": wall <= RENDER_TARGET,
        },
        {
            "name": "render_vs_compile_1000_cpu",
            "metric": "render_warm.cpu / compile_warm.cpu, 1,000 models (CPU of the dbt process)",
            "target": f"<= {RENDER_TARGET}",
            "value": round(cpu, 3),
            "met": cpu <= RENDER_TARGET,
        },
        {
            "name": "metadata_calls_per_render",
            "metric": "BigQuery metadata requests of one warm render, 100 and 1,000 models (must not grow)",
            "target": "equal at 100 and 1,000 models",
            "value": {"100": small.metadata_calls_per_render, "1000": large.metadata_calls_per_render},
            "met": small.metadata_calls_per_render == large.metadata_calls_per_render,
        },
    ]


def main() -> None:
    """Run the benchmark, print the table, write ``benchmarks/results/setup.json``."""
    load_before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="cosmos-remote-bench-setup-") as folder,
        local_gcp(gcs_request_delay=0.05) as gcp,
    ):
        work = Path(folder)
        results = [measure_project("jaffle_shop", EXAMPLE_PROJECT, EXAMPLE_PROFILES, "bench_jaffle", work, gcp)]
        for label, length in (("generated-100", CHAIN_LENGTH // 10), ("generated", CHAIN_LENGTH)):
            generated = generate_project(work / label, chain_length=length)
            dataset = f"bench_{label.replace('-', '_')}"
            gcp.create_dataset(dataset)
            gcp.bigquery_client().query(
                f"create or replace table `{gcp.project}`.`{dataset}`.`events` as "
                "select 1 as id, 'click' as kind union all select 2, 'view'"
            ).result()
            results.append(measure_project(label, generated, generated, dataset, work, gcp))
    print_table(results)
    targets = render_targets(results)
    for target in targets:
        verdict = "met" if target["met"] else "MISSED"
        print(f"{target['name']}: {target['value']} (target {target['target']}): {verdict}")
    payload: dict[str, Any] = {
        "benchmark": "setup",
        "unit": "seconds",
        "baseline": "plain `dbt compile` of the same project with the same flags, measured in the same run",
        "machine": machine_info(load_before=load_before),
        "targets": targets,
        "projects": [asdict(item) for item in results],
    }
    write_results(RESULTS, payload)


if __name__ == "__main__":
    main()
