"""What a BigQuery statement reads and writes, from sqlglot's parse tree (BigQuery dialect).

Only fully qualified relations (``dataset.table`` or ``project.dataset.table``) are tracked: dbt renders every
relation that way, and an unqualified name is a CTE or a session temp table.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

__all__ = [
    "TEST_QUERY_COLUMNS",
    "RelKey",
    "collapse_blank_lines",
    "created_dataset",
    "fallback_keys",
    "is_blank",
    "is_read",
    "is_test_query",
    "join_script",
    "metadata_scope",
    "parse",
    "relation_key",
    "render_key",
    "unwrap_query",
]

#: (project, dataset, table); ``table`` is ``""`` for a dataset.
RelKey = tuple[str, str, str]

#: the columns of the query dbt's ``get_test_sql`` wraps around every data test.
TEST_QUERY_COLUMNS: Final = ("failures", "should_warn", "should_error")

_READ_TYPES: Final = (exp.Select, exp.SetOperation, exp.Subquery)
_NO_EFFECT: Final = (exp.Declare, exp.Set)
# `a`.`b`.`c`, `a.b.c`, `a`.`b` -- a conservative net for statements sqlglot cannot parse.
_QUALIFIED: Final = re.compile(r"`([^`]+)`\.`([^`]+)`(?:\.`([^`]+)`)?|`([^`.]+)\.([^`.]+)(?:\.([^`.]+))?`")
_COMMENT_OR_SPACE: Final = re.compile(r"(\s+|--[^\n]*(\n|$)|#[^\n]*(\n|$)|/\*.*?\*/)", re.DOTALL)

_BLANK_RUN: Final = re.compile(r"\n[ \t\r\f\v]*\n(?:[ \t\r\f\v]*\n)+")
_WHITESPACE: Final = re.compile(r"\s+")
_CREATE_SCHEMA: Final = re.compile(r"\s*create\s+schema\b", re.IGNORECASE)

logging.getLogger("sqlglot").setLevel(logging.ERROR)


def parse(sql: str) -> list[exp.Expression] | None:
    """Every statement of ``sql``; ``None`` when sqlglot cannot parse it."""
    try:
        parsed: list[Any] = sqlglot.parse(sql, read="bigquery")
        return [statement for statement in parsed if isinstance(statement, exp.Expression)]
    except (SqlglotError, RecursionError, ValueError):
        return None


def is_read(statements: list[exp.Expression]) -> bool:
    """True when every statement is a query (SELECT, set operation) that writes nothing."""
    return bool(statements) and all(isinstance(statement, _READ_TYPES) for statement in statements)


def is_test_query(statements: list[exp.Expression]) -> bool:
    """True for the one query dbt's ``get_test_sql`` builds: ``select ... as failures, ... as should_warn, ...``."""
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        return False
    names = tuple(projection.alias_or_name.lower() for projection in statements[0].expressions)
    return names == TEST_QUERY_COLUMNS


def unwrap_query(expression: exp.Expression) -> exp.Expression:
    """The query inside any number of parentheses."""
    while isinstance(expression, exp.Subquery) and not expression.alias and expression.this is not None:
        expression = expression.this
    return expression


def relation_key(table: exp.Table, default_project: str) -> RelKey | None:
    """``(project, dataset, table)`` of a qualified table reference, else ``None`` (CTE, temp table, function)."""
    if not table.name or not table.db:
        return None
    return (table.catalog or default_project, table.db, table.name)


def metadata_scope(table: exp.Table, default_project: str) -> tuple[str, str] | None:
    """``(project, dataset)`` an ``INFORMATION_SCHEMA`` / ``__TABLES__`` reference covers (``""``: a region)."""
    parts = [part for part in (table.catalog, table.db, table.name) if part]
    upper = [part.upper() for part in parts]
    if not any("INFORMATION_SCHEMA" in part or part.startswith("__TABLES") for part in upper):
        return None
    if table.db.lower().startswith("region-") or not table.db:
        return (table.catalog or default_project, "")
    return (table.catalog or default_project, table.db)


