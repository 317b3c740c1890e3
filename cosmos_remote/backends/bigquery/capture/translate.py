"""BigQuery SQL for the writes dbt-bigquery makes through the API rather than through SQL.

Each function returns the statements that have the same effect as the API call, so that a node's whole build is one
script: ``drop_relation`` -> ``DROP TABLE|VIEW IF EXISTS``, ``rename_relation`` -> ``ALTER TABLE ... RENAME TO``,
``copy_table`` -> ``CREATE OR REPLACE TABLE ... COPY``, descriptions -> ``ALTER ... SET OPTIONS(description=...)``,
schema changes -> ``ALTER TABLE ... ADD/DROP COLUMN``, seeds (a load job of the CSV) -> ``CREATE OR REPLACE TABLE``
with dbt's column types and ``INSERT INTO ... VALUES`` with every CSV cell cast to its column's type.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .errors import CaptureError
from .sqlscan import RelKey, render_key

__all__ = [
    "SeedSQL",
    "add_drop_columns_statement",
    "column_description_statements",
    "copy_statements",
    "description_statement",
    "drop_schema_statement",
    "drop_statement",
    "rename_statements",
    "seed_sql",
    "string_literal",
]

_CAST_TYPES: Final = frozenset(
    {
        "INT64", "INT", "INTEGER", "SMALLINT", "BIGINT", "TINYINT", "BYTEINT", "FLOAT64", "FLOAT", "NUMERIC",
        "DECIMAL", "BIGNUMERIC", "BIGDECIMAL", "DATE", "DATETIME", "TIME", "TIMESTAMP", "INTERVAL",
    }
)  # fmt: skip
_TRUE: Final = frozenset({"true", "t", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "f", "no", "n", "0"})
_DROP_KEYWORD: Final = {"view": "VIEW", "materialized_view": "MATERIALIZED VIEW", "external": "EXTERNAL TABLE"}
_ESCAPES: Final = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string_literal(value: str) -> str:
    """A BigQuery string literal holding ``value`` exactly."""
    return "'" + "".join(_ESCAPES.get(char, char) for char in value) + "'"


def _ident(name: str) -> str:
    return "`" + name.replace("`", "\\`") + "`"


def drop_statement(key: RelKey, relation_type: str | None) -> str:
    """``DROP ... IF EXISTS`` for ``client.delete_table(not_found_ok=True)`` (which drops tables and views alike)."""
    keyword = _DROP_KEYWORD.get((relation_type or "table").lower(), "TABLE")
    return f"DROP {keyword} IF EXISTS {render_key(key)}"


def rename_statements(source: RelKey, target: RelKey) -> list[str]:
    """``rename_relation`` (a copy job then a delete): a rename inside the dataset, else a copy and a drop."""
    if source[:2] == target[:2]:
        return [f"ALTER TABLE {render_key(source)} RENAME TO {_ident(target[2])}"]
    return [f"CREATE TABLE {render_key(target)} COPY {render_key(source)}", f"DROP TABLE {render_key(source)}"]


def copy_statements(sources: Sequence[RelKey], target: RelKey, materialization: str, *, node: str) -> list[str]:
    """``copy_table``: ``table`` replaces the target (WRITE_TRUNCATE), ``incremental`` appends (WRITE_APPEND)."""
    if not sources:
        raise CaptureError(f"{node}: the copy materialization has no source relation to copy.")
    if materialization == "table":
        if len(sources) > 1:
            raise CaptureError(
                f"{node} cannot be rendered: a copy materialization with several sources "
                f"({', '.join(render_key(s) for s in sources)}) has no single-statement SQL equivalent in BigQuery; "
                "copy one source per model, or use a table model with UNION ALL."
            )
        return [f"CREATE OR REPLACE TABLE {render_key(target)} COPY {render_key(sources[0])}"]
    statements = [f"CREATE TABLE IF NOT EXISTS {render_key(target)} LIKE {render_key(sources[0])}"]
    statements += [f"INSERT INTO {render_key(target)} SELECT * FROM {render_key(source)}" for source in sources]
    return statements


def description_statement(key: RelKey, description: str, *, is_view: bool) -> str:
    """``update_table_description``."""
    kind = "VIEW" if is_view else "TABLE"
    return f"ALTER {kind} {render_key(key)} SET OPTIONS(description={string_literal(description)})"


def column_description_statements(
    key: RelKey, columns: Mapping[str, Mapping[str, Any]], *, is_view: bool, node: str
) -> list[str]:
    """``update_columns`` (persist_docs for columns): one ``ALTER COLUMN ... SET OPTIONS`` per described column."""
    kind = "VIEW" if is_view else "TABLE"
    statements = []
    for name, config in columns.items():
        if config.get("policy_tags"):
            raise CaptureError(
                f"{node} cannot be rendered: column {name!r} has policy_tags, which BigQuery only sets through its "
                "API (no DDL). Apply policy tags outside dbt, or exclude the node."
            )
        if "." in name:
            raise CaptureError(
                f"{node} cannot be rendered: the description of nested column {name!r} can only be set through the "
                "BigQuery API. Document the top-level column instead, or disable persist_docs columns."
            )
        description = config.get("description")
        if description:
            statements.append(
                f"ALTER {kind} {render_key(key)} ALTER COLUMN {_ident(name)} "
                f"SET OPTIONS(description={string_literal(str(description))})"
            )
    return statements


def add_drop_columns_statement(
    key: RelKey, add: Sequence[tuple[str, str]], remove: Sequence[str], *, node: str
) -> list[str]:
    """``alter_table_add_remove_columns`` (on_schema_change, snapshots): drops first, then additions (as dbt)."""
    nested = [name for name, _ in add if "." in name] + [name for name in remove if "." in name]
    if nested:
        raise CaptureError(
            f"{node} cannot be rendered: adding or removing nested STRUCT fields ({', '.join(nested)}) needs the "
            "BigQuery API. Use full_refresh for this change, or exclude the node."
        )
    table = render_key(key)
    statements = []
    if remove:
        statements.append(f"ALTER TABLE {table} " + ", ".join(f"DROP COLUMN {_ident(name)}" for name in remove))
    if add:
        statements.append(f"ALTER TABLE {table} " + ", ".join(f"ADD COLUMN {_ident(n)} {t}" for n, t in add))
    return statements


def drop_schema_statement(project: str, dataset: str) -> str:
    """``drop_schema`` (``client.delete_dataset(delete_contents=True, not_found_ok=True)``)."""
    return f"DROP SCHEMA IF EXISTS {render_key((project, dataset, ''))} CASCADE"


@dataclass(frozen=True)
class SeedSQL:
    """A seed as SQL.

    Attributes:
        statements: ``CREATE OR REPLACE TABLE (typed columns)`` then ``INSERT INTO ... VALUES`` (no INSERT when the
            CSV has no rows).
        content: A self-contained query returning the seed's rows (what later reads of the seed see).
        empty: A query with the seed's columns and no rows (what later schema-only reads see).
        columns: ``(name, BigQuery type)`` per column, in CSV order.
    """

    statements: tuple[str, ...]
    content: str
    empty: str
    columns: tuple[tuple[str, str], ...]


def _base_type(data_type: str) -> str:
    return re.sub(r"\(.*\)$", "", data_type.strip()).strip().upper()


def _cell(value: str, data_type: str, *, node: str, column: str) -> str:
    """``value`` as a BigQuery expression of ``data_type``, the way a CSV load job reads it (empty -> NULL)."""
    if value == "":
        return "NULL"
    base = _base_type(data_type)
    literal = string_literal(value)
    if base == "STRING":
        return literal
    if base in ("BOOL", "BOOLEAN"):
        lowered = value.strip().lower()
        return "TRUE" if lowered in _TRUE else "FALSE" if lowered in _FALSE else f"CAST({literal} AS BOOL)"
    if base == "BYTES":
        return f"FROM_BASE64({literal})"
    if base == "GEOGRAPHY":
        return f"ST_GEOGFROMTEXT({literal})"
    if base == "JSON":
        return f"PARSE_JSON({literal})"
    if base in _CAST_TYPES:
        return f"CAST({literal} AS {data_type})"
    raise CaptureError(
        f"{node} cannot be rendered: seed column {column!r} has type {data_type!r}, which a CSV cell cannot be "
        "converted to in SQL. Use a scalar type in column_types, or exclude the seed."
    )


def seed_sql(
    key: RelKey, columns: Sequence[tuple[str, str]], csv_bytes: bytes, delimiter: str, *, node: str
) -> SeedSQL:
    """The SQL equivalent of dbt-bigquery's seed load job (``skip_leading_rows=1``, WRITE_TRUNCATE, dbt's schema)."""
    text = csv_bytes.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter or ","))
    body = [row for row in rows[1:] if row]
    for number, row in enumerate(body, start=2):
        if len(row) != len(columns):
            raise CaptureError(f"{node}: CSV line {number} has {len(row)} fields, the header has {len(columns)}.")
    table = render_key(key)
    column_defs = ", ".join(f"{_ident(name)} {data_type}" for name, data_type in columns)
    statements = [f"CREATE OR REPLACE TABLE {table} ({column_defs})"]
    casts = ", ".join(f"CAST(NULL AS {data_type}) AS {_ident(name)}" for name, data_type in columns)
    empty = f"SELECT {casts} LIMIT 0"
    if not body:
        return SeedSQL(tuple(statements), empty, empty, tuple(columns))
    values = [
        "(" + ", ".join(_cell(cell, t, node=node, column=n) for cell, (n, t) in zip(row, columns, strict=True)) + ")"
        for row in body
    ]
    names = ", ".join(_ident(name) for name, _ in columns)
    statements.append(f"INSERT INTO {table} ({names}) VALUES\n" + ",\n".join(values))
    struct = ", ".join(f"{_ident(name)} {data_type}" for name, data_type in columns)
    content = f"SELECT * FROM UNNEST(ARRAY<STRUCT<{struct}>>[\n" + ",\n".join("STRUCT" + v for v in values) + "\n])"
    return SeedSQL(tuple(statements), content, empty, tuple(columns))
