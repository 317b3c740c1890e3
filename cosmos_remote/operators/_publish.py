"""From a dbt render to the artifacts the setup task publishes."""

from __future__ import annotations

from cosmos_remote.artifacts import NodeArtifact, Relation
from cosmos_remote.dbt.results import RenderedNode, RenderResult

__all__ = ["TEST_QUERY_FILE", "node_artifact", "node_artifacts"]

#: The file of a test node holding only its failure-count query (what the test operator runs).
TEST_QUERY_FILE = "query"


def _files(node: RenderedNode, prelude: str) -> dict[str, str | bytes]:
    script = node.script
    if prelude and node.resource_type != "test":
        # Run-level statements (CREATE SCHEMA IF NOT EXISTS ...) are idempotent: every node carries them, so any
        # node can run, or be retried, alone.
        script = f"{prelude.rstrip().rstrip(';')};\n{script}"
    files: dict[str, str | bytes] = {"script": script}
    if node.compiled_sql:
        files["compiled"] = node.compiled_sql
    if node.seed_csv is not None:
        files["csv"] = node.seed_csv
    if node.test is not None:
        files[TEST_QUERY_FILE] = node.test.query
    return files


def node_artifact(node: RenderedNode, *, prelude_script: str) -> NodeArtifact:
    """The :class:`NodeArtifact` of one rendered node, its files laid out like dbt's ``target/run`` tree."""
    relation = Relation()
    if node.relation is not None:
        relation = Relation(
            database=node.relation.database, schema=node.relation.schema, identifier=node.relation.identifier
        )
    return NodeArtifact(
        node_id=node.unique_id,
        files=_files(node, prelude_script),
        resource_type=node.resource_type,
        package_name=node.package_name,
        resource_path=node.resource_path,
        materialization=node.materialization,
        relation=relation,
    )


def node_artifacts(result: RenderResult) -> list[NodeArtifact]:
    """One :class:`NodeArtifact` per rendered node of ``result``."""
    return [node_artifact(node, prelude_script=result.prelude_script) for node in result.nodes.values()]
