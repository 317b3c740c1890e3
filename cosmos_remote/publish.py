"""Render, then commit: the one pipeline from a dbt render to a published run, used by the setup task and by
``cosmos-remote publish``.

:func:`render_and_publish` opens a publish session, lets dbt render (each node is handed to the session the moment
dbt has rendered it, so uploads overlap the render), checks the result, and commits the run, index last. An error
anywhere before the commit aborts the session: nothing stays under the run prefix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from cosmos_remote.artifacts import (
    MANIFEST_FILE,
    PRIMARY_FILE,
    ArtifactRef,
    ArtifactStore,
    NodeArtifact,
    Relation,
    RunScope,
)
from cosmos_remote.dbt.manifest import run_hooks_node
from cosmos_remote.dbt.results import RenderedNode, RenderResult
from cosmos_remote.errors import RenderError

__all__ = [
    "TEST_QUERY_FILE",
    "Published",
    "check_script_sizes",
    "node_artifact",
    "node_artifacts",
    "render_and_publish",
    "run_hooks_artifacts",
]

#: ``render(on_node=...)``: runs dbt, calling ``on_node(node)`` for each node as it is rendered.
Render = Callable[..., RenderResult]
#: A context manager around one stage (``"render"`` or ``"commit"``), e.g. a progress display.
Stage = Callable[[str], AbstractContextManager[object]]

#: The file of a test node holding only its failure-count query (what the test operator runs).
TEST_QUERY_FILE = "query"


def _files(node: RenderedNode) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {"script": node.script}
    if node.compiled_sql:
        files["compiled"] = node.compiled_sql
    if node.seed_csv is not None:
        files["csv"] = node.seed_csv
    if node.test is not None:
        files[TEST_QUERY_FILE] = node.test.query
    return files


def node_artifact(node: RenderedNode) -> NodeArtifact:
    """The :class:`NodeArtifact` of one rendered node, its files laid out like dbt's ``target/run`` tree."""
    relation = Relation()
    if node.relation is not None:
        relation = Relation(
            database=node.relation.database, schema=node.relation.schema, identifier=node.relation.identifier
        )
    return NodeArtifact(
        unique_id=node.unique_id,
        files=_files(node),
        resource_type=node.resource_type,
        package_name=node.package_name,
        resource_path=node.resource_path,
        materialization=node.materialization,
        relation=relation,
    )


def run_hooks_artifacts(result: RenderResult, *, project_name: str) -> list[NodeArtifact]:
    """The run-level scripts: ``on-run-start`` (dbt's schema creation and on-run-start hooks) and ``on-run-end``,
    each one node (:func:`~cosmos_remote.dbt.manifest.run_hooks_node`), published even when empty."""
    scripts = {"on-run-start": result.on_run_start_script, "on-run-end": result.on_run_end_script}
    return [
        NodeArtifact(
            unique_id=run_hooks_node(project_name, phase).unique_id,
            files={PRIMARY_FILE: script},
            resource_type="operation",
            package_name=project_name,
            resource_path=f"hooks/{phase}.sql",
            materialization="operation",
        )
        for phase, script in scripts.items()
    ]


def node_artifacts(result: RenderResult, *, project_name: str = "") -> list[NodeArtifact]:
    """One :class:`NodeArtifact` per rendered node of ``result``, then the run-level scripts."""
    nodes = [node_artifact(node) for node in result.nodes.values()]
    return nodes + run_hooks_artifacts(result, project_name=result.project_name or project_name)


@dataclass(frozen=True)
class Published:
    """What :func:`render_and_publish` did: the reference, dbt's result and the time each stage took."""

    ref: ArtifactRef
    result: RenderResult
    nodes: tuple[NodeArtifact, ...]
    render_seconds: float
    publish_seconds: float
    streamed: int

    @property
    def bytes(self) -> int:
        """Bytes of every published file."""
        return sum(len(data) for node in self.nodes for data in node.encoded().values())


@contextmanager
def _no_stage(_: str) -> Iterator[None]:
    yield


def check_script_sizes(nodes: Sequence[NodeArtifact], *, limit: int) -> None:
    """Refuse scripts over ``limit`` bytes (a warehouse's query-length limit), naming each node and its size."""
    sizes = {node.unique_id: len(node.encoded()[PRIMARY_FILE]) for node in nodes if PRIMARY_FILE in node.files}
    over = sorted(((size, uid) for uid, size in sizes.items() if size > limit), reverse=True)
    if over:
        listed = ", ".join(f"{uid} ({size:,} bytes)" for size, uid in over[:10])
        raise RenderError(
            f"{len(over)} node script(s) are over the warehouse's limit of {limit:,} bytes per job: {listed}. No job "
            "was started. Make the model smaller (move large literals into a seed or a table, split it, or "
            "materialize a big CTE as its own model)."
        )


def render_and_publish(
    *,
    store: ArtifactStore,
    scope: RunScope,
    render: Render,
    check: Callable[[RenderResult], None] | None = None,
    project_name: str | None = None,
    stage: Stage = _no_stage,
    max_script_bytes: int | None = None,
) -> Published:
    """Render with ``render`` while uploading each node, let ``check`` refuse the result, then commit the run.

    Args:
        store: Where the run goes.
        scope: The run's DAG, task group and run id.
        render: Runs dbt (e.g. a ``functools.partial`` of :func:`~cosmos_remote.dbt.render_project`); called with
            ``on_node=``.
        check: Raises when the result cannot be published (nothing is committed then).
        project_name: The project's name when dbt's result has none.
        stage: Wraps the ``"render"`` and the ``"commit"`` stage (a progress display).
        max_script_bytes: The backend's limit on one job's script; a larger one is refused before the commit.

    Raises:
        RunExistsError: The run was already published.
        RenderError: A script is over ``max_script_bytes`` (the message names each such node and its size).
    """
    streamed = 0
    with store.begin_publish(scope=scope) as session:

        def on_node(node: RenderedNode) -> None:
            nonlocal streamed
            session.add(node_artifact(node))
            streamed += 1

        started = time.perf_counter()
        with stage("render"):
            result = render(on_node=on_node)
        render_seconds = time.perf_counter() - started
        if check is not None:
            check(result)
        name = result.project_name or project_name or ""
        nodes = tuple(node_artifacts(result, project_name=name))
        if max_script_bytes is not None:
            check_script_sizes(nodes, limit=max_script_bytes)
        started = time.perf_counter()
        with stage("commit"):
            dbt_files = {MANIFEST_FILE: result.manifest_json} if result.manifest_json is not None else {}
            ref = session.commit(nodes=nodes, project_name=name, dbt_version=result.dbt_version, dbt_files=dbt_files)
        publish_seconds = time.perf_counter() - started
    return Published(
        ref=ref,
        result=result,
        nodes=nodes,
        render_seconds=render_seconds,
        publish_seconds=publish_seconds,
        streamed=streamed,
    )
