"""Many deferred jobs, one poller: the triggers of one event loop and project learn their jobs' states from a few
``jobs.list`` pages per interval plus one ``jobs.get`` per finished job, on the BigQuery emulator behind local_gcp's
proxy (which pages ``jobs.list``, holds jobs RUNNING and injects real HTTP 429 / 503 / 403 answers)."""

from __future__ import annotations

import asyncio
import gc
import math
import time
import uuid
import weakref
from typing import Any

import pytest

from cosmos_remote.backends.bigquery.poller import LIST_PAGE_SIZE, pollers_of, shared_poller
from cosmos_remote.backends.bigquery.triggers import BigQueryInsertJobTrigger
from cosmos_remote.testing import LocalGCP

INTERVAL = 0.5


def _trigger(gcp: LocalGCP, job_id: str) -> BigQueryInsertJobTrigger:
    return BigQueryInsertJobTrigger(
        conn_id=gcp.conn_id, job_id=job_id, project_id=gcp.project, location="US", poll_interval=INTERVAL,
        poll_error_deadline=600.0,
    )  # fmt: skip


def _running_jobs(gcp: LocalGCP, count: int) -> list[str]:
    gcp.set_job_latency(3600.0)
    client = gcp.bigquery_client()
    prefix = f"shared_{uuid.uuid4().hex[:6]}"
    return [client.query("select 1 as x", job_id=f"{prefix}_{i}", job_retry=None).job_id for i in range(count)]


