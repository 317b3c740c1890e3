"""The configuration a DAG author passes to :class:`~cosmos_remote.DbtDag` / :class:`~cosmos_remote.DbtTaskGroup`.

Every config validates itself at construction (DAG parse time) without touching the network or a connection, and
says which field is wrong and how to fix it. Names follow astronomer-cosmos where the meaning is the same, so that
switching is a change of imports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

__all__ = [
    "ConfigError",
    "ExecutionConfig",
    "ExecutionMode",
    "ProfileConfig",
    "ProjectConfig",
    "RenderConfig",
    "TestBehavior",
    "airflow_setting",
]

_SECTION: Final = "cosmos_remote"


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and the fix."""


class ExecutionMode(StrEnum):
    """How dbt nodes run. cosmos_remote implements ``AIRFLOW_ASYNC``: one deferrable warehouse job per node."""

    AIRFLOW_ASYNC = "airflow_async"


class TestBehavior(StrEnum):
    """Where a model's dbt tests run."""

    __test__ = False  # not a pytest test class

    AFTER_EACH = "after_each"
    """One test task per tested model, right after it (``stg_orders.test``)."""
    AFTER_ALL = "after_all"
    """All tests at the end, in one task group, after every model."""
    NONE = "none"
    """No test tasks."""


def airflow_setting(name: str) -> str | None:
    """A ``[cosmos_remote]`` setting from Airflow's config (or ``AIRFLOW__COSMOS_REMOTE__<NAME>``), read now."""
    env = os.environ.get(f"AIRFLOW__{_SECTION.upper()}__{name.upper()}")
    if env is not None:
        return env or None
    from airflow.configuration import conf

    value = conf.get(_SECTION, name, fallback=None)
    return str(value) if value else None


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """Where the dbt project is.

    Args:
        dbt_project_path: The folder holding ``dbt_project.yml``. May be read-only: nothing is written into it.
        manifest_path: A prebuilt ``manifest.json`` (from ``dbt parse`` in CI). Without it, ``dbt parse`` runs once at
            DAG parse time and its result is cached by the project's content hash.
        project_name: Overrides the name read from ``dbt_project.yml`` (used in artifact paths and task ids).
        dbt_vars: dbt ``--vars`` for parsing and rendering.

    Example:
        >>> ProjectConfig(dbt_project_path="/opt/airflow/dags/dbt/jaffle_shop")  # doctest: +SKIP
    """

    dbt_project_path: Path | str
    manifest_path: Path | str | None = None
    project_name: str | None = None
    dbt_vars: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        path = Path(self.dbt_project_path)
        object.__setattr__(self, "dbt_project_path", path)
        if not (path / "dbt_project.yml").is_file():
            raise ConfigError(
                f"ProjectConfig.dbt_project_path: {path} does not contain a dbt_project.yml file. "
                "Point it at the folder of your dbt project."
            )
        if self.manifest_path is not None:
            manifest = Path(self.manifest_path)
            object.__setattr__(self, "manifest_path", manifest)
            if not manifest.is_file():
                raise ConfigError(
                    f"ProjectConfig.manifest_path: {manifest} does not exist. Build it with `dbt parse` "
                    "(target/manifest.json) or leave manifest_path unset to parse the project."
                )

    @property
    def project_dir(self) -> Path:
        return Path(self.dbt_project_path)


@dataclass(frozen=True, kw_only=True)
class ProfileConfig:
    """Which dbt profile and target to use: a ``profiles.yml`` file, or one built from an Airflow connection.

    Give ``profiles_yml_filepath``, ``conn_id``, or both. The model tasks submit their jobs through ``conn_id`` (a
    ``google_cloud_platform`` connection; ``google_cloud_default`` when unset). Without a file, the dbt profile is
    built at run time from the connection's project, keyfile or application default credentials and
    ``api_endpoint``; ``dataset`` and ``location`` come from here. No connection is read at DAG parse time.

    Args:
        profile_name: The profile's name (for a file) or the name to give it (for a connection).
        target_name: The target to use.
        profiles_yml_filepath: Path to ``profiles.yml``.
        conn_id: Airflow connection id for the warehouse jobs, and to build the dbt profile from when no file is
            given.
        dataset: Default dataset (``schema``) of a connection-built profile.
        location: BigQuery location of jobs; read from the profile file's target when not given.
        project: BigQuery project of a connection-built profile for DAG parsing (the connection is not read at
            parse time); at run time the connection's project is used when this is unset.
        profile_type: The adapter type (``bigquery``); read from the file's target when not given.

    Example:
        >>> ProfileConfig(profile_name="jaffle_shop", target_name="prod", conn_id="google_cloud_default",
        ...               dataset="analytics", location="EU")
        ProfileConfig(profile_name='jaffle_shop', target_name='prod', ...)
    """

    profile_name: str
    target_name: str
    profiles_yml_filepath: Path | str | None = None
    conn_id: str | None = None
    dataset: str | None = None
    location: str | None = None
    project: str | None = None
    profile_type: str | None = None
    _target: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"ProfileConfig(profile_name={self.profile_name!r}, target_name={self.target_name!r}, ...)"

    def __post_init__(self) -> None:
        if self.profiles_yml_filepath is None and self.conn_id is None:
            raise ConfigError(
                "ProfileConfig: give profiles_yml_filepath (a profiles.yml) or conn_id (an Airflow "
                "google_cloud_platform connection to build the profile from), or both (dbt reads the file, the "
                "warehouse jobs use the connection)."
            )
        if self.profiles_yml_filepath is None:
            if not self.dataset:
                raise ConfigError("ProfileConfig.dataset: required with conn_id (the dbt target's default dataset).")
            object.__setattr__(self, "profile_type", self.profile_type or "bigquery")
            return
        path = Path(str(self.profiles_yml_filepath))
        object.__setattr__(self, "profiles_yml_filepath", path)
        target = _read_target(path, self.profile_name, self.target_name)
        object.__setattr__(self, "_target", target)
        if self.profile_type is None:
            kind = str(target.get("type", ""))
            if not kind or "{{" in kind:
                raise ConfigError(
                    f"ProfileConfig: the type of target {self.target_name!r} in {path} is {kind!r}; "
                    "set profile_type='bigquery' explicitly."
                )
            object.__setattr__(self, "profile_type", kind)
        if self.location is None and isinstance(target.get("location"), str) and "{{" not in target["location"]:
            object.__setattr__(self, "location", target["location"])

    @property
    def profiles_dir(self) -> Path | None:
        return Path(self.profiles_yml_filepath).parent if self.profiles_yml_filepath else None

    @property
    def adapter_type(self) -> str:
        return str(self.profile_type)


