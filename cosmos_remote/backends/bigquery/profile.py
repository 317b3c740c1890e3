"""The dbt-bigquery targets of the BigQuery backend.

At DAG parse time :func:`parse_target` gives dbt a placeholder credential with the project and dataset from
``profile_args`` / :class:`~cosmos_remote.ProfileConfig`; at run time :func:`bigquery_target` reads the connection
and puts ``profile_args`` (and ``ProfileConfig.project`` / ``dataset`` / ``location``) over it, so the dbt target
and the jobs use the same project.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from cosmos_remote.errors import ConfigError
from cosmos_remote.profile_config import ProfileConfig

__all__ = ["bigquery_target", "parse_target"]

#: Target fields that carry credentials: never put into the parse-time placeholder profile.
_CREDENTIAL_FIELDS: Final = frozenset(
    {"method", "keyfile", "keyfile_json", "token", "refresh_token", "client_id", "client_secret", "token_uri",
     "impersonate_service_account", "scopes"}
)  # fmt: skip


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    return extra.get(name) or extra.get(f"extra__google_cloud_platform__{name}")


def _credentials(extra: Mapping[str, Any], preferred: str | None) -> dict[str, Any]:
    """dbt credential fields from the connection: its key if it has one, an anonymous token for emulators, else ADC."""
    keyfile_dict = _extra(extra, "keyfile_dict")
    key_path = _extra(extra, "key_path")
    if keyfile_dict and preferred in (None, "service-account-json"):
        keyfile = json.loads(keyfile_dict) if isinstance(keyfile_dict, str) else dict(keyfile_dict)
        return {"method": "service-account-json", "keyfile_json": keyfile}
    if key_path and preferred in (None, "service-account"):
        return {"method": "service-account", "keyfile": key_path}
    if _extra(extra, "is_anonymous"):
        return {"method": "oauth-secrets", "token": "anonymous"}
    if keyfile_dict:
        keyfile = json.loads(keyfile_dict) if isinstance(keyfile_dict, str) else dict(keyfile_dict)
        return {"method": "service-account-json", "keyfile_json": keyfile}
    if key_path:
        return {"method": "service-account", "keyfile": key_path}
    return {"method": "oauth"}


def bigquery_target(profile_config: ProfileConfig) -> dict[str, Any]:
    """The dbt-bigquery target of a connection-built profile (run time: reads the connection).

    The credential comes from the connection (``keyfile_dict``, ``key_path``, an anonymous emulator connection, else
    application default credentials), as do ``project``, ``dataset`` and ``api_endpoint`` from its extra;
    ``profile_args`` and the config's ``project`` / ``dataset`` / ``location`` override all of them.
    """
    from airflow.sdk import BaseHook

    conn_id = str(profile_config.conn_id)
    extra: dict[str, Any] = dict(BaseHook.get_connection(conn_id).extra_dejson)
    mapping = profile_config.profile_mapping
    preferred = mapping.dbt_profile_method if mapping is not None else None
    target: dict[str, Any] = {"type": "bigquery", "threads": 4}
    for name in ("project", "dataset"):
        if _extra(extra, name):
            target[name] = _extra(extra, name)
    target.update(_credentials(extra, preferred))
    if _extra(extra, "api_endpoint"):
        target["api_endpoint"] = _extra(extra, "api_endpoint")
    target.update(profile_config.profile_args)
    if "keyfile_json" in profile_config.profile_args or "keyfile" in profile_config.profile_args:
        target["method"] = (
            "service-account-json" if "keyfile_json" in profile_config.profile_args else "service-account"
        )
        target.pop("token", None)
    if not target.get("project"):
        raise ConfigError(
            f"Airflow connection {conn_id!r} has no 'project' in its extra and no project is configured; dbt needs "
            "the BigQuery project. Give ProfileConfig(project=...) or profile_args={'project': ...}, or add it to "
            "the connection."
        )
    return target


def parse_target(profile_config: ProfileConfig) -> dict[str, Any]:
    """A placeholder target for ``dbt parse`` at DAG parse time: no credential, nothing read from a connection."""
    target: dict[str, Any] = {
        key: value for key, value in profile_config.profile_args.items() if key not in _CREDENTIAL_FIELDS
    }
    target.update(
        type=profile_config.adapter_type,
        method="oauth-secrets",
        token="parse-only",
        project=profile_config.project or "parse-only-project",
        dataset=profile_config.dataset,
    )
    target.setdefault("threads", 1)
    return target
