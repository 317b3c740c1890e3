"""The errors cosmos_remote raises for bad configuration; each subclasses the built-in type a caller would catch.

Example:
    >>> issubclass(ConfigError, ValueError)
    True
"""

from __future__ import annotations

__all__ = ["ConfigError", "CosmosRemoteError"]


class CosmosRemoteError(Exception):
    """Base of cosmos_remote's own errors."""


class ConfigError(CosmosRemoteError, ValueError):
    """A configuration value is invalid; the message names the field and the fix."""
