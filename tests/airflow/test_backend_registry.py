"""Third-party warehouses plug in through the ``cosmos_remote.async_backends`` entry point group."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest

from cosmos_remote import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig
from cosmos_remote.operators.factory import DbtRunAirflowAsyncFactoryOperator
from cosmos_remote.operators.registry import registered_backends

PLUGIN = textwrap.dedent(
    """
    from typing import Any

    from cosmos_remote.operators.factory import DbtRunAirflowAsyncFactoryOperator, DbtTestAirflowAsyncFactoryOperator
    from cosmos_remote.operators.registry import AsyncBackend


    class WarehouseRunOperator(DbtRunAirflowAsyncFactoryOperator):
        def __init__(self, *, node: Any, profile_config: Any, artifacts: Any, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.node = node


    class WarehouseTestOperator(DbtTestAirflowAsyncFactoryOperator):
        def __init__(self, *, node: Any, tests: Any, profile_config: Any, artifacts: Any, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.tests = tests


    BACKEND = AsyncBackend(
        profile_type="warehousex",
        run_operator="warehousex_backend:WarehouseRunOperator",
        test_operator="warehousex_backend:WarehouseTestOperator",
    )
    """
)


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real distribution on sys.path whose entry point registers the ``warehousex`` backend."""
    (tmp_path / "warehousex_backend.py").write_text(PLUGIN)
    dist = tmp_path / "warehousex_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: warehousex-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[cosmos_remote.async_backends]\nwarehousex = warehousex_backend:BACKEND\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registered_backends.cache_clear()
    yield
    registered_backends.cache_clear()
    sys.modules.pop("warehousex_backend", None)


def test_an_entry_point_backend_builds_the_tasks(
    installed_plugin: None, tmp_path: Path, example_project: Path, example_manifest: Path
) -> None:
    profiles = tmp_path / "profiles.yml"
    profiles.write_text("p:\n  target: dev\n  outputs:\n    dev:\n      type: warehousex\n")
    assert "warehousex" in registered_backends()
    dag = DbtDag(
        dag_id="third_party",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        project_config=ProjectConfig(dbt_project_path=example_project, manifest_path=example_manifest),
        profile_config=ProfileConfig(profile_name="p", target_name="dev", profiles_yml_filepath=profiles),
        execution_config=ExecutionConfig(remote_target_path="memory://x"),
    )
    run = dag.task_dict["orders.run"]
    assert type(run).__name__ == "WarehouseRunOperator"
    assert isinstance(run, DbtRunAirflowAsyncFactoryOperator)
    assert run.node.unique_id == "model.jaffle_shop.orders"
