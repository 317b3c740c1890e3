"""The one error type of the capture code; the adapter turns it into a dbt runtime error of the node."""

from __future__ import annotations

__all__ = ["CaptureError"]


class CaptureError(Exception):
    """A node cannot be rendered ahead of time; the message says which relation or feature, and what to do."""
