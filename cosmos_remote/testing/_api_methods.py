"""The BigQuery API methods the local proxy tells apart: what it counts per method and injects faults into."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["API_METHODS", "INSERT_PATH", "JOB_PATH", "QUERY_PATH", "RESULTS_PATH", "api_method"]

JOB_PATH: Final = re.compile(r"/projects/[^/]+/jobs/(?P<job>[^/?]+)$")
RESULTS_PATH: Final = re.compile(r"/projects/[^/]+/queries/(?P<job>[^/?]+)$")
INSERT_PATH: Final = re.compile(r"/projects/[^/]+/jobs$")
QUERY_PATH: Final = re.compile(r"/projects/[^/]+/queries$")
# Metadata: /projects/P/datasets[/D[/tables[/T[/data]]]]
_METADATA_PATH: Final = re.compile(
    r"/projects/[^/]+/datasets(?P<dataset>/[^/?]+)?(?P<tables>/tables(?P<table>/[^/?]+)?)?"
)
_METADATA_VERBS: Final = {"GET": "get", "POST": "insert", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}
#: Every method name :func:`api_method` gives.
API_METHODS: Final = (
    "jobs.get",
    "jobs.insert",
    "jobs.list",
    "jobs.query",
    "jobs.getQueryResults",
    *(f"{resource}.{verb}" for resource in ("datasets", "tables") for verb in ("list", *_METADATA_VERBS.values())),
    "tabledata.list",
    "tabledata.insertAll",
    "other",
)


def api_method(method: str, path: str) -> str:
    """The BigQuery API method of a request (``path`` without its query string): ``jobs.get``, ``jobs.insert``,
    ``jobs.list``, ``jobs.query``, ``jobs.getQueryResults``, a metadata method (``datasets.get``, ``datasets.list``,
    ``datasets.insert``, ``tables.get``, ``tables.list``, ``tabledata.list``, ...) or ``other``."""
    if JOB_PATH.search(path):
        return "jobs.get" if method == "GET" else "other"
    if INSERT_PATH.search(path):
        return {"POST": "jobs.insert", "GET": "jobs.list"}.get(method, "other")
    if QUERY_PATH.search(path) and method == "POST":
        return "jobs.query"
    if RESULTS_PATH.search(path) and method == "GET":
        return "jobs.getQueryResults"
    found = _METADATA_PATH.search(path)
    if found is None or method not in _METADATA_VERBS:
        return "other"
    resource = "tables" if found["tables"] else "datasets"
    single = found["table"] if found["tables"] else found["dataset"]
    if path.endswith("/data"):
        return "tabledata.list" if method == "GET" else "tabledata.insertAll"
    if single is None:
        return f"{resource}.list" if method == "GET" else f"{resource}.insert"
    return f"{resource}.{_METADATA_VERBS[method]}"
