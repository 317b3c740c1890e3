"""How a model task finds its run's artifacts: the setup task's XCom reference is the only source.

The setup task chooses the store once (:func:`~cosmos_remote.artifacts.factory.choose_store`) and returns
:func:`store_reference`: the run's URI and index sha256, which store (``fsspec`` with its root and connection id, or
``xcom``) and why. A node task opens exactly that store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cosmos_remote.artifacts.contract import ArtifactStore
from cosmos_remote.artifacts.factory import StoreChoice, artifact_store
from cosmos_remote.artifacts.model import ArtifactRef
from cosmos_remote.artifacts.xcom_store import TaskInstanceXCom

__all__ = ["ArtifactSource", "store_reference"]


def store_reference(ref: ArtifactRef, choice: StoreChoice) -> dict[str, Any]:
    """The setup task's return value: ``ref`` plus the store it lives in and why that store was chosen."""
    return {
        **ref.to_xcom(),
        "store": choice.kind,
        "root": choice.remote_target_path,
        "conn_id": choice.conn_id,
        "reason": choice.reason,
    }


@dataclass(frozen=True)
class ArtifactSource:
    """Where a DAG's artifacts are: the setup task whose return value is the :func:`store_reference`."""

    setup_task_id: str

    def open(self, ti: Any) -> tuple[ArtifactStore, ArtifactRef]:
        """The store and this run's reference, read from the setup task's XCom."""
        value = ti.xcom_pull(task_ids=self.setup_task_id)
        if not value:
            raise LookupError(
                f"the setup task {self.setup_task_id!r} left no artifact reference in this DAG run; run it (clear it "
                "together with this task) before the model tasks"
            )
        ref = ArtifactRef.from_xcom(value)
        if not isinstance(value, Mapping) or value.get("store") not in ("fsspec", "xcom"):
            raise LookupError(
                f"the setup task {self.setup_task_id!r} returned a reference without its store ({value!r}); it was "
                "made by an older cosmos_remote: clear the setup task together with this task"
            )
        store = artifact_store(
            remote_target_path=value.get("root") if value["store"] == "fsspec" else None,
            conn_id=value.get("conn_id"),
            xcom=TaskInstanceXCom(ti=ti, task_id=self.setup_task_id),
        )
        return store, ref
