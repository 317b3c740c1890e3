"""What DbtDag and DbtTaskGroup share: resolve the configs, load the dbt graph at parse time and build the tasks."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cosmos_remote.airflow._options import DbtOptions, resolve_options
from cosmos_remote.airflow.build import BuiltGraph, build_tasks, cyclic_gc_paused
from cosmos_remote.artifacts.factory import StoreChoice
from cosmos_remote.compat import Notice, cosmos_setting_notices, emit_notices, ignored_notice
from cosmos_remote.config import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos_remote.dbt.manifest import DbtGraph, load_manifest, parse_project
from cosmos_remote.dbt.runner import dbt_command, default_cache_dir
from cosmos_remote.errors import ConfigError

__all__ = ["convert", "cosmos_dag_kwargs", "load_graph"]


def _parse_profiles_dir(profile_config: ProfileConfig) -> Path:
    """A parse-only profile for connection-built profiles (``dbt parse`` needs one but connects to nothing), kept in
    the cache under its content hash: the same folder for every parse of the same profile, nothing left behind."""
    from cosmos_remote.backends.registry import get_backend
    from cosmos_remote.profiles import profiles_yml

    text = profiles_yml(
        profile_name=profile_config.profile_name,
        target_name=profile_config.target_name,
        target=get_backend(profile_config.adapter_type).parse_target(profile_config),
    )
    folder = default_cache_dir() / "parse-profiles" / hashlib.sha256(text.encode()).hexdigest()[:32]
    path = folder / "profiles.yml"
    if not path.is_file() or path.read_text() != text:
        folder.mkdir(parents=True, exist_ok=True)
        staged = folder / f".profiles.yml.{os.getpid()}"
        staged.write_text(text)
        staged.replace(path)
    return folder


def load_graph(*, project_config: ProjectConfig, profile_config: ProfileConfig, options: DbtOptions) -> DbtGraph:
    """The project's graph from its manifest, parsing the project (cached by content hash) when none is given."""
    manifest = project_config.manifest_path
    if manifest is None:
        from cosmos_remote.dbt.deps import prepare_project

        project_dir = prepare_project(
            project_dir=options.parse_project_dir,
            install_deps=options.parse_install_deps,
            cache_dir=default_cache_dir() / "packages",
            dbt_command=dbt_command(options.parse_dbt),
            env=options.env,
        )
        manifest = parse_project(
            project_dir=project_dir,
            profiles_dir=profile_config.profiles_dir or _parse_profiles_dir(profile_config),
            profile=profile_config.profile_name,
            target=profile_config.target_name,
            dbt_vars=options.dbt_vars,
            dbt_executable=options.parse_dbt,
            env=options.env,
            content_dir=options.parse_project_dir,
        )
    return load_manifest(Path(manifest))


def convert(
    *,
    project_config: ProjectConfig,
    profile_config: ProfileConfig,
    execution_config: ExecutionConfig | None,
    render_config: RenderConfig | None,
    scope_group: str | None,
    operator_args: Mapping[str, Any] | None,
    where: str,
) -> BuiltGraph:
    """Build the dbt tasks inside the current DAG / task group context (``where`` names it in warnings)."""
    from cosmos_remote.artifacts.factory import choose_store
    from cosmos_remote.backends.registry import get_backend

    execution = execution_config or ExecutionConfig()
    render = render_config or RenderConfig()
    options = resolve_options(
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution,
        render_config=render,
        operator_args=operator_args,
    )
    # A profile type with no backend fails here, before any dbt parse could report something misleading.
    get_backend(profile_config.adapter_type)
    # Validates the store settings now (a misspelt URL in [cosmos] fails the parse); the setup task chooses again
    # at run time and its XCom reference is what node tasks read.
    choice = choose_store(remote_target_path=execution.remote_target_path, conn_id=execution.remote_target_path_conn_id)
    emit_notices([*options.notices, *cosmos_setting_notices(), *_store_notices(choice)], where=where)
    with cyclic_gc_paused():
        graph = load_graph(project_config=project_config, profile_config=profile_config, options=options)
        return build_tasks(
            graph=graph,
            project_config=project_config,
            profile_config=profile_config,
            execution_config=execution,
            render_config=render,
            scope_group=scope_group,
            options=options,
        )


def _store_notices(choice: StoreChoice) -> list[Notice]:
    """A warning for a store that cannot work across processes (``memory://``)."""
    root = choice.remote_target_path or ""
    if not root.startswith("memory://"):
        return []
    message = (
        f"remote_target_path {root!r} (from {choice.reason}) lives in one process's memory: on a real deployment the "
        "setup task and the model tasks run in different processes and will not find the SQL. Use gs://, s3:// or "
        "file:// on a shared volume; memory:// is for tests that run everything in one process."
    )
    return [Notice(owner="ExecutionConfig", name="remote_target_path", message=message)]


def cosmos_dag_kwargs(dag_kwargs: dict[str, Any], *, on_warning_callback: Any) -> list[Notice]:
    """Cosmos-era DAG arguments Airflow 3 no longer takes, translated in place: ``schedule_interval`` becomes
    ``schedule``. Returns the notices to warn about."""
    notices: list[Notice] = []
    if "schedule_interval" in dag_kwargs:
        value = dag_kwargs.pop("schedule_interval")
        if "schedule" in dag_kwargs:
            raise ConfigError("DbtDag: give schedule or schedule_interval, not both (Airflow 3 has only schedule).")
        dag_kwargs["schedule"] = value
    if on_warning_callback is not None:
        notices.append(ignored_notice("DbtDag", "on_warning_callback"))
    return notices
