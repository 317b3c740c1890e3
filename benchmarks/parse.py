"""DAG-parse benchmark: how long building a ``DbtDag`` takes for 100, 1,000 and 5,000 dbt models.

Method:

* **Real manifests.** For each size a dbt project is generated on disk (a few seeds; N models in layered chains:
  staging views, intermediate tables, marts tables and incremental models, each depending on 1-3 earlier models;
  a ``not_null`` test on every model and a ``unique`` test on every other one) and ``dbt parse`` (the dbt of
  ``.venv``, a BigQuery ``oauth-secrets`` profile with a dummy token: nothing connects) writes its ``manifest.json``.
  cosmos_remote and astronomer-cosmos (``LoadMode.DBT_MANIFEST``) then read the same file. Projects and manifests
  live in a temporary folder for the duration of one run.
* **Fresh processes.** The dag-processor runs a DAG file in a new process, so the honest parse-time number is the
  first construction in a fresh interpreter: ``import`` of the library (``from cosmos_remote import DbtDag`` /
  ``from cosmos import DbtDag``) plus the first ``DbtDag(...)`` call, which also imports the operator modules and
  the Google provider lazily. Each size runs ``FRESH_RUNS`` fresh processes per tool (3; 1 at 5,000 models, where
  the import is a small share and one process costs ~15 s of CPU), alternating tools; the median is reported.
  The first of them then builds the DAG ``WARM_RUNS`` more times in the same (warm) process (5; 3 at 5,000 models,
  to keep the whole run near 5 minutes) with a ``gc.collect()`` between builds, outside the timing; their median is
  the construction cost alone.
  Every wall time comes with the process's CPU time: on a shared machine (2 cores here) other work inflates wall
  times, hardly CPU times; the 1-minute load average before each process is recorded too.
* **Same footing.** Each tool runs in its own Python environment (``.venv`` for cosmos_remote; astronomer-cosmos in
  ``.venv/tools/cosmos``, installed here from the hashed ``benchmarks/requirements-cosmos.lock`` when missing) with
  its own empty ``AIRFLOW_HOME``; no database is needed to construct a DAG. Installed packages are byte-compiled on
  both sides: cosmos_remote is an editable install without ``.pyc`` files (these machines set
  ``PYTHONDONTWRITEBYTECODE=1``), so the benchmark byte-compiles a copy of the working tree's package into the
  temporary folder and puts it first on ``PYTHONPATH``, as a wheel install would be.
* **Cosmos execution mode.** ``ExecutionMode.AIRFLOW_ASYNC`` (the counterpart of cosmos_remote) is tried first; when
  Cosmos cannot build it, ``ExecutionMode.LOCAL`` (builds without dbt or network) is used and the reason is recorded.
* **Target.** At 1,000 models, ``<= 1 s``, judged on the fresh-process number (import + first construction);
  whether its CPU time and the warm median meet it is reported too. When the fresh number misses, cProfile records
  where a fresh process and a warm construction spend their time, and the top hotspots go into the results.

Run: ``make bench BENCH=parse`` (or ``python -m benchmarks parse``). Writes ``benchmarks/results/parse.json``.
"""

from __future__ import annotations

import compileall
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from benchmarks._common import run_json_child, write_results
from benchmarks._dagprocessor import DAGPROCESSOR_RUNS, run_dagprocessor, summarize_dagprocessor
from benchmarks._parse_targets import print_scale_targets, scale_targets

SIZES: Final = (100, 1_000, 5_000)
# Fresh processes, and warm constructions in the first of them, per size (medians are reported). At 5,000 models a
# construction costs ~12-20 s of CPU and the import is a small share of a fresh process: fewer runs there keep the
# whole benchmark near 5 minutes on 2 cores.
FRESH_RUNS: Final = {100: 3, 1_000: 3, 5_000: 1}
WARM_RUNS: Final = {100: 5, 1_000: 5, 5_000: 3}
TARGET_MODELS: Final = 1_000
TARGET_SECONDS: Final = 1.0
HOTSPOTS: Final = 15

HERE: Final = Path(__file__).resolve().parent
REPO: Final = HERE.parent
VENV_BIN: Final = REPO / ".venv" / "bin"
PYTHON: Final = VENV_BIN / "python"
DBT: Final = VENV_BIN / "dbt"
UV: Final = VENV_BIN / "uv"
COSMOS_VENV: Final = REPO / ".venv" / "tools" / "cosmos"
COSMOS_LOCK: Final = HERE / "requirements-cosmos.lock"
COSMOS_STAMP: Final = COSMOS_VENV / ".installed-lock-sha256"
RESULTS: Final = HERE / "results" / "parse.json"

