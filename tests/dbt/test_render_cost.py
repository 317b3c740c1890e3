"""What a render costs the warehouse: its BigQuery API calls depend on the schemas, not on the number of models."""

from __future__ import annotations

from pathlib import Path

from cosmos_remote.backends.bigquery import BACKEND as BIGQUERY
from cosmos_remote.dbt import render_project
from cosmos_remote.testing import LocalGCP, emulator_profiles_yml


def _project(root: Path, models: int) -> Path:
    """One seed, then ``models`` views and tables in a chain."""
    (root / "models").mkdir(parents=True)
    (root / "seeds").mkdir()
    (root / "dbt_project.yml").write_text(
        "name: cost\nversion: '1.0'\nconfig-version: 2\nprofile: cost\nmodels:\n  cost:\n    +materialized: view\n"
    )
    (root / "profiles.yml").write_text(emulator_profiles_yml("cost"))
    (root / "seeds" / "source_rows.csv").write_text("id,name\n1,a\n2,b\n")
    for i in range(models):
        upstream = "{{ ref('source_rows') }}" if i == 0 else f"{{{{ ref('m_{i - 1:03d}') }}}}"
        config = "{{ config(materialized='table') }}\n" if i % 3 == 2 else ""
        (root / "models" / f"m_{i:03d}.sql").write_text(f"{config}select * from {upstream}\n")
    return root


def _api_calls(gcp: LocalGCP, project: Path, dataset: str, cache: Path) -> dict[str, int]:
    before = dict(gcp.job_log()["requests"])
    result = render_project(
        project_dir=project,
        profiles_dir=project,
        env={"COSMOS_REMOTE_BQ_DATASET": dataset},
        cache_dir=cache,
        capture_package=BIGQUERY.capture_package,
    )
    assert len(result.nodes) > 1
    after = gcp.job_log()["requests"]
    return {method: after[method] - before.get(method, 0) for method in after if after[method] != before.get(method, 0)}


def test_a_render_makes_the_same_metadata_calls_for_6_models_as_for_30(
    local_gcp_session: LocalGCP, tmp_path: Path
) -> None:
    small = _api_calls(local_gcp_session, _project(tmp_path / "small", 6), "render_cost_small", tmp_path / "c1")
    large = _api_calls(local_gcp_session, _project(tmp_path / "large", 30), "render_cost_large", tmp_path / "c2")
    assert small == large, f"6 models: {small}; 30 models: {large}"
    assert sum(large.values()) <= 5, large  # list the datasets, list the dataset's tables, get it
    assert not any(method.startswith("jobs.") for method in large), "nothing is executed while rendering"
