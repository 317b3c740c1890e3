"""The capturing connection manager: every SQL statement dbt-bigquery sends goes through it.

* ``execute``: a statement dbt reads results from (``fetch``) that parses as a query runs for real, with relations
  written earlier in the capture inlined (:mod:`.registry`); a data test's failure-count query is captured and
  answered with zero failures; everything else is captured under the thread connection's name (the node's
  unique_id) and answered with an empty result.
* ``raw_execute`` called directly (``get_column_schema_from_query`` and friends) must be a query; it runs with
  relations inlined.
* Table metadata of a relation the capture changed is refused; API writes that have no SQL form raise.
* The BigQuery client of every connection refuses mutating API calls (a last guard).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from dbt.adapters.bigquery.connections import BigQueryAdapterResponse, BigQueryConnectionManager
from dbt.adapters.contracts.connection import ConnectionState
from dbt_common.clients import agate_helper
from dbt_common.events.contextvars import get_node_info
from dbt_common.exceptions import DbtRuntimeError
from google.cloud.exceptions import NotFound

from .errors import CaptureError
from .registry import RelationState
from .sqlscan import TEST_QUERY_COLUMNS, RelKey, is_read, is_test_query, parse, render_key
from .state import EPILOGUE, PRELUDE, RUN_START, CaptureState, is_node_name

__all__ = ["ERROR_PREFIX", "CapturingConnectionManager", "guard"]

#: starts the message of every dbt error the capture raises.
ERROR_PREFIX: Final = "[cosmos_remote capture] "
_F = TypeVar("_F", bound=Callable[..., Any])
_MUTATING_CLIENT_CALLS: Final = frozenset(
    {
        "copy_table", "create_dataset", "create_routine", "create_table", "delete_dataset", "delete_model",
        "delete_routine", "delete_table", "extract_table", "insert_rows", "insert_rows_from_dataframe",
        "insert_rows_json", "load_table_from_dataframe", "load_table_from_file", "load_table_from_json",
        "load_table_from_uri", "set_iam_policy", "update_dataset", "update_model", "update_routine", "update_table",
    }
)  # fmt: skip


def guard(method: _F) -> _F:
    """Turn a :class:`CaptureError` into the dbt runtime error of the node being built."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except CaptureError as error:
            connections = getattr(self, "connections", self)
            connections.capture.fail(connections.bucket(), str(error))
            raise DbtRuntimeError(ERROR_PREFIX + str(error)) from error

    return wrapper  # type: ignore[return-value]


