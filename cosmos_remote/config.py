"""The configuration a DAG author passes to :class:`~cosmos_remote.DbtDag` / :class:`~cosmos_remote.DbtTaskGroup`.

Every config validates itself at construction (DAG parse time) without touching the network or a connection, and
says which field is wrong and how to fix it. Each class takes astronomer-cosmos's arguments in Cosmos's positional
order, so that switching is a change of imports: what each Cosmos argument does here is in
:mod:`cosmos_remote.compat` (ignored ones are warned about once per DAG, refused ones raise :class:`ConfigError`).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosmos_remote.compat import Notice, ignored_notice, refusal
from cosmos_remote.constants import (
    ExecutionMode,
    InvocationMode,
    LoadMode,
    SeedRenderingBehavior,
    SourceRenderingBehavior,
    TestBehavior,
    TestIndirectSelection,
)
from cosmos_remote.errors import ConfigError
from cosmos_remote.profile_config import ProfileConfig

__all__ = [
    "ConfigError",
    "ExecutionConfig",
    "ExecutionMode",
    "ProfileConfig",
    "ProjectConfig",
    "RenderConfig",
    "TestBehavior",
]


def _ignored(owner: str, given: Mapping[str, bool]) -> tuple[Notice, ...]:
    """Notices for the ignored arguments that were given a value other than Cosmos's default."""
    return tuple(ignored_notice(owner, name) for name, differs in given.items() if differs)


def _executable(value: Path | str | None, parameter: str) -> Path | None:
    """A dbt executable: a path, or a name found on PATH."""
    if value is None or value == "":
        return None
    path = Path(value)
    if path.is_file():
        return path
    found = shutil.which(str(value)) if len(path.parts) == 1 else None
    if found:
        return Path(found)
    raise ConfigError(f"{parameter}: {str(value)!r} does not exist; give the path of the dbt of another environment.")


