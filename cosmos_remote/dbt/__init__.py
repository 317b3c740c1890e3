"""dbt for cosmos_remote: render every node's BigQuery script ahead of time (:func:`render_project`).

Importing this package does not import dbt (dbt runs in a subprocess when a render is asked for).

Example:
    >>> from pathlib import Path
    >>> from cosmos_remote.dbt import render_project
    >>> result = render_project(  # doctest: +SKIP
    ...     project_dir=Path("examples/dbt/jaffle_shop"), profiles_dir=Path("examples/dbt")
    ... )
    >>> for node in result.nodes.values():  # doctest: +SKIP
    ...     print(node.unique_id, node.relation, len(node.script))
"""

from __future__ import annotations

from cosmos_remote.dbt.render import render_project
from cosmos_remote.dbt.results import RenderedNode, RenderResult, RenderTimings, SeedColumn, TestConfig
from cosmos_remote.errors import DbtInvocationError, NodeError, NodeRenderError, RenderError, RenderInputError

__all__ = [
    "DbtInvocationError",
    "NodeError",
    "NodeRenderError",
    "RenderError",
    "RenderInputError",
    "RenderResult",
    "RenderTimings",
    "RenderedNode",
    "SeedColumn",
    "TestConfig",
    "render_project",
]
