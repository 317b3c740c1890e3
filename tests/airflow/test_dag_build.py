"""Building DbtDag / DbtTaskGroup at parse time: tasks, dependencies, operator classes, assets, errors."""

from __future__ import annotations

import gc
import json
import socket
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator
from airflow.sdk import DAG
from airflow.sdk.bases.operator import BaseOperator
from airflow.sdk.exceptions import DuplicateTaskIdFound

from cosmos_remote import (
    DbtDag,
    DbtTaskGroup,
    ExecutionConfig,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
    TestBehavior,
)
from cosmos_remote.backends.registry import UnknownProfileTypeError
from cosmos_remote.config import ConfigError
from cosmos_remote.dbt.plan import DependencyCycleError
from cosmos_remote.dbt.selection import SelectionError
from cosmos_remote.operators.factory import DbtRunAirflowAsyncFactoryOperator, DbtTestAirflowAsyncFactoryOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@pytest.fixture
def configs(example_project: Path, example_profiles: Path, example_manifest: Path) -> dict[str, Any]:
    return {
        "project_config": ProjectConfig(dbt_project_path=example_project, manifest_path=example_manifest),
        "profile_config": ProfileConfig(
            profile_name="jaffle_shop", target_name="dev", profiles_yml_filepath=example_profiles / "profiles.yml"
        ),
        "execution_config": ExecutionConfig(remote_target_path="gs://bucket/cosmos"),
    }


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tripwire: any socket connection during the test fails it."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"network access at DAG parse time: connect({address!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def upstream(dag: DAG, task_id: str) -> set[str]:
    return set(dag.task_dict[task_id].upstream_task_ids)


def test_dbt_dag_mirrors_the_dbt_graph(configs: dict[str, Any], no_network: None) -> None:
    dag = DbtDag(dag_id="jaffle", schedule=None, start_date=START, **configs)
    ids = set(dag.task_dict)
    assert "dbt_setup" in ids
    assert {"stg_orders.run", "stg_orders.test", "orders.run", "orders.test", "raw_orders.seed"} <= ids
    assert "customers_snapshot.snapshot" in ids
    assert not any("int_order_payments" in t for t in ids), "ephemeral models become no task"
    # the ephemeral int_order_payments sits between stg_payments and orders: the dependency passes through it
    assert upstream(dag, "orders.run") == {"stg_orders.test", "stg_payments.test"}
    assert upstream(dag, "raw_orders.seed") == {"dbt_setup"}
    # the relationships test also waits for the model it refers to
    assert upstream(dag, "stg_orders.test") == {"stg_orders.run", "stg_customers.run"}
    assert not [t for t in dag.tasks if "teardown" in t.task_id], "no task deletes the published SQL"
    # the last task writes run_results.json once every dbt task is done, whatever its state
    last = dag.task_dict["dbt_run_results"]
    assert last.trigger_rule == "all_done"
    assert not last.downstream_task_ids
    assert upstream(dag, "dbt_run_results") == ids - {"dbt_run_results"}
    assert not {"dbt_on_run_start", "dbt_on_run_end"} & ids, "the example project has no run hooks"


def test_operator_args_reach_the_tasks_that_take_them(configs: dict[str, Any]) -> None:
    dag = DbtDag(
        dag_id="args",
        schedule=None,
        start_date=START,
        operator_args={"full_refresh": "{{ params.full_refresh }}", "poll_interval": 7, "retries": 2},
        params={"full_refresh": False},
        **configs,
    )
    setup, run = dag.task_dict["dbt_setup"], dag.task_dict["orders.run"]
    assert setup.full_refresh == "{{ params.full_refresh }}"
    assert setup.retries == run.retries == 2
    assert run.poll_interval == 7


def test_tasks_are_real_provider_operators_made_by_the_factory(configs: dict[str, Any]) -> None:
    dag = DbtDag(dag_id="jaffle", schedule=None, start_date=START, **configs)
    run, test = dag.task_dict["orders.run"], dag.task_dict["orders.test"]
    assert isinstance(run, BigQueryInsertJobOperator)
    assert isinstance(run, DbtRunAirflowAsyncFactoryOperator)
    assert isinstance(test, BigQueryInsertJobOperator)
    assert isinstance(test, DbtTestAirflowAsyncFactoryOperator)
    assert run.deferrable is True
    assert type(run) is type(dag.task_dict["stg_orders.run"]), "one class per backend, reused"
    assert "sql" in run.template_fields
    assert run.template_fields_renderers["sql"] == "sql"


def test_outlets_use_the_real_relation(configs: dict[str, Any]) -> None:
    dag = DbtDag(dag_id="jaffle", schedule=None, start_date=START, **configs)
    assert [a.uri for a in dag.task_dict["customers.run"].outlets] == [
        "bigquery://local-project/jaffle_shop_marts/dim_customers"
    ]


def test_selection_and_test_behaviors(configs: dict[str, Any]) -> None:
    only_staging = DbtDag(
        dag_id="staging",
        schedule=None,
        start_date=START,
        render_config=RenderConfig(select=["path:models/staging"], test_behavior=TestBehavior.NONE),
        **configs,
    )
    assert {t.task_id for t in only_staging.tasks} == {
        "dbt_setup",
        "stg_orders.run",
        "stg_customers.run",
        "stg_payments.run",
        "dbt_run_results",
    }
    after_all = DbtDag(
        dag_id="after_all",
        schedule=None,
        start_date=START,
        render_config=RenderConfig(test_behavior=TestBehavior.AFTER_ALL),
        **configs,
    )
    test_ids = [t for t in after_all.task_dict if t.startswith("tests.")]
    assert "tests.orders" in test_ids
    runs = {t for t in after_all.task_dict if t.endswith((".run", ".seed", ".snapshot"))}
    assert upstream(after_all, "tests.orders") == runs


def test_task_groups_between_other_tasks_publish_to_separate_prefixes(configs: dict[str, Any]) -> None:
    with DAG("pipeline", schedule=None, start_date=START) as dag:
        extract = BaseOperator(task_id="extract")
        first = DbtTaskGroup(group_id="transform", **configs)
        second = DbtTaskGroup(group_id="again", render_config=RenderConfig(select=["stg_orders"]), **configs)
        report = BaseOperator(task_id="report")
        extract >> first >> second >> report
    assert dag.task_dict["transform.dbt_setup"].scope_group == "transform"
    assert dag.task_dict["again.dbt_setup"].scope_group == "again"
    assert "extract" in upstream(dag, "transform.dbt_setup")
    # what follows a group waits for its last task, which fails when a node of the group failed
    assert upstream(dag, "again.dbt_setup") == {"transform.dbt_run_results"}
    assert upstream(dag, "report") == {"again.dbt_run_results"}


def test_duplicate_task_group_ids_fail_at_parse_time(configs: dict[str, Any]) -> None:
    with DAG("dupes", schedule=None, start_date=START):
        DbtTaskGroup(group_id="transform", **configs)
        with pytest.raises(DuplicateTaskIdFound, match="transform"):
            DbtTaskGroup(group_id="transform", **configs)


def test_bad_configuration_is_reported_at_parse_time(configs: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dbt_project_path: .* does not contain a dbt_project.yml"):
        ProjectConfig(dbt_project_path=tmp_path)
    with pytest.raises(ConfigError, match=r"target_name: target 'prod' not found .*\['dev'\]"):
        ProfileConfig(
            profile_name="jaffle_shop",
            target_name="prod",
            profiles_yml_filepath=configs["profile_config"].profiles_yml_filepath,
        )
    with pytest.raises(ConfigError, match="remote_target_path: 'bucket/cosmos' is not a URL"):
        ExecutionConfig(remote_target_path="bucket/cosmos")
    with pytest.raises(SelectionError, match="matches no model"):
        DbtDag(dag_id="x", schedule=None, start_date=START, render_config=RenderConfig(select=["nope"]), **configs)


def test_a_cyclic_manifest_is_refused_naming_the_cycle(configs: dict[str, Any], tmp_path: Path) -> None:
    raw = json.loads(Path(configs["project_config"].manifest_path).read_text())
    raw["nodes"]["model.jaffle_shop.stg_orders"]["depends_on"]["nodes"].append("model.jaffle_shop.orders")
    cyclic = tmp_path / "manifest.json"
    cyclic.write_text(json.dumps(raw))
    configs["project_config"] = ProjectConfig(
        dbt_project_path=configs["project_config"].dbt_project_path, manifest_path=cyclic
    )
    with pytest.raises(
        DependencyCycleError,
        match=rf"cycle: .*jaffle_shop.orders.*jaffle_shop.stg_orders.*{cyclic}.*rebuild it with `dbt parse`",
    ):
        DbtDag(dag_id="cyclic", schedule=None, start_date=START, **configs)
    assert gc.isenabled(), "a failed build leaves Python's garbage collector running"


def test_building_a_dag_leaves_the_garbage_collector_as_it_found_it(configs: dict[str, Any]) -> None:
    # The build pauses the cyclic collector (its cost per task would otherwise grow with the project).
    DbtDag(dag_id="collected", schedule=None, start_date=START, **configs)
    assert gc.isenabled()
    gc.disable()
    try:
        DbtDag(dag_id="uncollected", schedule=None, start_date=START, **configs)
        assert not gc.isenabled(), "a collector the DAG file disabled stays disabled"
    finally:
        gc.enable()


def test_a_test_of_an_upstream_model_that_reads_a_downstream_one_runs_after_both_without_a_cycle(
    configs: dict[str, Any], tmp_path: Path
) -> None:
    """A relationships test defined on stg_orders that also reads orders (downstream of stg_orders): as in ``dbt
    build``, orders does not wait for it, and it runs once both are built."""
    raw = json.loads(Path(configs["project_config"].manifest_path).read_text())
    raw["nodes"]["test.jaffle_shop.relationships_stg_orders_to_orders"] = {
        "unique_id": "test.jaffle_shop.relationships_stg_orders_to_orders", "resource_type": "test",
        "name": "relationships_stg_orders_to_orders", "package_name": "jaffle_shop",
        "original_file_path": "models/staging/schema.yml", "database": "p", "schema": "dbt_test__audit",
        "attached_node": "model.jaffle_shop.stg_orders", "config": {"materialized": "test", "severity": "ERROR"},
        "depends_on": {"nodes": ["model.jaffle_shop.stg_orders", "model.jaffle_shop.orders"]},
        "fqn": ["jaffle_shop", "relationships_stg_orders_to_orders"],
    }  # fmt: skip
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(raw))
    configs["project_config"] = ProjectConfig(
        dbt_project_path=configs["project_config"].dbt_project_path, manifest_path=manifest
    )
    dag = DbtDag(dag_id="downstream_test", schedule=None, start_date=START, **configs)
    dag.check_cycle()  # Airflow's own check
    test, orders = dag.task_dict["stg_orders.test"], dag.task_dict["orders.run"]
    assert "orders.run" in test.upstream_task_ids
    assert "stg_orders.test" not in orders.upstream_task_ids
    assert "stg_orders.run" in orders.upstream_task_ids
    others = [
        node["name"]
        for uid, node in raw["nodes"].items()
        if node["resource_type"] == "model"
        and "model.jaffle_shop.stg_orders" in node["depends_on"]["nodes"]
        and uid != "model.jaffle_shop.orders"
    ]
    for name in others:  # the other children of stg_orders still wait for its tests
        assert "stg_orders.test" in dag.task_dict[f"{name}.run"].upstream_task_ids


def test_unknown_profile_type_lists_the_registered_backends(configs: dict[str, Any], tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.yml"
    profiles.write_text("p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: x.db\n")
    configs["profile_config"] = ProfileConfig(profile_name="p", target_name="dev", profiles_yml_filepath=profiles)
    with pytest.raises(
        UnknownProfileTypeError,
        match=r"'duckdb'; registered: \['bigquery'\].*cosmos_remote.backends.*writing-a-backend",
    ):
        DbtDag(dag_id="x", schedule=None, start_date=START, **configs)


def test_a_model_with_a_non_ascii_name_is_stored_with_a_percent_encoded_asset_uri(
    configs: dict[str, Any], tmp_path: Path, airflow_dags_folder: Path
) -> None:
    """Airflow stores ASCII asset URIs only: the relation ``café_orders_日本`` becomes ``caf%C3%A9_orders_...``,
    and the DAG file parses and is stored as the dag-processor stores it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session

    raw = json.loads(Path(configs["project_config"].manifest_path).read_text())
    raw["nodes"]["model.jaffle_shop.orders"].update(name="café_orders_日本", alias="café_orders_日本")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    (airflow_dags_folder / "unicode_dag.py").write_text(
        "# an Airflow DAG file\n"
        "from pathlib import Path\nimport pendulum\n"
        "from cosmos_remote import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig\n"
        f"dag = DbtDag(dag_id='unicode_names', schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz='UTC'),\n"
        f"    project_config=ProjectConfig(dbt_project_path={str(configs['project_config'].dbt_project_path)!r},\n"
        f"                                 manifest_path={str(manifest)!r}),\n"
        f"    profile_config=ProfileConfig(profile_name='jaffle_shop', target_name='dev',\n"
        f"        profiles_yml_filepath={str(configs['profile_config'].profiles_yml_filepath)!r}),\n"
        "    execution_config=ExecutionConfig(remote_target_path='gs://bucket/cosmos'))\n",
        encoding="utf-8",
    )
    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    bundle = next(b for b in manager.get_all_dag_bundles() if Path(b.path) == airflow_dags_folder)
    bag = BundleDagBag(dag_folder=str(airflow_dags_folder), bundle_path=bundle.path, bundle_name=bundle.name)
    assert "unicode_dag.py" not in str(bag.import_errors)
    sync_bag_to_db(bag, bundle.name, bundle.version)  # raised "URI must be ascii" before
    expected = "bigquery://local-project/jaffle_shop_marts/caf%C3%A9_orders_%E6%97%A5%E6%9C%AC"
    with create_session() as session:
        assert session.query(AssetModel).filter(AssetModel.uri == expected).count() == 1
    assert "café_orders_日本.run" in bag.dags["unicode_names"].task_dict


def test_parsing_a_dag_with_a_connection_built_profile_leaves_nothing_in_the_temp_folder(
    example_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parse-only profile lives in the cache under its content hash: parsing twice leaves no new file or
    folder in the temp folder, and reuses one profile folder."""
    import tempfile

    monkeypatch.setenv("COSMOS_REMOTE_CACHE_DIR", str(tmp_path / "cache"))
    temp = Path(tempfile.gettempdir())
    before = set(temp.iterdir())
    profile = ProfileConfig(
        profile_name="jaffle_shop", target_name="dev", conn_id="google_cloud_default", dataset="analytics", project="p"
    )
    for dag_id in ("conn_profile_1", "conn_profile_2"):
        DbtDag(
            dag_id=dag_id,
            schedule=None,
            start_date=START,
            project_config=ProjectConfig(dbt_project_path=example_project),
            profile_config=profile,
            execution_config=ExecutionConfig(remote_target_path="gs://bucket/cosmos"),
        )
    assert {p.name for p in set(temp.iterdir()) - before} == set()
    assert len(list((tmp_path / "cache" / "parse-profiles").iterdir())) == 1
