"""What a DAG run leaves, as ``dbt build`` does: run-level hooks once, ``run_results.json`` and ``manifest.json``.

A real ``dag.test()`` on the emulators of a project with on-run-start and on-run-end hooks, a model that fails when
its job runs (and one downstream of it), a test that warns, one that fails and one that passes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dbt.artifacts.schemas.manifest import WritableManifest
from dbt.artifacts.schemas.run import RunResultsArtifact

from cosmos_remote.artifacts import ArtifactRef, FsspecArtifactStore
from cosmos_remote.cli import main as cli
from cosmos_remote.testing import LocalGCP, emulator_profiles_yml
from cosmos_remote.testing.airflow import load_dag

DATASET = "run_level"

DAG_FILE = """
# an Airflow DAG file (the DagBag reads only files that say so)
from pathlib import Path

import pendulum

from cosmos_remote import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig

PROJECT = Path({project!r})
dag = DbtDag(
    dag_id="run_level",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    project_config=ProjectConfig(dbt_project_path=PROJECT),
    profile_config=ProfileConfig(
        profile_name="hooks", target_name="dev", profiles_yml_filepath=PROJECT / "profiles.yml",
        conn_id="google_cloud_default",
    ),
    execution_config=ExecutionConfig(remote_target_path={root!r}, remote_target_path_conn_id="google_cloud_default"),
)
"""

LOG = "`{{ target.project }}`.`{{ target.schema }}`.`run_log`"
PROJECT_YML = f"""
name: hooks
version: "1.0"
config-version: 2
profile: hooks
on-run-start:
  - "create table if not exists {LOG} (event string)"
  - "insert into {LOG} (event) values ('start')"
on-run-end:
  - "insert into {LOG} (event) values ('end')"
"""
SCHEMA_YML = """
version: 2
models:
  - name: good
    columns:
      - name: id
        data_tests:
          - unique
          - accepted_values:
              values: [2]
              config: {severity: warn}
      - name: label
        data_tests:
          - not_null
"""


def _project(root: Path) -> Path:
    files = {
        "dbt_project.yml": PROJECT_YML,
        "profiles.yml": emulator_profiles_yml("hooks", dataset=DATASET, threads=1),
        "models/good.sql": "select 1 as id, cast(null as string) as label",
        # renders (dbt does not look the table up), fails when its job runs
        "models/bad.sql": "select * from `{{ target.project }}`.`{{ target.schema }}`.`no_such_table`",
        "models/after_bad.sql": "select * from {{ ref('bad') }}",
        "models/schema.yml": SCHEMA_YML,
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def failed_run(
    local_gcp_session: LocalGCP, airflow_dags_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    gcp = local_gcp_session
    gcp.create_dataset(DATASET)
    project = _project(tmp_path_factory.mktemp("hooks") / "hooks")
    root = f"{gcp.remote_target_path}/run-level"
    (airflow_dags_folder / "run_level.py").write_text(DAG_FILE.format(project=str(project), root=root))
    dag = load_dag(airflow_dags_folder, "run_level")
    before = len(gcp.job_log()["inserts"])
    dag_run = dag.test()
    instances = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    setup = instances["dbt_setup"].xcom_pull(task_ids="dbt_setup")
    store = FsspecArtifactStore(root=setup["root"], storage_options={"token": "anon"})
    return {
        "gcp": gcp,
        "dag": dag,
        "dag_run": dag_run,
        "states": {task_id: ti.state for task_id, ti in instances.items()},
        "inserts": gcp.job_log()["inserts"][before:],
        "store": store,
        "ref": ArtifactRef.from_xcom(setup),
    }


def test_the_run_fails_as_dbt_build_exits_1_and_every_task_ran_or_was_skipped(failed_run: dict[str, Any]) -> None:
    states = failed_run["states"]
    assert failed_run["dag_run"].state == "failed"
    assert states["dbt_on_run_start"] == "success"
    assert states["bad.run"] == "failed"
    assert states["after_bad.run"] == "upstream_failed"
    assert states["good.run"] == "success"
    assert states["good.test"] == "failed", "not_null on a null column fails"
    assert states["dbt_on_run_end"] == "success", "on-run-end runs after a failure, as dbt runs it"
    assert states["dbt_run_results"] == "failed"


def test_run_level_hooks_run_once_per_dag_run_and_not_in_any_node(failed_run: dict[str, Any]) -> None:
    rows = failed_run["gcp"].bigquery_client().query(f"select event from `{DATASET}.run_log`").result()
    assert sorted(row["event"] for row in rows) == ["end", "start"]
    hook_jobs = [job for job in failed_run["inserts"] if job["accepted"] and "on_run" in job["job_id"]]
    assert len(hook_jobs) == 2, hook_jobs
    store, ref = failed_run["store"], failed_run["ref"]
    for unique_id in ("model.hooks.good", "model.hooks.bad", "model.hooks.after_bad"):
        script = store.fetch(ref=ref, unique_id=unique_id).decode()
        assert "run_log" not in script, f"{unique_id} carries a run-level hook"
    start = store.fetch(ref=ref, unique_id="operation.hooks.on-run-start").decode()
    assert "insert into" in start
    assert "'start'" in start


def test_run_results_json_is_dbts_schema_with_each_nodes_status(failed_run: dict[str, Any], tmp_path: Path) -> None:
    store, ref = failed_run["store"], failed_run["ref"]
    data = store.read_dbt_artifact(uri=ref.uri, name="run_results.json")
    (tmp_path / "run_results.json").write_bytes(data)
    artifact = RunResultsArtifact.read_and_check_versions(str(tmp_path / "run_results.json"))
    results = {r.unique_id: r for r in artifact.results}
    statuses = {uid.split(".")[-2 if uid.startswith("test.") else -1]: str(r.status) for uid, r in results.items()}
    assert statuses == {
        "good": "success",
        "bad": "error",
        "after_bad": "skipped",
        "unique_good_id": "pass",
        "accepted_values_good_id__2": "warn",
        "not_null_good_label": "fail",
    }
    bad = results["model.hooks.bad"]
    assert "no_such_table" in (bad.message or "")
    assert bad.adapter_response["job_id"]
    good = results["model.hooks.good"]
    assert good.adapter_response["job_id"].startswith("cosmos_run_level__good_run")
    assert good.relation_name == f"`{failed_run['gcp'].project}`.`{DATASET}`.`good`"
    assert good.execution_time >= 0
    assert [t.name for t in good.timing] == ["compile", "execute"]
    failing = next(r for uid, r in results.items() if "not_null_good_label" in uid)
    assert failing.failures == 1
    assert artifact.metadata.invocation_id
    manifest = WritableManifest.from_dict(json.loads(store.read_dbt_artifact(uri=ref.uri, name="manifest.json")))
    assert set(results) <= set(manifest.nodes)


def test_report_prints_each_node_and_the_total_cost(
    failed_run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ref = failed_run["ref"]
    assert cli(["report", ref.uri, "--conn-id", "google_cloud_default"]) == 0
    out = capsys.readouterr().out
    assert "model.hooks.good" in out
    assert "error" in out
    assert "TOTAL" in out
    assert cli(["report", ref.uri, "--conn-id", "google_cloud_default", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {row["unique_id"] for row in report["nodes"]} >= {"model.hooks.good", "model.hooks.bad"}
    assert report["price_per_tib_usd"] == 6.25
