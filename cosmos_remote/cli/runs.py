"""``runs`` (what was published under a root) and ``gc`` (delete runs older than an age)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cosmos_remote.artifacts import RunSummary
from cosmos_remote.cli._base import (
    CliError,
    Column,
    ExitCode,
    Output,
    add_common_arguments,
    age_text,
    human_bytes,
    open_store,
    parse_created,
    parse_duration,
)

__all__ = ["register"]

_PLAIN_COLUMNS = (
    Column("CREATED"),
    Column("AGE", justify="right"),
    Column("DAG"),
    Column("RUN ID"),
    Column("NODES", justify="right"),
    Column("SIZE", justify="right"),
    Column("STATUS"),
    Column("URI"),
)
_RICH_COLUMNS = (
    Column("CREATED"),
    Column("AGE", justify="right"),
    Column("NODES", justify="right"),
    Column("SIZE", justify="right"),
    Column("STATUS"),
    Column("RUN PREFIX (under the root)", fold=True),
)
_STATUS_STYLES = {"complete": "green", "incomplete": "yellow", "delete": "red", "deleted": "red"}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``runs`` and ``gc`` to the command parser."""
    runs = commands.add_parser(
        "runs",
        help="list the runs published under a root",
        description="List every run under ROOT (a DAG's remote_target_path), oldest first: creation time, node "
        "count, bytes, and whether it is complete (has its index.json). Exit codes: 0, 2, 4.",
    )
    runs.add_argument("root", metavar="ROOT", help="the remote_target_path, e.g. gs://bucket/cosmos")
    runs.add_argument("--dag", metavar="DAG_ID", help="only the runs of this DAG")
    runs.add_argument("-q", "--quiet", action="store_true", help="print only the run URIs, oldest first")
    add_common_arguments(runs)
    runs.set_defaults(handler=run_runs)

    gc = commands.add_parser(
        "gc",
        help="delete runs older than an age (dry run unless --apply)",
        description="Find the runs under ROOT created more than --older-than ago (by the created time in their "
        "index.json, or in _run.json for incomplete runs) and, with --apply, delete them. Without --apply nothing "
        "is deleted. Runs whose creation time cannot be read are never deleted. Exit codes: 0, 2, 4.",
    )
    gc.add_argument("root", metavar="ROOT", help="the remote_target_path, e.g. gs://bucket/cosmos")
    gc.add_argument(
        "--older-than",
        metavar="AGE",
        required=True,
        type=parse_duration,
        help="minimum age of a run to delete: a number and a unit s, m, h, d or w (30d, 12h, 1d12h, 0s)",
    )
    gc.add_argument("--dag", metavar="DAG_ID", help="only the runs of this DAG")
    gc.add_argument("--apply", action="store_true", help="delete the runs (default: only list them)")
    add_common_arguments(gc)
    gc.set_defaults(handler=run_gc)


def _age_seconds(run: RunSummary, now: datetime) -> float | None:
    created = parse_created(run.created_at)
    return None if created is None else (now - created).total_seconds()


def _run_json(run: RunSummary, now: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "uri": run.uri,
        "dag_id": run.dag_id,
        "task_group": run.task_group,
        "run_id": run.run_id,
        "created_at": run.created_at,
        "age_seconds": _age_seconds(run, now),
        "node_count": run.node_count,
        "total_bytes": run.total_bytes,
        "complete": run.complete,
        **extra,
    }


def _table(
    out: Output, runs: Sequence[RunSummary], *, root: str, now: datetime, title: str, status: str | None = None
) -> None:
    """Full URIs when piped (for scripts); on a terminal, prefixes relative to the root, which the title names."""
    rows = []
    for run in runs:
        created = parse_created(run.created_at)
        when = created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if created else "-"
        age = age_text(_age_seconds(run, now))
        nodes = "-" if run.node_count is None else str(run.node_count)
        state = status or ("complete" if run.complete else "incomplete")
        if out.rich:
            relative = run.uri[len(root) + 1 :] if run.uri.startswith(root + "/") else run.uri
            rows.append([when, age, nodes, human_bytes(run.total_bytes), state, relative])
        else:
            dag = "/".join(part for part in (run.dag_id, run.task_group) if part) or "-"
            rows.append([when, age, dag, run.run_id or "-", nodes, human_bytes(run.total_bytes), state, run.uri])
    columns = _RICH_COLUMNS if out.rich else _PLAIN_COLUMNS
    out.table(columns, rows, title=f"{title} under {root}", styles=_STATUS_STYLES)


