"""The relations written earlier in a capture, and how a later read of one of them is answered.

Nothing captured is executed, so the warehouse still holds the state from before the run. When a node later reads a
relation an earlier statement of the capture wrote, the registry answers from what it knows about that write:

* a view (``create view ... as S``) reads as ``S``, evaluated against the registry at the time of the read;
* a table built from a query (``create table ... as S``, ``... COPY src``, ``... LIKE src``, a seed) reads as ``S``
  evaluated against the registry as it was when the table was built;
* after DML (``insert``, ``merge``, ``update``, ``delete``) the content is unknown -- a read fails with
  :class:`CaptureError` -- but the columns are unchanged, so a schema-only read still has an answer;
* after a drop, an ``ALTER ... ADD COLUMN``, or a statement sqlglot cannot analyse, every read fails.

The read is then rewritten with the derived queries inlined as subqueries, and runs for real. States are versioned,
so a table built from a query keeps the meaning it had when it was built.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Final

from sqlglot import exp

from .errors import CaptureError
from .sqlscan import RelKey, fallback_keys, metadata_scope, parse, relation_key, render_key, unwrap_query

__all__ = ["DROPPED", "LITERAL", "MODIFIED", "QUERY", "UNKNOWN", "VIEW", "Registry", "RelationState"]

VIEW: Final = "view"
QUERY: Final = "query"
LITERAL: Final = "literal"
MODIFIED: Final = "modified"
DROPPED: Final = "dropped"
UNKNOWN: Final = "unknown"

_MAX_INLINED_CHARS: Final = 1_000_000
_MAX_DEPTH: Final = 64
_UNINLINABLE_ARGS: Final = ("system_time", "version", "when", "changes", "sample", "pivots", "partition", "joins")
_DML: Final = (exp.Insert, exp.Merge, exp.Update, exp.Delete)
_IGNORED: Final = (exp.Select, exp.SetOperation, exp.Subquery, exp.Declare, exp.Set)


@dataclass(frozen=True)
class RelationState:
    """What a relation holds after a captured write.

    Attributes:
        kind: One of VIEW, QUERY, LITERAL, MODIFIED, DROPPED, UNKNOWN.
        writer: The connection (node unique_id) whose statement wrote it.
        action: The write, for messages (``"merge into"``).
        select: VIEW / QUERY: the defining query.
        literal: LITERAL: a self-contained query with the content (seeds, empty tables).
        schema_literal: LITERAL: a cheaper query with the same columns and no rows, for schema-only reads.
        version: QUERY: the registry version the query reads.
        previous: MODIFIED: the state before the DML (``None``: as in the warehouse).
        schema_changed: MODIFIED: the columns may differ from ``previous``.
    """

    kind: str
    writer: str
    action: str
    select: exp.Expression | None = None
    literal: str | None = None
    schema_literal: str | None = None
    version: int = 0
    previous: RelationState | None = None
    schema_changed: bool = False


class Registry:
    """Versioned states of the relations written so far in one capture (not thread-safe: callers hold a lock)."""

    def __init__(self, default_project: str) -> None:
        self.default_project = default_project
        self.version = 0
        self.created_datasets: set[tuple[str, str]] = set()
        self._history: dict[RelKey, list[tuple[int, RelationState]]] = {}
        self._dropped_datasets: dict[tuple[str, str], tuple[int, str]] = {}

    # -- state -------------------------------------------------------------------------------------------------
    def get(self, key: RelKey, at: int | None = None) -> RelationState | None:
        """The state of ``key`` at version ``at`` (latest when ``None``); ``None`` means as in the warehouse."""
        entries = self._history.get(key, [])
        limit = self.version if at is None else at
        index = bisect.bisect_right([version for version, _ in entries], limit)
        state = entries[index - 1][1] if index else None
        dropped = self._dropped_datasets.get((key[0], key[1]))
        if dropped is not None and dropped[0] <= limit and (not index or entries[index - 1][0] < dropped[0]):
            return RelationState(DROPPED, dropped[1], "drop schema")
        return state

    def set(self, key: RelKey, state: RelationState) -> None:
        """Record a new state of ``key``."""
        self.version += 1
        self._history.setdefault(key, []).append((self.version, state))

    def keys_in(self, project: str, dataset: str) -> list[RelKey]:
        """Every key of ``project.dataset`` written so far."""
        return [key for key in self._history if key[0] == project and key[1] == dataset]

    # -- applying captured statements --------------------------------------------------------------------------
    def apply(self, writer: str, sql: str, statements: list[exp.Expression] | None = None) -> None:
        """Record the effects of a captured (not executed) ``sql`` written under connection ``writer``."""
        parsed = parse(sql) if statements is None else statements
        if parsed is None:
            self._unknown(writer, sql, "a statement sqlglot cannot parse")
            return
        for statement in parsed:
            self._apply_one(writer, statement)

    def _unknown(self, writer: str, sql: str, action: str) -> None:
        for key in fallback_keys(sql, self.default_project):
            self.set(key, RelationState(UNKNOWN, writer, action))

    def _key(self, table: exp.Expression | None) -> RelKey | None:
        while isinstance(table, exp.Schema):
            table = table.this
        return relation_key(table, self.default_project) if isinstance(table, exp.Table) else None

    def _modified(self, writer: str, key: RelKey | None, action: str, *, schema_changed: bool) -> None:
        if key is not None:
            self.set(
                key, RelationState(MODIFIED, writer, action, previous=self.get(key), schema_changed=schema_changed)
            )

    def _apply_one(self, writer: str, statement: exp.Expression) -> None:
        if isinstance(statement, _IGNORED):
            return
        if isinstance(statement, exp.Create):
            self._apply_create(writer, statement)
        elif isinstance(statement, _DML):
            self._modified(writer, self._key(statement.this), f"{statement.key} into", schema_changed=False)
        elif isinstance(statement, exp.TruncateTable):
            for table in statement.expressions:
                self._modified(writer, self._key(table), "truncate table", schema_changed=False)
        elif isinstance(statement, exp.Drop):
            self._apply_drop(writer, statement)
        elif isinstance(statement, exp.Alter):
            self._apply_alter(writer, statement)
        else:
            self._unknown(writer, statement.sql(dialect="bigquery"), "a statement cosmos_remote cannot analyse")

    def _apply_create(self, writer: str, statement: exp.Create) -> None:
        kind = str(statement.args.get("kind") or "").upper()
        target = statement.this
        if kind == "SCHEMA" and isinstance(target, exp.Table):
            parts = [part for part in (target.catalog, target.db, target.name) if part]
            self.created_datasets.add((parts[-2] if len(parts) > 1 else self.default_project, parts[-1]))
            return
        columns = (
            [c for c in target.expressions if isinstance(c, exp.ColumnDef)] if isinstance(target, exp.Schema) else []
        )
        key = self._key(target)
        if key is None:
            return
        action = f"create {'or replace ' if statement.args.get('replace') else ''}{kind.lower()}".strip()
        current = self.get(key)
        if statement.args.get("exists"):
            if current is not None and current.kind != DROPPED:
                return  # IF NOT EXISTS on a relation this capture already made: a no-op
            if current is None:
                self.set(key, RelationState(UNKNOWN, writer, f"{action} if not exists"))
                return
        query = statement.expression
        clone = statement.find(exp.Clone)
        like = statement.find(exp.LikeProperty)
        if kind == "VIEW" and query is not None:
            self.set(key, RelationState(VIEW, writer, action, select=unwrap_query(query)))
        elif kind != "TABLE":
            self.set(key, RelationState(UNKNOWN, writer, action))
        elif query is not None:
            self.set(key, RelationState(QUERY, writer, action, select=unwrap_query(query), version=self.version))
        elif clone is not None:
            select = exp.select("*").from_(clone.this.copy())
            self.set(key, RelationState(QUERY, writer, f"{action} copy", select=select, version=self.version))
        elif like is not None:
            select = exp.select("*").from_(like.this.copy()).limit(0)
            self.set(key, RelationState(QUERY, writer, f"{action} like", select=select, version=self.version))
        elif columns:
            casts = ", ".join(f"CAST(NULL AS {c.args['kind'].sql(dialect='bigquery')}) AS `{c.name}`" for c in columns)
            self.set(key, RelationState(LITERAL, writer, action, literal=f"SELECT {casts} LIMIT 0"))
        else:
            self.set(key, RelationState(UNKNOWN, writer, action))

    def _apply_drop(self, writer: str, statement: exp.Drop) -> None:
        kind = str(statement.args.get("kind") or "").upper()
        target = statement.this
        if kind == "SCHEMA" and isinstance(target, exp.Table):
            parts = [part for part in (target.catalog, target.db, target.name) if part]
            scope = (parts[-2] if len(parts) > 1 else self.default_project, parts[-1])
            self.version += 1
            self._dropped_datasets[scope] = (self.version, writer)
            return
        key = self._key(target)
        if key is not None:
            self.set(key, RelationState(DROPPED, writer, f"drop {kind.lower()}"))

    def _apply_alter(self, writer: str, statement: exp.Alter) -> None:
        key = self._key(statement.this)
        if key is None:
            return
        for action in statement.args.get("actions") or []:
            if isinstance(action, exp.AlterSet):
                continue
            if isinstance(action, exp.AlterRename) and isinstance(action.this, exp.Table):
                new_key = (key[0], key[1], action.this.name)
                old = self.get(key)
                if old is None or old.kind == DROPPED:
                    select = exp.select("*").from_(statement.this.copy())
                    old = RelationState(QUERY, writer, "alter table rename", select=select, version=self.version)
                self.set(new_key, old)
                self.set(key, RelationState(DROPPED, writer, "alter table rename"))
            else:
                self._modified(writer, key, "alter table", schema_changed=True)

    # -- answering reads ---------------------------------------------------------------------------------------
    def resolve(self, statements: list[exp.Expression], reader: str, *, schema_only: bool) -> str | None:
        """``statements`` (reads) with every relation written in this capture inlined; ``None`` if none is.

        Raises:
            CaptureError: A relation read has no known content (or columns, with ``schema_only``).
        """
        texts: list[str] = []
        changed = False
        for statement in statements:
            text, inlined = self._inline(statement, reader, schema_only=schema_only, at=None, depth=0)
            texts.append(text)
            changed = changed or inlined
        return ";\n".join(texts) if changed else None

    def schema_source(self, key: RelKey, reader: str) -> str | None:
        """A query with the columns ``key`` has at this point of the capture; ``None``: ask the warehouse."""
        state = self.get(key)
        return None if state is None else self._state_sql(key, state, reader, schema_only=True, at=None, depth=0)

    def _inline(
        self, node: exp.Expression, reader: str, *, schema_only: bool, at: int | None, depth: int
    ) -> tuple[str, bool]:
        tables = list(node.find_all(exp.Table))
        replacements: dict[int, tuple[str, str]] = {}
        for index, table in enumerate(tables):
            scope = metadata_scope(table, self.default_project)
            if scope is not None:
                self._check_metadata(scope, node, reader, at)
                continue
            key = relation_key(table, self.default_project)
            if key is None:
                continue
            if "*" in key[2]:
                self._check_wildcard(key, reader, at)
                continue
            state = self.get(key, at)
            if state is None:
                continue
            text = self._state_sql(key, state, reader, schema_only=schema_only, at=at, depth=depth + 1)
            if text is None:
                continue
            if any(table.args.get(arg) for arg in _UNINLINABLE_ARGS):
                raise CaptureError(
                    f"{reader} reads {render_key(key)} with time travel, sampling or partition syntax, and that "
                    f"relation was written earlier in this run by {state.writer} ({state.action}); its content "
                    "cannot be derived ahead of time."
                )
            replacements[index] = (text, table.alias_or_name)
        if not replacements:
            return node.sql(dialect="bigquery"), False
        copy = node.copy()
        copied_tables = list(copy.find_all(exp.Table))
        placeholders: dict[str, str] = {}
        for index, (text, alias) in replacements.items():
            placeholder = f"__cosmos_remote_inline_{depth}_{index}__"
            copied_tables[index].replace(exp.Table(this=exp.to_identifier(placeholder)))
            placeholders[placeholder] = f"({text}) AS `{alias}`"
        result = copy.sql(dialect="bigquery")
        for placeholder, text in placeholders.items():
            result = result.replace(placeholder, text)
        if len(result) > _MAX_INLINED_CHARS:
            raise CaptureError(
                f"{reader} reads relations written earlier in this run; answering it needs {len(result):,} characters "
                "of inlined SQL, more than BigQuery accepts. Remove the introspection or exclude the node."
            )
        return result, True

    def _state_sql(
        self, key: RelKey, state: RelationState, reader: str, *, schema_only: bool, at: int | None, depth: int
    ) -> str | None:
        if depth > _MAX_DEPTH:
            raise CaptureError(f"{reader} reads {render_key(key)} through more than {_MAX_DEPTH} nested relations.")
        if state.kind == VIEW and state.select is not None:
            return self._inline(state.select, reader, schema_only=schema_only, at=at, depth=depth)[0]
        if state.kind == QUERY and state.select is not None:
            return self._inline(state.select, reader, schema_only=schema_only, at=state.version, depth=depth)[0]
        if state.kind == LITERAL:
            return (state.schema_literal or state.literal) if schema_only else state.literal
        if state.kind == MODIFIED and schema_only and not state.schema_changed:
            if state.previous is None:
                return None
            return self._state_sql(key, state.previous, reader, schema_only=True, at=at, depth=depth + 1)
        raise CaptureError(self._stale_message(key, state, reader, schema_only=schema_only))

    @staticmethod
    def _stale_message(key: RelKey, state: RelationState, reader: str, *, schema_only: bool) -> str:
        what = "the columns of" if schema_only else "the content of"
        if state.kind == DROPPED:
            why = f"{state.writer} drops it earlier in this run ({state.action})"
        else:
            why = (
                f"{state.writer} changes it earlier in this run ({state.action}) and that statement is only captured, "
                "not executed, so the warehouse still holds the old state and the result cannot be derived"
            )
        return (
            f"{reader} cannot be rendered ahead of time: it introspects {what} {render_key(key)}, but {why}. "
            f"Render {reader} at run time instead (exclude it from this render), or make it independent of that "
            "introspection."
        )

    def _check_metadata(self, scope: tuple[str, str], node: exp.Expression, reader: str, at: int | None) -> None:
        project, dataset = scope
        text = node.sql(dialect="bigquery") if not dataset else ""
        for key in list(self._history):
            state = self.get(key, at)
            if key[0] != project or state is None or (state.kind == MODIFIED and not state.schema_changed):
                continue
            if (dataset and key[1] == dataset) or (not dataset and f"'{key[2]}'" in text):
                raise CaptureError(
                    f"{reader} cannot be rendered ahead of time: it reads INFORMATION_SCHEMA metadata that covers "
                    f"{render_key(key)}, which {state.writer} changes earlier in this run ({state.action}); the "
                    "metadata would describe the state before the run. Exclude the node or drop the introspection."
                )

    def _check_wildcard(self, key: RelKey, reader: str, at: int | None) -> None:
        prefix = key[2].split("*", 1)[0]
        for other in self.keys_in(key[0], key[1]):
            state = self.get(other, at)
            if other[2].startswith(prefix) and state is not None:
                raise CaptureError(self._stale_message(other, state, reader, schema_only=False))
