"""Cosmos's names, signatures and settings: every argument Cosmos accepts is accepted here in Cosmos's positional
order, and does what ``cosmos_remote.compat`` (and the table in docs/migrating.md) says: works, is ignored with one
warning, or is refused with a message naming it."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cosmos_remote import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos_remote.artifacts.factory import choose_store
from cosmos_remote.compat import COSMOS_ARGUMENTS, markdown_table
from cosmos_remote.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "examples" / "dbt" / "jaffle_shop"

#: Cosmos 1.15's positional order of each config class (its constructor signatures).
COSMOS_ORDER = {
    ProjectConfig: [a.name for a in COSMOS_ARGUMENTS if a.owner == "ProjectConfig"],
    ExecutionConfig: [a.name for a in COSMOS_ARGUMENTS if a.owner == "ExecutionConfig"],
    RenderConfig: [a.name for a in COSMOS_ARGUMENTS if a.owner == "RenderConfig"],
    ProfileConfig: [a.name for a in COSMOS_ARGUMENTS if a.owner == "ProfileConfig"],
}

#: A value other than Cosmos's default for every ignored argument: it must give exactly one notice naming it.
IGNORED_VALUES: dict[tuple[str, str], Any] = {
    ("ProjectConfig", "copy_dbt_packages"): True,
    ("ProjectConfig", "models_relative_path"): "src/models",
    ("ProjectConfig", "seeds_relative_path"): "data",
    ("ProjectConfig", "snapshots_relative_path"): "snaps",
    ("ProjectConfig", "manifest_conn_id"): "aws_default",
    ("ProjectConfig", "partial_parse"): False,
    ("ExecutionConfig", "invocation_mode"): "subprocess",
    ("ExecutionConfig", "test_indirect_selection"): "cautious",
    ("ExecutionConfig", "virtualenv_dir"): "/tmp/venv",
    ("ExecutionConfig", "async_py_requirements"): ["dbt-bigquery"],
    ("RenderConfig", "invocation_mode"): "subprocess",
    ("RenderConfig", "node_conversion_by_task_group"): False,
    ("RenderConfig", "enable_mock_profile"): False,
    ("RenderConfig", "group_nodes_by_folder"): True,
    ("RenderConfig", "source_rendering_behavior"): "all",
    ("RenderConfig", "source_pruning"): True,
    ("RenderConfig", "seed_rendering_behavior"): "when_seed_changes",
    ("RenderConfig", "airflow_vars_to_purge_dbt_ls_cache"): ["v"],
    ("RenderConfig", "airflow_vars_to_purge_dbt_yaml_selectors_cache"): ["v"],
    ("RenderConfig", "normalize_task_id"): str,
    ("RenderConfig", "normalize_task_display_name"): str,
    ("RenderConfig", "should_detach_multiple_parents_tests"): True,
    ("RenderConfig", "enable_owner_inheritance"): False,
    ("RenderConfig", "ephemeral_models_as_empty_operator"): False,
}
REFUSED_VALUES: dict[tuple[str, str], Any] = {
    ("RenderConfig", "selector"): "nightly",
    ("RenderConfig", "node_converters"): {"source": print},
    ("RenderConfig", "dbt_ls_path"): "/tmp/dbt_ls.txt",
}
CLASSES = {"ProjectConfig": ProjectConfig, "ExecutionConfig": ExecutionConfig, "RenderConfig": RenderConfig}


def _build(owner: str, name: str, value: Any) -> Any:
    base: dict[str, Any] = {"dbt_project_path": PROJECT} if owner == "ProjectConfig" else {}
    return CLASSES[owner](**{**base, name: value})


@pytest.mark.parametrize("cls", list(COSMOS_ORDER), ids=lambda c: c.__name__)
def test_every_cosmos_argument_is_accepted_in_cosmos_positional_order(cls: type) -> None:
    parameters = [p.name for p in inspect.signature(cls).parameters.values()]
    assert parameters[: len(COSMOS_ORDER[cls])] == COSMOS_ORDER[cls]
    positional = [
        p.name
        for p in inspect.signature(cls).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    assert positional[: len(COSMOS_ORDER[cls])] == COSMOS_ORDER[cls]


def test_every_ignored_and_refused_argument_is_covered_here() -> None:
    for entry in COSMOS_ARGUMENTS:
        if entry.owner in CLASSES and entry.status == "ignored":
            assert (entry.owner, entry.name) in IGNORED_VALUES, entry
        if entry.owner in CLASSES and entry.status == "refused":
            assert (entry.owner, entry.name) in REFUSED_VALUES, entry


@pytest.mark.parametrize(("key", "value"), list(IGNORED_VALUES.items()), ids=lambda k: str(k))
def test_an_ignored_argument_gives_one_notice_naming_it(key: tuple[str, str], value: Any) -> None:
    config = _build(*key, value)
    assert [n.name for n in config.notices] == [key[1]]
    assert key[1] in config.notices[0].message
    assert not _build(key[0], "dbt_project_path", PROJECT if key[0] == "ProjectConfig" else None).notices


@pytest.mark.parametrize(("key", "value"), list(REFUSED_VALUES.items()), ids=lambda k: str(k))
def test_a_refused_argument_raises_naming_it(key: tuple[str, str], value: Any) -> None:
    with pytest.raises(ConfigError, match=key[1]):
        _build(*key, value)


def test_the_migrating_page_carries_the_table_of_the_code() -> None:
    page = (REPO / "docs" / "migrating.md").read_text()
    assert markdown_table() in page, "paste cosmos_remote.compat.markdown_table() into docs/migrating.md"


def test_cosmos_imports_and_positional_forms() -> None:
    # failure 1 and 2: the modules Cosmos users import from
    from cosmos_remote.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior
    from cosmos_remote.profiles import (
        GoogleCloudOauthProfileMapping,
        GoogleCloudServiceAccountDictProfileMapping,
        GoogleCloudServiceAccountFileProfileMapping,
    )

    mapping = GoogleCloudServiceAccountDictProfileMapping(
        conn_id="gcp", profile_args={"project": "p", "dataset": "d", "location": "EU"}
    )
    profile = ProfileConfig("default", "dev", profile_mapping=mapping)
    assert (profile.conn_id, profile.project, profile.dataset, profile.location) == ("gcp", "p", "d", "EU")
    assert profile.job_project == "p"
    for cls in (GoogleCloudOauthProfileMapping, GoogleCloudServiceAccountFileProfileMapping):
        assert cls(conn_id="gcp", profile_args={"dataset": "d"}).dbt_profile_type == "bigquery"
    # failure 3: ProjectConfig(path) positionally
    assert ProjectConfig(PROJECT).project_dir == PROJECT
    # failure 4: Cosmos's ExecutionConfig arguments, positional too
    config = ExecutionConfig(ExecutionMode.AIRFLOW_ASYNC, InvocationMode.DBT_RUNNER, async_py_requirements=["x"])
    assert {n.name for n in config.notices} == {"invocation_mode", "async_py_requirements"}
    assert (
        RenderConfig(test_behavior=TestBehavior.BUILD, load_method=LoadMode.DBT_MANIFEST).test_behavior == "after_each"
    )


def test_misconfigurations_fail_at_construction_naming_the_argument() -> None:
    from cosmos_remote.constants import ExecutionMode
    from cosmos_remote.profiles import GoogleCloudOauthProfileMapping

    with pytest.raises(ConfigError, match=r"execution_mode: .*LOCAL.*AIRFLOW_ASYNC"):
        ExecutionConfig(execution_mode=ExecutionMode.LOCAL)
    with pytest.raises(ConfigError, match="scheme 'gss'"):
        ExecutionConfig(remote_target_path="gss://x")
    with pytest.raises(ConfigError, match="names no bucket"):
        ExecutionConfig(remote_target_path="gs:///cosmos")
    with pytest.raises(ConfigError, match=r"profile_args=\{'dataset'"):
        ProfileConfig("default", "dev", profile_mapping=GoogleCloudOauthProfileMapping(conn_id="gcp"))
    with pytest.raises(ConfigError, match="method"):
        GoogleCloudOauthProfileMapping(conn_id="gcp", profile_args={"method": "service-account"})
    with pytest.raises(ConfigError, match="remote"):
        ProjectConfig(PROJECT, manifest_path="gs://bucket/manifest.json")


@pytest.fixture
def clean_settings() -> Iterator[dict[str, str]]:
    names = [
        f"AIRFLOW__{section}__{name}"
        for section in ("COSMOS", "COSMOS_REMOTE")
        for name in ("REMOTE_TARGET_PATH", "REMOTE_TARGET_PATH_CONN_ID", "UPLOAD_SQL_TO_XCOM")
    ]
    saved = {name: os.environ.pop(name, None) for name in names}
    yield os.environ  # type: ignore[misc]
    for name, value in saved.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value


def test_store_choice_follows_argument_then_own_then_cosmos_settings(clean_settings: Any) -> None:
    # failure 6: [cosmos] remote_target_path is honoured, and falling back to XCom says why
    assert "no remote_target_path" in choose_store(remote_target_path=None, conn_id=None).reason
    clean_settings["AIRFLOW__COSMOS__REMOTE_TARGET_PATH"] = "gs://cosmos-bucket/sql"
    clean_settings["AIRFLOW__COSMOS__REMOTE_TARGET_PATH_CONN_ID"] = "gcs_conn"
    choice = choose_store(remote_target_path=None, conn_id=None)
    assert (choice.remote_target_path, choice.conn_id, choice.reason) == (
        "gs://cosmos-bucket/sql",
        "gcs_conn",
        "[cosmos] remote_target_path",
    )
    clean_settings["AIRFLOW__COSMOS__UPLOAD_SQL_TO_XCOM"] = "True"
    assert choose_store(remote_target_path=None, conn_id=None).kind == "xcom"
    clean_settings["AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH"] = "gs://own/sql"
    assert choose_store(remote_target_path=None, conn_id=None).reason == "[cosmos_remote] remote_target_path"
    assert choose_store(remote_target_path="gs://arg/sql", conn_id="c").remote_target_path == "gs://arg/sql"
    clean_settings["AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH"] = "gss://typo"
    with pytest.raises(ConfigError, match=r"\[cosmos_remote\] remote_target_path"):
        choose_store(remote_target_path=None, conn_id=None)


def test_run_time_target_puts_profile_args_over_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # failure 7: the configured project is the dbt target's (and the jobs'), not the connection's
    from cosmos_remote.backends.bigquery.profile import bigquery_target
    from cosmos_remote.profiles import GoogleCloudServiceAccountDictProfileMapping

    extra = {"project": "conn-billing-project", "keyfile_dict": json.dumps({"type": "service_account"})}
    monkeypatch.setenv("AIRFLOW_CONN_SA", json.dumps({"conn_type": "google_cloud_platform", "extra": extra}))
    mapping = GoogleCloudServiceAccountDictProfileMapping(
        conn_id="sa", profile_args={"project": "analytics-prod", "dataset": "marts", "priority": "batch"}
    )
    target = bigquery_target(ProfileConfig("default", "dev", profile_mapping=mapping))
    assert target["project"] == "analytics-prod"
    assert target["dataset"] == "marts"
    assert target["method"] == "service-account-json"
    assert target["priority"] == "batch"
    overridden = ProfileConfig("default", "dev", profile_mapping=mapping, project="other")
    assert bigquery_target(overridden)["project"] == "other"
    assert dataclasses.replace(overridden).job_project == "other"


def test_cosmos_settings_that_cannot_apply_are_warned_about(clean_settings: Any) -> None:
    from cosmos_remote.compat import cosmos_setting_notices

    assert cosmos_setting_notices() == []
    clean_settings["AIRFLOW__COSMOS__ENABLE_SETUP_ASYNC_TASK"] = "false"
    clean_settings["AIRFLOW__COSMOS__ENABLE_TEARDOWN_ASYNC_TASK"] = "true"
    try:
        notices = cosmos_setting_notices()
    finally:
        del clean_settings["AIRFLOW__COSMOS__ENABLE_SETUP_ASYNC_TASK"]
        del clean_settings["AIRFLOW__COSMOS__ENABLE_TEARDOWN_ASYNC_TASK"]
    assert [n.name for n in notices] == ["enable_setup_async_task", "enable_teardown_async_task"]
    assert "the Airflow setting [cosmos] enable_teardown_async_task is ignored" in notices[1].message