PROFILE: Final = "bench"
TARGET: Final = "dev"
SEEDS: Final = ("raw_customers", "raw_orders", "raw_payments", "raw_products", "raw_stores")
MODELS_PER_FOLDER: Final = 100
PARENT_WINDOW: Final = 200
WORKER_TIMEOUT: Final = 600
COSMOS_MODES: Final = ("AIRFLOW_ASYNC", "LOCAL")

# Runs in a fresh interpreter of either environment: argv[1] is a JSON spec, the result is written to spec["out"].
_WORKER: Final = r"""
import time

_started, _started_cpu = time.perf_counter(), time.process_time()
import gc, json, statistics, sys
from importlib import metadata
from pathlib import Path

spec = json.loads(sys.argv[1])
profiler = None
if spec.get("cprofile"):  # a profiling run: the whole fresh process (imports too), then one warm build
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
root = Path(spec["project_dir"])
manifest = root / "target" / "manifest.json"
profiles = root / "profiles.yml"
result = {"tool": spec["tool"]}


def versions(names):
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


try:
    import pendulum

    start = pendulum.datetime(2026, 1, 1, tz="UTC")
    if spec["tool"] == "cosmos_remote":
        import cosmos_remote
        from cosmos_remote import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig

        def build(i):
            return DbtDag(
                dag_id=f"bench_{i}", schedule=None, start_date=start,
                project_config=ProjectConfig(dbt_project_path=root, manifest_path=manifest),
                profile_config=ProfileConfig(profile_name=spec["profile_name"], target_name=spec["target"],
                                             profiles_yml_filepath=profiles),
                execution_config=ExecutionConfig(remote_target_path="gs://bench-bucket/cosmos"),
            )

        result["module"] = cosmos_remote.__file__
    else:
        import cosmos
        from cosmos import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
        from cosmos.constants import ExecutionMode, LoadMode

        mode = ExecutionMode[spec["mode"]]
        extra = {"async_py_requirements": ["dbt-bigquery"]} if spec["mode"] == "AIRFLOW_ASYNC" else {}

        def build(i):
            return DbtDag(
                dag_id=f"bench_{i}", schedule=None, start_date=start,
                project_config=ProjectConfig(dbt_project_path=root, manifest_path=manifest, project_name="bench"),
                profile_config=ProfileConfig(profile_name=spec["profile_name"], target_name=spec["target"],
                                             profiles_yml_filepath=profiles),
                render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST),
                execution_config=ExecutionConfig(execution_mode=mode, **extra),
            )

        result["module"] = cosmos.__file__
    result["import_s"] = time.perf_counter() - _started
    result["import_cpu_s"] = time.process_time() - _started_cpu

    began, began_cpu = time.perf_counter(), time.process_time()
    dag = build(0)
    result["first_s"] = time.perf_counter() - began
    result["first_cpu_s"] = time.process_time() - began_cpu
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["cprofile"] + ".fresh")
    result["tasks"] = len(dag.tasks)
    result["task_types"] = sorted({type(t).__name__ for t in dag.tasks})
    warm, warm_cpu = [], []
    for i in range(1, spec["warm_runs"] + 1):
        dag = None
        gc.collect()
        if profiler is not None and i == 1:
            profiler = cProfile.Profile()
            profiler.enable()
        began, began_cpu = time.perf_counter(), time.process_time()
        dag = build(i)
        warm.append(time.perf_counter() - began)
        warm_cpu.append(time.process_time() - began_cpu)
        if profiler is not None and i == 1:
            profiler.disable()
            profiler.dump_stats(spec["cprofile"] + ".warm")
    result["warm_s"], result["warm_cpu_s"] = warm, warm_cpu
    result["versions"] = versions(spec["packages"])
    result["python"] = sys.version.split()[0]
except Exception as exc:  # reported to the parent, which decides what it means
    result["error"] = f"{type(exc).__name__}: {exc}"[:500]
Path(spec["out"]).write_text(json.dumps(result))
"""

_VERSIONED: Final = (
    "apache-airflow",
    "apache-airflow-core",
    "apache-airflow-task-sdk",
    "apache-airflow-providers-google",
    "astronomer-cosmos",
    "cosmos-remote",
    "dbt-core",
    "dbt-bigquery",
    "pendulum",
)


