"""OpenLineage of a model, seed or snapshot task: the provider's BigQuery lineage, with the node's relation as output.

The Google provider builds a BigQuery job's lineage from the job (``bigQueryJob`` and ``externalQuery`` run facets,
input and output datasets from the job's, or a script's child jobs', statistics). A node's script is a
multi-statement job whose child jobs may not be listable (and an emulator has none), so the relation the setup task
published for the node (alias and custom schema applied) is always among the outputs, as the dataset
``bigquery`` / ``project.dataset.table`` OpenLineage names BigQuery tables with. Needs
``apache-airflow-providers-openlineage`` (the ``openlineage`` extra); without it Airflow never asks for lineage.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

from cosmos_remote.backends.bigquery.jobs import relation_name

__all__ = ["node_lineage"]


def node_lineage(operator: Any, task_instance: Any) -> Any:
    """The ``OperatorLineage`` of ``operator`` (a finished node task): the provider's, plus the node's relation."""
    from airflow.providers.common.compat.openlineage.facet import Dataset, ExternalQueryRunFacet
    from airflow.providers.openlineage.extractors import OperatorLineage

    try:
        lineage = BigQueryInsertJobOperator.get_openlineage_facets_on_complete(operator, task_instance)  # type: ignore[no-untyped-call]
    except Exception as error:  # lineage must never fail the task
        operator.log.warning("OpenLineage of job %s from BigQuery failed: %s", operator.job_id, error)
        lineage = OperatorLineage()
    name = relation_name(operator.published_relation or operator.node.relation)
    outputs = list(lineage.outputs or [])
    if name and all(getattr(dataset, "name", None) != name for dataset in outputs):
        outputs.append(Dataset(namespace="bigquery", name=name))
    run_facets = dict(lineage.run_facets or {})
    if operator.job_id and "externalQuery" not in run_facets:
        run_facets["externalQuery"] = ExternalQueryRunFacet(externalQueryId=operator.job_id, source="bigquery")
    return OperatorLineage(
        inputs=list(lineage.inputs or []), outputs=outputs, run_facets=run_facets, job_facets=lineage.job_facets
    )
