"""Hand each node's rendering to the parent process the moment dbt finishes the node, not only at the end.

dbt fires a ``NodeFinished`` event (to ``dbtRunner`` callbacks, in the node's thread) once everything the node does
has gone through the capturing adapter. :class:`NodeStream` then describes the node, exactly as the final response
will, and appends it as one JSON line to a file the parent tails; the parent can upload the node's files while dbt
renders the rest. The final response stays the only source of truth: the stream is a head start, and any record it
misses or gets wrong costs an upload at the end, never a wrong artifact.

A callback that raises would make dbt fail the node, so nothing here raises: after a first failure the stream stops
and says why in its last line.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .state import FAILED_STATUSES, CaptureState, is_node_name

__all__ = ["NodeStream"]

_NOT_RENDERED: frozenset[str] = FAILED_STATUSES | {"skipped"}

Describe = Callable[[Any, CaptureState], dict[str, Any]]


class NodeStream:
    """Appends ``{"node": {...}}`` per finished node to ``path`` (JSON lines).

    Args:
        path: The file the parent tails.
        state: The capture recorder.
        manifest: Returns dbt's manifest of this invocation (``None`` until dbt has one); its nodes carry their
            compiled code once dbt compiled them.
        describe: Builds a node's record, the same function the final response uses.
    """

    def __init__(
        self,
        *,
        path: Path,
        state: CaptureState,
        manifest: Callable[[], Any],
        describe: Describe,
    ) -> None:
        self._state = state
        self._manifest = manifest
        self._describe = describe
        self._lock = threading.Lock()
        self._handle = path.open("a", encoding="utf-8")
        self._broken = False

    def on_event(self, message: Any) -> None:
        """A ``dbtRunner`` callback; acts on ``NodeFinished`` only."""
        if self._broken:
            return
        try:
            if message.info.name != "NodeFinished":
                return
            unique_id = str(message.data.node_info.unique_id)
            status = str(message.data.run_result.status)
            if not is_node_name(unique_id) or status in _NOT_RENDERED:
                return
            manifest = self._manifest()
            node = None if manifest is None else manifest.nodes.get(unique_id)
            if node is None or getattr(node, "is_ephemeral_model", False):  # inlined, not in dbt's results
                return
            record = self._describe(node, self._state)
            record["status"] = status
            self._write(record)
        except Exception as error:  # never let the stream fail a node
            self._stop(f"{type(error).__name__}: {error}")

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            if self._broken:
                return
            self._handle.write(json.dumps({"node": record}, default=str) + "\n")
            self._handle.flush()

    def _stop(self, reason: str) -> None:
        with self._lock:
            if self._broken:
                return
            self._broken = True
            try:
                self._handle.write(json.dumps({"stopped": reason}) + "\n")
                self._handle.flush()
            except OSError:
                pass

    def close(self) -> None:
        """Close the file (the parent reads what was flushed)."""
        with self._lock:
            self._handle.close()
            self._broken = True