@dataclass(frozen=True)
class ProjectConfig:
    """Where the dbt project is. Takes Cosmos's arguments in Cosmos's order (``ProjectConfig(path)`` works).

    Args:
        dbt_project_path: The folder holding ``dbt_project.yml``. May be read-only: nothing is written into it. May be
            given as ``RenderConfig.dbt_project_path`` / ``ExecutionConfig.dbt_project_path`` instead.
        install_dbt_deps: When the project declares packages that are not installed in it, run ``dbt deps`` once into
            a cache keyed by ``packages.yml`` / ``package-lock.yml`` (never into the project) and reuse it.
        manifest_path: A prebuilt local ``manifest.json`` (from ``dbt parse`` in CI). Without it, ``dbt parse`` runs
            once at DAG parse time and its result is cached by the project's content hash.
        project_name: Overrides the name read from ``dbt_project.yml``.
        env_vars: Environment variables for ``dbt parse`` and the setup task's render (``env_var()``).
        dbt_vars: dbt ``--vars`` for parsing and rendering.
        copy_dbt_packages, models_relative_path, seeds_relative_path, snapshots_relative_path, manifest_conn_id,
            partial_parse: Cosmos arguments without an effect here (warned about when set).

    Example:
        >>> ProjectConfig("/opt/airflow/dags/dbt/jaffle_shop")  # doctest: +SKIP
    """

    dbt_project_path: Path | str | None = None
    install_dbt_deps: bool = True
    copy_dbt_packages: bool = False
    models_relative_path: Path | str = "models"
    seeds_relative_path: Path | str = "seeds"
    snapshots_relative_path: Path | str = "snapshots"
    manifest_path: Path | str | None = None
    manifest_conn_id: str | None = None
    project_name: str | None = None
    env_vars: Mapping[str, str] | None = None
    dbt_vars: Mapping[str, Any] | None = None
    partial_parse: bool = True
    notices: tuple[Notice, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.dbt_project_path is not None:
            path = Path(self.dbt_project_path)
            object.__setattr__(self, "dbt_project_path", path)
            _check_project(path, "ProjectConfig.dbt_project_path")
        if self.manifest_path is not None:
            text = str(self.manifest_path)
            if "://" in text and not text.startswith("file://"):
                raise ConfigError(
                    f"ProjectConfig.manifest_path: {text!r} is remote; cosmos_remote reads no network at DAG parse "
                    "time. Ship the manifest with the DAG files (or build it in the image) and give its local path."
                )
            manifest = Path(text.removeprefix("file://"))
            object.__setattr__(self, "manifest_path", manifest)
            if not manifest.is_file():
                raise ConfigError(
                    f"ProjectConfig.manifest_path: {manifest} does not exist. Build it with `dbt parse` "
                    "(target/manifest.json) or leave manifest_path unset to parse the project."
                )
        object.__setattr__(self, "dbt_vars", _dbt_vars(self.dbt_vars, "ProjectConfig.dbt_vars"))
        object.__setattr__(self, "env_vars", {str(k): str(v) for k, v in (self.env_vars or {}).items()})
        notices = _ignored(
            "ProjectConfig",
            {
                "copy_dbt_packages": bool(self.copy_dbt_packages),
                "models_relative_path": str(self.models_relative_path) != "models",
                "seeds_relative_path": str(self.seeds_relative_path) != "seeds",
                "snapshots_relative_path": str(self.snapshots_relative_path) != "snapshots",
                "manifest_conn_id": self.manifest_conn_id is not None,
                "partial_parse": self.partial_parse is not True,
            },
        )
        object.__setattr__(self, "notices", notices)

    @property
    def project_dir(self) -> Path:
        """The project folder; raises :class:`ConfigError` when no path was given."""
        if self.dbt_project_path is None:
            raise ConfigError(
                "ProjectConfig.dbt_project_path is not set: cosmos_remote's setup task renders the SQL with dbt, so "
                "it needs the project. Give ProjectConfig(dbt_project_path=...) (or ExecutionConfig/RenderConfig "
                "dbt_project_path)."
            )
        return Path(self.dbt_project_path)


def _dbt_vars(value: Any, parameter: str) -> dict[str, Any]:
    """``--vars`` as dbt takes them: a mapping of JSON values (strings, numbers, booleans, null, lists, mappings)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{parameter}: expected a dict of dbt vars, got {type(value).__name__}.")
    stack: list[tuple[str, Any]] = [(repr(str(k)), v) for k, v in value.items()]
    while stack:
        where, item = stack.pop()
        if isinstance(item, Mapping):
            stack += [(f"{where}[{str(k)!r}]", v) for k, v in item.items()]
        elif isinstance(item, list | tuple):
            stack += [(f"{where}[{i}]", v) for i, v in enumerate(item)]
        elif not (item is None or isinstance(item, str | int | float | bool)):
            raise ConfigError(
                f"{parameter}: the value of {where} is a {type(item).__name__}, which dbt's --vars (JSON) cannot "
                f"carry. Pass a string (e.g. {str(item)!r}), a number or a list/dict of those, or a Jinja template "
                "such as '{{ ds }}' in operator_args['vars']."
            )
    return dict(value)


def _check_project(path: Path, parameter: str) -> None:
    if not (path / "dbt_project.yml").is_file():
        raise ConfigError(
            f"{parameter}: {path} does not contain a dbt_project.yml file. Point it at the folder of your dbt project."
        )


@dataclass(frozen=True)
class ExecutionConfig:
    """How and where nodes run. Cosmos's arguments first, in Cosmos's order; cosmos_remote's own after them.

    Args:
        execution_mode: :attr:`ExecutionMode.AIRFLOW_ASYNC` (the default); other modes are refused.
        dbt_executable_path: A ``dbt`` of a separate environment (a path, or a name on PATH), when dbt cannot be
            installed next to Airflow; the setup task runs dbt with the Python of that environment.
        install_dbt_deps: Overrides ``ProjectConfig.install_dbt_deps`` in the setup task.
        dbt_project_path: The project folder at run time, when it differs from the one at parse time.
        setup_operator_args: Arguments for the setup task (``dbt_setup``), over ``operator_args``.
        remote_target_path: fsspec URL under which each DAG run's SQL is published, e.g. ``gs://bucket/cosmos``.
            Defaults to the Airflow setting ``[cosmos_remote] remote_target_path``, then ``[cosmos]
            remote_target_path``. Unset: SQL goes through XCom (compressed; fine for small projects).
        remote_target_path_conn_id: Airflow connection id for the object store; default credentials when unset.
        invocation_mode, test_indirect_selection, virtualenv_dir, async_py_requirements: Cosmos arguments without an
            effect here (warned about when set).
    """

    execution_mode: ExecutionMode | str = ExecutionMode.AIRFLOW_ASYNC
    invocation_mode: InvocationMode | str | None = None
    test_indirect_selection: TestIndirectSelection | str = TestIndirectSelection.EAGER
    dbt_executable_path: Path | str | None = None
    install_dbt_deps: bool | str | None = None
    dbt_project_path: Path | str | None = None
    virtualenv_dir: Path | str | None = None
    async_py_requirements: Sequence[str] | None = None
    setup_operator_args: Mapping[str, Any] | None = None
    remote_target_path: str | None = None
    remote_target_path_conn_id: str | None = None
    notices: tuple[Notice, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        mode = _enum(ExecutionMode, self.execution_mode, "ExecutionConfig.execution_mode")
        if mode != ExecutionMode.AIRFLOW_ASYNC:
            raise ConfigError(
                f"ExecutionConfig.execution_mode: {mode!r} is not supported; cosmos_remote runs "
                "ExecutionMode.AIRFLOW_ASYNC only (each node a deferrable BigQuery job). Drop execution_mode or use "
                "ExecutionMode.AIRFLOW_ASYNC."
            )
        object.__setattr__(self, "execution_mode", mode)
        indirect = _enum(TestIndirectSelection, self.test_indirect_selection, "ExecutionConfig.test_indirect_selection")
        object.__setattr__(self, "test_indirect_selection", indirect)
        if self.invocation_mode is not None:
            _enum(InvocationMode, self.invocation_mode, "ExecutionConfig.invocation_mode")
        if self.remote_target_path is not None:
            from cosmos_remote.artifacts.factory import check_remote_target_path

            check_remote_target_path(self.remote_target_path, parameter="ExecutionConfig.remote_target_path")
        object.__setattr__(
            self, "dbt_executable_path", _executable(self.dbt_executable_path, "ExecutionConfig.dbt_executable_path")
        )
        if self.dbt_project_path is not None:
            object.__setattr__(self, "dbt_project_path", Path(self.dbt_project_path))
        if self.setup_operator_args is not None and not isinstance(self.setup_operator_args, Mapping):
            raise ConfigError(
                f"ExecutionConfig.setup_operator_args: expected a dict of operator arguments, got "
                f"{type(self.setup_operator_args).__name__}."
            )
        notices = _ignored(
            "ExecutionConfig",
            {
                "invocation_mode": self.invocation_mode is not None,
                "test_indirect_selection": indirect != TestIndirectSelection.EAGER,
                "virtualenv_dir": self.virtualenv_dir is not None,
                "async_py_requirements": bool(self.async_py_requirements),
            },
        )
        object.__setattr__(self, "notices", notices)


def _enum(kind: Any, value: Any, parameter: str) -> Any:
    """``value`` (a member, a Cosmos enum member or its string value) as a member of ``kind``."""
    raw = getattr(value, "value", value)
    try:
        return kind(raw)
    except ValueError:
        choices = ", ".join(m.name for m in kind)
        raise ConfigError(f"{parameter}: {value!r} is not one of {choices}.") from None


@dataclass(frozen=True)
class RenderConfig:
    """Which dbt nodes become tasks, and how tests are placed. Takes Cosmos's arguments in Cosmos's order.

    Args:
        emit_datasets: False: the node tasks have no Asset outlets.
        test_behavior: Where tests run; see :class:`TestBehavior`.
        load_method: Any method but ``DBT_LS_FILE`` / ``CUSTOM``: the graph always comes from a manifest.
        select: dbt selection (names, ``tag:``, ``path:``, ``resource_type:``, ``config.materialized:``, ``+``
            graph operators, ``a,b`` intersections). Empty selects everything.
        exclude: dbt selection to leave out.
        dbt_deps: Deprecated alias of ``ProjectConfig.install_dbt_deps``.
        dbt_executable_path: The dbt that runs ``dbt parse`` at DAG parse time (when no manifest is given).
        env_vars: Deprecated alias of ``ProjectConfig.env_vars``.
        dbt_project_path: The project folder at DAG parse time.

    The other Cosmos arguments are accepted; see ``docs/migrating.md`` for what each does here.
    """

    emit_datasets: bool = True
    test_behavior: TestBehavior | str = TestBehavior.AFTER_EACH
    load_method: LoadMode | str = LoadMode.AUTOMATIC
    invocation_mode: InvocationMode | str = InvocationMode.DBT_RUNNER
    select: Sequence[str] = ()
    exclude: Sequence[str] = ()
    selector: str | None = None
    dbt_deps: bool | None = None
    node_converters: Mapping[Any, Any] | None = None
    node_conversion_by_task_group: bool | None = True
    dbt_executable_path: Path | str | None = None
    env_vars: Mapping[str, str] | None = None
    dbt_project_path: Path | str | None = None
    dbt_ls_path: Path | str | None = None
    enable_mock_profile: bool = True
    group_nodes_by_folder: bool = False
    source_rendering_behavior: SourceRenderingBehavior | str = SourceRenderingBehavior.NONE
    source_pruning: bool = False
    seed_rendering_behavior: SeedRenderingBehavior | str = SeedRenderingBehavior.ALWAYS
    airflow_vars_to_purge_dbt_ls_cache: Sequence[str] = ()
    airflow_vars_to_purge_dbt_yaml_selectors_cache: Sequence[str] = ()
    normalize_task_id: Any = None
    normalize_task_display_name: Any = None
    should_detach_multiple_parents_tests: bool = False
    enable_owner_inheritance: bool | None = True
    ephemeral_models_as_empty_operator: bool = True
    notices: tuple[Notice, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("select", "exclude"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, tuple(value.split()))
            elif not isinstance(value, list | tuple | set | frozenset) or not all(isinstance(i, str) for i in value):
                raise ConfigError(
                    f"RenderConfig.{name}: expected a list of dbt selection strings such as ['tag:daily', "
                    f"'orders+'], got {value!r}."
                )
            else:
                object.__setattr__(self, name, tuple(value))
        behavior = _enum(TestBehavior, self.test_behavior, "RenderConfig.test_behavior")
        object.__setattr__(
            self, "test_behavior", TestBehavior.AFTER_EACH if behavior == TestBehavior.BUILD else behavior
        )
        load = _enum(LoadMode, self.load_method, "RenderConfig.load_method")
        if load in (LoadMode.DBT_LS_FILE, LoadMode.CUSTOM):
            raise ConfigError(
                f"RenderConfig.load_method: {load!r} is not supported; cosmos_remote reads the project's manifest. "
                "Use LoadMode.DBT_MANIFEST with ProjectConfig(manifest_path=...), or leave load_method unset."
            )
        object.__setattr__(self, "load_method", load)
        for name, given in (
            ("selector", self.selector),
            ("node_converters", self.node_converters),
            ("dbt_ls_path", self.dbt_ls_path),
        ):
            if given:
                raise ConfigError(refusal("RenderConfig", name))
        object.__setattr__(
            self, "dbt_executable_path", _executable(self.dbt_executable_path, "RenderConfig.dbt_executable_path")
        )
        if self.dbt_project_path is not None:
            object.__setattr__(self, "dbt_project_path", Path(self.dbt_project_path))
            _check_project(Path(self.dbt_project_path), "RenderConfig.dbt_project_path")
        source = _enum(
            SourceRenderingBehavior, self.source_rendering_behavior, "RenderConfig.source_rendering_behavior"
        )
        seed = _enum(SeedRenderingBehavior, self.seed_rendering_behavior, "RenderConfig.seed_rendering_behavior")
        notices = _ignored(
            "RenderConfig",
            {
                "invocation_mode": _enum(InvocationMode, self.invocation_mode, "RenderConfig.invocation_mode")
                != InvocationMode.DBT_RUNNER,
                "node_conversion_by_task_group": self.node_conversion_by_task_group is False,
                "enable_mock_profile": self.enable_mock_profile is False,
                "group_nodes_by_folder": bool(self.group_nodes_by_folder),
                "source_rendering_behavior": source != SourceRenderingBehavior.NONE,
                "source_pruning": bool(self.source_pruning),
                "seed_rendering_behavior": seed != SeedRenderingBehavior.ALWAYS,
                "airflow_vars_to_purge_dbt_ls_cache": bool(self.airflow_vars_to_purge_dbt_ls_cache),
                "airflow_vars_to_purge_dbt_yaml_selectors_cache": bool(
                    self.airflow_vars_to_purge_dbt_yaml_selectors_cache
                ),
                "normalize_task_id": self.normalize_task_id is not None,
                "normalize_task_display_name": self.normalize_task_display_name is not None,
                "should_detach_multiple_parents_tests": bool(self.should_detach_multiple_parents_tests),
                "enable_owner_inheritance": self.enable_owner_inheritance is False,
                "ephemeral_models_as_empty_operator": self.ephemeral_models_as_empty_operator is False,
            },
        )
        object.__setattr__(self, "notices", notices)
