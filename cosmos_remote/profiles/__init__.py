"""dbt profiles from Airflow connections: Cosmos's profile mappings, and the profile each run uses.

Example:
    >>> from cosmos_remote.profiles import GoogleCloudServiceAccountDictProfileMapping
    >>> mapping = GoogleCloudServiceAccountDictProfileMapping(
    ...     conn_id="gcp", profile_args={"project": "my-project", "dataset": "analytics"})
"""

from __future__ import annotations

from cosmos_remote.profiles.base import BaseProfileMapping, DbtProfileConfigVars, profiles_yml
from cosmos_remote.profiles.bigquery import (
    GoogleCloudOauthProfileMapping,
    GoogleCloudServiceAccountDictProfileMapping,
    GoogleCloudServiceAccountFileProfileMapping,
)
from cosmos_remote.profiles.files import materialize_profile, write_profile

__all__ = [
    "BaseProfileMapping",
    "DbtProfileConfigVars",
    "GoogleCloudOauthProfileMapping",
    "GoogleCloudServiceAccountDictProfileMapping",
    "GoogleCloudServiceAccountFileProfileMapping",
    "materialize_profile",
    "profiles_yml",
    "write_profile",
]
