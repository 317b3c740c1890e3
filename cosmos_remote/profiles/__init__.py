"""dbt profiles at run time: the user's ``profiles.yml``, or one written from an Airflow connection."""

from __future__ import annotations

from cosmos_remote.profiles.bigquery import bigquery_target_from_connection, materialize_profile

__all__ = ["bigquery_target_from_connection", "materialize_profile"]
