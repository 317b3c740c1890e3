"""Reading the manifest and selecting nodes: what becomes a task, at parse time."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from cosmos_remote.dbt.manifest import DbtGraph, ManifestError, load_manifest, parse_project
from cosmos_remote.dbt.selection import SelectionError, select_nodes


def names(graph: DbtGraph, ids: set[str]) -> set[str]:
    return {graph.nodes[i].name for i in ids}


def test_manifest_gives_real_relations_and_dependencies(example_graph: DbtGraph) -> None:
    customers = example_graph.nodes["model.jaffle_shop.customers"]
    assert customers.relation is not None
    assert (customers.relation.schema, customers.relation.identifier) == ("jaffle_shop_marts", "dim_customers")
    assert customers.materialized == "table"
    orders = example_graph.nodes["model.jaffle_shop.orders"]
    assert "model.jaffle_shop.int_order_payments" in orders.depends_on
    assert example_graph.nodes["model.jaffle_shop.int_order_payments"].is_ephemeral
    assert example_graph.nodes["snapshot.jaffle_shop.customers_snapshot"].relation.schema == "jaffle_shop_snapshots"
    warn_test = example_graph.nodes["test.jaffle_shop.not_null_customers_first_order.ae62960837"]
    assert warn_test.severity == "WARN"
    attachments = example_graph.test_attachments()
    assert attachments["test.jaffle_shop.assert_order_amount_matches_payments"] == "model.jaffle_shop.orders"


@pytest.mark.parametrize(
    ("select", "exclude", "expected"),
    [
        (["stg_orders"], [], {"stg_orders"}),
        (["stg_orders+"], [], {"stg_orders", "orders", "customers", "orders_incremental", "order_status_log"}),
        (["+orders"], [], {"orders", "stg_orders", "stg_payments", "int_order_payments", "raw_orders", "raw_payments"}),
        (["1+orders"], [], {"orders", "stg_orders", "int_order_payments"}),
        (["path:models/staging"], [], {"stg_orders", "stg_customers", "stg_payments"}),
        (["resource_type:seed"], [], {"raw_orders", "raw_customers", "raw_payments"}),
        (["config.materialized:incremental"], [], {"orders_incremental", "order_status_log"}),
        (["staging"], ["stg_payments"], {"stg_orders", "stg_customers"}),
        (["stg_orders+,config.materialized:table"], [], {"orders", "customers"}),
        (["stg_orders stg_customers"], [], {"stg_orders", "stg_customers"}),
        (["stg_*"], [], {"stg_orders", "stg_customers", "stg_payments"}),
    ],
)
def test_dbt_selection_syntax(
    example_graph: DbtGraph, select: list[str], exclude: list[str], expected: set[str]
) -> None:
    assert names(example_graph, select_nodes(example_graph, select=select, exclude=exclude)) == expected


def test_tag_selection(example_graph: DbtGraph) -> None:
    assert names(example_graph, select_nodes(example_graph, select=["tag:staging"])) == {
        "stg_orders",
        "stg_customers",
        "stg_payments",
    }


def test_selection_that_matches_nothing_is_an_error(example_graph: DbtGraph) -> None:
    with pytest.raises(SelectionError, match=r"select=\['no_such_model'\].*matches no model"):
        select_nodes(example_graph, select=["no_such_model"])


def test_unknown_selector_method_is_an_error(example_graph: DbtGraph) -> None:
    with pytest.raises(SelectionError, match=r"method 'colour' is not supported"):
        select_nodes(example_graph, select=["colour:blue"])


def test_manifest_of_another_dbt_major_version_is_refused(example_manifest: Path, tmp_path: Path) -> None:
    raw = json.loads(example_manifest.read_text())
    raw["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v7.json"
    raw["metadata"]["dbt_version"] = "1.3.0"
    old = tmp_path / "manifest.json"
    old.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=r"schema version .*v7.*dbt 1.3.0.*Rebuild it"):
        load_manifest(old)


def test_a_manifest_field_of_the_wrong_type_is_an_error_naming_the_file_and_the_field(
    example_manifest: Path, tmp_path: Path
) -> None:
    raw = json.loads(example_manifest.read_text())
    raw["nodes"]["model.jaffle_shop.orders"]["depends_on"]["nodes"] = "model.jaffle_shop.stg_orders"
    broken = tmp_path / "manifest.json"
    broken.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=r"manifest .*manifest.json is not a dbt manifest .*depends_on.*dbt parse"):
        load_manifest(broken)


def test_missing_manifest_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "manifest.json")


def test_parse_is_cached_by_project_content(tmp_path: Path, example_project: Path, example_profiles: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(example_project, project)
    cache = tmp_path / "cache"
    kwargs = {"profiles_dir": example_profiles, "profile": "jaffle_shop", "target": "dev", "cache_dir": cache}
    first = parse_project(project_dir=project, **kwargs)  # type: ignore[arg-type]
    started = time.perf_counter()
    again = parse_project(project_dir=project, **kwargs)  # type: ignore[arg-type]
    assert again == first
    assert time.perf_counter() - started < 2, "an unchanged project must not be parsed again"
    model = project / "models" / "staging" / "stg_orders.sql"
    model.write_text(model.read_text() + "\n-- edited\n")
    edited = parse_project(project_dir=project, **kwargs)  # type: ignore[arg-type]
    assert edited != first
    assert not any(p.name in {"target", "logs"} for p in project.iterdir()), "nothing is written into the project"


def test_parse_cache_follows_the_env_vars_the_project_reads(
    tmp_path: Path, example_project: Path, example_profiles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs = {"profiles_dir": example_profiles, "profile": "jaffle_shop", "target": "dev", "cache_dir": tmp_path}
    monkeypatch.setenv("COSMOS_REMOTE_BQ_DATASET", "analytics_a")
    first = load_manifest(parse_project(project_dir=example_project, **kwargs))  # type: ignore[arg-type]
    monkeypatch.setenv("COSMOS_REMOTE_BQ_DATASET", "analytics_b")
    second = load_manifest(parse_project(project_dir=example_project, **kwargs))  # type: ignore[arg-type]
    assert first.nodes["model.jaffle_shop.orders"].relation.schema == "analytics_a_marts"
    assert second.nodes["model.jaffle_shop.orders"].relation.schema == "analytics_b_marts"
