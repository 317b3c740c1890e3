"""Helpers for the render tests: run plain dbt, execute rendered scripts, read whole datasets back."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import google.auth.credentials
from google.cloud import bigquery

from cosmos_remote.backends.bigquery import BACKEND as BIGQUERY
from cosmos_remote.dbt import RenderResult
from cosmos_remote.testing import LocalGCP, emulator_profiles_yml

REPO: Final = Path(__file__).resolve().parents[2]
EXAMPLE_PROJECT: Final = REPO / "examples" / "dbt" / "jaffle_shop"
EXAMPLE_PROFILES: Final = REPO / "examples" / "dbt"
DBT: Final = Path(sys.executable).parent / "dbt"
_TYPE_ALIASES: Final = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}


def bigquery_client(gcp: LocalGCP) -> bigquery.Client:
    """google-cloud-bigquery pointed at the emulator."""
    return bigquery.Client(
        project=gcp.project,
        credentials=google.auth.credentials.AnonymousCredentials(),
        client_options={"api_endpoint": gcp.bigquery_endpoint},
    )


def dataset_name(text: str) -> str:
    """A BigQuery dataset name derived from a test name."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", text)[:60].strip("_").lower()


def run_dbt_build(*, dataset: str, work: Path, extra: Iterable[str] = (), project: Path = EXAMPLE_PROJECT) -> str:
    """A plain ``dbt build`` of the example project into ``dataset`` (the reference); returns dbt's output."""
    env = {**os.environ, "COSMOS_REMOTE_BQ_DATASET": dataset, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [
        str(DBT), "build", "--project-dir", str(project), "--profiles-dir", str(EXAMPLE_PROFILES),
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"), *extra,
    ]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def execution_order(result: RenderResult) -> list[str]:
    """The rendered nodes sorted so that every node comes after the rendered nodes it depends on."""
    placed: list[str] = []
    seen: set[str] = set()

    def visit(unique_id: str) -> None:
        if unique_id in seen or unique_id not in result.nodes:
            return
        seen.add(unique_id)
        for parent in result.nodes[unique_id].depends_on:
            visit(parent)
        placed.append(unique_id)

    for unique_id in result.nodes:
        visit(unique_id)
    return placed


def execute_rendered(client: bigquery.Client, result: RenderResult) -> dict[str, dict[str, Any]]:
    """Run on-run-start, every node's script as ONE BigQuery job in dependency order, then on-run-end.

    Returns the result row of every test's script (``failures``, ``should_warn``, ``should_error``).
    """
    test_rows: dict[str, dict[str, Any]] = {}
    if result.on_run_start_script:
        client.query(result.on_run_start_script).result()
    for unique_id in execution_order(result):
        node = result.nodes[unique_id]
        rows = list(client.query(node.script).result())
        if node.resource_type == "test":
            test_rows[unique_id] = dict(rows[0].items())
    if result.on_run_end_script:
        client.query(result.on_run_end_script).result()
    return test_rows


@dataclass(frozen=True)
class TableContent:
    """A relation as read back: its kind, columns and sorted rows (some columns blanked)."""

    table_type: str
    columns: tuple[tuple[str, str, str], ...]
    rows: tuple[tuple[Any, ...], ...]


def read_datasets(
    client: bigquery.Client, base: str, ignore_columns: Mapping[str, set[str]] | None = None
) -> dict[str, TableContent]:
    """Every relation of ``base``, ``base_marts`` and ``base_snapshots``, keyed ``suffix/table``.

    Columns named in ``ignore_columns[table]`` are replaced by whether they are NULL (their values depend on the dbt
    invocation, e.g. ``invocation_id``).
    """
    ignore = ignore_columns or {}
    contents: dict[str, TableContent] = {}
    for suffix in ("", "_marts", "_snapshots"):
        dataset = f"{client.project}.{base}{suffix}"
        try:
            tables = list(client.list_tables(dataset))
        except Exception:  # the dataset does not exist
            continue
        for item in tables:
            table = client.get_table(item.reference)
            columns = tuple(
                (field.name, _TYPE_ALIASES.get(field.field_type, field.field_type), field.mode or "NULLABLE")
                for field in table.schema
            )
            names = [column[0] for column in columns]
            blanked = ignore.get(item.table_id, set())
            rows = [
                tuple((value is None) if name in blanked else value for name, value in zip(names, row, strict=True))
                for row in client.query(f"SELECT * FROM `{dataset}.{item.table_id}`").result()
            ]
            contents[f"{suffix.lstrip('_') or 'base'}/{item.table_id}"] = TableContent(
                table_type=str(table.table_type), columns=columns, rows=tuple(sorted(rows, key=repr))
            )
    return contents


def copy_project(source: Path, destination: Path) -> Path:
    """A copy of a dbt project (without target/ or logs/)."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return destination


def write_project(root: Path, files: Mapping[str, str], *, name: str = "probe", extra_config: str = "") -> Path:
    """A small dbt project under ``root`` with a BigQuery profile pointing at the emulator (profiles.yml in root)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(
        f"name: {name}\nversion: '1.0'\nconfig-version: 2\nprofile: {name}\n{extra_config}", encoding="utf-8"
    )
    (root / "profiles.yml").write_text(emulator_profiles_yml(name, threads=2), encoding="utf-8")
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


#: The render-capture package of the BigQuery backend, which every render here uses.
CAPTURE = BIGQUERY.capture_package
