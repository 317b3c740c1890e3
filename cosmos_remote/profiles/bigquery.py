"""Build a dbt BigQuery target from an Airflow ``google_cloud_platform`` connection (run time only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cosmos_remote.config import ProfileConfig

__all__ = ["bigquery_target_from_connection", "materialize_profile"]


def _extra(extra: dict[str, Any], name: str) -> Any:
    return extra.get(name) or extra.get(f"extra__google_cloud_platform__{name}")


def bigquery_target_from_connection(*, conn_id: str, dataset: str, location: str | None) -> dict[str, Any]:
    """A dbt-bigquery target built from the connection: project, credentials and ``api_endpoint``.

    Credentials, in order: ``keyfile_dict`` (service-account-json), ``key_path`` (service-account), an anonymous
    connection (``is_anonymous``: local emulators), else application default credentials (``oauth``).
    """
    from airflow.sdk import BaseHook

    connection = BaseHook.get_connection(conn_id)
    extra: dict[str, Any] = dict(connection.extra_dejson)
    project = _extra(extra, "project")
    if not project:
        raise ValueError(
            f"Airflow connection {conn_id!r} has no 'project' in its extra; dbt needs the BigQuery project. "
            "Add it to the connection or use a profiles.yml (ProfileConfig.profiles_yml_filepath)."
        )
    target: dict[str, Any] = {"type": "bigquery", "project": project, "dataset": dataset, "threads": 4}
    if location:
        target["location"] = location
    keyfile_dict = _extra(extra, "keyfile_dict")
    key_path = _extra(extra, "key_path")
    if keyfile_dict:
        target["method"] = "service-account-json"
        target["keyfile_json"] = json.loads(keyfile_dict) if isinstance(keyfile_dict, str) else keyfile_dict
    elif key_path:
        target["method"] = "service-account"
        target["keyfile"] = key_path
    elif _extra(extra, "is_anonymous"):
        target["method"] = "oauth-secrets"
        target["token"] = "anonymous"
    else:
        target["method"] = "oauth"
    endpoint = _extra(extra, "api_endpoint")
    if endpoint:
        target["api_endpoint"] = endpoint
    return target


def materialize_profile(profile_config: ProfileConfig, *, work_dir: Path) -> Path:
    """The folder holding the ``profiles.yml`` dbt should use for this run.

    A user file is used where it is (read only). A connection-built profile is written to ``work_dir`` with mode
    0600, since it may hold a service account key.
    """
    if profile_config.profiles_dir is not None:
        return profile_config.profiles_dir
    import yaml

    if profile_config.conn_id is None or profile_config.dataset is None:
        raise ValueError("ProfileConfig needs conn_id and dataset to build a profile from a connection")
    target = bigquery_target_from_connection(
        conn_id=profile_config.conn_id, dataset=profile_config.dataset, location=profile_config.location
    )
    profiles = {
        profile_config.profile_name: {
            "target": profile_config.target_name,
            "outputs": {profile_config.target_name: target},
        }
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / "profiles.yml"
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(profiles, sort_keys=False))
    return work_dir
