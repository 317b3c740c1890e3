"""Resolve a DAG's four configs and ``operator_args`` once, at parse time: which project, dbt, vars, environment and
deps setting parse and render use, which arguments go to the setup task and which to the node tasks, and what
Cosmos arguments were given that have no effect here (warned about once per DAG)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cosmos_remote.compat import Notice, ignored_notice, refusal, status
from cosmos_remote.config import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos_remote.errors import ConfigError

__all__ = ["DbtOptions", "resolve_options"]

#: ``operator_args`` meant for the warehouse operators only; the setup task does not take them.
WAREHOUSE_ONLY_ARGS: Final = frozenset(
    {"poll_interval", "gcp_conn_id", "project_id", "location", "labels", "impersonation_chain", "cancel_on_kill"}
)
#: ``operator_args`` meant for the setup task only (``full_refresh`` and ``install_deps`` may be templated).
SETUP_ONLY_ARGS: Final = frozenset({"full_refresh", "install_deps"})


@dataclass(frozen=True)
class DbtOptions:
    """What parse, the setup task and the node tasks use, resolved from the configs.

    Attributes:
        parse_project_dir / run_project_dir: The dbt project at DAG parse time / in the setup task.
        parse_install_deps: Whether parsing may run ``dbt deps`` into the cache.
        dbt_vars / env: dbt ``--vars`` and extra environment for dbt.
        parse_dbt / run_dbt: The dbt executable of another environment (None: the one next to Airflow).
        emit_datasets: Whether node tasks get Asset outlets.
        setup_args / node_args: Operator arguments of the setup task and of the node tasks.
        notices: Ignored Cosmos arguments that were given.
    """

    parse_project_dir: Path
    run_project_dir: Path
    parse_install_deps: bool
    dbt_vars: Mapping[str, Any]
    env: Mapping[str, str]
    parse_dbt: Path | None
    run_dbt: Path | None
    emit_datasets: bool
    setup_args: Mapping[str, Any]
    node_args: Mapping[str, Any]
    notices: tuple[Notice, ...]


def _operator_args(operator_args: Mapping[str, Any]) -> tuple[dict[str, Any], list[Notice]]:
    """Cosmos's dbt-operator keys translated or dropped; Airflow's own arguments unchanged."""
    args: dict[str, Any] = {}
    notices: list[Notice] = []
    for key, value in operator_args.items():
        try:
            entry = status("operator_args", key)
        except KeyError:
            args[key] = value
            continue
        if key == "deferrable" and value is True:
            continue  # what node tasks do anyway
        if entry.status == "refused":
            raise ConfigError(refusal("operator_args", key))
        if entry.status == "ignored":
            notices.append(ignored_notice("operator_args", key))
        elif key == "cancel_query_on_kill":
            args["cancel_on_kill"] = value
        else:
            args[key] = value
    return args, notices


def resolve_options(
    *,
    project_config: ProjectConfig,
    profile_config: ProfileConfig,
    execution_config: ExecutionConfig,
    render_config: RenderConfig,
    operator_args: Mapping[str, Any] | None,
) -> DbtOptions:
    """Resolve once per DAG (or task group); raises :class:`ConfigError` for what cannot apply."""
    if operator_args is not None and not isinstance(operator_args, Mapping):
        raise ConfigError(f"operator_args: expected a dict of operator arguments, got {type(operator_args).__name__}.")
    args, notices = _operator_args(operator_args or {})
    parse_dir = project_config.dbt_project_path or render_config.dbt_project_path or execution_config.dbt_project_path
    if parse_dir is None:
        project_config.project_dir  # noqa: B018 - raises the error that names the missing setting
    run_dir = execution_config.dbt_project_path or project_config.dbt_project_path or parse_dir
    install = project_config.install_dbt_deps if render_config.dbt_deps is None else render_config.dbt_deps
    if "install_deps" in args and isinstance(args["install_deps"], bool):
        install = args["install_deps"]
    run_install: bool | str = args.pop("install_deps", None)
    if run_install is None:
        run_install = execution_config.install_dbt_deps if execution_config.install_dbt_deps is not None else install
    dbt_vars = {**dict(project_config.dbt_vars or {}), **dict(args.pop("vars", None) or {})}
    env = {
        **dict(render_config.env_vars or {}),
        **dict(project_config.env_vars or {}),
        **dict(args.pop("env", None) or {}),
    }
    setup_args = {k: v for k, v in args.items() if k not in WAREHOUSE_ONLY_ARGS}
    setup_args.update(install_deps=run_install, dbt_vars=dbt_vars, env=env)
    setup_args.update(dict(execution_config.setup_operator_args or {}))
    node_args = {k: v for k, v in args.items() if k not in SETUP_ONLY_ARGS}
    mapping_args = profile_config.profile_mapping.profile_args if profile_config.profile_mapping is not None else {}
    if "impersonate_service_account" in mapping_args and "impersonation_chain" not in node_args:
        node_args["impersonation_chain"] = mapping_args["impersonate_service_account"]
    if profile_config.profile_mapping is not None and profile_config.profile_mapping.dbt_config_vars is not None:
        notices.append(ignored_notice("ProfileMapping", "dbt_config_vars"))
    return DbtOptions(
        parse_project_dir=Path(str(parse_dir)),
        run_project_dir=Path(str(run_dir)),
        parse_install_deps=bool(install),
        dbt_vars=dbt_vars,
        env=env,
        parse_dbt=_path(render_config.dbt_executable_path or execution_config.dbt_executable_path),
        run_dbt=_path(execution_config.dbt_executable_path),
        emit_datasets=bool(render_config.emit_datasets),
        setup_args=setup_args,
        node_args=node_args,
        notices=(*project_config.notices, *execution_config.notices, *render_config.notices, *notices),
    )


def _path(value: Path | str | None) -> Path | None:
    return Path(value) if value else None