class _ReadOnlyClient:
    """A ``google.cloud.bigquery.Client`` that refuses every call that would change the warehouse."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name in _MUTATING_CLIENT_CALLS:
            raise DbtRuntimeError(
                f"{ERROR_PREFIX}dbt-bigquery called the BigQuery API method {name!r}, which would change the "
                "warehouse while rendering. cosmos_remote has no SQL translation for the feature that calls it; "
                "exclude the node from this render."
            )
        return getattr(self._client, name)


class CapturingConnectionManager(BigQueryConnectionManager):
    """Captures writes under the thread connection's name; lets reads through."""

    capture: CaptureState

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._approved = threading.local()
        # The answer to every captured statement. agate tables are immutable, and building one runs agate's type
        # inference set-up (a date parser's locale tables): ~0.3 ms, 2% of a 1,000-model render when done per statement.
        self._empty_table = agate_helper.empty_table()  # type: ignore[no-untyped-call]

    @classmethod
    def open(cls, connection: Any) -> Any:
        connection = super().open(connection)  # type: ignore[no-untyped-call]
        if connection.handle is not None and not isinstance(connection.handle, _ReadOnlyClient):
            connection.handle = _ReadOnlyClient(connection.handle)
        return connection

    @classmethod
    def close(cls, connection: Any) -> Any:
        """Close ``connection`` if it was opened. dbt-bigquery's ``close`` reads ``connection.handle``, which opens a
        connection that is still lazy (a BigQuery client, its credentials and HTTP session) only to close it: once
        per node, though a captured node never uses it (~7% of a 1,000-model render). A connection in the INIT or
        CLOSED state has nothing open, as dbt's base ``close`` says."""
        if connection.state in (ConnectionState.INIT, ConnectionState.CLOSED):
            connection.state = ConnectionState.CLOSED
            return connection
        return super().close(connection)  # type: ignore[no-untyped-call]

    def bucket(self) -> str:
        """Where a statement made now belongs: the node's unique_id, an on-run-start / on-run-end hook, or the run's
        other statements (schema creation)."""
        name = self.get_thread_connection().name
        if is_node_name(name):
            return str(name)
        unique_id = str((get_node_info() or {}).get("unique_id") or "")
        if "on-run-end" in unique_id:
            return EPILOGUE
        return RUN_START if "on-run-start" in unique_id else PRELUDE

    @contextmanager
    def approved(self) -> Iterator[None]:
        """Let the next ``raw_execute`` of this thread through unchecked (the caller has checked the statement)."""
        self._approved.next = True
        try:
            yield
        finally:
            self._approved.next = False

    def _take_approval(self) -> bool:
        approved = bool(getattr(self._approved, "next", False))
        self._approved.next = False
        return approved

    @guard
    def execute(self, sql: str, auto_begin: bool = False, fetch: Any = None, limit: int | None = None) -> Any:
        bucket = self.bucket()
        if fetch:
            with self.capture.timed():
                statements = parse(sql)
            if statements is not None and bucket.startswith("test.") and is_test_query(statements):
                self.capture.record_test_query(bucket, sql)
                row = dict(zip(TEST_QUERY_COLUMNS, (0, False, False), strict=True))
                table = agate_helper.table_from_data_flat([row], TEST_QUERY_COLUMNS)
                return BigQueryAdapterResponse(_message="CAPTURED", code="SELECT", rows_affected=1), table
            if statements is None:
                raise CaptureError(
                    f"{bucket} cannot be rendered ahead of time: dbt reads the result of a statement sqlglot cannot "
                    f"parse, so cosmos_remote cannot tell whether it only reads:\n{sql.strip()[:2000]}"
                )
            if is_read(statements):
                text = self.capture.resolve(bucket, statements, schema_only=False)
                with self.approved():
                    return super().execute(text or sql, auto_begin=auto_begin, fetch=fetch, limit=limit)
        self.capture.record(bucket, sql)
        return BigQueryAdapterResponse(_message="CAPTURED", code="CAPTURED"), self._empty_table

    @guard
    def raw_execute(
        self, sql: str, use_legacy_sql: bool = False, limit: int | None = None, dry_run: bool = False
    ) -> Any:
        if not self._take_approval():
            bucket = self.bucket()
            with self.capture.timed():
                statements = parse(sql)
            if statements is None or not is_read(statements):
                raise CaptureError(
                    f"{bucket} cannot be rendered ahead of time: dbt-bigquery sent a statement outside of execute() "
                    f"that cosmos_remote cannot prove to be read-only:\n{sql.strip()[:2000]}"
                )
            sql = self.capture.resolve(bucket, statements, schema_only=True) or sql
        return super().raw_execute(sql, use_legacy_sql=use_legacy_sql, limit=limit, dry_run=dry_run)

    @guard
    def get_bq_table(self, database: str, schema: str, identifier: str) -> Any:
        key = (database, schema, identifier)
        if not self.capture.warehouse_metadata_valid(key):
            if self.capture.relation_kind(key) == "dropped":
                raise NotFound(f"{render_key(key)} is dropped earlier in this run")  # type: ignore[no-untyped-call]
            state = self.capture.state(key)
            raise CaptureError(_metadata_message(self.bucket(), key, state))
        return super().get_bq_table(database, schema, identifier)

    @guard
    def get_partitions_metadata(self, table: Any) -> Any:
        key = (str(table.project), str(table.dataset), str(table.identifier))
        if not self.capture.warehouse_metadata_valid(key):
            raise CaptureError(_metadata_message(self.bucket(), key, self.capture.state(key)))
        with self.approved():
            return super().get_partitions_metadata(table)  # type: ignore[no-untyped-call]

    def _api_write(self, feature: str) -> Any:
        raise CaptureError(f"{self.bucket()} cannot be rendered: {feature} has no SQL equivalent in cosmos_remote.")

    @guard
    def create_dataset(self, database: str, schema: str) -> Any:
        return self._api_write("creating a dataset through the API")

    @guard
    def drop_dataset(self, database: str, schema: str) -> Any:
        return self._api_write("dropping a dataset through the API")

    @guard
    def copy_bq_table(self, source: Any, destination: Any, write_disposition: Any) -> Any:
        return self._api_write("a copy job")

    @guard
    def write_dataframe_to_table(self, *args: Any, **kwargs: Any) -> Any:
        return self._api_write("a load job")

    @guard
    def write_file_to_table(self, *args: Any, **kwargs: Any) -> Any:
        return self._api_write("a file upload (load job)")


def _metadata_message(reader: str, key: RelKey, state: RelationState | None) -> str:
    writer = f"{state.writer} ({state.action})" if state is not None else "an earlier statement"
    return (
        f"{reader} cannot be rendered ahead of time: it needs the BigQuery table metadata (partitioning, clustering, "
        f"options) of {render_key(key)}, which {writer} changes earlier in this run; the warehouse still holds the "
        f"old table. Render {reader} at run time instead (exclude it from this render)."
    )