def _read_target(path: Path, profile: str, target: str) -> Mapping[str, Any]:
    import yaml

    if not path.is_file():
        raise ConfigError(f"ProfileConfig.profiles_yml_filepath: {path} does not exist.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"ProfileConfig.profiles_yml_filepath: {path} is not valid YAML: {exc}") from exc
    if profile not in data:
        raise ConfigError(
            f"ProfileConfig.profile_name: profile {profile!r} not found in {path} (found: {sorted(data)})."
        )
    outputs = (data[profile] or {}).get("outputs") or {}
    if target not in outputs:
        raise ConfigError(
            f"ProfileConfig.target_name: target {target!r} not found in profile {profile!r} of {path} "
            f"(found: {sorted(outputs)})."
        )
    result: Mapping[str, Any] = outputs[target] or {}
    return result


@dataclass(frozen=True, kw_only=True)
class ExecutionConfig:
    """How and where nodes run.

    Args:
        execution_mode: Only :attr:`ExecutionMode.AIRFLOW_ASYNC`.
        remote_target_path: fsspec URL under which each DAG run's SQL is published, e.g. ``gs://bucket/cosmos``.
            Defaults to the Airflow setting ``[cosmos_remote] remote_target_path``. Unset: SQL goes through XCom
            (compressed; fine for small projects).
        remote_target_path_conn_id: Airflow connection id for the object store; default credentials when unset.
        dbt_executable_path: A ``dbt`` executable of a separate environment, when dbt cannot be installed next to
            Airflow; the setup task runs dbt with the Python of that environment.
    """

    execution_mode: ExecutionMode = ExecutionMode.AIRFLOW_ASYNC
    remote_target_path: str | None = None
    remote_target_path_conn_id: str | None = None
    dbt_executable_path: Path | str | None = None

    def __post_init__(self) -> None:
        if self.execution_mode != ExecutionMode.AIRFLOW_ASYNC:
            raise ConfigError(
                f"ExecutionConfig.execution_mode: {self.execution_mode!r} is not supported; "
                "cosmos_remote runs ExecutionMode.AIRFLOW_ASYNC only."
            )
        if self.remote_target_path is not None and "://" not in self.remote_target_path:
            raise ConfigError(
                f"ExecutionConfig.remote_target_path: {self.remote_target_path!r} is not a URL; "
                "use e.g. 'gs://my-bucket/cosmos' or 'file:///var/cosmos'."
            )
        if self.dbt_executable_path is not None:
            exe = Path(self.dbt_executable_path)
            object.__setattr__(self, "dbt_executable_path", exe)
            if not exe.is_file():
                raise ConfigError(f"ExecutionConfig.dbt_executable_path: {exe} does not exist.")

    def resolved_remote_target_path(self) -> str | None:
        """``remote_target_path``, or the Airflow setting ``[cosmos_remote] remote_target_path``."""
        return self.remote_target_path or airflow_setting("remote_target_path")

    def resolved_remote_target_path_conn_id(self) -> str | None:
        return self.remote_target_path_conn_id or airflow_setting("remote_target_path_conn_id")


@dataclass(frozen=True, kw_only=True)
class RenderConfig:
    """Which dbt nodes become tasks, and how tests are placed.

    Args:
        select: dbt selection (names, ``tag:``, ``path:``, ``resource_type:``, ``config.materialized:``, ``+``
            graph operators, ``a,b`` intersections). Empty selects everything.
        exclude: dbt selection to leave out.
        test_behavior: Where tests run; see :class:`TestBehavior`.
    """

    select: Sequence[str] = ()
    exclude: Sequence[str] = ()
    test_behavior: TestBehavior = TestBehavior.AFTER_EACH

    def __post_init__(self) -> None:
        for name in ("select", "exclude"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, tuple(value.split()))
            elif not all(isinstance(item, str) for item in value):
                raise ConfigError(f"RenderConfig.{name}: expected a list of dbt selection strings, got {value!r}.")
            else:
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "test_behavior", TestBehavior(self.test_behavior))
