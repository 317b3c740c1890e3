"""The setup task (producer): render every selected node's BigQuery script with dbt once, publish them, return
only the small artifact reference."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from cosmos_remote.config import ExecutionConfig, ProfileConfig, ProjectConfig

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["DbtSetupOperator"]


class DbtSetupOperator(BaseOperator):
    """Runs dbt once per DAG run to render the scripts of ``nodes`` and publishes them to the artifact store.

    The published run is immutable: a later try of this task publishes under its own prefix instead of overwriting,
    so a model task of an earlier try never reads a half-replaced file. Its return value (the only XCom) is
    ``{"uri": <run prefix>, "index_sha256": ...}``.

    Args:
        project_config, profile_config, execution_config: The DAG's configuration.
        select, exclude: dbt selection, passed to dbt as given.
        nodes: The node ids the DAG has tasks for; every one must be rendered.
        scope_group: The task group id, so several task groups in one DAG publish to separate prefixes.
        full_refresh: ``dbt run --full-refresh`` (templated, e.g. ``"{{ params.full_refresh }}"``).
        install_deps: Let the task install the project's packages (``dbt deps`` into the deps cache) when they are
            not installed in the project (templated).
        dbt_vars: dbt ``--vars``; env: extra environment variables for dbt.
        project_dir: The project folder on the worker (default: ``project_config``'s).
    """

    template_fields: Sequence[str] = ("full_refresh", "install_deps")
    ui_color = "#ede7f6"

    def __init__(
        self,
        *,
        project_config: ProjectConfig,
        profile_config: ProfileConfig,
        execution_config: ExecutionConfig,
        select: Sequence[str] = (),
        exclude: Sequence[str] = (),
        nodes: Sequence[str] = (),
        scope_group: str | None = None,
        full_refresh: bool | str = False,
        install_deps: bool | str = False,
        dbt_vars: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        project_dir: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project_config = project_config
        self.profile_config = profile_config
        self.execution_config = execution_config
        self.select = tuple(select)
        self.exclude = tuple(exclude)
        self.nodes = tuple(nodes)
        self.scope_group = scope_group
        self.full_refresh = full_refresh
        self.install_deps = install_deps
        self.dbt_vars = dict(dbt_vars if dbt_vars is not None else project_config.dbt_vars or {})
        self.env = dict(env or {})
        self.project_dir = project_dir or project_config.project_dir

    def execute(self, context: Context) -> dict[str, Any]:
        from cosmos_remote.artifacts import RunScope, TaskInstanceXCom, artifact_store
        from cosmos_remote.artifacts.factory import choose_store
        from cosmos_remote.artifacts.reference import store_reference
        from cosmos_remote.backends.registry import get_backend
        from cosmos_remote.dbt.deps import prepare_project
        from cosmos_remote.dbt.render import render_project
        from cosmos_remote.dbt.results import RenderResult
        from cosmos_remote.dbt.runner import dbt_command, default_cache_dir
        from cosmos_remote.profiles import materialize_profile
        from cosmos_remote.publish import render_and_publish

        backend = get_backend(self.profile_config.adapter_type)

        ti = context["ti"]
        run_id = str(context["run_id"])
        if ti.try_number > 1:
            run_id = f"{run_id}.try{ti.try_number}"
        choice = choose_store(
            remote_target_path=self.execution_config.remote_target_path,
            conn_id=self.execution_config.remote_target_path_conn_id,
        )
        if choice.remote_target_path:
            self.log.info("Artifact store: %s (from %s)", choice.remote_target_path, choice.reason)
        else:
            self.log.warning("Artifact store: %s", choice.reason)
        store = artifact_store(
            remote_target_path=choice.remote_target_path,
            conn_id=choice.conn_id,
            xcom=TaskInstanceXCom(ti=ti, task_id=self.task_id),
        )
        exe = self.execution_config.dbt_executable_path
        dbt_executable = Path(exe) if exe else None
        project_dir = prepare_project(
            project_dir=self.project_dir,
            install_deps=_truthy(self.install_deps),
            cache_dir=default_cache_dir() / "packages",
            dbt_command=dbt_command(dbt_executable),
            env=self.env,
        )
        scope = RunScope(dag_id=self.dag_id, run_id=run_id, task_group=self.scope_group)
        if store.prefix_in_use(scope=scope):
            taken = store.run_uri(scope=scope)
            scope = RunScope(dag_id=self.dag_id, run_id=f"{run_id}.{str(ti.id)[-12:]}", task_group=self.scope_group)
            self.log.warning(
                "%s already holds a run: this DAG run was created again with the same run id, or another deployment "
                "publishes the same DAG and run id into this bucket. Runs are immutable, so this one is published "
                "under %s.",
                taken,
                store.run_uri(scope=scope),
            )

        def check(result: RenderResult) -> None:
            missing = sorted(set(self.nodes) - set(result.nodes))
            if missing:
                raise AirflowException(
                    f"dbt rendered no script for {len(missing)} node(s) this DAG has tasks for: {missing[:10]}. "
                    "The project changed since the DAG was parsed (re-parse it), or the selection differs."
                )

        with tempfile.TemporaryDirectory(prefix="cosmos-remote-setup-") as work:
            render = functools.partial(
                render_project,
                project_dir=project_dir,
                profiles_dir=materialize_profile(self.profile_config, work_dir=Path(work) / "profile"),
                profile=self.profile_config.profile_name,
                target=self.profile_config.target_name,
                select=self.select,
                exclude=self.exclude,
                vars=self.dbt_vars,
                full_refresh=_truthy(self.full_refresh),
                dbt_executable_path=dbt_executable,
                env=self.env,
                capture_package=backend.capture_package,
            )
            done = render_and_publish(
                store=store, scope=scope, render=render, check=check, max_script_bytes=backend.max_script_bytes
            )
        self.log.info(
            "Rendered %d nodes with dbt %s in %.1f s (uploading %d of them meanwhile), published to %s in %.2f s "
            "after dbt finished",
            len(done.result.nodes),
            done.result.dbt_version,
            done.render_seconds,
            done.streamed,
            done.ref.uri,
            done.publish_seconds,
        )
        return store_reference(done.ref, choice)


def _truthy(value: bool | str | None) -> bool:
    """A boolean argument that may have been templated into a string (``"{{ params.full_refresh }}"``)."""
    return value if isinstance(value, bool) else str(value).strip().lower() in {"true", "1", "yes"}
