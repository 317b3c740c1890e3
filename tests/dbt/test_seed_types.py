"""A seed's rendered script makes the table ``dbt seed`` makes: the same column types and values, with
``column_types`` and with dbt's own inference, on the first run and on a second run after the CSV changed.

BIGNUMERIC is left out: the local emulator's load job cannot create it (DuckDB's DECIMAL stops at 38 digits), so
``dbt seed`` itself fails there; the script casts it like NUMERIC."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from rendering_support import CAPTURE, DBT, bigquery_client, execute_rendered, read_datasets, write_project

from cosmos_remote.dbt import render_project
from cosmos_remote.testing import LocalGCP

HEADER = "amount,day,at,flag,label,count\n"
ROWS_1 = "12.500,2024-01-02,2024-01-02 03:04:05,true,x,3\n1,2024-02-29,,false,,\n"
ROWS_2 = "7.25,2023-12-31,2023-12-31 23:59:59.5,false,changed,10\n"
TYPED = """
seeds:
  seedtypes:
    typed:
      +column_types:
        amount: numeric
        day: date
        at: timestamp
        flag: boolean
        label: string
        count: int64
"""


def _dbt_seed(project: Path, dataset: str, work: Path) -> None:
    env = {**os.environ, "COSMOS_REMOTE_BQ_DATASET": dataset, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [
        str(DBT), "seed", "--project-dir", str(project), "--profiles-dir", str(project),
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _write_csvs(project: Path, rows: str) -> None:
    for name in ("typed", "inferred"):
        (project / "seeds" / f"{name}.csv").write_text(HEADER + rows, encoding="utf-8")


@pytest.mark.slow
def test_seed_tables_equal_dbt_seeds_on_the_first_and_a_second_run(local_gcp_session: LocalGCP, tmp_path: Path) -> None:
    gcp, client = local_gcp_session, bigquery_client(local_gcp_session)
    project = write_project(tmp_path / "seedtypes", {"seeds/.keep": ""}, name="seedtypes", extra_config=TYPED)
    reference, rendered = "seed_types_reference", "seed_types_rendered"
    for dataset in (reference, rendered):
        gcp.create_dataset(dataset)
    for number, rows in enumerate((ROWS_1, ROWS_1 + ROWS_2), start=1):
        _write_csvs(project, rows)
        _dbt_seed(project, reference, tmp_path / f"reference{number}")
        result = render_project(
            project_dir=project,
            profiles_dir=project,
            env={"COSMOS_REMOTE_BQ_DATASET": rendered},
            cache_dir=tmp_path / "cache",
            capture_package=CAPTURE,
        )
        execute_rendered(client, result)
        expected, actual = read_datasets(client, reference), read_datasets(client, rendered)
        assert set(expected) == {"base/typed", "base/inferred"}, f"run {number}"
        for table in sorted(expected):
            assert actual[table].columns == expected[table].columns, f"run {number}: {table} column types"
            # repr: Decimal("12.500") == Decimal("12.500000000"), but a reader of the table sees the difference
            assert repr(actual[table].rows) == repr(expected[table].rows), f"run {number}: {table} values"
        typed = dict((name, kind) for name, kind, _ in expected["base/typed"].columns)
        assert typed["amount"] == "NUMERIC"
