"""Errors raised by the artifact stores.

Every error is an :class:`ArtifactError` *and* the built-in type a caller would naturally catch, so both
``except ArtifactError`` and ``except FileNotFoundError`` / ``KeyError`` / ``ValueError`` work. Each message says
what failed, where (run URI, node id, object path) and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "ArtifactMissingError",
    "ArtifactTooLargeError",
    "BackendNotInstalledError",
    "ChecksumMismatchError",
    "IncompleteRunError",
    "IndexFormatError",
    "NodeNotFoundError",
    "PublishError",
    "RunExistsError",
    "RunNotFoundError",
]


class ArtifactError(Exception):
    """Base class of every error raised by :mod:`cosmos_remote.artifacts`."""


class RunNotFoundError(ArtifactError, FileNotFoundError):
    """Nothing was published at the run URI: wrong ``remote_target_path``, wrong run, or the run was deleted."""

    def __init__(self, *, uri: str) -> None:
        self.uri = uri
        super().__init__(
            f"no artifacts at {uri!r}: nothing was published for this run, or it was deleted (retention rule, "
            f"`cosmos-remote gc`). Check remote_target_path and re-run the setup task of this DAG run."
        )


class IncompleteRunError(ArtifactError, FileNotFoundError):
    """The run prefix holds files but no ``index.json``: its publish failed or is still running."""

    def __init__(self, *, uri: str, index_path: str) -> None:
        self.uri = uri
        self.index_path = index_path
        super().__init__(
            f"incomplete run at {uri!r}: files exist but the commit marker {index_path!r} does not, so the setup "
            f"task's publish failed or has not finished. Re-run (clear) the setup task of this DAG run."
        )


class RunExistsError(ArtifactError, FileExistsError):
    """A run was already published (committed) at this prefix; runs are immutable."""

    def __init__(self, *, uri: str) -> None:
        self.uri = uri
        super().__init__(
            f"a run was already published at {uri!r} (its index.json exists) and published runs are immutable. "
            f"Use a new run_id, or delete the run first (`cosmos-remote gc`) if you really mean to replace it."
        )


class NodeNotFoundError(ArtifactError, KeyError):
    """The run's index has no entry for the node (or the node has no file of that name)."""

    def __init__(self, *, uri: str, node_id: str, name: str | None = None, known: int = 0) -> None:
        self.uri = uri
        self.node_id = node_id
        self.name = name
        if name is None:
            message = (
                f"node {node_id!r} is not in the run at {uri!r} ({known} nodes published). Was it selected when "
                f"the setup task ran? Re-run the setup task if the DAG's node selection changed."
            )
        else:
            message = (
                f"node {node_id!r} in the run at {uri!r} has no file named {name!r} (it has: {known} files). "
                f"Ask for one of the names the setup task published."
            )
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ChecksumMismatchError(ArtifactError, ValueError):
    """Bytes read from the store do not match the sha256 recorded for them."""

    def __init__(self, *, uri: str, path: str, expected: str, actual: str, node_id: str | None = None) -> None:
        self.uri = uri
        self.path = path
        self.node_id = node_id
        self.expected = expected
        self.actual = actual
        what = f"file {path!r} of node {node_id!r}" if node_id else f"{path!r}"
        super().__init__(
            f"checksum mismatch for {what} in the run at {uri!r}: expected sha256 {expected}, got {actual}. "
            f"The object was modified after publishing (or the reference points at another run). Do not run it: "
            f"re-run the setup task of this DAG run to publish a fresh run."
        )


class ArtifactMissingError(ArtifactError, FileNotFoundError):
    """The committed index lists a file that is no longer in the store."""

    def __init__(self, *, uri: str, path: str, node_id: str) -> None:
        self.uri = uri
        self.path = path
        self.node_id = node_id
        super().__init__(
            f"file {path!r} of node {node_id!r} is listed in the index of {uri!r} but missing from the store "
            f"(deleted by a lifecycle rule or by hand?). Re-run the setup task of this DAG run."
        )


class IndexFormatError(ArtifactError, ValueError):
    """``index.json`` is not a valid index of a format version this code reads."""


class ArtifactTooLargeError(ArtifactError, ValueError):
    """A value is too large for the XCom fallback."""


class PublishError(ArtifactError, OSError):
    """Some files of a publish could not be written; the run was left without an index (incomplete)."""


class BackendNotInstalledError(ArtifactError, ImportError):
    """The fsspec implementation for a URL's protocol is not installed."""
