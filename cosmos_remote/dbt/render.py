"""``render_project``: every selected node's full warehouse script, rendered by dbt in capture mode."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cosmos_remote.dbt.manifest import Relation
from cosmos_remote.dbt.results import RenderedNode, RenderResult, RenderTimings, SeedColumn, TestConfig
from cosmos_remote.dbt.runner import (
    default_cache_dir,
    output_tail,
    partial_parse_cache,
    python_for,
    restore_partial_parse,
    run_capture_process,
    save_partial_parse,
)
from cosmos_remote.errors import DbtInvocationError, NodeError, NodeRenderError, RenderInputError

__all__ = ["NodeRendered", "render_project"]

log = logging.getLogger("cosmos_remote.dbt")

#: Gets each node as soon as dbt finished rendering it.
NodeRendered = Callable[[RenderedNode], None]


def _folder(value: Path, parameter: str, marker: str, fix: str) -> Path:
    folder = Path(value).expanduser()
    if not (folder / marker).is_file():
        raise RenderInputError(f"{parameter}={str(folder)!r} does not contain a {marker} file. {fix}")
    return folder.resolve()


def _selectors(values: Sequence[str], parameter: str) -> list[str]:
    if isinstance(values, str):
        raise RenderInputError(f"{parameter} must be a sequence of dbt selectors, e.g. [{values!r}], not a string.")
    cleaned = [str(value).strip() for value in values]
    if any(not value for value in cleaned):
        raise RenderInputError(f"{parameter} contains an empty selector: {list(values)!r}.")
    return cleaned


def _dbt_args(
    *,
    project_dir: Path,
    profiles_dir: Path,
    run_dir: Path,
    profile: str | None,
    target: str | None,
    select: list[str],
    exclude: list[str],
    vars_json: str | None,
    full_refresh: bool,
    threads: int | None,
) -> list[str]:
    args = [
        "build",
        "--project-dir", str(project_dir),
        "--profiles-dir", str(profiles_dir),
        "--target-path", str(run_dir / "target"),
        "--log-path", str(run_dir / "logs"),
        # The console output (dbt-output.log, kept on failure) is the record of the render; a second, file logger
        # costs every event a second formatting and secret scrub: ~10% of a 1,000-model render.
        "--log-level-file", "none",
        "--exclude-resource-type", "unit_test",
        "--no-use-colors",
    ]  # fmt: skip
    if profile:
        args += ["--profile", profile]
    if target:
        args += ["--target", target]
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    if vars_json:
        args += ["--vars", vars_json]
    if full_refresh:
        args.append("--full-refresh")
    if threads is not None:
        args += ["--threads", str(threads)]
    return args


def _vars_json(vars: Mapping[str, Any] | None) -> str | None:
    if not vars:
        return None
    try:
        return json.dumps(dict(vars))
    except (TypeError, ValueError) as error:
        raise RenderInputError(f"vars must be JSON-serialisable (they become dbt --vars): {error}") from error


def _node(raw: Mapping[str, Any], project_dir: Path) -> RenderedNode:
    relation = raw.get("relation")
    seed = raw.get("seed")
    test = raw.get("test")
    seed_csv: bytes | None = None
    if seed is not None:
        seed_path = Path(seed["path"])
        seed_csv = (seed_path if seed_path.is_absolute() else project_dir / seed_path).read_bytes()
    return RenderedNode(
        unique_id=raw["unique_id"],
        resource_type=raw["resource_type"],
        name=raw["name"],
        package_name=raw["package_name"],
        materialization=raw["materialization"] or raw["resource_type"],
        relation=Relation(**relation) if relation else None,
        depends_on=tuple(raw["depends_on"]),
        original_file_path=raw["original_file_path"],
        path=raw["path"],
        script=raw["script"],
        compiled_sql=raw.get("compiled_sql"),
        statements=tuple(raw["statements"]),
        seed_csv=seed_csv,
        seed_columns=tuple(SeedColumn(name, type_) for name, type_ in seed["columns"]) if seed else (),
        seed_delimiter=seed["delimiter"] if seed else None,
        test=TestConfig(**{**test, "query": test["query"] or ""}) if test else None,
    )


def _read_if_present(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _raise_for(response: Mapping[str, Any], output_path: Path) -> None:
    errors = tuple(
        NodeError(unique_id=item["unique_id"], message=item["message"], kind=item["kind"])
        for item in response.get("errors") or []
    )
    if errors:
        raise NodeRenderError(errors, log_path=output_path)
    detail = response.get("exception") or "dbt reported a failure without an exception"
    raise DbtInvocationError(
        f"dbt failed before any node could be rendered: {detail}\n--- last lines of dbt's output ---\n"
        f"{output_tail(output_path)}",
        log_path=output_path,
    )


class _StreamedNodes:
    """Turns streamed records into :data:`NodeRendered` calls."""

    def __init__(self, on_node: NodeRendered, project_dir: Path) -> None:
        self._on_node = on_node
        self._project_dir = project_dir

    def __call__(self, record: dict[str, Any]) -> None:
        if "node" in record:
            self._on_node(_node(record["node"], self._project_dir))
        elif "stopped" in record:
            log.warning(
                "dbt stopped handing on rendered nodes early (%s); the rest is published when dbt is done",
                record["stopped"],
            )


def render_project(
    *,
    project_dir: Path,
    profiles_dir: Path,
    profile: str | None = None,
    target: str | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    vars: Mapping[str, Any] | None = None,
    full_refresh: bool = False,
    threads: int | None = None,
    dbt_executable_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    work_dir: Path | None = None,
    cache_dir: Path | None = None,
    timeout: float | None = None,
    keep_work_dir: bool = False,
    on_node: NodeRendered | None = None,
    capture_package: Path,
) -> RenderResult:
    """Render the warehouse script of every node ``dbt build`` would run, without running any of them.

    dbt runs ``build`` once, in a subprocess, with the capturing adapter of ``capture_package`` (the warehouse
    backend's, e.g. BigQuery's): reads (metadata, ``run_query`` results, ``is_incremental()``) go to the warehouse
    for real; every write is recorded per node instead of executed.
    Executing :attr:`RenderResult.on_run_start_script`, then each node's :attr:`RenderedNode.script` in dependency
    order, then :attr:`RenderResult.on_run_end_script`, has the effect of that ``dbt build``. Nothing is written into
    ``project_dir`` (it may be read-only); dbt's target and log folders live in a fresh folder under ``work_dir``,
    removed on success and kept on failure (the error names dbt's output file).

    Args:
        project_dir: The folder holding ``dbt_project.yml`` (installed packages included, ``dbt deps`` done).
        profiles_dir: The folder holding ``profiles.yml`` (a target of the backend's type).
        profile: The profile of ``profiles.yml`` to use; ``None`` for the one ``dbt_project.yml`` names.
        target: The profile target; ``None`` for the profile's default.
        select: dbt ``--select`` arguments, passed through.
        exclude: dbt ``--exclude`` arguments, passed through.
        vars: dbt ``--vars``.
        full_refresh: dbt ``--full-refresh``.
        threads: dbt ``--threads``; ``None`` for the profile's.
        dbt_executable_path: The ``dbt`` of a separate environment; its Python runs the capture. ``None``: this
            Python (which must have dbt-bigquery).
        env: Extra environment variables for dbt (``env_var()`` in profiles and models).
        work_dir: Parent folder of the per-render folder (default: the system temp folder).
        cache_dir: Where dbt's partial-parse file persists between renders (default:
            :func:`~cosmos_remote.dbt.runner.default_cache_dir`), keyed by project path and dbt environment.
        timeout: Seconds before the dbt process is stopped and the render fails; ``None``: no limit.
        keep_work_dir: Keep the per-render folder (dbt's ``dbt-output.log``, ``logs/``, ``target/``) after a
            successful render too, for debugging.
        on_node: Called in this thread with each node as soon as dbt has rendered it, while dbt renders the rest:
            the setup task uploads meanwhile. A head start only: the returned result is the complete truth, and a
            node that later fails still fails the render. An exception from ``on_node`` stops dbt and propagates.
        capture_package: The backend's render-capture package
            (:attr:`~cosmos_remote.backends.contract.WarehouseBackend.capture_package`).

    Returns:
        The rendered nodes (ephemeral models have none: they are inlined where they are used) and run-level
        statements.

    Raises:
        RenderInputError: A folder or file is missing or an argument is invalid.
        DbtInvocationError: dbt failed as a whole (profile, target, parse, warehouse unreachable).
        NodeRenderError: Some nodes failed (compile or database error, or cannot be rendered ahead of time); the
            error lists each node id with dbt's message. Nothing partial is returned.

    Example:
        >>> from pathlib import Path
        >>> from cosmos_remote.dbt import render_project
        >>> from cosmos_remote.backends.bigquery import BACKEND
        >>> result = render_project(  # doctest: +SKIP
        ...     project_dir=Path("examples/dbt/jaffle_shop"), profiles_dir=Path("examples/dbt"), select=["orders+"],
        ...     capture_package=BACKEND.capture_package,
        ... )
        >>> print(result.nodes["model.jaffle_shop.orders"].script)  # doctest: +SKIP
    """
    started = time.perf_counter()
    project = _folder(project_dir, "project_dir", "dbt_project.yml", "Pass the folder of your dbt project.")
    profiles = _folder(profiles_dir, "profiles_dir", "profiles.yml", "Pass the folder that holds profiles.yml.")
    python = python_for(dbt_executable_path)
    selected, excluded = _selectors(select, "select"), _selectors(exclude, "exclude")
    vars_json = _vars_json(vars)
    if threads is not None and threads < 1:
        raise RenderInputError(f"threads must be >= 1 (or None for the profile's), got {threads}.")
    parent = Path(work_dir) if work_dir is not None else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="cosmos-remote-render-", dir=parent))
    succeeded = False
    try:
        args = _dbt_args(
            project_dir=project,
            profiles_dir=profiles,
            run_dir=run_dir,
            profile=profile,
            target=target,
            select=selected,
            exclude=excluded,
            vars_json=vars_json,
            full_refresh=full_refresh,
            threads=threads,
        )
        (run_dir / "target").mkdir()
        cache_file = partial_parse_cache(Path(cache_dir) if cache_dir else default_cache_dir(), project, python)
        restore_partial_parse(cache_file, run_dir / "target")
        process = run_capture_process(
            python=python,
            capture_package=capture_package,
            dbt_args=args,
            env=env,
            run_dir=run_dir,
            timeout=timeout,
            on_record=None if on_node is None else _StreamedNodes(on_node, project),
        )
        response = process.response
        if not response.get("ok"):
            _raise_for(response, process.output_path)
        save_partial_parse(run_dir / "target", cache_file)
        nodes = {raw["unique_id"]: _node(raw, project) for raw in response["nodes"]}
        timings = response.get("timings") or {}
        result = RenderResult(
            dbt_version=str(response["dbt_version"]),
            project_name=str(response.get("project_name") or ""),
            nodes=nodes,
            on_run_start=tuple(response.get("on_run_start") or ()),
            on_run_end=tuple(response.get("on_run_end") or ()),
            on_run_start_script=str(response.get("on_run_start_script") or ""),
            on_run_end_script=str(response.get("on_run_end_script") or ""),
            manifest_json=_read_if_present(run_dir / "target" / "manifest.json"),
            timings=RenderTimings(
                total_seconds=time.perf_counter() - started,
                dbt_seconds=float(timings.get("dbt_seconds", 0.0)),
                capture_seconds=float(timings.get("capture_seconds", 0.0)),
                process_seconds=process.process_seconds,
            ),
        )
        succeeded = True
        return result
    finally:
        if succeeded and not keep_work_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
