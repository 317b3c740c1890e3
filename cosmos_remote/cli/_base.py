"""What every command shares: exit codes, errors, common options, opening stores and runs, durations and sizes."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any, Final

from cosmos_remote.artifacts import (
    INDEX_NAME,
    ArtifactRef,
    FsspecArtifactStore,
    IncompleteRunError,
    RunNotFoundError,
)
from cosmos_remote.cli._output import Column, Output

__all__ = [
    "CliError",
    "Column",
    "ExitCode",
    "Output",
    "add_common_arguments",
    "age_text",
    "human_bytes",
    "open_run",
    "open_store",
    "parse_created",
    "parse_duration",
]


class ExitCode(IntEnum):
    """The exit codes of ``cosmos-remote``; every command documents which it uses."""

    OK = 0
    """Success (``diff``: the runs are identical; ``verify``: every file matches the index)."""
    MISMATCH = 1
    """``verify`` found a missing, changed or stray file; ``diff`` found differences; a file read by ``show`` or
    ``diff`` does not match the sha256 in its index."""
    USAGE = 2
    """Wrong arguments or input: unknown option, bad URL or duration, ambiguous node name, missing dbt project or
    profiles.yml, a run that already exists."""
    NOT_FOUND = 3
    """No run at the URI (or no ``index.json``: an incomplete run), or no such node / file in the run."""
    STORAGE = 4
    """The store failed: credentials, permissions, network, a missing fsspec backend, an unreadable index, or an
    unexpected error (``--debug`` shows the traceback)."""
    DBT = 5
    """``publish``: dbt could not render the project (profile, connection, compile errors)."""
    INTERRUPTED = 130
    """Interrupted (Ctrl-C)."""


class CliError(Exception):
    """An error with its exit code; the message says what failed and how to fix it, in one line."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command takes: ``--json``, ``--debug``, and the store's credentials."""
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and cosmos_remote's log messages")
    parser.add_argument(
        "--conn-id",
        metavar="ID",
        help="Airflow connection id for the store's credentials (needs Airflow and its provider); default: the "
        "backend's own defaults (gs://: application default credentials)",
    )
    parser.add_argument(
        "--storage-option",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="storage_options",
        help="an fsspec option for the store, repeatable (e.g. token=anon, project=my-project); VALUE is parsed as "
        "JSON when it can be",
    )


def storage_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``["token=anon", "timeout=30"]`` -> ``{"token": "anon", "timeout": 30}``."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(
                ExitCode.USAGE, f"--storage-option {pair!r} is not KEY=VALUE; e.g. --storage-option token=anon"
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        options[key.strip()] = value
    return options


def open_store(url: str, args: argparse.Namespace) -> FsspecArtifactStore:
    """The artifact store rooted at ``url``, with the command's ``--conn-id`` / ``--storage-option``."""
    try:
        return FsspecArtifactStore(
            root=url, conn_id=args.conn_id, storage_options=storage_options(args.storage_options)
        )
    except ValueError as exc:
        raise CliError(ExitCode.USAGE, str(exc)) from exc


def run_uri(url: str) -> str:
    """A run URI as given, without a trailing ``/`` or ``/index.json``."""
    url = url.strip().rstrip("/")
    if url.endswith("/" + INDEX_NAME):
        url = url[: -len(INDEX_NAME) - 1]
    return url


def open_run(url: str, args: argparse.Namespace) -> tuple[FsspecArtifactStore, ArtifactRef]:
    """Open the committed run at ``url`` (a run prefix as printed by the setup task or ``runs``).

    The store is rooted at the run prefix itself, so no root needs to be known or guessed: the index names every
    file relative to the prefix. When ``url`` is not a run but holds runs (a ``remote_target_path`` or a DAG's
    folder), the error names the newest one.
    """
    store = open_store(run_uri(url), args)
    try:
        return store, store.open_run(uri=store.root)
    except (RunNotFoundError, IncompleteRunError) as exc:
        runs = [run for run in store.list_runs() if run.uri != store.root]
        if runs:
            complete = [run for run in runs if run.complete] or runs
            raise CliError(
                ExitCode.NOT_FOUND,
                f"{store.root!r} is not a run prefix but holds {len(runs)} run(s) (newest: {complete[-1].uri}); "
                f"pass a run URI, or list them with `cosmos-remote runs {store.root}`",
            ) from exc
        raise


_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``1d12h``, ``90m``, ``45s``, ``2w`` -> a timedelta; argparse ``type=``.

    Raises:
        argparse.ArgumentTypeError: not such a duration.
    """
    cleaned = text.strip().lower()
    if not cleaned or _DURATION.sub("", cleaned):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; use a number and a unit s, m, h, d or w, e.g. 30d, 12h, 1d12h or 0s"
        )
    seconds = sum(float(number) * _UNITS[unit] for number, unit in _DURATION.findall(cleaned))
    if seconds > timedelta.max.total_seconds():
        raise argparse.ArgumentTypeError(f"{text!r} is longer than any age a run can have; use at most 999999999d")
    return timedelta(seconds=seconds)


def parse_created(value: str | None) -> datetime | None:
    """An index's ``created_at`` as an aware datetime (UTC when it has no zone), or None if missing or invalid."""
    if not value:
        return None
    try:
        created = datetime.fromisoformat(value)
    except ValueError:
        return None
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def age_text(seconds: float | None) -> str:
    """``3d``, ``5h``, ``12m``, ``40s`` (the largest whole unit), ``-`` when unknown."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


def human_bytes(size: int | None) -> str:
    """``512 B``, ``12.3 KiB``, ``4.0 MiB``; ``-`` when unknown."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
