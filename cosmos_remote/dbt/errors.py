"""Errors of :func:`cosmos_remote.dbt.render_project`; each says what failed, where, and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["DbtInvocationError", "NodeError", "NodeRenderError", "RenderError", "RenderInputError"]


class RenderError(RuntimeError):
    """Rendering the project failed; nothing was returned.

    Attributes:
        log_path: dbt's output of the failed render (kept on disk for inspection), when there is one.
    """

    def __init__(self, message: str, *, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path


class RenderInputError(RenderError, ValueError):
    """An argument of ``render_project`` is wrong (a missing folder or file, a bad option); fix it and retry."""


class DbtInvocationError(RenderError):
    """dbt failed as a whole, before or outside any node: profile, target, project parse, warehouse connection."""


@dataclass(frozen=True)
class NodeError:
    """Why one node could not be rendered.

    Attributes:
        unique_id: The node, e.g. ``model.jaffle_shop.orders``.
        message: dbt's message (compile or database error), or cosmos_remote's reason the node cannot be rendered
            ahead of time.
        kind: ``"dbt"`` for an error dbt reported (the same error a plain ``dbt build`` would give), ``"capture"``
            when the node is valid dbt but cannot be rendered without running earlier nodes first.
    """

    unique_id: str
    message: str
    kind: Literal["dbt", "capture"]


class NodeRenderError(RenderError):
    """One or more nodes could not be rendered; :attr:`errors` names each with its reason."""

    def __init__(self, errors: tuple[NodeError, ...], *, log_path: Path | None = None) -> None:
        lines = [f"{len(errors)} dbt node(s) could not be rendered:"]
        lines += [f"- {error.unique_id} ({error.kind}): {error.message.strip()}" for error in errors]
        if log_path is not None:
            lines.append(f"dbt's full output: {log_path}")
        super().__init__("\n".join(lines), log_path=log_path)
        self.errors = errors

    @property
    def node_ids(self) -> tuple[str, ...]:
        """The unique_id of every node that failed."""
        return tuple(error.unique_id for error in self.errors)
