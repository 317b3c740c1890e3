"""What becomes of each astronomer-cosmos argument: works the same, accepted and ignored (with one warning per DAG),
or refused with a message naming the replacement.

This table is the single source for the configs' warnings and refusals and for the table in ``docs/migrating.md``
(a test keeps the two equal). A config records a :class:`Notice` for every ignored argument given a value other than
Cosmos's default; :func:`emit_notices` warns once per DAG.

Example:
    >>> status("ExecutionConfig", "async_py_requirements").status
    'ignored'
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "COSMOS_ARGUMENTS",
    "CosmosArgument",
    "CosmosCompatibilityWarning",
    "Notice",
    "cosmos_setting_notices",
    "emit_notices",
    "ignored_notice",
    "markdown_table",
    "refusal",
    "status",
]

log = logging.getLogger("cosmos_remote")

Status = Literal["works", "ignored", "refused"]


class CosmosCompatibilityWarning(UserWarning):
    """An astronomer-cosmos argument or setting was given that has no effect in cosmos_remote."""


@dataclass(frozen=True)
class CosmosArgument:
    """One argument of a Cosmos config class (or ``operator_args`` key) and what cosmos_remote does with it."""

    owner: str
    name: str
    status: Status
    note: str


@dataclass(frozen=True)
class Notice:
    """An ignored argument that was given: warned about once per DAG."""

    owner: str
    name: str
    message: str


_NO_VENV: Final = "no per-run virtualenv: dbt runs in the Airflow environment, or the one of `dbt_executable_path`"

_OWN_JOB_ID: Final = "each try gets a deterministic job id (DAG, task, run, SQL sha256, try), so a retry reattaches"
_TRIGGERER_WAITS: Final = "the triggerer waits for the job; no worker waits for its result"
_TABLE: Final[tuple[tuple[str, str, Status, str], ...]] = (
    # ProjectConfig, in Cosmos's positional order.
    ("ProjectConfig", "dbt_project_path", "works", "the project the setup task renders"),
    (
        "ProjectConfig",
        "install_dbt_deps",
        "works",
        "`dbt deps` once into a cache keyed by packages.yml / "
        "package-lock.yml, never into the project folder; reused by later parses and by the setup task",
    ),
    (
        "ProjectConfig",
        "copy_dbt_packages",
        "ignored",
        "the project is never copied: packages come from the deps cache or the project's own `dbt_packages`",
    ),
    ("ProjectConfig", "models_relative_path", "ignored", "nodes are found through dbt's manifest, not folders"),
    ("ProjectConfig", "seeds_relative_path", "ignored", "nodes are found through dbt's manifest, not folders"),
    ("ProjectConfig", "snapshots_relative_path", "ignored", "nodes are found through dbt's manifest, not folders"),
    (
        "ProjectConfig",
        "manifest_path",
        "works",
        "a local `manifest.json`; a remote URL is refused (copy it into the DAG bundle: parsing reads no network)",
    ),
    ("ProjectConfig", "manifest_conn_id", "ignored", "only local manifests are read"),
    ("ProjectConfig", "project_name", "works", "the project's name in artifact paths"),
    ("ProjectConfig", "env_vars", "works", "set for `dbt parse` and the setup task's render"),
    ("ProjectConfig", "dbt_vars", "works", "dbt `--vars` for parsing and rendering"),
    (
        "ProjectConfig",
        "partial_parse",
        "ignored",
        "the setup task keeps dbt's partial-parse file in a cache of its own, keyed by project and dbt environment",
    ),
    # ProfileConfig
    ("ProfileConfig", "profile_name", "works", "the dbt profile"),
    ("ProfileConfig", "target_name", "works", "the dbt target"),
    ("ProfileConfig", "profiles_yml_filepath", "works", "dbt reads the file; jobs use `conn_id` or the mapping's"),
    (
        "ProfileConfig",
        "profile_mapping",
        "works",
        "`cosmos_remote.profiles` mappings; `profile_args` override the connection at parse and at run time",
    ),
    # ExecutionConfig
    ("ExecutionConfig", "execution_mode", "works", "`AIRFLOW_ASYNC` (the default here); any other mode is refused"),
    ("ExecutionConfig", "invocation_mode", "ignored", "dbt always runs in a subprocess of its own"),
    (
        "ExecutionConfig",
        "test_indirect_selection",
        "ignored",
        "tests are selected as dbt's default `EAGER` does: "
        "each test of a selected model runs after the models it needs",
    ),
    (
        "ExecutionConfig",
        "dbt_executable_path",
        "works",
        "a dbt of another environment (a path, or a name on PATH); unset: the dbt installed next to Airflow",
    ),
    ("ExecutionConfig", "install_dbt_deps", "works", "overrides `ProjectConfig.install_dbt_deps` in the setup task"),
    ("ExecutionConfig", "dbt_project_path", "works", "the project path at run time when it differs from parse time"),
    ("ExecutionConfig", "virtualenv_dir", "ignored", _NO_VENV),
    ("ExecutionConfig", "async_py_requirements", "ignored", _NO_VENV),
    (
        "ExecutionConfig",
        "setup_operator_args",
        "works",
        "arguments of the setup task (`dbt_setup`), over `operator_args`",
    ),
    # The profile mappings of cosmos_remote.profiles (Cosmos's constructor arguments).
    ("ProfileMapping", "conn_id", "works", "the connection of the dbt profile (read at run time only) and of the jobs"),
    (
        "ProfileMapping",
        "profile_args",
        "works",
        "override the connection (project, dataset, location, keyfile, "
        "impersonate_service_account, priority...) in dbt's profile at parse and run time, and in the jobs",
    ),
    ("ProfileMapping", "disable_event_tracking", "works", "dbt's anonymous usage stats are always off"),
    ("ProfileMapping", "dbt_config_vars", "ignored", "set dbt flags in dbt_project.yml `flags:`"),
    # RenderConfig
    ("RenderConfig", "emit_datasets", "works", "False: no Asset outlets on the node tasks"),
    ("RenderConfig", "test_behavior", "works", "`AFTER_EACH`, `AFTER_ALL`, `NONE`; `BUILD` runs as `AFTER_EACH`"),
    (
        "RenderConfig",
        "load_method",
        "works",
        "every method reads a manifest (given, or from a cached `dbt parse`); `DBT_LS_FILE` and `CUSTOM` are refused",
    ),
    ("RenderConfig", "invocation_mode", "ignored", "dbt always runs in a subprocess of its own"),
    ("RenderConfig", "select", "works", "dbt selection"),
    ("RenderConfig", "exclude", "works", "dbt selection"),
    (
        "RenderConfig",
        "selector",
        "refused",
        "YAML selectors are not evaluated; write the selection in `select` / `exclude`",
    ),
    ("RenderConfig", "dbt_deps", "works", "the deprecated alias of `ProjectConfig.install_dbt_deps`"),
    (
        "RenderConfig",
        "node_converters",
        "refused",
        "every node is a deferrable warehouse job; add your own tasks around the DbtTaskGroup instead",
    ),
    ("RenderConfig", "node_conversion_by_task_group", "ignored", "each node is a task group of its own"),
    ("RenderConfig", "dbt_executable_path", "works", "the dbt that parses the project at DAG parse time"),
    ("RenderConfig", "env_vars", "works", "the deprecated alias of `ProjectConfig.env_vars`"),
    ("RenderConfig", "dbt_project_path", "works", "the project path at DAG parse time"),
    ("RenderConfig", "dbt_ls_path", "refused", "no `dbt ls` output is read; give `ProjectConfig(manifest_path=...)`"),
    (
        "RenderConfig",
        "enable_mock_profile",
        "ignored",
        "parsing never reads a connection: the profile at parse time is always a placeholder",
    ),
    ("RenderConfig", "group_nodes_by_folder", "ignored", "tasks are grouped per node"),
    ("RenderConfig", "source_rendering_behavior", "ignored", "sources get no tasks"),
    ("RenderConfig", "source_pruning", "ignored", "sources get no tasks"),
    (
        "RenderConfig",
        "seed_rendering_behavior",
        "ignored",
        "selected seeds run in every DAG run; leave them out with `exclude=['resource_type:seed']`",
    ),
    (
        "RenderConfig",
        "airflow_vars_to_purge_dbt_ls_cache",
        "ignored",
        "no `dbt ls` cache: the parse cache is keyed by the project's content",
    ),
    ("RenderConfig", "airflow_vars_to_purge_dbt_yaml_selectors_cache", "ignored", "YAML selectors are not used"),
    ("RenderConfig", "normalize_task_id", "ignored", "task ids are the node names (`<name>.run`)"),
    ("RenderConfig", "normalize_task_display_name", "ignored", "task ids are the node names (`<name>.run`)"),
    ("RenderConfig", "should_detach_multiple_parents_tests", "ignored", "a test runs after all the models it needs"),
    ("RenderConfig", "enable_owner_inheritance", "ignored", "task owners come from `default_args`"),
    (
        "RenderConfig",
        "ephemeral_models_as_empty_operator",
        "ignored",
        "ephemeral models get no task; dependencies pass through them",
    ),
    # DbtDag / DbtTaskGroup
    ("DbtDag", "on_warning_callback", "ignored", "dbt test warnings are logged by the test tasks"),
    ("DbtDag", "schedule_interval", "works", "Airflow 3 has no schedule_interval: its value is used as `schedule`"),
    # astronomer-cosmos's Airflow settings ([cosmos] section / AIRFLOW__COSMOS__*), read when [cosmos_remote] is unset
    (
        "[cosmos]",
        "remote_target_path",
        "works",
        "where the SQL is published, after the argument and `[cosmos_remote] remote_target_path`",
    ),
    ("[cosmos]", "remote_target_path_conn_id", "works", "the object store's connection"),
    (
        "[cosmos]",
        "upload_sql_to_xcom",
        "works",
        "set true, the SQL goes through XCom even with `[cosmos] "
        "remote_target_path` set, as in Cosmos; unset, the remote path wins",
    ),
    ("[cosmos]", "enable_setup_async_task", "ignored", "there is always a setup task: node tasks never run dbt"),
    (
        "[cosmos]",
        "enable_teardown_async_task",
        "ignored",
        "no teardown task deletes the SQL (retries still need it): "
        "retention belongs to the bucket's lifecycle rule and `cosmos-remote gc`",
    ),
    # operator_args keys of Cosmos's dbt operators (Airflow's own BaseOperator arguments pass through as they are).
    ("operator_args", "install_deps", "works", "as `ProjectConfig.install_dbt_deps`"),
    ("operator_args", "full_refresh", "works", "`--full-refresh` in the setup task's render (templated)"),
    ("operator_args", "vars", "works", "dbt `--vars`, over `ProjectConfig.dbt_vars`"),
    ("operator_args", "env", "works", "environment of the setup task's dbt, over `ProjectConfig.env_vars`"),
    ("operator_args", "location", "works", "the BigQuery location of every job"),
    ("operator_args", "gcp_conn_id", "works", "the connection of the BigQuery jobs"),
    ("operator_args", "project_id", "works", "the project of the BigQuery jobs"),
    ("operator_args", "virtualenv_dir", "ignored", _NO_VENV),
    ("operator_args", "py_requirements", "ignored", _NO_VENV),
    ("operator_args", "py_system_site_packages", "ignored", _NO_VENV),
    ("operator_args", "pip_install_options", "ignored", _NO_VENV),
    ("operator_args", "is_virtualenv_dir_temporary", "ignored", _NO_VENV),
    ("operator_args", "append_env", "ignored", "dbt always gets the worker's environment plus `env`"),
    ("operator_args", "copy_dbt_packages", "ignored", "the project is never copied"),
    ("operator_args", "partial_parse", "ignored", "use `ProjectConfig(partial_parse=...)`"),
    ("operator_args", "emit_datasets", "ignored", "use `RenderConfig(emit_datasets=...)`"),
    ("operator_args", "quiet", "ignored", "the setup task logs a summary, dbt's output only on failure"),
    ("operator_args", "no_version_check", "ignored", "dbt's version check is off"),
    ("operator_args", "cancel_query_on_kill", "works", "as the provider's `cancel_on_kill`"),
    ("operator_args", "should_store_compiled_sql", "ignored", "every task shows its full SQL under Rendered Template"),
    ("operator_args", "should_upload_compiled_sql", "ignored", "the SQL is always published to the artifact store"),
    ("operator_args", "dbt_cmd_flags", "refused", "no dbt command runs per node; put dbt options in the project"),
    (
        "operator_args",
        "dbt_cmd_global_flags",
        "refused",
        "no dbt command runs per node; put dbt options in the project",
    ),
    ("operator_args", "callback", "refused", "no dbt command runs per node, so there is no project folder to pass"),
    # BigQueryInsertJobOperator arguments a node task sets itself.
    ("operator_args", "configuration", "refused", "a node's job is its published SQL plus the profile's query options"),
    ("operator_args", "job_id", "refused", _OWN_JOB_ID),
    ("operator_args", "force_rerun", "refused", _OWN_JOB_ID),
    ("operator_args", "reattach_states", "refused", "a retry always reattaches to a running job of an earlier try"),
    ("operator_args", "durable", "refused", "the job id is always saved in the task state store before the insert"),
    ("operator_args", "result_timeout", "refused", _TRIGGERER_WAITS),
    ("operator_args", "result_retry", "refused", _TRIGGERER_WAITS),
    ("operator_args", "deferrable", "refused", "node tasks always defer (True is accepted)"),
)

COSMOS_ARGUMENTS: Final[tuple[CosmosArgument, ...]] = tuple(CosmosArgument(*row) for row in _TABLE)
_BY_KEY: Final = {(a.owner, a.name): a for a in COSMOS_ARGUMENTS}


def status(owner: str, name: str) -> CosmosArgument:
    """The entry for ``owner.name``; KeyError when Cosmos has no such argument."""
    return _BY_KEY[(owner, name)]


def ignored_notice(owner: str, name: str) -> Notice:
    """The notice for an ignored argument that was given."""
    entry = _BY_KEY[(owner, name)]
    where = _where(owner, name, call=True)
    return Notice(owner=owner, name=name, message=f"{where} is ignored by cosmos_remote: {entry.note}.")


def refusal(owner: str, name: str) -> str:
    """The error message for a refused argument that was given."""
    entry = _BY_KEY[(owner, name)]
    where = _where(owner, name, call=False)
    return f"{where} is not supported by cosmos_remote: {entry.note}."


def _where(owner: str, name: str, *, call: bool) -> str:
    if owner == "operator_args":
        return f"operator_args[{name!r}]"
    if owner.startswith("["):
        return f"the Airflow setting {owner} {name}"
    return f"{owner}({name}=...)" if call else f"{owner}.{name}"


def cosmos_setting_notices() -> list[Notice]:
    """Notices for astronomer-cosmos settings that are set but have no effect here (read now, no network)."""
    from cosmos_remote.settings import setting_bool

    notices: list[Notice] = []
    setup = setting_bool("enable_setup_async_task")
    if setup is not None and setup[1].startswith("[cosmos]") and not setup[0]:
        notices.append(ignored_notice("[cosmos]", "enable_setup_async_task"))
    teardown = setting_bool("enable_teardown_async_task")
    if teardown is not None and teardown[1].startswith("[cosmos]") and teardown[0]:
        notices.append(ignored_notice("[cosmos]", "enable_teardown_async_task"))
    return notices


def emit_notices(notices: Iterable[Notice], *, where: str) -> None:
    """Warn once for each distinct notice (one DAG or task group's worth)."""
    seen: set[tuple[str, str]] = set()
    for notice in notices:
        if (notice.owner, notice.name) in seen:
            continue
        seen.add((notice.owner, notice.name))
        log.warning("%s: %s", where, notice.message)
        warnings.warn(f"{where}: {notice.message}", CosmosCompatibilityWarning, stacklevel=3)


def markdown_table() -> str:
    """The argument table of ``docs/migrating.md``."""
    lines = ["| Cosmos argument | cosmos_remote | what it does here |", "|---|---|---|"]
    for entry in COSMOS_ARGUMENTS:
        if entry.owner == "operator_args":
            name = f"`operator_args['{entry.name}']`"
        elif entry.owner.startswith("["):
            name = f"`{entry.owner} {entry.name}`"
        else:
            name = f"`{entry.owner}.{entry.name}`"
        lines.append(f"| {name} | {entry.status} | {entry.note} |")
    return "\n".join(lines) + "\n"
