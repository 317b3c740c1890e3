"""DAG files for the operator tests: a producer task that publishes given scripts, and model/test tasks that consume
them. Written into the session's DAGs folder as real files, because ``dag.test()`` needs a parsed DAG."""

from __future__ import annotations

import json
import textwrap

HEADER = textwrap.dedent(
    """
    from __future__ import annotations

    import json
    from datetime import timedelta

    import pendulum
    from airflow.sdk import DAG, task

    from cosmos_remote.artifacts import NodeArtifact, Relation, RunScope, TaskInstanceXCom, artifact_store
    from cosmos_remote.config import ProfileConfig
    from cosmos_remote.dbt.manifest import DbtNode, Relation as DbtRelation
    from cosmos_remote.artifacts.factory import StoreChoice
    from cosmos_remote.artifacts.reference import ArtifactSource, store_reference
    from cosmos_remote.operators.factory import DbtRunAirflowAsyncFactoryOperator, DbtTestAirflowAsyncFactoryOperator
    from cosmos_remote.operators.dbt_tests import TestSpec

    ROOT = {root!r}
    PROJECT = {project!r}
    DATASET = {dataset!r}
    SCRIPTS = json.loads({scripts!r})
    PROFILE = ProfileConfig(profile_name="p", target_name="dev", conn_id="google_cloud_default", dataset=DATASET,
                            project=PROJECT, location="US")
    ARTIFACTS = ArtifactSource(setup_task_id="publish")


    def node(name, resource_type="model", identifier=None):
        return DbtNode(unique_id=f"{{resource_type}}.proj.{{name}}", resource_type=resource_type, name=name,
                       package_name="proj", original_file_path=f"models/{{name}}.sql", materialized="table",
                       relation=DbtRelation(PROJECT, DATASET, identifier or name), depends_on=(), tags=(),
                       fqn=("proj", name))
    """
)

PUBLISH = textwrap.dedent(
    """
    @task(task_id="publish")
    def publish(**context):
        xcom = TaskInstanceXCom(ti=context["ti"], task_id="publish")  # used when ROOT is None: the XCom fallback
        store = artifact_store(remote_target_path=ROOT, conn_id="google_cloud_default", xcom=xcom)
        # a test's failure-count query is published as its "query" file, as the setup task does
        nodes = []
        for unique_id, sql in SCRIPTS.items():
            files = {{"script": sql, "query": sql}} if unique_id.startswith("test.") else {{"script": sql}}
            nodes.append(NodeArtifact(unique_id=unique_id, files=files))
        # a prefix per task-instance try, as the setup task takes when a run id is reused
        scope = RunScope(dag_id=context["dag"].dag_id, run_id=f"{{context['run_id']}}.{{str(context['ti'].id)[-12:]}}")
        ref = store.publish(scope=scope, nodes=nodes, project_name="proj", dbt_version="1.11")
        return store_reference(ref, StoreChoice(ROOT, "google_cloud_default" if ROOT else None, "test DAG"))
    """
)


def dag_file(*, root: str | None, project: str, dataset: str, scripts: dict[str, str], body: str) -> str:
    """A DAG file: the header, the publishing task, then ``body`` (indented inside ``with DAG(...) as dag:``)."""
    header = HEADER.format(root=root, project=project, dataset=dataset, scripts=json.dumps(scripts))
    return header + PUBLISH.format() + "\n" + textwrap.dedent(body)