@dataclass
class Side:
    """One tool's environment: its interpreter, environment variables and (for Cosmos) availability."""

    tool: str
    python: Path
    env: dict[str, str]
    available: bool = True
    reason: str | None = None
    mode: str | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- project generation


def _layer(index: int, count: int) -> tuple[str, str, str]:
    """(folder, name prefix, materialization) of model ``index``: 20% staging, 30% intermediate, 50% marts."""
    share = index / count
    if share < 0.2:
        return "staging", "stg", "view"
    if share < 0.5:
        return "intermediate", "int", "table"
    return "marts", "fct", "incremental" if index % 2 else "table"


def _model_sql(index: int, materialized: str, folder: str, refs: list[str]) -> str:
    unique_key = ", unique_key='id'" if materialized == "incremental" else ""
    lines = [f"{{{{ config(materialized='{materialized}', tags=['{folder}']{unique_key}) }}}}", ""]
    lines.append(f"select t0.id, t0.name, coalesce(t0.amount, 0) as amount_{index}")
    for position, ref in enumerate(refs):
        source = "{{ ref('" + ref + "') }}"
        lines.append(f"from {source} as t0" if position == 0 else f"left join {source} as t{position} using (id)")
    if materialized == "incremental":
        lines += ["{% if is_incremental() %}", "where t0.id > (select max(id) from {{ this }})", "{% endif %}"]
    return "\n".join(lines) + "\n"


def _model_yml(name: str, index: int) -> str:
    tests = "not_null, unique" if index % 2 == 0 else "not_null"
    return f"  - name: {name}\n    columns:\n      - name: id\n        data_tests: [{tests}]\n"


def write_project(root: Path, count: int, *, seed: int = 7) -> None:
    """A dbt project of ``count`` models (plus seeds and tests) and a parse-only BigQuery ``profiles.yml``."""
    rng = random.Random(seed)
    (root / "seeds").mkdir(parents=True)
    for name in SEEDS:
        (root / "seeds" / f"{name}.csv").write_text("id,name,amount\n1,a,10\n2,b,20\n")
    (root / "dbt_project.yml").write_text(
        f"name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: {PROFILE}\n"
        "model-paths: [models]\nseed-paths: [seeds]\n"
    )
    names: list[str] = []
    yml: dict[Path, list[str]] = {}
    for index in range(count):
        folder, prefix, materialized = _layer(index, count)
        name = f"{prefix}_{index:05d}"
        directory = root / "models" / folder / f"g{index // MODELS_PER_FOLDER:03d}"
        directory.mkdir(parents=True, exist_ok=True)
        if folder == "staging" or not names:
            refs = [rng.choice(SEEDS)]
        else:
            window = names[-PARENT_WINDOW:]
            refs = rng.sample(window, min(len(window), rng.randint(1, 3)))
        (directory / f"{name}.sql").write_text(_model_sql(index, materialized, folder, refs))
        yml.setdefault(directory / "_models.yml", []).append(_model_yml(name, index))
        names.append(name)
    for path, entries in yml.items():
        path.write_text("version: 2\nmodels:\n" + "".join(entries))
    (root / "profiles.yml").write_text(
        f"{PROFILE}:\n  target: {TARGET}\n  outputs:\n    {TARGET}:\n      type: bigquery\n"
        "      method: oauth-secrets\n      token: parse-only\n      project: bench-project\n"
        "      dataset: bench\n      location: US\n      threads: 4\n"
    )


def _dbt_parse_command(root: Path) -> list[str]:
    return [
        str(DBT),
        "parse",
        "--project-dir",
        str(root),
        "--profiles-dir",
        str(root),
        "--target-path",
        str(root / "target"),
        "--log-path",
        str(root / "logs"),
        "--no-partial-parse",
    ]


def _dbt_env() -> dict[str, str]:
    return {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}


