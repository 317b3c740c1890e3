"""The SQL rewrite of local_gcp's BigQuery proxy: BigQuery's NUMERIC is NUMERIC(38, 9), the emulator's is not."""

from __future__ import annotations

import json
import re
from typing import Final

__all__ = ["numeric_as_bigquery", "rewrite_query"]

# String literals, quoted identifiers and comments, which the type rewrite leaves alone.
_NOT_SQL_CODE: Final = re.compile(
    "("
    + "|".join(
        (
            r"'''[\s\S]*?'''",  # triple-quoted strings
            r'"""[\s\S]*?"""',
            r"'(?:\\.|[^'\\])*'",  # quoted strings, with escapes
            r'"(?:\\.|[^"\\])*"',
            r"--[^\n]*",  # comments
            r"#[^\n]*",
            r"/\*[\s\S]*?\*/",
        )
    )
    + ")"
)
_BARE_NUMERIC: Final = re.compile(r"(\bAS\s+|`\s+)(?:NUMERIC|DECIMAL)\b(?!\s*[('\"])", re.IGNORECASE)


def numeric_as_bigquery(sql: str) -> str:
    """``sql`` with each unparameterized NUMERIC type after ``AS`` or a quoted column name made ``NUMERIC(38, 9)``.

    Example:
        >>> numeric_as_bigquery("create table t (`amount` numeric, `n` NUMERIC(10, 2)); select cast('1' as numeric)")
        "create table t (`amount` NUMERIC(38, 9), `n` NUMERIC(10, 2)); select cast('1' as NUMERIC(38, 9))"
    """
    parts = _NOT_SQL_CODE.split(sql)
    for index in range(0, len(parts), 2):  # the even parts are code; the odd ones the literals and comments
        parts[index] = _BARE_NUMERIC.sub(lambda m: f"{m.group(1)}NUMERIC(38, 9)", parts[index])
    return "".join(parts)


def rewrite_query(body: bytes, *, job_insert: bool) -> bytes:
    """The request body with its query text passed through :func:`numeric_as_bigquery`."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body
    if not isinstance(payload, dict):
        return body
    holder = payload
    if job_insert:
        holder = (payload.get("configuration") or {}).get("query") or {}
    query = holder.get("query")
    if not isinstance(query, str) or not re.search(r"numeric|decimal", query, re.IGNORECASE):
        return body
    rewritten = numeric_as_bigquery(query)
    if rewritten == query:
        return body
    holder["query"] = rewritten
    return json.dumps(payload).encode()
