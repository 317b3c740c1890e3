"""BigQuery hooks that honour an ``api_endpoint`` set on the Airflow connection.

The Google provider's :class:`~airflow.providers.google.cloud.hooks.bigquery.BigQueryHook` always talks to the
global endpoint. Real deployments sometimes need another one (a regional endpoint, Private Service Connect), and
tests need a local emulator. These subclasses read ``api_endpoint`` from the ``google_cloud_platform`` connection's
extra and hand it to every client they build, so that the provider's own insert, poll and result code runs
unchanged against that endpoint.

Example connection (as an environment variable)::

    AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT='{"conn_type": "google_cloud_platform",
        "extra": {"project": "my-project", "api_endpoint": "https://bigquery.europe-west3.rep.googleapis.com"}}'
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.google.cloud.hooks.bigquery import BigQueryAsyncHook as _ProviderBigQueryAsyncHook
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook as _ProviderBigQueryHook

if TYPE_CHECKING:
    from datetime import datetime

    from aiohttp import ClientSession
    from gcloud.aio.bigquery import Job
    from google.api_core.client_options import ClientOptions

__all__ = ["API_ENDPOINT_FIELD", "BigQueryAsyncHook", "BigQueryHook", "bigquery_api_root"]

#: The key in the connection's extra that holds the BigQuery endpoint, e.g. ``https://host:port``.
API_ENDPOINT_FIELD = "api_endpoint"


def bigquery_api_root(endpoint: str) -> str:
    """The REST root under ``endpoint`` (``{endpoint}/bigquery/v2``), as gcloud-aio's clients expect it."""
    return endpoint.rstrip("/") + "/bigquery/v2"


class BigQueryHook(_ProviderBigQueryHook):
    """The provider's BigQueryHook, pointed at the connection's ``api_endpoint`` when one is set."""

    def api_endpoint(self) -> str | None:
        """The endpoint from the connection's extra, or ``None`` for the default."""
        value = self._get_field(API_ENDPOINT_FIELD)
        return str(value).rstrip("/") if value else None

    def get_client_options(self, api_endpoint_override: str | None = None) -> ClientOptions:
        options: ClientOptions = super().get_client_options(api_endpoint_override or self.api_endpoint())
        return options

    def generate_job_id(
        self,
        job_id: str | None,
        dag_id: str,
        task_id: str,
        logical_date: datetime | None,
        configuration: dict[str, Any],
        run_after: datetime | None = None,
        force_rerun: bool = False,
        try_number: int | None = None,
    ) -> str:
        """The provider's extension point, made deterministic for dbt nodes: ``job_id`` (the readable prefix, e.g.
        ``cosmos_{dag}__{task}__{run}``) suffixed with the sha256 of the job's SQL and the try number, so a retry
        of the same node, run and SQL finds the job of the previous try. Without a prefix, or with
        ``force_rerun``, the provider's own scheme applies.

        Example:
            >>> hook = BigQueryHook.__new__(BigQueryHook)
            >>> hook.generate_job_id("cosmos_d__t__r", "d", "t", None, {"query": {"query": "select 1"}}, try_number=2)
            'cosmos_d__t__r__822ae07d4783158b__2'
        """
        if not job_id or force_rerun:
            return str(
                super().generate_job_id(
                    job_id, dag_id, task_id, logical_date, configuration, run_after, force_rerun, try_number
                )
            )
        sql = str(configuration.get("query", {}).get("query", ""))
        return f"{job_id}__{hashlib.sha256(sql.encode('utf-8')).hexdigest()[:16]}__{try_number or 1}"


class BigQueryAsyncHook(_ProviderBigQueryAsyncHook):
    """The provider's async hook; gcloud-aio calls (job cancellation) use the endpoint of :class:`BigQueryHook`."""

    sync_hook_class = BigQueryHook

    async def _api_root(self) -> str | None:
        sync_hook: BigQueryHook = await self.get_sync_hook()
        endpoint = sync_hook.api_endpoint()
        return bigquery_api_root(endpoint) if endpoint else None

    async def get_job_instance(self, project_id: str | None, job_id: str | None, session: ClientSession) -> Job:
        from gcloud.aio.bigquery import Job

        token = await self.get_token(session=session)
        api_root = await self._api_root()
        return Job(job_id=job_id, project=project_id, token=token, session=cast(Any, session), api_root=api_root)

    async def cancel_job(self, job_id: str, project_id: str | None, location: str | None) -> None:
        from aiohttp import ClientSession
        from gcloud.aio.bigquery import Job

        async with ClientSession() as session:
            token = await self.get_token(session=session)
            job = Job(
                job_id=job_id,
                project=project_id,
                location=location,
                token=token,
                session=cast(Any, session),
                api_root=await self._api_root(),
            )
            self.log.info("Cancelling BigQuery job %s (project %s, location %s)", job_id, project_id, location)
            result: Any = await job.cancel()
            self.log.info("Cancellation of job %s requested: %s", job_id, result)