def _parse(root: Path) -> float:
    """Run ``dbt parse`` on ``root``; its wall seconds."""
    started = time.perf_counter()
    result = subprocess.run(
        _dbt_parse_command(root), capture_output=True, text=True, env=_dbt_env(), timeout=WORKER_TIMEOUT, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or not (root / "target" / "manifest.json").is_file():
        output = result.stdout + result.stderr
        raise RuntimeError(f"dbt parse of {root} failed (exit {result.returncode}):\n{output[-3000:]}")
    return elapsed


def manifest_summary(root: Path) -> dict[str, Any]:
    path = root / "target" / "manifest.json"
    raw = json.loads(path.read_text())
    nodes = raw["nodes"].values()
    return {
        "manifest_bytes": path.stat().st_size,
        "dbt_schema_version": raw["metadata"]["dbt_schema_version"],
        "dbt_version": raw["metadata"]["dbt_version"],
        "resource_types": dict(Counter(n["resource_type"] for n in nodes)),
        "materializations": dict(Counter(n["config"]["materialized"] for n in nodes if n["resource_type"] == "model")),
    }


def generate_manifests(work: Path, pool: ThreadPoolExecutor) -> dict[int, dict[str, Any]]:
    """Write and ``dbt parse`` a project per size; the largest parses in ``pool`` while the others run in turn."""
    roots = {count: work / "projects" / f"models_{count}" for count in SIZES}
    for count, root in roots.items():
        write_project(root, count)
    largest = max(SIZES)
    background = pool.submit(_parse, roots[largest])
    info: dict[int, dict[str, Any]] = {count: {"dbt_parse_s": _parse(roots[count])} for count in sorted(SIZES)[:-1]}
    info[largest] = {"dbt_parse_s": background.result()}
    for count, root in roots.items():
        info[count].update(project_dir=str(root), **manifest_summary(root))
    return info


# ---------------------------------------------------------------- environments


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(command: list[str], *, timeout: float = WORKER_TIMEOUT) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"`{' '.join(command[:3])} ...` failed (exit {result.returncode}): {' | '.join(tail)}")


def ensure_cosmos_env() -> tuple[float | None, str | None]:
    """Create ``.venv/tools/cosmos`` from the lock when missing or stale: (install seconds or None, error or None)."""
    lock_hash = _sha256(COSMOS_LOCK)
    python = COSMOS_VENV / "bin" / "python"
    if python.is_file() and COSMOS_STAMP.is_file() and COSMOS_STAMP.read_text().strip() == lock_hash:
        return None, None
    started = time.perf_counter()
    try:
        shutil.rmtree(COSMOS_VENV, ignore_errors=True)
        _run(["python3", "-m", "venv", str(COSMOS_VENV)])
        install = [str(UV), "pip", "install", "--python", str(python), "--compile-bytecode", "--require-hashes"]
        _run([*install, "-r", str(COSMOS_LOCK)])
        _run([str(python), "-c", "import cosmos"])
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        return time.perf_counter() - started, f"{type(exc).__name__}: {exc}"[:300]
    COSMOS_STAMP.write_text(lock_hash + "\n")
    return time.perf_counter() - started, None


