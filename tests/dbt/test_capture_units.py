"""The capture building blocks without dbt: statement analysis, the registry of captured writes, API-write SQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from rendering_support import bigquery_client

from cosmos_remote.backends.bigquery.capture import translate
from cosmos_remote.backends.bigquery.capture.errors import CaptureError
from cosmos_remote.backends.bigquery.capture.registry import Registry
from cosmos_remote.backends.bigquery.capture.sqlscan import (
    collapse_blank_lines,
    created_dataset,
    fallback_keys,
    is_blank,
    is_read,
    is_test_query,
    join_script,
    parse,
)
from cosmos_remote.backends.bigquery.capture.state import CaptureState
from cosmos_remote.backends.bigquery.capture.stream import NodeStream
from cosmos_remote.dbt.runner import python_for
from cosmos_remote.testing import LocalGCP

P = "proj"


def _parse(sql: str) -> list:  # type: ignore[type-arg]
    statements = parse(sql)
    assert statements is not None
    return statements


def _read(registry: Registry, sql: str, *, schema_only: bool = False) -> str | None:
    return registry.resolve(_parse(sql), "model.x.reader", schema_only=schema_only)


# -- sqlscan ---------------------------------------------------------------------------------------------------------
def test_reads_writes_and_test_queries_are_told_apart() -> None:
    assert is_read(_parse("with a as (select 1) select * from a union all select 2"))
    assert not is_read(_parse("select 1; insert into `p`.`d`.`t` values (1)"))
    assert not is_read(_parse("merge into `p`.`d`.`t` t using `p`.`d`.`s` s on false when not matched then insert row"))
    test_query = "select count(*) as failures, count(*) != 0 as should_warn, count(*) != 0 as should_error from (x)"
    assert is_test_query(_parse(test_query.replace("(x)", "(select 1) t")))
    assert not is_test_query(_parse("select count(*) as failures from `p`.`d`.`t`"))
    assert parse("this is not sql at all ((") is None
    assert fallback_keys("call `p`.`d`.`proc`(); select * from `p.d.t`", "p") == {("p", "d", "proc"), ("p", "d", "t")}


def test_join_script_handles_comments_declare_and_blank_statements() -> None:
    script = join_script(
        ["select 1 -- trailing comment;", "  ", "-- only a comment", "declare x int64 default 1;\nselect x"]
    )
    assert script == "select 1 -- trailing comment\n;\nBEGIN\ndeclare x int64 default 1;\nselect x\n;\nEND;\n"
    assert join_script(["declare y int64; select y", "select 2;"]) == "declare y int64; select y;\nselect 2;\n"
    assert join_script([]) == ""
    assert is_blank(" -- x\n /* y */ ;")
    assert not is_blank("select 1")


# -- registry --------------------------------------------------------------------------------------------------------
def test_untouched_relations_are_read_from_the_warehouse() -> None:
    assert _read(Registry(P), f"select * from `{P}`.`d`.`t`") is None


def test_a_view_is_read_as_its_query_against_the_current_state() -> None:
    registry = Registry(P)
    registry.apply("model.x.base", f"create or replace table `{P}`.`d`.`base` as select 1 as a")
    registry.apply("model.x.v", f"create or replace view `{P}`.`d`.`v` as select a, a + 1 as b from `{P}`.`d`.`base`")
    text = _read(registry, f"select b from `{P}`.`d`.`v` as x")
    assert text == "SELECT b FROM (SELECT a, a + 1 AS b FROM (SELECT 1 AS a) AS `base`) AS `x`"
    registry.apply("model.x.base", f"create or replace table `{P}`.`d`.`base` as select 2 as a")
    assert "SELECT 2 AS a" in (_read(registry, f"select b from `{P}`.`d`.`v`") or "")  # views follow their inputs


def test_a_table_keeps_the_content_it_was_built_with() -> None:
    registry = Registry(P)
    registry.apply("model.x.s", f"create or replace table `{P}`.`d`.`s` as select 1 as a")
    registry.apply("model.x.t", f"create or replace table `{P}`.`d`.`t` as select a from `{P}`.`d`.`s`")
    registry.apply("model.x.s", f"create or replace table `{P}`.`d`.`s` as select 2 as a")
    assert "SELECT 1 AS a" in (_read(registry, f"select * from `{P}`.`d`.`t`") or "")


def test_after_dml_only_the_columns_are_known() -> None:
    registry = Registry(P)
    registry.apply("model.x.t", f"create or replace table `{P}`.`d`.`t` as select 1 as a")
    registry.apply("model.x.t", f"insert into `{P}`.`d`.`t` (a) values (2)")
    with pytest.raises(CaptureError, match=r"model\.x\.reader cannot be rendered.*model\.x\.t changes it.*insert"):
        _read(registry, f"select count(*) from `{P}`.`d`.`t`")
    assert _read(registry, f"select * from `{P}`.`d`.`t`", schema_only=True) == "SELECT * FROM (SELECT 1 AS a) AS `t`"
    registry.apply(
        "model.x.w", f"merge into `{P}`.`d`.`w` t using `{P}`.`d`.`t` s on false when not matched then insert row"
    )
    assert registry.schema_source((P, "d", "w"), "r") is None  # DML on a warehouse table: its columns stand


def test_drops_renames_schema_changes_and_unknown_statements() -> None:
    registry = Registry(P)
    registry.apply("model.x.t", f"create or replace table `{P}`.`d`.`t` (a INT64, b STRING)")
    assert (
        registry.schema_source((P, "d", "t"), "r")
        == "SELECT CAST(NULL AS INT64) AS `a`, CAST(NULL AS STRING) AS `b` LIMIT 0"
    )
    registry.apply("model.x.t", f"alter table `{P}`.`d`.`t` rename to `u`")
    assert registry.schema_source((P, "d", "u"), "r") is not None
    with pytest.raises(CaptureError, match="drops it"):
        _read(registry, f"select * from `{P}`.`d`.`t`")
    registry.apply("model.x.u", f"alter table `{P}`.`d`.`u` add column c STRING")
    with pytest.raises(CaptureError, match="alter table"):
        registry.schema_source((P, "d", "u"), "r")
    registry.apply("model.x.s", f"execute immediate 'insert into `{P}`.`d`.`z` values (1)'")
    with pytest.raises(CaptureError, match="cannot"):
        _read(registry, f"select * from `{P}`.`d`.`z`")
    registry.apply("model.x.m", f"create table if not exists `{P}`.`d`.`log` (a STRING)")
    with pytest.raises(CaptureError, match="if not exists"):
        _read(registry, f"select * from `{P}`.`d`.`log`")


def test_metadata_reads_of_a_changed_dataset_are_refused() -> None:
    registry = Registry(P)
    registry.apply("model.x.t", f"create or replace view `{P}`.`d`.`t` as select 1 as a")
    with pytest.raises(CaptureError, match="INFORMATION_SCHEMA"):
        _read(registry, f"select * from `{P}`.`d`.INFORMATION_SCHEMA.COLUMNS where table_name = 't'")
    assert _read(registry, f"select * from `{P}`.`other`.INFORMATION_SCHEMA.COLUMNS") is None
    with pytest.raises(CaptureError):
        _read(registry, f"select * from `{P}`.`d`.`t*`")


# -- translate -------------------------------------------------------------------------------------------------------
def test_api_writes_become_sql() -> None:
    key = (P, "d", "t")
    assert translate.drop_statement(key, "view") == f"DROP VIEW IF EXISTS `{P}`.`d`.`t`"
    assert translate.drop_statement(key, None) == f"DROP TABLE IF EXISTS `{P}`.`d`.`t`"
    assert translate.rename_statements(key, (P, "d", "u")) == [f"ALTER TABLE `{P}`.`d`.`t` RENAME TO `u`"]
    assert translate.rename_statements(key, (P, "e", "u")) == [
        f"CREATE TABLE `{P}`.`e`.`u` COPY `{P}`.`d`.`t`",
        f"DROP TABLE `{P}`.`d`.`t`",
    ]
    assert translate.copy_statements([key], (P, "d", "c"), "table", node="n") == [
        f"CREATE OR REPLACE TABLE `{P}`.`d`.`c` COPY `{P}`.`d`.`t`"
    ]
    with pytest.raises(CaptureError, match="several sources"):
        translate.copy_statements([key, key], (P, "d", "c"), "table", node="model.x.copy")
    assert translate.description_statement(key, "it's", is_view=False) == (
        f"ALTER TABLE `{P}`.`d`.`t` SET OPTIONS(description='it\\'s')"
    )
    with pytest.raises(CaptureError, match="policy_tags"):
        translate.column_description_statements(key, {"a": {"policy_tags": ["x"]}}, is_view=False, node="n")
    assert translate.add_drop_columns_statement(key, [("c", "STRING")], ["b"], node="n") == [
        f"ALTER TABLE `{P}`.`d`.`t` DROP COLUMN `b`",
        f"ALTER TABLE `{P}`.`d`.`t` ADD COLUMN `c` STRING",
    ]


def test_seed_sql_reads_the_csv_like_a_load_job() -> None:
    columns = [("id", "INT64"), ("name", "STRING"), ("flag", "BOOL"), ("at", "TIMESTAMP")]
    csv_bytes = b'\xef\xbb\xbfid;name;flag;at\n1;"O\'Hara; ""Jr""";yes;2020-01-02 03:04:05\n2;;0;\n'
    seed = translate.seed_sql((P, "d", "s"), columns, csv_bytes, ";", node="seed.x.s")
    assert (
        seed.statements[0]
        == f"CREATE OR REPLACE TABLE `{P}`.`d`.`s` (`id` INT64, `name` STRING, `flag` BOOL, `at` TIMESTAMP)"
    )
    assert seed.statements[1].splitlines()[1:] == [
        "(CAST('1' AS INT64), 'O\\'Hara; \"Jr\"', TRUE, CAST('2020-01-02 03:04:05' AS TIMESTAMP)),",
        "(CAST('2' AS INT64), NULL, FALSE, NULL)",
    ]
    with pytest.raises(CaptureError, match=r"seed\.x\.bad.*ARRAY<INT64>"):
        translate.seed_sql((P, "d", "s"), [("a", "ARRAY<INT64>")], b"a\n1\n", ",", node="seed.x.bad")


