"""A loopback HTTP proxy that makes local emulators behave like the real, slower services.

Two knobs, both optional:

* ``--request-delay S`` waits ``S`` seconds before forwarding every request (real services answer in ~30-100 ms; the
  emulators in ~1 ms). GCS benchmarks use the cheaper byte relay of :mod:`cosmos_remote.testing._relay` instead:
  parsing HTTP here costs ~2 ms of CPU per request.
* Always, for BigQuery: a second ``jobs.insert`` with a job id already used answers ``409 Already Exists`` (the
  emulator accepts duplicates; BigQuery does not, and retry-safe job ids depend on it), and job labels sent with
  ``jobs.insert`` are kept and shown in ``jobs.get`` (the emulator drops them).
* Always, for BigQuery: an unparameterized ``NUMERIC`` / ``DECIMAL`` type in a query (``CAST(x AS NUMERIC)``, a
  column definition ```col` NUMERIC``) is sent to the emulator as ``NUMERIC(38, 9)``, which is what BigQuery's
  NUMERIC is. The emulator otherwise stores such columns with 3 decimal places (``12.500`` for ``12.5``, and
  ``1.235`` for ``1.23456``), while its load jobs keep 9, as BigQuery does.
* Faults on demand (``/_proxy/config`` ``{"faults": {"rate": F, "seed": N, "methods": [...], "first": K, "codes":
  [...], "seconds": T}}``): the first ``K`` requests of the given API methods (default ``jobs.get``), then a seeded
  fraction ``F`` of them (for ``T`` seconds, when given; then no more faults), are answered with one of ``codes``
  (default ``429`` or ``503``, as BigQuery answers over its API quota or when busy; ``403`` is a permission denied)
  without reaching the emulator. Every request is counted per method
  (``jobs.get``, ``jobs.insert``, ``jobs.list``, ``jobs.query``, ``jobs.getQueryResults``, the metadata methods
  ``datasets.*``, ``tables.*``, ``tabledata.*``, ``other``).
* ``jobs.list`` as BigQuery answers it and consistent with ``jobs.get``: a job held RUNNING by ``--job-latency`` is
  listed RUNNING, then ``stateFilter``, ``projection=minimal`` and paging (``maxResults``, ``pageToken``) are
  applied here (the emulator has no paging and knows only DONE jobs).
* ``{"finish": [job ids]}`` lets those jobs report DONE now, whatever their age.
* ``--job-latency S`` keeps every BigQuery job PENDING/RUNNING for ``S`` seconds after it was inserted: the
  emulator finishes each job inside the insert call, which would never let a deferrable operator defer. Responses of
  ``jobs.insert``, ``jobs.get``, ``jobs.query`` and ``getQueryResults`` for a younger job say ``RUNNING`` /
  ``jobComplete: false``; after that the emulator's real answer (rows, errors, statistics) goes through unchanged.
  ``getQueryResults`` first waits for the job up to its ``timeoutMs`` (10 s at most), as BigQuery does.
* ``{"holds": {relation: S}}`` keeps the first job writing each relation RUNNING for its own ``S`` seconds (a slow
  warehouse with a time per model; :mod:`cosmos_remote.testing._proxy_clock`).

Run it as ``python -m cosmos_remote.testing._proxy --upstream URL --port PORT [...]``; :func:`local_gcp` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Final

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cosmos_remote.testing._api_methods import INSERT_PATH, JOB_PATH, QUERY_PATH, RESULTS_PATH, api_method
from cosmos_remote.testing._proxy_clock import JobClock
from cosmos_remote.testing._proxy_sql import rewrite_query

__all__ = ["build_app", "main"]

_UPSTREAM_LIST_SIZE: Final = 1_000_000
_RESULTS_WAIT: Final = 10.0
_LIST_PARAMS: Final = frozenset({"stateFilter", "maxResults", "pageToken", "projection"})
_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}
)


class _Faults:
    """Which requests are answered 429 / 503 instead of being forwarded, and how many of each method were seen."""

    def __init__(self) -> None:
        self.rate, self.next, self.methods = 0.0, 0, frozenset({"jobs.get"})
        self.until: float | None = None
        self.codes: tuple[int, ...] = (429, 503)
        self.random = random.Random(0)
        self.requests: dict[str, int] = {}
        self.injected: dict[str, int] = {}

    def configure(self, faults: dict[str, Any]) -> None:
        self.rate = float(faults.get("rate", 0.0))
        self.next = int(faults.get("first", 0))
        self.methods = frozenset(faults.get("methods") or ("jobs.get",))
        self.random = random.Random(int(faults.get("seed", 0)))
        self.codes = tuple(int(code) for code in faults.get("codes") or (429, 503))
        seconds = faults.get("seconds")
        self.until = time.monotonic() + float(seconds) if seconds is not None else None

    def answer(self, method: str) -> Response | None:
        """Count the request; the fault to answer it with, if it gets one."""
        self.requests[method] = self.requests.get(method, 0) + 1
        if self.until is not None and time.monotonic() >= self.until:
            self.rate, self.next, self.until = 0.0, 0, None
        if method not in self.methods:
            return None
        if self.next > 0:
            self.next -= 1
        elif not (self.rate > 0 and self.random.random() < self.rate):
            return None
        self.injected[method] = self.injected.get(method, 0) + 1
        code = self.codes[int(self.random.random() * len(self.codes))]
        status, reason = _FAULTS.get(code, ("UNKNOWN", "unknown"))
        message = f"injected by the local_gcp proxy ({status})"
        body = {"error": {"code": code, "message": message, "status": status, "errors": [{"reason": reason}]}}
        return JSONResponse(body, status_code=code)


_FAULTS: Final = {
    429: ("RESOURCE_EXHAUSTED", "rateLimitExceeded"),
    503: ("UNAVAILABLE", "backendError"),
    403: ("PERMISSION_DENIED", "accessDenied"),
}


class _JobBook:
    """Job ids and labels seen in ``jobs.insert`` requests."""

    def __init__(self) -> None:
        self.labels: dict[str, dict[str, str]] = {}
        self.attempts: list[dict[str, Any]] = []

    def conflict(self, job_id: str, labels: dict[str, str]) -> bool:
        duplicate = job_id in self.labels
        self.attempts.append({"job_id": job_id, "labels": labels, "accepted": not duplicate})
        return duplicate

    def record(self, job_id: str, labels: dict[str, str]) -> None:
        self.labels[job_id] = labels

    def restore_labels(self, payload: dict[str, Any]) -> dict[str, Any]:
        job_id = _job_id_of(payload)
        labels = self.labels.get(job_id) if job_id else None
        configuration = payload.get("configuration")
        if not labels or not isinstance(configuration, dict) or configuration.get("labels"):
            return payload
        return {**payload, "configuration": {**configuration, "labels": labels}}


def _conflict(job_id: str) -> JSONResponse:
    message = f"Already Exists: Job {job_id}"
    error = {"code": 409, "message": message, "status": "ALREADY_EXISTS"}
    error["errors"] = [{"message": message, "domain": "global", "reason": "duplicate"}]
    return JSONResponse({"error": error}, status_code=409)


def _job_id_of(payload: dict[str, Any]) -> str | None:
    reference = payload.get("jobReference")
    job_id = reference.get("jobId") if isinstance(reference, dict) else None
    return job_id if isinstance(job_id, str) else None


def _list_as_jobs_get_says(payload: dict[str, Any], clock: JobClock, query: list[tuple[str, str]]) -> dict[str, Any]:
    """A ``jobs.list`` page as BigQuery answers it, from the emulator's whole list: each young job RUNNING (as
    ``jobs.get`` reports it), then ``stateFilter`` applied, ``projection=minimal`` honoured (no configuration), and
    ``maxResults`` per page with a ``nextPageToken`` (the emulator has no paging)."""
    states = {value.lower() for key, value in query if key == "stateFilter"}
    params = dict(query)
    listed = []
    for job in payload.get("jobs") or []:
        job_id = _job_id_of(job) if isinstance(job, dict) else None
        if job_id is not None and clock.seen_young(job_id):
            job = {**job, "state": "RUNNING", "status": {"state": "RUNNING"}}
            job.pop("errorResult", None)
        if states and str(job.get("state", "")).lower() not in states:
            continue
        if params.get("projection") == "minimal":
            job = {key: value for key, value in job.items() if key != "configuration"}
        listed.append(job)
    start = int(params.get("pageToken") or 0)
    size = int(params.get("maxResults") or 1000)
    page = {**payload, "jobs": listed[start : start + size]}
    page.pop("nextPageToken", None)
    if start + size < len(listed):
        page["nextPageToken"] = str(start + size)
    return page


def _hide_completion(path: str, method: str, payload: dict[str, Any], clock: JobClock) -> dict[str, Any]:
    job_id = _job_id_of(payload)
    if job_id is None:
        match = JOB_PATH.search(path) or RESULTS_PATH.search(path)
        job_id = match.group("job") if match else None
    if job_id is None or not clock.young(job_id):
        return payload
    is_job_resource = (method == "POST" and INSERT_PATH.search(path)) or (method == "GET" and JOB_PATH.search(path))
    if is_job_resource:
        hidden = dict(payload)
        hidden["status"] = {"state": "RUNNING"}
        statistics = dict(hidden.get("statistics") or {})
        statistics.pop("endTime", None)
        hidden["statistics"] = statistics
        return hidden
    if (method == "POST" and QUERY_PATH.search(path)) or (method == "GET" and RESULTS_PATH.search(path)):
        return {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": payload.get("jobReference", {}),
            "jobComplete": False,
        }
    return payload


def _query_text(job: dict[str, Any]) -> str:
    """The SQL of a ``jobs.insert`` (a query job) or ``jobs.query`` request body ("" for other jobs)."""
    configuration = job.get("configuration")
    query = configuration.get("query") if isinstance(configuration, dict) else None
    text = query.get("query") if isinstance(query, dict) else job.get("query")
    return text if isinstance(text, str) else ""


async def _wait_as_bigquery_does(clock: JobClock, job_id: str, timeout_ms: str | None) -> None:
    """``jobs.getQueryResults`` waits for a running job up to ``timeoutMs`` (10 s when not given) before it answers
    "not complete"; clients poll it in a tight loop and rely on that wait."""
    try:
        timeout = float(timeout_ms) / 1000 if timeout_ms else _RESULTS_WAIT
    except ValueError:
        timeout = _RESULTS_WAIT
    if (wait := min(clock.remaining(job_id), timeout, _RESULTS_WAIT)) > 0:
        await asyncio.sleep(wait)


def _closing(client: httpx.AsyncClient) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    return lifespan


def build_app(*, upstream: str, request_delay: float = 0.0, job_latency: float = 0.0) -> Starlette:
    """The proxy as an ASGI app forwarding to ``upstream`` (``http://host:port``)."""
    clock = JobClock(job_latency)
    book = _JobBook()
    faults = _Faults()
    delay = {"request": request_delay}
    client = httpx.AsyncClient(base_url=upstream, timeout=httpx.Timeout(120.0))

    async def forward(request: Request) -> Response:
        if delay["request"] > 0:
            await asyncio.sleep(delay["request"])
        if "/bigquery/v2/" in request.url.path and (
            fault := faults.answer(api_method(request.method, request.url.path))
        ):
            return fault
        if request.method == "GET" and (results := RESULTS_PATH.search(request.url.path)):
            await _wait_as_bigquery_does(clock, results.group("job"), request.query_params.get("timeoutMs"))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        body = await request.body()
        if (
            request.method == "POST"
            and body
            and (INSERT_PATH.search(request.url.path) or QUERY_PATH.search(request.url.path))
        ):
            body = rewrite_query(body, job_insert=bool(INSERT_PATH.search(request.url.path)))
        inserted: tuple[str, dict[str, str]] | None = None
        job: Any = None
        if request.method == "POST" and (INSERT_PATH.search(request.url.path) or QUERY_PATH.search(request.url.path)):
            with contextlib.suppress(ValueError):
                job = json.loads(body) if body else None
        if request.method == "POST" and INSERT_PATH.search(request.url.path) and isinstance(job, dict):
            job_id = _job_id_of(job)
            if job_id is not None:
                labels = dict((job.get("configuration") or {}).get("labels") or {})
                if book.conflict(job_id, labels):
                    return _conflict(job_id)
                inserted = (job_id, labels)
        query = list(request.query_params.multi_items())
        listing = request.method == "GET" and bool(INSERT_PATH.search(request.url.path))
        # a listing is filtered and paged here, after young jobs are shown RUNNING (the emulator knows only DONE)
        params: list[tuple[str, str | int | float | bool | None]] = [
            (key, value) for key, value in query if not (listing and key in _LIST_PARAMS)
        ]
        if listing:
            params.append(("maxResults", _UPSTREAM_LIST_SIZE))  # the emulator's default page holds 100 jobs
        upstream_response = await client.request(
            request.method, request.url.path, params=params, headers=headers, content=body
        )
        if inserted is not None and upstream_response.status_code < 300:
            book.record(*inserted)
        response_headers = {k: v for k, v in upstream_response.headers.items() if k.lower() not in _HOP_BY_HOP}
        content_type = upstream_response.headers.get("content-type", "")
        if "/bigquery/v2/" in request.url.path and content_type.startswith("application/json"):
            try:
                payload = upstream_response.json()
            except ValueError:
                payload = None
            if isinstance(payload, dict) and upstream_response.status_code < 300:
                if isinstance(job, dict) and (accepted_id := _job_id_of(payload)) is not None:
                    clock.start(accepted_id, _query_text(job))
                changed = book.restore_labels(payload)
                if listing:
                    changed = _list_as_jobs_get_says(changed, clock, query)
                elif clock.active:
                    changed = _hide_completion(request.url.path, request.method, changed, clock)
                if changed is not payload:
                    response_headers.pop("etag", None)
                    return JSONResponse(changed, status_code=upstream_response.status_code, headers=response_headers)
        return Response(
            content=upstream_response.content,
            status_code=upstream_response.status_code,
            headers=response_headers,
        )

    def settings() -> dict[str, Any]:
        return {"status": "ok", "upstream": upstream, "job_latency": clock.latency, "request_delay": delay["request"]}

    async def health(_: Request) -> Response:
        return JSONResponse(settings())

    async def jobs(_: Request) -> Response:
        """What the proxy saw: every ``jobs.insert`` attempt, and how often each job was reported RUNNING."""
        return JSONResponse(
            {
                "inserts": book.attempts,
                "running_answers": clock.hidden,
                "held": clock.held,
                "requests": faults.requests,
                "faults": faults.injected,
            }
        )

    async def configure(request: Request) -> Response:
        """Change the knobs of a running proxy: ``{"job_latency": S, "holds": {relation: S}, "request_delay": S,
        "faults": {...}, "finish": [job ids]}`` (each optional)."""
        changes = await request.json()
        if "faults" in changes:
            faults.configure(dict(changes["faults"] or {}))
        if "job_latency" in changes:
            clock.latency = float(changes["job_latency"])
        if "holds" in changes:
            clock.set_holds(dict(changes["holds"] or {}))
        if "finish" in changes:
            clock.finish([str(job_id) for job_id in changes["finish"]])
        if "request_delay" in changes:
            delay["request"] = float(changes["request_delay"])
        return JSONResponse(settings())

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(
        routes=[
            Route("/_proxy/health", health),
            Route("/_proxy/config", configure, methods=["POST"]),
            Route("/_proxy/jobs", jobs),
            Route("/{path:path}", forward, methods=methods),
        ],
        lifespan=_closing(client),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of the emulator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--request-delay", type=float, default=0.0, help="seconds added before every request")
    parser.add_argument("--job-latency", type=float, default=0.0, help="seconds every BigQuery job stays RUNNING")
    args = parser.parse_args(argv)
    app = build_app(upstream=args.upstream, request_delay=args.request_delay, job_latency=args.job_latency)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
