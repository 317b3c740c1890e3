"""Where artifacts live: the run prefix and the per-node file paths, with names safe for every fsspec backend.

A run lives under ``{root}/{dag_id}[/{task_group}]/{run_id}/``; inside it::

    index.json                                  the commit marker, written last
    _run.json                                   the publisher's claim, written first (lets `list_runs` see
                                                incomplete runs)
    manifest.json                               dbt's manifest the setup task rendered from (before the index)
    run_results.json                            dbt's run results, written by the DAG run's last task
    {package}/{resource path}                   one file per node and name, mirroring dbt's resource path:
        jaffle_shop/models/staging/stg_orders.sql            name "script": the statement(s) to execute
        jaffle_shop/models/staging/stg_orders.compiled.sql   name "compiled": the compiled SELECT
        jaffle_shop/seeds/raw_customers.csv                  name "csv": a seed's data

Every path segment goes through :func:`safe_segment`: a name made only of ``[A-Za-z0-9._-]`` (not starting with
``.`` or ``-``, not ending with ``.``, not a Windows device name, at most 120 characters) is kept as is, so normal
dbt and Airflow names stay readable; anything else (``:`` and ``+`` in run ids, unicode, spaces, ``#``, ``?``,
``..``, very long names) becomes its ASCII-folded readable part plus ``~`` and 12 hex digits of the name's
sha256. The ``~`` never occurs in a kept name, so the mapping is injective (up to a 48-bit hash collision) and
nothing can climb out of the prefix. Within one run, paths that collide case-insensitively (``Orders`` vs
``orders`` on a case-insensitive local disk) get the node id's hash appended to their stem.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DBT_ARTIFACTS",
    "INDEX_NAME",
    "MANIFEST_FILE",
    "MARKER_NAME",
    "PRIMARY_FILE",
    "RUN_RESULTS_FILE",
    "RunScope",
    "check_dbt_artifact",
    "check_file_name",
    "check_relative_path",
    "plan_paths",
    "safe_relpath",
    "safe_segment",
]

INDEX_NAME: Final = "index.json"
MARKER_NAME: Final = "_run.json"
PRIMARY_FILE: Final = "script"
"""The file every node has: what the consumer executes."""
MANIFEST_FILE: Final = "manifest.json"
RUN_RESULTS_FILE: Final = "run_results.json"
DBT_ARTIFACTS: Final = (MANIFEST_FILE, RUN_RESULTS_FILE)
"""dbt's own artifacts, at the top of the run prefix for tools that read them (not in the index: they are not
node files, and run_results.json is written after the commit)."""


def check_dbt_artifact(name: str) -> None:
    """Refuse a name that is not one of :data:`DBT_ARTIFACTS`."""
    if name not in DBT_ARTIFACTS:
        raise ValueError(f"{name!r} is not one of dbt's artifacts a run keeps: {', '.join(DBT_ARTIFACTS)}")


_SUFFIXES: Final[Mapping[str, str]] = {"script": ".sql", "compiled": ".compiled.sql", "csv": ".csv"}
_FILE_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
_KEEP: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_UNSAFE_RUN: Final = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_SEGMENT: Final = 120
_HASH_HEX: Final = 12
_WINDOWS_DEVICES: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(10)} | {f"LPT{i}" for i in range(10)}
)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]


def check_relative_path(relative: str, *, what: str) -> None:
    """Refuse a path that could leave a run prefix (absolute, ``..``, empty segments, backslashes), e.g. from a
    forged index.

    Example:
        >>> check_relative_path("../x", what="artifact path")
        Traceback (most recent call last):
        ...
        ValueError: artifact path '../x' is not a plain relative path; refusing to leave the run prefix
    """
    segments = relative.split("/")
    if relative.startswith("/") or "\\" in relative or any(s in ("", ".", "..") for s in segments):
        raise ValueError(f"{what} {relative!r} is not a plain relative path; refusing to leave the run prefix")


def safe_segment(name: str) -> str:
    """Map any string to one path segment that is safe on every fsspec backend.

    Args:
        name: A DAG id, task group id, run id, package name or file stem; any string.

    Returns:
        ``name`` itself when it is already safe, otherwise ``{readable}~{12 hex digits}``.

    Example:
        >>> safe_segment("stg_orders")
        'stg_orders'
        >>> safe_segment("manual__2024-01-01T00:00:00+00:00")
        'manual__2024-01-01T00_00_00_00_00~c87eaaa68ce7'
    """
    if (
        len(name) <= _MAX_SEGMENT
        and _KEEP.fullmatch(name)
        and not name.endswith(".")
        and name.split(".", 1)[0].upper() not in _WINDOWS_DEVICES
    ):
        return name
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    readable = _UNSAFE_RUN.sub("_", folded).lstrip(".-").rstrip(".")
    readable = readable[: _MAX_SEGMENT - _HASH_HEX - 1].rstrip(".") or "_"
    return f"{readable}~{_digest(name)}"


def safe_relpath(path: str) -> str:
    """Make a relative path whose every segment is :func:`safe_segment`; empty and ``.`` segments are dropped.

    ``/`` and ``\\`` both separate segments, a leading ``/`` does not make the result absolute, and ``..`` becomes a
    harmless encoded name, so the result always stays below the directory it is joined to.

    Example:
        >>> safe_relpath("/models/../staging/x.sql")
        'models/_~5ec1f7e700f3/staging/x.sql'
    """
    parts = [p for p in re.split(r"[/\\]", path) if p not in ("", ".")]
    return "/".join(safe_segment(p) for p in parts)


@dataclass(frozen=True)
class RunScope:
    """Which DAG run a set of artifacts belongs to; decides the run prefix.

    Attributes:
        dag_id: The DAG id.
        run_id: The DAG run id (``manual__2026-01-01T00:00:00+00:00`` is fine: it is made safe).
        task_group: The task group id when the dbt project renders inside a ``DbtTaskGroup``.

    Example:
        >>> RunScope(dag_id="jaffle", run_id="scheduled__2026-01-01T00:00:00+00:00").relative_prefix
        'jaffle/scheduled__2026-01-01T00_00_00_00_00~8bc450a85082'
    """

    dag_id: str
    run_id: str
    task_group: str | None = None

    def __post_init__(self) -> None:
        for field_name in ("dag_id", "run_id"):
            value = getattr(self, field_name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"RunScope.{field_name} must be a non-empty string, got {value!r}")
        if self.task_group is not None and (not isinstance(self.task_group, str) or not self.task_group):
            raise ValueError(f"RunScope.task_group must be None or a non-empty string, got {self.task_group!r}")

    @property
    def relative_prefix(self) -> str:
        """``{dag_id}[/{task_group}]/{run_id}`` with each segment made safe."""
        parts = [self.dag_id] if self.task_group is None else [self.dag_id, self.task_group]
        return "/".join(safe_segment(p) for p in [*parts, self.run_id])


def _file_suffix(name: str) -> str:
    return _SUFFIXES.get(name, f".{name}")


def check_file_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a valid per-node file name (``script``, ``compiled``, ``csv``...).

    ``json`` is refused: its file would end in ``.json`` like the run's own ``index.json`` / ``_run.json``.
    """
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name) or name == "json":
        raise ValueError(f"artifact file names must match {_FILE_NAME.pattern!r} (e.g. 'script'), got {name!r}")