async def _first_event(trigger: BigQueryInsertJobTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def _requests(gcp: LocalGCP) -> dict[str, int]:
    return dict(gcp.job_log()["requests"])


def _delta(after: dict[str, int], before: dict[str, int], method: str) -> int:
    return after.get(method, 0) - before.get(method, 0)


def test_many_triggers_cost_a_list_page_per_interval_and_a_get_per_finished_job(gcp: LocalGCP) -> None:
    jobs = _running_jobs(gcp, 40)

    async def scenario() -> dict[str, Any]:
        tasks = {job: asyncio.create_task(_first_event(_trigger(gcp, job))) for job in jobs}
        await asyncio.sleep(INTERVAL * 2)  # every trigger registered, the first rounds made
        poller = shared_poller(_trigger(gcp, jobs[0]).poller_key())
        before, rounds_before = _requests(gcp), poller.rounds
        await asyncio.sleep(INTERVAL * 6)
        running, rounds = _requests(gcp), poller.rounds - rounds_before
        gcp.finish_jobs(jobs[:5])
        done = await asyncio.wait_for(asyncio.gather(*(tasks[job] for job in jobs[:5])), INTERVAL * 6)
        finished = _requests(gcp)
        assert all(not tasks[job].done() for job in jobs[5:]), "jobs still RUNNING must not get an event"
        gcp.finish_jobs(jobs[5:])
        rest = await asyncio.wait_for(asyncio.gather(*(tasks[job] for job in jobs[5:])), INTERVAL * 10)
        return {"before": before, "running": running, "rounds": rounds, "finished": finished, "events": done + rest,
                "watching": poller.watching}  # fmt: skip

    result = asyncio.run(scenario())
    assert [event["status"] for event in result["events"]] == ["success"] * 40
    assert {event["job_id"] for event in result["events"]} == set(jobs)
    rounds = result["rounds"]
    assert rounds >= 4
    # while all 40 run: one list page per round, no jobs.get at all
    assert _delta(result["running"], result["before"], "jobs.get") == 0
    lists = _delta(result["running"], result["before"], "jobs.list")
    assert rounds * math.ceil(40 / LIST_PAGE_SIZE) - 1 <= lists <= rounds + 1
    # five jobs finish: one jobs.get each (the bound: 2 + pages + finished, per interval)
    assert _delta(result["finished"], result["running"], "jobs.get") == 5
    assert result["watching"] == 0


def test_one_trigger_alone_polls_its_job_with_jobs_get(gcp: LocalGCP) -> None:
    [job] = _running_jobs(gcp, 1)
    before = _requests(gcp)

    async def scenario() -> dict[str, Any]:
        task = asyncio.create_task(_first_event(_trigger(gcp, job)))
        await asyncio.sleep(INTERVAL * 3)
        gcp.finish_jobs([job])
        return await asyncio.wait_for(task, INTERVAL * 6)

    assert asyncio.run(scenario()) == {"job_id": job, "status": "success", "message": "Job completed"}
    after = _requests(gcp)
    assert _delta(after, before, "jobs.list") == 0
    assert _delta(after, before, "jobs.get") >= 3


def test_a_poller_not_allowed_to_list_gets_each_job_and_says_so_once(
    gcp: LocalGCP, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = _running_jobs(gcp, 6)
    gcp.set_faults(rate=1.0, methods=["jobs.list"], codes=[403])  # permission denied, every time
    before = _requests(gcp)

    async def scenario() -> list[dict[str, Any]]:
        tasks = [asyncio.create_task(_first_event(_trigger(gcp, job))) for job in jobs]
        await asyncio.sleep(INTERVAL * 3)
        gcp.finish_jobs(jobs)
        return await asyncio.wait_for(asyncio.gather(*tasks), INTERVAL * 8)

    with caplog.at_level("WARNING", logger="cosmos_remote.backends.bigquery.poller"):
        events = asyncio.run(scenario())
    gcp.set_faults()
    assert [event["status"] for event in events] == ["success"] * 6
    after = _requests(gcp)
    assert _delta(after, before, "jobs.list") == 1, "one refused list, then never again"
    assert _delta(after, before, "jobs.get") >= 6 * 3
    warnings = [record.getMessage() for record in caplog.records if "jobs.list is not allowed" in record.getMessage()]
    assert len(warnings) == 1
    assert gcp.project in warnings[0]


def test_list_answered_429_and_503_is_retried_and_every_job_still_succeeds(
    gcp: LocalGCP, capfd: pytest.CaptureFixture[str]
) -> None:
    jobs = _running_jobs(gcp, 5)
    gcp.set_faults(first=2, methods=["jobs.list"])

    async def scenario() -> list[dict[str, Any]]:
        tasks = [asyncio.create_task(_first_event(_trigger(gcp, job))) for job in jobs]
        await asyncio.sleep(INTERVAL * 8)
        gcp.finish_jobs(jobs)
        return await asyncio.wait_for(asyncio.gather(*tasks), INTERVAL * 20)

    events = asyncio.run(scenario())
    assert gcp.job_log()["faults"].get("jobs.list", 0) >= 2
    gcp.set_faults()
    assert [event["status"] for event in events] == ["success"] * 5
    retries = [line for line in "".join(capfd.readouterr()).splitlines() if "polling again in" in line]
    assert len(retries) == 2 * 5, "each trigger logs each failed list of its job"
    assert all(any(job in line for line in retries) for job in jobs)


def test_the_pollers_belong_to_their_event_loop_and_stop_with_their_last_job(gcp: LocalGCP) -> None:
    [job] = _running_jobs(gcp, 1)
    gcp.finish_jobs([job])
    seen: dict[str, Any] = {}

    async def first_run() -> None:
        await _first_event(_trigger(gcp, job))
        loop = asyncio.get_running_loop()
        [poller] = pollers_of(loop).values()
        seen["loop"], seen["poller"] = weakref.ref(loop), poller
        await asyncio.sleep(INTERVAL * 2)
        assert poller.watching == 0
        assert pollers_of(loop) == {}, "an idle poller stops and leaves the registry"

    async def second_run() -> None:
        assert pollers_of(asyncio.get_running_loop()) == {}
        await _first_event(_trigger(gcp, job))
        [poller] = pollers_of(asyncio.get_running_loop()).values()
        assert poller is not seen["poller"]

    asyncio.run(first_run())
    asyncio.run(second_run())
    del seen["poller"]
    gc.collect()
    assert seen["loop"]() is None, "the registry does not keep a finished event loop alive"


def test_a_cancelled_trigger_stops_being_polled(gcp: LocalGCP) -> None:
    jobs = _running_jobs(gcp, 3)

    async def scenario() -> int:
        tasks = [asyncio.create_task(_first_event(_trigger(gcp, job))) for job in jobs]
        await asyncio.sleep(INTERVAL * 2)
        tasks[0].cancel()
        await asyncio.sleep(0)
        poller = shared_poller(_trigger(gcp, jobs[0]).poller_key())
        watching = poller.watching
        gcp.finish_jobs(jobs[1:])
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*tasks[1:]), INTERVAL * 8)
        assert time.monotonic() - started < INTERVAL * 4
        return watching

    assert asyncio.run(scenario()) == 2
