"""The provider's BigQuery job trigger, polling through
:class:`cosmos_remote.backends.bigquery.hooks.BigQueryAsyncHook`."""

from __future__ import annotations

from typing import Any

from airflow.providers.google.cloud.triggers.bigquery import BigQueryInsertJobTrigger as _ProviderInsertJobTrigger

from cosmos_remote.backends.bigquery.hooks import BigQueryAsyncHook

__all__ = ["BigQueryInsertJobTrigger"]


class BigQueryInsertJobTrigger(_ProviderInsertJobTrigger):
    """Polls a BigQuery job until it is DONE, on the endpoint of the connection's ``api_endpoint`` extra.

    Same arguments, events and never-raise contract as the provider's trigger: errors become
    ``{"status": "error", "message": ...}`` events and the operator raises.
    """

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def _get_async_hook(self) -> BigQueryAsyncHook:
        return BigQueryAsyncHook(gcp_conn_id=self.conn_id, impersonation_chain=self.impersonation_chain)