def _node_paths(*, package: str, resource_path: str, names: Sequence[str], tag: str | None = None) -> dict[str, str]:
    parts = [p for p in re.split(r"[/\\]", resource_path) if p not in ("", ".")] or ["node.sql"]
    *dirs, leaf = parts
    stem = leaf.rsplit(".", 1)[0] if "." in leaf[1:] else leaf
    head = "/".join(safe_segment(p) for p in [package, *dirs])
    safe_stem = safe_segment(stem) if tag is None else f"{safe_segment(stem)}~{tag}"
    return {name: f"{head}/{safe_stem}{_file_suffix(name)}" for name in names}


def plan_paths(nodes: Mapping[str, tuple[str, str, Sequence[str]]]) -> dict[str, dict[str, str]]:
    """Relative paths for every node's files, unique within the run even on case-insensitive filesystems.

    Args:
        nodes: ``unique_id -> (package, resource_path, file names)``.

    Returns:
        ``unique_id -> {file name -> path relative to the run prefix}``.

    Raises:
        ValueError: Two file names of one node map to the same path.
    """
    planned = {
        unique_id: _node_paths(package=package, resource_path=resource_path, names=names)
        for unique_id, (package, resource_path, names) in nodes.items()
    }
    owners: dict[str, set[str]] = defaultdict(set)
    for unique_id, files in planned.items():
        if len({p.casefold() for p in files.values()}) != len(files):
            raise ValueError(f"file names {sorted(files)} of node {unique_id!r} map to the same path")
        for path in files.values():
            owners[path.casefold()].add(unique_id)
    clashing = {unique_id for ids in owners.values() if len(ids) > 1 for unique_id in ids}
    for unique_id in clashing:
        package, resource_path, names = nodes[unique_id]
        planned[unique_id] = _node_paths(
            package=package, resource_path=resource_path, names=names, tag=_digest(unique_id)
        )
    return planned
