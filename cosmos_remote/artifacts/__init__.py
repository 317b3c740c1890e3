"""Per-node SQL of a DAG run, published once by the setup task and fetched by node id by each model task.

Object storage (``remote_target_path``: any fsspec URL) through :class:`FsspecArtifactStore`, or XCom through
:class:`XComArtifactStore` when no remote path is configured; both implement :class:`ArtifactStore`. Only a small
:class:`ArtifactRef` goes to XCom in object-storage mode. Importing this package imports neither gcsfs nor Airflow.

Example:
    >>> from cosmos_remote.artifacts import FsspecArtifactStore, NodeArtifact, RunScope
    >>> store = FsspecArtifactStore(root="memory://doc-package")
    >>> node = NodeArtifact(unique_id="model.jaffle_shop.a", files={"script": "select 1"})
    >>> ref = store.publish(scope=RunScope(dag_id="jaffle", run_id="r1"), project_name="jaffle_shop",
    ...                     dbt_version="1.11.2", nodes=[node])
    >>> store.fetch(ref=ArtifactRef.from_xcom(ref.to_xcom()), unique_id="model.jaffle_shop.a")
    b'select 1'
"""

from __future__ import annotations

from cosmos_remote.artifacts._fs import RetryPolicy
from cosmos_remote.artifacts.base import BaseArtifactStore
from cosmos_remote.artifacts.contract import ArtifactStore, IndexCache, PublishSession
from cosmos_remote.artifacts.factory import artifact_store
from cosmos_remote.artifacts.fsspec_store import FsspecArtifactStore
from cosmos_remote.artifacts.index import FORMAT_VERSION, FileEntry, NodeEntry, Relation, RunIndex
from cosmos_remote.artifacts.layout import (
    DBT_ARTIFACTS,
    INDEX_NAME,
    MANIFEST_FILE,
    PRIMARY_FILE,
    RUN_RESULTS_FILE,
    RunScope,
    safe_segment,
)
from cosmos_remote.artifacts.model import ArtifactRef, NodeArtifact, RunSummary, VerifyProblem, VerifyReport
from cosmos_remote.artifacts.session import StorePublishSession
from cosmos_remote.artifacts.xcom_store import (
    XCOM_VALUE_LIMIT,
    InMemoryXCom,
    TaskInstanceXCom,
    XComArtifactStore,
    XComChannel,
)
from cosmos_remote.errors import (
    ArtifactError,
    ArtifactMissingError,
    ArtifactTooLargeError,
    BackendNotInstalledError,
    ChecksumMismatchError,
    DbtArtifactMissingError,
    IncompleteRunError,
    IndexFormatError,
    NodeNotFoundError,
    PublishError,
    RunClaimedError,
    RunExistsError,
    RunNotFoundError,
)

__all__ = [
    "DBT_ARTIFACTS",
    "FORMAT_VERSION",
    "INDEX_NAME",
    "MANIFEST_FILE",
    "PRIMARY_FILE",
    "RUN_RESULTS_FILE",
    "XCOM_VALUE_LIMIT",
    "ArtifactError",
    "ArtifactMissingError",
    "ArtifactRef",
    "ArtifactStore",
    "ArtifactTooLargeError",
    "BackendNotInstalledError",
    "BaseArtifactStore",
    "ChecksumMismatchError",
    "DbtArtifactMissingError",
    "FileEntry",
    "FsspecArtifactStore",
    "InMemoryXCom",
    "IncompleteRunError",
    "IndexCache",
    "IndexFormatError",
    "NodeArtifact",
    "NodeEntry",
    "NodeNotFoundError",
    "PublishError",
    "PublishSession",
    "Relation",
    "RetryPolicy",
    "RunClaimedError",
    "RunExistsError",
    "RunIndex",
    "RunNotFoundError",
    "RunScope",
    "RunSummary",
    "StorePublishSession",
    "TaskInstanceXCom",
    "VerifyProblem",
    "VerifyReport",
    "XComArtifactStore",
    "XComChannel",
    "artifact_store",
    "safe_segment",
]
