"""Bad input and nodes that cannot be rendered: a clear exception naming the node and the reason, nothing partial."""

from __future__ import annotations

import shutil
import socket
import textwrap
from pathlib import Path

import pytest
from rendering_support import CAPTURE, EXAMPLE_PROFILES, EXAMPLE_PROJECT, bigquery_client, write_project

from cosmos_remote.dbt import (
    DbtInvocationError,
    NodeRenderError,
    RenderError,
    RenderInputError,
    render_project,
)
from cosmos_remote.testing import LocalGCP

DATASET = "render_errors"

# A table whose post-hook changes it, and nodes that introspect it during the same render.
PROBE_FILES = {
    "models/base_table.sql": """
        {{ config(materialized='table', post_hook="insert into {{ this }} (id, label) values (99, 'late')") }}
        select 1 as id, 'one' as label union all select 2, 'two'
    """,
    "models/base_view.sql": """
        {{ config(materialized='view') }}
        select id, label, id * 10 as tens from {{ ref('base_table') }}
    """,
    "models/plain_table.sql": """
        {{ config(materialized='table') }}
        select 1 as id, 'a' as label union all select 2, 'b'
    """,
    "models/plain_view.sql": """
        {{ config(materialized='view') }}
        select id, label from {{ ref('plain_table') }}
    """,
    # reads the CONTENT of base_table after its post-hook insert: unknown until the insert has run
    "models/reads_changed_table.sql": """
        -- depends_on: {{ ref('base_table') }}
        {% set n = 0 %}
        {% if execute %}
          {% set n = run_query('select count(*) from ' ~ ref('base_table')).columns[0].values()[0] %}
        {% endif %}
        select {{ n }} as row_count
    """,
    # fails to compile
    "models/compile_error.sql": """
        {% if execute %}{{ exceptions.raise_compiler_error('broken on purpose') }}{% endif %}
        select 1 as x
    """,
    # introspects a table that does not exist: BigQuery answers 404
    "models/missing_table.sql": """
        {% if execute %}
          {% do run_query('select * from `' ~ target.project ~ '`.`' ~ target.schema ~ '`.`no_such_table`') %}
        {% endif %}
        select 1 as x
    """,
    # COLUMNS of base_table and base_view: known (an insert keeps the columns; a view is its query)
    "models/columns_of_table.sql": """
        select {% for c in adapter.get_columns_in_relation(ref('base_table')) %}{{ c.name }}
        {%- if not loop.last %}, {% endif %}{% endfor %} from {{ ref('base_table') }}
    """,
    "models/columns_of_view.sql": """
        select {% for c in adapter.get_columns_in_relation(ref('base_view')) %}{{ c.name }}
        {%- if not loop.last %}, {% endif %}{% endfor %} from {{ ref('base_view') }}
    """,
    # one job per batch, maybe concurrent: no single script
    "models/batched.sql": """
        {{ config(materialized='incremental', incremental_strategy='microbatch', event_time='day',
                  begin='2024-01-01', batch_size='day',
                  partition_by={'field': 'day', 'data_type': 'date', 'granularity': 'day'}) }}
        select date '2024-01-01' as day
    """,
    # a write sent through run_query (dbt reads its result, but it is no query): captured, not executed
    "models/dml_via_run_query.sql": """
        {% if execute %}
          {% set log = "`" ~ target.project ~ "`.`" ~ target.schema ~ "`.`run_log`" %}
          {% do run_query("insert into " ~ log ~ " (event) values ('dml')") %}
        {% endif %}
        select 1 as x
    """,
    # CONTENT of a view over a table built in this render (no DML after it): derived by inlining the queries
    "models/values_of_view.sql": """
        -- depends_on: {{ ref('plain_view') }}
        {% set labels = [] %}
        {% if execute %}
          {% set labels = run_query('select label from ' ~ ref('plain_view') ~ ' order by id').columns[0].values() %}
        {% endif %}
        select '{{ labels | join(',') }}' as labels
    """,
}
HOOKS = """
on-run-start: "create table if not exists `{{ target.project }}`.`{{ target.schema }}`.`run_log` (event string)"
on-run-end: "insert into `{{ target.project }}`.`{{ target.schema }}`.`run_log` (event) values ('end')"
"""
NEEDS_RUN_TIME = ["reads_changed_table", "compile_error", "missing_table", "batched"]


