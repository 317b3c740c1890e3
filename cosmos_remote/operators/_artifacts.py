"""How a model task finds its run's artifacts: the setup task's XCom reference, then the store it names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cosmos_remote.artifacts import ArtifactRef, ArtifactStore, TaskInstanceXCom, artifact_store

__all__ = ["ArtifactSource"]


@dataclass(frozen=True)
class ArtifactSource:
    """Where a DAG's artifacts are: the setup task that published them and the store's settings.

    Attributes:
        setup_task_id: The setup task whose return value is the :class:`ArtifactRef`.
        remote_target_path: The fsspec root, or None for the XCom fallback.
        conn_id: Airflow connection for the object store (None: the backend's default credentials).
    """

    setup_task_id: str
    remote_target_path: str | None = None
    conn_id: str | None = None

    def open(self, ti: Any) -> tuple[ArtifactStore, ArtifactRef]:
        """The store and this run's reference, read from the setup task's XCom."""
        value = ti.xcom_pull(task_ids=self.setup_task_id)
        if not value:
            raise LookupError(
                f"the setup task {self.setup_task_id!r} left no artifact reference in this DAG run; run it (clear it "
                "together with this task) before the model tasks"
            )
        ref = ArtifactRef.from_xcom(value)
        store = artifact_store(
            remote_target_path=self.remote_target_path,
            conn_id=self.conn_id,
            xcom=TaskInstanceXCom(ti=ti, task_id=self.setup_task_id),
        )
        return store, ref
