"""Test-suite wide fixtures: the emulators and an isolated Airflow home come from cosmos_remote's own plugin; the
example dbt project and its manifest (real ``dbt parse``, once per session) come from here."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmos_remote.dbt.manifest import DbtGraph, load_manifest, parse_project

pytest_plugins = ["cosmos_remote.testing.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def example_project() -> Path:
    """examples/dbt/jaffle_shop."""
    return REPO / "examples" / "dbt" / "jaffle_shop"


@pytest.fixture(scope="session")
def example_profiles() -> Path:
    """The folder of the example ``profiles.yml`` (profile ``jaffle_shop``, target ``dev``)."""
    return REPO / "examples" / "dbt"


@pytest.fixture(scope="session")
def example_manifest(tmp_path_factory: pytest.TempPathFactory, example_project: Path, example_profiles: Path) -> Path:
    return parse_project(
        project_dir=example_project,
        profiles_dir=example_profiles,
        profile="jaffle_shop",
        target="dev",
        cache_dir=tmp_path_factory.mktemp("dbt-cache"),
        env={"COSMOS_REMOTE_BQ_DATASET": "jaffle_shop"},  # the profile's default, whichever emulator env is set
    )


@pytest.fixture(scope="session")
def example_graph(example_manifest: Path) -> DbtGraph:
    return load_manifest(example_manifest)
