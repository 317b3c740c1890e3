"""Fidelity on the example project: running the rendered scripts leaves every relation exactly as ``dbt build`` does.

Two datasets on the BigQuery emulator: ``fidelity_reference`` gets a plain ``dbt build``; ``fidelity_rendered`` gets
the rendered scripts (on-run-start, then every node's script as one job in dependency order). Run 1 starts from empty
datasets with ``orders_updated_before: 2018-02-15`` (21 of 40 orders), run 2 uses the default var, so the
incremental model takes the merge path with both updates and inserts. After each run every relation -- seeds, views,
tables, incrementals, the snapshot, the hooks' audit-log table -- must have the same kind, columns and rows. The only
columns not compared value for value are ``invocation_id`` (the dbt invocation id; compared as NULL / not NULL). The
snapshot is compared in full, ``dbt_scd_id``, ``dbt_updated_at`` and ``dbt_valid_from`` included: with the timestamp
strategy they derive from ``updated_at``, not from the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rendering_support import (
    CAPTURE,
    EXAMPLE_PROFILES,
    EXAMPLE_PROJECT,
    TableContent,
    bigquery_client,
    execute_rendered,
    read_datasets,
    run_dbt_build,
)

from cosmos_remote.dbt import RenderedNode, RenderResult, render_project
from cosmos_remote.testing import LocalGCP

RUN1_VARS = {"orders_updated_before": "2018-02-15"}
IGNORED = {"order_status_log": {"invocation_id"}, "dbt_audit_log": {"invocation_id"}}
REFERENCE, RENDERED = "fidelity_reference", "fidelity_rendered"
EXPECTED_RELATIONS = {
    "base/raw_customers", "base/raw_orders", "base/raw_payments", "base/stg_customers", "base/stg_orders",
    "base/stg_payments", "base/orders_incremental", "base/order_status_log", "base/dbt_audit_log",
    "marts/orders", "marts/dim_customers", "snapshots/customers_snapshot",
}  # fmt: skip


@dataclass(frozen=True)
class Runs:
    run1: RenderResult
    run2: RenderResult
    refresh: RenderResult
    tests1: dict[str, dict[str, Any]]
    tests2: dict[str, dict[str, Any]]
    reference1: dict[str, TableContent]
    rendered1: dict[str, TableContent]
    reference2: dict[str, TableContent]
    rendered2: dict[str, TableContent]
    refresh_output: str
    streamed2: dict[str, RenderedNode]


@pytest.fixture(scope="module")
def runs(local_gcp_session: LocalGCP, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    gcp = local_gcp_session
    client = bigquery_client(gcp)
    gcp.create_dataset(REFERENCE)
    gcp.create_dataset(RENDERED)
    work = tmp_path_factory.mktemp("fidelity")
    common: dict[str, Any] = {
        "project_dir": EXAMPLE_PROJECT,
        "profiles_dir": EXAMPLE_PROFILES,
        "env": {"COSMOS_REMOTE_BQ_DATASET": RENDERED},
        "cache_dir": work / "cache",
    }
    run_dbt_build(
        dataset=REFERENCE, work=work / "reference1", extra=["--vars", '{"orders_updated_before": "2018-02-15"}']
    )
    run1 = render_project(capture_package=CAPTURE, vars=RUN1_VARS, **common)
    tests1 = execute_rendered(client, run1)
    reference1, rendered1 = read_datasets(client, REFERENCE, IGNORED), read_datasets(client, RENDERED, IGNORED)

    run_dbt_build(dataset=REFERENCE, work=work / "reference2")
    streamed2: dict[str, RenderedNode] = {}
    run2 = render_project(
        capture_package=CAPTURE,
        on_node=lambda node: streamed2.setdefault(node.unique_id, node),
        **common,
    )
    tests2 = execute_rendered(client, run2)
    reference2, rendered2 = read_datasets(client, REFERENCE, IGNORED), read_datasets(client, RENDERED, IGNORED)

    # same vars and profile as run 2: dbt must reuse run 2's partial-parse file from the cache
    refresh = render_project(
        capture_package=CAPTURE,
        full_refresh=True,
        select=["orders_incremental"],
        work_dir=work / "refresh",
        keep_work_dir=True,
        **common,
    )
    (refresh_output,) = (work / "refresh").glob("*/dbt-output.log")
    return Runs(
        run1,
        run2,
        refresh,
        tests1,
        tests2,
        reference1,
        rendered1,
        reference2,
        rendered2,
        refresh_output.read_text(),
        streamed2,
    )


def _assert_identical(reference: dict[str, TableContent], rendered: dict[str, TableContent]) -> None:
    assert set(reference) == EXPECTED_RELATIONS
    assert set(rendered) == set(reference)
    for name in sorted(reference):
        assert rendered[name].table_type == reference[name].table_type, name
        assert rendered[name].columns == reference[name].columns, name
        assert rendered[name].rows == reference[name].rows, name
        assert rendered[name].rows, f"{name} is empty: the comparison would prove nothing"


def test_each_node_is_handed_on_while_dbt_runs_exactly_as_the_final_result(runs: Runs) -> None:
    """What the setup task uploads while dbt renders the rest (merge path, hooks, seeds, snapshot, tests) is what
    the final result says: the early uploads are reused, not redone."""
    assert set(runs.streamed2) == set(runs.run2.nodes)
    for unique_id, node in runs.run2.nodes.items():
        assert runs.streamed2[unique_id] == node, unique_id


def test_run1_every_relation_is_identical_to_dbt_build(runs: Runs) -> None:
    _assert_identical(runs.reference1, runs.rendered1)
    assert len(runs.rendered1["base/orders_incremental"].rows) == 21


def test_run2_every_relation_is_identical_to_dbt_build(runs: Runs) -> None:
    _assert_identical(runs.reference2, runs.rendered2)
    assert len(runs.rendered2["base/orders_incremental"].rows) == 40  # 19 inserted + 2 updated by the merge
    assert len(runs.rendered2["base/order_status_log"].rows) == 2 * len(runs.rendered1["base/order_status_log"].rows)


def test_incremental_models_take_the_create_then_the_merge_path(runs: Runs) -> None:
    first = runs.run1.nodes["model.jaffle_shop.orders_incremental"].script.lower()
    second = runs.run2.nodes["model.jaffle_shop.orders_incremental"].script.lower()
    assert "create or replace table" in first
    assert "merge into" not in first
    assert "merge into `local-project`.`fidelity_rendered`.`orders_incremental`" in second
    assert "when not matched then insert" in " ".join(second.split())
    append = " ".join(runs.run2.nodes["model.jaffle_shop.order_status_log"].script.lower().split())
    assert "merge into" in append
    assert "on (false)" in append


def test_orders_script_runs_pre_hook_model_and_post_hook_in_order(runs: Runs) -> None:
    statements = [" ".join(s.lower().split()) for s in runs.run1.nodes["model.jaffle_shop.orders"].statements]
    assert len(statements) == 4, statements
    # first the CREATE SCHEMA of its own dataset (dbt creates it in run 1), so the node can run or retry alone
    assert statements[0] == "create schema if not exists `local-project`.`fidelity_rendered_marts`"
    assert statements[1].startswith("create table if not exists `local-project`.`fidelity_rendered`.`dbt_audit_log`")
    assert statements[2].startswith("create or replace table `local-project`.`fidelity_rendered_marts`.`orders`")
    assert statements[3].startswith("insert into `local-project`.`fidelity_rendered`.`dbt_audit_log`")
    assert runs.run1.nodes["model.jaffle_shop.orders"].script.count(";\n") == 4


def test_hooks_had_the_same_audit_log_effects(runs: Runs) -> None:
    reference, rendered = runs.reference2["base/dbt_audit_log"].rows, runs.rendered2["base/dbt_audit_log"].rows
    assert rendered == reference == (("orders", "built", False), ("orders", "built", False))


def test_rendered_test_queries_give_dbts_results(runs: Runs) -> None:
    for tests in (runs.tests1, runs.tests2):
        assert len(tests) == 19
        warned = {uid: row for uid, row in tests.items() if row["failures"]}
        assert list(warned) == ["test.jaffle_shop.not_null_customers_first_order.ae62960837"]
        assert warned["test.jaffle_shop.not_null_customers_first_order.ae62960837"] == {
            "failures": 6,
            "should_warn": True,
            "should_error": True,
        }
    config = runs.run1.nodes["test.jaffle_shop.not_null_customers_first_order.ae62960837"].test
    assert config is not None
    assert (config.severity.lower(), config.warn_if, config.error_if, config.fail_calc) == (
        "warn",
        "!= 0",
        "!= 0",
        "count(*)",
    )
    assert config.attached_node == "model.jaffle_shop.customers"
    assert config.test_name == "not_null"
    assert config.column_name == "first_order"
    query = " ".join(config.query.split())
    assert query.startswith("select count(*) as failures, count(*) != 0 as should_warn, count(*) != 0 as should_error")
    assert query.endswith(") dbt_internal_test")


def test_on_run_start_creates_the_custom_schemas_once_and_each_node_its_own(runs: Runs) -> None:
    assert sorted(" ".join(s.split()) for s in runs.run1.on_run_start) == [
        "create schema if not exists `local-project`.`fidelity_rendered_marts`",
        "create schema if not exists `local-project`.`fidelity_rendered_snapshots`",
    ]
    # Each node carries only its own dataset's CREATE SCHEMA, so that it can run or be retried alone.
    orders = [" ".join(s.split()) for s in runs.run1.nodes["model.jaffle_shop.orders"].statements]
    assert orders[0] == "create schema if not exists `local-project`.`fidelity_rendered_marts`"
    assert not [s for s in orders[1:] if s.startswith("create schema")]
    snapshot = runs.run1.nodes["snapshot.jaffle_shop.customers_snapshot"].statements
    assert " ".join(snapshot[0].split()) == "create schema if not exists `local-project`.`fidelity_rendered_snapshots`"
    staging = runs.run1.nodes["model.jaffle_shop.stg_orders"].statements
    assert not [s for s in staging if s.lstrip().lower().startswith("create schema")]
    assert runs.run2.on_run_start == ()
    assert runs.run2.on_run_start_script == ""


def test_node_metadata(runs: Runs) -> None:
    nodes = runs.run1.nodes
    assert runs.run1.project_name == "jaffle_shop"
    assert runs.run1.dbt_version.startswith("1.11")
    assert "model.jaffle_shop.int_order_payments" not in nodes  # ephemeral: inlined, no artifact
    orders = nodes["model.jaffle_shop.orders"]
    assert (orders.resource_type, orders.materialization) == ("model", "table")
    assert str(orders.relation) == "local-project.fidelity_rendered_marts.orders"
    assert set(orders.depends_on) == {"model.jaffle_shop.stg_orders", "model.jaffle_shop.int_order_payments"}
    assert orders.resource_path == "models/marts/orders.sql"
    assert orders.compiled_sql is not None
    assert "__dbt__cte__int_order_payments" in orders.compiled_sql
    customers = nodes["model.jaffle_shop.customers"]
    assert str(customers.relation) == "local-project.fidelity_rendered_marts.dim_customers"
    snapshot = nodes["snapshot.jaffle_shop.customers_snapshot"]
    assert str(snapshot.relation) == "local-project.fidelity_rendered_snapshots.customers_snapshot"
    generic = nodes["test.jaffle_shop.unique_orders_order_id.fed79b3a6e"]
    assert generic.relation is None
    assert generic.resource_path == "models/marts/_marts.yml/unique_orders_order_id.sql"
    assert all('"app": "dbt"' not in node.script for node in nodes.values())  # no per-invocation query comment
    counts: dict[str, int] = {}
    for node in nodes.values():
        counts[node.resource_type] = counts.get(node.resource_type, 0) + 1
    assert counts == {"seed": 3, "model": 7, "snapshot": 1, "test": 19}


def test_seed_artifacts(runs: Runs) -> None:
    seed = runs.run1.nodes["seed.jaffle_shop.raw_orders"]
    assert seed.seed_csv == (EXAMPLE_PROJECT / "seeds" / "raw_orders.csv").read_bytes()
    assert [(c.name, c.type) for c in seed.seed_columns] == [
        ("id", "INT64"),
        ("user_id", "INT64"),
        ("order_date", "DATE"),
        ("status", "STRING"),
        ("updated_at", "TIMESTAMP"),
    ]
    assert seed.seed_delimiter == ","
    assert seed.statements[0].startswith("CREATE OR REPLACE TABLE `local-project`.`fidelity_rendered`.`raw_orders`")
    assert seed.statements[1].startswith("INSERT INTO `local-project`.`fidelity_rendered`.`raw_orders`")
    # run 2: the seed exists, so dbt drops it first (an API delete, rendered as SQL)
    rerun = runs.run2.nodes["seed.jaffle_shop.raw_orders"]
    assert rerun.statements[0] == "DROP TABLE IF EXISTS `local-project`.`fidelity_rendered`.`raw_orders`"


def test_snapshot_run2_merges_from_a_staging_table_with_real_columns(runs: Runs) -> None:
    statements = runs.run2.nodes["snapshot.jaffle_shop.customers_snapshot"].statements
    assert "__dbt_tmp" in statements[0]
    assert statements[0].lstrip().lower().startswith("create or replace table")
    merge = " ".join(statements[1].split())
    assert merge.startswith("merge into `local-project`.`fidelity_rendered_snapshots`.`customers_snapshot`")
    assert "insert (`customer_id`, `first_name`, `last_name`, `updated_at`, `dbt_updated_at`" in merge
    assert statements[2].startswith("DROP TABLE IF EXISTS")
    assert "__dbt_tmp" in statements[2]


def test_full_refresh_and_select(runs: Runs) -> None:
    models = [node for node in runs.refresh.nodes.values() if node.resource_type == "model"]
    assert [node.unique_id for node in models] == ["model.jaffle_shop.orders_incremental"]
    assert {node.resource_type for node in runs.refresh.nodes.values()} == {"model", "test"}
    script = models[0].script.lower()
    assert "create or replace table" in script
    assert "merge into" not in script


def test_partial_parse_file_is_reused_between_renders(runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert "Unable to do partial parsing" not in runs.refresh_output
    assert "Found 8 models" in runs.refresh_output  # it did parse the project (from the cached file)
