"""dbt test semantics for warehouse operators: one query for many tests, then severity like ``dbt test``.

Each test's published script is dbt's failure-count query for it, returning one row with ``failures``,
``should_warn`` and ``should_error`` (dbt computes the last two from the test's ``warn_if`` / ``error_if``). The
operator runs all of a model's tests as one job by stacking those queries with ``UNION ALL``, then decides per test:
``should_error`` with severity ``error`` fails the task; ``should_warn`` (or ``should_error`` under severity
``warn``) logs a warning.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TestOutcome", "TestSpec", "evaluate_tests", "failure_count_query", "split_failure_count_query"]

_SQL_EXCERPT = 2000
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")


@dataclass(frozen=True)
class TestSpec:
    """One dbt test a test task runs."""

    __test__ = False  # not a pytest test class

    unique_id: str
    name: str
    severity: str = "ERROR"


@dataclass
class TestOutcome:
    """Per-test results of one test task."""

    __test__ = False

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return dict(self.results)

    def totals(self) -> str:
        """``3 passed, 1 warned, 0 failed`` (tests without a result row count as failed)."""
        statuses = [result["status"] for result in self.results.values()]
        failed = statuses.count("fail") + (len(self.errors) - statuses.count("fail"))
        return f"{statuses.count('pass')} passed, {statuses.count('warn')} warned, {failed} failed"

    def passes(self, tests: Sequence[TestSpec]) -> list[str]:
        """``PASS not_null_orders_id (model.x...): 0 failing rows`` for each test that passed."""
        return [
            f"PASS {t.name} ({t.unique_id}): {self.results[t.unique_id]['failures']} failing row(s)"
            for t in tests
            if self.results.get(t.unique_id, {}).get("status") == "pass"
        ]


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def failure_count_query(queries: Mapping[str, str]) -> str:
    """One query returning ``test_id, failures, should_warn, should_error`` for every test in ``queries``."""
    parts = [
        f"select {_quote(test_id)} as test_id, failures, should_warn, should_error from (\n{sql.strip().rstrip(';')}\n)"
        for test_id, sql in sorted(queries.items())
    ]
    return "\nunion all\n".join(parts)


def evaluate_tests(
    tests: Sequence[TestSpec], *, rows: Mapping[str, Mapping[str, Any]], sql: Mapping[str, str]
) -> TestOutcome:
    """Apply each test's severity to its row, as ``dbt test`` does."""
    outcome = TestOutcome()
    for test in tests:
        row = rows.get(test.unique_id)
        if row is None:
            outcome.errors.append(f"{test.unique_id}: the failure-count query returned no row for this test")
            continue
        failures = int(row.get("failures") or 0)
        should_error = bool(row.get("should_error"))
        should_warn = bool(row.get("should_warn"))
        severity = test.severity.upper()
        status = "pass"
        if should_error and severity == "ERROR":
            status = "fail"
        elif should_error or should_warn:
            status = "warn"
        outcome.results[test.unique_id] = {"status": status, "failures": failures, "severity": severity}
        # for the log only: the query without its runs of blank lines (what runs is unchanged)
        compiled = textwrap.dedent(_BLANK_LINES.sub("\n", sql.get(test.unique_id, ""))).strip()[:_SQL_EXCERPT]
        message = f"{test.name} ({test.unique_id}): {failures} failing row(s), severity {severity}\n{compiled}"
        if status == "fail":
            outcome.errors.append(f"FAIL {message}")
        elif status == "warn":
            outcome.warnings.append(f"WARN {message}")
    return outcome


def split_failure_count_query(query: str, test_ids: Sequence[str]) -> dict[str, str]:
    """The per-test queries :func:`failure_count_query` stacked into ``query`` (e.g. read back from the job).

    Example:
        >>> queries = {"test.p.a": "select 1 as failures, false as should_warn, false as should_error"}
        >>> split_failure_count_query(failure_count_query(queries), ["test.p.a"]) == queries
        True
    """
    ids = sorted(test_ids)
    heads = [f"select {_quote(i)} as test_id, failures, should_warn, should_error from (\n" for i in ids]
    found: dict[str, str] = {}
    for position, (test_id, head) in enumerate(zip(ids, heads, strict=True)):
        start = query.find(head)
        if start < 0:
            continue
        start += len(head)
        tail = "\n)\nunion all\n" + heads[position + 1] if position + 1 < len(heads) else "\n)"
        end = query.find(tail, start) if position + 1 < len(heads) else query.rfind(tail)
        if end >= start:
            found[test_id] = query[start:end]
    return found