def _base_env(airflow_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    airflow_home.mkdir(parents=True, exist_ok=True)
    env.update(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__COSMOS__ENABLE_TELEMETRY="False",
        AIRFLOW__COSMOS__REMOTE_TARGET_PATH="gs://bench-bucket/cosmos",
        DO_NOT_TRACK="1",
        SCARF_NO_ANALYTICS="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def compiled_copy(work: Path) -> Path:
    """The working tree's ``cosmos_remote`` copied and byte-compiled under ``work`` (an installed wheel's state)."""
    site = work / "site"
    shutil.copytree(REPO / "cosmos_remote", site / "cosmos_remote", ignore=shutil.ignore_patterns("__pycache__"))
    if not compileall.compile_dir(site / "cosmos_remote", quiet=1):
        raise RuntimeError("byte-compiling the cosmos_remote copy failed")
    return site


def make_sides(work: Path, install_error: str | None) -> tuple[Side, Side]:
    remote_env = _base_env(work / "airflow-home-cosmos_remote")
    remote_env["PYTHONPATH"] = str(compiled_copy(work))
    remote = Side("cosmos_remote", PYTHON, remote_env)
    cosmos = Side("cosmos", COSMOS_VENV / "bin" / "python", _base_env(work / "airflow-home-cosmos"))
    if install_error:
        cosmos.available, cosmos.reason = False, f"install failed: {install_error}"
    return remote, cosmos


# ---------------------------------------------------------------- measuring


def run_worker(
    side: Side, project_dir: str, work: Path, *, warm_runs: int, profile: Path | None = None
) -> dict[str, Any]:
    """One fresh interpreter: import, first construction, ``warm_runs`` more. Returns the worker's result."""
    spec = {
        "tool": side.tool,
        "project_dir": project_dir,
        "profile_name": PROFILE,
        "target": TARGET,
        "cprofile": str(profile) if profile else None,
        "warm_runs": warm_runs,
        "mode": side.mode,
        "packages": list(_VERSIONED),
    }
    return run_json_child(
        side.python, _WORKER, spec, env=side.env, work=work, name=f"{side.tool}-worker", timeout=WORKER_TIMEOUT
    )


def _error(result: dict[str, Any]) -> str | None:
    return str(result["error"]) if "error" in result else None


def choose_cosmos_mode(cosmos: Side, project_dir: str, work: Path) -> None:
    """Try each Cosmos execution mode on the smallest project (warming the page cache); keep the first that builds."""
    for mode in COSMOS_MODES:
        cosmos.mode = mode
        error = _error(run_worker(cosmos, project_dir, work, warm_runs=0))
        if error is None:
            return
        cosmos.notes.append(f"ExecutionMode.{mode} does not build: {error}")
    cosmos.available, cosmos.mode = False, None
    cosmos.reason = "; ".join(cosmos.notes)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the fresh processes and over the warm constructions of the first one (wall and CPU seconds)."""
    errors = [error for run in runs if (error := _error(run))]
    if errors:
        return {"error": errors[0]}
    fresh = [
        {
            "import_s": r["import_s"],
            "first_build_s": r["first_s"],
            "total_s": r["import_s"] + r["first_s"],
            "total_cpu_s": r["import_cpu_s"] + r["first_cpu_s"],
            "load_average_1m": r["load_before"],
        }
        for r in runs
    ]
    warm = [t for r in runs for t in r["warm_s"]]
    warm_cpu = [t for r in runs for t in r["warm_cpu_s"]]
    return {
        "fresh_median_s": _median([f["total_s"] for f in fresh]),
        "fresh_median_cpu_s": _median([f["total_cpu_s"] for f in fresh]),
        "import_median_s": _median([f["import_s"] for f in fresh]),
        "first_build_median_s": _median([f["first_build_s"] for f in fresh]),
        "warm_median_s": _median(warm),
        "warm_median_cpu_s": _median(warm_cpu),
        "fresh_runs": fresh,
        "warm_runs_s": warm,
        "warm_runs_cpu_s": warm_cpu,
        "tasks": runs[0]["tasks"],
        "warm_cpu_ms_per_task": round(1000 * statistics.median(warm_cpu) / runs[0]["tasks"], 3) if warm_cpu else None,
        "fresh_processes": len(runs),
        "task_types": runs[0]["task_types"],
        "versions": runs[0]["versions"],
    }


def _alternating(sides: list[Side], rounds: int, run: Callable[[Side, int], dict[str, Any]]) -> dict[str, list[Any]]:
    """``rounds`` runs per tool, alternating which tool goes first; a tool stops after its first error."""
    results: dict[str, list[dict[str, Any]]] = {side.tool: [] for side in sides}
    for round_ in range(rounds):
        for side in sides if round_ % 2 == 0 else sides[::-1]:
            if not (results[side.tool] and _error(results[side.tool][-1])):
                results[side.tool].append(run(side, round_))
    return results


def measure_size(sides: list[Side], count: int, project_dir: str, work: Path) -> dict[str, dict[str, Any]]:
    """``FRESH_RUNS`` fresh processes per tool (the first also runs warm), then ``DAGPROCESSOR_RUNS``
    dag-processor children per tool, each alternating which tool goes first."""
    runs = _alternating(
        sides,
        FRESH_RUNS[count],
        lambda side, round_: run_worker(side, project_dir, work, warm_runs=WARM_RUNS[count] if round_ == 0 else 0),
    )
    children = _alternating(
        sides,
        DAGPROCESSOR_RUNS[count],
        lambda side, _: run_dagprocessor(
            tool=side.tool,
            python=side.python,
            env=side.env,
            project_dir=project_dir,
            work=work,
            profile=PROFILE,
            target=TARGET,
            mode=side.mode,
        ),
    )
    return {tool: {**summarize(results), **summarize_dagprocessor(children[tool])} for tool, results in runs.items()}


def _ratio(cosmos: dict[str, Any] | None, remote: dict[str, Any], key: str) -> float | None:
    if not cosmos or cosmos.get(key) is None or remote.get(key) is None:
        return None
    return float(cosmos[key]) / float(remote[key])


# ---------------------------------------------------------------- profiling


def _short_path(filename: str) -> str:
    for marker in ("site-packages/", "/site/", f"python{sys.version_info.major}.{sys.version_info.minor}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _package(filename: str) -> str:
    if filename.startswith("<frozen importlib"):
        return "import machinery"
    if filename == "~":
        return "builtins (C functions)"
    short = _short_path(filename)
    if short == filename:
        return "other"
    head = short.split("/", 1)[0].removesuffix(".py")
    return head if "site-packages/" in filename or head == "cosmos_remote" else f"stdlib {head}"


def _where(filename: str, function: str) -> str:
    return f"builtin:{function}" if filename == "~" else f"{_short_path(filename)}:{function}"


def hotspots(path: Path, top: int = HOTSPOTS) -> dict[str, Any]:
    """The top functions by own time, own time per package, and cosmos_remote's heaviest calls, from a cProfile."""
    import pstats

    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = [
        (filename, f"{line}:{function}" if line else function, tt, ct, nc)
        for (filename, line, function), (_, nc, tt, ct, _) in stats.items()
    ]
    total = sum(row[2] for row in rows)
    per_package: Counter[str] = Counter()
    for filename, _, tt, _, _ in rows:
        per_package[_package(filename)] += tt
    imports = max(
        (ct for filename, fn, _, ct, _ in rows if fn.endswith(":_find_and_load") and "importlib" in filename), default=0
    )
    own = sorted(rows, key=lambda row: row[2], reverse=True)[:top]
    mine = sorted((row for row in rows if "cosmos_remote/" in row[0]), key=lambda row: row[3], reverse=True)[:top]
    return {
        "profiled_s": round(total, 3),
        "imports_cumulative_s": round(imports, 3),
        "own_time_by_package_s": {k: round(v, 3) for k, v in per_package.most_common(12)},
        "top_own_time": [
            {"where": _where(f, fn), "own_s": round(tt, 3), "cumulative_s": round(ct, 3), "calls": nc}
            for f, fn, tt, ct, nc in own
        ],
        "top_cumulative_cosmos_remote": [
            {"where": _where(f, fn), "own_s": round(tt, 3), "cumulative_s": round(ct, 3), "calls": nc}
            for f, fn, tt, ct, nc in mine
        ],
    }


def profile_remote(remote: Side, project_dir: str, work: Path, count: int) -> dict[str, Any]:
    """cProfile one fresh cosmos_remote process (imports + first build) and one warm build."""
    prefix = work / f"cosmos_remote-{count}.prof"
    result = run_worker(remote, project_dir, work, warm_runs=1, profile=prefix)
    if error := _error(result):
        return {"error": error}
    return {
        "models": count,
        "note": "cProfile inflates times (about 1.5-2x); shares between entries are what to read",
        "fresh_process": hotspots(Path(f"{prefix}.fresh")),
        "warm_build": hotspots(Path(f"{prefix}.warm")),
    }


# ---------------------------------------------------------------- report


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    result = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


def environment(versions: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "git_commit": _git_commit(),
        "package_versions": versions,
    }


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cell(entry: dict[str, Any] | None, key: str) -> str:
    """``wall (cpu)`` seconds of ``key``, or why there is no number."""
    if entry is None or "error" in entry or "not_available" in entry:
        reason = (entry or {}).get("error") or (entry or {}).get("not_available") or "not run"
        return f"not available: {reason}"[:60]
    return f"{_seconds(entry.get(key))} ({_seconds(entry.get(key.replace('_s', '_cpu_s')))})"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        "models",
        "cosmos_remote fresh s",
        "cosmos_remote warm median s",
        "Cosmos fresh s",
        "Cosmos warm median s",
        "cosmos_remote dag-processor s",
        "Cosmos dag-processor s",
        "ratio fresh",
        "ratio warm",
        "ratio dag-processor",
    )
    lines = [header]
    for row in rows:
        remote, other = row["cosmos_remote"], row["cosmos"]
        lines.append(
            (
                f"{row['models']:,}",
                _cell(remote, "fresh_median_s"),
                _cell(remote, "warm_median_s"),
                _cell(other, "fresh_median_s"),
                _cell(other, "warm_median_s"),
                _cell(remote, "dagprocessor_median_s"),
                _cell(other, "dagprocessor_median_s"),
                f"{_times(row['ratio_fresh'])} ({_times(row['ratio_fresh_cpu'])})",
                f"{_times(row['ratio_warm'])} ({_times(row['ratio_warm_cpu'])})",
                f"{_times(row['ratio_dagprocessor'])} ({_times(row['ratio_dagprocessor_cpu'])})",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        cells = zip(line, widths, strict=True)
        print("  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in enumerate(cells)))
        if number == 0:
            print("  ".join("-" * width for width in widths))
    fresh = ", ".join(f"{runs} at {count:,}" for count, runs in FRESH_RUNS.items())
    warm = ", ".join(f"{runs} at {count:,}" for count, runs in WARM_RUNS.items())
    print(
        "Medians of wall seconds (CPU seconds of the process in parentheses). fresh = import + first DbtDag(...) in a "
        f"fresh process ({fresh} models); warm = further DbtDag(...) in that process ({warm}); "
        "dag-processor = a fresh child running the DAG file as Airflow's dag-processor does (DagBag load, "
        "serialization, the frame sent to the manager); ratio = Cosmos / cosmos_remote."
    )


def print_hotspots(profile: dict[str, Any]) -> None:
    if "error" in profile:
        print(f"profiling failed: {profile['error']}")
        return
    for phase in ("fresh_process", "warm_build"):
        data = profile[phase]
        print(
            f"\ncProfile, cosmos_remote at {profile['models']:,} models, {phase.replace('_', ' ')}: "
            f"{data['profiled_s']:.2f} s profiled, imports {data['imports_cumulative_s']:.2f} s cumulative"
        )
        shares = ", ".join(f"{k} {v:.2f}" for k, v in list(data["own_time_by_package_s"].items())[:6])
        print(f"  own time by package (s): {shares}")
        for entry in data["top_own_time"][:8]:
            print(f"  {entry['own_s']:7.3f} own {entry['cumulative_s']:7.3f} cum {entry['calls']:>8}  {entry['where']}")


# ---------------------------------------------------------------- main


def _method() -> dict[str, Any]:
    return {
        "manifests": "generated dbt projects parsed by the real `dbt parse` (.venv); both tools read the same file",
        "fresh": "median over fresh interpreters (count per size: fresh_processes) of import + first DbtDag(...)",
        "warm": "median of further constructions in the first process (count per size: warm_runs_s; "
        "gc.collect() between them, untimed)",
        "ratio": "Cosmos seconds / cosmos_remote seconds (wall; *_cpu: CPU seconds)",
        "cpu": "each wall time comes with the process's CPU time (time.process_time), which other load on the "
        "machine hardly changes; environment.load_average_1m and each fresh run's load_average_1m show that load",
        "target": f"<= {TARGET_SECONDS} s at {TARGET_MODELS:,} models, judged on the fresh median (also on CPU)",
        "cosmos_remote_code": "working tree copied to a temporary folder and byte-compiled (as an installed wheel)",
        "isolation": "separate virtualenvs and empty AIRFLOW_HOMEs; processes run one at a time",
    }


def _row(count: int, manifest: dict[str, Any], measured: dict[str, dict[str, Any]], cosmos: Side) -> dict[str, Any]:
    remote_row = measured["cosmos_remote"]
    cosmos_row = measured["cosmos"] if cosmos.available else {"not_available": cosmos.reason}
    return {
        "models": count,
        **{k: v for k, v in manifest.items() if k != "project_dir"},
        "cosmos_remote": remote_row,
        "cosmos": cosmos_row,
        "ratio_fresh": _ratio(cosmos_row, remote_row, "fresh_median_s"),
        "ratio_fresh_cpu": _ratio(cosmos_row, remote_row, "fresh_median_cpu_s"),
        "ratio_warm": _ratio(cosmos_row, remote_row, "warm_median_s"),
        "ratio_warm_cpu": _ratio(cosmos_row, remote_row, "warm_median_cpu_s"),
        "ratio_dagprocessor": _ratio(cosmos_row, remote_row, "dagprocessor_median_s"),
        "ratio_dagprocessor_cpu": _ratio(cosmos_row, remote_row, "dagprocessor_median_cpu_s"),
    }


def _target(rows: list[dict[str, Any]]) -> dict[str, Any]:
    at = next(row for row in rows if row["models"] == TARGET_MODELS)["cosmos_remote"]

    def met(key: str) -> bool:
        return at.get(key) is not None and at[key] <= TARGET_SECONDS

    return {
        "models": TARGET_MODELS,
        "seconds": TARGET_SECONDS,
        "metric": "cosmos_remote fresh_median_s (wall: import + first DbtDag in a fresh process)",
        "value_s": at.get("fresh_median_s"),
        "met": met("fresh_median_s"),
        "value_cpu_s": at.get("fresh_median_cpu_s"),
        "met_cpu": met("fresh_median_cpu_s"),
        "warm_median_s": at.get("warm_median_s"),
        "met_warm": met("warm_median_s"),
    }


def _print_target(target: dict[str, Any], cosmos: Side) -> None:
    def verdict(key: str) -> str:
        return "met" if target[key] else "MISSED"

    print(
        f"target <= {TARGET_SECONDS} s at {TARGET_MODELS:,} models: fresh {_seconds(target['value_s'])} s "
        f"({verdict('met')}; CPU {_seconds(target['value_cpu_s'])} s, {verdict('met_cpu')}), "
        f"warm {_seconds(target['warm_median_s'])} s ({verdict('met_warm')})"
    )
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        print(f"note: load average {load:.1f} on {os.cpu_count()} cores: other work shares this machine, wall > CPU")
    if cosmos.available:
        print(f"Cosmos: LoadMode.DBT_MANIFEST, ExecutionMode.{cosmos.mode}" + "".join(f"; {n}" for n in cosmos.notes))
    else:
        print(f"Cosmos not available: {cosmos.reason}")


def _cosmos_info(cosmos: Side, install_s: float | None) -> dict[str, Any]:
    return {
        "available": cosmos.available,
        "reason": cosmos.reason,
        "load_mode": "LoadMode.DBT_MANIFEST",
        "execution_mode": cosmos.mode,
        "notes": cosmos.notes,
        "environment": str(COSMOS_VENV.relative_to(REPO)),
        "lock": str(COSMOS_LOCK.relative_to(REPO)),
        "install_s": install_s,
        "install_note": "the environment was already installed from the same lock"
        if install_s is None
        else "installed during this run, alongside dbt parse (whose times it may inflate)",
    }


def prepare(work: Path) -> tuple[dict[int, dict[str, Any]], Side, Side, float | None]:
    """Manifests for every size, both sides' environments (installing Cosmos's meanwhile) and Cosmos's mode."""
    print("generating projects, running dbt parse (and installing Cosmos's environment if missing) ...", flush=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        install = pool.submit(ensure_cosmos_env)
        manifests = generate_manifests(work, pool)
        install_s, install_error = install.result()
    for count in SIZES:
        print(f"  {count:>5,} models: dbt parse {manifests[count]['dbt_parse_s']:.1f} s", flush=True)
    if install_s is not None:
        print(f"  Cosmos side environment: {install_error or 'installed'} in {install_s:.1f} s", flush=True)
    remote, cosmos = make_sides(work, install_error)
    smallest = manifests[min(SIZES)]["project_dir"]
    run_worker(remote, smallest, work, warm_runs=0)  # warm-up (page cache), as Cosmos's mode probe is for Cosmos
    if cosmos.available:
        choose_cosmos_mode(cosmos, smallest, work)
    return manifests, remote, cosmos, install_s


def main() -> None:
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        work = Path(tmp)
        manifests, remote, cosmos, install_s = prepare(work)
        sides = [remote, cosmos] if cosmos.available else [remote]
        rows: list[dict[str, Any]] = []
        versions: dict[str, dict[str, str]] = {}
        for count in SIZES:
            print(f"measuring {count:,} models ...", flush=True)
            measured = measure_size(sides, count, manifests[count]["project_dir"], work)
            for tool, entry in measured.items():
                versions.setdefault(tool, entry.pop("versions", {}))
            rows.append(_row(count, manifests[count], measured, cosmos))
        target = _target(rows)
        targets = scale_targets(rows)
        profile = None
        if not target["met"]:
            print(f"target missed at {TARGET_MODELS:,} models: profiling ...", flush=True)
            profile = profile_remote(remote, manifests[TARGET_MODELS]["project_dir"], work, TARGET_MODELS)
    print()
    print_table(rows)
    _print_target(target, cosmos)
    print_scale_targets(targets)
    if profile:
        print_hotspots(profile)
    env = environment(versions)
    env["load_average_1m"] = {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)}
    results = {
        "benchmark": "parse",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sizes": list(SIZES),
        "method": _method(),
        "target": target,
        "targets": targets,
        "results": rows,
        "cosmos": _cosmos_info(cosmos, install_s),
        "hotspots": profile,
        "environment": env,
        "total_s": round(time.perf_counter() - started, 1),
    }
    write_results(RESULTS, results)
    print(f"(benchmark took {results['total_s']} s)")


if __name__ == "__main__":
    main()