def _list(args: argparse.Namespace, out: Output) -> tuple[str, list[RunSummary]]:
    store = open_store(args.root, args)
    with out.progress(f"listing runs under {store.root}"):
        runs = store.list_runs(dag_id=args.dag)
    if not runs:  # an empty listing of a bucket that does not exist is an error, not "no runs"
        missing = store.describe_failure(FileNotFoundError(store.root))
        if missing:
            raise CliError(ExitCode.NOT_FOUND, missing)
    return store.root, runs


def run_runs(args: argparse.Namespace, out: Output) -> int:
    """``cosmos-remote runs ROOT [--dag DAG] [-q]``."""
    root, runs = _list(args, out)
    now = datetime.now(UTC)
    if out.json_mode:
        out.emit_json([_run_json(run, now) for run in runs])
    elif args.quiet:
        if runs:
            out.write("\n".join(run.uri for run in runs))
    elif runs:
        _table(out, runs, root=root, now=now, title=f"{len(runs)} run(s)")
    if not runs and not out.json_mode:
        where = f" of DAG {args.dag!r}" if args.dag else ""
        out.note(f"no runs{where} under {root}")
    return ExitCode.OK


def run_gc(args: argparse.Namespace, out: Output) -> int:
    """``cosmos-remote gc ROOT --older-than AGE [--dag DAG] [--apply]``."""
    older_than: timedelta = args.older_than
    _, runs = _list(args, out)
    store = open_store(args.root, args)
    now = datetime.now(UTC)
    cutoff = now - older_than
    unknown = [run for run in runs if parse_created(run.created_at) is None]
    expired = [run for run in runs if (created := parse_created(run.created_at)) is not None and created < cutoff]
    deleted: dict[str, int] = {}
    failures: dict[str, str] = {}
    if args.apply and expired:
        with out.progress("deleting runs", total=len(expired)) as advance:
            for run in expired:
                try:
                    deleted[run.uri] = store.delete_run(uri=run.uri)
                except (OSError, ValueError) as exc:
                    failures[run.uri] = f"{type(exc).__name__}: {exc}"
                advance(1)
    action = "deleted" if args.apply else "delete"
    if out.json_mode:
        out.emit_json(
            {
                "root": store.root,
                "older_than_seconds": older_than.total_seconds(),
                "cutoff": cutoff.isoformat(),
                "applied": bool(args.apply),
                "runs": [
                    _run_json(
                        run,
                        now,
                        action=action if run.uri not in failures else "failed",
                        objects=deleted.get(run.uri),
                        error=failures.get(run.uri),
                    )
                    for run in expired
                ],
                "skipped_unknown_age": [run.uri for run in unknown],
            }
        )
    elif expired:
        verb = "deleted" if args.apply else "would delete"
        title = f"{verb} {len(expired)} run(s) older than {age_text(older_than.total_seconds())}"
        _table(out, expired, root=store.root, now=now, title=title, status=action)
    _summary(out, args=args, expired=expired, unknown=unknown, deleted=deleted, failures=failures, root=store.root)
    if failures:
        first, reason = next(iter(failures.items()))
        raise CliError(
            ExitCode.STORAGE,
            f"{len(failures)} of {len(expired)} run(s) could not be deleted (first: {first}: {reason}); check that "
            f"the credentials may delete objects (roles/storage.objectAdmin) and run gc again",
        )
    return ExitCode.OK


def _summary(
    out: Output,
    *,
    args: argparse.Namespace,
    expired: Sequence[RunSummary],
    unknown: Sequence[RunSummary],
    deleted: dict[str, int],
    failures: dict[str, str],
    root: str,
) -> None:
    if out.json_mode:
        return
    for run in unknown:
        out.note(f"kept {run.uri}: its creation time cannot be read (delete it by hand if it is stale)")
    size = human_bytes(sum(run.total_bytes for run in expired))
    incomplete = sum(1 for run in expired if not run.complete)
    detail = f" ({incomplete} incomplete)" if incomplete else ""
    if not expired:
        out.note(f"nothing to delete under {root}: no run is older than {age_text(args.older_than.total_seconds())}")
    elif args.apply:
        count = len(expired) - len(failures)
        out.note(f"deleted {count} run(s){detail}, {sum(deleted.values())} objects, {size}", style="bold")
    else:
        out.note(
            f"dry run: would delete {len(expired)} run(s){detail}, {size}; re-run with --apply to delete them",
            style="bold",
        )
