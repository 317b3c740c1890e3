"""The provider's BigQuery job trigger, polling through
:class:`cosmos_remote.backends.bigquery.hooks.BigQueryAsyncHook`, and never firing sooner than a settle time after
the task deferred.

Why the settle time: when a task defers, its worker process exits and the executor reports that exit as a success.
If the trigger fires before the scheduler has drained that report, the scheduler finds the resumed try queued or
running and fails it as "killed externally" (Airflow 3.3.2 guards only the scheduled state: apache/airflow#67287,
#72716, fixes open in #72767). A job that finishes within a few seconds hits it on a busy machine. Holding the event
until ``settle_until`` lets the scheduler drain the stale report first; a job that runs longer is not delayed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.google.cloud.triggers.bigquery import BigQueryInsertJobTrigger as _ProviderInsertJobTrigger
from airflow.triggers.base import TriggerEvent

from cosmos_remote.backends.bigquery.hooks import BigQueryAsyncHook

__all__ = ["DEFAULT_SETTLE_SECONDS", "BigQueryInsertJobTrigger", "settle_seconds"]

#: Seconds after the deferral before the trigger may fire (``[cosmos_remote] defer_settle_seconds``).
DEFAULT_SETTLE_SECONDS = 10.0


def settle_seconds() -> float:
    """``[cosmos_remote] defer_settle_seconds`` (a number >= 0), else :data:`DEFAULT_SETTLE_SECONDS`; 0 under
    ``dag.test()``, which runs the trigger inline in the task's own process: no scheduler, no stale event."""
    from cosmos_remote.errors import ConfigError
    from cosmos_remote.settings import setting

    if _in_process_test():
        return 0.0
    found = setting("defer_settle_seconds", cosmos_fallback=False)
    if found is None:
        return DEFAULT_SETTLE_SECONDS
    try:
        value = float(found.value)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(f"{found.source}: {found.value!r} is not a number of seconds >= 0 (e.g. 10).")
    return value


def _in_process_test() -> bool:
    """Whether this task runs under ``dag.test()`` (the Task SDK's in-process supervisor comms are installed)."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return False
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return type(comms).__name__ == "InProcessSupervisorComms"


class BigQueryInsertJobTrigger(_ProviderInsertJobTrigger):
    """Polls a BigQuery job until it is DONE, on the endpoint of the connection's ``api_endpoint`` extra.

    Same arguments, events and never-raise contract as the provider's trigger (errors become ``{"status": "error",
    "message": ...}`` events, which here also name the ``job_id``), plus ``settle_until``: the wall-clock time (epoch
    seconds) before which no event is sent (see the module docs).
    """

    def __init__(self, *args: Any, settle_until: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settle_until = float(settle_until)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{type(self).__module__}.{type(self).__qualname__}", {**kwargs, "settle_until": self.settle_until}

    def _get_async_hook(self) -> BigQueryAsyncHook:
        return BigQueryAsyncHook(gcp_conn_id=self.conn_id, impersonation_chain=self.impersonation_chain)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async for event in super().run():
            wait = self.settle_until - time.time()
            if wait > 0:
                self.log.info("Job %s is done; sending its event in %.1f s (settle time)", self.job_id, wait)
                await asyncio.sleep(wait)
            if isinstance(event.payload, dict):
                event.payload = {"job_id": self.job_id, **event.payload}
            yield event
