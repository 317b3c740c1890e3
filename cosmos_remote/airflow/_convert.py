"""What DbtDag and DbtTaskGroup share: load the dbt graph at parse time and build the tasks."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cosmos_remote.airflow.graph import BuiltGraph, build_tasks
from cosmos_remote.config import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos_remote.dbt.manifest import DbtGraph, load_manifest, parse_project

__all__ = ["convert", "load_graph"]


def _parse_profiles_dir(profile_config: ProfileConfig) -> Path:
    """A parse-only profile for connection-built profiles: ``dbt parse`` needs one but connects to nothing."""
    import yaml

    target = {
        "type": profile_config.adapter_type,
        "method": "oauth-secrets",
        "token": "parse-only",
        "project": profile_config.project or "parse-only-project",
        "dataset": profile_config.dataset,
        "threads": 1,
    }
    profiles = {
        profile_config.profile_name: {
            "target": profile_config.target_name,
            "outputs": {profile_config.target_name: target},
        }
    }
    folder = Path(tempfile.mkdtemp(prefix="cosmos-remote-parse-profile-"))
    (folder / "profiles.yml").write_text(yaml.safe_dump(profiles))
    return folder


def load_graph(
    *, project_config: ProjectConfig, profile_config: ProfileConfig, execution_config: ExecutionConfig
) -> DbtGraph:
    """The project's graph from its manifest, parsing the project (cached by content hash) when none is given."""
    manifest = project_config.manifest_path
    if manifest is None:
        profiles_dir = profile_config.profiles_dir or _parse_profiles_dir(profile_config)
        exe = execution_config.dbt_executable_path
        manifest = parse_project(
            project_dir=project_config.project_dir,
            profiles_dir=profiles_dir,
            profile=profile_config.profile_name,
            target=profile_config.target_name,
            dbt_vars=project_config.dbt_vars,
            dbt_executable=Path(exe) if exe else None,
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
) -> BuiltGraph:
    """Build the dbt tasks inside the current DAG / task group context."""
    execution = execution_config or ExecutionConfig()
    graph = load_graph(project_config=project_config, profile_config=profile_config, execution_config=execution)
    return build_tasks(
        graph=graph,
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution,
        render_config=render_config or RenderConfig(),
        scope_group=scope_group,
        operator_args=operator_args,
    )
