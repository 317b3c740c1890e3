"""``make bench BENCH=triggerer``: thousands of deferred BigQuery jobs on one triggerer event loop.

For N = 100, 1,000 and 3,000 jobs held RUNNING by local_gcp's proxy (real jobs in the BigQuery emulator), a child
process (the triggerer) runs N real triggers on one asyncio loop: cosmos_remote's
:class:`~cosmos_remote.backends.bigquery.triggers.BigQueryInsertJobTrigger` (one shared poller: ``jobs.list`` pages
plus ``jobs.get`` for finished jobs) or, on fresh jobs in the same run, the Google provider's
``BigQueryInsertJobTrigger`` (one ``jobs.get`` per job per ``poll_interval``; only its hook's endpoint is changed to
reach the proxy). Both poll every 4 s, the provider's default. Measured over 5 intervals while all N run: BigQuery
requests per interval (counted by the proxy), CPU of the child process (all its threads) as a fraction of one core,
its RSS; then 5% of the jobs are made DONE, in four groups at four phases of the poll interval, and the time from
that to each of their events is taken (the largest is reported).

Targets (issue #16): requests per interval <= 2 + ceil(N / 1000) + jobs finished in that interval; at N = 3,000
<= 10% of one core and <= 500 MB; DONE to event <= 1.5 x interval. Then a real cluster (``_wide_cluster.py``): a
300-model DAG deferred at once on one triggerer with 5% of BigQuery API requests answered 429 or 503.

Writes ``benchmarks/results/triggerer.json``. ``TRIGGERER_JOBS=100,1000`` and ``TRIGGERER_CLUSTER_MODELS=0`` shorten it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from benchmarks._common import machine_info, write_results

RESULTS: Final = Path(__file__).parent / "results" / "triggerer.json"
JOBS: Final = [int(n) for n in os.environ.get("TRIGGERER_JOBS", "100,1000,3000").split(",") if n]
CLUSTER_MODELS: Final = int(os.environ.get("TRIGGERER_CLUSTER_MODELS", "300"))
INTERVAL: Final = 4.0
WINDOW_INTERVALS: Final = 5
FINISH_FRACTION: Final = 0.05
EVENT_TIMEOUT: Final = 120.0
PAGE_SIZE: Final = 1000


def _provider_trigger_class() -> type[Any]:
    """The provider's trigger, unchanged but for its hook's endpoint (the connection's ``api_endpoint``)."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryAsyncHook
    from airflow.providers.google.cloud.triggers.bigquery import BigQueryInsertJobTrigger

    from cosmos_remote.backends.bigquery.hooks import BigQueryHook

    class ProviderHookOnEndpoint(BigQueryAsyncHook):
        sync_hook_class = BigQueryHook

    class ProviderTrigger(BigQueryInsertJobTrigger):
        def _get_async_hook(self) -> Any:
            return ProviderHookOnEndpoint(gcp_conn_id=self.conn_id, impersonation_chain=self.impersonation_chain)

    return ProviderTrigger


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _proxy(url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def _polls(url: str) -> int:
    requests = _proxy(url, "/_proxy/jobs")["requests"]
    return int(requests.get("jobs.get", 0)) + int(requests.get("jobs.list", 0))


async def _triggerer(kind: str, jobs: list[str], proxy: str, conn_id: str, project: str) -> dict[str, Any]:
    """Run one trigger per job on this loop; what the issue asks to measure."""
    if kind == "cosmos_remote":
        from cosmos_remote.backends.bigquery.triggers import BigQueryInsertJobTrigger as trigger_class
    else:
        trigger_class = _provider_trigger_class()
    events: dict[str, float] = {}

    async def first_event(trigger: Any) -> None:
        async for event in trigger.run():
            events[event.payload.get("job_id") or trigger.job_id] = time.monotonic()
            return

    kwargs = {"conn_id": conn_id, "project_id": project, "location": "US", "poll_interval": INTERVAL}
    if kind == "cosmos_remote":
        kwargs["poll_error_deadline"] = 1800.0
    tasks = [asyncio.create_task(first_event(trigger_class(job_id=job, **kwargs))) for job in jobs]
    await asyncio.sleep(2 * INTERVAL)  # every trigger started and polling
    polls0, cpu0, wall0 = await asyncio.to_thread(_polls, proxy), time.process_time(), time.monotonic()
    await asyncio.sleep(WINDOW_INTERVALS * INTERVAL)
    polls1, cpu1, wall1 = await asyncio.to_thread(_polls, proxy), time.process_time(), time.monotonic()
    rss = _rss_mb()
    finishing = jobs[: max(1, int(len(jobs) * FINISH_FRACTION))]
    # in four groups, made DONE at four phases of the interval (a poll round may come right after, or long after)
    groups = [finishing[index::4] for index in range(4) if finishing[index::4]]
    released: dict[str, float] = {}
    finish_started = time.monotonic()
    for number, group in enumerate(groups):
        await asyncio.sleep(INTERVAL * (1 + 0.25 * number + 0.1) - (time.monotonic() - finish_started) % INTERVAL)
        await asyncio.to_thread(_proxy, proxy, "/_proxy/config", {"finish": group})
        released.update(dict.fromkeys(group, time.monotonic()))
    deadline = time.monotonic() + EVENT_TIMEOUT
    while not all(job in events for job in finishing) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    polls2 = await asyncio.to_thread(_polls, proxy)
    finish_seconds = time.monotonic() - finish_started
    latencies = [events[job] - released[job] for job in finishing if job in events]
    early = sorted(job for job in events if job not in finishing)
    for task in tasks:
        task.cancel()
    intervals = (wall1 - wall0) / INTERVAL
    return {
        "trigger": kind,
        "jobs": len(jobs),
        "requests_per_interval": round((polls1 - polls0) / intervals, 1),
        "cpu_fraction": round((cpu1 - cpu0) / (wall1 - wall0), 4),
        "rss_mb": round(rss, 1),
        "done_to_event_s": round(max(latencies), 2) if len(latencies) == len(finishing) else None,
        "done_to_event_median_s": round(statistics.median(latencies), 2) if latencies else None,
        "finished": len(finishing),
        "events_of_finished": len(latencies),
        "events_of_running": len(early),
        "requests_per_interval_while_finishing": round((polls2 - polls1) / max(1.0, finish_seconds / INTERVAL), 1),
        "interval_s": INTERVAL,
    }


def _child(argv: list[str]) -> None:
    kind, jobs_file, proxy, conn_id, project, out = argv
    jobs = json.loads(Path(jobs_file).read_text())
    result = asyncio.run(_triggerer(kind, jobs, proxy, conn_id, project))
    Path(out).write_text(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # cancelled provider triggers would try to reach a task instance there is none of


def _insert(gcp: Any, count: int, prefix: str) -> list[str]:
    client = gcp.bigquery_client()

    def insert(index: int) -> str:
        return str(client.query("select 1 as x", job_id=f"{prefix}_{index:05d}", job_retry=None).job_id)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(insert, range(count)))


def _measure(gcp: Any, kind: str, jobs: list[str], work: Path) -> dict[str, Any]:
    jobs_file, out, log = work / f"{kind}.jobs.json", work / f"{kind}.result.json", work / f"{kind}.log"
    jobs_file.write_text(json.dumps(jobs))
    argv = [sys.executable, "-m", "benchmarks.triggerer", "--child", kind, str(jobs_file), gcp.bigquery_endpoint,
            gcp.conn_id, gcp.project, str(out)]  # fmt: skip
    with log.open("w") as output:
        subprocess.run(argv, env={**os.environ, **gcp.env}, stdout=output, stderr=subprocess.STDOUT, timeout=900)
    if not out.exists():
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"the {kind} triggerer with {len(jobs)} jobs wrote no result; its log:\n{tail}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def measure_loops() -> list[dict[str, Any]]:
    from cosmos_remote.testing import local_gcp

    rows: list[dict[str, Any]] = []
    for count in JOBS:
        with tempfile.TemporaryDirectory(prefix="cosmos-remote-triggerer-") as work, local_gcp() as gcp:
            gcp.set_job_latency(1e9)  # RUNNING until finished on purpose
            for kind in ("cosmos_remote", "provider"):
                started = time.monotonic()
                jobs = _insert(gcp, count, f"{kind}_{count}")
                inserted = time.monotonic() - started
                row = _measure(gcp, kind, jobs, Path(work))
                rows.append(row)
                print(
                    f"{kind:13s} N={count:5d}: {row['requests_per_interval']:7.1f} requests/interval, "
                    f"CPU {row['cpu_fraction']:.1%}, RSS {row['rss_mb']:.0f} MB, DONE to event "
                    f"{row['done_to_event_s']} s (median {row['done_to_event_median_s']}); {count} jobs inserted in "
                    f"{inserted:.0f} s",
                    flush=True,
                )
    return rows


def _bound(row: dict[str, Any]) -> int:
    return 2 + math.ceil(row["jobs"] / PAGE_SIZE)


def _targets(rows: list[dict[str, Any]]) -> dict[str, bool]:
    ours = [row for row in rows if row["trigger"] == "cosmos_remote"]
    largest = max(ours, key=lambda row: row["jobs"])
    return {
        "requests_per_interval": all(row["requests_per_interval"] <= _bound(row) for row in ours),
        "requests_while_finishing": all(
            row["requests_per_interval_while_finishing"] <= _bound(row) + row["finished"] for row in ours
        ),
        "cpu_at_largest": largest["cpu_fraction"] <= 0.10,
        "rss_at_largest": largest["rss_mb"] <= 500,
        "done_to_event": all(
            row["done_to_event_s"] is not None and row["done_to_event_s"] <= 1.5 * row["interval_s"] for row in ours
        ),
    }


def _table(rows: list[dict[str, Any]]) -> None:
    print("\n| N | trigger | requests / interval | bound | CPU (one core) | RSS MB | DONE to event s | vs provider |")
    print("|---|---|---|---|---|---|---|---|")
    provider = {row["jobs"]: row for row in rows if row["trigger"] == "provider"}
    for row in rows:
        base = provider.get(row["jobs"])
        ratio = ""
        if row["trigger"] == "cosmos_remote" and base and row["requests_per_interval"]:
            ratio = (
                f"{base['requests_per_interval'] / row['requests_per_interval']:.0f}x fewer requests, "
                f"{base['cpu_fraction'] / max(row['cpu_fraction'], 1e-4):.1f}x less CPU"
            )
        print(
            f"| {row['jobs']} | {row['trigger']} | {row['requests_per_interval']} | {_bound(row)} | "
            f"{row['cpu_fraction']:.1%} | {row['rss_mb']:.0f} | {row['done_to_event_s']} | {ratio} |"
        )


def main() -> None:
    from benchmarks._wide_cluster import cluster_run

    load_before = os.getloadavg()[0]
    rows = measure_loops()
    _table(rows)
    cluster = cluster_run(CLUSTER_MODELS, fault_rate=0.05) if CLUSTER_MODELS else None
    met = _targets(rows)
    if cluster is not None:
        met["cluster_run"] = cluster["succeeded"] and cluster["jobs_submitted"] == cluster["models"]
    print("\ntargets met:", json.dumps(met))
    write_results(
        RESULTS,
        {
            "benchmark": "triggerer",
            "description": __doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else "",
            "target": "requests per interval <= 2 + ceil(N/1000) + finished; at N=3000 <= 10% of one core and "
            "<= 500 MB; DONE to event <= 1.5 x interval; a 300-model cluster run with 5% API faults succeeds, one "
            "job per model",
            "met": all(met.values()),
            "targets": met,
            "rows": rows,
            "cluster_run": cluster,
            "machine": machine_info(load_before=load_before),
        },
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        main()