@pytest.fixture(scope="module")
def probe(local_gcp_session: LocalGCP, tmp_path_factory: pytest.TempPathFactory) -> Path:
    local_gcp_session.create_dataset(DATASET)
    files = {name: textwrap.dedent(text).strip() + "\n" for name, text in PROBE_FILES.items()}
    return write_project(tmp_path_factory.mktemp("probe"), files, extra_config=HOOKS)


@pytest.fixture(scope="module")
def node_errors(probe: Path, tmp_path_factory: pytest.TempPathFactory) -> NodeRenderError:
    work = tmp_path_factory.mktemp("probe-work")
    with pytest.raises(NodeRenderError) as caught:
        render_project(
            capture_package=CAPTURE,
            project_dir=probe,
            profiles_dir=probe,
            env={"COSMOS_REMOTE_BQ_DATASET": DATASET},
            work_dir=work,
            cache_dir=work / "cache",
        )
    return caught.value


def test_bad_folders_and_arguments_fail_before_dbt_runs(tmp_path: Path) -> None:
    with pytest.raises(RenderInputError, match=r"does not contain a dbt_project.yml file"):
        render_project(capture_package=CAPTURE, project_dir=tmp_path, profiles_dir=EXAMPLE_PROFILES)
    with pytest.raises(RenderInputError, match=r"profiles_dir=.* does not contain a profiles.yml file"):
        render_project(capture_package=CAPTURE, project_dir=EXAMPLE_PROJECT, profiles_dir=tmp_path)
    with pytest.raises(RenderInputError, match=r"dbt_executable_path .* is not a file"):
        render_project(
            capture_package=CAPTURE,
            project_dir=EXAMPLE_PROJECT,
            profiles_dir=EXAMPLE_PROFILES,
            dbt_executable_path=tmp_path / "dbt",
        )
    with pytest.raises(RenderInputError, match=r"select must be a sequence"):
        render_project(
            capture_package=CAPTURE, project_dir=EXAMPLE_PROJECT, profiles_dir=EXAMPLE_PROFILES, select="orders"
        )
    with pytest.raises(RenderInputError, match=r"JSON"):
        render_project(
            capture_package=CAPTURE, project_dir=EXAMPLE_PROJECT, profiles_dir=EXAMPLE_PROFILES, vars={"when": object()}
        )
    assert issubclass(RenderInputError, ValueError)


def test_invalid_profiles_yml(gcp: LocalGCP, tmp_path: Path) -> None:
    (tmp_path / "profiles.yml").write_text("jaffle_shop:\n  target: dev\n  outputs: [unclosed\n", encoding="utf-8")
    with pytest.raises(DbtInvocationError, match=r"(?s)dbt failed before any node.*profiles.yml") as caught:
        render_project(
            capture_package=CAPTURE, project_dir=EXAMPLE_PROJECT, profiles_dir=tmp_path, work_dir=tmp_path / "work"
        )
    assert caught.value.log_path is not None
    assert caught.value.log_path.is_file()


def test_unknown_target(gcp: LocalGCP, tmp_path: Path) -> None:
    with pytest.raises(DbtInvocationError, match=r"does not have a target named 'nope'"):
        render_project(
            capture_package=CAPTURE,
            project_dir=EXAMPLE_PROJECT,
            profiles_dir=EXAMPLE_PROFILES,
            target="nope",
            work_dir=tmp_path,
        )


