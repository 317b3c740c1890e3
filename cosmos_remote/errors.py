"""Every error cosmos_remote raises, under one base; each also subclasses the built-in type a caller would catch.

So ``except CosmosRemoteError`` catches them all, and ``except FileNotFoundError`` / ``KeyError`` / ``ValueError``
still work where that is what the error is. Each message says what failed, where (argument, run URI, node id,
object path) and what to do about it.

* configuration: :class:`ConfigError` (a ``ValueError``) and :class:`UnknownProfileTypeError`;
* the dbt project: :class:`ManifestError`, :class:`SelectionError`, :class:`DependencyCycleError`,
  :class:`DbtDepsError` and the render errors under :class:`RenderError`;
* the artifact store: everything under :class:`ArtifactError`.

Example:
    >>> issubclass(ConfigError, ValueError), issubclass(RunNotFoundError, FileNotFoundError)
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "ArtifactError",
    "ArtifactMissingError",
    "ArtifactTooLargeError",
    "BackendNotInstalledError",
    "ChecksumMismatchError",
    "ConfigError",
    "CosmosRemoteError",
    "DbtArtifactMissingError",
    "DbtDepsError",
    "DbtInvocationError",
    "DependencyCycleError",
    "IncompleteRunError",
    "IndexFormatError",
    "ManifestError",
    "NodeError",
    "NodeNotFoundError",
    "NodeRenderError",
    "PublishError",
    "RenderError",
    "RenderInputError",
    "RunClaimedError",
    "RunExistsError",
    "RunNotFoundError",
    "SelectionError",
    "UnknownProfileTypeError",
]


class CosmosRemoteError(Exception):
    """Base of cosmos_remote's own errors."""


# -- configuration ---------------------------------------------------------------------------------------------------


class ConfigError(CosmosRemoteError, ValueError):
    """A configuration value is invalid; the message names the field and the fix."""


class UnknownProfileTypeError(ConfigError):
    """No backend is registered for a profile type; the message lists the registered ones and how to add one."""


# -- the dbt project -------------------------------------------------------------------------------------------------


class ManifestError(CosmosRemoteError, ValueError):
    """The manifest cannot be used; the message names the file and what to do."""


class SelectionError(CosmosRemoteError, ValueError):
    """A select/exclude expression is invalid or selects nothing; the message quotes it."""


class DependencyCycleError(CosmosRemoteError, ValueError):
    """The manifest's dependencies among the selected nodes form a cycle; the message lists the nodes on it."""


class DbtDepsError(CosmosRemoteError, RuntimeError):
    """The project's dbt packages are not installed and cosmos_remote could not (or may not) install them."""


class RenderError(CosmosRemoteError, RuntimeError):
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


# -- the artifact store ----------------------------------------------------------------------------------------------


class ArtifactError(CosmosRemoteError):
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


class RunClaimedError(ArtifactError, FileExistsError):
    """Another publish session owns the run prefix (its ``_run.json`` names it) and has not committed; a prefix
    has exactly one publisher, so this one writes nothing."""

    def __init__(self, *, uri: str, publisher: str) -> None:
        self.uri = uri
        self.publisher = publisher
        super().__init__(
            f"the run prefix {uri!r} is being published by another session ({publisher}); a run prefix has one "
            f"publisher, so nothing was written. Two deployments share this bucket, DAG id and run id, or a "
            f"publisher died before its commit: use another run_id (or remote_target_path per deployment), or, "
            f"when no publisher is running, remove the incomplete run with `cosmos-remote gc`."
        )


class NodeNotFoundError(ArtifactError, KeyError):
    """The run's index has no entry for the node (or the node has no file of that name)."""

    def __init__(self, *, uri: str, unique_id: str, name: str | None = None, known: int = 0) -> None:
        self.uri = uri
        self.unique_id = unique_id
        self.name = name
        if name is None:
            message = (
                f"node {unique_id!r} is not in the run at {uri!r} ({known} nodes published). Was it selected when "
                f"the setup task ran? Re-run the setup task if the DAG's node selection changed."
            )
        else:
            message = (
                f"node {unique_id!r} in the run at {uri!r} has no file named {name!r} (it has: {known} files). "
                f"Ask for one of the names the setup task published."
            )
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ChecksumMismatchError(ArtifactError, ValueError):
    """Bytes read from the store do not match the sha256 recorded for them."""

    def __init__(self, *, uri: str, path: str, expected: str, actual: str, unique_id: str | None = None) -> None:
        self.uri = uri
        self.path = path
        self.unique_id = unique_id
        self.expected = expected
        self.actual = actual
        what = f"file {path!r} of node {unique_id!r}" if unique_id else f"{path!r}"
        super().__init__(
            f"checksum mismatch for {what} in the run at {uri!r}: expected sha256 {expected}, got {actual}. "
            f"The object was modified after publishing (or the reference points at another run). Do not run it: "
            f"re-run the setup task of this DAG run to publish a fresh run."
        )


class ArtifactMissingError(ArtifactError, FileNotFoundError):
    """The committed index lists a file that is no longer in the store."""

    def __init__(self, *, uri: str, path: str, unique_id: str) -> None:
        self.uri = uri
        self.path = path
        self.unique_id = unique_id
        super().__init__(
            f"file {path!r} of node {unique_id!r} is listed in the index of {uri!r} but missing from the store "
            f"(deleted by a lifecycle rule or by hand?). Re-run the setup task of this DAG run."
        )


class DbtArtifactMissingError(ArtifactError, FileNotFoundError):
    """A run has no ``manifest.json`` / ``run_results.json`` (yet)."""

    def __init__(self, *, uri: str, name: str) -> None:
        self.uri = uri
        self.name = name
        writer = (
            "the DAG run's dbt_run_end task, once every node task is done"
            if name == "run_results.json"
            else ("the setup task, with the node files")
        )
        super().__init__(
            f"{uri}/{name} does not exist. It is written by {writer}; a run published by an older cosmos_remote, "
            f"or through XCom (no remote_target_path), has none."
        )


class IndexFormatError(ArtifactError, ValueError):
    """``index.json`` is not a valid index of a format version this code reads."""


class ArtifactTooLargeError(ArtifactError, ValueError):
    """A value is too large for the XCom fallback."""


class PublishError(ArtifactError, OSError):
    """Some files of a publish could not be written; the run was left without an index (incomplete)."""


class BackendNotInstalledError(ArtifactError, ImportError):
    """The fsspec implementation for a URL's protocol is not installed."""