def fallback_keys(sql: str, default_project: str) -> set[RelKey]:
    """Every backquoted qualified name in ``sql`` (used when sqlglot cannot tell what a statement writes)."""
    keys: set[RelKey] = set()
    for match in _QUALIFIED.finditer(sql):
        groups = match.groups()
        parts = [part for part in (groups[0:3] if groups[0] else groups[3:6]) if part]
        if len(parts) == 3:
            keys.add((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            keys.add((default_project, parts[0], parts[1]))
    return keys


def render_key(key: RelKey) -> str:
    """```project`.`dataset`.`table``` as dbt renders it."""
    return ".".join(f"`{part}`" for part in key if part)


def created_dataset(sql: str, default_project: str) -> tuple[str, str] | None:
    """``(project, dataset)`` a ``CREATE SCHEMA`` statement makes; ``None`` for any other statement."""
    if not _CREATE_SCHEMA.match(sql):
        return None
    statements = parse(sql)
    if not statements or not isinstance(statements[0], exp.Create) or statements[0].args.get("kind") != "SCHEMA":
        return None
    target = statements[0].this
    if not isinstance(target, exp.Table):
        return None
    parts = [part for part in (target.catalog, target.db, target.name) if part]
    return (parts[-2] if len(parts) > 1 else default_project, parts[-1]) if parts else None


def collapse_blank_lines(sql: str) -> str:
    r"""``sql`` with each run of blank lines between tokens made one blank line, for readers of the script.

    Only the whitespace between tokens changes, never a string literal (a triple-quoted string keeps its blank
    lines), so BigQuery runs the same statement. When sqlglot cannot tokenize ``sql``, it is returned as is.

    Example:
        >>> collapse_blank_lines("select 1\n\n\n\nfrom t where s = '''a\n\n\nb'''")
        "select 1\n\nfrom t where s = '''a\n\n\nb'''"
    """
    if not _BLANK_RUN.search(sql):
        return sql
    try:
        tokens = sqlglot.tokenize(sql, read="bigquery")
    except (SqlglotError, RecursionError, ValueError):
        return sql
    parts, position = [], 0
    for token in tokens:
        parts.append(_BLANK_RUN.sub("\n\n", sql[position : token.start]))
        parts.append(sql[token.start : token.end + 1])
        position = token.end + 1
    parts.append(_BLANK_RUN.sub("\n\n", sql[position:]))
    collapsed = "".join(parts)
    # Only whitespace may differ: anything else means the token offsets were not what they seemed.
    return collapsed if _WHITESPACE.sub("", collapsed) == _WHITESPACE.sub("", sql) else sql


def is_blank(sql: str) -> bool:
    """True when ``sql`` holds nothing but whitespace, comments and semicolons."""
    return not _COMMENT_OR_SPACE.sub("", sql).strip(";").strip()


def _clean(statement: str) -> str:
    text = statement.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def _starts_with_declare(statement: str) -> bool:
    return _COMMENT_OR_SPACE.sub(" ", statement).lstrip().lower().startswith("declare ")


def join_script(statements: list[str]) -> str:
    """One BigQuery multi-statement script that runs ``statements`` in order.

    Statements holding only comments are dropped, runs of blank lines between tokens become one blank line
    (:func:`collapse_blank_lines`). Statements are joined with ``;``, on its own line when a statement
    ends in a line comment. A statement that
    starts with ``DECLARE`` (dbt-bigquery's partition scripts) is wrapped in ``BEGIN ... END`` unless it comes first,
    because BigQuery only allows declarations at the start of a script or block.
    """
    parts: list[str] = []
    for index, statement in enumerate(statements):
        text = collapse_blank_lines(_clean(statement))
        if not text or is_blank(text):
            continue
        if index and parts and _starts_with_declare(text):
            text = f"BEGIN\n{text}\n;\nEND"
        last_line = text.rsplit("\n", 1)[-1]
        if "--" in last_line or "#" in last_line:
            text += "\n"
        parts.append(text)
    return ";\n".join(parts) + (";\n" if parts else "")
