"""One poller per triggerer event loop and (connection, project, location): the state of many BigQuery jobs in a few
requests.

Each deferred node task's trigger registers its job here instead of polling ``jobs.get`` on its own. Once per
``poll_interval`` the poller lists the project's unfinished jobs (``jobs.list``, ``stateFilter`` running and pending,
``projection=minimal``, 1,000 per page) and calls ``jobs.get`` only for the watched jobs that list does not show:
those that finished (and a job too new to be listed yet). A round costs ``⌈unfinished / 1000⌉`` list pages plus
one get per finished job, instead of one get per watched job. With one watched job a round is a single ``jobs.get``;
a poller that may not list (HTTP 400, 403 other than a quota, 404, 405, 501) says so once and gets each job.

A failed request is a failed poll, never a failed job: the poller hands the failure to the trigger of each job it
concerns (which logs it and decides on the deadline) and tries again after an exponential backoff with jitter
(``poll_interval`` doubling up to 60 s): the whole round after a failed list, one job after a failed get.

Pollers live in a registry keyed by the running event loop (a :class:`weakref.WeakKeyDictionary`), so a restarted
triggerer, or each ``asyncio.run`` of a test, starts with none; a poller whose last job is done stops its task and
closes its HTTP session and leaves the registry.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "LIST_PAGE_SIZE",
    "JobDone",
    "JobPoller",
    "JobWatch",
    "JobsApi",
    "PollFailure",
    "PollerKey",
    "backoff",
    "pollers_of",
    "shared_poller",
]

log = logging.getLogger(__name__)

#: Jobs per ``jobs.list`` page.
LIST_PAGE_SIZE: Final = 1000
#: Seconds one request may take before it counts as a failed poll.
REQUEST_TIMEOUT: Final = 30.0
_MAX_BACKOFF: Final = 60.0
_GETS_AT_ONCE: Final = 8
_DEFAULT_ENDPOINT: Final = "https://bigquery.googleapis.com"
# HTTP answers to jobs.list that say the poller may not list here (rather than "not now")
_CANNOT_LIST: Final = frozenset({400, 403, 404, 405, 501})
_QUOTA_REASONS: Final = frozenset({"rateLimitExceeded", "quotaExceeded", "backendError"})


def backoff(interval: float, failures: int) -> float:
    """Seconds to wait after ``failures`` failed polls in a row: ``interval * 2**failures`` up to 60 s, times a
    random factor in [0.5, 1] (jitter, so that many waiting triggers do not all come back at once)."""
    return float(min(interval * 2 ** min(failures, 10), _MAX_BACKOFF) * random.uniform(0.5, 1.0))


@dataclass(frozen=True)
class PollerKey:
    """What one poller shares: the jobs of one connection, project and location, polled at one interval."""

    conn_id: str
    project_id: str
    location: str | None
    impersonation_chain: str | tuple[str, ...] | None
    poll_interval: float


@dataclass(frozen=True)
class JobDone:
    """A watched job is DONE: ``status`` ``"success"`` or ``"error"`` (then ``message`` is BigQuery's)."""

    status: str
    message: str


@dataclass(frozen=True)
class PollFailure:
    """A request about a watched job failed: ``failures`` polls in a row for ``failing_for`` seconds; the next one
    in ``retry_in`` seconds. ``error`` is the exception (a ``google.api_core`` one for an HTTP error)."""

    error: Exception
    failures: int
    failing_for: float
    retry_in: float


Update = JobDone | PollFailure


class JobsApi:
    """The two BigQuery REST calls the poller makes, on one authorized HTTP session (blocking; run in a thread).

    Built lazily from the Airflow connection: its credentials (impersonation included) and ``api_endpoint`` extra.
    """

    def __init__(self, key: PollerKey) -> None:
        self.key = key
        self._session: Any = None
        self._root = ""

    def _ensure_session(self) -> Any:
        if self._session is None:
            from google.auth.transport.requests import AuthorizedSession

            from cosmos_remote.backends.bigquery.hooks import BigQueryHook

            hook = BigQueryHook(gcp_conn_id=self.key.conn_id, impersonation_chain=self.key.impersonation_chain)
            endpoint = hook.api_endpoint() or _DEFAULT_ENDPOINT
            self._root = f"{endpoint}/bigquery/v2/projects/{self.key.project_id}/jobs"
            self._session = AuthorizedSession(hook.get_credentials())  # type: ignore[no-untyped-call]
        return self._session

    def _get_json(self, url: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        from google.api_core.exceptions import from_http_response

        response = self._ensure_session().get(url, params=params, timeout=REQUEST_TIMEOUT)
        if response.status_code >= 300:
            raise from_http_response(response)  # type: ignore[no-untyped-call]
        payload: dict[str, Any] = response.json()
        return payload

    def unfinished(self) -> set[str]:
        """The ids of the project's running and pending jobs (every page of ``jobs.list``)."""
        self._ensure_session()
        ids: set[str] = set()
        token: str | None = None
        while True:
            params = [("stateFilter", "running"), ("stateFilter", "pending"), ("projection", "minimal")]
            params.append(("maxResults", str(LIST_PAGE_SIZE)))
            if token:
                params.append(("pageToken", token))
            page = self._get_json(self._root, params)
            for job in page.get("jobs") or ():
                job_id = (job.get("jobReference") or {}).get("jobId")
                if isinstance(job_id, str):
                    ids.add(job_id)
            token = page.get("nextPageToken")
            if not token:
                return ids

    def get(self, job_id: str) -> JobDone | None:
        """``jobs.get`` of one job: its result when DONE, else ``None``."""
        self._ensure_session()
        params = [("location", self.key.location)] if self.key.location else []
        status = self._get_json(f"{self._root}/{job_id}", params).get("status") or {}
        if status.get("state") != "DONE":
            return None
        error = status.get("errorResult")
        if error:
            return JobDone("error", str(error.get("message") or error))
        return JobDone("success", "Job completed")

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _may_not_list(error: Exception) -> bool:
    from google.api_core.exceptions import GoogleAPICallError

    if not isinstance(error, GoogleAPICallError) or error.code not in _CANNOT_LIST:
        return False
    reasons = {str(item.get("reason")) for item in (error.errors or ()) if isinstance(item, dict)}
    return not (reasons & _QUOTA_REASONS)


@dataclass(eq=False)
class JobWatch:
    """One trigger's registration: ``await watch.next_update()`` until a :class:`JobDone`; then ``close()``."""

    job_id: str
    poller: JobPoller
    failures: int = 0
    failing_since: float | None = None
    next_get_at: float = 0.0
    updates: asyncio.Queue[Update] = field(default_factory=asyncio.Queue)

    async def next_update(self) -> Update:
        return await self.updates.get()

    def close(self) -> None:
        self.poller.forget(self)

    def _ok(self) -> None:
        self.failures, self.failing_since = 0, None

    def _failed(self, error: Exception, now: float) -> float:
        self.failing_since = now if self.failing_since is None else self.failing_since
        self.failures += 1
        retry_in = backoff(self.poller.key.poll_interval, self.failures)
        self.next_get_at = now + retry_in
        self.updates.put_nowait(PollFailure(error, self.failures, now - self.failing_since, retry_in))
        return retry_in


class JobPoller:
    """Polls every watched job of one :class:`PollerKey` (see the module docs)."""

    def __init__(self, key: PollerKey, api_factory: Callable[[PollerKey], JobsApi] = JobsApi) -> None:
        self.key = key
        self.can_list = True
        self.rounds = 0
        self._api_factory = api_factory
        self._api: JobsApi | None = None
        self._watches: dict[str, JobWatch] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, job_id: str) -> JobWatch:
        """Register ``job_id``; its updates come on the returned watch from the next round on."""
        watch = self._watches.get(job_id)
        if watch is None:
            watch = self._watches[job_id] = JobWatch(job_id, self)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"bigquery-poller-{self.key}")
        return watch

    def forget(self, watch: JobWatch) -> None:
        if self._watches.get(watch.job_id) is watch:
            del self._watches[watch.job_id]

    @property
    def watching(self) -> int:
        return len(self._watches)

    async def _run(self) -> None:
        round_failures = 0
        try:
            while self._watches:
                started = time.monotonic()
                try:
                    listed = await self._round()
                except Exception as error:  # never leave a trigger waiting on a poller that died
                    log.exception("Polling BigQuery jobs of project %s failed", self.key.project_id)
                    for watch in list(self._watches.values()):
                        watch._failed(error, time.monotonic())
                    listed = False
                round_failures = 0 if listed else round_failures + 1
                wait = self.key.poll_interval if listed else backoff(self.key.poll_interval, round_failures)
                await asyncio.sleep(max(0.0, wait - (time.monotonic() - started)))
        finally:  # no await from the last check of the watches to here: a new watch finds a new poller
            if self._api is not None:
                self._api.close()
                self._api = None
            _retire(self)

    async def _round(self) -> bool:
        """One round; False when the list request failed (the round is retried after a backoff)."""
        self.rounds += 1
        api = self._api = self._api or self._api_factory(self.key)
        watches = list(self._watches.values())
        unfinished: set[str] | None = None
        if self.can_list and len(watches) > 1:
            try:
                unfinished = await asyncio.to_thread(api.unfinished)
            except Exception as error:
                if not _may_not_list(error):
                    now = time.monotonic()
                    for watch in watches:
                        watch._failed(error, now)
                    return False
                self.can_list = False
                log.warning(
                    "BigQuery jobs.list is not allowed for project %s (%s); polling each job with jobs.get instead",
                    self.key.project_id,
                    str(error).splitlines()[0][:300],
                )
        now = time.monotonic()
        to_get = []
        for watch in watches:
            if unfinished is not None and watch.job_id in unfinished:
                watch._ok()
            elif watch.next_get_at <= now:
                to_get.append(watch)
        if to_get:
            limit = asyncio.Semaphore(_GETS_AT_ONCE)
            await asyncio.gather(*(self._get(api, watch, limit) for watch in to_get))
        return True

    async def _get(self, api: JobsApi, watch: JobWatch, limit: asyncio.Semaphore) -> None:
        async with limit:
            try:
                done = await asyncio.to_thread(api.get, watch.job_id)
            except Exception as error:
                watch._failed(error, time.monotonic())
                return
        watch._ok()
        if done is not None and self._watches.get(watch.job_id) is watch:
            self.forget(watch)
            watch.updates.put_nowait(done)


_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[PollerKey, JobPoller]] = weakref.WeakKeyDictionary()


def _retire(poller: JobPoller) -> None:
    """Drop an idle poller from its loop's registry (it holds its task, which holds the loop)."""
    pollers = _POLLERS.get(asyncio.get_running_loop())
    if pollers is not None and pollers.get(poller.key) is poller:
        del pollers[poller.key]


def shared_poller(key: PollerKey) -> JobPoller:
    """The poller of ``key`` on the running event loop (created on first use)."""
    pollers = _POLLERS.setdefault(asyncio.get_running_loop(), {})
    poller = pollers.get(key)
    if poller is None:
        poller = pollers[key] = JobPoller(key)
    return poller


def pollers_of(loop: asyncio.AbstractEventLoop) -> dict[PollerKey, JobPoller]:
    """The pollers of ``loop`` (for tests and diagnostics)."""
    return dict(_POLLERS.get(loop) or {})
