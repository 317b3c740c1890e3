"""``local_gcp()``: GCS and BigQuery emulators on loopback, with the environment that points clients at them."""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from cosmos_remote.testing._api_methods import API_METHODS
from cosmos_remote.testing._emulators import bigquery_emulator, delay_relay, fake_gcs_server, latency_proxy
from cosmos_remote.testing._process import EmulatorError, ManagedProcess, check_port_free, free_ports

__all__ = ["LocalGCP", "local_gcp"]

_START_TIMEOUT: Final = 60.0


@dataclass(frozen=True)
class LocalGCP:
    """What :func:`local_gcp` started, and where.

    Attributes:
        project: The BigQuery / GCS project id the emulators answer for.
        bucket: A bucket that exists in the GCS emulator.
        dataset: A dataset that exists in the BigQuery emulator.
        location: The dataset's location, e.g. ``"US"``.
        gcs_endpoint: ``http://127.0.0.1:PORT`` clients use for GCS (the latency proxy when one is on).
        bigquery_endpoint: ``http://127.0.0.1:PORT`` clients use for BigQuery (always the proxy).
        conn_id: The Airflow connection id (``google_cloud_platform``) that points at both emulators.
        pids: The PIDs of every process started, to check they are gone afterwards.
        env: The environment variables set while the context is open.
        API_METHODS: Every BigQuery API method name :meth:`job_log` counts and :meth:`set_faults` takes.
    """

    API_METHODS: ClassVar[tuple[str, ...]] = API_METHODS
    project: str
    bucket: str
    dataset: str
    location: str
    gcs_endpoint: str
    bigquery_endpoint: str
    conn_id: str
    pids: tuple[int, ...]
    env: dict[str, str] = field(repr=False)
    _bigquery_proxy: str = field(repr=False)
    _gcs_proxy: str | None = field(repr=False)

    @property
    def remote_target_path(self) -> str:
        """``gs://{bucket}/cosmos``: a place for a DAG's ``remote_target_path``."""
        return f"gs://{self.bucket}/cosmos"

    def set_job_latency(self, seconds: float) -> None:
        """Make every BigQuery job inserted from now on report RUNNING for ``seconds`` before its real result."""
        _post_json(f"{self._bigquery_proxy}/_proxy/config", {"job_latency": seconds})

    def hold_relations(self, seconds: Mapping[str, float]) -> None:
        """Keep the next BigQuery job that creates or writes each of these relations (by table name) RUNNING for its
        seconds, once per relation (replaces earlier holds); each held job is in :meth:`job_log` under ``held``."""
        _post_json(f"{self._bigquery_proxy}/_proxy/config", {"holds": dict(seconds)})

    def set_faults(
        self,
        rate: float = 0.0,
        *,
        seed: int = 0,
        methods: Sequence[str] = ("jobs.get",),
        first: int = 0,
        codes: Sequence[int] = (429, 503),
    ) -> None:
        """Answer BigQuery API requests of ``methods`` with one of ``codes`` (seeded, evenly; 429, 503 or 403): the
        ``first`` ones, then a fraction ``rate`` of them. ``set_faults()`` turns faults off. Methods: ``jobs.get``,
        ``jobs.insert``, ``jobs.list``, ``jobs.query``, ``jobs.getQueryResults``, ``other``."""
        faults = {"rate": rate, "seed": seed, "methods": list(methods), "first": first, "codes": list(codes)}
        _post_json(f"{self._bigquery_proxy}/_proxy/config", {"faults": faults})

    def bigquery_outage(self, seconds: float) -> None:
        """Answer every BigQuery API request 503 for the next ``seconds`` (an outage as clients see it), then serve
        normally again."""
        faults = {"rate": 1.0, "methods": list(API_METHODS), "codes": [503], "seconds": seconds}
        _post_json(f"{self._bigquery_proxy}/_proxy/config", {"faults": faults})

    def finish_jobs(self, job_ids: Sequence[str]) -> None:
        """Let these BigQuery jobs report their real, DONE state now, however young (see :meth:`set_job_latency`)."""
        _post_json(f"{self._bigquery_proxy}/_proxy/config", {"finish": list(job_ids)})

    def job_log(self) -> dict[str, Any]:
        """What the BigQuery proxy saw so far.

        Returns ``{"inserts": [{"job_id", "labels", "accepted"}, ...], "running_answers": {job_id: n},
        "held": [{"job_id", "relation", "start", "seconds"}, ...], "requests": {method: n}, "faults": {method: n}}``:
        every ``jobs.insert`` attempt in order (a rejected duplicate has ``accepted: False``), for each job how many
        answers said RUNNING because of ``job_latency``, the jobs held for their relation (:meth:`hold_relations`;
        ``start`` is wall-clock epoch seconds), the requests per API method, and how many of them got an injected
        fault (:meth:`set_faults`).
        """
        with urllib.request.urlopen(f"{self._bigquery_proxy}/_proxy/jobs", timeout=30) as response:
            log: dict[str, Any] = json.loads(response.read())
            return log

    def set_gcs_request_delay(self, seconds: float) -> None:
        """Add ``seconds`` before every GCS request (needs ``local_gcp(gcs_request_delay=...)`` > 0 at start)."""
        if self._gcs_proxy is None:
            raise EmulatorError("set_gcs_request_delay needs local_gcp(gcs_request_delay=...) to start the GCS proxy")
        _post_json(f"{self._gcs_proxy}/_proxy/config", {"request_delay": seconds})

    def bigquery_client(self) -> Any:
        """A ``google.cloud.bigquery.Client`` on the emulator (anonymous credentials)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        options = {"api_endpoint": self.bigquery_endpoint}
        return bigquery.Client(project=self.project, credentials=credentials, client_options=options)

    def create_dataset(self, dataset: str) -> None:
        """Create another BigQuery dataset (idempotent)."""
        _create_dataset(self.bigquery_endpoint, self.project, dataset, self.location)

    def create_bucket(self, bucket: str) -> None:
        """Create another GCS bucket (idempotent)."""
        _create_bucket(self.gcs_endpoint, self.project, bucket)


def _post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer


def _create_or_accept_existing(url: str, body: dict[str, Any], what: str) -> None:
    try:
        _post_json(url, body)
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise EmulatorError(f"creating {what} failed: HTTP {exc.code} {exc.read()[:500]!r}") from exc


def _create_bucket(endpoint: str, project: str, bucket: str) -> None:
    _create_or_accept_existing(f"{endpoint}/storage/v1/b?project={project}", {"name": bucket}, f"bucket {bucket!r}")


def _create_dataset(endpoint: str, project: str, dataset: str, location: str) -> None:
    body = {"datasetReference": {"projectId": project, "datasetId": dataset}, "location": location}
    _create_or_accept_existing(f"{endpoint}/bigquery/v2/projects/{project}/datasets", body, f"dataset {dataset!r}")


def _connection_uri_json(*, project: str, bigquery_endpoint: str, gcs_endpoint: str) -> str:
    extra = {
        "project": project,
        "is_anonymous": True,
        "api_endpoint": bigquery_endpoint,
        "gcs.endpoint": gcs_endpoint,
    }
    return json.dumps({"conn_type": "google_cloud_platform", "extra": extra})


def _conn_env_name(conn_id: str) -> str:
    return "AIRFLOW_CONN_" + conn_id.upper()


@contextlib.contextmanager
def _patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextlib.contextmanager
def local_gcp(
    *,
    project: str = "local-project",
    bucket: str = "cosmos-remote",
    dataset: str = "cosmos_remote",
    location: str = "US",
    conn_id: str = "google_cloud_default",
    job_latency: float = 0.0,
    gcs_request_delay: float = 0.0,
    gcs_port: int = 0,
    bigquery_port: int = 0,
) -> Iterator[LocalGCP]:
    """Start a GCS and a BigQuery emulator on loopback and point every client at them.

    Starts fake-gcs-server (in-memory) and bqemulator, bqemulator behind a small loopback proxy (and fake-gcs-server
    behind a byte relay when ``gcs_request_delay`` is set), waits until
    they answer, creates ``bucket`` and ``dataset``, and sets for the duration of the block: ``STORAGE_EMULATOR_HOST``
    and ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` (gcsfs, google-cloud-storage), ``BIGQUERY_EMULATOR_HOST``
    (google-cloud-bigquery), ``GOOGLE_CLOUD_PROJECT``, an Airflow connection ``conn_id`` of type
    ``google_cloud_platform`` whose extra holds ``api_endpoint`` (read by
    :mod:`cosmos_remote.backends.bigquery.hooks`), and ``COSMOS_REMOTE_BQ_PROJECT`` / ``COSMOS_REMOTE_BQ_DATASET`` /
    ``COSMOS_REMOTE_BQ_ENDPOINT`` for dbt profiles.
    On exit, also when the block raises, it stops every process it started by its own PID and restores the
    environment; the emulators' log files are removed after a clean exit and kept when something failed.

    Args:
        job_latency: Seconds every BigQuery query job stays PENDING/RUNNING before its real result shows. The
            emulator finishes jobs inside the insert call, so without this a deferrable operator never defers.
        gcs_request_delay: Seconds added to every GCS request (models real GCS round trips in benchmarks), by a
            relay that does not parse HTTP and so costs almost no CPU (see :mod:`cosmos_remote.testing._relay`).
        gcs_port, bigquery_port: Fixed ports for the endpoints clients use; 0 picks free ports.

    Example:
        >>> from cosmos_remote.testing import local_gcp
        >>> with local_gcp(job_latency=5) as gcp:  # doctest: +SKIP
        ...     print(gcp.remote_target_path, gcp.bigquery_endpoint)
    """
    if gcs_port:
        check_port_free(gcs_port, what="GCS emulator (gcs_port)")
    if bigquery_port:
        check_port_free(bigquery_port, what="BigQuery emulator (bigquery_port)")
    processes: list[ManagedProcess] = []
    created: list[ManagedProcess] = []
    clean = False
    try:
        spare = [p for p in free_ports(6) if p not in (gcs_port, bigquery_port)]
        gcs_public_port = gcs_port or spare.pop()
        gcs_proxied = gcs_request_delay > 0
        gcs_direct_port = spare.pop() if gcs_proxied else gcs_public_port
        gcs_endpoint = f"http://127.0.0.1:{gcs_public_port}"
        gcs_direct = f"http://127.0.0.1:{gcs_direct_port}"
        gcs = fake_gcs_server(port=gcs_direct_port, external_url=gcs_endpoint)
        bq_direct_port = spare.pop()
        bq = bigquery_emulator(port=bq_direct_port, grpc_port=spare.pop(), project=project)
        bq_public_port = bigquery_port or spare.pop()
        bq_endpoint = f"http://127.0.0.1:{bq_public_port}"
        bq_direct = f"http://127.0.0.1:{bq_direct_port}"
        bq_proxy = latency_proxy(
            name="bigquery-proxy", upstream=bq_direct, port=bq_public_port, request_delay=0.0, job_latency=job_latency
        )
        started = [gcs, bq, bq_proxy]
        created.extend(started)
        gcs_proxy = None
        if gcs_proxied:
            gcs_proxy = delay_relay(
                name="gcs-delay-relay", upstream=gcs_direct, port=gcs_public_port, request_delay=gcs_request_delay
            )
            started.append(gcs_proxy)
            created.append(gcs_proxy)
        for process in started:
            process.start()
            processes.append(process)
        gcs.wait_healthy(f"{gcs_direct}/_internal/healthcheck", timeout=_START_TIMEOUT)
        bq_proxy.wait_healthy(f"{bq_endpoint}/_proxy/health", timeout=_START_TIMEOUT)
        if gcs_proxy is not None:
            gcs_proxy.wait_healthy(f"{gcs_endpoint}/_proxy/health", timeout=_START_TIMEOUT)
        bq.wait_healthy(f"{bq_direct}/healthz", timeout=_START_TIMEOUT)
        _create_bucket(gcs_endpoint, project, bucket)
        _create_dataset(bq_endpoint, project, dataset, location)
        env = {
            "STORAGE_EMULATOR_HOST": gcs_endpoint,
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
            "BIGQUERY_EMULATOR_HOST": bq_endpoint,
            "GOOGLE_CLOUD_PROJECT": project,
            _conn_env_name(conn_id): _connection_uri_json(
                project=project, bigquery_endpoint=bq_endpoint, gcs_endpoint=gcs_endpoint
            ),
            "COSMOS_REMOTE_BQ_PROJECT": project,
            "COSMOS_REMOTE_BQ_DATASET": dataset,
            "COSMOS_REMOTE_BQ_ENDPOINT": bq_endpoint,
            "COSMOS_REMOTE_BQ_LOCATION": location,
        }
        handle = LocalGCP(
            project=project,
            bucket=bucket,
            dataset=dataset,
            location=location,
            gcs_endpoint=gcs_endpoint,
            bigquery_endpoint=bq_endpoint,
            conn_id=conn_id,
            pids=tuple(p.pid for p in processes),
            env=env,
            _bigquery_proxy=bq_endpoint,
            _gcs_proxy=gcs_endpoint if gcs_proxied else None,
        )
        with _patched_environ(env):
            yield handle
        clean = True
    finally:
        for process in reversed(processes):
            process.stop()
        if clean:  # the logs are kept (and named in the error) only when something failed
            for process in created:
                process.discard_log()
