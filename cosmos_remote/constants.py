"""The enums a DAG author passes, with astronomer-cosmos's names and values (``from cosmos.constants import ...``
becomes ``from cosmos_remote.constants import ...``).

Every member Cosmos has exists here, so a Cosmos DAG imports without change. Members without a meaning in
cosmos_remote (e.g. ``ExecutionMode.LOCAL``) are refused where they are used, by the config that receives them,
with a message saying what cosmos_remote does instead; see ``docs/migrating.md``.

Example:
    >>> from cosmos_remote.constants import TestBehavior
    >>> TestBehavior("after_each") is TestBehavior.AFTER_EACH
    True
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "DbtResourceType",
    "ExecutionMode",
    "InvocationMode",
    "LoadMode",
    "SeedRenderingBehavior",
    "SourceRenderingBehavior",
    "TestBehavior",
    "TestIndirectSelection",
]


class ExecutionMode(StrEnum):
    """How dbt nodes run. cosmos_remote implements ``AIRFLOW_ASYNC`` only: one deferrable warehouse job per node."""

    WATCHER = "watcher"
    LOCAL = "local"
    AIRFLOW_ASYNC = "airflow_async"
    DOCKER = "docker"
    KUBERNETES = "kubernetes"
    AWS_EKS = "aws_eks"
    AWS_ECS = "aws_ecs"
    VIRTUALENV = "virtualenv"
    AZURE_CONTAINER_INSTANCE = "azure_container_instance"
    GCP_CLOUD_RUN_JOB = "gcp_cloud_run_job"
    GCP_GKE = "gcp_gke"
    WATCHER_GCP_GKE = "watcher_gcp_gke"
    WATCHER_KUBERNETES = "watcher_kubernetes"


class TestBehavior(StrEnum):
    """Where a model's dbt tests run."""

    __test__ = False  # not a pytest test class

    BUILD = "build"
    """Cosmos runs ``dbt build`` per model; here the same as ``AFTER_EACH`` (the model's job, then its tests)."""
    NONE = "none"
    """No test tasks."""
    AFTER_EACH = "after_each"
    """One test task per tested model, right after it (``stg_orders.test``)."""
    AFTER_ALL = "after_all"
    """All tests at the end, in one task group, after every model."""


class LoadMode(StrEnum):
    """How the dbt graph is read at DAG parse time. cosmos_remote always reads a manifest: the one given with
    ``ProjectConfig(manifest_path=...)``, else one ``dbt parse`` writes (cached by the project's content)."""

    AUTOMATIC = "automatic"
    CUSTOM = "custom"
    DBT_LS = "dbt_ls"
    DBT_LS_FILE = "dbt_ls_file"
    DBT_LS_CACHE = "dbt_ls_cache"
    DBT_MANIFEST = "dbt_manifest"


class InvocationMode(StrEnum):
    """How dbt is called. cosmos_remote always runs dbt in a subprocess of its own (the setup task's render and the
    parse), so the calling process's state stays clean; the setting has no effect."""

    SUBPROCESS = "subprocess"
    DBT_RUNNER = "dbt_runner"


class TestIndirectSelection(StrEnum):
    """dbt's ``--indirect-selection``: which tests a model selection brings along."""

    __test__ = False  # not a pytest test class

    EAGER = "eager"
    CAUTIOUS = "cautious"
    BUILDABLE = "buildable"
    EMPTY = "empty"


class SourceRenderingBehavior(StrEnum):
    """Whether dbt sources get tasks. cosmos_remote renders none (``NONE``)."""

    NONE = "none"
    ALL = "all"
    WITH_TESTS_OR_FRESHNESS = "with_tests_or_freshness"


class SeedRenderingBehavior(StrEnum):
    """Whether and when seeds run. cosmos_remote runs every selected seed in every DAG run (``ALWAYS``)."""

    ALWAYS = "always"
    WHEN_SEED_CHANGES = "when_seed_changes"
    RENDER_ONLY = "render_only"
    NONE = "none"


class DbtResourceType(StrEnum):
    """dbt resource types, as they appear in a node's ``unique_id``."""

    MODEL = "model"
    SNAPSHOT = "snapshot"
    SEED = "seed"
    TEST = "test"
    SOURCE = "source"
    EXPOSURE = "exposure"
