"""The capturing BigQuery adapter, and the adapter container that registers it for one dbt invocation.

:class:`CaptureAdapterContainer` replaces ``dbt.adapters.factory.FACTORY`` in the capture process only (every dbt
call site reaches the factory through that module attribute). Its ``load_plugin`` registers the ``bigquery`` plugin
with :class:`CapturingBigQueryAdapter`, a subclass of ``BigQueryAdapter`` whose ``ConnectionManager`` is
:class:`CapturingConnectionManager`. No dbt file or class is modified.

* SQL statements: see :mod:`.connections` (reads run for real, writes are captured per node).
* Metadata reads (get relation, columns, table) pass through unless the capture wrote the relation.
* API writes (drop, rename, copy, descriptions, columns, seeds, schemas) become SQL (:mod:`.translate`); the ones
  without SQL equivalent (python models, authorized views, file uploads) fail the node with a clear error. As a last
  guard the BigQuery client of every connection refuses mutating API calls.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from dbt.adapters.base.plugin import AdapterPlugin
from dbt.adapters.bigquery.credentials import BigQueryCredentials
from dbt.adapters.bigquery.impl import BigQueryAdapter
from dbt.adapters.contracts.relation import RelationType
from dbt.adapters.factory import AdapterContainer
from dbt.include import bigquery as bigquery_include
from dbt_common.exceptions import CompilationError, DbtRuntimeError

from . import translate
from .connections import ERROR_PREFIX, CapturingConnectionManager, guard
from .errors import CaptureError
from .registry import Registry, RelationState
from .sqlscan import RelKey
from .state import CaptureState

__all__ = ["CaptureAdapterContainer", "CapturingBigQueryAdapter"]


def _key(relation: Any) -> RelKey:
    return (str(relation.database), str(relation.schema), str(relation.identifier or ""))


class CapturingBigQueryAdapter(BigQueryAdapter):
    """``BigQueryAdapter`` whose writes are captured as SQL; see the module docstring."""

    ConnectionManager = CapturingConnectionManager

    @classmethod
    def get_adapter_run_info(cls, config: Any) -> Any:
        # dbt derives the adapter module from the class name; report as the plain BigQuery adapter.
        return BigQueryAdapter.get_adapter_run_info(config)

    @property
    def capturing(self) -> CapturingConnectionManager:
        """The connection manager, typed as the capturing one it is."""
        return cast(CapturingConnectionManager, self.connections)

    @property
    def capture(self) -> CaptureState:
        """This invocation's recorder."""
        return self.capturing.capture

    def _record(self, sql: str, effect: Callable[[Registry], None] | None = None) -> None:
        self.capture.record(self.capturing.bucket(), sql, effect)

    def _kind(self, relation: Any) -> str | None:
        kind = self.capture.relation_kind(_key(relation))
        if kind is not None:
            return None if kind == "dropped" else kind
        if relation.type is not None:
            return str(relation.type)
        found = self.get_relation(relation.database, relation.schema, relation.identifier)
        return None if found is None or found.type is None else str(found.type)

    @guard
    def pre_model_hook(self, config: Any) -> Any:
        if config.get("materialized") == "incremental" and config.get("incremental_strategy") == "microbatch":
            raise CaptureError(
                f"{self.capturing.bucket()} cannot be rendered: the microbatch strategy runs one job per batch, "
                "possibly concurrently, so it has no single script. Use merge or insert_overwrite, or exclude it."
            )
        return super().pre_model_hook(config)

    # -- metadata reads ----------------------------------------------------------------------------------------
    @guard
    def get_relation(self, database: str, schema: str, identifier: str) -> Any:
        if self._schema_is_cached(database, schema):
            return self._cached_relation(database, schema, identifier)
        kind = self.capture.relation_kind((database, schema, identifier))
        if kind == "dropped":
            return None
        if kind is not None:
            return self.Relation.create(
                database=database,
                schema=schema,
                identifier=identifier,
                quote_policy={"schema": True, "identifier": True},
                type=RelationType.View if kind == "view" else RelationType.Table,
            )
        return super().get_relation(database, schema, identifier)

    def _cached_relation(self, database: str, schema: str, identifier: str) -> Any:
        """What ``BaseAdapter.get_relation`` finds in dbt's relation cache, found by key instead of by a scan.

        dbt lists every cached relation of every schema, then tests each one of the schema, for each lookup: with
        every node's materialization asking for its own relation, a project of N models costs O(N^2) (a quarter of
        the render at 1,000 models). The cache is a dict keyed by the lowercased (database, schema, identifier),
        so the one candidate is a dict lookup; the same ``matches`` test as dbt's then decides, keeping its
        case-sensitive comparison of quoted names. No two cached relations share a key, so dbt's "returned
        multiple results" error cannot arise here either.
        """
        key = tuple(None if part is None else part.lower() for part in (database, schema, identifier))
        with self.cache.lock:
            cached = self.cache.relations.get(key)  # type: ignore[call-overload]
        relation = None if cached is None else cached.inner
        if relation is None or not relation.matches(**self._make_match_kwargs(database, schema, identifier)):
            return None
        return relation

    @guard
    def get_columns_in_relation(self, relation: Any) -> Any:
        source = self.capture.schema_source(self.capturing.bucket(), _key(relation))
        if source is None:
            return super().get_columns_in_relation(relation)
        with self.capturing.approved():
            _, iterator = self.connections.raw_execute(f"SELECT * FROM (\n{source}\n) LIMIT 0")
        return self._get_dbt_columns_from_bq_table(types.SimpleNamespace(schema=iterator.schema))

    @guard
    def list_relations_without_caching(self, schema_relation: Any) -> Any:
        relations = list(super().list_relations_without_caching(schema_relation))
        written = self.capture.keys_in(str(schema_relation.database), str(schema_relation.schema))
        kept = [relation for relation in relations if str(relation.identifier) not in written]
        for identifier, kind in written.items():
            if kind != "dropped":
                relation_type = RelationType.View if kind == "view" else RelationType.Table
                kept.append(
                    self.Relation.create(
                        database=schema_relation.database,
                        schema=schema_relation.schema,
                        identifier=identifier,
                        quote_policy={"schema": True, "identifier": True},
                        type=relation_type,
                    )
                )
        return kept

    def list_schemas(self, database: str) -> Any:
        created = {dataset for project, dataset in self.capture.created_datasets() if project == database.strip("`")}
        return sorted(set(super().list_schemas(database)) | created)

    def check_schema_exists(self, database: str, schema: str) -> Any:
        return (database, schema) in self.capture.created_datasets() or super().check_schema_exists(database, schema)

    # -- API writes, as SQL ------------------------------------------------------------------------------------
    @guard
    def drop_relation(self, relation: Any) -> None:
        if self._schema_is_cached(relation.database, relation.schema):
            self.cache_dropped(relation)
        self._record(translate.drop_statement(_key(relation), self._kind(relation)))

    @guard
    def rename_relation(self, from_relation: Any, to_relation: Any) -> None:
        if "view" in (self._kind(from_relation), to_relation.type):
            raise DbtRuntimeError("Renaming of views is not currently supported in BigQuery")
        self.cache_renamed(from_relation, to_relation)
        for sql in translate.rename_statements(_key(from_relation), _key(to_relation)):
            self._record(sql)

    @guard
    def copy_table(self, source: Any, destination: Any, materialization: str) -> str:
        if materialization not in ("incremental", "table"):
            raise CompilationError(
                'Copy table materialization must be "copy" or "table", but '
                f"config.get('copy_materialization', 'table') was {materialization}"
            )
        sources = [_key(item) for item in (source if isinstance(source, list) else [source])]
        node = self.capturing.bucket()
        for sql in translate.copy_statements(sources, _key(destination), materialization, node=node):
            self._record(sql)
        return f"COPY TABLE with materialization: {materialization}"

    @guard
    def update_columns(self, relation: Any, columns: Any) -> None:
        node = self.capturing.bucket()
        is_view = self._kind(relation) == "view"
        for sql in translate.column_description_statements(_key(relation), columns, is_view=is_view, node=node):
            self._record(sql)

    @guard
    def update_table_description(self, database: str, schema: str, identifier: str, description: str) -> None:
        relation = self.Relation.create(database=database, schema=schema, identifier=identifier)
        is_view = self._kind(relation) == "view"
        self._record(translate.description_statement(_key(relation), description, is_view=is_view))

    @guard
    def alter_table_add_columns(self, relation: Any, columns: Any) -> None:
        self.alter_table_add_remove_columns(relation, columns, None)

    @guard
    def alter_table_add_remove_columns(self, relation: Any, add_columns: Any, remove_columns: Any) -> None:
        add = [(str(column.name), str(column.data_type)) for column in add_columns or []]
        remove = [str(column.name) for column in remove_columns or []]
        node = self.capturing.bucket()
        for sql in translate.add_drop_columns_statement(_key(relation), add, remove, node=node):
            self._record(sql)

    @guard
    def sync_struct_columns(
        self, on_schema_change: str, source_relation: Any, target_relation: Any, schema_changes_dict: Any
    ) -> Any:
        if on_schema_change not in ("append_new_columns", "sync_all_columns"):
            return schema_changes_dict
        columns = list(schema_changes_dict.get("source_columns") or []) + list(
            schema_changes_dict.get("target_columns") or []
        )
        if any(("STRUCT" in str(c.data_type).upper() or "RECORD" in str(c.data_type).upper()) for c in columns):
            raise CaptureError(
                f"{self.capturing.bucket()} cannot be rendered: on_schema_change={on_schema_change!r} with STRUCT "
                "columns updates nested fields through the BigQuery API. Use full_refresh, or exclude the node."
            )
        return schema_changes_dict

    @guard
    def load_dataframe(
        self,
        database: str,
        schema: str,
        table_name: str,
        agate_table: Any,
        column_override: dict[str, str],
        field_delimiter: str,
    ) -> None:
        node = self.capturing.bucket()
        columns = [(field.name, field.field_type) for field in self._agate_to_schema(agate_table, column_override)]
        path = Path(agate_table.original_abspath)
        key = (database, schema, table_name)
        seed = translate.seed_sql(key, columns, path.read_bytes(), field_delimiter, node=node)
        for sql in seed.statements[:-1]:
            self._record(sql)

        def effect(registry: Registry) -> None:
            state = RelationState("literal", node, "seed load", literal=seed.content, schema_literal=seed.empty)
            registry.set(key, state)

        self._record(seed.statements[-1], effect)
        self.capture.seeds[node] = {"path": str(path), "delimiter": field_delimiter, "columns": seed.columns}

    @guard
    def drop_schema(self, relation: Any) -> None:
        self._record(translate.drop_schema_statement(str(relation.database), str(relation.schema)))
        self.cache.drop_schema(relation.database, relation.schema)

    @guard
    def upload_file(self, *args: Any, **kwargs: Any) -> None:
        raise CaptureError(f"{self.capturing.bucket()} cannot be rendered: upload_file (a load job) has no SQL form.")

    @guard
    def grant_access_to(self, *args: Any, **kwargs: Any) -> None:
        raise CaptureError(
            f"{self.capturing.bucket()} cannot be rendered: grant_access_to (authorized views) changes dataset "
            "access through the BigQuery API; there is no SQL statement for it. Grant access outside dbt."
        )

    @guard
    def submit_python_job(self, parsed_model: Any, compiled_code: str) -> Any:
        raise CaptureError(
            f"{self.capturing.bucket()} cannot be rendered: Python models run on Dataproc / BigFrames, not as a "
            "BigQuery SQL job. Exclude Python models from this render."
        )


class CaptureAdapterContainer(AdapterContainer):
    """dbt's adapter factory, with the ``bigquery`` plugin bound to :class:`CapturingBigQueryAdapter`."""

    def __init__(self, capture: CaptureState) -> None:
        super().__init__()
        self.capture = capture

    def load_plugin(self, name: str) -> Any:
        credentials = super().load_plugin(name)
        if name == "bigquery":
            plugin = AdapterPlugin(
                adapter=cast(Any, CapturingBigQueryAdapter),
                credentials=BigQueryCredentials,
                include_path=bigquery_include.PACKAGE_PATH,
            )
            with self.lock:
                self.plugins[name] = plugin
        return credentials

    def register_adapter(self, config: Any, mp_context: Any, *args: Any, **kwargs: Any) -> None:
        if config.credentials.type != "bigquery":
            raise DbtRuntimeError(
                f"{ERROR_PREFIX}the profile's target is of type {config.credentials.type!r}; cosmos_remote renders "
                "BigQuery projects only. Pick a BigQuery target."
            )
        super().register_adapter(config, mp_context, *args, **kwargs)
        adapter = self.adapters[config.credentials.type]
        adapter.connections.capture = self.capture
        self.capture.bind(default_project=str(config.credentials.database), project_name=config.project_name)
