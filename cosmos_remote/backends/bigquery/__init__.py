"""The BigQuery backend: dbt-bigquery's writes captured per node, each node a deferrable BigQuery job.

* ``capture/`` -- the render-capture package loaded in dbt's process (a capturing dbt-bigquery adapter).
* :mod:`.profile` -- dbt-bigquery targets: a placeholder at parse, the connection's at run time.
* :mod:`.operators` -- the run and test operators (subclasses of the provider's ``BigQueryInsertJobOperator``).
* :mod:`.hooks`, :mod:`.triggers` -- the provider's hook and trigger, honouring a connection's ``api_endpoint``.
* :mod:`.jobs` -- job ids, labels, links and the summary each task records.

Importing this package imports neither the Google provider nor dbt.

Example:
    >>> from cosmos_remote.dbt.manifest import Relation
    >>> BACKEND.asset_uri(Relation("my-project", "analytics", "orders"))
    'bigquery://my-project/analytics/orders'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cosmos_remote.backends.contract import WarehouseBackend

if TYPE_CHECKING:
    from cosmos_remote.dbt.manifest import Relation
    from cosmos_remote.profile_config import ProfileConfig

__all__ = ["BACKEND", "BigQueryBackend"]


class BigQueryBackend(WarehouseBackend):
    """:class:`~cosmos_remote.backends.contract.WarehouseBackend` for ``type: bigquery``."""

    profile_type = "bigquery"
    run_operator = "cosmos_remote.backends.bigquery.operators:DbtRunBigQueryOperator"
    test_operator = "cosmos_remote.backends.bigquery.operators:DbtTestBigQueryOperator"

    @property
    def capture_package(self) -> Path:
        return Path(__file__).with_name("capture")

    def parse_target(self, profile_config: ProfileConfig) -> dict[str, Any]:
        from cosmos_remote.backends.bigquery.profile import parse_target

        return parse_target(profile_config)

    def run_target(self, profile_config: ProfileConfig) -> dict[str, Any]:
        from cosmos_remote.backends.bigquery.profile import bigquery_target

        return bigquery_target(profile_config)

    def asset_uri(self, relation: Relation) -> str | None:
        return f"bigquery://{relation.database}/{relation.schema}/{relation.identifier}"

    def job_link(self, *, project: str | None, location: str | None, job_id: str) -> str:
        from cosmos_remote.backends.bigquery.jobs import job_link

        return job_link(project_id=str(project), location=location, job_id=job_id)


BACKEND: Final = BigQueryBackend()
