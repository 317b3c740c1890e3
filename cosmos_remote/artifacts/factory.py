"""Pick the artifact store for a DAG's configuration: object storage when ``remote_target_path`` is set, else XCom."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cosmos_remote.artifacts.contract import ArtifactStore
from cosmos_remote.artifacts.store import FsspecArtifactStore
from cosmos_remote.artifacts.xcom import XComArtifactStore, XComChannel

__all__ = ["artifact_store"]


def artifact_store(
    *,
    remote_target_path: str | None,
    conn_id: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    xcom: XComChannel | None = None,
) -> ArtifactStore:
    """The store for a configuration; one contract, two implementations.

    Args:
        remote_target_path: An fsspec URL (``gs://bucket/cosmos``); None or ``""`` falls back to XCom.
        conn_id: Airflow connection id for the object store's credentials (None: the backend's defaults).
        storage_options: fsspec options for the object store, e.g. ``{"token": "anon"}``.
        xcom: The XCom channel, required for the fallback (e.g. ``TaskInstanceXCom(ti=ti, task_id="dbt_setup")``).

    Example:
        >>> artifact_store(remote_target_path="gs://bucket/cosmos", conn_id="google_cloud_default")
        FsspecArtifactStore(root='gs://bucket/cosmos', conn_id='google_cloud_default')
    """
    if remote_target_path:
        return FsspecArtifactStore(root=remote_target_path, conn_id=conn_id, storage_options=storage_options)
    if xcom is None:
        raise ValueError(
            "remote_target_path is not set, so artifacts go through XCom: pass xcom= (e.g. "
            "TaskInstanceXCom(ti=context['ti'], task_id=<setup task id>)), or set remote_target_path to an fsspec "
            "URL such as gs://bucket/cosmos."
        )
    return XComArtifactStore(channel=xcom)
