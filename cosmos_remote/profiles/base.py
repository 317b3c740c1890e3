"""Profile mappings: an Airflow connection plus ``profile_args`` become a dbt target, as in astronomer-cosmos.

A mapping holds only its arguments; nothing reads the connection before run time. The BigQuery mappings live in
:mod:`cosmos_remote.profiles.bigquery`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

from cosmos_remote.errors import ConfigError

__all__ = ["BaseProfileMapping", "DbtProfileConfigVars", "profiles_yml"]


@dataclass
class DbtProfileConfigVars:
    """Cosmos's dbt ``config:`` block of a profile. Accepted for compatibility; cosmos_remote does not write it
    (set dbt flags in ``dbt_project.yml`` ``flags:``)."""

    send_anonymous_usage_stats: bool | None = False
    partial_parse: bool | None = None
    use_experimental_parser: bool | None = None
    static_parser: bool | None = None
    printer_width: int | None = None
    write_json: bool | None = None
    warn_error: bool | None = None
    warn_error_options: dict[Literal["include", "exclude"], Any] | None = None
    log_format: Literal["text", "json", "default"] | None = None
    debug: bool | None = None
    version_check: bool | None = None

    def as_dict(self) -> dict[str, Any] | None:
        result = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        return result or None


class BaseProfileMapping:
    """An Airflow connection mapped to a dbt profile target, with ``profile_args`` over the connection's values.

    Args:
        conn_id: The Airflow connection (read at run time only).
        profile_args: dbt target fields that override the connection's (``project``, ``dataset``, ``location``,
            ``keyfile``, ``impersonate_service_account``, ``priority``...).
        disable_event_tracking: Accepted for compatibility: dbt's anonymous usage stats are always off.
        dbt_config_vars: Accepted for compatibility; not written (warned about once per DAG).
    """

    airflow_connection_type: ClassVar[str] = "unset"
    dbt_profile_type: ClassVar[str] = "unset"
    dbt_profile_method: ClassVar[str | None] = None

    def __init__(
        self,
        conn_id: str,
        profile_args: Mapping[str, Any] | None = None,
        disable_event_tracking: bool | None = None,
        dbt_config_vars: DbtProfileConfigVars | None = None,
    ) -> None:
        if not isinstance(conn_id, str) or not conn_id:
            raise ConfigError(f"{type(self).__name__}.conn_id: expected an Airflow connection id, got {conn_id!r}.")
        if profile_args is not None and not isinstance(profile_args, Mapping):
            raise ConfigError(
                f"{type(self).__name__}.profile_args: expected a dict of dbt target fields, got "
                f"{type(profile_args).__name__}."
            )
        self.conn_id = conn_id
        self.profile_args: dict[str, Any] = dict(profile_args or {})
        self.disable_event_tracking = disable_event_tracking
        self.dbt_config_vars = dbt_config_vars
        for name in ("type", "method"):
            required = self.dbt_profile_type if name == "type" else self.dbt_profile_method
            given = self.profile_args.get(name)
            if given is not None and required is not None and given != required:
                raise ConfigError(
                    f"{type(self).__name__}.profile_args has {name}={given!r}, which would override the dbt profile's "
                    f"required {name} {required!r}. Remove {name!r} from profile_args."
                )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r}, profile_args={sorted(self.profile_args)})"


def profiles_yml(*, profile_name: str, target_name: str, target: Mapping[str, Any]) -> str:
    """The text of a ``profiles.yml`` with one profile and one target: the one builder of every generated profile.

    Example:
        >>> print(profiles_yml(profile_name="p", target_name="dev", target={"type": "bigquery"}), end="")
        p:
          target: dev
          outputs:
            dev:
              type: bigquery
    """
    import yaml

    document = {profile_name: {"target": target_name, "outputs": {target_name: dict(target)}}}
    return str(yaml.safe_dump(document, sort_keys=False))