def test_translated_sql_runs_on_bigquery(gcp: LocalGCP) -> None:
    client = bigquery_client(gcp)
    gcp.create_dataset("capture_units")
    key = (gcp.project, "capture_units", "seed")
    columns = [("id", "INT64"), ("name", "STRING"), ("flag", "BOOL"), ("day", "DATE")]
    seed = translate.seed_sql(key, columns, b'id,name,flag,day\n1,"a,b",true,2020-01-02\n2,,false,\n', ",", node="n")
    client.query(";\n".join(seed.statements)).result()
    expected = [(1, "a,b", True, "2020-01-02"), (2, None, False, None)]
    table = f"`{gcp.project}`.`capture_units`.`seed`"
    rows = [(r[0], r[1], r[2], r[3] and r[3].isoformat()) for r in client.query(f"select * from {table} order by id")]
    assert rows == expected
    content = [(r[0], r[1], r[2], r[3] and r[3].isoformat()) for r in client.query(f"{seed.content} order by id")]
    assert content == expected
    assert [f.name for f in client.query(seed.empty).result().schema] == ["id", "name", "flag", "day"]
    client.query(translate.description_statement(key, "seed table", is_view=False)).result()
    for sql in translate.add_drop_columns_statement(key, [("extra", "STRING")], ["flag"], node="n"):
        client.query(sql).result()
    assert [f.name for f in client.query(f"select * from {table}").result().schema] == ["id", "name", "day", "extra"]
    renamed = (gcp.project, "capture_units", "renamed")
    for sql in translate.rename_statements(key, renamed):
        client.query(sql).result()
    assert next(iter(client.query("select count(*) from `{}`.`{}`.`{}`".format(*renamed)).result()))[0] == 2
    client.query(translate.drop_statement(renamed, "table")).result()
    with pytest.raises(Exception, match=r"(?i)not found"):
        client.query("select 1 from `{}`.`{}`.`{}`".format(*renamed)).result()


