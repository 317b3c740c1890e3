"""BigQuery profile mappings with Cosmos's names and arguments; the targets they make are the BigQuery backend's
(:mod:`cosmos_remote.backends.bigquery.profile`)."""

from __future__ import annotations

from typing import ClassVar

from cosmos_remote.profiles.base import BaseProfileMapping

__all__ = [
    "GoogleCloudOauthProfileMapping",
    "GoogleCloudServiceAccountDictProfileMapping",
    "GoogleCloudServiceAccountFileProfileMapping",
]


class _GoogleCloudProfileMapping(BaseProfileMapping):
    airflow_connection_type: ClassVar[str] = "google_cloud_platform"
    dbt_profile_type: ClassVar[str] = "bigquery"


class GoogleCloudServiceAccountDictProfileMapping(_GoogleCloudProfileMapping):
    """A ``google_cloud_platform`` connection whose extra holds ``keyfile_dict`` (dbt ``service-account-json``).

    Example:
        >>> GoogleCloudServiceAccountDictProfileMapping(conn_id="gcp", profile_args={"dataset": "analytics"})
        GoogleCloudServiceAccountDictProfileMapping(conn_id='gcp', profile_args=['dataset'])
    """

    dbt_profile_method: ClassVar[str | None] = "service-account-json"


class GoogleCloudServiceAccountFileProfileMapping(_GoogleCloudProfileMapping):
    """A ``google_cloud_platform`` connection whose extra holds ``key_path`` (dbt ``service-account``)."""

    dbt_profile_method: ClassVar[str | None] = "service-account"


class GoogleCloudOauthProfileMapping(_GoogleCloudProfileMapping):
    """A ``google_cloud_platform`` connection using application default credentials (dbt ``oauth``)."""

    dbt_profile_method: ClassVar[str | None] = "oauth"
