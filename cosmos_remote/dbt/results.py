"""What :func:`cosmos_remote.dbt.render_project` returns: one :class:`RenderedNode` per node dbt would build."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field

from cosmos_remote.dbt.manifest import Relation

__all__ = ["RenderResult", "RenderTimings", "RenderedNode", "SeedColumn", "TestConfig"]


@dataclass(frozen=True)
class TestConfig:
    """How dbt judges a data test's result (``dbt``'s test config), plus the query it runs.

    Attributes:
        severity: ``"error"`` or ``"warn"``.
        warn_if: Condition on the failure count, e.g. ``"!= 0"``.
        error_if: Condition on the failure count, e.g. ``"!= 0"``.
        fail_calc: The failure-count expression, e.g. ``"count(*)"``.
        limit: dbt's ``limit`` config (already inside ``query``).
        store_failures: Whether the script also stores the failing rows (in the node's relation).
        store_failures_as: ``"table"`` / ``"view"`` when ``store_failures``.
        where: dbt's ``where`` config (already inside ``query``).
        test_name: The generic test (``"not_null"``), ``None`` for a singular test.
        column_name: The tested column of a generic test.
        attached_node: The model a generic test belongs to.
        query: The statement dbt runs: ``select <fail_calc> as failures, <fail_calc> <warn_if> as should_warn,
            <fail_calc> <error_if> as should_error from (<test sql>) dbt_internal_test`` (``get_test_sql``). Run it
            and read one row; the test warns when ``should_warn`` and ``severity == "warn"``, fails when
            ``should_error`` and ``severity == "error"`` (else warns when ``should_warn``).
    """

    __test__ = False  # not a pytest class

    severity: str
    warn_if: str
    error_if: str
    fail_calc: str
    limit: int | None
    store_failures: bool
    store_failures_as: str | None
    where: str | None
    test_name: str | None
    column_name: str | None
    attached_node: str | None
    query: str


@dataclass(frozen=True)
class SeedColumn:
    """A seed column and the BigQuery type dbt gives it (``column_types`` config, else inferred from the CSV)."""

    name: str
    type: str


@dataclass(frozen=True)
class RenderedNode:
    """Everything needed to build one node without dbt.

    Attributes:
        unique_id: dbt's id, e.g. ``model.jaffle_shop.orders``.
        resource_type: ``model``, ``seed``, ``snapshot`` or ``test``.
        name: The node name.
        package_name: The dbt package the node belongs to.
        materialization: ``table``, ``view``, ``incremental``, ``seed``, ``snapshot``, ``test``...
        relation: Where the result lives (alias and custom schema applied); ``None`` for tests without
            ``store_failures``.
        depends_on: dbt's ``depends_on.nodes`` (ephemeral models included; they have no artifact of their own).
        original_file_path: The defining file, relative to the project (``models/marts/orders.sql``).
        path: dbt's ``path`` of the node, relative to its resource folder.
        script: One BigQuery multi-statement script that builds the node: every statement dbt would run for it
            (pre-hooks, temporary tables, the main statement, merges, post-hooks, drops), in order, joined with
            ``;``. For a test, ends with the failure-count query (:attr:`TestConfig.query`).
        compiled_sql: The node's compiled SELECT, for humans (``None`` for seeds).
        statements: The statements of ``script`` one by one.
        seed_csv: A seed's CSV file as is (for a load job); ``None`` otherwise.
        seed_columns: A seed's columns and their BigQuery types.
        seed_delimiter: A seed's field delimiter.
        test: A test's config; ``None`` otherwise.
    """

    unique_id: str
    resource_type: str
    name: str
    package_name: str
    materialization: str
    relation: Relation | None
    depends_on: tuple[str, ...]
    original_file_path: str
    path: str
    script: str
    compiled_sql: str | None
    statements: tuple[str, ...]
    seed_csv: bytes | None = None
    seed_columns: tuple[SeedColumn, ...] = ()
    seed_delimiter: str | None = None
    test: TestConfig | None = None

    @property
    def resource_path(self) -> str:
        """Where dbt writes this node under ``target/run/<package_name>/`` (``models/marts/orders.sql``)."""
        base = posixpath.basename(self.original_file_path)
        if posixpath.basename(self.path) == base:
            return self.original_file_path
        if self.path.startswith(base + "/"):  # YAML snapshots: path already starts with the defining file's name
            return posixpath.join(posixpath.dirname(self.original_file_path), self.path)
        return posixpath.join(self.original_file_path, self.path)


@dataclass(frozen=True)
class RenderTimings:
    """Where a render's wall time went, in seconds.

    Attributes:
        total_seconds: The whole :func:`render_project` call.
        dbt_seconds: Inside ``dbtRunner().invoke`` (parse, compile, capture, including metadata reads).
        capture_seconds: The part of ``dbt_seconds`` spent in cosmos_remote's capture code (SQL analysis).
        process_seconds: The dbt subprocess, from start to exit (``dbt_seconds`` plus interpreter start and imports).
        publish_seconds: Filled by the publisher (artifact upload), ``None`` here.
    """

    total_seconds: float
    dbt_seconds: float
    capture_seconds: float
    process_seconds: float
    publish_seconds: float | None = None

    @property
    def other_seconds(self) -> float:
        """Everything but dbt itself: process start, imports, file handling, response conversion."""
        return max(self.total_seconds - self.dbt_seconds, 0.0)


@dataclass(frozen=True)
class RenderResult:
    """A rendered project: every selected node's script, and the run-level statements around them.

    Attributes:
        dbt_version: The dbt-core version that rendered it.
        project_name: The dbt project's name.
        nodes: unique_id -> :class:`RenderedNode`, in the order dbt executed them (dependencies first).
        on_run_start: What dbt runs once before any node: its ``CREATE SCHEMA`` statements, then the statements of
            the project's (and its packages') ``on-run-start`` hooks.
        on_run_end: The statements of the ``on-run-end`` hooks, run once after every node.
        on_run_start_script: ``on_run_start`` as one script (empty string when there is none).
        on_run_end_script: ``on_run_end`` as one script.
        manifest_json: dbt's ``manifest.json`` of this render (``None`` when dbt wrote none).
        timings: Where the time went.
    """

    dbt_version: str
    project_name: str
    nodes: Mapping[str, RenderedNode]
    on_run_start: tuple[str, ...]
    on_run_end: tuple[str, ...]
    on_run_start_script: str
    on_run_end_script: str
    timings: RenderTimings = field(compare=False)
    manifest_json: bytes | None = field(default=None, compare=False, repr=False)