def test_importing_the_package_does_not_import_dbt_or_sqlglot() -> None:
    code = (
        "import sys, cosmos_remote.dbt; print(sorted(m for m in sys.modules if m.split('.')[0] in ('dbt', 'sqlglot')))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_python_for_reads_the_dbt_scripts_interpreter(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    python = tmp_path / "bin" / "python3"
    python.symlink_to(sys.executable)
    dbt = tmp_path / "bin" / "dbt"
    dbt.write_text("#!/bin/sh\nexec echo\n", encoding="utf-8")  # a launcher, not a Python script
    assert python_for(dbt) == python  # falls back to the python next to it
    dbt.write_text(f"#!{sys.executable}\n", encoding="utf-8")
    assert python_for(dbt) == Path(sys.executable)
    assert python_for(None) == Path(sys.executable)


# -- stream ----------------------------------------------------------------------------------------------------------
def _event(name: str, unique_id: str = "model.p.a", status: str = "success") -> SimpleNamespace:
    return SimpleNamespace(
        info=SimpleNamespace(name=name),
        data=SimpleNamespace(node_info=SimpleNamespace(unique_id=unique_id), run_result=SimpleNamespace(status=status)),
    )


def test_the_node_stream_writes_each_finished_node_once(tmp_path: Path) -> None:
    nodes = {
        "model.p.a": SimpleNamespace(unique_id="model.p.a"),
        "model.p.eph": SimpleNamespace(unique_id="model.p.eph", is_ephemeral_model=True),
    }
    path = tmp_path / "nodes.jsonl"
    stream = NodeStream(
        path=path,
        state=CaptureState(),
        manifest=lambda: SimpleNamespace(nodes=nodes),
        describe=lambda node, state: {"unique_id": node.unique_id},
    )
    for event in (
        _event("NodeStart"),
        _event("NodeFinished"),
        _event("NodeFinished", unique_id="model.p.eph"),  # inlined into its dependants: dbt reports no result
        _event("NodeFinished", unique_id="model.p.failed", status="error"),
        _event("NodeFinished", unique_id="on-run-start.p.hook"),  # not a node
    ):
        stream.on_event(event)
    stream.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records == [
        {"node": {"unique_id": "model.p.a", "status": "success"}},
    ]


@pytest.mark.parametrize(
    ("event", "describe_error", "reason"),
    [
        (SimpleNamespace(), None, "AttributeError"),  # a message of another shape (another dbt version)
        (_event("NodeFinished"), RuntimeError("cannot describe"), "RuntimeError: cannot describe"),
    ],
)
def test_the_node_stream_never_raises_into_dbt_and_says_why_it_stopped(
    tmp_path: Path, event: object, describe_error: Exception | None, reason: str
) -> None:
    def describe(node: object, state: object) -> dict[str, object]:
        if describe_error is not None:
            raise describe_error
        return {"unique_id": "model.p.a"}

    path = tmp_path / "nodes.jsonl"
    stream = NodeStream(
        path=path,
        state=CaptureState(),
        manifest=lambda: SimpleNamespace(nodes={"model.p.a": SimpleNamespace(unique_id="model.p.a")}),
        describe=describe,
    )
    stream.on_event(event)
    stream.on_event(_event("NodeFinished"))  # after a failure the stream stays stopped
    stream.close()
    (record,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert record["stopped"].startswith(reason)


def test_blank_line_runs_are_collapsed_between_tokens_and_kept_in_string_literals(
    local_gcp_session: LocalGCP,
) -> None:
    statement = (
        "select\n\n\n\n  1 as id, -- a comment\n\n\n\n  '''a\n\n\nb''' as text,\n   \n\t\n"
        '  """c\n\n\n\nd""" as other'
    )
    script = join_script([statement])
    assert "\n\n\n" not in script.replace("a\n\n\nb", "").replace("c\n\n\n\nd", "")
    assert "'''a\n\n\nb'''" in script
    assert '"""c\n\n\n\nd"""' in script
    # what BigQuery runs is the same: the literals keep their blank lines
    (row,) = bigquery_client(local_gcp_session).query(script).result()
    assert (row["id"], row["text"], row["other"]) == (1, "a\n\n\nb", "c\n\n\n\nd")
    assert collapse_blank_lines("select 'unclosed\n\n\n") == "select 'unclosed\n\n\n", "untokenizable: unchanged"


@pytest.mark.parametrize(
    ("sql", "dataset"),
    [
        ("create schema if not exists `proj-1`.`marts`", ("proj-1", "marts")),
        ("CREATE SCHEMA IF NOT EXISTS marts", ("default-project", "marts")),
        ("create table `p`.`d`.`t` (x int64)", None),
        ("insert into `p`.`d`.`t` values (1)", None),
    ],
)
def test_a_nodes_own_create_schema_is_found_by_the_dataset_it_creates(
    sql: str, dataset: tuple[str, str] | None
) -> None:
    assert created_dataset(sql, "default-project") == dataset
