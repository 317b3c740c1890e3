"""``publish``: run a DAG run's setup step locally (dbt render + publish) to preview what it would publish."""

from __future__ import annotations

import argparse
import functools
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cosmos_remote.artifacts import RunExistsError, RunScope
from cosmos_remote.cli._base import CliError, ExitCode, Output, add_common_arguments, human_bytes, open_store

__all__ = ["DEFAULT_DAG_ID", "default_profiles_dir", "register"]

DEFAULT_DAG_ID = "preview"
_VARS_EXAMPLE = """e.g. --vars '{"day": "2026-01-01"}'"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``publish`` to the command parser."""
    publish = commands.add_parser(
        "publish",
        help="render a dbt project and publish its SQL as a DAG run's setup task would",
        description="Run the setup step of a DAG run on this machine: dbt renders every selected node's script "
        "(reads go to the warehouse of the profile, writes are only recorded), then the scripts are published "
        "under ROOT/DAG_ID[/TASK_GROUP]/RUN_ID/ with index.json last. Prints the run URI on stdout. Exit codes: "
        "0, 2 (bad project, profile or arguments; the run exists), 4 (the store), 5 (dbt failed).",
    )
    publish.add_argument("project_dir", metavar="PROJECT_DIR", help="the folder holding dbt_project.yml")
    publish.add_argument("--to", required=True, metavar="ROOT", dest="root", help="the remote_target_path to use")
    publish.add_argument(
        "--profiles-dir",
        metavar="DIR",
        help="the folder holding profiles.yml (default: $DBT_PROFILES_DIR, else PROJECT_DIR if it has one, else "
        "~/.dbt)",
    )
    publish.add_argument("--target", metavar="T", help="the profile target (default: the profile's)")
    publish.add_argument("--select", nargs="+", action="extend", default=[], metavar="SEL", help="dbt --select")
    publish.add_argument("--exclude", nargs="+", action="extend", default=[], metavar="SEL", help="dbt --exclude")
    publish.add_argument("--vars", metavar="YAML", help='dbt --vars, a YAML or JSON mapping, e.g. \'{"day": "x"}\'')
    publish.add_argument("--full-refresh", action="store_true", help="dbt --full-refresh")
    publish.add_argument(
        "--dag-id", default=DEFAULT_DAG_ID, metavar="ID", help=f"the DAG id of the prefix (default: {DEFAULT_DAG_ID})"
    )
    publish.add_argument("--task-group", metavar="GROUP", help="the task group id, for a DbtTaskGroup's prefix")
    publish.add_argument(
        "--run-id", metavar="ID", help="the run id of the prefix (default: cli__<UTC time with microseconds>)"
    )
    publish.add_argument(
        "--dbt-executable", metavar="PATH", help="the dbt of another environment (its Python runs the render)"
    )
    add_common_arguments(publish)
    publish.set_defaults(handler=run_publish)


def default_profiles_dir(project_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Where dbt would look for ``profiles.yml``: ``$DBT_PROFILES_DIR``, the project folder, then ``~/.dbt``."""
    env = os.environ if environ is None else environ
    if env.get("DBT_PROFILES_DIR"):
        return Path(env["DBT_PROFILES_DIR"]).expanduser()
    if (project_dir / "profiles.yml").is_file():
        return project_dir
    return Path("~/.dbt").expanduser()


def profile_type(project_dir: Path, profiles_dir: Path, target: str | None) -> str:
    """The adapter type of the target dbt would use (``profile:`` of dbt_project.yml, the target or the profile's
    default in profiles.yml); ``bigquery`` when the files do not say (dbt then reports what is wrong)."""
    import yaml

    try:
        project = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
        profiles = yaml.safe_load((profiles_dir / "profiles.yml").read_text()) or {}
        profile = profiles[project["profile"]]
        output = profile["outputs"][target or profile["target"]]
        return str(output["type"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return "bigquery"


def _vars(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError(ExitCode.USAGE, f"--vars is not valid YAML or JSON ({exc}); {_VARS_EXAMPLE}") from exc
    if not isinstance(value, dict):
        raise CliError(ExitCode.USAGE, f"--vars must be a mapping, got {text!r}; {_VARS_EXAMPLE}")
    return value


def _default_run_id() -> str:
    return "cli__" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def run_publish(args: argparse.Namespace, out: Output) -> int:
    """``cosmos-remote publish PROJECT_DIR --to ROOT [...]``."""
    from cosmos_remote.backends import get_backend
    from cosmos_remote.dbt import render_project
    from cosmos_remote.dbt.results import RenderResult
    from cosmos_remote.publish import render_and_publish

    project_dir = Path(args.project_dir).expanduser()
    profiles_dir = Path(args.profiles_dir).expanduser() if args.profiles_dir else default_profiles_dir(project_dir)
    store = open_store(args.root, args)  # validates the URL before dbt runs
    try:
        scope = RunScope(dag_id=args.dag_id, run_id=args.run_id or _default_run_id(), task_group=args.task_group)
    except ValueError as exc:
        raise CliError(ExitCode.USAGE, f"{exc}; pass a non-empty --dag-id / --run-id / --task-group") from exc
    labels = {
        "render": f"rendering {project_dir} with dbt, uploading each node as it is rendered",
        "commit": f"publishing to {store.run_uri(scope=scope)}",
    }

    def check(result: RenderResult) -> None:
        if not result.nodes:
            raise CliError(
                ExitCode.USAGE,
                f"dbt rendered no node of {project_dir} (select={args.select}, exclude={args.exclude}); widen --select",
            )

    render = functools.partial(
        render_project,
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=args.target,
        select=args.select,
        exclude=args.exclude,
        vars=_vars(args.vars),
        full_refresh=args.full_refresh,
        dbt_executable_path=Path(args.dbt_executable) if args.dbt_executable else None,
        capture_package=get_backend(profile_type(project_dir, profiles_dir, args.target)).capture_package,
    )
    try:
        done = render_and_publish(
            store=store,
            scope=scope,
            render=render,
            check=check,
            project_name=project_dir.resolve().name,
            stage=lambda name: out.progress(labels[name]),
        )
    except RunExistsError as exc:
        raise CliError(ExitCode.USAGE, f"{exc} Pass another --run-id.") from exc
    ref, result, nodes = done.ref, done.result, done.nodes
    project_name = result.project_name or project_dir.resolve().name
    render_seconds, publish_seconds, size = done.render_seconds, done.publish_seconds, done.bytes
    if out.json_mode:
        out.emit_json(
            {
                **ref.to_xcom(),
                "project_name": project_name,
                "dbt_version": result.dbt_version,
                "dag_id": scope.dag_id,
                "task_group": scope.task_group,
                "run_id": scope.run_id,
                "nodes": len(nodes),
                "bytes": size,
                "render_seconds": round(render_seconds, 3),
                "publish_seconds": round(publish_seconds, 3),
            }
        )
    else:
        out.write(ref.uri)
        out.note(
            f"published {len(nodes)} nodes of {project_name} ({human_bytes(size)}, dbt {result.dbt_version}): "
            f"rendered and uploaded in {render_seconds:.1f} s, committed {publish_seconds:.1f} s later; XCom value: "
            f"{json.dumps(ref.to_xcom())}",
            style="bold",
        )
    return ExitCode.OK
