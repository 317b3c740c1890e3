"""How long each BigQuery job the local proxy saw stays RUNNING.

Two ways, which add up per job:

* one latency for every job (``--job-latency``, ``{"job_latency": S}``);
* a time per relation (``{"holds": {"orders": 20.0, ...}}``): the first job after that whose query creates or writes a
  relation of that name (``create [or replace] table|view``, ``merge into``, ``insert into``; the last part of the
  name, without backquotes and without dbt's ``__dbt_tmp`` suffix) stays RUNNING that long. Later jobs of the same
  relation do not: a model costs its time once, whether its client sends one script or a temp table then a merge.
  This is the slow warehouse of the head-to-head benchmark, the same for any client.

Every held job is logged (``held``: job id, relation, wall-clock start, seconds), so a client can tell how many ran at
once. :meth:`JobClock.remaining` lets ``jobs.getQueryResults`` wait for the job as BigQuery does (up to ``timeoutMs``,
10 s by default) instead of answering "not complete" at once.
"""

from __future__ import annotations

import re
import time
from typing import Any, Final

__all__ = ["JobClock", "written_relations"]

_PART: Final = r"(?:`[^`]+`|[\w-]+)"
_WRITE: Final = re.compile(
    r"\b(?:create\s+(?:or\s+replace\s+)?(?:temp(?:orary)?\s+)?(?:table|view)(?:\s+if\s+not\s+exists)?"
    rf"|merge\s+(?:into\s+)?|insert\s+(?:into\s+)?)\s*(?P<target>{_PART}(?:\.{_PART})*)",
    re.IGNORECASE,
)
_DBT_TEMP_SUFFIX: Final = "__dbt_tmp"


def written_relations(sql: str) -> list[str]:
    """The relations ``sql`` creates or writes, in order: the last part of each name, unquoted, without dbt's
    ``__dbt_tmp`` suffix.

    Example:
        >>> written_relations("create or replace table `p`.`d`.`orders__dbt_tmp` as select 1; merge into `p.d.orders`")
        ['orders', 'orders']
    """
    names = []
    for match in _WRITE.finditer(sql):
        last = re.findall(_PART, match["target"])[-1].strip("`").split(".")[-1]
        names.append(last.removesuffix(_DBT_TEMP_SUFFIX))
    return names


class JobClock:
    """When each job was first seen and how long it stays RUNNING (see the module docs)."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self._seen: dict[str, float] = {}
        self._own: dict[str, float] = {}
        self._holds: dict[str, float] = {}
        self._held_relations: set[str] = set()
        self.hidden: dict[str, int] = {}
        self.held: list[dict[str, Any]] = []

    @property
    def active(self) -> bool:
        """Whether any job can be young: a latency for all, or a job held for its relation."""
        return self.latency > 0 or bool(self._own)

    def set_holds(self, holds: dict[str, float]) -> None:
        """Hold the next job writing each of these relations for its seconds (replaces earlier holds; each relation
        is held once from now on)."""
        self._holds = {str(name): float(seconds) for name, seconds in holds.items()}
        self._held_relations = set()

    def start(self, job_id: str, sql: str) -> None:
        """A job was accepted: hold it if it is the first to write a relation with a hold."""
        for relation in written_relations(sql):
            if relation in self._holds and relation not in self._held_relations:
                self._held_relations.add(relation)
                seconds = self._holds[relation]
                self._seen.setdefault(job_id, time.monotonic())
                self._own[job_id] = seconds
                self.held.append({"job_id": job_id, "relation": relation, "start": time.time(), "seconds": seconds})
                return

    def finish(self, job_ids: list[str]) -> None:
        """Let these jobs report their real (DONE) state from now on."""
        for job_id in job_ids:
            self._seen[job_id] = float("-inf")

    def _latency_of(self, job_id: str) -> float:
        return self.latency + self._own.get(job_id, 0.0)

    def remaining(self, job_id: str) -> float:
        """Seconds until a job seen before stops being young (0 for one never seen or already old)."""
        started = self._seen.get(job_id)
        if started is None:
            return 0.0
        return max(0.0, started + self._latency_of(job_id) - time.monotonic())

    def seen_young(self, job_id: str) -> bool:
        """Whether a job seen before is still young (a job never seen is not: it was not inserted through here)."""
        return self.remaining(job_id) > 0

    def young(self, job_id: str) -> bool:
        """Whether a job is young, counting this as an answer that hid its completion (first sight starts it)."""
        started = self._seen.setdefault(job_id, time.monotonic())
        young = time.monotonic() - started < self._latency_of(job_id)
        if young:
            self.hidden[job_id] = self.hidden.get(job_id, 0) + 1
        return young
