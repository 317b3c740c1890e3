"""``ProfileConfig``: which dbt profile and target to use, and the connection the warehouse jobs run with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosmos_remote.errors import ConfigError

if TYPE_CHECKING:
    from cosmos_remote.profiles.base import BaseProfileMapping

__all__ = ["ProfileConfig"]


@dataclass(frozen=True)
class ProfileConfig:
    """Which dbt profile and target to use: a ``profiles.yml`` file, or one built from an Airflow connection.

    Give ``profiles_yml_filepath``, a ``profile_mapping`` (Cosmos's way, e.g.
    ``GoogleCloudServiceAccountDictProfileMapping(conn_id=..., profile_args={...})``), ``conn_id``, or a file and a
    connection. The jobs run through the mapping's or ``conn_id``'s connection (``google_cloud_default`` when
    neither is given). A connection-built profile is made at run time from the connection, with ``profile_args``
    and this config's ``project`` / ``dataset`` / ``location`` over what the connection says; no connection is read
    at DAG parse time, so the dataset must be known here.

    Args:
        profile_name: The profile's name (for a file) or the name to give it (for a connection).
        target_name: The target to use.
        profiles_yml_filepath: Path to ``profiles.yml``.
        profile_mapping: A mapping from :mod:`cosmos_remote.profiles`.
        conn_id: Airflow connection id for the warehouse jobs, and to build the dbt profile from when no file is
            given (same as a ``GoogleCloudOauthProfileMapping(conn_id=...)`` that reads the method from the
            connection).
        dataset: Default dataset (``schema``) of a connection-built profile (over ``profile_args["dataset"]``).
        location: BigQuery location of the jobs (over ``profile_args["location"]`` and the file's target).
        project: BigQuery project of the dbt target and of the jobs (over ``profile_args["project"]`` and the
            connection's project), at parse and at run time.
        profile_type: The adapter type (``bigquery``); read from the file's target or the mapping when not given.

    Example:
        >>> ProfileConfig(profile_name="jaffle_shop", target_name="prod", conn_id="google_cloud_default",
        ...               dataset="analytics", location="EU")
        ProfileConfig(profile_name='jaffle_shop', target_name='prod', ...)
    """

    profile_name: str
    target_name: str
    profiles_yml_filepath: Path | str | None = None
    profile_mapping: BaseProfileMapping | None = None
    _: KW_ONLY
    conn_id: str | None = None
    dataset: str | None = None
    location: str | None = None
    project: str | None = None
    profile_type: str | None = None
    file_target: Mapping[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"ProfileConfig(profile_name={self.profile_name!r}, target_name={self.target_name!r}, ...)"

    def __post_init__(self) -> None:
        mapping = self.profile_mapping
        if mapping is not None:
            from cosmos_remote.profiles.base import BaseProfileMapping

            if not isinstance(mapping, BaseProfileMapping):
                raise ConfigError(
                    f"ProfileConfig.profile_mapping: expected a mapping from cosmos_remote.profiles (e.g. "
                    f"GoogleCloudServiceAccountDictProfileMapping), got {type(mapping).__name__}."
                )
            object.__setattr__(self, "conn_id", self.conn_id or mapping.conn_id)
            object.__setattr__(self, "profile_type", self.profile_type or mapping.dbt_profile_type)
            args = mapping.profile_args
            for name in ("project", "dataset", "location"):
                if getattr(self, name) is None and isinstance(args.get(name), str) and args[name]:
                    object.__setattr__(self, name, args[name])
        if self.profiles_yml_filepath is None and self.conn_id is None:
            raise ConfigError(
                "ProfileConfig: give profiles_yml_filepath (a profiles.yml), profile_mapping (e.g. "
                "GoogleCloudServiceAccountDictProfileMapping(conn_id=..., profile_args={...})) or conn_id (an Airflow "
                "google_cloud_platform connection to build the profile from)."
            )
        if self.profiles_yml_filepath is None:
            if not self.dataset:
                raise ConfigError(
                    "ProfileConfig: the dataset of the dbt target is not known at DAG parse time (cosmos_remote reads "
                    "no connection while parsing). Give profile_args={'dataset': ...} in the profile mapping, or "
                    "ProfileConfig(dataset=...)."
                )
            object.__setattr__(self, "profile_type", self.profile_type or "bigquery")
            return
        path = Path(str(self.profiles_yml_filepath))
        object.__setattr__(self, "profiles_yml_filepath", path)
        target = _read_target(path, self.profile_name, self.target_name)
        object.__setattr__(self, "file_target", target)
        if self.profile_type is None:
            kind = str(target.get("type", ""))
            if not kind or "{{" in kind:
                raise ConfigError(
                    f"ProfileConfig: the type of target {self.target_name!r} in {path} is {kind!r}; "
                    "set profile_type='bigquery' explicitly."
                )
            object.__setattr__(self, "profile_type", kind)
        if self.location is None and _literal(target.get("location")):
            object.__setattr__(self, "location", target["location"])

    @property
    def profiles_dir(self) -> Path | None:
        return Path(self.profiles_yml_filepath).parent if self.profiles_yml_filepath else None

    @property
    def adapter_type(self) -> str:
        return str(self.profile_type)

    @property
    def profile_args(self) -> Mapping[str, Any]:
        """The mapping's ``profile_args`` with this config's ``project`` / ``dataset`` / ``location`` over them."""
        args = dict(self.profile_mapping.profile_args) if self.profile_mapping is not None else {}
        for name in ("project", "dataset", "location"):
            value = getattr(self, name)
            if value is not None:
                args[name] = value
        return args

    @property
    def job_project(self) -> str | None:
        """The project the warehouse jobs run in, when known at parse time (else the connection's, at run time)."""
        if self.project:
            return self.project
        if self.profiles_yml_filepath is not None:
            return _literal(self.file_target.get("execution_project")) or _literal(
                self.file_target.get("project") or self.file_target.get("database")
            )
        return None


def _literal(value: Any) -> str | None:
    """A profile value usable at parse time (None for unset or Jinja that only dbt can render)."""
    return value if isinstance(value, str) and value and "{{" not in value else None


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
