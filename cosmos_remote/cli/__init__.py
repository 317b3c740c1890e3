"""``cosmos-remote``: inspect, check, compare, clean up and preview the per-run SQL artifacts of cosmos_remote DAGs.

Commands (``cosmos-remote COMMAND --help`` for each):

* ``runs ROOT [--dag DAG] [-q]`` — the runs under a ``remote_target_path``, with time, nodes, bytes, completeness;
* ``ls RUN_URI [--type TYPE]`` — the nodes of a run: type, materialization, bytes, path;
* ``show RUN_URI NODE [--compiled | --file NAME]`` — one node's script (or compiled SELECT), verified;
* ``verify RUN_URI [--index-sha256 SHA]`` — re-hash every file against the index;
* ``diff RUN_A RUN_B [--compiled | --file NAME] [--name-only]`` — nodes added, removed, changed, with diffs;
* ``gc ROOT --older-than AGE [--dag DAG] [--apply]`` — delete old runs (a dry run without ``--apply``);
* ``publish PROJECT_DIR --to ROOT [...]`` — run the setup step locally and publish a run, print its URI;
* ``report RUN_URI [--price-per-tib USD]`` — per node status, wall time, bytes, slot ms and cost, from the run's
  ``run_results.json``.

Every command takes ``--json`` (one JSON document on stdout), ``--debug`` (tracebacks) and, to reach the store,
``--conn-id ID`` (an Airflow connection; needs Airflow) or ``--storage-option KEY=VALUE`` (fsspec options); without
them gs:// uses Application Default Credentials. A RUN_URI is a run prefix as the setup task logs it and returns it
in XCom (``{root}/{dag_id}[/{task_group}]/{run_id}``): the run is opened at that prefix directly, no root needed.

Exit codes (:class:`ExitCode`): 0 ok; 1 ``verify`` found problems, ``diff`` found differences, or a file does not
match its index; 2 usage or input error; 3 run, node or file not found (an incomplete run has no index); 4 store or
unexpected error; 5 dbt failed (``publish``); 130 interrupted.

Example:
    >>> from cosmos_remote.cli import main
    >>> main(["runs", "memory://cli-doc-example"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence

from cosmos_remote.cli._base import CliError, ExitCode, Output

__all__ = ["CliError", "ExitCode", "build_parser", "main"]

_PROG = "cosmos-remote"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cosmos-remote")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from cosmos_remote.cli import browse, check, publish, report, runs

    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Inspect, verify, compare, clean up and preview the SQL artifacts cosmos_remote DAG runs publish "
        "under remote_target_path (gs://, file://, memory://, any fsspec URL).",
        epilog="Exit codes: 0 ok; 1 differences or verification problems; 2 usage or input error; 3 not found; "
        "4 store or unexpected error; 5 dbt failed; 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    runs.register(commands)
    browse.register(commands)
    check.register(commands)
    publish.register(commands)
    report.register(commands)
    return parser


def _one_line(exc: BaseException) -> str:
    from cosmos_remote.dbt import NodeRenderError

    if isinstance(exc, NodeRenderError):
        nodes = "; ".join(f"{e.unique_id} ({e.kind}): {e.message.strip().splitlines()[0]}" for e in exc.errors)
        where = f"; dbt's output: {exc.log_path}" if exc.log_path else ""
        return f"dbt could not render {len(exc.errors)} node(s): {nodes}{where}. Fix them and publish again"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1:
        lines = [lines[0], f"({len(lines) - 1} more lines with --debug)"]
    return " ".join(lines)


def _exit_code(exc: BaseException) -> ExitCode:
    from cosmos_remote.artifacts import (
        ArtifactMissingError,
        ChecksumMismatchError,
        DbtArtifactMissingError,
        IncompleteRunError,
        NodeNotFoundError,
        RunExistsError,
        RunNotFoundError,
    )
    from cosmos_remote.dbt import RenderError, RenderInputError

    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, ChecksumMismatchError | ArtifactMissingError):
        return ExitCode.MISMATCH
    if isinstance(exc, RunNotFoundError | IncompleteRunError | NodeNotFoundError | DbtArtifactMissingError):
        return ExitCode.NOT_FOUND
    from cosmos_remote.errors import ConfigError

    if isinstance(exc, RunExistsError | RenderInputError | ConfigError):
        return ExitCode.USAGE
    if isinstance(exc, RenderError):
        return ExitCode.DBT
    if isinstance(exc, FileNotFoundError):
        return ExitCode.NOT_FOUND
    return ExitCode.STORAGE


def _message(exc: BaseException) -> str:
    text = _one_line(exc) or type(exc).__name__
    if isinstance(exc, PermissionError):
        return f"permission denied: {text}; check the credentials (--conn-id, or gcloud auth application-default login)"
    from cosmos_remote.errors import CosmosRemoteError

    if isinstance(exc, CliError | CosmosRemoteError | OSError):
        return text
    return f"unexpected {type(exc).__name__}: {text} (re-run with --debug for the traceback)"


@contextlib.contextmanager
def _logging(debug: bool) -> Iterator[None]:
    """cosmos_remote's INFO messages with ``--debug``, only warnings otherwise; restored afterwards (``main`` may
    run inside another program, e.g. a test session)."""
    logger = logging.getLogger("cosmos_remote")
    previous = logger.level
    logger.setLevel(logging.INFO if debug else logging.WARNING)
    handler: logging.Handler | None = None
    if debug and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    try:
        yield
    finally:
        logger.setLevel(previous)
        if handler is not None:
            logger.removeHandler(handler)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again on a closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured in tests)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cosmos-remote`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Args:
        argv: The arguments after the program name.

    Returns:
        The exit code (see :class:`ExitCode`); errors are printed on stderr in one line, with the fix.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    out = Output(json_mode=args.json, debug=args.debug)
    try:
        with _logging(args.debug):
            code: int = args.handler(args, out)
        return code
    except KeyboardInterrupt:
        out.note(f"{_PROG}: interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # `cosmos-remote show ... | head`: the reader left; not an error
        _silence_stdout()
        return ExitCode.OK
    except Exception as exc:
        if args.debug:
            traceback.print_exception(exc, file=sys.stderr)
        out.note(f"{_PROG}: error: {_message(exc)}", style="bold red")
        return _exit_code(exc)