def test_unreachable_bigquery(gcp: LocalGCP, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(DbtInvocationError, match=r"(?s)dbt failed before any node.*(Connection refused|Max retries)"):
        render_project(
            capture_package=CAPTURE,
            project_dir=EXAMPLE_PROJECT,
            profiles_dir=EXAMPLE_PROFILES,
            env={"COSMOS_REMOTE_BQ_ENDPOINT": closed},
            work_dir=tmp_path,
            timeout=240,
        )


def test_every_failing_node_is_named_with_dbts_message(node_errors: NodeRenderError) -> None:
    by_node = {error.unique_id.split(".")[-1]: error for error in node_errors.errors}
    assert sorted(by_node) == sorted(NEEDS_RUN_TIME)
    assert by_node["compile_error"].kind == "dbt"
    assert "broken on purpose" in by_node["compile_error"].message
    assert by_node["missing_table"].kind == "dbt"
    assert "no_such_table" in by_node["missing_table"].message
    assert "model.probe.compile_error" in str(node_errors)
    assert "model.probe.missing_table" in str(node_errors)
    assert isinstance(node_errors, RenderError)


def test_microbatch_models_are_refused(node_errors: NodeRenderError) -> None:
    error = next(e for e in node_errors.errors if e.unique_id == "model.probe.batched")
    assert error.kind == "capture"
    assert "microbatch strategy runs one job per batch" in error.message


def test_introspecting_a_relation_changed_earlier_in_the_render_is_refused(node_errors: NodeRenderError) -> None:
    error = next(e for e in node_errors.errors if e.unique_id == "model.probe.reads_changed_table")
    assert error.kind == "capture"
    assert "model.probe.reads_changed_table cannot be rendered ahead of time" in error.message
    assert "`render_errors`.`base_table`" in error.message
    assert "model.probe.base_table changes it earlier in this run (insert into)" in error.message


def test_known_columns_and_view_contents_are_derived(probe: Path, local_gcp_session: LocalGCP, tmp_path: Path) -> None:
    """With the failing nodes excluded the rest renders, introspection answered from what the render wrote."""
    result = render_project(
        capture_package=CAPTURE,
        project_dir=probe,
        profiles_dir=probe,
        exclude=NEEDS_RUN_TIME,
        env={"COSMOS_REMOTE_BQ_DATASET": DATASET},
        cache_dir=tmp_path,
    )
    dml = result.nodes["model.probe.dml_via_run_query"].statements
    assert " ".join(dml[0].split()) == (
        f"insert into `{local_gcp_session.project}`.`{DATASET}`.`run_log` (event) values ('dml')"
    )
    assert [" ".join(s.split()) for s in result.on_run_start] == [
        f"create table if not exists `{local_gcp_session.project}`.`{DATASET}`.`run_log` (event string)"
    ]
    assert [" ".join(s.split()) for s in result.on_run_end] == [
        f"insert into `{local_gcp_session.project}`.`{DATASET}`.`run_log` (event) values ('end')"
    ]
    compiled = {uid.split(".")[-1]: " ".join((node.compiled_sql or "").split()) for uid, node in result.nodes.items()}
    assert compiled["columns_of_table"].startswith("select id, label from")
    assert compiled["columns_of_view"].startswith("select id, label, tens from")
    assert compiled["values_of_view"].endswith("select 'a,b' as labels")
    # nothing was written to the warehouse while rendering
    client = bigquery_client(local_gcp_session)
    assert [t.table_id for t in client.list_tables(f"{local_gcp_session.project}.{DATASET}")] == []


def test_failed_render_keeps_its_folder_and_returns_nothing(tmp_path: Path, gcp: LocalGCP) -> None:
    project = write_project(tmp_path / "p", {"models/bad.sql": "{{ exceptions.raise_compiler_error('at parse') }}"})
    with pytest.raises(DbtInvocationError, match="at parse") as caught:
        render_project(capture_package=CAPTURE, project_dir=project, profiles_dir=project, work_dir=tmp_path / "work")
    assert caught.value.log_path is not None
    assert caught.value.log_path.parent.parent == tmp_path / "work"
    shutil.rmtree(tmp_path / "work")
