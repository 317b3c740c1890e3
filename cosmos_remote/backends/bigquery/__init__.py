"""The BigQuery backend: dbt-bigquery's writes captured per node, each node a deferrable BigQuery job.

* ``capture/`` -- the render-capture package loaded in dbt's process (a capturing dbt-bigquery adapter).
* :mod:`.profile` -- dbt-bigquery targets: a placeholder at parse, the connection's at run time.
* :mod:`.operators`, :mod:`.test_operator` -- the run and test operators (subclasses of the provider's
  ``BigQueryInsertJobOperator``).
* :mod:`.hooks`, :mod:`.triggers` -- the provider's hook and trigger, honouring a connection's ``api_endpoint``.
* :mod:`.jobs` -- job ids, labels, links and the summary each task records.

Importing this package imports neither the Google provider nor dbt.

Example:
    >>> from cosmos_remote.dbt.manifest import Relation
    >>> BACKEND.asset_uri(Relation("my-project", "analytics", "orders"))
    'bigquery://my-project/analytics/orders'
    >>> BACKEND.asset_uri(Relation("my-project", "analytics", "café_orders_日本"))
    'bigquery://my-project/analytics/caf%C3%A9_orders_%E6%97%A5%E6%9C%AC'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from cosmos_remote.backends.contract import WarehouseBackend

if TYPE_CHECKING:
    from cosmos_remote.dbt.manifest import Relation
    from cosmos_remote.profile_config import ProfileConfig

__all__ = ["BACKEND", "BigQueryBackend"]


class BigQueryBackend(WarehouseBackend):
    """:class:`~cosmos_remote.backends.contract.WarehouseBackend` for ``type: bigquery``."""

    profile_type = "bigquery"
    run_operator = "cosmos_remote.backends.bigquery.operators:DbtRunBigQueryOperator"
    test_operator = "cosmos_remote.backends.bigquery.test_operator:DbtTestBigQueryOperator"
    hooks_operator = "cosmos_remote.backends.bigquery.run_hooks:DbtRunHooksBigQueryOperator"

    @property
    def capture_package(self) -> Path:
        return Path(__file__).with_name("capture")

    def parse_target(self, profile_config: ProfileConfig) -> dict[str, Any]:
        from cosmos_remote.backends.bigquery.profile import parse_target

        return parse_target(profile_config)

    def run_target(self, profile_config: ProfileConfig) -> dict[str, Any]:
        from cosmos_remote.backends.bigquery.profile import bigquery_target

        return bigquery_target(profile_config)

    #: BigQuery's limit on the length of a query (1 MB of GoogleSQL text).
    max_script_bytes = 1024 * 1024

    def asset_uri(self, relation: Relation) -> str | None:
        """``bigquery://project/dataset/table``, each part percent-encoded (Airflow stores ASCII URIs only)."""
        parts = (relation.database, relation.schema, relation.identifier)
        return "bigquery://" + "/".join(quote(part, safe="-_.~") for part in parts)

    def job_link(self, *, project: str | None, location: str | None, job_id: str) -> str:
        from cosmos_remote.backends.bigquery.jobs import job_link

        return job_link(project_id=str(project), location=location, job_id=job_id)


BACKEND: Final = BigQueryBackend()
