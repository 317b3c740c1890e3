"""The recorder one capture shares across dbt's threads: statements per node, the registry, errors, seed facts."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from sqlglot import exp

from .errors import CaptureError
from .registry import DROPPED, MODIFIED, VIEW, Registry, RelationState
from .sqlscan import RelKey

__all__ = ["EPILOGUE", "FAILED_STATUSES", "PRELUDE", "RUN_START", "CaptureState", "is_node_name"]

#: run-level statements made before any node that belong to no hook (dbt's schema creation).
PRELUDE: Final = "__prelude__"
#: statements of the project's (and its packages') on-run-start hooks.
RUN_START: Final = "__on_run_start__"
#: statements made after every node (on-run-end hooks).
EPILOGUE: Final = "__epilogue__"

#: dbt node statuses that fail a render.
FAILED_STATUSES: Final = frozenset({"error", "fail", "runtime error"})

_NODE_NAME: Final = re.compile(r"^(model|seed|snapshot|test|function|unit_test|analysis)\.")

Effect = Callable[[Registry], None]


def is_node_name(name: str | None) -> bool:
    """True when a connection name is a node unique_id (dbt names a node's thread connection after it)."""
    return bool(name and _NODE_NAME.match(name))


@dataclass
class CaptureState:
    """Everything captured during one dbt invocation; every method is thread-safe."""

    statements: dict[str, list[str]] = field(default_factory=dict)
    test_queries: dict[str, str] = field(default_factory=dict)
    seeds: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    project_name: str | None = None
    capture_seconds: float = 0.0
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _registry: Registry | None = field(default=None, repr=False)
    _pending: list[tuple[str, str, Effect | None]] = field(default_factory=list, repr=False)
    _schemas: tuple[int, dict[tuple[str, str] | None, list[str]]] = field(default=(0, {}), repr=False)

    def bind(self, *, default_project: str, project_name: str | None) -> None:
        """Set the target project (for unqualified names) once the adapter exists."""
        with self._lock:
            if self._registry is None:
                self._registry = Registry(default_project)
            self.project_name = self.project_name or project_name

    @contextmanager
    def timed(self) -> Iterator[None]:
        """Add the time spent inside the block to :attr:`capture_seconds`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.capture_seconds += time.perf_counter() - started

    def record(self, bucket: str, sql: str, effect: Effect | None = None) -> None:
        """Append a captured statement to ``bucket`` (node id, PRELUDE, RUN_START or EPILOGUE).

        Its effect on the registry is applied lazily, in capture order: ``effect`` when given (translated API
        writes, seeds), else whatever sqlglot reads from ``sql``.
        """
        with self._lock:
            self.statements.setdefault(bucket, []).append(sql)
            self._pending.append((bucket, sql, effect))

    def record_test_query(self, bucket: str, sql: str) -> None:
        """Capture the failure-count query of a data test (it reads only; no registry effect)."""
        with self._lock:
            self.statements.setdefault(bucket, []).append(sql)
            self.test_queries[bucket] = sql

    def fail(self, bucket: str, message: str) -> None:
        """Remember that ``bucket`` cannot be rendered (the adapter then raises a dbt error for it)."""
        with self._lock:
            self.errors.setdefault(bucket, message)

    @property
    def registry(self) -> Registry:
        """The registry with every captured statement applied (callers must hold :meth:`locked`)."""
        if self._registry is None:
            raise CaptureError("internal: capture used before the adapter was registered")
        with self.timed():
            pending, self._pending = self._pending, []
            for bucket, sql, effect in pending:
                if effect is None:
                    self._registry.apply(bucket, sql)
                else:
                    effect(self._registry)
        return self._registry

    @contextmanager
    def locked(self) -> Iterator[Registry]:
        """Hold the lock and give the up-to-date registry."""
        with self._lock:
            yield self.registry

    # -- questions the adapter asks ----------------------------------------------------------------------------
    def resolve(self, reader: str, statements: list[exp.Expression], *, schema_only: bool) -> str | None:
        """A read with relations written in this capture inlined (``None``: run it as it is)."""
        with self.locked() as registry, self.timed():
            return registry.resolve(statements, reader, schema_only=schema_only)

    def schema_source(self, reader: str, key: RelKey) -> str | None:
        """A query with the columns ``key`` has now (``None``: the warehouse's columns are right)."""
        with self.locked() as registry, self.timed():
            return registry.schema_source(key, reader)

    def state(self, key: RelKey) -> RelationState | None:
        """The latest registry state of ``key`` (``None``: untouched by this capture)."""
        with self.locked() as registry:
            return registry.get(key)

    def relation_kind(self, key: RelKey) -> str | None:
        """``"view"``, ``"table"``, ``"dropped"``, or ``None`` when this capture has not written ``key``."""
        state = self.state(key)
        if state is None:
            return None
        if state.kind == DROPPED:
            return "dropped"
        return "view" if state.kind == VIEW else "table"

    def warehouse_metadata_valid(self, key: RelKey) -> bool:
        """True when the warehouse's table metadata of ``key`` is still what it will be after the captured writes."""
        state = self.state(key)
        return state is None or (state.kind == MODIFIED and not state.schema_changed and state.previous is None)

    def schema_statements(self, project: str | None, dataset: str | None) -> list[str]:
        """The captured run-level ``CREATE SCHEMA`` statements that create ``project.dataset`` (what a node writing
        there needs when it runs, or is retried, alone)."""
        from .sqlscan import created_dataset

        with self._lock:
            prelude = self.statements.get(PRELUDE, [])
            if self._schemas[0] != len(prelude):  # parsed once per prelude (complete before dbt starts any node)
                default = self._registry.default_project if self._registry is not None else ""
                by_dataset: dict[tuple[str, str] | None, list[str]] = {}
                for sql in prelude:
                    by_dataset.setdefault(created_dataset(sql, default), []).append(sql)
                self._schemas = (len(prelude), by_dataset)
            return list(self._schemas[1].get((str(project), str(dataset)), []))

    def created_datasets(self) -> set[tuple[str, str]]:
        """Datasets a captured ``CREATE SCHEMA`` makes."""
        with self.locked() as registry:
            return set(registry.created_datasets)

    def keys_in(self, project: str, dataset: str) -> dict[str, str]:
        """``{table: kind}`` of every relation of a dataset this capture wrote (kind as :meth:`relation_kind`)."""
        with self.locked() as registry:
            keys = registry.keys_in(project, dataset)
        return {key[2]: kind for key in keys if (kind := self.relation_kind(key)) is not None}
