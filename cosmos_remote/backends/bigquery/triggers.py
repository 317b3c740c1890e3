"""The provider's BigQuery job trigger, its job polled with the other jobs of its project by the event loop's shared
poller (:mod:`cosmos_remote.backends.bigquery.poller`: a few ``jobs.list`` pages per interval instead of one
``jobs.get`` per job), never firing sooner than a settle time after the task deferred, and never failing a task
because one poll failed.

Why poll errors are retried: the provider's trigger turns any exception while polling (a 429 over the API quota, a
503, a connection reset, a token refresh) into an error event, and the task fails while its job runs on. Here an
error event is sent only when the job failed, when the job is gone (404), or when polling has failed without a break
for ``[cosmos_remote] poll_error_deadline_seconds`` (default 30 min); until then each failed poll is retried after
an exponential backoff with jitter (from ``poll_interval`` up to 60 s), and logged.

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
from cosmos_remote.backends.bigquery.jobs import job_link
from cosmos_remote.backends.bigquery.poller import JobDone, PollerKey, PollFailure, shared_poller

__all__ = [
    "DEFAULT_POLL_ERROR_DEADLINE_SECONDS",
    "DEFAULT_SETTLE_SECONDS",
    "BigQueryInsertJobTrigger",
    "poll_error_deadline_seconds",
    "settle_seconds",
]

#: Seconds after the deferral before the trigger may fire (``[cosmos_remote] defer_settle_seconds``).
DEFAULT_SETTLE_SECONDS = 10.0
#: Seconds of failed polls in a row before the trigger gives up (``[cosmos_remote] poll_error_deadline_seconds``).
DEFAULT_POLL_ERROR_DEADLINE_SECONDS = 1800.0


def _seconds_setting(name: str, default: float, example: str) -> float:
    from cosmos_remote.errors import ConfigError
    from cosmos_remote.settings import setting

    found = setting(name, cosmos_fallback=False)
    if found is None:
        return default
    try:
        value = float(found.value)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(f"{found.source}: {found.value!r} is not a number of seconds >= 0 (e.g. {example}).")
    return value


def settle_seconds() -> float:
    """``[cosmos_remote] defer_settle_seconds`` (a number >= 0), else :data:`DEFAULT_SETTLE_SECONDS`; 0 under
    ``dag.test()``, which runs the trigger inline in the task's own process: no scheduler, no stale event."""
    if _in_process_test():
        return 0.0
    return _seconds_setting("defer_settle_seconds", DEFAULT_SETTLE_SECONDS, "10")


def poll_error_deadline_seconds() -> float:
    """``[cosmos_remote] poll_error_deadline_seconds``, else :data:`DEFAULT_POLL_ERROR_DEADLINE_SECONDS`."""
    return _seconds_setting("poll_error_deadline_seconds", DEFAULT_POLL_ERROR_DEADLINE_SECONDS, "1800")


def _in_process_test() -> bool:
    """Whether this task runs under ``dag.test()`` (the Task SDK's in-process supervisor comms are installed)."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return False
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return type(comms).__name__ == "InProcessSupervisorComms"


def _event_of(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


class BigQueryInsertJobTrigger(_ProviderInsertJobTrigger):
    """Polls a BigQuery job until it is DONE, on the endpoint of the connection's ``api_endpoint`` extra.

    Same arguments, one-event and never-raise contract as the provider's trigger, events naming the ``job_id``,
    plus ``settle_until``: the wall-clock time (epoch seconds) before which no event is sent, and
    ``poll_error_deadline``: seconds of failed polls in a row before an error event (see the module docs; ``None``:
    the setting's value).
    """

    def __init__(
        self, *args: Any, settle_until: float = 0.0, poll_error_deadline: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.settle_until = float(settle_until)
        self.poll_error_deadline = (
            poll_error_deadline_seconds() if poll_error_deadline is None else float(poll_error_deadline)
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        extra = {"settle_until": self.settle_until, "poll_error_deadline": self.poll_error_deadline}
        return f"{type(self).__module__}.{type(self).__qualname__}", {**kwargs, **extra}

    def _get_async_hook(self) -> BigQueryAsyncHook:
        return BigQueryAsyncHook(gcp_conn_id=self.conn_id, impersonation_chain=self.impersonation_chain)

    def poller_key(self) -> PollerKey:
        """The poller this trigger's job shares (see :mod:`cosmos_remote.backends.bigquery.poller`)."""
        chain = self.impersonation_chain
        return PollerKey(
            conn_id=self.conn_id,
            project_id=self.project_id,
            location=self.location,
            impersonation_chain=chain if chain is None or isinstance(chain, str) else tuple(chain),
            poll_interval=float(self.poll_interval),
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the job's result from the shared poller; log and retry failed polls (see the module docs); one
        event, never an exception."""
        watch = shared_poller(self.poller_key()).watch(str(self.job_id))
        self.log.info(
            "Waiting for BigQuery job %s (polled with the other jobs of project %s every %s s)",
            self.job_id,
            self.project_id,
            self.poll_interval,
        )
        try:
            while True:
                update = await watch.next_update()
                if isinstance(update, JobDone):
                    yield await self._event({"status": update.status, "message": update.message})
                    return
                event = self._poll_failed(update)
                if event is not None:
                    yield event
                    return
                error = update.error
                self.log.warning(
                    "Polling BigQuery job %s failed (%s: %s); the job is not affected, polling again in %.1f s "
                    "(%d failed polls in a row)",
                    self.job_id,
                    type(error).__name__,
                    str(error).splitlines()[0][:300] if str(error) else "",
                    update.retry_in,
                    update.failures,
                )
        finally:  # also when cancelled: on_kill() cancels the job when a user killed the task
            watch.close()

    def _poll_failed(self, failure: PollFailure) -> TriggerEvent | None:
        """The error event to send after a failed poll, or None to poll again."""
        from airflow.sdk.exceptions import AirflowNotFoundException
        from google.api_core.exceptions import NotFound

        error = failure.error
        if isinstance(error, NotFound):
            return _event_of(
                {"job_id": self.job_id, "status": "error", "message": f"BigQuery job {self.job_id} not found: {error}"}
            )
        if isinstance(error, AirflowNotFoundException):  # no such connection: waiting would not help
            return _event_of({"job_id": self.job_id, "status": "error", "message": f"polling BigQuery job "
                              f"{self.job_id} is not possible: {error}"})  # fmt: skip
        if failure.failing_for < self.poll_error_deadline:
            return None
        link = job_link(project_id=self.project_id, location=self.location, job_id=str(self.job_id))
        message = (
            f"polling BigQuery job {self.job_id} failed for {failure.failing_for:.0f} s ({failure.failures} polls "
            f"in a row, last: {type(error).__name__}: {error}); the job itself may still be running: {link}. A retry "
            "of the task reattaches to it."
        )
        return _event_of({"job_id": self.job_id, "status": "error", "message": message})

    async def _event(self, payload: dict[str, Any]) -> TriggerEvent:
        wait = self.settle_until - time.time()
        if wait > 0:
            self.log.info("Job %s is done; sending its event in %.1f s (settle time)", self.job_id, wait)
            await asyncio.sleep(wait)
        if payload["status"] == "success":
            self.log.info("BigQuery Job succeeded")
        else:
            self.log.info("BigQuery Job failed: %s", payload["message"])
        return _event_of({"job_id": self.job_id, **payload})
